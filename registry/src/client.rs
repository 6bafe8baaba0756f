//! The OCI distribution API, as a client that trusts nothing it is sent:
//! every request under a deadline, every body read up to a bound (a
//! manifest's, or the size its descriptor promised), every blob hashed as
//! it arrives and refused unless its digest is the one asked for, at most
//! a few redirects, and plain HTTP only for loopback registries (or those
//! the operator names).
//!
//! Registries that ask for credentials get a bearer token (anonymous, or
//! with `WITPLUG_REGISTRY_USER` and `WITPLUG_REGISTRY_PASSWORD`), or those
//! credentials as basic authentication, as they ask.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::error::one_line;
use crate::reference::Reference;
use crate::{Error, Result};

/// What a registry may take or send, with defaults and ceilings.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The largest manifest read (default 4 MiB).
    pub manifest: u64,
    /// The largest blob read (default 256 MiB, the host's largest plugin
    /// file).
    pub blob: u64,
    /// How long one request may take, start to end (default 5 minutes).
    pub request: Duration,
    /// How long connecting may take (default 10 s).
    pub connect: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            manifest: 4 << 20,
            blob: witplug_host::config::DEFAULT_MAX_FILE_SIZE,
            request: Duration::from_secs(300),
            connect: Duration::from_secs(10),
        }
    }
}

/// A manifest as the registry sent it: its bytes, its media type and its
/// digest (computed here, never taken from a header).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The manifest's bytes, as signed.
    pub bytes: Vec<u8>,
    /// Its `Content-Type`.
    pub media_type: String,
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
}

/// A client of one or more registries.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    bounds: Bounds,
    insecure: Vec<String>,
    tokens: Mutex<HashMap<String, String>>,
}

