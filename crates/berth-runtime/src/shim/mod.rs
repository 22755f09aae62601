//! The per-container shim: `berth shim [--warm]`, started by `task::Runtime`.
//!
//! One process per container, in its own session so it outlives the daemon. It reads its
//! `TaskConfig` as one JSON line on stdin, creates the container (one `clone`), reports
//! `{"ok":true,"pid":N}` on stdout, then serves its socket until the container exits, and
//! records the exit status atomically.
//! No async runtime: a few threads that block, and fixed buffers in the steady state.

mod external;
pub(crate) mod frames;
pub(crate) mod protocol;
mod server;
mod stdio;

use crate::cgroups::{Cgroup, Limits};
use crate::error::{Result, RuntimeError};
use crate::init::{self, InitContext, MSG_ERROR, MSG_READY};
use crate::task::TaskConfig;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use protocol::{ExitStatus, Reply, ShimStatus, EXIT_FILE, PID_FILE};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Status {
    Created,
    Running,
    Exited(ExitStatus),
}

impl Status {
    pub fn name(&self) -> ShimStatus {
        match self {
            Status::Created => ShimStatus::Created,
            Status::Running => ShimStatus::Running,
            Status::Exited(_) => ShimStatus::Exited,
        }
    }
}

/// State shared by the shim's threads.
pub(crate) struct Shared {
    pub cfg: TaskConfig,
    pub pid: i32,
    pub cgroup: Cgroup,
    /// The cgroup path relative to each hierarchy's root, for exec'd processes to join.
    pub cgroup_rel: String,
    pub io: stdio::ContainerIo,
    pub status: Mutex<Status>,
    pub status_changed: Condvar,
    /// How the held init is let run; taken by the first start.
    pub start: Mutex<Option<Starter>>,
    /// The external runtime that made the container, if not the built-in one.
    pub external: Option<external::Driver>,
    /// A start request is being answered.
    pub starting: std::sync::atomic::AtomicBool,
    /// Exit statuses of reaped children (exec helpers), by pid.
    pub reaped: Mutex<HashMap<i32, i32>>,
    pub reaped_changed: Condvar,
    /// pty masters of running execs, for resize.
    pub exec_ttys: Mutex<HashMap<String, Arc<File>>>,
}

impl Shared {
    /// A container made and held before its program: `starter` lets it run.
    fn created(
        cfg: TaskConfig,
        pid: i32,
        (cgroup, cgroup_rel): (Cgroup, String),
        io: stdio::ContainerIo,
        starter: Starter,
        external: Option<external::Driver>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            cfg,
            pid,
            cgroup,
            cgroup_rel,
            io,
            status: Mutex::new(Status::Created),
            status_changed: Condvar::new(),
            start: Mutex::new(Some(starter)),
            external,
            starting: std::sync::atomic::AtomicBool::new(false),
            reaped: Mutex::new(HashMap::new()),
            reaped_changed: Condvar::new(),
            exec_ttys: Mutex::new(HashMap::new()),
        })
    }
}

/// How a created container's init is let run its program.
pub(crate) enum Starter {
    /// The built-in init: the "go" end of its sync pipe, and the end that reports a
    /// failed execve.
    Builtin(OwnedFd, File),
    /// `<runtime> start`.
    External,
}

/// A directory only root may enter, whatever the umask.
pub(crate) fn make_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| RuntimeError::sys(format!("creating {}", dir.display()), e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| RuntimeError::sys(format!("chmod {}", dir.display()), e))
}

fn limits_from_spec(spec: &Spec) -> Limits {
    let mut l = Limits::default();
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return l;
    };
    if let Some(m) = r.memory() {
        l.memory = m.limit();
        l.memory_swap = m.swap();
    }
    if let Some(c) = r.cpu() {
        l.cpu_shares = c.shares();
        l.cpu_quota = c.quota();
        l.cpu_period = c.period();
        l.cpuset_cpus = c.cpus().clone().filter(|s| !s.is_empty());
        l.cpuset_mems = c.mems().clone().filter(|s| !s.is_empty());
    }
    if let Some(p) = r.pids() {
        l.pids = Some(p.limit());
    }
    l.all_devices = r.devices().iter().flatten().any(|d| {
        d.allow()
            && d.typ().is_none()
            && d.major().is_none()
            && d.access().as_deref() == Some("rwm")
    });
    // The other allow entries: Docker's defaults and the devices the user added.
    let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
    l.device_rules = r
        .devices()
        .iter()
        .flatten()
        .filter(|d| d.allow() && d.typ().is_some())
        .map(|d| {
            let kind = match d.typ() {
                Some(oci_spec::runtime::LinuxDeviceType::B) => "b",
                Some(oci_spec::runtime::LinuxDeviceType::A) => "a",
                _ => "c",
            };
            format!(
                "{kind} {}:{} {}",
                num(d.major()),
                num(d.minor()),
                d.access().as_deref().unwrap_or("rwm")
            )
        })
        .collect();
    l
}

