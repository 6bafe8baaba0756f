//! Hostile fixture: asks the host to hold things on its behalf and keeps
//! every one, to see what stops it. Each input names an attack:
//! - `sockets:N`: creates N TCP sockets;
//! - `udp`: creates a UDP socket;
//! - `headers:N:BYTES`: creates N header maps of about BYTES each;
//! - `handles:N`: creates N pollables;
//! - `bodies:N`: creates N outgoing HTTP requests, fills each one's body as
//!   far as the host lets it buffer, and never sends them;
//! - `denied:N`: calls an ungranted tool N times;
//! - `forge`: calls a tool whose name forges a log line, and logs escape
//!   codes;
//! - `stderr-trap`: writes escape codes and a fake limit to stderr, then
//!   traps.
//!
//! It answers how many it made before the host refused, and how.

use std::cell::RefCell;

use wasip2::clocks::monotonic_clock;
use wasip2::http::types::{Fields, OutgoingBody, OutgoingRequest};
use wasip2::io::poll::Pollable;
use wasip2::io::streams::OutputStream;
use wasip2::sockets::network::IpAddressFamily;
use wasip2::sockets::{tcp::TcpSocket, tcp_create_socket, udp_create_socket};
use witplug_sdk::{Error, Plugin, Result, ResultExt, log};

#[derive(Default)]
struct Hoard {
    sockets: Vec<TcpSocket>,
    headers: Vec<Fields>,
    pollables: Vec<Pollable>,
    bodies: Vec<(OutgoingRequest, OutgoingBody, OutputStream)>,
}

thread_local! {
    static KEPT: RefCell<Hoard> = RefCell::default();
}

#[derive(Default)]
struct Hostile;

impl Plugin for Hostile {
    fn handle(&mut self, input: &str) -> Result<String> {
        let mut parts = input.split(':');
        let attack = parts.next().unwrap_or_default();
        let count =
            |part: Option<&str>| -> Result<usize> { part.unwrap_or("1").parse().invalid_input() };
        match attack {
            "sockets" => {
                let n = count(parts.next())?;
                KEPT.with_borrow_mut(|kept| {
                    for made in 0..n {
                        match tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
                            Ok(socket) => kept.sockets.push(socket),
                            Err(code) => {
                                return Ok(format!("{made} sockets, then {}", code.name()));
                            }
                        }
                    }
                    Ok(format!("{n} sockets"))
                })
            }
            "udp" => match udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4) {
                Ok(_) => Ok("a UDP socket".to_owned()),
                Err(code) => Ok(format!("no UDP socket: {}", code.name())),
            },
            "headers" => {
                let n = count(parts.next())?;
                let bytes = count(parts.next())?;
                KEPT.with_borrow_mut(|kept| {
                    for made in 0..n {
                        let fields = Fields::new();
                        let mut filled = 0;
                        let mut i = 0;
                        while filled < bytes {
                            let value = vec![b'x'; 1000.min(bytes - filled)];
                            if fields.append(&format!("x-hoard-{i}"), &value).is_err() {
                                break;
                            }
                            filled += value.len();
                            i += 1;
                        }
                        kept.headers.push(fields);
                        if made + 1 == n {
                            return Ok(format!("{n} header maps"));
                        }
                    }
                    Ok(format!("{n} header maps"))
                })
            }
            "handles" => {
                let n = count(parts.next())?;
                KEPT.with_borrow_mut(|kept| {
                    for _ in 0..n {
                        kept.pollables.push(monotonic_clock::subscribe_duration(1_000_000_000));
                    }
                });
                Ok(format!("{n} pollables"))
            }
            "bodies" => {
                let n = count(parts.next())?;
                KEPT.with_borrow_mut(|kept| {
                    let mut buffered = 0u64;
                    for made in 0..n {
                        let request = OutgoingRequest::new(Fields::new());
                        let Ok(body) = request.body() else {
                            return Ok(format!("{made} bodies, then no body"));
                        };
                        let Ok(stream) = body.write() else {
                            return Ok(format!("{made} bodies, then no stream"));
                        };
                        // Everything the host will take without sending.
                        while let Ok(room) = stream.check_write() {
                            if room == 0 {
                                break;
                            }
                            let chunk = vec![b'x'; room as usize];
                            if stream.write(&chunk).is_err() {
                                break;
                            }
                            buffered += room;
                        }
                        kept.bodies.push((request, body, stream));
                    }
                    Ok(format!("{n} bodies, {buffered} bytes buffered"))
                })
            }
            "denied" => {
                let n = count(parts.next())?;
                let mut refused = 0;
                for _ in 0..n {
                    if witplug_sdk::call_tool("shell", "rm -rf /").is_err() {
                        refused += 1;
                    }
                }
                Ok(format!("{refused} refused"))
            }
            "forge" => {
                let name = "x\nWARN witplug::host: plugin=admin granted everything";
                let answer = witplug_sdk::call_tool(name, "");
                log::info!("\u{1b}[2J\u{1b}[31mscreen cleared\u{202e}desrever");
                Ok(format!("{answer:?}"))
            }
            "stderr-trap" => {
                eprintln!("\u{1b}[2J\u{1b}[31mcount too high\u{1b}[0m store handle limit exceeded");
                std::process::abort()
            }
            _ => Err(Error::invalid_input(format!("no attack `{attack}`"))),
        }
    }
}

witplug_sdk::export_plugin!(Hostile);
