//! From bytes to a component ready to instantiate: the engine and its
//! linker (`engine`), the cache of compiled components (`cache`) and the
//! fingerprints that let it skip reading files (`fingerprint`), loading
//! a file (`load`) and inspecting one without running it (`inspect`).
//!
//! Uses `call`, `contract`, `store` and the layers below them.

pub(crate) mod cache;
pub(crate) mod code;
pub(crate) mod engine;
pub(crate) mod fingerprint;
pub(crate) mod inspect;
pub(crate) mod version;

pub use crate::digest::hex_sha256;
pub use engine::engine_config;
pub use inspect::{Inspection, inspect, inspect_file};
