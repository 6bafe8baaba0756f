//! The crate root before its wings (0.1) still compiles for one release:
//! every old name resolves, enums still import their variants, and the
//! moved items are the wings' own.

#![allow(deprecated)]

use witplug_host::Outcome::Trap;
use witplug_host::{
    Bus, CacheFolder, DATABASE_FILE, Embedded, KeyValue, MAX_HOPS, MessageBus, Name, ToolSpec,
    hex_sha256, is_bucket_name, units,
};

#[test]
fn the_old_root_names_resolve_to_the_wings_items() {
    assert_eq!(Trap, witplug_host::observe::Outcome::Trap);
    assert_eq!(MAX_HOPS, witplug_host::bus::MAX_HOPS);
    assert_eq!(DATABASE_FILE, witplug_host::kv::DATABASE_FILE);
    assert_eq!(hex_sha256(b"abc"), witplug_host::compile::hex_sha256(b"abc"));
    assert!(is_bucket_name("orders") && !is_bucket_name("a/b"));
    assert_eq!(units::parse_size("1 KiB"), witplug_host::config::units::parse_size("1 KiB"));
    let spec = ToolSpec::new("up", serde_json::json!({"type": "object"})).unwrap();
    let _: witplug_host::tools::ToolSpec = spec;
    let _: witplug_host::plugin::Name = Name::from("x");
    let _: witplug_host::cache::CacheFolder = CacheFolder::new("/tmp");
    // Old and new names are one type, and traits are the same traits.
    fn takes_new(_: &dyn witplug_host::bus::MessageBus) {}
    let bus = Bus::default();
    let old: &dyn MessageBus = &bus;
    takes_new(old);
    fn is_store<T: witplug_host::kv::KeyValue>() {}
    is_store::<Embedded>();
    let _ = std::marker::PhantomData::<&dyn KeyValue>;
}
