//! Core wasm modules and WAT as plugins: the MoFA runtime's demonstrations,
//! each value checked, under the same manager and limits as components.

use std::path::PathBuf;
use std::time::Duration;

use witplug_host::plugin::CoreVal as Val;
use witplug_host::{Error, Limits, plugin::Lifecycle};

use crate::support::{Scratch, capture_logs, fixture};

fn wat(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../example-plugins/wat/{name}.wat"));
    std::fs::read_to_string(path).unwrap()
}

const ANSWER: &str = r#"(module (func (export "answer") (result i32) i32.const 42))"#;
const DOUBLE: &str = r#"(module (func (export "double") (param i32) (result i32)
    local.get 0 i32.const 2 i32.mul))"#;

#[tokio::test]
async fn wat_compiled_at_run_time_answers() {
    let host = crate::support::builder().build().unwrap();
    let answer = host.load_wat("answer", ANSWER).await.unwrap();
    let double = host.load_wat("double", DOUBLE).await.unwrap();
    assert_eq!(answer.call_core("answer", &[]).await.unwrap()[0].i32(), Some(42));
    assert_eq!(double.call_core("double", &[Val::I32(21)]).await.unwrap()[0].i32(), Some(42));
    assert!(answer.is_core_module());
    let metrics = double.metrics();
    assert_eq!((metrics.calls, metrics.successes), (1, 1));
    assert_eq!(double.lifecycle(), Lifecycle::Ready);
}

#[tokio::test]
async fn the_math_plugin_computes() {
    let host = crate::support::builder().build().unwrap();
    let math = host.load_wat("math", &wat("math")).await.unwrap();
    let i32_of = |v: Vec<Val>| v[0].i32().unwrap();
    let i64_of = |v: Vec<Val>| v[0].i64().unwrap();
    assert_eq!(i32_of(math.call_core("add", &[Val::I32(10), Val::I32(20)]).await.unwrap()), 30);
    assert_eq!(i32_of(math.call_core("sub", &[Val::I32(50), Val::I32(20)]).await.unwrap()), 30);
    assert_eq!(i32_of(math.call_core("mul", &[Val::I32(6), Val::I32(7)]).await.unwrap()), 42);
    assert_eq!(i64_of(math.call_core("factorial", &[Val::I64(5)]).await.unwrap()), 120);
    assert_eq!(i64_of(math.call_core("fibonacci", &[Val::I32(10)]).await.unwrap()), 55);
    // WAVE works for core values too.
    assert_eq!(math.call_wave("add", &["10", "20"]).await.unwrap(), ["30"]);
}

#[tokio::test]
async fn a_wat_plugin_logs_through_the_core_abi() {
    let (lines, _guard) = capture_logs();
    let host = crate::support::builder().build().unwrap();
    let math = host.load_wat("math", &wat("math")).await.unwrap();
    math.call_core("hello", &[]).await.unwrap();
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0].plugin.as_str(), lines[0].message.as_str()), ("math", "math ready"));
}

#[tokio::test]
async fn a_16_page_plugin_keeps_42_and_cannot_grow_past_its_limit() {
    let mut limits = Limits::default();
    limits.memory = 16 * 64 * 1024;
    limits.deadline = Duration::from_millis(1000);
    let host = crate::support::builder().limits(limits).build().unwrap();
    let memory = host.load_wat("memory", &wat("memory")).await.unwrap();
    memory.write_memory(0, &[42]).await.unwrap();
    assert_eq!(memory.read_memory(0, 1).await.unwrap(), [42]);
    assert_eq!(memory.call_core("load", &[Val::I32(0)]).await.unwrap()[0].i32(), Some(42));
    // 1 page now; 15 more fit in 16, one more does not.
    assert_eq!(memory.call_core("grow", &[Val::I32(15)]).await.unwrap()[0].i32(), Some(1));
    assert_eq!(memory.call_core("grow", &[Val::I32(1)]).await.unwrap()[0].i32(), Some(-1));
    assert_eq!(memory.call_core("pages", &[]).await.unwrap()[0].i32(), Some(16));
    // Past the end of memory is an error, and the plugin keeps its state.
    let err = memory.read_memory(16 * 65536 - 1, 2).await.unwrap_err();
    assert!(matches!(err, Error::MemoryOutOfBounds { size: 1_048_576, .. }), "{err}");
    assert_eq!(memory.read_memory(0, 1).await.unwrap(), [42]);
}

