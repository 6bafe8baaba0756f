//! What the host holds on one instance's behalf, charged to that instance:
//! sockets, header maps and outgoing HTTP bodies (each at the most it
//! buffers unsent) are counted when the plugin makes them and
//! released when they leave its resource table, whichever way they leave
//! (dropped, consumed, or the instance thrown away).
//!
//! The instance's own memory is counted by the limiter; this is the rest.
//! Each budget has its limit in [`Limits`](crate::Limits) (`sockets`,
//! `host-memory`), and wasmtime's own caps take theirs from `handles`
//! (the store's component handles and the resource table). Only the
//! functions that make such a resource are wrapped here, so a call that
//! makes none pays nothing.

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sockets::{tcp_create_socket, udp_create_socket};
use wasmtime_wasi::p2::{SocketError, TcpSocket, UdpSocket};
use wasmtime_wasi::sockets::WasiSocketsView;
use wasmtime_wasi_http::FieldMap;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::HeaderResult;
use wasmtime_wasi_http::p2::bindings::http::types::{self, HeaderError, HostFields};
use wasmtime_wasi_http::p2::body::HostOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostOutgoingRequest, HostOutgoingResponse};

use crate::config::http_origins::body_buffer_size;
use crate::config::limits::Budget;
use crate::instance_state::PluginState;
use crate::instance_state::limiter::LimitHit;
use crate::instance_state::lookups::{Guard, Guarded};

/// The largest header map the host keeps for a plugin, when its
/// `host-memory` budget is larger (wasmtime-wasi-http's own default).
const MAX_HEADER_MAP: u64 = 128 << 10;

/// The `wasi:http/types` version whose constructors are wrapped: the one
/// wasmtime-wasi-http links (a component importing an older 0.2.x is
/// served by the same functions).
const HTTP_TYPES: &str = "wasi:http/types@0.2.12";

/// The resources one instance holds in the host, by kind, as indices into
/// its resource table.
#[derive(Debug, Default)]
pub(crate) struct Held {
    sockets: Vec<Entry>,
    header_maps: Vec<Entry>,
    bodies: Vec<Entry>,
}

/// A resource the instance made, and what type it has in the table.
#[derive(Debug, Clone, Copy)]
struct Entry {
    rep: u32,
    kind: Kind,
    /// For a body, the request or response it was made for: once the body
    /// is dropped unfinished, what it buffered stays with them.
    owner: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Fields,
    Request,
    Response,
    Body,
}

impl Entry {
    /// Whether the table still holds it (a freed index reused for another
    /// type, or for another resource of the same kind, counts once).
    fn live(self, table: &ResourceTable) -> bool {
        let rep = self.rep;
        match self.kind {
            Kind::Tcp => table.get(&Resource::<TcpSocket>::new_own(rep)).is_ok(),
            Kind::Fields => table.get(&Resource::<FieldMap>::new_own(rep)).is_ok(),
            Kind::Request => table.get(&Resource::<HostOutgoingRequest>::new_own(rep)).is_ok(),
            Kind::Response => table.get(&Resource::<HostOutgoingResponse>::new_own(rep)).is_ok(),
            Kind::Body => {
                let owner = self.owner;
                table.get(&Resource::<HostOutgoingBody>::new_own(rep)).is_ok()
                    || table.get(&Resource::<HostOutgoingRequest>::new_own(owner)).is_ok()
                    || table.get(&Resource::<HostOutgoingResponse>::new_own(owner)).is_ok()
            }
        }
    }
}

impl Held {
    /// How many of `list` the table still holds, forgetting the others.
    fn live(list: &mut Vec<Entry>, table: &ResourceTable) -> u64 {
        list.retain(|entry| entry.live(table));
        list.sort_unstable_by_key(|entry| (entry.rep, entry.kind as u8));
        list.dedup_by_key(|entry| (entry.rep, entry.kind as u8));
        list.len() as u64
    }

    /// Records a new resource, first forgetting those the table no longer
    /// holds, so the list never outgrows the table.
    fn record(list: &mut Vec<Entry>, table: &ResourceTable, rep: u32, kind: Kind) {
        Self::live(list, table);
        list.push(Entry { rep, kind, owner: u32::MAX });
    }

