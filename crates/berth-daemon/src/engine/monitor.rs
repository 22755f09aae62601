//! Noticing a container's exit (the task's exit event) and recording it.

use super::container::Container;
use super::status::{Event, Status};
use super::Engine;
use berth_runtime::task::ExitStatus;
use std::sync::Arc;

impl Engine {
    /// Waits (through the shim) for the container to exit, then records it.
    pub(crate) fn spawn_monitor(self: &Arc<Self>, c: Arc<Container>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let exit = engine.task(&c.id).wait().await;
            engine.handle_exit(&c, exit).await;
        });
    }

    pub(crate) async fn handle_exit(self: &Arc<Self>, c: &Arc<Container>, exit: ExitStatus) {
        // Runtime state goes first: once the record says "not running", a new start may
        // create these paths again.
        let _ = std::fs::remove_dir_all(self.cfg.state_dir(&c.id));
        let _ = std::fs::remove_file(self.cfg.shim_socket(&c.id));
        self.unmount_shm(&c.id);
        self.stop_resolver(&c.id);
        self.release_volumes(&c.id);
        self.networks.release_ports(&c.id);
        c.record().ports.clear();
        let (mut endpoints, macs) = {
            let mut r = c.record();
            (std::mem::take(&mut r.networks), r.mac_requests.clone())
        };
        let left: Vec<String> = endpoints.keys().cloned().collect();
        self.networks.release(&mut endpoints, &macs).await;
        c.record().networks = endpoints;
        let auto_remove = {
            let mut r = c.record();
            Status::apply(&mut r.state, Event::Exited);
            r.state.pid = 0;
            r.state.exit_code = exit.exit_code as i64;
            r.state.oom_killed = exit.oom_killed;
            r.state.finished_at = exit.finished_at.clone();
            r.host_config.auto_remove
        };
        if !auto_remove {
            let _ = c.save_state(&self.cfg.container_dir(&c.id));
        }
        self.announce_exit(c, exit.exit_code as i64, exit.oom_killed, &left);
        self.execs.container_exited(&c.id);
        c.pending_attach
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        c.lifecycle.send_modify(|l| {
            l.running = false;
            l.exits += 1;
            l.exit_code = exit.exit_code as i64;
        });
        if auto_remove {
            let _ = self.remove(&c.id, true, true).await;
        } else {
            self.restart_after_exit(c);
        }
    }
}
