//! Publishing and fetching plugins: [`Registry`] pushes a plugin file in
//! the CNCF Wasm layout, fetches an artifact into the content store
//! (checking every digest, and its signature when a trust policy asks),
//! signs an artifact, verifies a locked plugin offline, and writes a
//! fetched plugin into a plugins folder.

use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::client::{Client, sha256_digest, write_aside};
use crate::layout::{self, Descriptor, ImageIndex, ImageManifest, WasmConfig};
use crate::lock::Locked;
use crate::reference::Reference;
use crate::sign::{self, KeyPair, Predicate, PublicKey, Statement};
use crate::store::ContentStore;
use crate::trust::Policy;
use crate::{Error, Result};

/// The most signatures of one artifact looked at.
const MAX_SIGNATURES: usize = 8;

/// The longest a whole fetch or signing may take, every request in it
/// together.
const OPERATION: std::time::Duration = std::time::Duration::from_secs(600);

/// The empty config of an artifact that needs none.
const EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// A registry client with its content store and trust policy.
#[derive(Debug)]
pub struct Registry {
    /// Blobs this registry fetched and checked, which need no second
    /// hashing on their way out of the store.
    fetched: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The HTTP client.
    pub client: Client,
    /// Where fetched blobs are kept.
    pub store: ContentStore,
    /// Which keys are trusted for which repositories.
    pub policy: Policy,
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signature's digest in the content store.
    pub digest: String,
    /// The key that made it.
    pub signer: String,
}

/// An artifact fetched into the content store.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// Its reference, with its digest.
    pub reference: Reference,
    /// The plugin layer.
    pub wasm: Descriptor,
    /// The plugin manifest's bytes and digest, when it carries one.
    pub plugin_manifest: Option<(String, Vec<u8>)>,
    /// Its verified signature, when the policy asked for one.
    pub signature: Option<Verified>,
    /// Whether it is a component (`wasip2`) rather than a core module.
    pub component: bool,
}

impl Pulled {
    /// What its manifest asks for, as a manifest (empty when it has none).
    pub fn asked(&self) -> Result<witplug_host::Manifest> {
        let text = self.manifest_text();
        witplug_host::Manifest::parse(&text).map_err(|reason| Error::Refused {
            reference: self.reference.to_string(),
            reason: format!(
                "its plugin manifest does not parse: {}",
                crate::error::one_line(&reason)
            ),
        })
    }

    /// Its plugin manifest as text (empty when it has none).
    pub fn manifest_text(&self) -> String {
        self.plugin_manifest
            .as_ref()
            .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default()
    }

    /// The lock entry for it under `name`, approving `approved`.
    pub fn locked(&self, name: &str, approved: String) -> Locked {
        Locked {
            name: name.to_owned(),
            source: self.reference.repository_path(),
            tag: self.reference.tag.clone(),
            digest: self.reference.digest.clone().expect("a pulled reference has its digest"),
            wasm: self.wasm.digest.clone(),
            manifest: self.plugin_manifest.as_ref().map(|(digest, _)| digest.clone()),
            signature: self.signature.as_ref().map(|s| s.digest.clone()),
            signed_by: self.signature.as_ref().map(|s| s.signer.clone()),
            approved,
        }
    }
}

impl Registry {
    /// A registry client with its content store and trust policy.
    pub fn new(client: Client, store: ContentStore, policy: Policy) -> Self {
        Self { client, store, policy, fetched: Default::default() }
    }

