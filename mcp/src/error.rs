//! The errors of serving MCP.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The token file could not be read, or holds no token.
    #[error("reading the token file {}: {reason}", path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An address other than loopback without a token: anyone who reaches
    /// it could run the plugins' tools.
    #[error("{addr} is not a loopback address: serving it needs a token (--token-file)")]
    NoToken {
        /// The address.
        addr: SocketAddr,
    },
    /// The session with the client failed.
    #[error("the MCP session failed: {0}")]
    Session(String),
    /// Serving HTTP failed.
    #[error("serving HTTP: {0}")]
    Http(std::io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
