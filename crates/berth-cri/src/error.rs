//! CRI errors as gRPC statuses: the engine's errors keep their meaning (no such thing is
//! NotFound, a bad request InvalidArgument), and each says what went wrong.

use berth_daemon::DaemonError;
use thiserror::Error;
use tonic::Status;

#[derive(Debug, Error)]
pub enum CriError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unimplemented(String),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    DeadlineExceeded(String),
    #[error(transparent)]
    Engine(#[from] DaemonError),
    #[error(transparent)]
    Net(#[from] berth_net::error::NetError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = CriError> = std::result::Result<T, E>;

impl CriError {
    pub fn io(context: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Self::Io {
            context: context.into(),
            source: source.into(),
        }
    }

    /// A field of a request berth does not honour: refused by name, never ignored.
    pub fn unsupported(field: &str, why: &str) -> Self {
        Self::InvalidArgument(format!("{field} is not supported by berth: {why}"))
    }
}

impl From<CriError> for Status {
    fn from(e: CriError) -> Self {
        let msg = e.to_string();
        match e {
            CriError::NotFound(_) => Status::not_found(msg),
            CriError::InvalidArgument(_) => Status::invalid_argument(msg),
            CriError::FailedPrecondition(_) => Status::failed_precondition(msg),
            CriError::Unimplemented(_) => Status::unimplemented(msg),
            CriError::Internal(_) | CriError::Io { .. } => Status::internal(msg),
            CriError::DeadlineExceeded(_) => Status::deadline_exceeded(msg),
            CriError::Net(_) => Status::internal(msg),
            CriError::Engine(d) => match d {
                DaemonError::NotFound(_) => Status::not_found(msg),
                DaemonError::InvalidParameter(_) => Status::invalid_argument(msg),
                DaemonError::Conflict(_) | DaemonError::Forbidden(_) => {
                    Status::failed_precondition(msg)
                }
                DaemonError::Unauthorized(_) => Status::unauthenticated(msg),
                DaemonError::NotImplemented(_) => Status::unimplemented(msg),
                DaemonError::Unavailable(_) => Status::unavailable(msg),
                _ => Status::internal(msg),
            },
        }
    }
}
