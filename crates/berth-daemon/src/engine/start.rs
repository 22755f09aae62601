//! `docker start`: the bundle (rootfs layout, spec, init, shared namespaces), then a
//! task created and started through the runtime.

use super::container::{Container, PendingAttach, Record};
use super::spec::{self, RootfsLayout, SpecInput};
use super::status::{Event, Status};
use super::time::now;
use super::{session, user, Engine};
use crate::error::{DaemonError, Result};
use berth_api::network::EndpointSettings;
use berth_runtime::task::{Task, TaskConfig};
use berth_runtime::RuntimeError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// /etc/hosts and /etc/resolv.conf, written before the task is created (they are
/// bind-mounted as files): the container's own address, `--add-host` and link entries,
/// and the resolver settings. Host and none keep what create wrote, plus the user's.
fn write_network_files(
    rec: &Record,
    endpoints: &BTreeMap<String, EndpointSettings>,
    extra: &[(String, std::net::IpAddr)],
) -> Result<()> {
    let own = endpoints
        .values()
        .find_map(|e| e.ip_address.parse::<std::net::IpAddr>().ok());
    let user = super::network::resolv_options(&rec.host_config);
    let user_set =
        !user.nameservers.is_empty() || !user.search.is_empty() || !user.options.is_empty();
    if own.is_none() && extra.is_empty() && !user_set {
        return Ok(());
    }
    let own6 = endpoints
        .values()
        .find_map(|e| e.global_ipv6_address.parse::<std::net::IpAddr>().ok());
    let hosts = match own {
        Some(ip) => {
            let names = [rec.config.hostname.clone()];
            let mut h = berth_net::files::hosts(Some((ip, &names)), extra);
            if let Some(ip6) = own6 {
                h.push_str(&format!("{ip6}\t{}\n", rec.config.hostname));
            }
            h
        }
        None => {
            let mut h = std::fs::read_to_string(&rec.hosts_path).unwrap_or_default();
            for (name, ip) in extra {
                h.push_str(&format!("{ip}\t{name}\n"));
            }
            h
        }
    };
    std::fs::write(&rec.hosts_path, hosts)?;
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    // On a user network, names are answered by the embedded resolver.
    let embedded = endpoints
        .keys()
        .any(|n| !matches!(n.as_str(), "bridge" | "host" | "none"));
    std::fs::write(
        &rec.resolv_conf_path,
        berth_net::files::resolv_conf(&host, &user, embedded),
    )?;
    Ok(())
}

/// Whether `path` is an ELF executable without an interpreter (PT_INTERP): one that runs
/// in any container, whatever libraries its image has.
fn is_static_elf(path: &std::path::Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut h = [0u8; 64];
    if f.read_exact(&mut h).is_err() || &h[..4] != b"\x7fELF" || h[4] != 2 {
        return false;
    }
    let phoff = u64::from_le_bytes(h[0x20..0x28].try_into().unwrap_or_default());
    let phentsize = u16::from_le_bytes([h[0x36], h[0x37]]) as u64;
    let phnum = u16::from_le_bytes([h[0x38], h[0x39]]) as u64;
    if phentsize < 4 || phnum > 256 {
        return false;
    }
    for i in 0..phnum {
        let mut t = [0u8; 4];
        if f.seek(SeekFrom::Start(phoff + i * phentsize)).is_err() || f.read_exact(&mut t).is_err()
        {
            return false;
        }
        if u32::from_le_bytes(t) == 3 {
            return false; // PT_INTERP
        }
    }
    true
}

impl Engine {
    pub async fn start(self: &Arc<Self>, name: &str) -> Result<()> {
        let c = self.get(name)?;
        let op = c.op_lock.lock().await;
        if c.is_running() || Status::of(&c.record().state) == Status::Restarting {
            return Err(DaemonError::NotModified("container already started".into()));
        }
        // A user's start: the restart policy applies afresh, its count from zero.
        c.backoff().reset();
        {
            let mut r = c.record();
            r.manually_stopped = false;
            r.restart_count = 0;
        }
        self.start_held(&c, op).await
    }

