//! Plugins that travel: push and pull them through OCI registries in the
//! CNCF Wasm layout, pin them by digest in `witplug.lock`, sign them, and
//! seal to each the grants its operator approved.
//!
//! ```no_run
//! # async fn run() -> witplug_registry::Result<()> {
//! use witplug_registry::{Bounds, Client, ContentStore, Policy, Reference, Registry};
//!
//! let registry = Registry::new(
//!     Client::new(Bounds::default(), Vec::new())?,
//!     ContentStore::new("/var/lib/witplug/store"),
//!     Policy::default(),
//! );
//! let reference = Reference::parse("registry.example/plugins/counter:1.0.0")?;
//! let digest = registry.push("plugins/counter.wasm".as_ref(), None, &reference).await?;
//! let pulled = registry.fetch(&reference.at(&digest), false).await?;
//! registry.install(&pulled.wasm.digest, None, "plugins".as_ref(), "counter")?;
//! # Ok(()) }
//! ```
//!
//! The rooms: `reference` (what people write), `client` (the distribution
//! API, every body bounded and every digest checked), `layout` (the
//! artifact), `store` (blobs by digest), `lock` (`witplug.lock`), `sign`
//! and `trust` (signatures and the policy that asks for them), `approval`
//! (what a plugin asks for beyond what was approved), `ops` (push, fetch,
//! sign, verify, install).

#![deny(missing_docs)]

pub mod approval;
mod client;
mod error;
pub mod layout;
mod lock;
mod ops;
mod reference;
pub mod sign;
mod store;
mod trust;

pub use client::{Bounds, Client, Fetched, sha256_digest, write_aside};
pub use error::{Error, Result};
pub use lock::{LOCK_FILE, Lock, Locked, default_path};
pub use ops::{Pulled, Registry, Verified};
pub use reference::{Reference, is_digest};
pub use store::ContentStore;
pub use trust::Policy;
