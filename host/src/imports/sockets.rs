//! `wasi:sockets`, guarded: name lookups behind the `resolve` grant, and
//! the constructors of sockets behind the `connect` grants and the
//! `sockets` budget. Every other function is wasmtime-wasi's, unchanged.
//!
//! Name lookups:
//!
//! wasmtime-wasi answers a lookup it was not allowed with
//! `permanent-resolver-failure`, which a plugin cannot tell from a broken
//! resolver. witplug refuses it as it refuses every use of something not
//! granted: with the interface's own `access-denied`, logged, counted in
//! [`Metrics::denied`](crate::Metrics::denied) and told as an
//! [`Event::Denied`](crate::Event::Denied) naming `resolve:<name>`. A
//! granted lookup runs as wasmtime-wasi runs it.

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    self, HostResolveAddressStream, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{
    self, ErrorCode, IpAddress, IpAddressFamily, Network,
};
use wasmtime_wasi::p2::bindings::sockets::{tcp_create_socket, udp_create_socket};
use wasmtime_wasi::p2::{DynPollable, SocketError, TcpSocket, UdpSocket};
use wasmtime_wasi::sockets::WasiSocketsView;

use crate::instance_state::PluginState;
use crate::text::sanitize;

/// The longest name a refusal quotes: a valid DNS name is at most 253
/// bytes, and a hostile plugin's longer one (or one with newlines) must
/// not flood or forge the log.
const QUOTED: usize = 253;

/// Replaces wasmtime-wasi's `ip-name-lookup`, `tcp-create-socket` and
/// `udp-create-socket` in `linker` (which already holds them and allows
/// shadowing) with the guarded ones.
pub(crate) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    ip_name_lookup::add_to_linker::<PluginState, Guarded>(linker, |state| Guard { state })?;
    tcp_create_socket::add_to_linker::<PluginState, Guarded>(linker, |state| Guard { state })?;
    udp_create_socket::add_to_linker::<PluginState, Guarded>(linker, |state| Guard { state })?;
    Ok(())
}

/// The guarded `wasi:sockets` functions, reached through a [`Guard`].
pub(crate) struct Guarded;

impl HasData for Guarded {
    type Data<'a> = Guard<'a>;
}

/// One instance's guarded sockets functions, seen from its store.
pub(crate) struct Guard<'a> {
    pub(crate) state: &'a mut PluginState,
}

impl ip_name_lookup::Host for Guard<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> Result<Resource<ResolveAddressStream>, SocketError> {
        if !self.state.plugin.grants.resolve {
            self.state.deny(&format!("resolve:{}", sanitize(&name, QUOTED)));
            return Err(ErrorCode::AccessDenied.into());
        }
        ip_name_lookup::Host::resolve_addresses(&mut self.state.sockets(), network, name)
    }
}

/// How the lookup's errors reach the plugin: as wasmtime-wasi delivers them.
impl network::Host for Guard<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        self.state.sockets().convert_error_code(error)
    }

    fn network_error_code(
        &mut self,
        error: Resource<network::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        self.state.sockets().network_error_code(error)
    }
}

impl network::HostNetwork for Guard<'_> {
    fn drop(&mut self, network: Resource<Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.state.sockets(), network)
    }
}

impl HostResolveAddressStream for Guard<'_> {
    fn resolve_next_address(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> Result<Option<IpAddress>, SocketError> {
        self.state.sockets().resolve_next_address(stream)
    }

    fn subscribe(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.state.sockets().subscribe(stream)
    }

    fn drop(&mut self, stream: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        HostResolveAddressStream::drop(&mut self.state.sockets(), stream)
    }
}

impl tcp_create_socket::Host for Guard<'_> {
    fn create_tcp_socket(
        &mut self,
        family: IpAddressFamily,
    ) -> Result<Resource<TcpSocket>, SocketError> {
        self.state.admit_tcp()?;
        let socket = tcp_create_socket::Host::create_tcp_socket(&mut self.state.sockets(), family)?;
        self.state.hold_socket(socket.rep());
        Ok(socket)
    }
}

impl udp_create_socket::Host for Guard<'_> {
    async fn create_udp_socket(
        &mut self,
        _family: IpAddressFamily,
    ) -> Result<Resource<UdpSocket>, SocketError> {
        // No grant gives UDP: refused before an OS socket is made.
        self.state.deny("udp");
        Err(ErrorCode::AccessDenied.into())
    }
}
