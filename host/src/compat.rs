//! The names the crate root had before its wings (0.1): each is now in
//! the wing that holds its concept (`kv`, `bus`, `tools`, `cache`, `nats`,
//! `observe`, `config`, `plugin`, `compile`), and is kept here, deprecated,
//! for one release. Traits, modules and enums are re-exported as they
//! were, hidden from the docs, since a re-export cannot carry a
//! deprecation and an alias cannot import an enum's variants (`use
//! witplug_host::Outcome::Trap` must still compile); the rest are
//! deprecated aliases.
//!
//! Nothing inside the crate uses these.

/// Moved to [`kv::BucketId`](crate::kv::BucketId).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::BucketId`")]
pub type BucketId = crate::kv::BucketId;

#[doc(hidden)]
pub use crate::config::Budget;

/// Moved to [`bus::Bus`](crate::bus::Bus).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::bus::Bus`")]
pub type Bus = crate::bus::Bus;

/// Moved to [`bus::Bytes`](crate::bus::Bytes).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::bus::Bytes`")]
pub type Bytes = crate::bus::Bytes;

#[cfg(feature = "nats")]
/// Moved to [`nats::CLIENT_QUEUE`](crate::nats::CLIENT_QUEUE).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::nats::CLIENT_QUEUE`")]
pub const CLIENT_QUEUE: usize = crate::nats::CLIENT_QUEUE;

/// Moved to [`contract::CONTRACTS`](crate::contract::CONTRACTS).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::contract::CONTRACTS`")]
pub const CONTRACTS: [crate::contract::Contract; 3] = crate::contract::CONTRACTS;

/// Moved to [`plugin::CORE_ABI_MODULE`](crate::plugin::CORE_ABI_MODULE).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::plugin::CORE_ABI_MODULE`")]
pub const CORE_ABI_MODULE: &str = crate::plugin::CORE_ABI_MODULE;

/// Moved to [`cache::CacheEntries`](crate::cache::CacheEntries).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::cache::CacheEntries`")]
pub type CacheEntries = crate::cache::CacheEntries;

/// Moved to [`cache::CacheFolder`](crate::cache::CacheFolder).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::cache::CacheFolder`")]
pub type CacheFolder = crate::cache::CacheFolder;

/// Moved to [`cache::CacheStats`](crate::cache::CacheStats).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::cache::CacheStats`")]
pub type CacheStats = crate::cache::CacheStats;

#[doc(hidden)]
pub use crate::config::ConfigValue;

#[doc(hidden)]
pub use crate::contract::Contract;

/// Moved to [`plugin::CoreExport`](crate::plugin::CoreExport).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::plugin::CoreExport`")]
pub type CoreExport = crate::plugin::CoreExport;

#[doc(hidden)]
pub use crate::plugin::CoreVal;

/// Moved to [`kv::Current`](crate::kv::Current).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::Current`")]
pub type Current = crate::kv::Current;

/// Moved to [`kv::DATABASE_FILE`](crate::kv::DATABASE_FILE).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::DATABASE_FILE`")]
pub const DATABASE_FILE: &str = crate::kv::DATABASE_FILE;

/// Moved to [`config::DEFAULT_MAX_FILE_SIZE`](crate::config::DEFAULT_MAX_FILE_SIZE).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::config::DEFAULT_MAX_FILE_SIZE`")]
pub const DEFAULT_MAX_FILE_SIZE: u64 = crate::config::DEFAULT_MAX_FILE_SIZE;

#[cfg(feature = "nats")]
/// Moved to [`nats::DEFAULT_OUTGOING`](crate::nats::DEFAULT_OUTGOING).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::nats::DEFAULT_OUTGOING`")]
pub const DEFAULT_OUTGOING: usize = crate::nats::DEFAULT_OUTGOING;

#[cfg(feature = "nats")]
/// Moved to [`nats::DEFAULT_OUTGOING_BYTES`](crate::nats::DEFAULT_OUTGOING_BYTES).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::nats::DEFAULT_OUTGOING_BYTES`")]
pub const DEFAULT_OUTGOING_BYTES: u64 = crate::nats::DEFAULT_OUTGOING_BYTES;

/// Moved to [`bus::DEFAULT_QUEUE`](crate::bus::DEFAULT_QUEUE).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::bus::DEFAULT_QUEUE`")]
pub const DEFAULT_QUEUE: usize = crate::bus::DEFAULT_QUEUE;

/// Moved to [`bus::DEFAULT_QUEUE_BYTES`](crate::bus::DEFAULT_QUEUE_BYTES).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::bus::DEFAULT_QUEUE_BYTES`")]
pub const DEFAULT_QUEUE_BYTES: u64 = crate::bus::DEFAULT_QUEUE_BYTES;

/// Moved to [`config::DirGrant`](crate::config::DirGrant).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::config::DirGrant`")]
pub type DirGrant = crate::config::DirGrant;

