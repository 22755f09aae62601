//! The container's stdio as the shim holds it: a pty or three pipes, the json-file log,
//! and the attached clients that receive output as frames.

use super::frames::{header, FrameKind};
use super::Shared;
use crate::error::{Result, RuntimeError};
use crate::json_log::StreamLogger;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

pub(crate) struct Subscriber {
    pub stream: UnixStream,
    pub stdout: bool,
    pub stderr: bool,
}

pub(crate) struct ContainerIo {
    /// pty master: output is read from it, stdin written to it, resize applied to it.
    /// Set once the container's init has made the pty and sent it over.
    pub master: OnceLock<Arc<File>>,
    /// With a terminal: (the shim's end, the child's end) of the console socket.
    console_socket: Mutex<Option<(OwnedFd, OwnedFd)>>,
    console_size: Option<(u16, u16)>,
    stdin_w: Mutex<Option<File>>,
    stdout_r: Mutex<Option<File>>,
    stderr_r: Mutex<Option<File>>,
    /// The child's ends; closed in the shim once the child has its copies.
    child: Mutex<Vec<OwnedFd>>,
    child_raw: (RawFd, RawFd, RawFd),
    pub(super) log: Arc<Mutex<crate::json_log::LogFile>>,
    pub subscribers: Mutex<Vec<Subscriber>>,
}

pub fn set_winsize(fd: RawFd, height: u16, width: u16) {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives across the call.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| RuntimeError::sys("pipe", e))
}

impl ContainerIo {
    pub fn new(
        tty: bool,
        open_stdin: bool,
        log_path: &Path,
        rotation: crate::json_log::Rotation,
        format: crate::json_log::LogFormat,
        size: Option<(u16, u16)>,
    ) -> Result<Self> {
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| RuntimeError::sys("log dir", e))?;
        }
        let log = crate::json_log::LogFile::open(log_path, rotation, format)
            .map_err(|e| RuntimeError::sys(format!("opening log {}", log_path.display()), e))?;
        let log = Arc::new(Mutex::new(log));
        if tty {
            let (ours, theirs) = crate::console::socketpair()?;
            let s = theirs.as_raw_fd();
            return Ok(Self {
                master: OnceLock::new(),
                console_socket: Mutex::new(Some((ours, theirs))),
                console_size: size,
                stdin_w: Mutex::new(None),
                stdout_r: Mutex::new(None),
                stderr_r: Mutex::new(None),
                child: Mutex::new(vec![]),
                child_raw: (s, s, s),
                log,
                subscribers: Mutex::new(vec![]),
            });
        }
        let (in_r, in_w) = if open_stdin {
            let (r, w) = pipe()?;
            (r, Some(File::from(w)))
        } else {
            let null = File::open("/dev/null").map_err(|e| RuntimeError::sys("/dev/null", e))?;
            (OwnedFd::from(null), None)
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let raw = (in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd());
        Ok(Self {
            master: OnceLock::new(),
            console_socket: Mutex::new(None),
            console_size: None,
            stdin_w: Mutex::new(in_w),
            stdout_r: Mutex::new(Some(File::from(out_r))),
            stderr_r: Mutex::new(Some(File::from(err_r))),
            child: Mutex::new(vec![in_r, out_w, err_w]),
            child_raw: raw,
            log,
            subscribers: Mutex::new(vec![]),
        })
    }

    pub fn child_fds(&self) -> (RawFd, RawFd, RawFd) {
        self.child_raw
    }

    /// The child's end of the console socket, when the container has a terminal.
    pub fn console_socket_fd(&self) -> Option<RawFd> {
        self.console_socket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, c)| c.as_raw_fd())
    }

    pub fn close_child_fds(&self) {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Takes the pty master the container's init sent; false if it sent none.
    pub fn receive_console(&self) -> Result<bool> {
        let Some((ours, theirs)) = self
            .console_socket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return Ok(true);
        };
        // Our copy of the child's end must close, or a failed child would never give EOF.
        drop(theirs);
        let Some(master) = crate::console::recv_fd(ours.as_raw_fd())? else {
            return Ok(false);
        };
        let master = File::from(master);
        if let Some((h, w)) = self.console_size {
            set_winsize(master.as_raw_fd(), h, w);
        }
        let _ = self.master.set(Arc::new(master));
        Ok(true)
    }

    /// Takes a pty master that came another way (an external runtime's console
    /// socket) instead of from the built-in init.
    pub fn set_console(&self, master: OwnedFd) {
        drop(
            self.console_socket
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let master = File::from(master);
        if let Some((h, w)) = self.console_size {
            set_winsize(master.as_raw_fd(), h, w);
        }
        let _ = self.master.set(Arc::new(master));
    }

    pub fn write_stdin(&self, data: &[u8]) -> std::io::Result<()> {
        if let Some(m) = self.master.get() {
            return (&**m).write_all(data);
        }
        match self
            .stdin_w
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            Some(w) => w.write_all(data),
            None => Ok(()),
        }
    }

    pub fn close_stdin(&self) {
        self.stdin_w
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    pub fn add_subscriber(&self, s: Subscriber) {
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(s);
    }

    fn broadcast(&self, kind: FrameKind, data: &[u8]) {
        let header = header(kind, data.len());
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain_mut(|s| {
            let wanted = match kind {
                FrameKind::Stdout => s.stdout,
                FrameKind::Stderr => s.stderr,
                _ => true,
            };
            !wanted || (s.stream.write_all(&header).is_ok() && s.stream.write_all(data).is_ok())
        });
    }

    /// Tells every attached client the exit code and closes them.
    pub fn close_subscribers(&self, code: i32) {
        self.broadcast(FrameKind::Exit, code.to_string().as_bytes());
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        for s in subs.drain(..) {
            let _ = s.stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Output pumps: read the container's output, log it, send it to attached clients.
pub(crate) fn start_pumps(shared: &Arc<Shared>) -> Vec<JoinHandle<()>> {
    let io = &shared.io;
    let mut sources: Vec<(File, FrameKind, &'static str)> = vec![];
    if let Some(m) = io.master.get() {
        if let Ok(f) = m.try_clone() {
            sources.push((f, FrameKind::Stdout, "stdout"));
        }
    }
    if let Some(f) = io.stdout_r.lock().unwrap_or_else(|p| p.into_inner()).take() {
        sources.push((f, FrameKind::Stdout, "stdout"));
    }
    if let Some(f) = io.stderr_r.lock().unwrap_or_else(|p| p.into_inner()).take() {
        sources.push((f, FrameKind::Stderr, "stderr"));
    }
    let mut handles = vec![];
    for (mut src, kind, name) in sources {
        let s = shared.clone();
        let h = std::thread::Builder::new()
            .name(format!("pump-{name}"))
            .stack_size(128 * 1024)
            .spawn(move || {
                let mut logger = StreamLogger::new(s.io.log.clone(), name);
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match src.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            logger.write(&buf[..n]);
                            s.io.broadcast(kind, &buf[..n]);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        // EIO: the pty's last slave closed.
                        Err(_) => break,
                    }
                }
                logger.finish();
            });
        if let Ok(h) = h {
            handles.push(h);
        }
    }
    handles
}
