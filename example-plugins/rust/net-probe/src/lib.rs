//! Shows `wasi:sockets` behind grants: `connect:<ip>:<port>` opens a TCP
//! connection, `resolve:<name>` looks a name up. Either works only where
//! the manifest grants it (`connect = ["127.0.0.1:8080"]`, `resolve =
//! true`); otherwise the host answers `access-denied`, an error like any
//! other, which this plugin returns as `denied`.

use std::net::{IpAddr, SocketAddr};

use wasip2::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasip2::sockets::{instance_network, ip_name_lookup, tcp_create_socket};
use witplug_sdk::{Error, Plugin, Result, ResultExt};

#[derive(Default)]
struct NetProbe;

impl Plugin for NetProbe {
    fn handle(&mut self, input: &str) -> Result<String> {
        match input.split_once(':') {
            Some(("connect", address)) => {
                let address: SocketAddr = address.parse().invalid_input()?;
                connect(address).map_err(|code| refused(code, format!("connect:{address}")))?;
                Ok(format!("connected to {address}"))
            }
            Some(("resolve", name)) => {
                let found =
                    resolve(name).map_err(|code| refused(code, format!("resolve:{name}")))?;
                Ok(found.join(","))
            }
            _ => Err(Error::invalid_input("expected `connect:<ip>:<port>` or `resolve:<name>`")),
        }
    }
}

witplug_sdk::export_plugin!(NetProbe);

/// Access denied is the host's refusal; anything else a failure.
fn refused(code: ErrorCode, what: String) -> Error {
    match code {
        ErrorCode::AccessDenied => Error::Denied(what),
        other => Error::failed(format!("{what}: {}", other.name())),
    }
}

fn connect(address: SocketAddr) -> std::result::Result<(), ErrorCode> {
    let network = instance_network::instance_network();
    let (family, remote) = match address {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            let remote = Ipv4SocketAddress { port: v4.port(), address: (a, b, c, d) };
            (IpAddressFamily::Ipv4, IpSocketAddress::Ipv4(remote))
        }
        SocketAddr::V6(v6) => {
            let s = v6.ip().segments();
            let address = (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
            let remote = Ipv6SocketAddress { port: v6.port(), flow_info: 0, address, scope_id: 0 };
            (IpAddressFamily::Ipv6, IpSocketAddress::Ipv6(remote))
        }
    };
    let socket = tcp_create_socket::create_tcp_socket(family)?;
    socket.start_connect(&network, remote)?;
    loop {
        match socket.finish_connect() {
            Ok(_streams) => return Ok(()),
            Err(ErrorCode::WouldBlock) => socket.subscribe().block(),
            Err(other) => return Err(other),
        }
    }
}

fn resolve(name: &str) -> std::result::Result<Vec<String>, ErrorCode> {
    let network = instance_network::instance_network();
    let addresses = ip_name_lookup::resolve_addresses(&network, name)?;
    let mut found = Vec::new();
    loop {
        match addresses.resolve_next_address() {
            Ok(Some(IpAddress::Ipv4((a, b, c, d)))) => {
                found.push(IpAddr::from([a, b, c, d]).to_string());
            }
            Ok(Some(IpAddress::Ipv6((a, b, c, d, e, f, g, h)))) => {
                found.push(IpAddr::from([a, b, c, d, e, f, g, h]).to_string());
            }
            Ok(None) => return Ok(found),
            Err(ErrorCode::WouldBlock) => addresses.subscribe().block(),
            Err(other) => return Err(other),
        }
    }
}
