//! Capability grants: what a plugin may reach. No grant means no access.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

/// The `[grants]` table of a manifest.
///
/// ```toml
/// [grants]
/// tools = ["upper", "search.*"]   # tools it may call
/// publish = ["orders.*"]          # topics it may publish to
/// subscribe = ["payments.done"]   # topics it may receive
/// env = ["LANG"]                  # host environment variables it sees
/// stdout = true                   # its stdout goes to the host's
/// stderr = true                   # its stderr goes to the host's
/// keyvalue = ["default", "cache"] # key-value buckets it may open
/// sampling = true                 # it may ask the agent's model (0.3)
/// elicitation = true              # it may ask the agent's user (0.3)
///
/// [[grants.dirs]]
/// host = "data"                   # relative to the manifest's folder
/// guest = "/data"
/// mode = "read-only"              # or "read-write"
/// ```
///
/// Names and topics are matched as bus patterns: exact, a prefix ending in
/// `.*`, or `*` for all.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Grants {
    /// Tools the plugin may call.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Topics the plugin may publish to.
    #[serde(default)]
    pub publish: Vec<String>,
    /// Topics the plugin may receive messages on.
    #[serde(default)]
    pub subscribe: Vec<String>,
    /// Host environment variables the plugin sees, by name.
    #[serde(default)]
    pub env: Vec<String>,
    /// Host folders the plugin sees.
    #[serde(default)]
    pub dirs: Vec<DirGrant>,
    /// Whether the plugin's stdout goes to the host's stdout.
    #[serde(default)]
    pub stdout: bool,
    /// Whether the plugin's stderr goes to the host's stderr.
    #[serde(default)]
    pub stderr: bool,
    /// Addresses the plugin may open TCP connections to, through
    /// `wasi:sockets`: `"db.internal:5432"`, `"127.0.0.1:8080"`. A name is
    /// resolved by the host when the plugin connects.
    #[serde(default)]
    pub connect: Vec<String>,
    /// Whether the plugin may resolve names (`wasi:sockets/ip-name-lookup`).
    #[serde(default)]
    pub resolve: bool,
    /// Whether the plugin may ask the agent's model for a message during a
    /// tool call (`client.sample`, MCP sampling).
    #[serde(default)]
    pub sampling: bool,
    /// Whether the plugin may ask the agent's user for input during a tool
    /// call (`client.elicit`, MCP elicitation).
    #[serde(default)]
    pub elicitation: bool,
    /// Origins the plugin may send HTTP requests to, through
    /// `wasi:http/outgoing-handler`: `"https://api.example.com"`,
    /// `"http://127.0.0.1:8080"`, `"*.example.org"` (any scheme, every
    /// subdomain).
    #[serde(default)]
    pub http: Vec<String>,
    /// Key-value buckets the plugin may open through `wasi:keyvalue`, by
    /// name: `"default"`, `"cache"`. Each plugin's buckets are its own
    /// unless the operator shares one
    /// ([`HostBuilder::share_bucket`](crate::HostBuilder::share_bucket)).
    #[serde(default)]
    pub keyvalue: Vec<String>,
}

/// Whether `name` can name a key-value bucket: 1 to 64 of
/// `a-z A-Z 0-9 _ -`, so that every backend keeps it as it is.
pub fn is_bucket_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A host folder mapped into the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DirGrant {
    /// The folder on the host; relative paths start at the manifest's folder.
    pub host: PathBuf,
    /// Where the plugin sees it, e.g. `/data`.
    pub guest: String,
    /// Whether the plugin may write.
    #[serde(default)]
    pub mode: DirMode,
}

/// What a plugin may do in a granted folder.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirMode {
    /// Read files and list folders.
    #[default]
    ReadOnly,
    /// Also create, write and remove.
    ReadWrite,
}

impl Grants {
    /// No grants at all: the default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also grants calling the tools `pattern` matches.
    pub fn tool(mut self, pattern: impl Into<String>) -> Self {
        self.tools.push(pattern.into());
        self
    }

    /// Also grants publishing on the topics `pattern` matches.
    pub fn publish(mut self, pattern: impl Into<String>) -> Self {
        self.publish.push(pattern.into());
        self
    }

    /// Also grants receiving messages on the topics `pattern` matches.
    pub fn subscribe(mut self, pattern: impl Into<String>) -> Self {
        self.subscribe.push(pattern.into());
        self
    }

    /// Also grants seeing the host's environment variable `name`.
    pub fn env(mut self, name: impl Into<String>) -> Self {
        self.env.push(name.into());
        self
    }

