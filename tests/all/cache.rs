//! The precompiled cache: a miss compiles and writes, a hit skips compiling,
//! and a corrupt or foreign entry is compiled again, never trusted.

use witplug_host::{Host, Limits, cache::CacheStats};

use crate::support::{Scratch, fixture};

fn host(cache: &Scratch) -> Host {
    Host::builder().cache_dir(cache.path()).build().unwrap()
}

fn stats(host: &Host) -> (u64, u64, u64) {
    let CacheStats { hits, misses, rejected, .. } = host.cache_stats().unwrap();
    (hits, misses, rejected)
}

fn entries(cache: &Scratch) -> Vec<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    entries.sort();
    entries
}

#[tokio::test]
async fn a_second_load_comes_from_the_cache() {
    let cache = Scratch::new();
    let first = host(&cache);
    first.load_file(fixture("counter")).await.unwrap();
    assert_eq!(stats(&first), (0, 1, 0));
    assert_eq!(entries(&cache).len(), 1);

    let second = host(&cache);
    let counter = second.load_file(fixture("counter")).await.unwrap();
    assert_eq!(stats(&second), (1, 0, 0));
    assert_eq!(counter.handle("tick").await.unwrap(), "1");
}

#[tokio::test]
async fn a_corrupt_entry_is_compiled_again_and_replaced() {
    let cache = Scratch::new();
    host(&cache).load_file(fixture("echo")).await.unwrap();
    let [entry] = entries(&cache).try_into().unwrap();
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();

    let again = host(&cache);
    let echo = again.load_file(fixture("echo")).await.unwrap();
    assert_eq!(stats(&again), (0, 0, 1));
    assert_eq!(echo.handle("ok").await.unwrap(), "ok");
    // The entry was replaced with a good one.
    let third = host(&cache);
    third.load_file(fixture("echo")).await.unwrap();
    assert_eq!(stats(&third), (1, 0, 0));
}

#[tokio::test]
async fn a_foreign_or_truncated_entry_is_not_trusted() {
    let cache = Scratch::new();
    host(&cache).load_file(fixture("echo")).await.unwrap();
    let [entry] = entries(&cache).try_into().unwrap();
    for junk in
        [b"not a cache file at all".to_vec(), std::fs::read(&entry).unwrap()[..100].to_vec()]
    {
        std::fs::write(&entry, junk).unwrap();
        let again = host(&cache);
        again.load_file(fixture("echo")).await.unwrap();
        assert_eq!(stats(&again), (0, 0, 1));
    }
}

#[tokio::test]
async fn another_engine_configuration_is_another_entry() {
    let cache = Scratch::new();
    host(&cache).load_file(fixture("echo")).await.unwrap();
    let mut limits = Limits::default();
    limits.fuel = Some(1_000_000);
    let fueled = Host::builder().cache_dir(cache.path()).limits(limits).build().unwrap();
    fueled.load_file(fixture("echo")).await.unwrap();
    assert_eq!(stats(&fueled), (0, 1, 0));
    assert_eq!(entries(&cache).len(), 2);
}

#[tokio::test]
async fn precompile_fills_the_cache_ahead_of_time() {
    let cache = Scratch::new();
    let dir = Scratch::new();
    dir.copy_fixture("counter");
    dir.copy_fixture("echo");
    dir.write("bad.wasm", "not wasm");
    let (done, failed) = host(&cache).precompile(dir.path()).unwrap();
    assert_eq!(done.len(), 2);
    assert_eq!(failed.len(), 1);
    let later = host(&cache);
    later.load_dir(dir.path()).await.unwrap();
    assert_eq!(stats(&later), (2, 0, 0));
}

#[cfg(unix)]
#[tokio::test]
async fn a_cache_folder_others_can_write_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let cache = Scratch::new();
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let host = host(&cache);
    let counter = host.load_file(fixture("counter")).await.unwrap();
    assert_eq!(counter.handle("tick").await.unwrap(), "1");
    assert_eq!(stats(&host), (0, 0, 0), "the cache was neither read nor written");
    assert!(entries(&cache).is_empty());
}

