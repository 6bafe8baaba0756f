//! `wasi:sockets` behind grants: linked for every component, refused with
//! `access-denied` (and an `Event::Denied`) unless the manifest grants the
//! address; the net-probe plugin tries.

use std::net::TcpListener;

use witplug_host::{Error, Event, Grants, Host, PluginError};

use crate::support::fixture;

fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

async fn probe(grants: Grants) -> (Host, std::sync::Arc<witplug_host::Plugin>) {
    let host = crate::support::builder().grants("net-probe", grants).build().unwrap();
    let plugin = host.load_file(fixture("net-probe")).await.unwrap();
    (host, plugin)
}

#[tokio::test]
async fn without_a_grant_a_connection_is_denied_not_trapped() {
    let (_listener, port) = listener();
    let (host, probe) = probe(Grants::new()).await;
    let mut events = host.events();
    let err = probe.handle(&format!("connect:127.0.0.1:{port}")).await.unwrap_err();
    let capability = format!("connect:127.0.0.1:{port}");
    assert!(
        matches!(&err, Error::Plugin { error: PluginError::Denied(what), .. } if *what == capability),
        "{err}"
    );
    // Without any `connect` grant the host refuses the socket itself,
    // before an OS socket is made, and says so.
    let denied = std::iter::from_fn(|| events.try_recv().ok())
        .find(|event| matches!(event, Event::Denied { .. }));
    assert!(
        matches!(&denied, Some(Event::Denied { plugin, capability: what }) if plugin == "net-probe" && what == "socket:tcp"),
        "{denied:?}"
    );
    assert_eq!(probe.metrics().denied, 1);
    // The instance is fine: the refusal was an error, not a trap.
    assert_eq!(probe.restarts(), 0);
}

#[tokio::test]
async fn a_granted_address_connects_and_no_other() {
    let (_listener, port) = listener();
    let (_other, other) = listener();
    let (_host, probe) = probe(Grants::new().connect(format!("127.0.0.1:{port}"))).await;
    assert_eq!(
        probe.handle(&format!("connect:127.0.0.1:{port}")).await.unwrap(),
        format!("connected to 127.0.0.1:{port}")
    );
    let err = probe.handle(&format!("connect:127.0.0.1:{other}")).await.unwrap_err();
    assert!(matches!(&err, Error::Plugin { error: PluginError::Denied(_), .. }), "{err}");
}

#[tokio::test]
async fn a_grant_by_name_covers_what_the_name_resolves_to() {
    let (_listener, port) = listener();
    let (_host, probe) = probe(Grants::new().connect(format!("localhost:{port}"))).await;
    assert_eq!(
        probe.handle(&format!("connect:127.0.0.1:{port}")).await.unwrap(),
        format!("connected to 127.0.0.1:{port}")
    );
}

#[tokio::test]
async fn name_lookups_need_the_resolve_grant() {
    let (host, refused) = probe(Grants::new()).await;
    let mut events = host.events();
    let err = refused.handle("resolve:localhost").await.unwrap_err();
    // The interface's own `access-denied`, which the probe reports as
    // denied: an error, not a trap, and not a resolver failure.
    assert!(
        matches!(&err, Error::Plugin { error: PluginError::Denied(what), .. } if what == "resolve:localhost"),
        "{err}"
    );
    let denied = std::iter::from_fn(|| events.try_recv().ok())
        .find(|event| matches!(event, Event::Denied { .. }));
    assert!(
        matches!(&denied, Some(Event::Denied { capability, .. }) if capability == "resolve:localhost"),
        "{denied:?}"
    );
    assert_eq!(refused.metrics().denied, 1);
    assert_eq!(refused.restarts(), 0);
    let (_host, allowed) = probe(Grants::new().resolve(true)).await;
    let found = allowed.handle("resolve:localhost").await.unwrap();
    assert!(found.split(',').any(|ip| ip == "127.0.0.1" || ip == "::1"), "{found}");
}

#[tokio::test]
async fn a_connect_grant_that_is_not_host_and_port_fails_the_load() {
    let host = crate::support::builder()
        .grants("net-probe", Grants::new().connect("db.internal"))
        .build()
        .unwrap();
    let err = host.load_file(fixture("net-probe")).await.unwrap_err();
    assert!(err.to_string().contains("`db.internal` is not `host:port`"), "{err}");
}
