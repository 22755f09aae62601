//! The shim's socket protocol, private to this crate: a client sends one JSON request
//! line and gets one JSON reply line. `attach` and `exec` then carry frames (see
//! `frames`) from the shim and raw stdin bytes from the client.

pub(crate) use crate::task::ExitStatus;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Request {
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
        process: Box<oci_spec::runtime::Process>,
        stdin: bool,
    },
    Pause,
    Resume,
    /// Host pids of every process in the container.
    Pids,
    /// The container's resource use.
    Stats,
    /// Open the log file again at its path (CRI log rotation).
    ReopenLog,
}

/// What the shim says its container is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ShimStatus {
    Created,
    Running,
    Exited,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Reply {
    pub ok: bool,
    /// A warm shim's first line: started, waiting for its job.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warm: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Docker's exit code for a failed start (125, 126, 127).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ShimStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Vec<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<crate::cgroups::stats::Stats>,
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
    /// A failure with Docker's exit code for it.
    pub fn failed(e: &crate::RuntimeError) -> Self {
        Self {
            exit_code: Some(e.exit_code()),
            ..Self::err(e)
        }
    }
}

pub(crate) const EXIT_FILE: &str = "exit.json";
pub(crate) const PID_FILE: &str = "init.pid";
