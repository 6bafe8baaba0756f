//! From a plugin file to code ready to instantiate, and what can be said
//! of a component without running it: [`engine_config`] (the wasmtime
//! configuration a host uses, for embedders building their own engine),
//! [`inspect`] and [`inspect_file`] (a component's imports and exports as
//! WIT), [`hex_sha256`] (the digest a manifest's `sha256` pins).
//!
//! Inside: the engines and their linkers (`engine`), the cache of compiled
//! components (`cache`) and the fingerprints that let it skip reading
//! files (`fingerprint`), a file made into code (`code`), the
//! contract version a component targets (`version`).
//!
//! Uses `plugin`'s nothing: only `imports`, `instance_state` and the layers
//! below them.

pub(crate) mod cache;
pub(crate) mod code;
pub(crate) mod engine;
pub(crate) mod fingerprint;
pub(crate) mod inspect;
pub(crate) mod version;

pub use crate::digest::hex_sha256;
pub use engine::engine_config;
pub use inspect::{Inspection, inspect, inspect_file};
