//! The task API: the daemon's side of a container's shim, modelled on containerd's
//! runtime v2. A [`Runtime`] creates tasks from a bundle (launching a shim, or handing
//! the job to one started ahead of time); a [`Task`] is a handle on the shim that serves
//! one container: start, kill, wait, pause and resume, exec, attach, resize, stats — also
//! for a task that outlived a daemon restart. How the shim is configured, its socket protocol
//! and its frames are private to this crate.

mod client;
mod launch;

pub use crate::cgroups::stats::Stats;
pub use launch::{Runtime, RuntimeOptions};

use crate::error::{Result, RuntimeError};
use crate::shim::protocol::{Reply, Request, ShimStatus};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a shim needs to run one container (besides the bundle's config.json).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskConfig {
    pub id: String,
    pub bundle: PathBuf,
    /// Runtime state: pid file, exit status, exec specs. Made afresh by `create`.
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    /// The json-file log.
    pub log_path: PathBuf,
    pub open_stdin: bool,
    pub stdin_once: bool,
    /// (height, width) of the terminal, if the process has one.
    pub console_size: Option<(u16, u16)>,
    /// How the json-file log is rotated.
    #[serde(default)]
    pub log_rotation: crate::json_log::Rotation,
    /// Docker's json-file lines, or the CRI format at the path the kubelet gave.
    #[serde(default)]
    pub log_format: crate::json_log::LogFormat,
    /// An external OCI runtime to run the bundle with; the built-in one when unset.
    #[serde(default)]
    pub runtime: Option<ExternalRuntime>,
}

/// An OCI runtime with runc's command line (runc, crun, youki): `path [args] --root R
/// create|start|delete ...`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExternalRuntime {
    /// The name users choose it by (`--runtime crun`).
    pub name: String,
    pub path: PathBuf,
    /// Global arguments before the command (daemon.json `runtimeArgs`).
    #[serde(default)]
    pub args: Vec<String>,
}

/// How a task ended; the shim writes it atomically to its state dir, so it survives the
/// shim.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExitStatus {
    pub exit_code: i32,
    pub oom_killed: bool,
    pub finished_at: String,
}

/// What a task's shim says it is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskState {
    /// The init is held before the user's program: `start` lets it run.
    Created {
        pid: i32,
    },
    Running {
        pid: i32,
    },
    Exited(ExitStatus),
}

/// Which of the container's streams an attach receives and feeds.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachStreams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// One event on an attach or exec stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// Why an exec failed to start (Docker's wording), before its `Exit`.
    Error(String),
    /// The last event: the process's exit code.
    Exit(i32),
}

/// An attach or exec in progress: output events out, stdin bytes in.
pub struct TaskIo {
    /// The exec helper's pid (exec only).
    pub pid: Option<i32>,
    pub output: client::OutputStream,
    /// The process's stdin; shut it down for EOF.
    pub input: tokio::net::unix::OwnedWriteHalf,
}

pub use client::OutputStream;

/// A handle on the shim serving one container. Cheap to make: it holds paths only.
#[derive(Debug, Clone)]
pub struct Task {
    socket: PathBuf,
    state_dir: PathBuf,
}

impl Task {
    /// The task a shim serves at `socket`, with its state in `state_dir` (as given to
    /// `Runtime::create`): how a restarted daemon finds its live containers again.
    pub fn open(socket: &Path, state_dir: &Path) -> Self {
        Self {
            socket: socket.to_path_buf(),
            state_dir: state_dir.to_path_buf(),
        }
    }

    pub async fn state(&self) -> Result<TaskState> {
        let r = client::call(&self.socket, &Request::State).await?;
        let pid = r.pid.unwrap_or(0);
        Ok(match (r.status, r.exit) {
            (_, Some(exit)) => TaskState::Exited(exit),
            (Some(ShimStatus::Created), None) => TaskState::Created { pid },
            (Some(ShimStatus::Running), None) => TaskState::Running { pid },
            _ => return Err(RuntimeError::Shim("the shim reported no state".into())),
        })
    }