    /// Also grants the host folder `host` at `guest` in the plugin.
    pub fn dir(
        mut self,
        host: impl Into<PathBuf>,
        guest: impl Into<String>,
        mode: DirMode,
    ) -> Self {
        self.dirs.push(DirGrant { host: host.into(), guest: guest.into(), mode });
        self
    }

    /// Also grants TCP connections to `address` (`host:port`).
    pub fn connect(mut self, address: impl Into<String>) -> Self {
        self.connect.push(address.into());
        self
    }

    /// Also grants HTTP requests to `origin`.
    pub fn http(mut self, origin: impl Into<String>) -> Self {
        self.http.push(origin.into());
        self
    }

    /// Also grants opening the key-value bucket `name`.
    pub fn keyvalue(mut self, name: impl Into<String>) -> Self {
        self.keyvalue.push(name.into());
        self
    }

    /// Sets whether the plugin may ask the agent's model (MCP sampling).
    pub fn sampling(mut self, allowed: bool) -> Self {
        self.sampling = allowed;
        self
    }

    /// Sets whether the plugin may ask the agent's user (MCP elicitation).
    pub fn elicitation(mut self, allowed: bool) -> Self {
        self.elicitation = allowed;
        self
    }

    /// Sets whether the plugin may resolve names.
    pub fn resolve(mut self, allowed: bool) -> Self {
        self.resolve = allowed;
        self
    }

    /// Sets whether the plugin's stdout and stderr reach the host's.
    pub fn stdio(mut self, forward: bool) -> Self {
        self.stdout = forward;
        self.stderr = forward;
        self
    }

    /// Adds everything `other` grants.
    pub fn extend(&mut self, other: Grants) {
        self.tools.extend(other.tools);
        self.publish.extend(other.publish);
        self.subscribe.extend(other.subscribe);
        self.env.extend(other.env);
        self.dirs.extend(other.dirs);
        self.stdout |= other.stdout;
        self.stderr |= other.stderr;
        self.connect.extend(other.connect);
        self.resolve |= other.resolve;
        self.sampling |= other.sampling;
        self.elicitation |= other.elicitation;
        self.http.extend(other.http);
        self.keyvalue.extend(other.keyvalue);
    }

    /// Refuses a granted bucket whose name is not a bucket name.
    pub(crate) fn check_buckets(&self) -> Result<(), String> {
        match self.keyvalue.iter().find(|name| !is_bucket_name(name)) {
            Some(bad) => Err(format!(
                "grants.keyvalue: `{}` is not a bucket name (1 to 64 of a-z A-Z 0-9 _ -)",
                crate::text::sanitize(bad, crate::text::NAME)
            )),
            None => Ok(()),
        }
    }

    /// Whether the plugin may open the key-value bucket `name`.
    pub fn may_open(&self, name: &str) -> bool {
        self.keyvalue.iter().any(|granted| granted == name)
    }

    /// Whether the plugin may call the tool `name`.
    pub fn may_call(&self, name: &str) -> bool {
        self.tools.iter().any(|pattern| matches(pattern, name))
    }

    /// Whether the plugin may publish on `topic`.
    pub fn may_publish(&self, topic: &str) -> bool {
        self.publish.iter().any(|pattern| matches(pattern, topic))
    }

    /// Whether the plugin may receive messages on `topic`.
    pub fn may_receive(&self, topic: &str) -> bool {
        self.subscribe.iter().any(|pattern| matches(pattern, topic))
    }

    /// Whether a message this plugin may publish could be one `subscriber`
    /// may receive: some topic both grants' patterns match.
    ///
    /// ```
    /// let desk: witplug_host::Grants = toml::from_str(r#"publish = ["orders.*"]"#).unwrap();
    /// let ledger: witplug_host::Grants = toml::from_str(r#"subscribe = ["orders.created"]"#).unwrap();
    /// assert!(desk.may_reach(&ledger));
    /// assert!(!ledger.may_reach(&desk));
    /// ```
    pub fn may_reach(&self, subscriber: &Grants) -> bool {
        self.publish.iter().any(|published| {
            subscriber.subscribe.iter().any(|received| overlap(published, received))
        })
    }

    /// Makes relative host folders relative to `base` (the manifest's
    /// folder) and checks that each exists.
    pub(crate) fn anchor(&mut self, base: &Path) -> Result<(), String> {
        for dir in &mut self.dirs {
            if dir.host.is_relative() {
                dir.host = base.join(&dir.host);
            }
            if !dir.host.is_dir() {
                return Err(format!("grants.dirs: {} is not a folder", dir.host.display()));
            }
        }
        Ok(())
    }

