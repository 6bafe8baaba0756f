//! The subcommands, one file each, named as the command line names them.

pub(crate) mod add;
pub(crate) mod build;
pub(crate) mod cache;
pub(crate) mod call;
pub(crate) mod inspect;
pub(crate) mod install;
pub(crate) mod key;
pub(crate) mod kv;
pub(crate) mod list;
pub(crate) mod mcp;
pub(crate) mod new;
pub(crate) mod precompile;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod remove;
pub(crate) mod run;
pub(crate) mod sign;
pub(crate) mod update;
pub(crate) mod workload;
