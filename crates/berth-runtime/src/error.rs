use thiserror::Error;

/// Everything that can go wrong creating or running a container.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// The bundle's config.json is missing or invalid.
    #[error("invalid bundle: {0}")]
    InvalidSpec(String),
    /// The command cannot be found: Docker's exit code 127.
    #[error("exec: {0}")]
    NotFound(String),
    /// The command cannot be executed: Docker's exit code 126.
    #[error("exec: {0}")]
    PermissionDenied(String),
    /// A cgroup could not be created or written.
    #[error("cgroup {path}: {source}")]
    Cgroup {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A system call failed while setting up the container.
    #[error("{context}: {source}")]
    Sys {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The container's init (or an exec helper) reported this before the program ran.
    #[error("{0}")]
    Init(String),
    /// The shim protocol was violated or the shim is gone.
    #[error("shim: {0}")]
    Shim(String),
}

impl RuntimeError {
    pub fn sys(context: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Self::Sys {
            context: context.into(),
            source: source.into(),
        }
    }

    /// An error a shim reported with Docker's exit code for it (125, 126, 127).
    pub fn reported(exit_code: i32, message: &str) -> Self {
        let text = message
            .strip_prefix("exec: ")
            .unwrap_or(message)
            .to_string();
        match exit_code {
            127 => Self::NotFound(text),
            126 => Self::PermissionDenied(text),
            _ => Self::Init(message.to_string()),
        }
    }

    /// The exit code Docker gives a container that failed this way.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::NotFound(_) => 127,
            Self::PermissionDenied(_) => 126,
            _ => 125,
        }
    }
}

impl From<nix::Error> for RuntimeError {
    fn from(e: nix::Error) -> Self {
        Self::sys("system call", std::io::Error::from(e))
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