    /// Lets the created container run its program. A program that cannot be started is
    /// `NotFound` (127), `PermissionDenied` (126) or `Init` (125).
    pub async fn start(&self) -> Result<()> {
        let r = client::request(&self.socket, &Request::Start).await?;
        client::into_result(r).map(|_| ())
    }

    /// Sends `signal` to the container's init, or with `all` to every process in it.
    pub async fn kill(&self, signal: i32, all: bool) -> Result<()> {
        client::call(&self.socket, &Request::Kill { signal, all })
            .await
            .map(|_| ())
    }

    pub async fn pause(&self) -> Result<()> {
        client::call(&self.socket, &Request::Pause)
            .await
            .map(|_| ())
    }

    pub async fn resume(&self) -> Result<()> {
        client::call(&self.socket, &Request::Resume)
            .await
            .map(|_| ())
    }

    /// Host pids of every process in the container.
    pub async fn pids(&self) -> Result<Vec<i32>> {
        Ok(client::call(&self.socket, &Request::Pids)
            .await?
            .pids
            .unwrap_or_default())
    }

    /// Opens the container's log file again at its path (after the kubelet renamed it).
    pub async fn reopen_log(&self) -> Result<()> {
        client::call(&self.socket, &Request::ReopenLog).await?;
        Ok(())
    }

    /// The container's resource use now (CPU time, memory, processes).
    pub async fn stats(&self) -> Result<Stats> {
        client::call(&self.socket, &Request::Stats)
            .await?
            .stats
            .ok_or_else(|| RuntimeError::Shim("the shim sent no stats".into()))
    }

    /// Resizes the container's terminal, or an exec's with `exec`.
    pub async fn resize(&self, height: u16, width: u16, exec: Option<&str>) -> Result<()> {
        let req = Request::Resize {
            height,
            width,
            exec: exec.map(str::to_string),
        };
        client::call(&self.socket, &req).await.map(|_| ())
    }

    /// The container's output from now on, and its stdin. Ends with `Output::Exit`.
    pub async fn attach(&self, streams: AttachStreams) -> Result<TaskIo> {
        let req = Request::Attach {
            stdin: streams.stdin,
            stdout: streams.stdout,
            stderr: streams.stderr,
        };
        client::open(&self.socket, &req).await
    }

    /// Runs `process` in the running container; the stream ends with its exit code.
    pub async fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        stdin: bool,
    ) -> Result<TaskIo> {
        let req = Request::Exec {
            id: id.to_string(),
            process: Box::new(process.clone()),
            stdin,
        };
        client::open(&self.socket, &req).await
    }

    /// Resolves when the task has exited. If the shim is gone, the status it recorded;
    /// 255 if it died without recording one.
    pub async fn wait(&self) -> ExitStatus {
        if let Ok(Reply {
            exit: Some(exit), ..
        }) = client::request(&self.socket, &Request::Wait).await
        {
            return exit;
        }
        // The shim writes the status before it closes its socket; give a dying shim a
        // moment to finish writing.
        for _ in 0..50 {
            if let Some(e) = read_exit_status(&self.state_dir) {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ExitStatus {
            exit_code: 255,
            oom_killed: false,
            finished_at: crate::json_log::now_rfc3339(),
        }
    }
}

/// The exit status recorded in a task's state dir, if it has exited.
pub fn read_exit_status(state_dir: &Path) -> Option<ExitStatus> {
    let data = std::fs::read(state_dir.join(crate::shim::protocol::EXIT_FILE)).ok()?;
    serde_json::from_slice(&data).ok()
}

/// The init pid a task's shim recorded, for cleaning up after a shim that is gone.
pub fn recorded_pid(state_dir: &Path) -> Option<i32> {
    std::fs::read_to_string(state_dir.join(crate::shim::protocol::PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}
