//! Signatures: witplug's own (an Ed25519 key signs a DSSE envelope whose
//! in-toto statement names the artifact's manifest digest, its contract
//! and its plugin-manifest layer), and cosign's keyed signatures (ECDSA
//! P-256 over a simple-signing payload) for plugins signed with cosign.
//!
//! A key is written `ed25519:<base64>` (public) in a trust policy, or as
//! the path of a PEM public key (cosign's `cosign.pub`). A secret key file
//! holds `witplug-ed25519-secret-key` and its seed in base64, and is
//! written `0600`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A DSSE envelope.
pub const ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// An in-toto statement, as a DSSE payload.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// What a witplug signature artifact is.
pub const SIGNATURE_ARTIFACT: &str = "application/vnd.witplug.signature.v1+json";
/// The statement's predicate type.
pub const PREDICATE: &str = "https://witplug.dev/attestation/plugin/v1";
/// The largest envelope read.
pub const MAX_ENVELOPE: u64 = 64 << 10;
/// cosign's simple-signing payload.
pub const COSIGN_PAYLOAD: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding a cosign signature.
pub const COSIGN_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

const SECRET_HEADER: &str = "witplug-ed25519-secret-key";

/// A key a trust policy names.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// witplug's: Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// cosign's: ECDSA P-256.
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Parses `ed25519:<base64>` or a PEM public key.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(b64) = text.strip_prefix("ed25519:") {
            let bytes = STANDARD.decode(b64).map_err(|_| "its key is not base64".to_owned())?;
            let bytes: [u8; 32] =
                bytes.try_into().map_err(|_| "an Ed25519 key is 32 bytes".to_owned())?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|_| "not an Ed25519 key".to_owned())?;
            return Ok(Self::Ed25519(key));
        }
        if text.starts_with("-----BEGIN PUBLIC KEY-----") {
            use p256::pkcs8::DecodePublicKey;
            let key = p256::ecdsa::VerifyingKey::from_public_key_pem(text)
                .map_err(|_| "a PEM public key that is not ECDSA P-256".to_owned())?;
            return Ok(Self::P256(key));
        }
        Err("a key is `ed25519:<base64>` or a PEM public key (ECDSA P-256)".to_owned())
    }

    /// How a lock and a message name it: `ed25519:<base64>`, or
    /// `p256:<base64 of its compressed point>`.
    pub fn id(&self) -> String {
        match self {
            Self::Ed25519(key) => format!("ed25519:{}", STANDARD.encode(key.as_bytes())),
            Self::P256(key) => {
                format!("p256:{}", STANDARD.encode(key.to_encoded_point(true).as_bytes()))
            }
        }
    }
}

/// An Ed25519 key pair.
pub struct KeyPair(ed25519_dalek::SigningKey);

impl std::fmt::Debug for KeyPair {
    /// The public half only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("KeyPair").field(&self.public().id()).finish()
    }
}

impl KeyPair {
    /// A new key pair from the system's randomness.
    pub fn generate() -> Result<Self, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|err| format!("no randomness: {err}"))?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey::Ed25519(self.0.verifying_key())
    }

    /// Writes the secret key to `path` (`0600`, never over a file) and the
    /// public one to `path` with `.pub`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = format!("{SECRET_HEADER}\n{}\n", STANDARD.encode(self.0.to_bytes()));
        let mut options = std::fs::File::options();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|err| Error::file(path, err))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .map_err(|err| Error::file(path, err))?;
        let public = path.with_extension("pub");
        std::fs::write(&public, format!("{}\n", self.public().id()))
            .map_err(|err| Error::file(&public, err))
    }

    /// The secret key in `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = witplug_host::config::read_text_file(path, 4096)
            .map_err(|err| Error::file(path, err))?
            .ok_or_else(|| Error::file(path, "no such key file"))?;
        let mut lines = text.lines();
        if lines.next() != Some(SECRET_HEADER) {
            return Err(Error::file(path, "not a witplug secret key (witplug key new makes one)"));
        }
        let seed = lines
            .next()
            .and_then(|line| STANDARD.decode(line.trim()).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| Error::file(path, "its key is not 32 bytes of base64"))?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Signs `statement` into a DSSE envelope.
    pub fn sign(&self, statement: &Statement) -> Vec<u8> {
        let payload = serde_json::to_vec(statement).expect("a statement serializes");
        let signature = self.0.sign(&pae(IN_TOTO, &payload));
        let envelope = Envelope {
            payload_type: IN_TOTO.to_owned(),
            payload: STANDARD.encode(&payload),
            signatures: vec![EnvelopeSignature {
                keyid: self.public().id(),
                sig: STANDARD.encode(signature.to_bytes()),
            }],
        };
        serde_json::to_vec(&envelope).expect("an envelope serializes")
    }
}

