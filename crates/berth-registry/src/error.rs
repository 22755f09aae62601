use thiserror::Error;

#[derive(Debug, Error)]
pub enum RegistryError {
    /// The registry has no such repository, tag or digest.
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    /// Credentials were refused or are missing.
    #[error("pull access denied for {0}, repository does not exist or may require 'docker login'")]
    Unauthorized(String),
    /// A login the registry refused.
    #[error("{0}")]
    LoginFailed(String),
    /// A manifest, index or token response that cannot be used.
    #[error("{0}")]
    InvalidManifest(String),
    /// Nothing in the index matches the platform.
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoPlatform(String),
    /// The registry said something unexpected; `status` is its HTTP status when it
    /// answered with one.
    #[error("registry {registry}: {message}")]
    Protocol {
        registry: String,
        message: String,
        status: Option<u16>,
    },
    /// The registry could not be reached.
    #[error("{0}")]
    Connect(String),
    /// A download that broke off (its bytes are kept for the next attempt).
    #[error("{0}")]
    DownloadInterrupted(String),
    /// Going on from bytes an earlier download left failed; they are gone, and the next
    /// attempt starts from nothing.
    #[error("{0}")]
    ResumeFailed(String),
    /// A task of the pull ended without a result (it panicked or was cancelled).
    #[error("{0}")]
    Task(String),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
}

impl RegistryError {
    /// Failures of the connection or the server that another attempt may not meet.
    /// A wrong digest or refused credentials will be the same next time.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect(_) | Self::DownloadInterrupted(_) | Self::ResumeFailed(_) => true,
            Self::Protocol { status, .. } => status.is_some_and(|s| s >= 500),
            _ => false,
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_worth_another_try() {
        let protocol = |status| RegistryError::Protocol {
            registry: "r".into(),
            message: "5 things went wrong".into(),
            status,
        };
        assert!(protocol(Some(503)).is_transient());
        assert!(!protocol(Some(404)).is_transient());
        // Not by what the message happens to start with.
        assert!(!protocol(None).is_transient());
        assert!(RegistryError::DownloadInterrupted("x".into()).is_transient());
        assert!(!RegistryError::Task("x".into()).is_transient());
        assert!(!RegistryError::InvalidManifest("x".into()).is_transient());
    }
}