    /// Opens each granted folder once, at load: every instance is given
    /// these handles, so a link swapped in at the path later cannot widen
    /// what was granted.
    pub(crate) fn open_dirs(&self) -> Result<Vec<OpenDir>, String> {
        self.dirs
            .iter()
            .map(|dir| {
                OpenDir::open(&dir.host)
                    .map_err(|err| format!("grants.dirs: {}: {err}", dir.host.display()))
            })
            .collect()
    }

    /// A WASI context holding exactly what these grants give: the granted
    /// folders and environment variables, stdout and stderr when granted,
    /// TCP connections to the granted addresses and name lookups when
    /// granted, and nothing else (no arguments, closed stdin, no UDP, no
    /// listening). `denied` hears of each connection refused, by address;
    /// stderr goes to `stderr`, which forwards it when granted.
    pub(crate) fn wasi(
        &self,
        opened: &[OpenDir],
        denied: impl Fn(String) + Send + Sync + 'static,
        stderr: impl wasmtime_wasi::cli::StdoutStream + 'static,
    ) -> WasiCtx {
        let mut builder = WasiCtxBuilder::new();
        builder.allow_tcp(true).allow_udp(false).allow_ip_name_lookup(self.resolve);
        builder.socket_addr_check(crate::config::network::check(self.connect.clone(), denied));
        for name in &self.env {
            if let Ok(value) = std::env::var(name) {
                builder.env(name, value);
            }
        }
        for (i, dir) in self.dirs.iter().enumerate() {
            let perms = match dir.mode {
                DirMode::ReadOnly => FsPerms::ReadOnly,
                DirMode::ReadWrite => FsPerms::ReadWrite,
            };
            let host = opened.get(i).map_or_else(|| dir.host.clone(), |open| open.path(&dir.host));
            if let Err(err) = builder.preopened_dir(&host, &dir.guest, perms) {
                // Checked at load; a folder removed since then is not granted.
                tracing::warn!(target: "witplug::host", folder = %dir.host.display(), "not granted: {err}");
            }
        }
        if self.stdout {
            builder.inherit_stdout();
        }
        builder.stderr(stderr);
        builder.build()
    }

    /// One line per WASI or host interface saying what these grants give
    /// through it, for `witplug inspect`.
    pub fn describe(&self, import: &str) -> String {
        let interface = import.split('@').next().unwrap_or(import);
        let list = |items: &[String]| {
            if items.is_empty() { "none".to_owned() } else { items.join(", ") }
        };
        match interface {
            "witplug:plugin/host" => format!(
                "log, get-config; tools: {}; publish: {}; subscribe: {}",
                list(&self.tools),
                list(&self.publish),
                list(&self.subscribe)
            ),
            "witplug:plugin/client" => format!(
                "progress, resource updates; sampling: {}; elicitation: {}",
                if self.sampling { "granted" } else { "none" },
                if self.elicitation { "granted" } else { "none" }
            ),
            "witplug:plugin/mcp-types" => "types only".to_owned(),
            "wasi:filesystem/preopens" | "wasi:filesystem/types" => {
                let dirs: Vec<String> = self
                    .dirs
                    .iter()
                    .map(|d| {
                        let mode = match d.mode {
                            DirMode::ReadOnly => "read-only",
                            DirMode::ReadWrite => "read-write",
                        };
                        format!("{} -> {} ({mode})", d.host.display(), d.guest)
                    })
                    .collect();
                format!("folders: {}", list(&dirs))
            }
            "wasi:config/store" => "its configuration ([config]), read-only".to_owned(),
            "wasi:logging/logging" => "log lines, under the log-lines limit".to_owned(),
            i if i.starts_with("wasi:keyvalue/") => format!("buckets: {}", list(&self.keyvalue)),
            "wasi:cli/environment" => format!("variables: {}; no arguments", list(&self.env)),
            "wasi:cli/stdin" => "closed".to_owned(),
            "wasi:cli/stdout" => forwarded(self.stdout),
            "wasi:cli/stderr" => forwarded(self.stderr),
            i if i.starts_with("wasi:http/") => format!("HTTP to: {}", list(&self.http)),
            "wasi:sockets/ip-name-lookup" => {
                format!("name lookups: {}", if self.resolve { "granted" } else { "none" })
            }
            i if i.starts_with("wasi:sockets/") => {
                format!("TCP connections to: {}; no UDP, no listening", list(&self.connect))
            }
            i if ["wasi:cli/", "wasi:clocks/", "wasi:io/", "wasi:random/"]
                .iter()
                .any(|p| i.starts_with(p)) =>
            {
                "provided".to_owned()
            }
            "witplug:plugin/types" => "types only".to_owned(),
            _ => "not provided: fails to load".to_owned(),
        }
    }
}

