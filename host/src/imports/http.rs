//! `wasi:http/types`, charged: the constructors that make a header map, a
//! request, a response or an outgoing body are wasmtime-wasi-http's own,
//! after the instance is charged for what the host will hold for it
//! (`instance_state/held.rs` keeps the account). Every other function is
//! wasmtime-wasi-http's, unchanged; the origins a request may reach are
//! checked by `config/http_origins.rs` when it is sent.

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi_http::FieldMap;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{self, HostFields};
use wasmtime_wasi_http::p2::types::{HostOutgoingRequest, HostOutgoingResponse};

use crate::instance_state::PluginState;
use crate::instance_state::held::Kind;

/// The `wasi:http/types` version whose constructors are wrapped: the one
/// wasmtime-wasi-http links (a component importing an older 0.2.x is
/// served by the same functions).
const HTTP_TYPES: &str = "wasi:http/types@0.2.12";

/// Replaces the functions of wasmtime-wasi-http that make a header map, a
/// request, a response or an outgoing body, in `linker` (which already
/// holds them and allows shadowing), with ones that charge the instance
/// first.
pub(crate) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    let mut types = linker.instance(HTTP_TYPES)?;
    types.func_wrap("[constructor]fields", |mut store: StoreContextMut<'_, PluginState>, ()| {
        let state = store.data_mut();
        state.charge_header_map()?;
        let fields = HostFields::new(&mut state.http())?;
        state.hold_map(fields.rep(), Kind::Fields);
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
            state.hold_map(copy.rep(), Kind::Fields);
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
            state.hold_map(request.rep(), Kind::Request);
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
            state.hold_map(response.rep(), Kind::Response);
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
