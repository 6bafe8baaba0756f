//! Keeping a host in line with its plugins folder: reloading a changed
//! plugin while calls go on, loading new files, unloading removed ones.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use super::{Entry, Host};
use crate::compile::code;
use crate::observe::events::Event;
use crate::{Error, Plugin, Result};

/// What a watcher compares to notice that a plugin's files changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    wasm: Option<(SystemTime, u64)>,
    manifest: Option<(SystemTime, u64)>,
}

impl Stamp {
    pub fn of(path: &Path) -> Self {
        let read =
            |p: &Path| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
        Self { wasm: read(path), manifest: read(&path.with_extension("toml")) }
    }
}

impl Host {
    /// Loads the plugin `name` again from its file. Calls in flight finish
    /// on the old version; new calls go to the new one. If the new version
    /// fails to load, the old one keeps serving and the error says why.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchPlugin`], or why the new version did not load.
    pub async fn reload(&self, name: &str) -> Result<Arc<Plugin>> {
        let old = self.plugin(name)?;
        let stamp = Stamp::of(old.path());
        let prepared = match self.prepare(old.path(), name, None).await {
            Ok(plugin) => self.wire(&plugin).await.map(|wiring| (plugin, wiring)),
            Err(err) => Err(err),
        };
        let installed = match prepared {
            Ok((plugin, wiring)) => {
                self.install(plugin.clone(), stamp, Some(&old), wiring).map(|entry| (plugin, entry))
            }
            Err(err) => Err(err),
        };
        let (plugin, replaced) = match installed {
            Ok(installed) => installed,
            Err(err) => {
                let reason = err.to_string();
                self.services.events.send(|| Event::ReloadFailed { plugin: name.into(), reason });
                return Err(err);
            }
        };
        self.services.events.send(|| Event::Reloaded { plugin: name.into() });
        if let Some(entry) = replaced {
            tokio::spawn(retire(entry));
        }
        Ok(plugin)
    }

    /// Brings the host in line with `dir` once: new files load, changed
    /// files (the `.wasm` or its `.toml`) reload, removed files unload.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `dir` cannot be read; each plugin's failure is in
    /// the report.
    pub async fn sync_dir(&self, dir: impl AsRef<Path>) -> Result<SyncReport> {
        let dir = dir.as_ref();
        let mut report = SyncReport::default();
        let files = code::wasm_files(dir)?;
        for path in &files {
            let Ok(name) = code::plugin_name(path) else { continue };
            let stamp = Stamp::of(path);
            let loaded = self.plugins_read().get(&name).map(|e| (e.stamp, e.plugin.path() == path));
            match loaded {
                Some((old, true)) if old == stamp => {}
                Some((_, true)) => {
                    if self.failed_before(path, stamp) {
                        continue;
                    }
                    match self.reload(&name).await {
                        Ok(_) => report.reloaded.push(name),
                        Err(err) => self.record_failure(path, stamp, err, &mut report),
                    }
                }
                Some((_, false)) => {}
                None => {
                    if self.failed_before(path, stamp) {
                        continue;
                    }
                    match self.load_file(path).await {
                        Ok(_) => report.loaded.push(name),
                        Err(err) => self.record_failure(path, stamp, err, &mut report),
                    }
                }
            }
        }
        let gone: Vec<String> = self
            .plugins_read()
            .iter()
            .filter(|(_, e)| {
                e.plugin.path().parent() == Some(dir)
                    && !files.contains(&e.plugin.path().to_path_buf())
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Err(err) = self.unload(&name).await {
                report.failed.push(err);
            }
            report.unloaded.push(name);
        }
        Ok(report)
    }

    fn failed_before(&self, path: &Path, stamp: Stamp) -> bool {
        self.failed.lock().unwrap_or_else(PoisonError::into_inner).get(path) == Some(&stamp)
    }

    fn record_failure(&self, path: &Path, stamp: Stamp, err: Error, report: &mut SyncReport) {
        self.failed.lock().unwrap_or_else(PoisonError::into_inner).insert(path.to_owned(), stamp);
        report.failed.push(err);
    }

    /// Watches `dir`, syncing the host with it every `every` (see
    /// [`Host::sync_dir`]), until the returned [`Watcher`] is dropped.
    /// What changes shows in [`Host::events`].
    pub fn watch(self: &Arc<Self>, dir: impl Into<PathBuf>, every: Duration) -> Watcher {
        let host = Arc::downgrade(self);
        let dir = dir.into();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(host) = host.upgrade() else { break };
                match host.sync_dir(&dir).await {
                    // At error level: nobody else tells of a file that
                    // failed while the host watched (a reload keeps the
                    // old version, which is easy to miss).
                    Ok(report) => {
                        for err in report.failed {
                            tracing::error!(target: "witplug::host", "watch: {err}");
                        }
                    }
                    Err(err) => tracing::error!(target: "witplug::host", "watch: {err}"),
                }
            }
        });
        Watcher { task }
    }
}

/// Shuts down a replaced version once nothing can call it: its queued
/// messages are delivered, and calls made on it before the swap finish.
async fn retire(mut entry: Entry) {
    if let Some(delivery) = entry.close_delivery() {
        let _ = delivery.await;
    }
    let old = entry.plugin.clone();
    drop(entry);
    // Callers that fetched the old version before the swap may still call
    // it; wait until they let go (within reason), then shut it down.
    let patience = tokio::time::Instant::now() + Duration::from_secs(60);
    while Arc::strong_count(&old) > 1 && tokio::time::Instant::now() < patience {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = old.stop().await;
}

/// What one [`Host::sync_dir`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SyncReport {
    /// Plugins loaded from new files.
    pub loaded: Vec<String>,
    /// Plugins replaced by a new version.
    pub reloaded: Vec<String>,
    /// Plugins whose file is gone.
    pub unloaded: Vec<String>,
    /// What failed; a plugin whose reload failed keeps its old version.
    pub failed: Vec<Error>,
}

/// Watches a plugins folder while it lives; see [`Host::watch`].
#[derive(Debug)]
pub struct Watcher {
    task: JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}
