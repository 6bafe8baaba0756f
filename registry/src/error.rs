//! The one error type of registry work: every message is one line naming
//! the reference, file or key and the reason, and [`Error::kind`] sorts it
//! as the host sorts its own, so the CLI's exit codes read the same.

use witplug_host::ErrorKind;

/// What can go wrong publishing, fetching, pinning or verifying a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A reference that is not one.
    #[error("`{reference}`: {reason}")]
    Reference {
        /// The reference as written, made safe.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The registry could not be reached, or broke off.
    #[error("{reference}: {reason}")]
    Network {
        /// The reference being fetched or pushed.
        reference: String,
        /// Why, as one line.
        reason: String,
    },
    /// The registry answered, but not with what was asked for: a status,
    /// a media type, a size or a digest that is not the artifact's.
    #[error("{reference}: {reason}")]
    Refused {
        /// The reference.
        reference: String,
        /// What the registry did.
        reason: String,
    },
    /// Nothing of that name or digest in the registry, the lock or the
    /// content store.
    #[error("{reference}: {reason}")]
    NotFound {
        /// The reference or name.
        reference: String,
        /// Where it was looked for.
        reason: String,
    },
    /// A signature is missing, does not verify, or is by a key the trust
    /// policy does not name.
    #[error("{reference}: {reason}")]
    Untrusted {
        /// The reference.
        reference: String,
        /// Why it is not trusted.
        reason: String,
    },
    /// A plugin asks for more than the operator approved.
    #[error("{plugin}: {reason}")]
    Widened {
        /// The plugin.
        plugin: String,
        /// Every widening, one after the other.
        reason: String,
    },
    /// A file (the lock, a key, a plugin, the content store) could not be
    /// read or written, or is malformed.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The host refused the plugin.
    #[error(transparent)]
    Host(#[from] witplug_host::Error),
}

impl Error {
    /// The kind of failure, as the host sorts its own: usage for a bad
    /// reference, not found, denied for what trust or approval refuses,
    /// host failure for the rest.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Reference { .. } => ErrorKind::Usage,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Untrusted { .. } | Self::Widened { .. } => ErrorKind::Denied,
            Self::Network { .. } | Self::Refused { .. } | Self::File { .. } => ErrorKind::Host,
            Self::Host(err) => err.kind(),
        }
    }

    pub(crate) fn file(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        Self::File { path: path.to_owned(), reason: one_line(&reason.to_string()) }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Text from a registry or a file, made one bounded, safe line.
pub(crate) fn one_line(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    witplug_host::text::sanitize(&collapsed, 1024)
}