#[doc(hidden)]
pub use crate::config::DirMode;

/// Moved to [`observe::EVENT_BUFFER`](crate::observe::EVENT_BUFFER).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::observe::EVENT_BUFFER`")]
pub const EVENT_BUFFER: usize = crate::observe::EVENT_BUFFER;

/// Moved to [`kv::Embedded`](crate::kv::Embedded).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::Embedded`")]
pub type Embedded = crate::kv::Embedded;

/// Moved to [`compile::Inspection`](crate::compile::Inspection).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::compile::Inspection`")]
pub type Inspection = crate::compile::Inspection;

#[cfg(feature = "nats")]
/// Moved to [`nats::JetStreamKeyValue`](crate::nats::JetStreamKeyValue).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::nats::JetStreamKeyValue`")]
pub type JetStreamKeyValue = crate::nats::JetStreamKeyValue;

#[doc(hidden)]
pub use crate::kv::KeyValue;

#[doc(hidden)]
pub use crate::kv::KvError;

/// Moved to [`kv::KvFuture`](crate::kv::KvFuture).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::KvFuture`")]
pub type KvFuture<'a, T> = crate::kv::KvFuture<'a, T>;

#[doc(hidden)]
pub use crate::plugin::Lifecycle;

/// Moved to [`config::LimitsSpec`](crate::config::LimitsSpec).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::config::LimitsSpec`")]
pub type LimitsSpec = crate::config::LimitsSpec;

/// Moved to [`kv::MAX_BATCH`](crate::kv::MAX_BATCH).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::MAX_BATCH`")]
pub const MAX_BATCH: usize = crate::kv::MAX_BATCH;

/// Moved to [`bus::MAX_HOPS`](crate::bus::MAX_HOPS).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::bus::MAX_HOPS`")]
pub const MAX_HOPS: u32 = crate::bus::MAX_HOPS;

/// Moved to [`kv::MAX_KEY`](crate::kv::MAX_KEY).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::MAX_KEY`")]
pub const MAX_KEY: usize = crate::kv::MAX_KEY;

/// Moved to [`bus::Message`](crate::bus::Message).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::bus::Message`")]
pub type Message = crate::bus::Message;

#[doc(hidden)]
pub use crate::bus::MessageBus;

/// Moved to [`config::MetricsConfig`](crate::config::MetricsConfig).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::config::MetricsConfig`")]
pub type MetricsConfig = crate::config::MetricsConfig;

/// Moved to [`plugin::Name`](crate::plugin::Name).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::plugin::Name`")]
pub type Name = crate::plugin::Name;

#[cfg(feature = "nats")]
/// Moved to [`nats::NatsBus`](crate::nats::NatsBus).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::nats::NatsBus`")]
pub type NatsBus = crate::nats::NatsBus;

/// Moved to [`config::NatsConfig`](crate::config::NatsConfig).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::config::NatsConfig`")]
pub type NatsConfig = crate::config::NatsConfig;

#[cfg(feature = "nats")]
/// Moved to [`nats::NatsOptions`](crate::nats::NatsOptions).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::nats::NatsOptions`")]
pub type NatsOptions = crate::nats::NatsOptions;

#[cfg(feature = "nats")]
/// Moved to [`nats::NatsStats`](crate::nats::NatsStats).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::nats::NatsStats`")]
pub type NatsStats = crate::nats::NatsStats;

#[doc(hidden)]
pub use crate::bus::Offered;

#[doc(hidden)]
pub use crate::observe::Outcome;

/// Moved to [`plugin::PluginState`](crate::plugin::PluginState).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::plugin::PluginState`")]
pub type PluginState = crate::plugin::PluginState;

/// Moved to [`config::PoolConfig`](crate::config::PoolConfig).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::config::PoolConfig`")]
pub type PoolConfig = crate::config::PoolConfig;

/// Moved to [`config::PoolSpec`](crate::config::PoolSpec).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::config::PoolSpec`")]
pub type PoolSpec = crate::config::PoolSpec;

#[doc(hidden)]
pub use crate::tools::Provider;

/// Moved to [`config::Provides`](crate::config::Provides).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::config::Provides`")]
pub type Provides = crate::config::Provides;

#[doc(hidden)]
pub use crate::bus::Published;

/// Moved to [`bus::QueueBounds`](crate::bus::QueueBounds).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::bus::QueueBounds`")]
pub type QueueBounds = crate::bus::QueueBounds;

/// Moved to [`bus::QueueSender`](crate::bus::QueueSender).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::bus::QueueSender`")]
pub type QueueSender = crate::bus::QueueSender;

/// Moved to [`kv::Quota`](crate::kv::Quota).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::Quota`")]
pub type Quota = crate::kv::Quota;

#[doc(hidden)]
pub use crate::observe::RecvError;

#[doc(hidden)]
pub use crate::tools::RemoteTools;