fn clone_flags(spec: &Spec) -> nix::sched::CloneFlags {
    use nix::sched::CloneFlags as F;
    // The first step of a container in a user namespace only needs a mount namespace of
    // its own; it makes the rest owned by the user namespace (see `userns`).
    if crate::userns::joins(spec) {
        return F::CLONE_NEWNS;
    }
    let mut flags = F::empty();
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        if ns.path().is_some() {
            continue;
        }
        flags |= match ns.typ() {
            LinuxNamespaceType::Mount => F::CLONE_NEWNS,
            LinuxNamespaceType::Pid => F::CLONE_NEWPID,
            LinuxNamespaceType::Uts => F::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => F::CLONE_NEWIPC,
            LinuxNamespaceType::Network => F::CLONE_NEWNET,
            // Unshared by the child once it is inside its cgroup.
            _ => F::empty(),
        };
    }
    flags
}

/// The path of a namespace the spec says to join rather than create.
pub(crate) fn namespace_path(spec: &Spec, t: LinuxNamespaceType) -> Option<PathBuf> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|n| n.typ() == t)?
        .path()
        .clone()
}

pub(crate) fn join_namespace(path: &Path, flag: nix::sched::CloneFlags) -> Result<()> {
    let f = File::open(path)
        .map_err(|e| RuntimeError::sys(format!("opening namespace {}", path.display()), e))?;
    nix::sched::setns(&f, flag)
        .map_err(|e| RuntimeError::sys(format!("joining namespace {}", path.display()), e))
}

/// Creates the container's init in its namespaces. Returns its pid and whether it is
/// already in (or will itself join) its cgroup: on v2 it is created inside it with
/// `clone3(CLONE_INTO_CGROUP)`; on v1 it joins itself through `tasks`.
fn spawn_init(
    spec: &Spec,
    cgroup: &Cgroup,
    child_main: impl FnOnce() -> isize,
) -> Result<(i32, bool)> {
    let flags = clone_flags(spec);
    // A pid namespace to share (`--pid container:`) is joined for the init's creation
    // only: it applies to the children made from then on, and a process whose children's
    // namespace differs from its own cannot start threads, so the shim returns to its own.
    let own_pid_ns = match namespace_path(spec, LinuxNamespaceType::Pid) {
        // In a user namespace, the init's first step joins it (owned by that namespace).
        Some(_) if crate::userns::joins(spec) => None,
        Some(path) => {
            let own = File::open("/proc/self/ns/pid")
                .map_err(|e| RuntimeError::sys("opening own pid namespace", e))?;
            join_namespace(&path, nix::sched::CloneFlags::CLONE_NEWPID)?;
            Some(own)
        }
        None => None,
    };
    let spawned = spawn_init_here(flags, cgroup, child_main);
    if let Some(own) = own_pid_ns {
        nix::sched::setns(&own, nix::sched::CloneFlags::CLONE_NEWPID)
            .map_err(|e| RuntimeError::sys("returning to own pid namespace", e))?;
    }
    spawned
}

fn spawn_init_here(
    flags: nix::sched::CloneFlags,
    cgroup: &Cgroup,
    child_main: impl FnOnce() -> isize,
) -> Result<(i32, bool)> {
    let mut child_main = Some(child_main);
    if let Some(dir) = cgroup.dir_fd() {
        match clone_into_cgroup(flags, &dir) {
            Ok(0) => {
                let code = child_main.take().map(|f| f()).unwrap_or(1);
                // SAFETY: the child of a fork-style clone ends here, without unwinding
                // into the parent's frames.
                unsafe { libc::_exit(code as i32) }
            }
            Ok(pid) => return Ok((pid, true)),
            // Older kernels: fall through to clone and a move.
            Err(_) => {}
        }
    }
    let self_join = !cgroup.self_join_files().is_empty();
    let mut stack = vec![0u8; 512 * 1024];
    let cb = Box::new(move || child_main.take().map(|f| f()).unwrap_or(1));
    // SAFETY: the shim is single-threaded here, so the child may allocate; the stack
    // outlives the call and the child never returns into the parent's frames.
    let pid = unsafe { nix::sched::clone(cb, &mut stack, flags, Some(libc::SIGCHLD)) }
        .map_err(|e| RuntimeError::sys("clone", e))?;
    Ok((pid.as_raw(), self_join))
}

