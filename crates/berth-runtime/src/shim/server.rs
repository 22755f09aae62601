//! The shim's socket: one thread per connection, one request per connection.

use super::frames::{encode, FrameKind};
use super::protocol::{Reply, Request};
use super::stdio::{set_winsize, Subscriber};
use super::{read_error, spawn_small, Shared, Starter, Status};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

/// Largest request line accepted.
const MAX_REQUEST: u64 = 1 << 20;

pub(crate) fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let s = shared.clone();
        spawn_small("conn", move || {
            let _ = handle(conn, s);
        });
    }
}

fn send(mut conn: &UnixStream, r: &Reply) -> io::Result<()> {
    let mut line = serde_json::to_vec(r).map_err(io::Error::other)?;
    line.push(b'\n');
    conn.write_all(&line)
}

fn handle(conn: UnixStream, s: Arc<Shared>) -> io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    (&mut reader).take(MAX_REQUEST).read_line(&mut line)?;
    let req: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => return send(&conn, &Reply::err(format!("bad request: {e}"))),
    };
    match req {
        Request::State => {
            let st = s.status.lock().unwrap_or_else(|p| p.into_inner());
            let mut r = Reply::ok();
            r.pid = Some(s.pid);
            r.status = Some(st.name());
            if let Status::Exited(e) = &*st {
                r.exit = Some(e.clone());
            }
            send(&conn, &r)
        }
        Request::Start => {
            s.starting.store(true, std::sync::atomic::Ordering::SeqCst);
            let r = send(&conn, &start(&s));
            s.starting.store(false, std::sync::atomic::Ordering::SeqCst);
            r
        }
        Request::Wait => {
            let mut st = s.status.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Status::Exited(e) = &*st {
                    let mut r = Reply::ok();
                    r.exit = Some(e.clone());
                    return send(&conn, &r);
                }
                st = s.status_changed.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        }
        Request::Kill { signal, all } => {
            let sig = match nix::sys::signal::Signal::try_from(signal) {
                Ok(sig) => sig,
                Err(_) => return send(&conn, &Reply::err(format!("invalid signal: {signal}"))),
            };
            let pids = if all { s.cgroup.pids() } else { vec![s.pid] };
            let mut r = Reply::ok();
            for p in pids {
                if let Err(e) = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig) {
                    if p == s.pid {
                        r = Reply::err(format!("cannot kill container: {e}"));
                    }
                }
            }
            send(&conn, &r)
        }
        Request::Resize {
            height,
            width,
            exec,
        } => {
            let fd = match exec {
                Some(id) => s
                    .exec_ttys
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&id)
                    .cloned(),
                None => s.io.master.get().cloned(),
            };
            match fd {
                Some(f) => {
                    set_winsize(f.as_raw_fd(), height, width);
                    send(&conn, &Reply::ok())
                }
                None => send(&conn, &Reply::err("the process has no tty")),
            }
        }
        Request::Pause | Request::Resume => {
            let r = match s.cgroup.set_frozen(matches!(req, Request::Pause)) {
                Ok(()) => Reply::ok(),
                Err(e) => Reply::err(e),
            };
            send(&conn, &r)
        }
        Request::Pids => {
            let mut r = Reply::ok();
            r.pids = Some(s.cgroup.pids());
            send(&conn, &r)
        }
        Request::Stats => {
            let mut r = Reply::ok();
            r.stats = Some(s.cgroup.stats());
            send(&conn, &r)
        }
        Request::ReopenLog => {
            let reopened = s.io.log.lock().unwrap_or_else(|p| p.into_inner()).reopen();
            match reopened {
                Ok(()) => send(&conn, &Reply::ok()),
                Err(e) => send(&conn, &Reply::err(format!("reopening the log: {e}"))),
            }
        }
        Request::Attach {
            stdin,
            stdout,
            stderr,
        } => attach(conn, reader, &s, stdin, stdout, stderr),
        Request::Exec { id, process, stdin } => exec(conn, reader, &s, id, &process, stdin),
    }
}

