//! `docker rm` and `container prune`.

use super::status::{Event, Status};
use super::Engine;
use crate::error::{DaemonError, Result};
use std::sync::Arc;

impl Engine {
    /// Removes a container; with `volumes` (`rm -v`, and `--rm`), its anonymous volumes too.
    pub async fn remove(self: &Arc<Self>, name: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op_lock.lock().await;
        if self.get(&c.id).is_err() {
            return Ok(()); // removed while we waited
        }
        if super::status::Status::of(&c.record().state) == super::status::Status::Restarting {
            if !force {
                return Err(DaemonError::Conflict(format!(
                    "cannot remove container \"{}\": container is restarting: stop the container before removing or force remove",
                    c.record().name
                )));
            }
            self.cancel_restart(&c);
        }
        if c.is_running() {
            if !force {
                let what = if c.record().state.paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(DaemonError::Conflict(format!(
                    "cannot remove container \"{}\": container is {what}: stop the container before removing or force remove",
                    c.record().name
                )));
            }
            // Its policy must not schedule a restart on this kill.
            self.cancel_restart(&c);
            self.kill_all_and_wait(c.as_ref()).await?;
        }
        {
            let mut r = c.record();
            Status::apply(&mut r.state, Event::RemovalBegun);
        }
        self.unregister(&c);
        if volumes {
            self.remove_anonymous_volumes(&c.snapshot());
        }
        self.execs.container_removed(&c.id);
        self.unmount_shm(&c.id);
        let dir = self.cfg.container_dir(&c.id);
        let state = self.cfg.state_dir(&c.id);
        tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(dir);
            let _ = std::fs::remove_dir_all(state);
        })
        .await
        .map_err(DaemonError::system)?;
        c.lifecycle.send_modify(|l| l.removed = true);
        self.container_event(&c, "destroy", &[]);
        Ok(())
    }

    /// Removes every stopped container; returns their IDs and the bytes their writable
    /// layers held.
    pub async fn prune(
        self: &Arc<Self>,
        filter: &super::prune_filter::PruneFilter,
    ) -> Result<(Vec<String>, u64)> {
        let mut removed = vec![];
        let mut reclaimed = 0;
        for c in self.all() {
            let wanted = {
                let r = c.record();
                filter.matches(
                    Some(&r.created),
                    &r.config.labels.clone().unwrap_or_default(),
                )
            };
            if c.is_running() || !wanted {
                continue;
            }
            let upper = self.cfg.container_dir(&c.id).join("fs/upper");
            let size = tokio::task::spawn_blocking(move || berth_image::usage::disk_usage(&upper))
                .await
                .unwrap_or(0);
            if self.remove(&c.id, false, false).await.is_ok() {
                removed.push(c.id.clone());
                reclaimed += size;
            }
        }
        Ok((removed, reclaimed))
    }
}