/// A fork-style clone3 (no new stack) whose child starts inside the cgroup `dir`:
/// 0 in the child, the child's pid in the parent.
fn clone_into_cgroup(flags: nix::sched::CloneFlags, dir: &OwnedFd) -> Result<i32> {
    crate::clone3::fork(flags.bits() as u64, Some(dir))
}

fn pipe_pair() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| RuntimeError::sys("pipe", e))
}

fn handshake_line(reply: &Reply) {
    let mut out = std::io::stdout();
    let _ = serde_json::to_writer(&mut out, reply);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Writes the one-line handshake for the daemon, then points stdout at /dev/null so a
/// daemon that goes away never breaks the shim.
fn handshake(reply: &Reply) {
    handshake_line(reply);
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
}

/// `berth shim [--warm]`: reads the container's `TaskConfig` as one JSON line on stdin
/// and runs it. With `--warm` the shim is started ahead of time: it first says it is
/// ready, and EOF instead of a job means it is not needed. That takes the exec and
/// start-up of a process (~2 ms) off the path of a container start.
pub fn main(args: &[String]) -> i32 {
    use std::io::BufRead;
    // Nothing the daemon's parent left open may reach a container through the shim.
    crate::hygiene::close_fds_except(&[]);
    let warm = match args {
        [] => false,
        [flag] if flag == "--warm" => true,
        _ => {
            eprintln!(
                "usage: berth shim [--warm] (started by berthd, which sends the job on stdin)"
            );
            return 2;
        }
    };
    let _ = nix::unistd::setsid();
    if warm {
        handshake_line(&Reply {
            warm: true,
            ..Reply::ok()
        });
    }
    let mut line = String::new();
    match std::io::stdin().lock().take(1 << 20).read_line(&mut line) {
        Ok(n) if n > 0 => {}
        _ => return 0,
    }
    let cfg: TaskConfig = match serde_json::from_str(&line) {
        Ok(c) => c,
        Err(e) => {
            handshake(&Reply::err(format!("shim: invalid job: {e}")));
            return 1;
        }
    };
    if warm {
        // From here on this shim's messages belong with its container's state.
        let _ = std::fs::create_dir_all(&cfg.state_dir);
        if let Ok(log) = File::create(cfg.state_dir.join("shim.log")) {
            let _ = nix::unistd::dup2(log.as_raw_fd(), 2);
        }
    }
    if let Ok(null) = File::open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
    }
    run(cfg)
}

/// Creates the container, serves it, returns the shim's exit code.
fn run(cfg: TaskConfig) -> i32 {
    match create(cfg).and_then(|shared| {
        let listener = bind(&shared.cfg.socket)?;
        Ok((shared, listener))
    }) {
        Ok((shared, listener)) => {
            // The socket exists before the daemon hears "ok", so it can connect at once.
            handshake(&Reply {
                ok: true,
                pid: Some(shared.pid),
                ..Default::default()
            });
            serve_until_exit(shared, listener);
            0
        }
        Err(e) => {
            handshake(&Reply::failed(&e));
            1
        }
    }
}

