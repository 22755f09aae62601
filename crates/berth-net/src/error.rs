use thiserror::Error;

#[derive(Debug, Error)]
pub enum NetError {
    /// A subnet, address or range that is malformed or does not fit.
    #[error("{0}")]
    Invalid(String),
    /// Every address of the pool is in use.
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    Exhausted(String),
    /// The address asked for is taken.
    #[error("Address already in use")]
    InUse,
    /// A netlink request failed.
    #[error("{context}: {message}")]
    Netlink { context: String, message: String },
    #[error("{context}: {source}")]
    Sys {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl NetError {
    pub fn netlink(context: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Self::Netlink {
            context: context.into(),
            message: e.to_string(),
        }
    }

    pub fn sys(context: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Self::Sys {
            context: context.into(),
            source: source.into(),
        }
    }
}

pub type Result<T, E = NetError> = std::result::Result<T, E>;