/// DSSE's pre-authentication encoding.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out =
        format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EnvelopeSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// An in-toto statement about one artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// `https://in-toto.io/Statement/v1`.
    #[serde(rename = "_type")]
    pub kind: String,
    /// The artifact: its repository and manifest digest.
    pub subject: Vec<Subject>,
    /// [`PREDICATE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// What is attested.
    pub predicate: Predicate,
}

/// A statement's subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// `registry/repository`.
    pub name: String,
    /// `{"sha256": "<hex>"}`.
    pub digest: std::collections::BTreeMap<String, String>,
}

/// What witplug's statement attests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Predicate {
    /// The contract version the plugin targets, when it targets one.
    #[serde(default)]
    pub contract: Option<String>,
    /// The plugin layer's digest.
    pub wasm_layer: String,
    /// The plugin-manifest layer's digest, when there is one.
    #[serde(default)]
    pub manifest_layer: Option<String>,
}

impl Statement {
    /// The statement about the artifact `manifest_digest` in `repository`.
    pub fn new(repository: &str, manifest_digest: &str, predicate: Predicate) -> Self {
        let hex = manifest_digest.trim_start_matches("sha256:").to_owned();
        Self {
            kind: "https://in-toto.io/Statement/v1".to_owned(),
            subject: vec![Subject {
                name: repository.to_owned(),
                digest: [("sha256".to_owned(), hex)].into(),
            }],
            predicate_type: PREDICATE.to_owned(),
            predicate,
        }
    }
}

/// Verifies a DSSE `envelope` against `keys`: a signature by one of them
/// over a statement about `manifest_digest` in `repository`. Returns the
/// key that signed and the statement.
pub fn verify_envelope(
    envelope: &[u8],
    keys: &[PublicKey],
    repository: &str,
    manifest_digest: &str,
) -> Result<(PublicKey, Statement), String> {
    let envelope: Envelope = serde_json::from_slice(envelope)
        .map_err(|_| "its signature is not a DSSE envelope".to_owned())?;
    if envelope.payload_type != IN_TOTO {
        return Err("its signature's payload is not an in-toto statement".to_owned());
    }
    let payload = STANDARD
        .decode(&envelope.payload)
        .map_err(|_| "its signature's payload is not base64".to_owned())?;
    let message = pae(&envelope.payload_type, &payload);
    let signer = envelope.signatures.iter().take(16).find_map(|entry| {
        let sig = STANDARD.decode(&entry.sig).ok()?;
        let sig = ed25519_dalek::Signature::from_slice(&sig).ok()?;
        keys.iter().find(|key| match key {
            PublicKey::Ed25519(key) => key.verify_strict(&message, &sig).is_ok(),
            PublicKey::P256(_) => false,
        })
    });
    let Some(signer) = signer else {
        return Err(
            "no signature on it verifies with a key the trust policy names for it".to_owned()
        );
    };
    let statement: Statement = serde_json::from_slice(&payload)
        .map_err(|_| "its signed statement is not one".to_owned())?;
    let hex = manifest_digest.trim_start_matches("sha256:");
    let about = statement.subject.iter().any(|subject| {
        subject.name == repository && subject.digest.get("sha256").is_some_and(|d| d == hex)
    });
    if !about || statement.predicate_type != PREDICATE {
        return Err(format!(
            "its signature is over another artifact, not {repository}@{manifest_digest}"
        ));
    }
    Ok((signer.clone(), statement))
}

