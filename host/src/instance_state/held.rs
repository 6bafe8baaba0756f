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
//! functions that make such a resource are wrapped (`imports/sockets.rs`,
//! `imports/http.rs`), so a call that makes none pays nothing; this file
//! keeps the account.

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;
use wasmtime_wasi::p2::{SocketError, TcpSocket};
use wasmtime_wasi_http::FieldMap;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::HeaderResult;
use wasmtime_wasi_http::p2::bindings::http::types::HeaderError;
use wasmtime_wasi_http::p2::body::HostOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostOutgoingRequest, HostOutgoingResponse};

use crate::config::http_origins::body_buffer_size;
use crate::config::limits::Budget;
use crate::instance_state::PluginState;
use crate::instance_state::limiter::LimitHit;

/// The largest header map the host keeps for a plugin, when its
/// `host-memory` budget is larger (wasmtime-wasi-http's own default).
const MAX_HEADER_MAP: u64 = 128 << 10;

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

/// What a resource the host holds for an instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
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

impl PluginState {
    /// Charges one more header map to `host-memory`, or stops the call at
    /// the budget.
    pub(crate) fn charge_header_map(&mut self) -> wasmtime::Result<()> {
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
    pub(crate) fn charged_body(
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

    /// Records a header map, or a request or response holding one, that
    /// the instance just made, so that it is charged while it lives.
    pub(crate) fn hold_map(&mut self, rep: u32, kind: Kind) {
        Held::record(&mut self.held.header_maps, &self.table, rep, kind);
    }

    /// Records a TCP socket the instance just made, against `sockets`.
    pub(crate) fn hold_socket(&mut self, rep: u32) {
        Held::record(&mut self.held.sockets, &self.table, rep, Kind::Tcp);
    }

    /// Records the map `from-list` made, or gives back its error.
    pub(crate) fn record_fields(
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
    pub(crate) fn admit_tcp(&mut self) -> Result<(), SocketError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_map_is_charged_at_most_the_largest_map() {
        assert_eq!(header_map_size(16 << 20), 128 << 10);
        assert_eq!(header_map_size(64 << 10), 64 << 10);
    }
}