    /// Starts `c`, whose op lock the caller holds (and gives up here): a user's start, or
    /// its restart policy's.
    pub(crate) async fn start_held(
        self: &Arc<Self>,
        c: &Arc<Container>,
        op: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<()> {
        let result = self.start_locked(c).await;
        if result.is_ok() {
            self.announce_start(c);
            self.start_health_check(c, true);
        }
        if let Err(e) = &result {
            self.unmount_shm(&c.id);
            self.release_volumes(&c.id);
            // Attaches waiting for this start get nothing: close them.
            c.pending_attach
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
            let mut r = c.record();
            r.state.error = e.to_string();
        }
        let _ = c.save(&self.cfg.container_dir(&c.id));
        drop(op);
        if result.is_err() && c.record().host_config.auto_remove {
            let _ = self.remove(&c.id, true, true).await;
        }
        result
    }

    async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        self.share_network_files(c)?;
        let mut rec = c.snapshot();
        // Legacy links add their environment (before the image's and the user's, which
        // win).
        let link_env = self.link_env(&rec)?;
        if !link_env.is_empty() {
            let mut env = link_env;
            env.extend(rec.config.env.take().unwrap_or_default());
            rec.config.env = Some(env);
        }
        let dir = self.cfg.container_dir(&c.id);
        let fs = self.container_fs(&c.id, &rec.image_id).await?;
        let lower = fs.lower();
        let bundle = dir.join("bundle");
        std::fs::create_dir_all(bundle.join("rootfs"))?;
        let resolved = user::resolve_with(
            &rec.config.user,
            &fs.stack(),
            rec.host_config.group_add.as_deref().unwrap_or(&[]),
            !rec.pod.as_ref().is_some_and(|p| p.strict_groups),
        )?;
        let console_size = rec
            .host_config
            .console_size
            .as_ref()
            .filter(|s| s.len() == 2 && s[0] > 0 && s[1] > 0)
            .map(|s| (s[0] as u16, s[1] as u16));
        let shared = self.shared_namespaces(&rec)?;
        let init_binary = if rec.host_config.init == Some(true) {
            Some(self.init_binary()?)
        } else {
            None
        };
        let volumes = self.prepare_volumes(&rec, &lower)?;
        // Image mounts: the layers of the image each was resolved to at create.
        let mut image_mounts = vec![];
        for (target, image_id) in &rec.image_mounts {
            let img = self.image_get(image_id).await?;
            image_mounts.push((target.clone(), self.images.layer_dirs(&img)));
        }
        let empty_dir = if image_mounts.is_empty() {
            self.cfg.exec_root.join("empty")
        } else {
            self.empty_lower_dir()?
        };
        let spec = spec::generate(&SpecInput {
            record: &rec,
            rootfs: RootfsLayout {
                lower: &lower,
                upper: &fs.upper,
                work: &fs.work,
            },
            user: &resolved,
            cgroup_parent: &self.cfg.cgroup_parent,
            console_size,
            no_new_privileges_default: self.cfg.no_new_privileges,
            shared,
            init_binary: init_binary.as_deref(),
            volumes: &volumes,
            image_mounts: &image_mounts,
            empty_dir: &empty_dir,
        })?;
        let log_driver = super::logs::Driver::parse(&rec.host_config.log_config.kind)?;
        let config = TaskConfig {
            id: c.id.clone(),
            bundle,
            state_dir: self.cfg.state_dir(&c.id),
            socket: self.cfg.shim_socket(&c.id),
            // The `none` driver: the shim's log goes nowhere.
            log_path: if log_driver == super::logs::Driver::None {
                "/dev/null".into()
            } else {
                rec.log_path.clone().into()
            },
            open_stdin: rec.config.open_stdin,
            stdin_once: rec.config.stdin_once,
            console_size,
            // A runtime removed from the daemon's configuration since create cannot run.
            runtime: {
                let name = self
                    .cfg
                    .resolve_runtime(&rec.host_config.runtime)
                    .map_err(DaemonError::InvalidParameter)?;
                self.cfg.runtimes.get(&name).cloned()
            },
            log_rotation: if rec.pod.as_ref().is_some_and(|p| p.log_path.is_some()) {
                // The kubelet rotates a CRI log itself (rename, then ReopenContainerLog).
                berth_runtime::json_log::Rotation {
                    max_size: None,
                    max_files: 1,
                    compress: false,
                }
            } else {
                // Recorded at create with the options in force.
                let o = super::logs::LogOptions::parse_for(
                    log_driver,
                    rec.host_config.log_config.config.as_ref(),
                    &Default::default(),
                )?;
                berth_runtime::json_log::Rotation {
                    max_size: o.max_size,
                    max_files: o.max_file,
                    compress: o.compress,
                }
            },
            log_format: if rec.pod.as_ref().is_some_and(|p| p.log_path.is_some()) {
                berth_runtime::json_log::LogFormat::Cri
            } else {
                berth_runtime::json_log::LogFormat::Json
            },
        };
        // Addresses first: the hosts file names the container's own.
        let mut endpoints = rec.networks.clone();
        self.networks.allocate(&mut endpoints)?;
        c.record().networks = endpoints.clone();
        let result = self.run_task(c, &rec, &spec, &config, &endpoints).await;
        if result.is_err() {
            let mut endpoints = endpoints;
            self.networks
                .release(&mut endpoints, &rec.mac_requests)
                .await;
            c.record().networks = endpoints;
        }
        result
    }

