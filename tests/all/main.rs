//! Integration tests across real plugin components built by
//! `cargo xtask build-plugins`, one module per concept.

mod support;

mod cache;
mod calls;
mod cli;
mod conformance;
mod contract;
mod core_modules;
mod errors;
mod front_door;
mod fuzz;
mod grants;
mod http;
mod imports;
mod keyvalue;
mod layers;
mod limits;
mod loading;
mod manager;
mod mcp;
mod mcp_server;
mod messaging;
mod nats;
mod nats_server;
mod network;
mod prometheus;
mod readme;
mod registry;
mod reload;
mod sandbox;
mod surfaces;
mod tools;
mod values;
