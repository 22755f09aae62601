//! On daemon start: every container loaded, live tasks found again.

use super::container::Container;
use super::Engine;
use crate::error::Result;
use berth_runtime::task::TaskState;
use std::sync::Arc;

impl Engine {
    /// On daemon start: load every container and reconnect to the shims of running ones.
    pub async fn restore(self: &Arc<Self>) -> Result<()> {
        let entries = std::fs::read_dir(self.cfg.containers_dir())?;
        // Started by their restart policy once what a crash left is cleared away.
        let mut by_policy = vec![];
        for e in entries.flatten() {
            // The record is written last (atomically) by create: a dir without one is a
            // create that died half-way, and holds nothing anyone asked to keep.
            if !e.path().join("config.v2.json").exists() {
                let _ = std::fs::remove_dir_all(e.path());
                continue;
            }
            let rec = match Container::load(&e.path()) {
                Ok(r) => r,
                Err(err) => {
                    eprintln!("berthd: skipping container {}: {err}", e.path().display());
                    continue;
                }
            };
            let was_running = rec.state.running;
            let auto_remove = rec.host_config.auto_remove;
            let c = Arc::new(Container::new(rec));
            if let Err(err) = self.register(c.clone()) {
                eprintln!("berthd: skipping container {}: {err}", c.id);
                continue;
            }
            if was_running {
                // Its addresses and ports stay its own; an exit found below gives them back.
                self.networks.reserve(&c.record().networks);
                let (ports, ip) = {
                    let r = c.record();
                    let ip = r.networks.values().find_map(|e| e.ip_address.parse().ok());
                    (r.ports.clone(), ip)
                };
                if let Err(e) = self.networks.rehold_ports(&c.id, &ports, ip) {
                    eprintln!("berthd: container {}: its published ports: {e}", c.id);
                }
                let task = self.task(&c.id);
                match task.state().await {
                    Ok(TaskState::Running { pid }) => {
                        if let Err(e) = self.start_resolver(&c.id, pid) {
                            eprintln!("berthd: container {}: no embedded resolver: {e}", c.id);
                        }
                        self.spawn_monitor(c.clone());
                        self.start_health_check(&c, false);
                    }
                    // Started by a daemon that died before the program ran: not kept.
                    Ok(TaskState::Created { .. }) => {
                        let _ = task.kill(libc::SIGKILL, true).await;
                        self.spawn_monitor(c.clone());
                    }
                    Ok(TaskState::Exited(exit)) => self.handle_exit(&c, exit).await,
                    // No shim: the status it recorded, if any.
                    Err(_) => {
                        let exit = task.wait().await;
                        self.handle_exit(&c, exit).await
                    }
                }
            } else if auto_remove {
                let _ = self.remove(&c.id, true, true).await;
            } else {
                by_policy.push(c.clone());
            }
        }
        self.reconcile().await;
        // berth's table as the running containers need it, and nothing a crash left.
        if let Err(e) = self.networks.sync_rules() {
            eprintln!("berthd: published ports: {e}");
        }
        for c in by_policy {
            self.restart_with_daemon(&c);
        }
        Ok(())
    }
}
