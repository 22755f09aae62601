//! The shim's socket protocol. A client sends one JSON request line and gets one JSON
//! reply line. `attach` and `exec` then carry Docker-style frames from the shim
//! (stdout, stderr, and berth's exit/error frames) and raw stdin bytes from the client.

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The container's pid and status.
    State,
    /// Let the created container exec its program.
    Start,
    /// Reply once the container has exited.
    Wait,
    Kill {
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    Resize {
        height: u16,
        width: u16,
        #[serde(default)]
        exec: Option<String>,
    },
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Exec {
        id: String,
        /// An OCI `process` object.
        process: serde_json::Value,
        stdin: bool,
    },
    Pause,
    Resume,
    /// Host pids of every process in the container.
    Pids,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Docker's exit code for a failed start (125, 126, 127).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Vec<i32>>,
}

impl Reply {
    pub fn ok() -> Self {
        Self {
            ok: true,
            ..Default::default()
        }
    }
    pub fn err(e: impl ToString) -> Self {
        Self {
            ok: false,
            error: Some(e.to_string()),
            ..Default::default()
        }
    }
}

/// How the container ended; written atomically to `exit.json` in the state dir.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExitStatus {
    pub exit_code: i32,
    pub oom_killed: bool,
    pub finished_at: String,
}

pub const EXIT_FILE: &str = "exit.json";
pub const PID_FILE: &str = "init.pid";

pub fn read_exit_status(state_dir: &Path) -> Option<ExitStatus> {
    let data = std::fs::read(state_dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&data).ok()
}