impl Client {
    /// A client held to `bounds`; `insecure` names registries spoken to
    /// over plain HTTP beside the loopback ones.
    ///
    /// # Errors
    ///
    /// [`Error::Network`] when the TLS stack cannot be set up.
    pub fn new(bounds: Bounds, insecure: Vec<String>) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(bounds.connect)
            .timeout(bounds.request)
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("witplug/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| Error::Network {
                reference: "the registry client".to_owned(),
                reason: one_line(&err.to_string()),
            })?;
        Ok(Self { http, bounds, insecure, tokens: Mutex::new(HashMap::new()) })
    }

    /// The bounds it holds registries to.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Whether the registry is spoken to over plain HTTP: a loopback
    /// address or `localhost`, or one the operator named.
    fn plain(&self, reference: &Reference) -> bool {
        is_loopback(&reference.registry) || self.insecure.contains(&reference.registry)
    }

    fn base(&self, reference: &Reference) -> String {
        let scheme = if self.plain(reference) { "http" } else { "https" };
        format!("{scheme}://{}/v2/{}", reference.registry, reference.repository)
    }

    /// Sends a request, answering one authentication challenge.
    async fn send(
        &self,
        reference: &Reference,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        push: bool,
    ) -> Result<reqwest::Response> {
        let key = format!("{}/{}#{push}", reference.registry, reference.repository);
        let token = self.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
        let mut request = build(&self.http);
        if let Some(token) = &token {
            request = request.header(header::AUTHORIZATION, token);
        }
        let response = request.send().await.map_err(|err| network(reference, &err))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let authorization = self.authorize(reference, &challenge, push).await?;
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(key, authorization.clone());
        build(&self.http)
            .header(header::AUTHORIZATION, authorization)
            .send()
            .await
            .map_err(|err| network(reference, &err))
    }

    /// The `Authorization` value a challenge asks for.
    async fn authorize(
        &self,
        reference: &Reference,
        challenge: &str,
        push: bool,
    ) -> Result<String> {
        let credentials = credentials(&reference.registry);
        let refused = |reason: &str| Error::Refused {
            reference: reference.to_string(),
            reason: reason.to_owned(),
        };
        if challenge.to_ascii_lowercase().starts_with("basic") {
            let (user, password) = credentials.ok_or_else(|| {
                refused("the registry asks for credentials: set WITPLUG_REGISTRY_HOST to it, with WITPLUG_REGISTRY_USER and WITPLUG_REGISTRY_PASSWORD")
            })?;
            return Ok(basic(&user, &password));
        }
        let Some(params) = challenge.strip_prefix("Bearer ").map(parse_challenge) else {
            return Err(refused(
                "the registry refused the request (401) without a challenge this client answers",
            ));
        };
        let realm =
            params.get("realm").ok_or_else(|| refused("its bearer challenge names no realm"))?;
        let mut url =
            reqwest::Url::parse(realm).map_err(|_| refused("its token realm is not a URL"))?;
        // A token is asked for over HTTPS (plain HTTP only beside a registry
        // spoken to so), and never from an address the registry is not near:
        // a public registry cannot point this client at a loopback, private
        // or link-local service (or the operator's credentials at a host
        // other than the registry's own).
        let plain = self.plain(reference);
        if url.scheme() != "https" && !(plain && url.scheme() == "http") {
            return Err(refused("its token realm is not https"));
        }
        let realm_host = url.host_str().unwrap_or_default().to_owned();
        if !is_loopback(&reference.registry) && is_internal(&realm_host) {
            return Err(refused("its token realm is a loopback, private or link-local address"));
        }
        let registry_host = host_of(&reference.registry);
        let credentials = credentials.filter(|_| realm_host.eq_ignore_ascii_case(registry_host));
        let scope = format!(
            "repository:{}:{}",
            reference.repository,
            if push { "pull,push" } else { "pull" }
        );
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                query.append_pair("service", service);
            }
            query.append_pair("scope", &scope);
        }
        let mut request = self.http.get(url);
        if let Some((user, password)) = &credentials {
            request = request.header(header::AUTHORIZATION, basic(user, password));
        }
        let response = request.send().await.map_err(|err| network(reference, &err))?;
        if !response.status().is_success() {
            return Err(refused(&format!("its token service answered {}", response.status())));
        }
        let body = read_bounded(reference, response, 64 << 10).await?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = serde_json::from_slice(&body)
            .map_err(|_| refused("its token service sent no token"))?;
        let token = token
            .token
            .or(token.access_token)
            .ok_or_else(|| refused("its token service sent no token"))?;
        if token.len() > 16 << 10 || token.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(refused("its token service sent a token that is not one"));
        }
        Ok(format!("Bearer {token}"))
    }

    /// The manifest `reference` names (its digest, else its tag), of one
    /// of the `accepted` media types.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none; [`Error::Refused`] when it
    /// is over the bound, of another media type, or not the digest asked
    /// for.
    pub async fn manifest(&self, reference: &Reference, accepted: &[&str]) -> Result<Fetched> {
        let url = format!("{}/manifests/{}", self.base(reference), reference.target());
        let accept = accepted.join(", ");
        let response = self
            .send(reference, |http| http.get(&url).header(header::ACCEPT, &accept), false)
            .await?;
        let response = check_status(reference, response, "manifest").await?;
        let media_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or_default().trim().to_owned())
            .unwrap_or_default();
        let bytes = read_bounded(reference, response, self.bounds.manifest).await?;
        let digest = sha256_digest(&bytes);
        if let Some(wanted) = &reference.digest
            && *wanted != digest
        {
            return Err(Error::Refused {
                reference: reference.to_string(),
                reason: format!("the registry sent a manifest whose digest is {digest}"),
            });
        }
        // The header may be absent or generic; the document says what it is.
        let declared = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|value| value.get("mediaType")?.as_str().map(str::to_owned));
        let media_type = declared.unwrap_or(media_type);
        if !accepted.contains(&media_type.as_str()) {
            return Err(Error::Refused {
                reference: reference.to_string(),
                reason: format!(
                    "the registry sent a manifest of media type `{}`, not {}",
                    witplug_host::text::sanitize(&media_type, 128),
                    accepted.join(" or ")
                ),
            });
        }
        Ok(Fetched { bytes, media_type, digest })
    }

    /// The digest a tag points to now, or `None` when there is no such tag.
    pub async fn resolve(
        &self,
        reference: &Reference,
        accepted: &[&str],
    ) -> Result<Option<String>> {
        match self.manifest(reference, accepted).await {
            Ok(fetched) => Ok(Some(fetched.digest)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// A blob of at most `size` bytes, checked against `digest`, in memory
    /// (configs, plugin manifests, signatures: small by their bounds).
    pub async fn blob(&self, reference: &Reference, digest: &str, size: u64) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.blob_into(reference, digest, size, &mut bytes).await?;
        Ok(bytes)
    }

    /// Streams the blob `digest` of `size` bytes into a new file at `path`,
    /// removed again unless the whole blob arrived with that digest.
    pub async fn blob_to_file(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
        path: &Path,
    ) -> Result<()> {
        let mut file = std::fs::File::create_new(path).map_err(|err| Error::file(path, err))?;
        // Not synced: a blob lost to a crash is fetched again, and one cut
        // short is refused by its digest when read.
        let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        let fetched = self.blob_into(reference, digest, size, &mut out).await;
        let flushed = fetched
            .and_then(|()| std::io::Write::flush(&mut out).map_err(|err| Error::file(path, err)));
        drop(out);
        if flushed.is_err() {
            let _ = std::fs::remove_file(path);
        }
        flushed
    }

    async fn blob_into(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
        out: &mut impl Write,
    ) -> Result<()> {
        let refused = |reason: String| Error::Refused { reference: reference.to_string(), reason };
        if !crate::reference::is_digest(digest) {
            return Err(refused("a layer's digest is not sha256: and 64 hex digits".to_owned()));
        }
        if size > self.bounds.blob {
            return Err(refused(format!(
                "a layer of {size} bytes is over the bound of {} bytes",
                self.bounds.blob
            )));
        }
        let url = format!("{}/blobs/{digest}", self.base(reference));
        let response = self.send(reference, |http| http.get(&url), false).await?;
        let mut response = check_status(reference, response, "blob").await?;
        let mut hasher = Sha256::new();
        let mut read = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|err| network(reference, &err))? {
            read += chunk.len() as u64;
            if read > size {
                return Err(refused(format!(
                    "the registry sent more than the {size} bytes of {digest}"
                )));
            }
            hasher.update(&chunk);
            out.write_all(&chunk).map_err(|err| refused(format!("writing {digest}: {err}")))?;
        }
        if read != size {
            return Err(refused(format!(
                "the registry sent {read} of the {size} bytes of {digest}"
            )));
        }
        let actual = format!("sha256:{}", hex(&hasher.finalize()));
        if actual != digest {
            return Err(refused(format!(
                "the registry sent a blob whose digest is {actual}, not {digest}"
            )));
        }
        Ok(())
    }

    /// Whether the registry holds the blob `digest` already.
    pub async fn has_blob(&self, reference: &Reference, digest: &str) -> Result<bool> {
        let url = format!("{}/blobs/{digest}", self.base(reference));
        let response = self.send(reference, |http| http.head(&url), true).await?;
        Ok(response.status().is_success())
    }

    /// Uploads `bytes` as the blob `digest`, unless the registry holds it.
    pub async fn push_blob(&self, reference: &Reference, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        if self.has_blob(reference, &digest).await? {
            return Ok(digest);
        }
        let start = format!("{}/blobs/uploads/", self.base(reference));
        let response = self.send(reference, |http| http.post(&start), true).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(status_error(reference, response.status(), "starting an upload"));
        }
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| Error::Refused {
                reference: reference.to_string(),
                reason: "the registry started an upload without a Location".to_owned(),
            })?;
        let mut url = self.upload_url(reference, location)?;
        url.query_pairs_mut().append_pair("digest", &digest);
        let body = bytes.to_vec();
        let response = self
            .send(
                reference,
                |http| {
                    http.request(Method::PUT, url.clone())
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .body(body.clone())
                },
                true,
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(status_error(reference, response.status(), "uploading a blob"));
        }
        Ok(digest)
    }

    fn upload_url(&self, reference: &Reference, location: &str) -> Result<reqwest::Url> {
        let base = reqwest::Url::parse(&self.base(reference)).map_err(|_| Error::Reference {
            reference: reference.to_string(),
            reason: "it makes no URL".to_owned(),
        })?;
        let url = base.join(location).map_err(|_| Error::Refused {
            reference: reference.to_string(),
            reason: "the registry's upload Location is not a URL".to_owned(),
        })?;
        // An upload goes back to the registry it started on.
        if url.host_str() != base.host_str()
            || url.port_or_known_default() != base.port_or_known_default()
        {
            return Err(Error::Refused {
                reference: reference.to_string(),
                reason: "the registry sent the upload to another host".to_owned(),
            });
        }
        Ok(url)
    }

    /// Uploads a manifest under `tag_or_digest`; returns its digest.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        tag_or_digest: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String> {
        let url = format!("{}/manifests/{tag_or_digest}", self.base(reference));
        let body = bytes.to_vec();
        let response = self
            .send(
                reference,
                |http| http.put(&url).header(header::CONTENT_TYPE, media_type).body(body.clone()),
                true,
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            let status = response.status();
            let detail = read_bounded(reference, response, 4096).await.unwrap_or_default();
            let detail = one_line(&String::from_utf8_lossy(&detail));
            return Err(Error::Refused {
                reference: reference.to_string(),
                reason: format!("the registry refused the manifest ({status}): {detail}"),
            });
        }
        Ok(sha256_digest(bytes))
    }

    /// The referrers of `digest` through the OCI 1.1 referrers API, or
    /// `None` when the registry has no such API.
    pub async fn referrers(&self, reference: &Reference, digest: &str) -> Result<Option<Vec<u8>>> {
        let url = format!("{}/referrers/{digest}", self.base(reference));
        let response = self
            .send(
                reference,
                |http| http.get(&url).header(header::ACCEPT, crate::layout::INDEX),
                false,
            )
            .await?;
        let is_index = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with(crate::layout::INDEX));
        if !response.status().is_success() || !is_index {
            return Ok(None);
        }
        read_bounded(reference, response, self.bounds.manifest).await.map(Some)
    }
}