fn start(s: &Shared) -> Reply {
    let Some(starter) = s.start.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return Reply::err("container already started");
    };
    match starter {
        Starter::Builtin(go, mut report) => {
            let mut go = File::from(go);
            if go.write_all(&[1]).is_err() {
                return Reply::err("container init died before start");
            }
            drop(go);
            // EOF means execve succeeded (the pipe is close-on-exec); anything else is
            // an error.
            let mut first = [0u8; 1];
            if !matches!(report.read(&mut first), Ok(0)) {
                return Reply::failed(&read_error(&mut report));
            }
        }
        Starter::External => {
            let Some(driver) = s.external.as_ref() else {
                return Reply::err("no runtime to start the container with");
            };
            let pid = match driver.spawn_start() {
                Ok(p) => p,
                Err(e) => return Reply::failed(&e),
            };
            // None: the container ran and ended first, so the start did its job.
            if let Some(code) = wait_reaped(s, pid).filter(|c| *c != 0) {
                let e = driver.failure("start", &format!("exit status: {code}"), &[]);
                return Reply::failed(&e);
            }
        }
    }
    let mut st = s.status.lock().unwrap_or_else(|p| p.into_inner());
    if *st == Status::Created {
        *st = Status::Running;
    }
    s.status_changed.notify_all();
    Reply::ok()
}

/// The exit code of the shim's child `pid` as its reaper records it; None if the
/// container exited first and the reaper stopped without seeing it.
fn wait_reaped(s: &Shared, pid: i32) -> Option<i32> {
    let mut reaped = s.reaped.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if let Some(c) = reaped.remove(&pid) {
            return Some(c);
        }
        let exited = matches!(
            *s.status.lock().unwrap_or_else(|p| p.into_inner()),
            Status::Exited(_)
        );
        let (g, _) = s
            .reaped_changed
            .wait_timeout(reaped, std::time::Duration::from_millis(200))
            .unwrap_or_else(|p| p.into_inner());
        reaped = g;
        if exited && !reaped.contains_key(&pid) {
            return None;
        }
    }
}

