//! What the operator decides, read before any plugin runs: [`Limits`]
//! and their ceilings ([`LimitsSpec`] as a manifest writes them, and the
//! [`Budget`]s of what the host holds for a plugin), [`Grants`] (what a
//! plugin may reach), a plugin's [`Manifest`] (`<name>.toml`), the host's
//! own file [`HostConfig`] (`witplug.toml`), and sizes and durations as
//! people write them ([`units`]).
//!
//! Inside: `network` (`connect` grants), `http_origins` (`http` grants)
//! and `files` (the bounded reads of the files all this comes from). Uses
//! only the crate's root modules.

pub(crate) mod approval;
pub(crate) mod files;
pub(crate) mod grants;
pub(crate) mod host_file;
pub(crate) mod http_origins;
pub(crate) mod limits;
pub(crate) mod manifest;
pub(crate) mod network;
pub mod units;

pub use approval::Approval;
pub use files::{DEFAULT_MAX_FILE_SIZE, read_text_file};
pub use grants::{DirGrant, DirMode, Grants, is_bucket_name};
pub use host_file::{HostConfig, MetricsConfig, NatsConfig, RegistryConfig};
pub use limits::{Budget, Limits, LimitsSpec};
pub use manifest::{ConfigValue, Manifest, PoolConfig, PoolSpec, Provides};