    /// The header maps `list` holds: a request or a response counts two,
    /// its headers and the trailers it may be finished with.
    fn maps(list: &[Entry]) -> u64 {
        list.iter().map(|entry| if entry.kind == Kind::Fields { 1 } else { 2 }).sum()
    }
}

/// The bytes one header map may hold: every map is charged this much to
/// the `host-memory` budget, whatever it holds now, since the plugin can
/// fill it up to there without making anything new.
pub(crate) fn header_map_size(host_memory: u64) -> u64 {
    host_memory.min(MAX_HEADER_MAP)
}

/// Replaces the functions of wasmtime-wasi and wasmtime-wasi-http that make
/// a socket or a header map, in `linker` (which already holds them), with
/// ones that charge the instance first.
pub(crate) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = add(linker);
    linker.allow_shadowing(false);
    added
}

fn add(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    tcp_create_socket::add_to_linker::<PluginState, Guarded>(linker, |state| Guard { state })?;
    udp_create_socket::add_to_linker::<PluginState, Guarded>(linker, |state| Guard { state })?;
    let mut types = linker.instance(HTTP_TYPES)?;
    types.func_wrap("[constructor]fields", |mut store: StoreContextMut<'_, PluginState>, ()| {
        let state = store.data_mut();
        state.charge_header_map()?;
        let fields = HostFields::new(&mut state.http())?;
        Held::record(&mut state.held.header_maps, &state.table, fields.rep(), Kind::Fields);
        Ok((fields,))
    })?;
    types.func_wrap(
        "[static]fields.from-list",
        |mut store: StoreContextMut<'_, PluginState>, (entries,): (Vec<(String, Vec<u8>)>,)| {
            let state = store.data_mut();
            state.charge_header_map()?;
            let made = HostFields::from_list(&mut state.http(), entries);
            Ok((state.record_fields(made)?,))
        },
    )?;
    types.func_wrap(
        "[method]fields.clone",
        |mut store: StoreContextMut<'_, PluginState>, (fields,): (Resource<FieldMap>,)| {
            let state = store.data_mut();
            state.charge_header_map()?;
            let copy = HostFields::clone(&mut state.http(), fields)?;
            Held::record(&mut state.held.header_maps, &state.table, copy.rep(), Kind::Fields);
            Ok((copy,))
        },
    )?;
    // A request or response takes its header map over: the map it holds
    // stays charged, under the new resource's index.
    types.func_wrap(
        "[constructor]outgoing-request",
        |mut store: StoreContextMut<'_, PluginState>, (headers,): (Resource<FieldMap>,)| {
            let state = store.data_mut();
            let request = wasmtime_wasi_http::p2::bindings::http::types::HostOutgoingRequest::new(
                &mut state.http(),
                headers,
            )?;
            Held::record(&mut state.held.header_maps, &state.table, request.rep(), Kind::Request);
            Ok((request,))
        },
    )?;
    types.func_wrap(
        "[constructor]outgoing-response",
        |mut store: StoreContextMut<'_, PluginState>, (headers,): (Resource<FieldMap>,)| {
            let state = store.data_mut();
            let response =
                wasmtime_wasi_http::p2::bindings::http::types::HostOutgoingResponse::new(
                    &mut state.http(),
                    headers,
                )?;
            Held::record(&mut state.held.header_maps, &state.table, response.rep(), Kind::Response);
            Ok((response,))
        },
    )?;
    // A body buffers what the plugin writes until it is sent: charged at
    // the most it holds, from when it is made until it leaves the table.
    types.func_wrap(
        "[method]outgoing-request.body",
        |mut store: StoreContextMut<'_, PluginState>,
         (request,): (Resource<HostOutgoingRequest>,)| {
            let owner = request.rep();
            store
                .data_mut()
                .charged_body(owner, |http| types::HostOutgoingRequest::body(http, request))
        },
    )?;
    types.func_wrap(
        "[method]outgoing-response.body",
        |mut store: StoreContextMut<'_, PluginState>,
         (response,): (Resource<HostOutgoingResponse>,)| {
            let owner = response.rep();
            store
                .data_mut()
                .charged_body(owner, |http| types::HostOutgoingResponse::body(http, response))
        },
    )?;
    Ok(())
}

