//! `docker pause` and `unpause`: the task's cgroup frozen and thawed.

use super::status::{Event, Status};
use super::stop::not_running;
use super::Engine;
use crate::error::{DaemonError, Result};
use std::sync::Arc;

impl Engine {
    pub async fn set_paused(self: &Arc<Self>, name: &str, pause: bool) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op_lock.lock().await;
        if !c.is_running() {
            return Err(not_running(&c.id));
        }
        let paused = c.record().state.paused;
        if pause && paused {
            return Err(DaemonError::Conflict(format!(
                "Container {} is already paused",
                c.id
            )));
        }
        if !pause && !paused {
            return Err(DaemonError::Conflict(format!(
                "Container {} is not paused",
                c.id
            )));
        }
        let task = self.task(&c.id);
        if pause {
            task.pause().await?;
        } else {
            task.resume().await?;
        }
        {
            let mut r = c.record();
            let event = if pause { Event::Paused } else { Event::Resumed };
            Status::apply(&mut r.state, event);
        }
        c.save(&self.cfg.container_dir(&c.id))?;
        self.container_event(&c, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }
}
