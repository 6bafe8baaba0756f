//! Counts the heap allocations of one warm call: witplug's `Plugin::handle`
//! against the same export called through wasmtime directly, on the same
//! component and the same kind of store. The difference is what witplug's
//! own call path allocates, and it must be nothing.
//!
//! A binary of its own, because it replaces the global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use witplug_host::Host;
use witplug_host::bindings::Plugin as Guest;

/// The system allocator, counting the allocations made on a thread while
/// that thread asks for it.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

#[expect(unsafe_code, reason = "a global allocator is an unsafe trait; this one only counts")]
// SAFETY: every call is passed on to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn count() {
    // `try_with`: a thread being torn down has no locals left to count in.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

/// The fewest allocations `run` makes on this thread in 5 rounds. A round
/// in which an epoch tick lands mid-call (a call yields to the runtime
/// every 10 ms) may count wasmtime's own work for the yield: the fewest is
/// the call path's.
async fn allocations(mut run: impl AsyncFnMut()) -> u64 {
    let mut fewest = u64::MAX;
    for _ in 0..5 {
        ALLOCATIONS.with(|n| n.set(0));
        COUNTING.with(|on| on.set(true));
        run().await;
        COUNTING.with(|on| on.set(false));
        fewest = fewest.min(ALLOCATIONS.with(Cell::get));
    }
    fewest
}

const CALLS: u64 = 1_000;

#[tokio::test]
async fn a_warm_call_allocates_nothing_of_its_own() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/counter.wasm");
    assert!(path.is_file(), "{} is missing: run `cargo xtask build-plugins`", path.display());
    let host = Host::builder().build().unwrap();
    let counter = host.load_file(&path).await.unwrap();

    // By hand: the same export through wasmtime, on a store of this plugin.
    let mut store = counter.new_store();
    let pre = counter.instance_pre().unwrap();
    let instance = pre.instantiate_async(&mut store).await.unwrap();
    let guest = Guest::new(&mut store, &instance).unwrap();
    let direct = async |store: &mut wasmtime::Store<_>| {
        counter.begin_call(store);
        let output = guest.witplug_plugin_guest().call_handle(&mut *store, "get").await;
        assert_eq!(output.unwrap().unwrap(), "0");
    };
    for _ in 0..CALLS {
        direct(&mut store).await;
    }
    let by_hand = allocations(async || {
        for _ in 0..CALLS {
            direct(&mut store).await;
        }
    })
    .await;

    // Through witplug, after the same warm-up.
    for _ in 0..CALLS {
        counter.handle("get").await.unwrap();
    }
    let through_witplug = allocations(async || {
        for _ in 0..CALLS {
            assert_eq!(counter.handle("get").await.unwrap(), "0");
        }
    })
    .await;
    let mut lease = counter.lease().await.unwrap();
    let leased = allocations(async || {
        for _ in 0..CALLS {
            assert_eq!(lease.handle("get").await.unwrap(), "0");
        }
    })
    .await;
    drop(lease);

    eprintln!(
        "allocations per call: by hand {}, through witplug {}, through a lease {}",
        by_hand as f64 / CALLS as f64,
        through_witplug as f64 / CALLS as f64,
        leased as f64 / CALLS as f64,
    );
    // Every call allocates at least its output string: the count is real.
    assert!(by_hand >= CALLS, "{by_hand} allocations by hand");
    assert_eq!(through_witplug, by_hand, "witplug's call path allocates");
    assert_eq!(leased, by_hand, "a leased call allocates");
    assert_eq!(counter.metrics().calls, CALLS + 10 * CALLS, "witplug counted its calls");
}
