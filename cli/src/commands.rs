//! The subcommands, one file each, named as the command line names them.

pub(crate) mod build;
pub(crate) mod cache;
pub(crate) mod call;
pub(crate) mod inspect;
pub(crate) mod kv;
pub(crate) mod list;
pub(crate) mod mcp;
pub(crate) mod new;
pub(crate) mod precompile;
pub(crate) mod run;
pub(crate) mod workload;
