//! After a crash, before serving: every shim, cgroup and dir that a daemon killed in the
//! middle of a create, start or remove left behind is adopted (a container that did start)
//! or removed (one whose start never finished, or that is not recorded at all).

use super::container::Container;
use super::status::{Event, Status};
use super::Engine;
use berth_runtime::cgroups::Cgroup;
use berth_runtime::task::TaskState;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The container's cgroup path: its own `CgroupParent`, else the daemon's.
pub fn cgroup_path(host_parent: &str, daemon_parent: &str, id: &str) -> String {
    let parent = if host_parent.is_empty() {
        daemon_parent
    } else {
        host_parent
    };
    // Absolute, as an external runtime takes a relative path to be under its own cgroup.
    match parent.trim_matches('/') {
        "" => format!("/{id}"),
        p => format!("/{p}/{id}"),
    }
}

impl Engine {
    /// Adopts or removes what a crashed daemon left. Runs once at start, after the records
    /// are loaded and before the API is served.
    pub(crate) async fn reconcile(self: &Arc<Self>) {
        let state_root = self.cfg.exec_root.join("containers");
        let ids: Vec<String> = std::fs::read_dir(&state_root)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for id in ids {
            let known = self.get(&id).ok().filter(|c| c.id == id);
            if known.as_ref().is_some_and(|c| c.is_running()) {
                continue; // restore has reconnected to it
            }
            if let Some(c) = &known {
                if self.adopt_if_running(c).await {
                    continue;
                }
            }
            self.remove_leftover_task(&id, known.as_deref()).await;
        }
        // Shareable /dev/shm mounts of containers that are not running.
        for c in self.all() {
            if !c.is_running() && c.record().host_config.ipc_mode == "shareable" {
                self.unmount_shm(&c.id);
            }
        }
        // Shim sockets whose container has no runtime state any more.
        let live: HashSet<_> = self
            .all()
            .iter()
            .filter(|c| c.is_running())
            .map(|c| self.cfg.shim_socket(&c.id))
            .collect();
        for e in std::fs::read_dir(self.cfg.exec_root.join("s"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if !live.contains(&e.path()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        // Cgroups under the daemon's parent of containers that are not running (a start
        // that failed, a container removed mid-way, one never recorded).
        let running: HashSet<String> = self
            .all()
            .iter()
            .filter(|c| c.is_running())
            .map(|c| c.id.clone())
            .collect();
        for name in Cgroup::children_of(&self.cfg.cgroup_parent) {
            if !running.contains(&name) && name.len() == 64 {
                let path = format!("{}/{name}", self.cfg.cgroup_parent.trim_end_matches('/'));
                tokio::task::spawn_blocking(move || Cgroup::new(&path).kill_and_destroy())
                    .await
                    .ok();
            }
        }
    }

    /// A container recorded as not running whose shim says it is: the daemon died after
    /// the start and before recording it. It is running, so it is adopted.
    async fn adopt_if_running(self: &Arc<Self>, c: &Arc<Container>) -> bool {
        let Ok(TaskState::Running { pid }) = self.task(&c.id).state().await else {
            return false;
        };
        self.networks.reserve(&c.record().networks);
        {
            let mut r = c.record();
            Status::apply(&mut r.state, Event::Started);
            r.state.pid = pid as i64;
            r.state.error.clear();
            if r.state.started_at.starts_with("0001") {
                r.state.started_at = super::time::now();
            }
        }
        let _ = c.save_state(&self.cfg.container_dir(&c.id));
        c.lifecycle.send_modify(|l| l.running = true);
        self.spawn_monitor(c.clone());
        true
    }

    /// Ends the shim and processes of a start that never finished (or of a container
    /// with no record), and removes its runtime state and cgroup.
    async fn remove_leftover_task(&self, id: &str, known: Option<&Container>) {
        let socket = self.cfg.shim_socket(id);
        let state = self.cfg.state_dir(id);
        let task = self.task(id);
        if task.kill(libc::SIGKILL, true).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task.wait()).await;
        } else if let Some(pid) = berth_runtime::task::recorded_pid(&state) {
            // No shim to ask: the init, if the pid is still that container's.
            let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if cgroup.contains(id) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::SIGKILL,
                );
            }
        }
        let host_parent = known
            .map(|c| c.record().host_config.cgroup_parent.clone())
            .unwrap_or_default();
        let path = cgroup_path(&host_parent, &self.cfg.cgroup_parent, id);
        let _ = tokio::task::spawn_blocking(move || Cgroup::new(&path).kill_and_destroy()).await;
        let _ = std::fs::remove_dir_all(&state);
        let _ = std::fs::remove_file(&socket);
        self.unmount_shm(id);
        if let Some(c) = known {
            // Its task is gone: whatever the record said, it is not running.
            let mut r = c.record();
            if Status::apply(&mut r.state, Event::RemovalAbandoned).is_none() {
                Status::apply(&mut r.state, Event::Exited);
            }
        }
    }
}
