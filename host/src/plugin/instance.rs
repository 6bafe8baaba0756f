//! The life of one plugin's instances: creating one (instantiation and
//! `init` within one call's limits), keeping some ready, and shutting them
//! all down.

use wasmtime::Store;

use super::Plugin;
use super::pool::Live;
use crate::compile::code::{Instance, Wasm};
use crate::contract::v0_2::witplug::plugin::types::{PluginInfo as WitInfo, ToolDescription};
use crate::instance_state::PluginState;
use crate::observe::events::Event;
use crate::plugin::call::deadline;
use crate::text::{self, sanitize};
use crate::{Error, PluginInfo, Result};

impl Plugin {
    /// A fresh instance in slot `slot`, initialised: instantiation and
    /// `init` run within one call's limits.
    pub(crate) async fn instantiate(&self, slot: usize) -> Result<Box<Live>> {
        let mut store = self.new_store();
        let instance = self.instantiate_code(&mut store).await?;
        let guest = match (&self.guest, &instance) {
            (Some(indices), Wasm::Component(instance)) => Some(
                indices
                    .load(&mut store, instance)
                    .map_err(|err| self.classify(&err, Some(store.data())))?,
            ),
            _ => None,
        };
        if let Some(guest) = &guest {
            let until = store.data().call.deadline;
            let init = guest.init(&mut store);
            let outcome = deadline::backstop(until, init)
                .await
                .map_err(|err| self.classify(&err, Some(store.data())))
                .and_then(|result| {
                    result.map_err(|error| Error::InitFailed {
                        plugin: self.name().to_owned(),
                        error,
                    })
                });
            if let Err(err) = outcome {
                let reason = err.to_string();
                self.phase.failed(reason.clone());
                let plugin = &self.context.name;
                self.events().send(|| Event::InitFailed { plugin: plugin.clone(), reason });
                return Err(err);
            }
        }
        if self.phase.initialised() {
            self.events().send(|| Event::Initialised { plugin: self.context.name.clone() });
        }
        Ok(Box::new(Live { slot, store, instance, guest }))
    }

    /// Instantiates the plugin in `store`. A failure of the host's own (the
    /// kernel refusing memory, a memory image or a descriptor) is retried
    /// once in a new store, and is never reported as the plugin's trap.
    pub(crate) async fn instantiate_code(
        &self,
        store: &mut Store<PluginState>,
    ) -> Result<Instance> {
        match self.try_instantiate(store).await {
            Err(Error::HostResource { reason, .. }) => {
                tracing::debug!(target: "witplug::host", plugin = self.name(), "instantiation failed, retrying once: {reason}");
                *store = self.new_store();
                self.try_instantiate(store).await
            }
            done => done,
        }
    }

    async fn try_instantiate(&self, store: &mut Store<PluginState>) -> Result<Instance> {
        let until = store.data().call.deadline;
        let result = match &self.code {
            Wasm::Component((_, pre)) => {
                deadline::backstop(until, pre.instantiate_async(&mut *store))
                    .await
                    .map(Wasm::Component)
            }
            Wasm::Module(pre) => deadline::backstop(until, pre.instantiate_async(&mut *store))
                .await
                .map(Wasm::Module),
        };
        result.map_err(|err| {
            crate::plugin::call::trap::instantiation_failed(
                self.name(),
                &self.context.limits,
                &err,
                store.data(),
            )
        })
    }

    /// Calls `info` on a throwaway instance: it must not need `init`.
    /// Its tools' descriptions (0.2) come from the same instance.
    pub(crate) async fn read_info(&self) -> Result<(PluginInfo, Vec<ToolDescription>)> {
        let mut store = self.new_store();
        let indices = self.guest.as_ref().ok_or_else(|| self.wrong_world())?;
        let Wasm::Component(instance) = self.instantiate_code(&mut store).await? else {
            return Err(self.wrong_world());
        };
        let info = match indices.load(&mut store, &instance) {
            Ok(guest) => {
                self.begin_call(&mut store);
                let until = store.data().call.deadline;
                let call = async {
                    let info = guest.info(&mut store).await?;
                    let tools = guest.describe_tools(&mut store).await?;
                    Ok((info, tools))
                };
                deadline::backstop(until, call).await
            }
            Err(err) => Err(err),
        };
        let (WitInfo { name, version, description }, tools) =
            info.map_err(|err| self.classify(&err, Some(store.data())))?;
        // What a plugin says of itself is shown to operators: bounded and
        // made safe once, here.
        let info = PluginInfo {
            name: sanitize(&name, text::LABEL),
            version: sanitize(&version, text::LABEL),
            description: sanitize(&description, text::DESCRIPTION),
            contract: self.info.contract,
        };
        Ok((info, tools))
    }

    /// Creates idle, initialised instances until `count` slots (at most the
    /// pool's size) hold one, so no call waits for an instantiation.
    pub(crate) async fn fill(&self, count: usize) -> Result<()> {
        let target = count.min(self.pool.size());
        while self.pool.filled() < target {
            self.refuse_if_stopped()?;
            // Every slot taken means every slot has, or is getting, an
            // instance.
            let Some(slot) = self.pool.pop_empty() else { return Ok(()) };
            match self.instantiate(slot).await {
                Ok(live) => self.pool.put(slot, Some(live)),
                Err(err) => {
                    self.pool.put(slot, None);
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// Waits for every call in flight, then runs `shutdown` on every
    /// instance and drops it. A `shutdown` that hangs is stopped by the
    /// deadline. (The plugin is already stopped, so no call starts.)
    pub(crate) async fn drain(&self) -> Result<()> {
        let mut slots = Vec::with_capacity(self.pool.size());
        // Calls in flight and instantiations each end within their deadline.
        while slots.len() < self.pool.size() {
            slots.push(self.pool.take(true, &self.context.pool, &self.context.name).await?);
        }
        let mut first_error = None;
        for slot in &mut slots {
            let Some(mut live) = slot.live.take() else { continue };
            let Some(guest) = live.guest.take() else { continue };
            self.begin_call(&mut live.store);
            let until = live.store.data().call.deadline;
            let call = guest.shutdown(&mut live.store);
            if let Err(err) = deadline::backstop(until, call).await {
                let error = self.classify(&err, Some(live.store.data()));
                tracing::warn!(target: "witplug::host", plugin = self.name(), "shutdown: {error}");
                first_error.get_or_insert(error);
            }
        }
        for slot in slots {
            self.pool.put(slot.index, None);
        }
        first_error.map_or(Ok(()), Err)
    }
}