impl PluginState {
    /// Charges one more header map to `host-memory`, or stops the call at
    /// the budget.
    fn charge_header_map(&mut self) -> wasmtime::Result<()> {
        let each = header_map_size(self.plugin.limits.host_memory);
        if self.host_memory_held() + each > self.plugin.limits.host_memory {
            return Err(wasmtime::Error::new(LimitHit::Budget(Budget::HostMemory)));
        }
        Ok(())
    }

    /// Charges one more outgoing body to `host-memory`, or stops the call
    /// at the budget.
    fn charge_body(&mut self) -> wasmtime::Result<()> {
        let each = body_buffer_size(self.plugin.limits.host_memory);
        if self.host_memory_held() + each > self.plugin.limits.host_memory {
            return Err(wasmtime::Error::new(LimitHit::Budget(Budget::HostMemory)));
        }
        Ok(())
    }

    /// Makes the body of the request or response `owner` with `make`,
    /// charged first and recorded if made.
    fn charged_body(
        &mut self,
        owner: u32,
        make: impl FnOnce(
            &mut wasmtime_wasi_http::WasiHttpCtxView<'_>,
        ) -> wasmtime::Result<Result<Resource<HostOutgoingBody>, ()>>,
    ) -> wasmtime::Result<(Result<Resource<HostOutgoingBody>, ()>,)> {
        self.charge_body()?;
        let made = make(&mut self.http())?;
        if let Ok(body) = &made {
            Held::live(&mut self.held.bodies, &self.table);
            let entry = Entry { rep: body.rep(), kind: Kind::Body, owner };
            self.held.bodies.push(entry);
        }
        Ok((made,))
    }

    /// The bytes of `host-memory` the instance's header maps, outgoing
    /// bodies, responses in flight and compare-and-swap handles hold now.
    pub(crate) fn host_memory_held(&mut self) -> u64 {
        let limit = self.plugin.limits.host_memory;
        Held::live(&mut self.held.header_maps, &self.table);
        let maps = Held::maps(&self.held.header_maps).saturating_mul(header_map_size(limit));
        let bodies = Held::live(&mut self.held.bodies, &self.table);
        let bodies = bodies.saturating_mul(body_buffer_size(limit));
        let responses = self.origins.responses_held();
        maps.saturating_add(bodies).saturating_add(responses).saturating_add(self.cas_bytes)
    }

    /// Records the map `from-list` made, or gives back its error.
    fn record_fields(
        &mut self,
        made: HeaderResult<Resource<FieldMap>>,
    ) -> wasmtime::Result<Result<Resource<FieldMap>, HeaderError>> {
        match made {
            Ok(fields) => {
                Held::record(&mut self.held.header_maps, &self.table, fields.rep(), Kind::Fields);
                Ok(Ok(fields))
            }
            Err(err) => err.downcast().map(Err),
        }
    }

    /// Whether one more TCP socket fits the `sockets` budget; refuses it
    /// (and says why) when it does not, or when no `connect` grant needs one.
    fn admit_tcp(&mut self) -> Result<(), SocketError> {
        if self.plugin.grants.connect.is_empty() {
            // wasmtime-wasi would open a real OS socket before it checks
            // any address: without a grant there is nothing to open it for.
            self.deny("socket:tcp");
            return Err(ErrorCode::AccessDenied.into());
        }
        let held = Held::live(&mut self.held.sockets, &self.table);
        if held >= self.plugin.limits.sockets {
            tracing::debug!(target: "witplug::host", plugin = self.plugin.name.as_str(), "socket refused: {held} open, the budget");
            return Err(ErrorCode::NewSocketLimit.into());
        }
        Ok(())
    }
}

impl tcp_create_socket::Host for Guard<'_> {
    fn create_tcp_socket(
        &mut self,
        family: IpAddressFamily,
    ) -> Result<Resource<TcpSocket>, SocketError> {
        self.state.admit_tcp()?;
        let socket = tcp_create_socket::Host::create_tcp_socket(&mut self.state.sockets(), family)?;
        Held::record(&mut self.state.held.sockets, &self.state.table, socket.rep(), Kind::Tcp);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_map_is_charged_at_most_the_largest_map() {
        assert_eq!(header_map_size(16 << 20), 128 << 10);
        assert_eq!(header_map_size(64 << 10), 64 << 10);
    }
}