#[tokio::test]
async fn an_entry_with_a_good_checksum_but_foreign_code_is_not_trusted() {
    use sha2::Digest;
    let cache = Scratch::new();
    host(&cache).load_file(fixture("echo")).await.unwrap();
    let [entry] = entries(&cache).try_into().unwrap();
    // Our header and a matching SHA-256, over code wasmtime did not write.
    let code = b"\x7fELF not really precompiled code".to_vec();
    let mut file = std::fs::read(&entry).unwrap()[..16].to_vec();
    file.extend_from_slice(&sha2::Sha256::digest(&code));
    file.extend_from_slice(&code);
    std::fs::write(&entry, file).unwrap();
    let again = host(&cache);
    assert_eq!(again.load_file(fixture("echo")).await.unwrap().handle("ok").await.unwrap(), "ok");
    assert_eq!(stats(&again), (0, 0, 1));
}

#[tokio::test]
async fn an_entry_copied_over_another_plugins_name_is_not_run() {
    let cache = Scratch::new();
    host(&cache).load_file(fixture("echo")).await.unwrap();
    let [echo_entry] = entries(&cache).try_into().unwrap();
    host(&cache).load_file(fixture("counter")).await.unwrap();
    let counter_entry = entries(&cache).into_iter().find(|e| *e != echo_entry).unwrap();
    // echo's compiled code under counter's name: the MAC binds it to echo.
    std::fs::copy(&echo_entry, &counter_entry).unwrap();
    let again = host(&cache);
    let counter = again.load_file(fixture("counter")).await.unwrap();
    assert_eq!(counter.handle("tick").await.unwrap(), "1", "counter's own code runs");
    assert_eq!(stats(&again), (0, 0, 1));
}

#[cfg(unix)]
#[tokio::test]
async fn links_and_entries_others_can_write_are_not_followed_or_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let cache = Scratch::new();
    host(&cache).load_file(fixture("echo")).await.unwrap();
    let [entry] = entries(&cache).try_into().unwrap();
    // Entries and the key are written private to this user.
    assert_eq!(std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777, 0o600);
    let mut key = cache.path().as_os_str().to_owned();
    key.push(".key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);

    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    let again = host(&cache);
    assert_eq!(again.load_file(fixture("echo")).await.unwrap().handle("ok").await.unwrap(), "ok");
    assert_eq!(stats(&again), (0, 0, 1), "a world-writable entry was trusted");

    // A good entry, reached through a link, is not followed.
    let aside = cache.path().join("aside");
    std::fs::rename(&entry, &aside).unwrap();
    std::os::unix::fs::symlink(&aside, &entry).unwrap();
    let linked = host(&cache);
    linked.load_file(fixture("echo")).await.unwrap();
    assert_eq!(stats(&linked), (0, 0, 1), "a link was followed");

    // With the key gone, old entries no longer check: a fresh key makes
    // them foreign.
    std::fs::remove_file(&key).unwrap();
    let rekeyed = host(&cache);
    rekeyed.load_file(fixture("echo")).await.unwrap();
    assert_eq!(stats(&rekeyed), (0, 0, 1));
}

#[tokio::test]
async fn every_flipped_byte_and_every_cut_is_rejected() {
    let cache = Scratch::new();
    host(&cache).load_file(fixture("echo")).await.unwrap();
    let [entry] = entries(&cache).try_into().unwrap();
    let good = std::fs::read(&entry).unwrap();
    // Bytes across the code, and cuts of it.
    let len = good.len();
    let places = [0, 15, 16, 47, 48, 100, len / 3, len / 2, len - 1];
    for at in places {
        let mut flipped = good.clone();
        flipped[at] ^= 0x01;
        std::fs::write(&entry, &flipped).unwrap();
        let again = host(&cache);
        again.load_file(fixture("echo")).await.unwrap();
        assert_eq!(stats(&again), (0, 0, 1), "a byte flipped at {at} was trusted");
        std::fs::write(&entry, &good[..at]).unwrap();
        let cut = host(&cache);
        cut.load_file(fixture("echo")).await.unwrap();
        assert_eq!(stats(&cut), (0, 0, 1), "a cut at {at} was trusted");
    }
}