    /// The task with its network, started.
    async fn run_task(
        self: &Arc<Self>,
        c: &Arc<Container>,
        rec: &Record,
        spec: &oci_spec::runtime::Spec,
        config: &TaskConfig,
        endpoints: &BTreeMap<String, EndpointSettings>,
    ) -> Result<()> {
        let extra = self.extra_hosts(rec)?;
        write_network_files(rec, endpoints, &extra)?;
        // Host ports are taken before anything runs: one in use fails the start early.
        let requests = if rec.host_config.network_mode == "host" {
            vec![] // discarded, as create warned
        } else {
            super::network::port_requests(&rec.host_config, &rec.config)?
        };
        c.record().ports = self.networks.hold_ports(&c.id, &requests)?;
        let (task, pid) = match self.runtime.create(spec, config).await {
            Ok(created) => created,
            Err(e) => {
                self.networks.release_ports(&c.id);
                c.record().ports.clear();
                return Err(self.failed_start(c, &e));
            }
        };
        let started = async {
            // Between create and start the init waits in its namespaces: the veths go in
            // before the program runs.
            self.networks.attach(pid, endpoints).await?;
            if let Some(ip) = endpoints.values().find_map(|e| e.ip_address.parse().ok()) {
                self.networks.forward_ports(&c.id, ip)?;
            }
            self.start_resolver(&c.id, pid)?;
            self.finish_start(c, &task, pid).await
        };
        match started.await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.stop_resolver(&c.id);
                self.networks.release_ports(&c.id);
                c.record().ports.clear();
                // The shim and its held init exist: end them, or they wait forever.
                if pid > 0 {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::SIGKILL,
                    );
                }
                Err(e)
            }
        }
    }

    /// The init bound at /sbin/docker-init for `--init`, copied once, root-owned and
    /// 0555, under the exec root: berth's own (a copy of the sealed binary berth runs
    /// from; a memfd cannot be bind-mounted) when it is statically linked, as the release
    /// build is; else a static `docker-init` or Debian's `tini-static`, as dockerd uses.
    /// The container sees it only through a read-only mount, never the host's berth.
    fn init_binary(&self) -> Result<std::path::PathBuf> {
        let path = self.cfg.exec_root.join("docker-init");
        if path.exists() {
            return Ok(path);
        }
        let source = if is_static_elf(&self.cfg.berth_binary) {
            self.cfg.berth_binary.clone()
        } else {
            ["/usr/local/bin", "/usr/bin", "/bin"]
                .iter()
                .flat_map(|d| ["docker-init", "tini-static"].map(|n| std::path::Path::new(d).join(n)))
                .find(|p| is_static_elf(p))
                .ok_or_else(|| {
                    DaemonError::InvalidParameter(
                        "--init needs a statically linked init: this berth is not static (use the release build) and no docker-init or tini-static was found".into(),
                    )
                })?
        };
        let tmp = self
            .cfg
            .exec_root
            .join(format!(".docker-init-{}", std::process::id()));
        std::fs::copy(&source, &tmp)?;
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o555))?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// `--network container:<donor>`: the donor's hostname, /etc/hosts and
    /// /etc/resolv.conf, as dockerd gives them (the files are the donor's, so a change in
    /// one shows in both).
    fn share_network_files(&self, c: &Container) -> Result<()> {
        let Some(donor) =
            super::host_config::network_donor(&c.record().host_config).map(str::to_string)
        else {
            return Ok(());
        };
        let d = self.get(&donor)?.snapshot();
        if d.id == c.id {
            return Err(DaemonError::InvalidParameter(
                "cannot join the network namespace of the container itself".into(),
            ));
        }
        if !d.state.running {
            return Err(DaemonError::Conflict(format!(
                "cannot join network namespace of a non running container: {}",
                d.id
            )));
        }
        let mut r = c.record();
        r.config.hostname = d.config.hostname;
        r.config.domainname = d.config.domainname;
        r.hostname_path = d.hostname_path;
        r.hosts_path = d.hosts_path;
        r.resolv_conf_path = d.resolv_conf_path;
        Ok(())
    }

    /// The namespaces this container shares: the running donors' host pids (`--pid` and
    /// `--ipc container:`) and a shareable /dev/shm, mounted here.
    fn shared_namespaces(&self, rec: &super::container::Record) -> Result<spec::SharedNamespaces> {
        use super::host_config::{ipc_mode, pid_mode, NamespaceMode};
        let pid_of = |mode: NamespaceMode, what: &str| -> Result<Option<i32>> {
            let NamespaceMode::Container(other) = mode else {
                return Ok(None);
            };
            let c = self.get(&other)?;
            if c.id == rec.id {
                return Err(DaemonError::InvalidParameter(format!(
                    "cannot join the {what} namespace of the container itself"
                )));
            }
            let r = c.record();
            if !r.state.running || r.state.pid <= 0 {
                return Err(DaemonError::Conflict(format!(
                    "cannot join the {what} namespace of container {}: it is not running",
                    c.id
                )));
            }
            Ok(Some(r.state.pid as i32))
        };
        let ipc = match ipc_mode(&rec.host_config)? {
            NamespaceMode::Container(other) => {
                let donor = self.get(&other)?;
                let shareable = donor.record().host_config.ipc_mode == "shareable";
                if !shareable {
                    return Err(DaemonError::Conflict(format!(
                        "cannot join the IPC namespace of container {}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)",
                        donor.id
                    )));
                }
                let pid = pid_of(NamespaceMode::Container(other), "IPC")?;
                pid.map(|p| (p, self.shm_dir(&donor.id)))
            }
            _ => None,
        };
        let own_shm = if ipc_mode(&rec.host_config)? == NamespaceMode::Shareable {
            let size = if rec.host_config.shm_size > 0 {
                rec.host_config.shm_size
            } else {
                64 << 20
            };
            Some(self.mount_shm(&rec.id, size)?)
        } else {
            None
        };
        let net = match super::host_config::network_donor(&rec.host_config) {
            Some(donor) => pid_of(NamespaceMode::Container(donor.into()), "network")?,
            None => None,
        };
        Ok(spec::SharedNamespaces {
            pid: pid_of(pid_mode(&rec.host_config)?, "pid")?,
            net,
            ipc,
            own_shm,
        })
    }

    /// After the shim is up: connect waiting attaches, let the program run, record it.
    async fn finish_start(
        self: &Arc<Self>,
        c: &Arc<Container>,
        task: &Task,
        pid: i32,
    ) -> Result<()> {
        let dir = self.cfg.container_dir(&c.id);
        // Attaches that arrived before start are connected before the program runs, so
        // they see all of its output.
        let pending: Vec<PendingAttach> =
            std::mem::take(&mut *c.pending_attach.lock().unwrap_or_else(|p| p.into_inner()));
        for p in pending {
            if let Ok(io) = task.attach(p.streams).await {
                let _ = p.deliver.send(session::forward(io, |_| {}));
            }
        }
        if let Err(e) = task.start().await {
            return Err(self.failed_start(c, &e));
        }
        {
            let mut r = c.record();
            Status::apply(&mut r.state, Event::Started);
            r.state.pid = pid as i64;
            r.state.exit_code = 0;
            r.state.error.clear();
            r.state.oom_killed = false;
            // FinishedAt keeps the last run's end, as dockerd's does.
            r.state.started_at = now();
        }
        c.save_state(&dir)?;
        c.lifecycle.send_modify(|l| l.running = true);
        self.spawn_monitor(c.clone());
        Ok(())
    }

    /// Records a start that failed in the runtime; returns Docker's error for it.
    fn failed_start(&self, c: &Container, e: &RuntimeError) -> DaemonError {
        let (msg, code) = (e.to_string(), e.exit_code());
        let text = format!("failed to create task for container: OCI runtime create failed: unable to start container process: {msg}: unknown");
        {
            let mut r = c.record();
            Status::apply(&mut r.state, Event::Exited);
            r.state.exit_code = code as i64;
            r.state.error = text.clone();
            r.state.finished_at = now();
        }
        c.lifecycle.send_modify(|l| {
            l.exits += 1;
            l.exit_code = code as i64;
        });
        if code == 126 || code == 127 {
            DaemonError::InvalidParameter(text)
        } else {
            DaemonError::System(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_executables_are_told_apart() {
        // The test binary itself is dynamic; busybox-static is not.
        assert!(!is_static_elf(&std::env::current_exe().unwrap()));
        if std::path::Path::new("/bin/busybox").exists() {
            assert!(is_static_elf(std::path::Path::new("/bin/busybox")));
        }
        assert!(!is_static_elf(std::path::Path::new("/etc/passwd")));
    }
}
