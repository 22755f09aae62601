use thiserror::Error;

/// Everything that can go wrong in the image store.
#[derive(Debug, Error)]
pub enum ImageError {
    /// An image name, tag or digest the user gave cannot be parsed.
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    /// A digest string is not `sha256:<64 hex>`.
    #[error("invalid digest: {0}")]
    InvalidDigest(String),
    /// No image matches the name.
    #[error("No such image: {0}")]
    NotFound(String),
    /// A short ID matches more than one image.
    #[error("ambiguous image ID {0}: it matches more than one image")]
    Ambiguous(String),
    /// Content did not hash to what it claimed.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    /// A tarball, manifest or config is malformed.
    #[error("{0}")]
    InvalidArchive(String),
    /// The image is still referenced and cannot go.
    #[error("{0}")]
    Conflict(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid JSON in {context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ImageError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
    pub fn json(context: impl Into<String>, source: serde_json::Error) -> Self {
        Self::Json {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