/// A component answering `n`: the same size in bytes for every one-digit
/// `n`, so that one can be written over another in place.
fn answering(n: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
            (core module $m (func (export "answer") (result i32) i32.const {n}))
            (core instance $i (instantiate $m))
            (func (export "answer") (result u32) (canon lift (core func $i "answer"))))"#
    ))
    .unwrap()
}

/// Waits until what was written just now is settled (older than the
/// second a fingerprint needs; see the host's `compile::fingerprint`).
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

async fn answer(host: &Host, path: &std::path::Path) -> String {
    host.load_file(path).await.unwrap().call_wave("answer", &[] as &[&str]).await.unwrap().join(" ")
}

/// Writes `bytes` over the file at `path` in place (the same inode), then
/// sets its modification time back to what it was.
fn rewrite_in_place(path: &std::path::Path, bytes: &[u8]) {
    use std::io::Write;
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
    file.set_modified(modified).unwrap();
}

/// Loads until the cache knows both files, then returns the stats of a
/// load that read neither.
async fn known_load(cache: &Scratch, path: &std::path::Path) -> CacheStats {
    // The first load compiles and records the plugin file; the second
    // checks the entry whole and records it, once it is settled.
    answer(&host(cache), path).await;
    settle();
    answer(&host(cache), path).await;
    let known = host(cache);
    answer(&known, path).await;
    known.cache_stats().unwrap()
}

#[tokio::test]
async fn a_known_unchanged_plugin_loads_without_reading_either_file() {
    let (plugins, cache) = (Scratch::new(), Scratch::new());
    let path = plugins.write("answer.wasm", answering(4));
    settle();
    let stats = known_load(&cache, &path).await;
    assert_eq!((stats.hits, stats.unread, stats.misses, stats.rejected), (1, 1, 0, 0));
}

#[tokio::test]
async fn a_plugin_rewritten_in_place_with_its_old_time_is_read_again() {
    let (plugins, cache) = (Scratch::new(), Scratch::new());
    let path = plugins.write("answer.wasm", answering(4));
    settle();
    known_load(&cache, &path).await;
    // The same size, at the same path and inode, its modification time
    // set back: only the change time, which no one can set back, differs.
    let new = answering(7);
    assert_eq!(new.len(), answering(4).len());
    rewrite_in_place(&path, &new);
    let again = host(&cache);
    assert_eq!(answer(&again, &path).await, "7");
    let stats = again.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.unread, stats.misses), (0, 0, 1));
}

#[tokio::test]
async fn an_entry_edited_after_it_was_checked_is_checked_whole_again() {
    let (plugins, cache) = (Scratch::new(), Scratch::new());
    let path = plugins.write("answer.wasm", answering(4));
    settle();
    known_load(&cache, &path).await;
    let [entry] = entries(&cache).try_into().unwrap();
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    rewrite_in_place(&entry, &bytes);
    let again = host(&cache);
    assert_eq!(answer(&again, &path).await, "4");
    let stats = again.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.unread, stats.rejected), (0, 0, 1));
}

#[tokio::test]
async fn a_record_from_another_key_is_not_trusted() {
    let (plugins, cache) = (Scratch::new(), Scratch::new());
    let path = plugins.write("answer.wasm", answering(4));
    settle();
    known_load(&cache, &path).await;
    // A new key: the records (and the entry's MAC) are foreign now.
    let mut key = cache.path().as_os_str().to_owned();
    key.push(".key");
    std::fs::remove_file(&key).unwrap();
    let rekeyed = host(&cache);
    assert_eq!(answer(&rekeyed, &path).await, "4");
    let stats = rekeyed.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.unread, stats.rejected), (0, 0, 1));
}
