//! Conveniences on the WIT `error` type that plugins return, and `?` on
//! any other error through [`ResultExt`].

use std::fmt::Display;

use crate::Error;

/// A result whose error is the WIT [`Error`] a plugin returns to the host.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns any error into the WIT [`Error`], so `?` works on it:
///
/// ```
/// use witplug_sdk::{Result, ResultExt};
///
/// fn parse(input: &str) -> Result<u64> {
///     input.trim().parse().invalid_input()
/// }
///
/// fn start(text: &str) -> Result<u64> {
///     text.parse().invalid_input_with(|_| format!("config `start` is not a number: {text}"))
/// }
///
/// assert_eq!(parse(" 42 ").unwrap(), 42);
/// assert!(matches!(parse("x"), Err(witplug_sdk::Error::InvalidInput(_))));
/// assert_eq!(start("x").unwrap_err().message(), "config `start` is not a number: x");
/// ```
pub trait ResultExt<T, E> {
    /// An error becomes [`Error::Failed`] with the error's message.
    ///
    /// # Errors
    ///
    /// When `self` is an error.
    fn failed(self) -> Result<T>;

    /// An error becomes [`Error::InvalidInput`] with the error's message.
    ///
    /// # Errors
    ///
    /// When `self` is an error.
    fn invalid_input(self) -> Result<T>;

    /// An error becomes [`Error::Failed`] with the message `message` makes
    /// of it.
    ///
    /// # Errors
    ///
    /// When `self` is an error.
    fn failed_with<M: Into<String>>(self, message: impl FnOnce(E) -> M) -> Result<T>;

    /// An error becomes [`Error::InvalidInput`] with the message `message`
    /// makes of it.
    ///
    /// # Errors
    ///
    /// When `self` is an error.
    fn invalid_input_with<M: Into<String>>(self, message: impl FnOnce(E) -> M) -> Result<T>;
}

impl<T, E: Display> ResultExt<T, E> for std::result::Result<T, E> {
    fn failed(self) -> Result<T> {
        self.map_err(|err| Error::Failed(err.to_string()))
    }

    fn invalid_input(self) -> Result<T> {
        self.map_err(|err| Error::InvalidInput(err.to_string()))
    }

    fn failed_with<M: Into<String>>(self, message: impl FnOnce(E) -> M) -> Result<T> {
        self.map_err(|err| Error::Failed(message(err).into()))
    }

    fn invalid_input_with<M: Into<String>>(self, message: impl FnOnce(E) -> M) -> Result<T> {
        self.map_err(|err| Error::InvalidInput(message(err).into()))
    }
}

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