/// The credentials in the environment for `registry`: only the one
/// `WITPLUG_REGISTRY_HOST` names gets them.
fn credentials(registry: &str) -> Option<(String, String)> {
    if std::env::var("WITPLUG_REGISTRY_HOST").ok()? != registry {
        return None;
    }
    Some((
        std::env::var("WITPLUG_REGISTRY_USER").ok()?,
        std::env::var("WITPLUG_REGISTRY_PASSWORD").ok()?,
    ))
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `key="value",key="value"` of a challenge.
fn parse_challenge(text: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((value, next)) => (value, next),
                None => (quoted, ""),
            },
            None => after.split_once(',').unwrap_or((after, "")),
        };
        params.insert(key, value.to_owned());
        rest = next.trim_start_matches(',');
    }
    params
}

/// Reads a response's body, refusing more than `limit` bytes.
async fn read_bounded(
    reference: &Reference,
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>> {
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(Error::Refused {
            reference: reference.to_string(),
            reason: format!("the registry sent more than the {limit} bytes this client reads"),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| network(reference, &err))? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(Error::Refused {
                reference: reference.to_string(),
                reason: format!("the registry sent more than the {limit} bytes this client reads"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn check_status(
    reference: &Reference,
    response: reqwest::Response,
    what: &str,
) -> Result<reqwest::Response> {
    match response.status() {
        status if status.is_success() => Ok(response),
        StatusCode::NOT_FOUND => Err(Error::NotFound {
            reference: reference.to_string(),
            reason: format!("the registry has no such {what}"),
        }),
        status => Err(status_error(reference, status, &format!("fetching the {what}"))),
    }
}

fn status_error(reference: &Reference, status: StatusCode, doing: &str) -> Error {
    Error::Refused {
        reference: reference.to_string(),
        reason: format!("{doing}: the registry answered {status}"),
    }
}

fn network(reference: &Reference, err: &reqwest::Error) -> Error {
    let mut reason = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        source = cause.source();
    }
    if err.is_timeout() {
        reason = format!("no answer in time ({reason})");
    } else if err.is_redirect() {
        reason = format!("too many redirects ({reason})");
    }
    Error::Network { reference: reference.to_string(), reason: one_line(&reason) }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", witplug_host::compile::hex_sha256(bytes))
}

/// `bytes` in lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new file beside `path` for writing it aside: a name no one else
/// uses, made with `create_new` (never through a link someone planted).
pub(crate) fn aside(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    loop {
        let mut noise = [0u8; 8];
        getrandom::fill(&mut noise).map_err(|err| std::io::Error::other(err.to_string()))?;
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".part-{}", hex(&noise)));
        let name = PathBuf::from(name);
        let mut options = std::fs::File::options();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(rustix_nofollow());
        }
        match options.open(&name) {
            Ok(file) => return Ok((name, file)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
}

#[cfg(unix)]
fn rustix_nofollow() -> i32 {
    // `create_new` already refuses an existing link; O_NOFOLLOW says so
    // twice.
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

/// Writes `bytes` to a new file aside `path`, then renames it in.
pub fn write_aside(path: &Path, bytes: &[u8]) -> Result<()> {
    let (tmp, mut file) = aside(path).map_err(|err| Error::file(path, err))?;
    let written = file.write_all(bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::file(path, err));
    }
    Ok(())
}

/// Whether `registry` (`host[:port]`) is this machine.
fn is_loopback(registry: &str) -> bool {
    let host = host_of(registry);
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `host` is an address no public registry's token service is:
/// loopback, private, link-local, unspecified.
fn is_internal(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

/// The host of `host[:port]` (an IPv6 address keeps its brackets).
fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.split_once(']').map_or(registry, |(h, _)| &registry[..h.len() + 1]);
    }
    registry.split(':').next().unwrap_or(registry)
}
