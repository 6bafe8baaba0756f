//! What the operator decides, read before any plugin runs: sizes and
//! durations as written (`units`), the limits and their ceilings
//! (`limits`), what a plugin is granted (`grants`, with `network` for
//! `connect` grants and `origins` for `http` grants), its manifest
//! (`manifest`), the host's own file (`host_file`: `witplug.toml`) and
//! the bounded reads of the files they come from
//! (`files`).
//!
//! The bottom layer: it uses only the crate's root modules.

pub(crate) mod files;
pub(crate) mod grants;
pub(crate) mod host_file;
pub(crate) mod http_origins;
pub(crate) mod limits;
pub(crate) mod manifest;
pub(crate) mod network;
pub mod units;

pub use files::DEFAULT_MAX_FILE_SIZE;
pub use grants::{DirGrant, DirMode, Grants, is_bucket_name};
pub use host_file::{HostConfig, MetricsConfig, NatsConfig};
pub use limits::{Budget, Limits, LimitsSpec};
pub use manifest::{ConfigValue, Manifest, PoolConfig, PoolSpec, Provides};
