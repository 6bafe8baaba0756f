//! A lease: one instance of a plugin held by one caller for a batch of
//! calls, with no trip through the pool between them.

use wasmtime::component::Val;

use super::Plugin;
use super::checkout::{Checkout, Source};
use crate::Result;

/// One instance of a plugin, held for a batch of calls; see
/// [`Plugin::lease`]. Each call still runs within the plugin's limits and is
/// counted in its metrics; a call that traps throws the instance away and
/// the next one gets a fresh instance. Dropping the lease gives the
/// instance back to the pool.
pub struct Lease<'a> {
    checkout: Checkout<'a>,
}

impl<'a> Lease<'a> {
    pub(crate) fn new(checkout: Checkout<'a>) -> Self {
        Self { checkout }
    }

    /// The plugin the instance belongs to.
    pub fn plugin(&self) -> &'a Plugin {
        self.checkout.plugin()
    }

    /// Calls `handle` on the leased instance; see [`Plugin::handle`].
    ///
    /// # Errors
    ///
    /// As for [`Plugin::handle`], except that the lease never waits.
    pub fn handle<'s>(&'s mut self, input: &'s str) -> impl Future<Output = Result<String>> + 's {
        self.plugin().handle_in(Source::Leased(&mut self.checkout), input)
    }

    /// Calls any export by name on the leased instance; see
    /// [`Plugin::call`].
    ///
    /// # Errors
    ///
    /// As for [`Plugin::call`].
    pub async fn call(&mut self, export: &str, args: &[Val]) -> Result<Vec<Val>> {
        let plugin = self.plugin();
        let export = plugin.checked_export(export, args)?;
        plugin.call_in(Source::Leased(&mut self.checkout), export, args).await
    }
}

impl std::fmt::Debug for Lease<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("plugin", &self.plugin().name()).finish_non_exhaustive()
    }
}