fn create(cfg: TaskConfig) -> Result<Arc<Shared>> {
    let spec = Spec::load(cfg.bundle.join("config.json"))
        .map_err(|e| RuntimeError::InvalidSpec(e.to_string()))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidSpec("no process".into()))?;
    let tty = process.terminal() == Some(true);
    std::fs::create_dir_all(&cfg.state_dir)
        .map_err(|e| RuntimeError::sys("creating state dir", e))?;
    let io = stdio::ContainerIo::new(
        tty,
        cfg.open_stdin,
        &cfg.log_path,
        cfg.log_rotation,
        cfg.log_format,
        cfg.console_size,
    )?;
    let cgroup_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .unwrap_or_else(|| PathBuf::from(format!("/berth/{}", cfg.id)));
    let cgroup_rel = cgroup_path.to_string_lossy().into_owned();
    let cgroup = Cgroup::new(&cgroup_rel);
    if let Some(runtime) = cfg.runtime.clone() {
        return create_external(cfg, runtime, io, cgroup, cgroup_rel, tty);
    }
    // A limit the kernel refuses leaves the dirs made so far: remove them.
    if let Err(e) = cgroup.create(&limits_from_spec(&spec)) {
        cgroup.destroy();
        return Err(e);
    }

    let (child_read, parent_write) = pipe_pair()?;
    let (parent_read, child_write) = pipe_pair()?;
    let child_stdio = io.child_fds();
    let console_socket = io.console_socket_fd();
    let join_tasks = cgroup.self_join_files();
    let (child_read_fd, child_write_fd) = (child_read.as_raw_fd(), child_write.as_raw_fd());
    let bundle = cfg.bundle.clone();
    let child_main = || {
        use std::os::fd::FromRawFd;
        init::container_init(InitContext {
            spec: &spec,
            bundle: &bundle,
            // SAFETY: in the child, these descriptors are its own copies and owned once.
            from_parent: unsafe { OwnedFd::from_raw_fd(child_read_fd) },
            // SAFETY: as above.
            to_parent: unsafe { OwnedFd::from_raw_fd(child_write_fd) },
            stdin: child_stdio.0,
            stdout: child_stdio.1,
            stderr: child_stdio.2,
            console_socket,
            join_tasks: join_tasks.clone(),
        })
    };
    let (mut pid, placed) = match spawn_init(&spec, &cgroup, child_main) {
        Ok(r) => r,
        Err(e) => {
            cgroup.destroy();
            return Err(e);
        }
    };
    drop(child_read);
    drop(child_write);
    io.close_child_fds();
    let fail = |pid: i32, e: RuntimeError| {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        cgroup.destroy();
        e
    };
    // Only when neither the child nor the kernel placed it does the shim move it (slow).
    if !placed {
        if let Err(e) = cgroup.add_pid(pid) {
            return Err(fail(pid, e));
        }
    }
    let mut go = File::from(parent_write);
    let mut report = File::from(parent_read);
    if go.write_all(&[1]).is_err() {
        return Err(fail(pid, RuntimeError::Shim("container init died".into())));
    }
    // In a user namespace the first step clones the real init (this shim's child too)
    // and ends: from here on the container is that one.
    if crate::userns::joins(&spec) {
        pid = match read_init_pid(&mut report, pid) {
            Ok(init) => init,
            Err(e) => return Err(fail(pid, e)),
        };
    }
    // With a terminal, init sends the pty master once the rootfs is built; on failure
    // the socket just closes and the error comes through `read_ready`.
    if let Err(e) = io.receive_console() {
        return Err(fail(pid, e));
    }
    if let Err(e) = read_ready(&mut report) {
        return Err(fail(pid, e));
    }
    std::fs::write(cfg.state_dir.join(PID_FILE), pid.to_string())
        .map_err(|e| fail(pid, RuntimeError::sys("pid file", e)))?;
    let starter = Starter::Builtin(go.into(), report);
    Ok(Shared::created(
        cfg,
        pid,
        (cgroup, cgroup_rel),
        io,
        starter,
        None,
    ))
}

/// `create` through an external runtime: it makes the namespaces, cgroup, mounts and
/// init from the same bundle; the shim keeps the stdio and serves the rest.
fn create_external(
    cfg: TaskConfig,
    runtime: crate::task::ExternalRuntime,
    io: stdio::ContainerIo,
    cgroup: Cgroup,
    cgroup_rel: String,
    tty: bool,
) -> Result<Arc<Shared>> {
    let driver = external::Driver::new(runtime, &cfg.id, &cfg.state_dir, &cfg.socket)?;
    let created = driver.create(&cfg.bundle, io.child_fds(), tty);
    io.close_child_fds();
    let (pid, master) = match created {
        Ok(c) => c,
        Err(e) => {
            driver.delete();
            return Err(e);
        }
    };
    if let Some(m) = master {
        io.set_console(m);
    }
    let fail = |e: RuntimeError| {
        driver.delete();
        e
    };
    std::fs::write(cfg.state_dir.join(PID_FILE), pid.to_string())
        .map_err(|e| fail(RuntimeError::sys("pid file", e)))?;
    Ok(Shared::created(
        cfg,
        pid,
        (cgroup, cgroup_rel),
        io,
        Starter::External,
        Some(driver),
    ))
}

/// The pid of the init that a user-namespaced container's first step (`step`) cloned,
/// once that step has ended (it is reaped here).
fn read_init_pid(report: &mut File, step: i32) -> Result<i32> {
    let mut first = [0u8; 1];
    let got = match report.read(&mut first) {
        Ok(1) if first[0] == init::MSG_PID => {
            let mut pid = [0u8; 4];
            report
                .read_exact(&mut pid)
                .map(|()| i32::from_le_bytes(pid))
                .map_err(|e| RuntimeError::sys("reading the init's pid", e))
        }
        Ok(1) if first[0] == init::MSG_ERROR => Err(read_error(report)),
        _ => Err(RuntimeError::Shim(
            "container init exited during setup".into(),
        )),
    };
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(step), None);
    got
}

