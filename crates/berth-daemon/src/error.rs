use berth_image::ImageError;
use berth_runtime::RuntimeError;
use thiserror::Error;

/// Engine errors, each mapped to the HTTP status Docker uses for it.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// 403: an operation on something that may not be changed (a predefined network).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such container, image or exec.
    #[error("{0}")]
    NotFound(String),
    /// 409: a name in use, a running container that must be stopped first.
    #[error("{0}")]
    Conflict(String),
    /// 400: the request itself is wrong.
    #[error("{0}")]
    InvalidParameter(String),
    /// 304: nothing to do (start of a running container, stop of a stopped one).
    #[error("{0}")]
    NotModified(String),
    /// 401: a registry refused the credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 501: an endpoint berth does not serve yet.
    #[error("{0}")]
    NotImplemented(String),
    /// 500: the daemon failed.
    #[error("{0}")]
    System(String),
    /// 503: a service berth is not part of (swarm).
    #[error("{0}")]
    Unavailable(String),
    /// A build step's command failed with this exit code.
    #[error("{message}")]
    BuildFailed { message: String, code: i64 },
}

impl DaemonError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::InvalidParameter(_) => 400,
            Self::NotModified(_) => 304,
            Self::Unauthorized(_) => 401,
            Self::NotImplemented(_) => 501,
            Self::System(_) => 500,
            Self::Unavailable(_) => 503,
            Self::BuildFailed { .. } => 500,
        }
    }

    pub fn system(e: impl std::fmt::Display) -> Self {
        Self::System(e.to_string())
    }
}

impl From<ImageError> for DaemonError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::NotFound(_) => Self::NotFound(e.to_string()),
            ImageError::InvalidReference(_)
            | ImageError::InvalidDigest(_)
            | ImageError::InvalidArchive(_)
            | ImageError::DigestMismatch { .. }
            | ImageError::Ambiguous(_) => Self::InvalidParameter(e.to_string()),
            ImageError::Conflict(_) => Self::Conflict(e.to_string()),
            ImageError::Io { .. } | ImageError::Json { .. } => Self::System(e.to_string()),
        }
    }
}

impl From<RuntimeError> for DaemonError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::InvalidSpec(_)
            | RuntimeError::NotFound(_)
            | RuntimeError::PermissionDenied(_) => Self::InvalidParameter(e.to_string()),
            _ => Self::System(e.to_string()),
        }
    }
}

impl From<berth_registry::RegistryError> for DaemonError {
    fn from(e: berth_registry::RegistryError) -> Self {
        use berth_registry::RegistryError as R;
        match e {
            R::ManifestUnknown(_) | R::Unauthorized(_) | R::NoPlatform(_) => {
                Self::NotFound(e.to_string())
            }
            R::InvalidManifest(_) => Self::InvalidParameter(e.to_string()),
            R::LoginFailed(_) => Self::Unauthorized(e.to_string()),
            R::Image(i) => i.into(),
            R::Protocol { .. }
            | R::Connect(_)
            | R::DownloadInterrupted(_)
            | R::ResumeFailed(_)
            | R::Task(_) => Self::System(e.to_string()),
        }
    }
}

impl From<std::io::Error> for DaemonError {
    fn from(e: std::io::Error) -> Self {
        Self::System(e.to_string())
    }
}

pub type Result<T, E = DaemonError> = std::result::Result<T, E>;