/// Moved to [`tools::ReplyFuture`](crate::tools::ReplyFuture).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::ReplyFuture`")]
pub type ReplyFuture<'a> = crate::tools::ReplyFuture<'a>;

#[cfg(feature = "nats")]
/// Moved to [`nats::SUBSCRIPTION_QUEUE`](crate::nats::SUBSCRIPTION_QUEUE).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::nats::SUBSCRIPTION_QUEUE`")]
pub const SUBSCRIPTION_QUEUE: usize = crate::nats::SUBSCRIPTION_QUEUE;

/// Moved to [`tools::ServeFuture`](crate::tools::ServeFuture).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::ServeFuture`")]
pub type ServeFuture<'a> = crate::tools::ServeFuture<'a>;

/// Moved to [`observe::Stats`](crate::observe::Stats).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::observe::Stats`")]
pub type Stats = crate::observe::Stats;

/// Moved to [`bus::SubscribeFuture`](crate::bus::SubscribeFuture).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::bus::SubscribeFuture`")]
pub type SubscribeFuture<'a> = crate::bus::SubscribeFuture<'a>;

/// Moved to [`bus::Subscription`](crate::bus::Subscription).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::bus::Subscription`")]
pub type Subscription = crate::bus::Subscription;

/// Moved to [`tools::ToolFuture`](crate::tools::ToolFuture).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::ToolFuture`")]
pub type ToolFuture = crate::tools::ToolFuture;

/// Moved to [`tools::ToolHandler`](crate::tools::ToolHandler).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::ToolHandler`")]
pub type ToolHandler = crate::tools::ToolHandler;

/// Moved to [`tools::ToolHints`](crate::tools::ToolHints).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::ToolHints`")]
pub type ToolHints = crate::tools::ToolHints;

/// Moved to [`tools::ToolInfo`](crate::tools::ToolInfo).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::ToolInfo`")]
pub type ToolInfo = crate::tools::ToolInfo;

/// Moved to [`tools::ToolReply`](crate::tools::ToolReply).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::ToolReply`")]
pub type ToolReply = crate::tools::ToolReply;

/// Moved to [`tools::ToolRequest`](crate::tools::ToolRequest).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::ToolRequest`")]
pub type ToolRequest = crate::tools::ToolRequest;

/// Moved to [`tools::ToolResult`](crate::tools::ToolResult).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::ToolResult`")]
pub type ToolResult = crate::tools::ToolResult;

/// Moved to [`tools::ToolService`](crate::tools::ToolService).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::ToolService`")]
pub type ToolService = crate::tools::ToolService;

/// Moved to [`tools::ToolSpec`](crate::tools::ToolSpec).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::ToolSpec`")]
pub type ToolSpec = crate::tools::ToolSpec;

/// Moved to [`tools::Tools`](crate::tools::Tools).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::tools::Tools`")]
pub type Tools = crate::tools::Tools;

#[doc(hidden)]
pub use crate::observe::TryRecvError;

/// Moved to [`kv::Usage`](crate::kv::Usage).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::Usage`")]
pub type Usage = crate::kv::Usage;

#[doc(hidden)]
pub use crate::config::units;

/// Moved to [`kv::check_batch`](crate::kv::check_batch).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::check_batch`")]
pub fn check_batch(keys: usize) -> Result<(), crate::kv::KvError> {
    crate::kv::check_batch(keys)
}

/// Moved to [`kv::check_key`](crate::kv::check_key).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::check_key`")]
pub fn check_key(key: &str) -> Result<(), crate::kv::KvError> {
    crate::kv::check_key(key)
}

/// Moved to [`compile::engine_config`](crate::compile::engine_config).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::compile::engine_config`")]
pub fn engine_config(limits: &crate::Limits) -> wasmtime::Config {
    crate::compile::engine_config(limits)
}

/// Moved to [`compile::hex_sha256`](crate::compile::hex_sha256).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::compile::hex_sha256`")]
pub fn hex_sha256(bytes: &[u8]) -> String {
    crate::compile::hex_sha256(bytes)
}

/// Moved to [`compile::inspect`](crate::compile::inspect).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::compile::inspect`")]
pub fn inspect(path: &std::path::Path, bytes: &[u8]) -> crate::Result<crate::compile::Inspection> {
    crate::compile::inspect(path, bytes)
}

/// Moved to [`compile::inspect_file`](crate::compile::inspect_file).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::compile::inspect_file`")]
pub fn inspect_file(path: &std::path::Path) -> crate::Result<crate::compile::Inspection> {
    crate::compile::inspect_file(path)
}

/// Moved to [`kv::is_bucket_name`](crate::kv::is_bucket_name).
#[deprecated(since = "0.2.0", note = "moved to `witplug_host::kv::is_bucket_name`")]
pub fn is_bucket_name(name: &str) -> bool {
    crate::kv::is_bucket_name(name)
}
