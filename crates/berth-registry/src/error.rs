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
    /// The registry said something unexpected.
    #[error("registry {registry}: {message}")]
    Protocol { registry: String, message: String },
    /// The registry could not be reached.
    #[error("{0}")]
    Connect(String),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
}

impl RegistryError {
    /// Failures of the connection or the server that another attempt may not meet.
    /// A wrong digest or refused credentials will be the same next time.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect(_) => true,
            Self::Protocol { message, .. } => message.starts_with('5'),
            _ => false,
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
