//! References to artifacts in a registry, as people write them:
//! `registry.example/team/plugin:1.2.0`, `127.0.0.1:5000/counter@sha256:…`,
//! or both a tag and a digest. The registry is always written out: there
//! is no default registry a short name could silently resolve against.

use std::fmt;

use crate::{Error, Result};

/// The longest reference taken, in bytes (the distribution spec allows
/// 255 for a repository name, 128 for a tag, 71 for a digest).
const MAX: usize = 512;

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`, as written.
    pub registry: String,
    /// The repository's path, e.g. `team/counter`.
    pub repository: String,
    /// The tag, when one was written.
    pub tag: Option<String>,
    /// The manifest's digest (`sha256:<hex>`), when one was written.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `text`: `REGISTRY/REPOSITORY[:TAG][@sha256:HEX]`.
    ///
    /// # Errors
    ///
    /// [`Error::Reference`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::Reference {
            reference: witplug_host::text::sanitize(text, MAX),
            reason: reason.to_owned(),
        };
        if text.len() > MAX {
            return Err(bad("it is over 512 bytes"));
        }
        let text = text.strip_prefix("oci://").unwrap_or(text);
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if !is_digest(digest) {
                    return Err(bad("its digest is not sha256: and 64 lowercase hex digits"));
                }
                (rest, Some(digest.to_owned()))
            }
            None => (text, None),
        };
        let Some((registry, path)) = rest.split_once('/') else {
            return Err(bad("it names no registry: write it as REGISTRY/REPOSITORY:TAG"));
        };
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            return Err(bad(
                "its first part is not a registry (a host with a dot or a port, or localhost)",
            ));
        }
        if !registry.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')) {
            return Err(bad("its registry is not a host name with an optional port"));
        }
        // A tag follows the last `:` after the last `/`.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
            _ => (path, None),
        };
        if !is_repository(repository) {
            return Err(bad(
                "its repository is not lowercase path parts of a-z 0-9 joined by . _ - or /",
            ));
        }
        if let Some(tag) = tag
            && !is_tag(tag)
        {
            return Err(bad("its tag is not 1 to 128 of A-Z a-z 0-9 _ . - (not starting . or -)"));
        }
        if tag.is_none() && digest.is_none() {
            return Err(bad("it names no tag and no digest"));
        }
        Ok(Self {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The repository's last path part: the plugin's name unless told
    /// otherwise.
    pub fn name(&self) -> &str {
        self.repository.rsplit('/').next().unwrap_or(&self.repository)
    }

    /// `registry/repository`, with neither tag nor digest: where the
    /// artifact lives, as a trust policy and a signature name it.
    pub fn repository_path(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository at `digest`.
    pub fn at(&self, digest: &str) -> Self {
        Self { digest: Some(digest.to_owned()), ..self.clone() }
    }

    /// What to ask the registry for: the digest when there is one, else
    /// the tag.
    pub fn target(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// Whether the reference names a moving target: no digest pin, or
    /// the `latest` tag alone.
    pub fn is_floating(&self) -> bool {
        self.digest.is_none()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn is_repository(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && text.split('/').all(|part| {
            !part.is_empty()
                && part.split(['.', '_', '-']).all(|piece| {
                    !piece.is_empty()
                        && piece.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                })
        })
}

fn is_tag(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && !text.starts_with(['.', '-'])
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_people_write() {
        let r = Reference::parse("127.0.0.1:5000/team/counter:1.2.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "team/counter")
        );
        assert_eq!((r.tag.as_deref(), r.name()), (Some("1.2.0"), "counter"));
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("oci://ghcr.io/x/y:1@{digest}")).unwrap();
        assert_eq!(r.target(), digest);
        assert_eq!(r.to_string(), format!("ghcr.io/x/y:1@{digest}"));
    }

    #[test]
    fn refuses_what_is_not_a_reference() {
        for bad in [
            "counter:1",
            "docker.io",
            "ghcr.io/Team/x:1",
            "ghcr.io/x",
            "ghcr.io/x:-1",
            "ghcr.io/x@sha256:abc",
            "ghcr.io/x:1\n",
            "ghcr.io/a//b:1",
        ] {
            let err = Reference::parse(bad).unwrap_err().to_string();
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