fn attach(
    conn: UnixStream,
    mut reader: BufReader<UnixStream>,
    s: &Shared,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> io::Result<()> {
    {
        // Holding the status lock: an exit cannot slip between this check and the add.
        let st = s.status.lock().unwrap_or_else(|p| p.into_inner());
        send(&conn, &Reply::ok())?;
        if let Status::Exited(e) = &*st {
            (&conn).write_all(&encode(FrameKind::Exit, e.exit_code.to_string().as_bytes()))?;
            return Ok(());
        }
        s.io.add_subscriber(Subscriber {
            stream: conn.try_clone()?,
            stdout,
            stderr,
        });
    }
    if stdin {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if s.io.write_stdin(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        if s.cfg.stdin_once {
            s.io.close_stdin();
        }
    }
    Ok(())
}

/// Where one exec's output goes: the client connection, one frame at a time.
struct FrameSink(Mutex<UnixStream>);

impl FrameSink {
    fn send(&self, kind: FrameKind, data: &[u8]) -> io::Result<()> {
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        c.write_all(&encode(kind, data))
    }
}

fn pump(
    mut src: File,
    kind: FrameKind,
    sink: Arc<FrameSink>,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match src.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if sink.send(kind, &buf[..n]).is_err() {
                            // The client left; keep draining so the process never blocks.
                            continue;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        })
        .ok()
}

fn exec(
    conn: UnixStream,
    mut reader: BufReader<UnixStream>,
    s: &Shared,
    id: String,
    process: &oci_spec::runtime::Process,
    want_stdin: bool,
) -> io::Result<()> {
    if !matches!(
        *s.status.lock().unwrap_or_else(|p| p.into_inner()),
        Status::Running
    ) {
        return send(
            &conn,
            &Reply::err(format!("container {} is not running", s.cfg.id)),
        );
    }
    let tty = process.terminal() == Some(true);
    let spec_path = s.cfg.state_dir.join(format!("exec-{id}.json"));
    let err_path = s.cfg.state_dir.join(format!("exec-{id}.err"));
    std::fs::write(&spec_path, serde_json::to_vec(process)?)?;
    let _ = std::fs::remove_file(&err_path);

    let mut helper = crate::exec::ExecArgs {
        pid: s.pid,
        cgroup: s.cgroup_rel.clone(),
        process: spec_path.clone(),
        error_file: err_path.clone(),
        console_socket: None,
        bundle: Some(s.cfg.bundle.clone()),
    };
    let mut outputs: Vec<(File, FrameKind)> = vec![];
    let mut stdin_w: Option<File> = None;
    let mut master: Option<Arc<File>> = None;
    let mut console: Option<(OwnedFd, OwnedFd)> = None;
    let mut cmd = if tty {
        // The helper makes the pty inside the container and sends the master on fd 3.
        let (ours, theirs) = crate::console::socketpair().map_err(io::Error::other)?;
        let raw = theirs.as_raw_fd();
        helper.console_socket = Some(3);
        let mut cmd = helper.command()?;
        // SAFETY: dup2 is async-signal-safe; it only places the socket at fd 3 (which
        // clears close-on-exec there) in the child before exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                if libc::dup2(raw, 3) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        console = Some((ours, theirs));
        cmd
    } else {
        let mut cmd = helper.command()?;
        let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from);
        if want_stdin {
            let (r, w) = pipe()?;
            cmd.stdin(Stdio::from(r));
            stdin_w = Some(File::from(w));
        } else {
            cmd.stdin(Stdio::null());
        }
        let (or, ow): (OwnedFd, OwnedFd) = pipe()?;
        let (er, ew): (OwnedFd, OwnedFd) = pipe()?;
        cmd.stdout(Stdio::from(ow)).stderr(Stdio::from(ew));
        outputs.push((File::from(or), FrameKind::Stdout));
        outputs.push((File::from(er), FrameKind::Stderr));
        cmd
    };
    let child = cmd.spawn();
    drop(cmd); // closes the child's ends in the shim
    let helper_pid = match child {
        Ok(c) => c.id() as i32,
        Err(e) => return send(&conn, &Reply::err(format!("cannot start exec: {e}"))),
    };
    if let Some((ours, theirs)) = console.take() {
        drop(theirs);
        // None: the helper failed before making the pty; its error file says why.
        if let Ok(Some(m)) = crate::console::recv_fd(ours.as_raw_fd()) {
            let m = File::from(m);
            if let Some(size) = process.console_size() {
                set_winsize(m.as_raw_fd(), size.height() as u16, size.width() as u16);
            }
            outputs.push((m.try_clone()?, FrameKind::Stdout));
            stdin_w = Some(m.try_clone()?);
            master = Some(Arc::new(m));
        }
    }
    if let Some(m) = &master {
        s.exec_ttys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), m.clone());
    }
    let mut r = Reply::ok();
    r.pid = Some(helper_pid);
    send(&conn, &r)?;

    let sink = Arc::new(FrameSink(Mutex::new(conn.try_clone()?)));
    let pumps: Vec<_> = outputs
        .into_iter()
        .filter_map(|(f, k)| pump(f, k, sink.clone()))
        .collect();
    if let Some(mut w) = stdin_w {
        if want_stdin {
            spawn_small("exec-stdin", move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 || w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                // For a pty, stdin EOF is only the end of the client's input: the master stays.
                if !tty {
                    drop(w);
                }
            });
        }
    }
    // The container is gone (and its processes with it) if the helper's exit never came.
    let code = wait_reaped(s, helper_pid).unwrap_or(137);
    s.exec_ttys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    drop(master);
    if tty {
        // The pty master read ends with EIO once the slave side is closed everywhere.
    }
    for p in pumps {
        let _ = p.join();
    }
    let mut code = code;
    if let Ok(msg) = std::fs::read_to_string(&err_path) {
        if !msg.is_empty() {
            let _ = sink.send(FrameKind::Error, msg.as_bytes());
            // The process never started (no such command, not executable, a bad user or
            // directory): dockerd's exec reports 126 for all of these.
            code = 126;
        }
    }
    let _ = sink.send(FrameKind::Exit, code.to_string().as_bytes());
    let _ = conn.shutdown(std::net::Shutdown::Both);
    let _ = std::fs::remove_file(&spec_path);
    let _ = std::fs::remove_file(&err_path);
    Ok(())
}
