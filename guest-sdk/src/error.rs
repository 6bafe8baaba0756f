//! Conveniences on the WIT `error` type that plugins return.

use crate::Error;

impl Error {
    /// An [`Error::Failed`] with `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// An [`Error::InvalidInput`] with `message`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// The message this error carries, whatever its kind.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidInput(m)
            | Self::Denied(m)
            | Self::NotFound(m)
            | Self::LimitExceeded(m)
            | Self::Failed(m) => m,
        }
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::Failed(message.to_owned())
    }
}