/// Verifies a cosign keyed signature: `payload` (a simple-signing
/// document about `manifest_digest` in `repository`) and `signature`
/// (base64 of an ECDSA P-256 signature over it, DER or fixed).
pub fn verify_cosign(
    payload: &[u8],
    signature: &str,
    keys: &[PublicKey],
    repository: &str,
    manifest_digest: &str,
) -> Result<PublicKey, String> {
    use p256::ecdsa::signature::Verifier as _;
    let raw = STANDARD
        .decode(signature.trim())
        .map_err(|_| "its cosign signature is not base64".to_owned())?;
    let sig = p256::ecdsa::Signature::from_der(&raw)
        .or_else(|_| p256::ecdsa::Signature::from_slice(&raw))
        .map_err(|_| "its cosign signature is not an ECDSA signature".to_owned())?;
    let signer = keys.iter().find(|key| match key {
        PublicKey::P256(key) => key.verify(payload, &sig).is_ok(),
        PublicKey::Ed25519(_) => false,
    });
    let Some(signer) = signer else {
        return Err(
            "its cosign signature verifies with no key the trust policy names for it".to_owned()
        );
    };
    let doc: serde_json::Value =
        serde_json::from_slice(payload).map_err(|_| "its cosign payload is not JSON".to_owned())?;
    let critical = &doc["critical"];
    let digest_ok = critical["image"]["docker-manifest-digest"].as_str() == Some(manifest_digest);
    let reference = critical["identity"]["docker-reference"].as_str().unwrap_or_default();
    let name_ok = reference == repository
        || reference.split_once(['@', ':']).is_some_and(|(r, _)| r == repository)
        || reference.rsplit_once(':').is_some_and(|(r, t)| r == repository && !t.contains('/'));
    if !digest_ok
        || !name_ok
        || critical["type"].as_str() != Some("cosign container image signature")
    {
        return Err(format!(
            "its cosign signature is over another artifact, not {repository}@{manifest_digest}"
        ));
    }
    Ok(signer.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(digest: &str) -> Statement {
        Statement::new(
            "r.example/x",
            digest,
            Predicate {
                contract: Some("0.2".into()),
                wasm_layer: "w".into(),
                manifest_layer: None,
            },
        )
    }

    #[test]
    fn an_envelope_verifies_with_its_key_only_and_for_its_artifact_only() {
        let digest = format!("sha256:{}", "1".repeat(64));
        let key = KeyPair::generate().unwrap();
        let envelope = key.sign(&statement(&digest));
        let (signer, _) =
            verify_envelope(&envelope, &[key.public()], "r.example/x", &digest).unwrap();
        assert_eq!(signer.id(), key.public().id());
        let other = KeyPair::generate().unwrap();
        assert!(verify_envelope(&envelope, &[other.public()], "r.example/x", &digest).is_err());
        let elsewhere = format!("sha256:{}", "2".repeat(64));
        assert!(
            verify_envelope(&envelope, &[key.public()], "r.example/x", &elsewhere)
                .unwrap_err()
                .contains("another artifact")
        );
        assert!(verify_envelope(&envelope, &[key.public()], "r.example/y", &digest).is_err());
        let mut tampered: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
        let forged = statement(&elsewhere);
        tampered["payload"] = STANDARD.encode(serde_json::to_vec(&forged).unwrap()).into();
        assert!(
            verify_envelope(
                &serde_json::to_vec(&tampered).unwrap(),
                &[key.public()],
                "r.example/x",
                &elsewhere
            )
            .is_err()
        );
    }

    #[test]
    fn a_malformed_envelope_is_refused_with_a_reason() {
        let key = KeyPair::generate().unwrap();
        let digest = format!("sha256:{}", "1".repeat(64));
        for bad in [
            &b"not json"[..],
            br#"{"payloadType":"x","payload":"","signatures":[]}"#,
            br#"{"payloadType":"application/vnd.in-toto+json","payload":"!!","signatures":[]}"#,
        ] {
            let err = verify_envelope(bad, &[key.public()], "r.example/x", &digest).unwrap_err();
            assert!(!err.is_empty() && !err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn keys_parse_from_what_a_policy_holds() {
        let key = KeyPair::generate().unwrap();
        let id = key.public().id();
        assert_eq!(PublicKey::parse(&id).unwrap().id(), id);
        assert!(PublicKey::parse("ed25519:AAAA").is_err());
        assert!(PublicKey::parse("rsa:xyz").is_err());
    }
}