#[tokio::test]
async fn core_modules_run_under_the_same_limits() {
    let mut limits = Limits::default();
    limits.deadline = Duration::from_millis(200);
    let host = crate::support::builder().limits(limits).build().unwrap();
    let spin =
        host.load_wat("spin", r#"(module (func (export "spin") (loop br 0)))"#).await.unwrap();
    let err = spin.call_core("spin", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(spin.restarts(), 1);
    let err = spin.call_core("spin", &[Val::I32(1)]).await.unwrap_err();
    assert!(matches!(err, Error::BadArguments { .. }), "{err}");
    let err = spin.call_core("nope", &[]).await.unwrap_err();
    assert_eq!(err.to_string(), "plugin `spin` has no export `nope` (exports: spin)");
}

#[tokio::test]
async fn wasm_and_wat_files_in_the_folder_load_beside_components() {
    let dir = Scratch::new();
    dir.copy_fixture("counter");
    dir.write("math.wat", wat("math"));
    dir.write("answer.wasm", wat::parse_str(ANSWER).unwrap());
    dir.write("broken.wat", "(module (func (export \"f\") (result i32)))");
    dir.write("needy.wat", r#"(module (import "env" "secret" (func)))"#);
    let host = crate::support::builder().build().unwrap();
    let report = host.load_dir(dir.path()).await.unwrap();
    let mut loaded: Vec<&str> = report.loaded.iter().map(|p| p.name()).collect();
    loaded.sort_unstable();
    assert_eq!(loaded, ["answer", "counter", "math"]);
    assert_eq!(report.failed.len(), 2, "{:?}", report.failed);
    for err in &report.failed {
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text}");
        match err {
            Error::InvalidModule { path, .. } => assert!(path.ends_with("broken.wat"), "{text}"),
            Error::MissingImport { import, .. } => assert_eq!(import, "env::secret"),
            other => panic!("unexpected: {other}"),
        }
    }
    let _ = fixture("counter");
}

const ABI: &str = r#"(module
  (import "witplug" "get-config" (func $config (param i32 i32 i32 i32) (result i32)))
  (import "witplug" "call-tool" (func $tool (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "witplug" "send-message" (func $send (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "greeting")
  (data (i32.const 16) "upper")
  (data (i32.const 32) "hi")
  (data (i32.const 48) "news")
  (func (export "config") (result i32) (call $config (i32.const 0) (i32.const 8) (i32.const 100) (i32.const 50)))
  (func (export "tool") (result i32)
    (call $tool (i32.const 16) (i32.const 5) (i32.const 32) (i32.const 2) (i32.const 200) (i32.const 50)))
  (func (export "publish") (result i32) (call $send (i32.const 48) (i32.const 4) (i32.const 32) (i32.const 2)))
  (func (export "wild") (result i32) (call $send (i32.const 65530) (i32.const 100) (i32.const 0) (i32.const 0))))"#;

#[tokio::test]
async fn the_core_abi_reaches_config_tools_and_the_bus() {
    let host = crate::support::builder()
        .config("abi", "greeting", "Salut")
        .tool("upper", |input| Ok(input.to_uppercase()))
        .grants("abi", witplug_host::Grants::new().tool("upper").publish("news"))
        .build()
        .unwrap();
    let mut news = host.subscribe("news");
    let abi = host.load_wat("abi", ABI).await.unwrap();
    let first = |v: Vec<Val>| v[0].i32().unwrap();
    assert_eq!(first(abi.call_core("config", &[]).await.unwrap()), 5);
    assert_eq!(abi.read_memory(100, 5).await.unwrap(), b"Salut");
    assert_eq!(first(abi.call_core("tool", &[]).await.unwrap()), 2);
    assert_eq!(abi.read_memory(200, 2).await.unwrap(), b"HI");
    assert_eq!(first(abi.call_core("publish", &[]).await.unwrap()), 0);
    let message = tokio::time::timeout(Duration::from_secs(5), news.recv()).await.unwrap().unwrap();
    assert_eq!((&message.payload[..], message.from.as_deref()), (&b"hi"[..], Some("abi")));
    // A pointer past the end of memory traps the plugin.
    let err = abi.call_core("wild", &[]).await.unwrap_err();
    assert!(
        matches!(&err, Error::Trap { message, .. } if message.contains("past the end of memory")),
        "{err}"
    );
}

#[tokio::test]
async fn the_core_abi_denies_what_was_not_granted() {
    let host =
        crate::support::builder().tool("upper", |input| Ok(input.to_uppercase())).build().unwrap();
    let abi = host.load_wat("abi", ABI).await.unwrap();
    let first = |v: Vec<Val>| v[0].i32().unwrap();
    assert_eq!(first(abi.call_core("config", &[]).await.unwrap()), -1, "unset");
    assert_eq!(first(abi.call_core("tool", &[]).await.unwrap()), -1, "denied is code 1");
    assert_eq!(first(abi.call_core("publish", &[]).await.unwrap()), 1, "denied");
}
