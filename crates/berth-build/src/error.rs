#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// A Dockerfile that cannot be read, with the line it is on (1-based).
    #[error("Dockerfile parse error line {line}: {message}")]
    Parse { line: usize, message: String },
    /// A word whose variables cannot be expanded.
    #[error("failed to process {word:?}: {message}")]
    Expand { word: String, message: String },
}

impl BuildError {
    pub fn parse(line: usize, message: impl Into<String>) -> Self {
        Self::Parse {
            line,
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, BuildError>;
