//! How plugins reach each other and the host: the message bus (`bus`),
//! tools (`tools`, the registry, and `described`, what a tool says of
//! itself), where a call comes from (`origin`: the chain of tool calls and
//! the hops of a passed-on message), tools across hosts (`remote`) and,
//! with the `nats` feature, the bus and remote tools on NATS (`nats`).
//!
//! Uses `config` below it.

pub(crate) mod bus;
pub(crate) mod described;
#[cfg(feature = "nats")]
pub(crate) mod nats;
pub(crate) mod origin;
pub(crate) mod remote;
pub(crate) mod schema;
pub(crate) mod tools;
