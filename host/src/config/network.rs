//! What a plugin may reach through `wasi:sockets`: TCP connections to the
//! addresses its `connect` grants name, and nothing else (no UDP, no
//! listening). Everything else is refused with the interface's own
//! `access-denied`, which the plugin sees as an ordinary error.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use wasmtime_wasi::sockets::SocketAddrUse;

type Verdict = Pin<Box<dyn Future<Output = bool> + Send + Sync>>;

/// The check wasmtime-wasi runs for every socket address a plugin uses:
/// a connection to an address of `connect` (`host:port`, a name resolved
/// now) passes, as does the implicit bind that precedes it; anything else
/// is refused and reported to `denied` as `connect:<address>` (or
/// `bind:`, `listen:`, `udp:`).
pub(crate) fn check(
    connect: Vec<String>,
    denied: impl Fn(String) + Send + Sync + 'static,
) -> impl Fn(SocketAddr, SocketAddrUse) -> Verdict + Send + Sync + 'static {
    let connect: Arc<[String]> = connect.into();
    let denied = Arc::new(denied);
    move |addr, used| {
        let (connect, denied) = (connect.clone(), denied.clone());
        Box::pin(async move {
            let allowed = match used {
                // The implicit bind of a connecting socket: any local port.
                SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                SocketAddrUse::TcpConnect => granted(&connect, addr).await,
                _ => false,
            };
            if !allowed {
                let what = match used {
                    SocketAddrUse::TcpConnect => "connect",
                    SocketAddrUse::TcpBind => "bind",
                    SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => "listen",
                    _ => "udp",
                };
                denied(format!("{what}:{addr}"));
            }
            allowed
        })
    }
}

/// Whether one of the `host:port` grants names `addr`.
async fn granted(grants: &[String], addr: SocketAddr) -> bool {
    for grant in grants {
        let Some((host, port)) = split(grant) else { continue };
        if port != addr.port() {
            continue;
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            if ip == addr.ip() {
                return true;
            }
            continue;
        }
        // A name: whatever it resolves to now. The lookup runs as a task of
        // its own, so this future stays `Sync`.
        let lookup = tokio::spawn(tokio::net::lookup_host((host.to_owned(), port)));
        if let Ok(Ok(mut found)) = lookup.await
            && found.any(|resolved| resolved == addr)
        {
            return true;
        }
    }
    false
}

/// `host:port`, or `[v6]:port`, as host and port.
fn split(grant: &str) -> Option<(&str, u16)> {
    let (host, port) = grant.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    Some((host, port.parse().ok()?))
}

/// Checks a `connect` grant when the manifest is read.
pub(crate) fn check_grant(grant: &str) -> Result<(), String> {
    match split(grant) {
        Some((host, _)) if !host.is_empty() => Ok(()),
        _ => Err(format!("`connect`: `{grant}` is not `host:port`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_granted_connections_and_their_binds_pass() {
        let refused = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = refused.clone();
        let check = check(vec!["127.0.0.1:8080".into(), "localhost:9090".into()], move |what| {
            seen.lock().unwrap().push(what)
        });
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(check(addr("127.0.0.1:8080"), SocketAddrUse::TcpConnect).await);
        assert!(check(addr("0.0.0.0:0"), SocketAddrUse::TcpBind).await);
        assert!(check(addr("127.0.0.1:9090"), SocketAddrUse::TcpConnect).await);
        assert!(!check(addr("127.0.0.1:8081"), SocketAddrUse::TcpConnect).await);
        assert!(!check(addr("10.0.0.1:8080"), SocketAddrUse::TcpConnect).await);
        assert!(!check(addr("0.0.0.0:8080"), SocketAddrUse::TcpBind).await);
        assert!(!check(addr("0.0.0.0:8080"), SocketAddrUse::TcpListen).await);
        assert!(!check(addr("127.0.0.1:8080"), SocketAddrUse::UdpBind).await);
        assert_eq!(
            *refused.lock().unwrap(),
            [
                "connect:127.0.0.1:8081",
                "connect:10.0.0.1:8080",
                "bind:0.0.0.0:8080",
                "listen:0.0.0.0:8080",
                "udp:127.0.0.1:8080"
            ]
        );
    }

    #[test]
    fn grants_are_host_and_port() {
        assert!(check_grant("db.internal:5432").is_ok());
        assert!(check_grant("[::1]:80").is_ok());
        assert!(check_grant("db.internal").is_err());
        assert!(check_grant(":80").is_err());
        assert!(check_grant("host:http").is_err());
    }
}