/// A granted folder, opened at load, and a path that opens this very
/// folder whatever its name leads to later: on Linux its descriptor's entry
/// in `/proc/self/fd`; elsewhere (or without `/proc`) the granted path.
#[derive(Debug)]
pub(crate) struct OpenDir {
    _held: std::fs::File,
    path: Option<PathBuf>,
}

impl OpenDir {
    /// Opens `path` as a folder, never waiting (a FIFO there is refused).
    fn open(path: &Path) -> std::io::Result<Self> {
        let mut options = std::fs::File::options();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let flags = rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::NONBLOCK;
            options.custom_flags(i32::try_from(flags.bits()).unwrap_or(0));
        }
        let held = options.open(path)?;
        if !held.metadata()?.is_dir() {
            return Err(std::io::Error::other("not a folder"));
        }
        #[cfg(target_os = "linux")]
        let path = {
            use std::os::fd::AsRawFd;
            let by_fd = PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd()));
            by_fd.is_dir().then_some(by_fd)
        };
        #[cfg(not(target_os = "linux"))]
        let path = None;
        Ok(Self { _held: held, path })
    }

    fn path(&self, fallback: &Path) -> PathBuf {
        self.path.clone().unwrap_or_else(|| fallback.to_owned())
    }
}

fn forwarded(granted: bool) -> String {
    if granted { "forwarded to the host".to_owned() } else { "discarded".to_owned() }
}

/// Whether `topic` (or a tool's name) matches `pattern`: exact, `*` for
/// any, or `prefix.*` for any below `prefix.` (see [`Bus`](crate::bus::Bus)).
pub(crate) fn matches(pattern: &str, topic: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => topic.starts_with(prefix),
        _ => pattern == topic,
    }
}

/// Whether some topic matches both patterns (see [`matches`]).
fn overlap(a: &str, b: &str) -> bool {
    match (below(a), below(b)) {
        (Some(""), _) | (_, Some("")) => true,
        (Some(a), Some(b)) => a.starts_with(b) || b.starts_with(a),
        (Some(prefix), None) => b.starts_with(prefix),
        (None, Some(prefix)) => a.starts_with(prefix),
        (None, None) => a == b,
    }
}

/// The prefix of a pattern that matches what is below it (`prefix.*`, or
/// `*`: the empty prefix); `None` for an exact pattern.
fn below(pattern: &str) -> Option<&str> {
    pattern.strip_suffix('*').filter(|prefix| prefix.is_empty() || prefix.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_overlap_when_one_topic_matches_both() {
        for (a, b) in
            [("*", "x"), ("orders.*", "orders.new"), ("orders.*", "orders.eu.*"), ("news", "news")]
        {
            assert!(overlap(a, b) && overlap(b, a), "{a} and {b}");
        }
        for (a, b) in
            [("orders.*", "orders"), ("orders.*", "news.*"), ("news", "news.x"), ("ab.*", "a.*")]
        {
            assert!(!overlap(a, b) && !overlap(b, a), "{a} and {b}");
        }
    }

    #[test]
    fn nothing_is_granted_by_default() {
        let grants = Grants::default();
        assert!(!grants.may_call("upper"));
        assert!(!grants.may_publish("news"));
        assert!(!grants.may_receive("news"));
    }

    #[test]
    fn grants_match_as_patterns() {
        let grants: Grants =
            toml::from_str("tools = [\"search.*\", \"upper\"]\npublish = [\"*\"]\n").unwrap();
        assert!(grants.may_call("upper"));
        assert!(grants.may_call("search.web"));
        assert!(!grants.may_call("uppercase"));
        assert!(grants.may_publish("anything"));
    }

    #[test]
    fn dirs_are_anchored_and_must_exist() {
        let mut grants: Grants =
            toml::from_str("[[dirs]]\nhost = \"src\"\nguest = \"/src\"\n").unwrap();
        grants.anchor(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(grants.dirs[0].host.ends_with("host/src"));
        assert_eq!(grants.dirs[0].mode, DirMode::ReadOnly);
        let mut missing: Grants =
            toml::from_str("[[dirs]]\nhost = \"nope\"\nguest = \"/x\"\nmode = \"read-write\"\n")
                .unwrap();
        assert!(missing.anchor(Path::new("/nonexistent")).unwrap_err().contains("not a folder"));
    }
}