    /// Pushes the plugin at `file` (a component, a core module, or WAT)
    /// with its manifest `manifest` (when given) to `reference`; returns
    /// the artifact's manifest digest.
    pub async fn push(
        &self,
        file: &Path,
        manifest: Option<&Path>,
        reference: &Reference,
    ) -> Result<String> {
        let limit = self.client.bounds().blob;
        let mut bytes = read_file(file, limit)?;
        if file.extension().is_some_and(|ext| ext == "wat") {
            bytes = wat::parse_bytes(&bytes)
                .map_err(|err| Error::file(file, format!("invalid WAT: {err}")))?
                .into_owned();
        }
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err(Error::file(file, "not a WebAssembly file"));
        }
        let component = if bytes[4..8] == [0x0d, 0, 1, 0] {
            let inspection = witplug_host::compile::inspect(file, &bytes)?;
            Some(layout::ComponentSummary {
                exports: inspection.exports,
                imports: inspection.imports,
            })
        } else {
            None
        };
        let toml = match manifest {
            Some(path) => {
                let text = witplug_host::config::read_text_file(path, layout::MAX_PLUGIN_MANIFEST)
                    .map_err(|err| Error::file(path, err))?
                    .ok_or_else(|| Error::file(path, "no such file"))?;
                witplug_host::Manifest::parse(&text).map_err(|reason| Error::file(path, reason))?;
                Some(text.into_bytes())
            }
            None => None,
        };
        let built = layout::build(&bytes, component, toml.as_deref(), layout::now_rfc3339());
        self.client.push_blob(reference, &bytes).await?;
        if let Some(toml) = &toml {
            self.client.push_blob(reference, toml).await?;
        }
        self.client.push_blob(reference, &built.config).await?;
        let target = reference.tag.clone().unwrap_or_else(|| sha256_digest(&built.manifest));
        self.client.push_manifest(reference, &target, layout::MANIFEST, &built.manifest).await
    }

    /// Fetches the artifact `reference` names into the content store,
    /// checking every digest and, under a policy (unless
    /// `allow_unsigned`), its signature.
    pub async fn fetch(&self, reference: &Reference, allow_unsigned: bool) -> Result<Pulled> {
        within(reference, self.fetch_unbounded(reference, allow_unsigned)).await
    }

    /// The artifact `reference` names: its manifest (now pinned by digest),
    /// read in the layout, and its config.
    async fn artifact(
        &self,
        reference: &Reference,
    ) -> Result<(Reference, crate::client::Fetched, layout::Artifact, WasmConfig)> {
        let fetched = self.client.manifest(reference, &[layout::MANIFEST]).await?;
        let reference = reference.at(&fetched.digest);
        let refused = |reason: String| Error::Refused { reference: reference.to_string(), reason };
        let artifact = layout::read(&fetched.bytes).map_err(refused)?;
        let descriptor = &artifact.manifest.config;
        if descriptor.size > layout::MAX_CONFIG {
            return Err(refused(format!("its config is over {} bytes", layout::MAX_CONFIG)));
        }
        let config = self.client.blob(&reference, &descriptor.digest, descriptor.size).await?;
        let config: WasmConfig = serde_json::from_slice(&config)
            .map_err(|_| refused("its config is not a Wasm config".to_owned()))?;
        Ok((reference, fetched, artifact, config))
    }

    async fn fetch_unbounded(&self, reference: &Reference, allow_unsigned: bool) -> Result<Pulled> {
        let (reference, fetched, artifact, config) = self.artifact(reference).await?;
        let refused = |reason: String| Error::Refused { reference: reference.to_string(), reason };
        if config.architecture != "wasm" {
            return Err(refused(format!(
                "its config's architecture is `{}`, not wasm",
                witplug_host::text::sanitize(&config.architecture, 32)
            )));
        }
        let signature = if allow_unsigned || self.policy.is_empty() {
            None
        } else {
            Some(self.find_signature(&reference, &fetched.digest).await?)
        };
        let plugin_manifest = match &artifact.plugin_manifest {
            Some(layer) => {
                let bytes = self.client.blob(&reference, &layer.digest, layer.size).await?;
                std::str::from_utf8(&bytes)
                    .map_err(|_| refused("its plugin manifest is not UTF-8".to_owned()))?;
                self.store.put(&bytes)?;
                Some((layer.digest.clone(), bytes))
            }
            None => None,
        };
        if !self.store.has(&artifact.wasm.digest) {
            let tmp = self.store.scratch()?;
            self.client
                .blob_to_file(&reference, &artifact.wasm.digest, artifact.wasm.size, &tmp)
                .await?;
            self.store.adopt(&tmp, &artifact.wasm.digest)?;
            self.fetched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(artifact.wasm.digest.clone());
        }
        self.store.put(&fetched.bytes)?;
        let component = config.os != "wasip1";
        Ok(Pulled { reference, wasm: artifact.wasm, plugin_manifest, signature, component })
    }

    /// A signature of `digest` by a key the policy trusts for the
    /// repository: witplug's (a referrer, or in the `sha256-<hex>` tag
    /// index), else cosign's (`sha256-<hex>.sig`).
    async fn find_signature(&self, reference: &Reference, digest: &str) -> Result<Verified> {
        let repository = reference.repository_path();
        let untrusted =
            |reason: String| Error::Untrusted { reference: reference.to_string(), reason };
        let keys = self.policy.keys_for(&repository).ok_or_else(|| {
            untrusted(format!("the trust policy names no key for {repository} (--allow-unsigned to take it anyway)"))
        })?;
        let mut reasons = Vec::new();
        for descriptor in self.referrers(reference, digest).await? {
            if descriptor.artifact_type.as_deref() != Some(sign::SIGNATURE_ARTIFACT)
                || descriptor.size > self.client.bounds().manifest
            {
                continue;
            }
            let envelope = match self.signature_envelope(reference, &descriptor).await {
                Ok(envelope) => envelope,
                Err(err) => {
                    reasons.push(err.to_string());
                    continue;
                }
            };
            match sign::verify_envelope(&envelope, keys, &repository, digest) {
                Ok((signer, _)) => {
                    let digest = self.store.put(&envelope)?;
                    return Ok(Verified { digest, signer: signer.id() });
                }
                Err(reason) => reasons.push(reason),
            }
        }
        match self.cosign_signature(reference, digest, keys, &repository).await {
            Ok(Some(verified)) => return Ok(verified),
            Ok(None) => {}
            Err(reason) => reasons.push(reason),
        }
        Err(untrusted(match reasons.first() {
            Some(reason) => reason.clone(),
            None => "it is unsigned: no signature by a key the trust policy names (--allow-unsigned to take it anyway)".to_owned(),
        }))
    }

    async fn referrers(&self, reference: &Reference, digest: &str) -> Result<Vec<Descriptor>> {
        let index = match self.client.referrers(reference, digest).await? {
            Some(bytes) => bytes,
            None => {
                let tag = Reference {
                    tag: Some(digest.replace(':', "-")),
                    digest: None,
                    ..reference.clone()
                };
                match self.client.manifest(&tag, &[layout::INDEX]).await {
                    Ok(fetched) => fetched.bytes,
                    Err(Error::NotFound { .. }) => return Ok(Vec::new()),
                    Err(err) => return Err(err),
                }
            }
        };
        let index: ImageIndex = serde_json::from_slice(&index).map_err(|_| Error::Refused {
            reference: reference.to_string(),
            reason: "its referrers index is not an OCI index".to_owned(),
        })?;
        // Only signatures are looked at, and only a few: each costs two
        // requests. A digest that is not one is never used.
        Ok(index
            .manifests
            .into_iter()
            .filter(|d| crate::reference::is_digest(&d.digest))
            .filter(|d| d.artifact_type.as_deref() == Some(sign::SIGNATURE_ARTIFACT))
            .take(MAX_SIGNATURES)
            .collect())
    }

    async fn signature_envelope(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> Result<Vec<u8>> {
        let at = reference.at(&descriptor.digest);
        let fetched = self.client.manifest(&at, &[layout::MANIFEST]).await?;
        let manifest: ImageManifest =
            serde_json::from_slice(&fetched.bytes).map_err(|_| Error::Refused {
                reference: at.to_string(),
                reason: "a signature's manifest is not an OCI manifest".to_owned(),
            })?;
        let layer = manifest
            .layers
            .iter()
            .find(|layer| layer.media_type == sign::ENVELOPE && layer.size <= sign::MAX_ENVELOPE)
            .ok_or_else(|| Error::Refused {
                reference: at.to_string(),
                reason: "a signature without an envelope".to_owned(),
            })?;
        self.client.blob(&at, &layer.digest, layer.size).await
    }

    async fn cosign_signature(
        &self,
        reference: &Reference,
        digest: &str,
        keys: &[PublicKey],
        repository: &str,
    ) -> Result<Option<Verified>, String> {
        let tag = Reference {
            tag: Some(format!("{}.sig", digest.replace(':', "-"))),
            digest: None,
            ..reference.clone()
        };
        let accepted = [layout::MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"];
        let fetched = match self.client.manifest(&tag, &accepted).await {
            Ok(fetched) => fetched,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err.to_string()),
        };
        let manifest: ImageManifest = serde_json::from_slice(&fetched.bytes)
            .map_err(|_| "its cosign signature manifest is not one".to_owned())?;
        let mut last = None;
        for layer in
            manifest.layers.iter().filter(|l| l.media_type == sign::COSIGN_PAYLOAD).take(16)
        {
            let Some(signature) = layer.annotations.get(sign::COSIGN_ANNOTATION) else { continue };
            if layer.size > sign::MAX_ENVELOPE {
                continue;
            }
            let payload = self
                .client
                .blob(&tag, &layer.digest, layer.size)
                .await
                .map_err(|err| err.to_string())?;
            match sign::verify_cosign(&payload, signature, keys, repository, digest) {
                Ok(signer) => {
                    let record = serde_json::to_vec(&serde_json::json!({
                        "cosign": { "payload": base64_encode(&payload), "signature": signature }
                    }))
                    .expect("a record serializes");
                    let digest = self.store.put(&record).map_err(|err| err.to_string())?;
                    return Ok(Some(Verified { digest, signer: signer.id() }));
                }
                Err(reason) => last = Some(reason),
            }
        }
        last.map_or(Ok(None), Err)
    }

    /// Signs the artifact `reference` with `key`: a DSSE envelope stored
    /// as a referrer of its manifest, and listed in its `sha256-<hex>` tag
    /// index for registries without the referrers API. Returns the
    /// signature manifest's digest.
    pub async fn sign(&self, reference: &Reference, key: &KeyPair) -> Result<String> {
        within(reference, self.sign_unbounded(reference, key)).await
    }

    async fn sign_unbounded(&self, reference: &Reference, key: &KeyPair) -> Result<String> {
        let (reference, fetched, artifact, config) = self.artifact(reference).await?;
        let contract = config.component.and_then(|c| {
            c.imports.iter().chain(&c.exports).find_map(|name| {
                Some(name.strip_prefix("witplug:plugin/")?.split_once('@')?.1.to_owned())
            })
        });
        let statement = Statement::new(
            &reference.repository_path(),
            &fetched.digest,
            Predicate {
                contract,
                wasm_layer: artifact.wasm.digest.clone(),
                manifest_layer: artifact.plugin_manifest.map(|l| l.digest),
            },
        );
        let envelope = key.sign(&statement);
        self.client.push_blob(&reference, b"{}").await?;
        self.client.push_blob(&reference, &envelope).await?;
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(layout::MANIFEST.to_owned()),
            artifact_type: Some(sign::SIGNATURE_ARTIFACT.to_owned()),
            config: Descriptor::of(EMPTY, b"{}"),
            layers: vec![Descriptor::of(sign::ENVELOPE, &envelope)],
            subject: Some(Descriptor::of(layout::MANIFEST, &fetched.bytes)),
            annotations: Default::default(),
        };
        let bytes = serde_json::to_vec(&manifest).expect("a manifest serializes");
        let digest = sha256_digest(&bytes);
        self.client.push_manifest(&reference, &digest, layout::MANIFEST, &bytes).await?;
        // The tag index, for registries without the referrers API.
        let tag = Reference {
            tag: Some(fetched.digest.replace(':', "-")),
            digest: None,
            ..reference.clone()
        };
        let mut index = match self.client.manifest(&tag, &[layout::INDEX]).await {
            Ok(existing) => {
                serde_json::from_slice::<ImageIndex>(&existing.bytes).unwrap_or_default()
            }
            Err(Error::NotFound { .. }) => ImageIndex::default(),
            Err(err) => return Err(err),
        };
        index.schema_version = 2;
        index.media_type = Some(layout::INDEX.to_owned());
        let mut entry = Descriptor::of(layout::MANIFEST, &bytes);
        entry.artifact_type = Some(sign::SIGNATURE_ARTIFACT.to_owned());
        index.manifests.retain(|m| m.digest != entry.digest);
        index.manifests.push(entry);
        let index = serde_json::to_vec(&index).expect("an index serializes");
        self.client
            .push_manifest(&tag, tag.tag.as_deref().unwrap_or_default(), layout::INDEX, &index)
            .await?;
        Ok(digest)
    }

    /// Checks, without a network, that the content store holds what
    /// `locked` pins and, under a policy, that its signature verifies.
    pub fn verify_offline(&self, locked: &Locked, allow_unsigned: bool) -> Result<()> {
        let reference = locked.reference()?;
        let manifest = self.store.get(&locked.digest, self.client.bounds().manifest)?;
        if !self.store.has(&locked.wasm) {
            return Err(Error::NotFound {
                reference: locked.wasm.clone(),
                reason: format!("not in the content store {}", self.store.dir().display()),
            });
        }
        let artifact = layout::read(&manifest)
            .map_err(|reason| Error::Refused { reference: reference.to_string(), reason })?;
        if artifact.wasm.digest != locked.wasm
            || artifact.plugin_manifest.map(|l| l.digest) != locked.manifest
        {
            return Err(Error::file(
                Path::new(crate::lock::LOCK_FILE),
                format!("plugin `{}`: its layers are not those of {}", locked.name, locked.digest),
            ));
        }
        if allow_unsigned || self.policy.is_empty() {
            return Ok(());
        }
        let untrusted =
            |reason: String| Error::Untrusted { reference: reference.to_string(), reason };
        let repository = reference.repository_path();
        let keys = self
            .policy
            .keys_for(&repository)
            .ok_or_else(|| untrusted(format!("the trust policy names no key for {repository}")))?;
        let Some(signature) = &locked.signature else {
            return Err(untrusted(
                "it is unsigned, and the trust policy asks for a signature".to_owned(),
            ));
        };
        let record = self.store.get(signature, sign::MAX_ENVELOPE * 2)?;
        let value: serde_json::Value = serde_json::from_slice(&record)
            .map_err(|_| untrusted("its stored signature is not one".to_owned()))?;
        let verified = match value.get("cosign") {
            Some(cosign) => sign::verify_cosign(
                &base64_decode(cosign["payload"].as_str().unwrap_or_default()),
                cosign["signature"].as_str().unwrap_or_default(),
                keys,
                &repository,
                &locked.digest,
            ),
            None => sign::verify_envelope(&record, keys, &repository, &locked.digest)
                .map(|(key, _)| key),
        };
        verified.map(drop).map_err(untrusted)
    }

    /// Writes the plugin `pulled` (from the content store) into `dir` as
    /// `NAME.wasm`, with `NAME.toml` when it carries a manifest: each
    /// written aside and renamed in, so a folder never holds half a plugin.
    pub fn install(
        &self,
        pulled_wasm: &str,
        manifest: Option<&[u8]>,
        dir: &Path,
        name: &str,
    ) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(|err| Error::file(dir, err))?;
        // A core module is a `.wasm` file too: the host tells them apart.
        let wasm_path = dir.join(format!("{name}.wasm"));
        // The manifest first: the new bytes never run with the old grants,
        // even under --watch; a plugin without one runs with none.
        let toml_path = dir.join(format!("{name}.toml"));
        match manifest {
            Some(toml) => write_aside(&toml_path, toml)?,
            None => match std::fs::remove_file(&toml_path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::file(&toml_path, err)),
            },
        }
        self.copy_out(pulled_wasm, &wasm_path)?;
        Ok(wasm_path)
    }

    /// Copies the blob `digest` to `path`, checking its digest on the way.
    pub fn copy_out(&self, digest: &str, path: &Path) -> Result<()> {
        let source = self.store.path(digest)?;
        if self.fetched.lock().unwrap_or_else(|e| e.into_inner()).contains(digest) {
            // Checked as it arrived: linked (as pnpm links from its store),
            // or copied across file systems. A later change to either file
            // is caught by its digest, at load (the lock's pin) or when the
            // store is read.
            let (tmp, file) = crate::client::aside(path).map_err(|err| Error::file(path, err))?;
            drop(file);
            let _ = std::fs::remove_file(&tmp);
            let linked = std::fs::hard_link(&source, &tmp).is_ok();
            let copied = if linked {
                std::fs::rename(&tmp, path).map_err(|err| Error::file(path, err))
            } else {
                let _ = std::fs::remove_file(&tmp);
                self.hashed_copy(digest, &source, path)
            };
            if copied.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            return copied;
        }
        self.hashed_copy(digest, &source, path)
    }

    /// Copies the blob at `source` to `path` (aside, then renamed in),
    /// checking its digest on the way.
    fn hashed_copy(&self, digest: &str, source: &Path, path: &Path) -> Result<()> {
        let mut input = std::fs::File::open(source).map_err(|_| Error::NotFound {
            reference: digest.to_owned(),
            reason: format!("not in the content store {}", self.store.dir().display()),
        })?;
        let (tmp, mut output) = crate::client::aside(path).map_err(|err| Error::file(path, err))?;
        let copied = (|| {
            let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
            let mut buf = vec![0u8; 1 << 16];
            let limit = self.client.bounds().blob;
            let mut total = 0u64;
            loop {
                let n = input.read(&mut buf).map_err(|err| Error::file(source, err))?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if total > limit {
                    return Err(Error::file(source, "it is over the largest plugin"));
                }
                sha2::Digest::update(&mut hasher, &buf[..n]);
                output.write_all(&buf[..n]).map_err(|err| Error::file(&tmp, err))?;
            }
            let actual = format!("sha256:{}", crate::client::hex(&sha2::Digest::finalize(hasher)));
            if actual != digest {
                return Err(Error::file(
                    source,
                    "its content is not the blob it is named for (changed on disk)",
                ));
            }
            std::fs::rename(&tmp, path).map_err(|err| Error::file(path, err))
        })();
        if copied.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        copied
    }
}

/// Reads a file of at most `limit` bytes.
fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|err| Error::file(path, err))?;
    let meta = file.metadata().map_err(|err| Error::file(path, err))?;
    if !meta.is_file() {
        return Err(Error::file(path, "not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|err| Error::file(path, err))?;
    if bytes.len() as u64 > limit {
        return Err(Error::file(path, format!("it is over {limit} bytes")));
    }
    Ok(bytes)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_default()
}

/// `operation`, given [`OPERATION`] at most.
async fn within<T>(reference: &Reference, operation: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(OPERATION, operation).await {
        Ok(result) => result,
        Err(_) => Err(Error::Network {
            reference: reference.to_string(),
            reason: format!("not done within {} s", OPERATION.as_secs()),
        }),
    }
}