/// Reads the child's ready byte, or its error report.
fn read_ready(report: &mut File) -> Result<()> {
    let mut first = [0u8; 1];
    match report.read(&mut first) {
        Ok(1) if first[0] == MSG_READY => Ok(()),
        Ok(1) if first[0] == MSG_ERROR => Err(read_error(report)),
        _ => Err(RuntimeError::Shim(
            "container init exited during setup".into(),
        )),
    }
}

/// The rest of an error message: exit-code byte, then text.
pub(crate) fn read_error(report: &mut File) -> RuntimeError {
    let mut rest = Vec::new();
    let _ = report.read_to_end(&mut rest);
    let code = rest.first().copied().unwrap_or(125);
    let text = String::from_utf8_lossy(rest.get(1..).unwrap_or(&[])).into_owned();
    RuntimeError::reported(code as i32, &text)
}

/// A unix socket at `socket` that only root may use (0600, in a 0700 dir if the dir
/// has to be made), whatever the umask.
pub(crate) fn bind(socket: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(socket);
    if let Some(dir) = socket.parent().filter(|d| !d.exists()) {
        make_private_dir(dir)?;
    }
    let listener = UnixListener::bind(socket)
        .map_err(|e| RuntimeError::sys(format!("binding {}", socket.display()), e))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| RuntimeError::sys(format!("chmod {}", socket.display()), e))?;
    Ok(listener)
}

fn serve_until_exit(shared: Arc<Shared>, listener: UnixListener) {
    let s = shared.clone();
    spawn_small("accept", move || server::accept_loop(listener, s));
    let pumps = stdio::start_pumps(&shared);
    let code = reap_until_init_exits(&shared);
    // Without a pid namespace of its own (`--pid host`, `--pid container:`), init's end
    // does not end the rest: the container's processes go with it, as with Docker. (With
    // one, the kernel has killed them already and the cgroup is empty.)
    for p in shared.cgroup.pids() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::SIGKILL);
    }
    for p in pumps {
        let _ = p.join();
    }
    // Read before an external runtime's delete takes the cgroup away.
    let oom_killed = shared.cgroup.oom_killed();
    // The external runtime's state goes before the daemon hears of the exit: the daemon
    // may then remove the state dir it lives in, or start the container again.
    if let Some(d) = &shared.external {
        d.delete();
    }
    let exit = ExitStatus {
        exit_code: code,
        oom_killed,
        finished_at: crate::json_log::now_rfc3339(),
    };
    // Atomic for a daemon that restarts; a machine crash ends the container anyway.
    if let Ok(json) = serde_json::to_vec(&exit) {
        let _ = atomic_write(&shared.cfg.state_dir.join(EXIT_FILE), &json);
    }
    {
        let mut st = shared.status.lock().unwrap_or_else(|p| p.into_inner());
        *st = Status::Exited(exit.clone());
        shared.status_changed.notify_all();
    }
    // Waiters on children the reaper will no longer see (an external runtime's `start`)
    // learn at once that the container is gone.
    shared.reaped_changed.notify_all();
    shared.io.close_subscribers(code);
    // Everything in the pid namespace died with init; once the kernel has emptied the
    // cgroup, remove it (after the daemon has heard, so this is off its path).
    shared.cgroup.destroy();
    // A start still being answered (an external runtime's, which the init can outrun)
    // gets its reply out before the shim goes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while shared.starting.load(std::sync::atomic::Ordering::SeqCst)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // Give waiters a moment to read their replies. The socket file is the daemon's to
    // remove: by now a new start of the same container may own that path.
    std::thread::sleep(std::time::Duration::from_millis(20));
}

/// Reaps every child; returns init's exit code (128+signal when killed, like Docker).
fn reap_until_init_exits(shared: &Shared) -> i32 {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        let (pid, code) = match waitpid(None, None) {
            Ok(WaitStatus::Exited(p, c)) => (p.as_raw(), c),
            Ok(WaitStatus::Signaled(p, s, _)) => (p.as_raw(), 128 + s as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 255, // no children left: should not happen before init exits
        };
        if pid == shared.pid {
            return code;
        }
        let mut r = shared.reaped.lock().unwrap_or_else(|p| p.into_inner());
        r.insert(pid, code);
        shared.reaped_changed.notify_all();
    }
}

pub(crate) fn spawn_small(name: &str, f: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(128 * 1024)
        .spawn(f);
}

fn atomic_write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(tmp, path)
}
