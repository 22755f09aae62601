//! Start, stop, kill, wait, pause, remove, rename — and noticing exits, also across a
//! daemon restart.

use super::container::{Container, PendingAttach};
use super::create::{now, ZERO_TIME};
use super::shim_client::{self, ShimStream};
use super::spec::{self, RootfsLayout, SpecInput};
use super::status::{Event, Status};
use super::{user, Engine};
use crate::error::{DaemonError, Result};
use berth_runtime::shim::protocol::{read_exit_status, ExitStatus, Request};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

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

/// `SIGTERM`, `TERM`, `15` → 15.
pub fn parse_signal(s: &str) -> Result<i32> {
    let bad = || DaemonError::InvalidParameter(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map(|x| x as i32)
            .map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|x| x as i32)
        .map_err(|_| bad())
}

fn not_running(id: &str) -> DaemonError {
    DaemonError::Conflict(format!("Container {id} is not running"))
}

impl Engine {
    pub async fn start(self: &Arc<Self>, name: &str) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op_lock.lock().await;
        if c.is_running() {
            return Err(DaemonError::NotModified("container already started".into()));
        }
        let result = self.start_locked(&c).await;
        if let Err(e) = &result {
            self.unmount_shm(&c.id);
            // Attaches waiting for this start get nothing: close them.
            c.pending_attach
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
            let mut r = c.record();
            r.state.error = e.to_string();
        }
        let _ = c.save(&self.cfg.container_dir(&c.id));
        if result.is_err() && c.record().host_config.auto_remove {
            let engine = self.clone();
            let id = c.id.clone();
            drop(_op);
            let _ = engine.remove(&id, true).await;
        }
        result
    }

    async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let rec = c.snapshot();
        let dir = self.cfg.container_dir(&c.id);
        let images = self.images.clone();
        let image_id = rec.image_id.clone();
        let lower = tokio::task::spawn_blocking(move || -> Result<_> {
            let id = image_id.parse().map_err(DaemonError::from)?;
            let img = images.get(&id)?;
            Ok(images.layer_dirs(&img))
        })
        .await
        .map_err(DaemonError::system)??;
        let (upper, work, empty, bundle) = (
            dir.join("fs/upper"),
            dir.join("fs/work"),
            dir.join("fs/empty"),
            dir.join("bundle"),
        );
        for d in [&upper, &work, &empty, &bundle.join("rootfs")] {
            std::fs::create_dir_all(d)?;
        }
        let mut search = vec![upper.clone()];
        search.extend(lower.iter().cloned());
        let resolved = user::resolve(
            &rec.config.user,
            &search,
            rec.host_config.group_add.as_deref().unwrap_or(&[]),
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
        let spec = spec::generate(&SpecInput {
            record: &rec,
            rootfs: RootfsLayout {
                lower: &lower,
                upper: &upper,
                work: &work,
                empty: &empty,
            },
            user: &resolved,
            cgroup_parent: &self.cfg.cgroup_parent,
            console_size,
            no_new_privileges_default: self.cfg.no_new_privileges,
            shared,
            init_binary: init_binary.as_deref(),
        })?;
        spec.save(bundle.join("config.json"))
            .map_err(DaemonError::system)?;
        let bpf_path = bundle.join(berth_runtime::seccomp::BPF_FILE);
        match berth_runtime::process::seccomp_of(&spec) {
            Some(section) => {
                let engine = self.clone();
                let bpf = tokio::task::spawn_blocking(move || engine.seccomp_filters.get(&section))
                    .await
                    .map_err(DaemonError::system)??;
                std::fs::write(&bpf_path, &*bpf)?;
            }
            None => {
                let _ = std::fs::remove_file(&bpf_path);
            }
        }
        let state_dir = self.cfg.state_dir(&c.id);
        let _ = std::fs::remove_dir_all(&state_dir);
        std::fs::create_dir_all(&state_dir)?;
        let socket = self.cfg.shim_socket(&c.id);

        let job = berth_runtime::shim::ShimConfig {
            id: c.id.clone(),
            bundle: bundle.clone(),
            state_dir: state_dir.clone(),
            socket: socket.clone(),
            log_path: rec.log_path.clone().into(),
            open_stdin: rec.config.open_stdin,
            stdin_once: rec.config.stdin_once,
            console_size,
            log_rotation: {
                let o = super::logs::LogOptions::parse(
                    rec.host_config.log_config.config.as_ref(),
                    &self.cfg.log_opts,
                )?;
                berth_runtime::json_log::Rotation {
                    max_size: o.max_size,
                    max_files: o.max_file,
                    compress: o.compress,
                }
            },
        };
        let line = self.launch_shim(&job, &state_dir).await?;
        let hello: berth_runtime::shim::protocol::Reply = serde_json::from_str(&line)?;
        if !hello.ok {
            return Err(self.failed_start(
                c,
                hello.error.unwrap_or_default(),
                hello.exit_code.unwrap_or(125),
            ));
        }
        let pid = hello.pid.unwrap_or(0);
        match self.finish_start(c, &socket, pid).await {
            Ok(()) => Ok(()),
            Err(e) => {
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
        Ok(spec::SharedNamespaces {
            pid: pid_of(pid_mode(&rec.host_config)?, "pid")?,
            ipc,
            own_shm,
        })
    }

    /// After the shim is up: connect waiting attaches, let the program run, record it.
    async fn finish_start(
        self: &Arc<Self>,
        c: &Arc<Container>,
        socket: &std::path::Path,
        pid: i32,
    ) -> Result<()> {
        let dir = self.cfg.container_dir(&c.id);
        // Attaches that arrived before start are connected before the program runs, so
        // they see all of its output.
        let pending: Vec<PendingAttach> =
            std::mem::take(&mut *c.pending_attach.lock().unwrap_or_else(|p| p.into_inner()));
        for p in pending {
            let req = Request::Attach {
                stdin: p.stdin,
                stdout: p.stdout,
                stderr: p.stderr,
            };
            if let Ok(s) = shim_client::open(socket, &req).await {
                let _ = p.deliver.send(s);
            }
        }
        let reply = shim_client::request(socket, &Request::Start).await?;
        if !reply.ok {
            return Err(self.failed_start(
                c,
                reply.error.unwrap_or_default(),
                reply.exit_code.unwrap_or(125),
            ));
        }
        {
            let mut r = c.record();
            Status::apply(&mut r.state, Event::Started);
            r.state.pid = pid as i64;
            r.state.exit_code = 0;
            r.state.error.clear();
            r.state.oom_killed = false;
            r.state.started_at = now();
            r.state.finished_at = ZERO_TIME.into();
        }
        c.save_state(&dir)?;
        c.lifecycle.send_modify(|l| l.running = true);
        self.spawn_monitor(c.clone());
        Ok(())
    }

    /// Starts the container's shim; returns the shim's first line (its handshake).
    async fn launch_shim(
        self: &Arc<Self>,
        job: &berth_runtime::shim::ShimConfig,
        state_dir: &std::path::Path,
    ) -> Result<String> {
        let (mut child, mut stdout) = match self.take_warm() {
            Some(mut w) => {
                self.refill_warm();
                use tokio::io::AsyncWriteExt;
                let mut line = serde_json::to_vec(job)?;
                line.push(b'\n');
                w.stdin.write_all(&line).await.map_err(|e| {
                    DaemonError::System(format!("handing the container to a shim: {e}"))
                })?;
                (w.child, w.stdout)
            }
            None => {
                let mut cmd = tokio::process::Command::new(&self.cfg.berth_binary);
                cmd.arg("shim")
                    .arg("--id")
                    .arg(&job.id)
                    .arg("--bundle")
                    .arg(&job.bundle)
                    .arg("--state-dir")
                    .arg(&job.state_dir)
                    .arg("--socket")
                    .arg(&job.socket)
                    .arg("--log")
                    .arg(&job.log_path);
                if job.open_stdin {
                    cmd.arg("--open-stdin");
                }
                if job.stdin_once {
                    cmd.arg("--stdin-once");
                }
                if let Some((h, w)) = job.console_size {
                    cmd.arg("--console-size").arg(format!("{h}x{w}"));
                }
                let r = job.log_rotation;
                if let Some(max) = r.max_size {
                    cmd.arg("--log-max-size").arg(max.to_string());
                }
                cmd.arg("--log-max-files").arg(r.max_files.to_string());
                if r.compress {
                    cmd.arg("--log-compress");
                }
                let shim_log = std::fs::File::create(state_dir.join("shim.log"))?;
                // No pre_exec: std can then use posix_spawn, much cheaper than forking this large
                // multi-threaded process. The shim starts its own session itself.
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(shim_log);
                let mut child = cmd
                    .spawn()
                    .map_err(|e| DaemonError::System(format!("starting the shim: {e}")))?;
                let stdout = child
                    .stdout
                    .take()
                    .ok_or_else(|| DaemonError::System("shim stdout".into()))?;
                let stdout = tokio::io::BufReader::new(stdout);
                (child, stdout)
            }
        };
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(60), stdout.read_line(&mut line)).await;
        // Reap the shim whenever it ends.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        if !matches!(read, Ok(Ok(n)) if n > 0) {
            return Err(DaemonError::System("the shim did not report back".into()));
        }
        Ok(line)
    }

    /// Records a start that failed in the runtime; returns Docker's error for it.
    fn failed_start(&self, c: &Container, msg: String, code: i32) -> DaemonError {
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

    /// Waits (through the shim) for the container to exit, then records it.
    pub(crate) fn spawn_monitor(self: &Arc<Self>, c: Arc<Container>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let socket = engine.cfg.shim_socket(&c.id);
            let exit = shim_client::request(&socket, &Request::Wait)
                .await
                .ok()
                .and_then(|r| r.exit);
            let exit = match exit {
                Some(e) => e,
                None => engine.exit_from_state(&c.id).await,
            };
            engine.handle_exit(&c, exit).await;
        });
    }

    /// The exit status the shim recorded; 255 if the shim died without recording one.
    async fn exit_from_state(&self, id: &str) -> ExitStatus {
        let dir = self.cfg.state_dir(id);
        for _ in 0..50 {
            if let Some(e) = read_exit_status(&dir) {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ExitStatus {
            exit_code: 255,
            oom_killed: false,
            finished_at: now(),
        }
    }

    pub(crate) async fn handle_exit(self: &Arc<Self>, c: &Arc<Container>, exit: ExitStatus) {
        // Runtime state goes first: once the record says "not running", a new start may
        // create these paths again.
        let _ = std::fs::remove_dir_all(self.cfg.state_dir(&c.id));
        let _ = std::fs::remove_file(self.cfg.shim_socket(&c.id));
        self.unmount_shm(&c.id);
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
            let _ = self.remove(&c.id, true).await;
        }
    }

    pub async fn kill(self: &Arc<Self>, name: &str, signal: Option<&str>) -> Result<()> {
        let c = self.get(name)?;
        if !c.is_running() {
            return Err(not_running(&c.id));
        }
        let sig = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        let mut rx = c.lifecycle.subscribe();
        if c.record().state.paused && sig == libc::SIGKILL {
            let _ = shim_client::request(&self.cfg.shim_socket(&c.id), &Request::Resume).await;
        }
        shim_client::call(
            &self.cfg.shim_socket(&c.id),
            &Request::Kill {
                signal: sig,
                all: false,
            },
        )
        .await?;
        if sig == libc::SIGKILL {
            let _ =
                tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|l| !l.running)).await;
        }
        Ok(())
    }

    pub async fn stop(
        self: &Arc<Self>,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op_lock.lock().await;
        if !c.is_running() {
            return Err(DaemonError::NotModified("container already stopped".into()));
        }
        self.stop_locked(&c, signal, timeout).await
    }

    async fn stop_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let rec = c.snapshot();
        let sig_name = signal
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or(rec.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = parse_signal(&sig_name)?;
        let timeout = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let socket = self.cfg.shim_socket(&c.id);
        let mut rx = c.lifecycle.subscribe();
        if rec.state.paused {
            let _ = shim_client::request(&socket, &Request::Resume).await;
        }
        let _ = shim_client::request(
            &socket,
            &Request::Kill {
                signal: sig,
                all: false,
            },
        )
        .await;
        let graceful = if timeout < 0 {
            rx.wait_for(|l| !l.running).await.is_ok()
        } else {
            tokio::time::timeout(
                Duration::from_secs(timeout as u64),
                rx.wait_for(|l| !l.running),
            )
            .await
            .is_ok()
        };
        if !graceful {
            self.kill_all_and_wait(c).await?;
        }
        Ok(())
    }

    /// SIGKILL to every process of the container (thawed first), then waits for the exit.
    async fn kill_all_and_wait(&self, c: &Container) -> Result<()> {
        let mut rx = c.lifecycle.subscribe();
        let socket = self.cfg.shim_socket(&c.id);
        let _ = shim_client::request(&socket, &Request::Resume).await;
        let kill = Request::Kill {
            signal: libc::SIGKILL,
            all: true,
        };
        let _ = shim_client::request(&socket, &kill).await;
        tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|l| !l.running))
            .await
            .map_err(|_| {
                DaemonError::System(format!("container {} did not stop after SIGKILL", c.id))
            })?
            .map_err(DaemonError::system)?;
        Ok(())
    }

    pub async fn restart(
        self: &Arc<Self>,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.get(name)?;
        {
            let _op = c.op_lock.lock().await;
            if c.is_running() {
                self.stop_locked(&c, signal, timeout).await?;
            }
        }
        // The exit must be recorded before the next start.
        let mut rx = c.lifecycle.subscribe();
        let _ = rx.wait_for(|l| !l.running).await;
        c.record().restart_count += 1;
        self.start(&c.id).await
    }

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
        let req = if pause {
            Request::Pause
        } else {
            Request::Resume
        };
        shim_client::call(&self.cfg.shim_socket(&c.id), &req).await?;
        {
            let mut r = c.record();
            let event = if pause { Event::Paused } else { Event::Resumed };
            Status::apply(&mut r.state, event);
        }
        c.save(&self.cfg.container_dir(&c.id))
    }

    pub async fn remove(self: &Arc<Self>, name: &str, force: bool) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op_lock.lock().await;
        if self.get(&c.id).is_err() {
            return Ok(()); // removed while we waited
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
            self.kill_all_and_wait(c.as_ref()).await?;
        }
        {
            let mut r = c.record();
            Status::apply(&mut r.state, Event::RemovalBegun);
        }
        self.unregister(&c);
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
        Ok(())
    }

    pub async fn rename(self: &Arc<Self>, name: &str, new_name: &str) -> Result<()> {
        let c = self.get(name)?;
        let new = super::names::validate(new_name)?;
        if c.name() == new {
            return Err(DaemonError::InvalidParameter(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        self.rename_index(&c, &new)?;
        c.save(&self.cfg.container_dir(&c.id))
    }

    /// Removes every stopped container; returns their IDs.
    pub async fn prune(self: &Arc<Self>, labels: &[String]) -> Result<Vec<String>> {
        let mut removed = vec![];
        for c in self.all() {
            if c.is_running() || !super::query::labels_match(&c.record().config.labels, labels) {
                continue;
            }
            if self.remove(&c.id, false).await.is_ok() {
                removed.push(c.id.clone());
            }
        }
        Ok(removed)
    }

    /// On daemon start: load every container and reconnect to the shims of running ones.
    pub async fn restore(self: &Arc<Self>) -> Result<()> {
        let entries = std::fs::read_dir(self.cfg.containers_dir())?;
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
                let socket = self.cfg.shim_socket(&c.id);
                match shim_client::request(&socket, &Request::State).await {
                    Ok(r) if r.status.as_deref() == Some("running") => {
                        self.spawn_monitor(c.clone())
                    }
                    Ok(r) if r.status.as_deref() == Some("created") => {
                        let _ = shim_client::request(
                            &socket,
                            &Request::Kill {
                                signal: libc::SIGKILL,
                                all: true,
                            },
                        )
                        .await;
                        self.spawn_monitor(c.clone());
                    }
                    Ok(r) if r.exit.is_some() => {
                        let exit = r.exit.unwrap_or_default();
                        self.handle_exit(&c, exit).await
                    }
                    _ => {
                        let exit = self.exit_from_state(&c.id).await;
                        self.handle_exit(&c, exit).await
                    }
                }
            } else if auto_remove {
                let _ = self.remove(&c.id, true).await;
            }
        }
        self.reconcile().await;
        Ok(())
    }

    /// An attach: connected now if running, or at start if the container has not started.
    /// The registration happens before this returns, so a start that follows is seen.
    pub fn attach(
        self: &Arc<Self>,
        c: &Arc<Container>,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> impl std::future::Future<Output = Result<Option<ShimStream>>> {
        let pending = if c.is_running() {
            None
        } else {
            let (tx, rx) = tokio::sync::oneshot::channel();
            c.pending_attach
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(PendingAttach {
                    stdin,
                    stdout,
                    stderr,
                    deliver: tx,
                });
            Some(rx)
        };
        let socket = self.cfg.shim_socket(&c.id);
        async move {
            match pending {
                Some(rx) => Ok(rx.await.ok()),
                None => {
                    let req = Request::Attach {
                        stdin,
                        stdout,
                        stderr,
                    };
                    Ok(Some(shim_client::open(&socket, &req).await?))
                }
            }
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

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("1").unwrap(), 1);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
