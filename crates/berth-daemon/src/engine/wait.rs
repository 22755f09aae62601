//! `docker wait`: not-running, next-exit and removed.

use super::Engine;
use crate::error::{DaemonError, Result};
use std::sync::Arc;

impl Engine {
    /// Registers the wait now; the returned future resolves with the exit code.
    pub fn wait(
        self: &Arc<Self>,
        name: &str,
        condition: &str,
    ) -> Result<impl std::future::Future<Output = Result<i64>>> {
        let c = self.get(name)?;
        let mut rx = c.lifecycle.subscribe();
        let exits = rx.borrow().exits;
        let condition = match condition {
            "" | "not-running" => 0,
            "next-exit" => 1,
            "removed" => 2,
            other => {
                return Err(DaemonError::InvalidParameter(format!(
                    "invalid condition: \"{other}\""
                )))
            }
        };
        Ok(async move {
            let done = rx
                .wait_for(|l| match condition {
                    0 => !l.running,
                    1 => l.exits > exits,
                    _ => l.removed,
                })
                .await
                .map_err(DaemonError::system)?;
            Ok(done.exit_code)
        })
    }
}
