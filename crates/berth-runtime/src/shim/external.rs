//! A container run by an external OCI runtime (runc, crun, youki) instead of the
//! built-in one: the shim drives the runtime's command line (`create`, `start`,
//! `delete`) on berth's bundle, and serves the container as it serves its own, so the
//! daemon sees the same task either way.
//!
//! The runtime's state lives under the container's state dir (`--root`), so two daemons
//! never share it. The shim is the child subreaper: the container's init, orphaned when
//! `<runtime> create` exits, becomes its child, and is reaped as the built-in's is.

use crate::error::{Result, RuntimeError};
use crate::task::ExternalRuntime;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the shim keeps to start and remove the container.
#[derive(Debug, Clone)]
pub(crate) struct Driver {
    runtime: ExternalRuntime,
    id: String,
    root: PathBuf,
    log: PathBuf,
    shim_socket: PathBuf,
}

impl Driver {
    pub fn new(
        runtime: ExternalRuntime,
        id: &str,
        state_dir: &Path,
        shim_socket: &Path,
    ) -> Result<Self> {
        let root = state_dir.join("runtime");
        crate::shim::make_private_dir(&root)?;
        // Orphans (the container's init, once `create` has exited) come to the shim.
        // SAFETY: prctl with integer arguments changes only this process's attributes.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        Ok(Driver {
            runtime,
            id: id.to_string(),
            log: state_dir.join("runtime.log"),
            root,
            shim_socket: shim_socket.to_path_buf(),
        })
    }

    /// Where the runtime sends a terminal's pty master: beside the shim's own socket,
    /// whose short path fits a unix socket address.
    fn console_socket(&self) -> PathBuf {
        let mut p = self.shim_socket.clone().into_os_string();
        p.push(".console");
        PathBuf::from(p)
    }

    fn command(&self, verb: &str) -> Command {
        let mut cmd = Command::new(&self.runtime.path);
        cmd.args(&self.runtime.args)
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg(verb);
        cmd
    }

    /// What the runtime said when a command failed: its log's last lines (runc and crun
    /// log JSON objects with `msg`), else its stderr.
    pub fn failure(&self, verb: &str, status: &str, stderr: &[u8]) -> RuntimeError {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let msgs: Vec<String> = log
            .lines()
            .filter_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["level"] == "error").then(|| v["msg"].as_str().unwrap_or(l).to_string())
            })
            .collect();
        let said = if let Some(last) = msgs.last() {
            last.clone()
        } else if !stderr.is_empty() {
            String::from_utf8_lossy(stderr).trim().to_string()
        } else {
            log.lines().last().unwrap_or("").to_string()
        };
        RuntimeError::Shim(format!(
            "{} {verb} failed ({status}): {said}",
            self.runtime.name
        ))
    }

    /// `<runtime> create`: the container's init made and held before the user's
    /// program, its stdio the shim's pipes (or, with a terminal, a pty whose master the
    /// runtime sends to `console`). Returns the init's pid and, with a terminal, the
    /// pty master.
    pub fn create(
        &self,
        bundle: &Path,
        stdio: (RawFd, RawFd, RawFd),
        tty: bool,
    ) -> Result<(i32, Option<OwnedFd>)> {
        let pid_file = self.root.join("init.pid");
        let mut cmd = self.command("create");
        cmd.arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        let console = if tty {
            let path = self.console_socket();
            let listener = crate::shim::bind(&path)?;
            cmd.arg("--console-socket").arg(&path);
            cmd.stdin(Stdio::null()).stdout(Stdio::null());
            Some(std::thread::spawn(move || -> Result<Option<OwnedFd>> {
                let (conn, _) = listener
                    .accept()
                    .map_err(|e| RuntimeError::sys("accepting the console", e))?;
                crate::console::recv_fd(conn.as_raw_fd())
            }))
        } else {
            // The runtime hands its stdio to the container's process: give it the
            // container's ends of the shim's pipes (dup'd, since Stdio owns what it gets).
            let dup = |fd: RawFd| -> Result<Stdio> {
                let new = nix::unistd::dup(fd).map_err(|e| RuntimeError::sys("dup", e))?;
                // SAFETY: `dup` returned a new descriptor that nothing else owns.
                Ok(Stdio::from(unsafe { OwnedFd::from_raw_fd(new) }))
            };
            cmd.stdin(dup(stdio.0)?)
                .stdout(dup(stdio.1)?)
                .stderr(dup(stdio.2)?);
            None
        };
        if tty {
            cmd.stderr(Stdio::piped());
        }
        cmd.arg(&self.id);
        // Nothing else reaps yet: the shim's reaper starts once the container exists.
        let out = cmd.output().map_err(|e| {
            RuntimeError::Shim(format!(
                "running {} ({}): {e}",
                self.runtime.name,
                self.runtime.path.display()
            ))
        })?;
        if !out.status.success() {
            if let Some(path) = console.is_some().then(|| self.console_socket()) {
                // Wake the accept so its thread ends.
                let _ = std::os::unix::net::UnixStream::connect(path);
            }
            return Err(self.failure("create", &out.status.to_string(), &out.stderr));
        }
        let master = match console {
            Some(t) => {
                let m = t
                    .join()
                    .map_err(|_| RuntimeError::Shim("console thread panicked".into()));
                let _ = std::fs::remove_file(self.console_socket());
                m??
            }
            None => None,
        };
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .ok_or_else(|| {
                RuntimeError::Shim(format!("{} create wrote no pid", self.runtime.name))
            })?;
        Ok((pid, master))
    }

    /// Starts `<runtime> start` (the user's program runs): its pid, for the shim's
    /// reaper to report on, since by then it reaps every child.
    pub fn spawn_start(&self) -> Result<i32> {
        let child = self
            .command("start")
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| RuntimeError::Shim(format!("running {}: {e}", self.runtime.name)))?;
        Ok(child.id() as i32)
    }

    /// `<runtime> delete --force`: the runtime's state (and cgroup) go once the init has
    /// exited (when the shim's reaper has stopped, so this command's exit is its own).
    pub fn delete(&self) {
        let _ = self
            .command("delete")
            .arg("--force")
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
