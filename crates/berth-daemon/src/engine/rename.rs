//! `docker rename`.

use super::Engine;
use crate::error::{DaemonError, Result};
use std::sync::Arc;

impl Engine {
    pub async fn rename(self: &Arc<Self>, name: &str, new_name: &str) -> Result<()> {
        let c = self.get(name)?;
        let new = super::names::validate(new_name)?;
        if c.name() == new {
            return Err(DaemonError::InvalidParameter(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        let old = c.name();
        self.rename_index(&c, &new)?;
        c.save(&self.cfg.container_dir(&c.id))?;
        self.container_event(&c, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }
}
