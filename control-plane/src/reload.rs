//! Watching the config file and keeping the last good config serving.
//!
//! [`ConfigWatcher`] watches the file's *directory* (not the file): editors that write a
//! temporary file and rename it over the original, and Kubernetes ConfigMap volumes that
//! swap a `..data` symlink, replace the file's inode, which a watch on the file itself would
//! lose. Events are debounced (see [`ConfigWatcher`]), then [`Reloader::reload`] reads the
//! file through any symlinks and compares a hash of its bytes with the last one tried, so
//! unrelated events in the directory, and saves that change nothing, cost nothing.
//!
//! A good edit becomes a snapshot and is published step by step (see
//! [`crate::xds::snapshot::make_before_break`]). A broken edit is refused: every diagnostic
//! is logged as `FILE:LINE:COL: message`, counted in `llm_router_config_reload_errors_total`,
//! shown on `/status`, and the last good config keeps serving until the next good edit.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher as _};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::telemetry::{ConfigStatus, Metrics};
use crate::xds::cache::{CacheReader, SnapshotCache};
use crate::xds::snapshot::{make_before_break, Snapshot, CLUSTER, EXTENSION_CONFIG, LISTENER, ROUTE};

/// Turns the config file's text into a snapshot: `Ok((snapshot, warnings))`, or every error.
pub type Builder = Box<dyn Fn(&str) -> Result<(Snapshot, Vec<String>), Vec<String>> + Send + Sync>;

/// How long one step of a make-before-break publication waits for proxies to apply it.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch {dir} for changes to the config: {source}")]
    Watch { dir: String, source: notify::Error },
}

/// Debounced change notifications for one file.
///
/// The debounce is a fixed window opened by the first event: changes are read `debounce`
/// after the first event of a burst, however many follow. (A debouncer whose timer restarts
/// on every event, as `notify-debouncer-full`'s does, never fires while edits keep coming
/// faster than its timeout: a generator rewriting the file every 80 ms would starve reloads.)
pub struct ConfigWatcher {
    _watcher: notify::RecommendedWatcher,
    rx: mpsc::UnboundedReceiver<()>,
    debounce: Duration,
}

impl ConfigWatcher {
    pub fn new(file: &Path, debounce: Duration) -> Result<ConfigWatcher, WatchError> {
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let handler = move |res: notify::Result<notify::Event>| match res {
            // Reading the file ourselves makes access events: ignore those.
            Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
            Ok(_) => {
                let _ = tx.send(());
            }
            Err(e) => {
                warn!(error = %e, "file watcher error");
                let _ = tx.send(());
            }
        };
        let watch_err = |source| WatchError::Watch { dir: dir.display().to_string(), source };
        let mut watcher = notify::recommended_watcher(handler).map_err(watch_err)?;
        watcher.watch(&dir, RecursiveMode::NonRecursive).map_err(watch_err)?;
        Ok(ConfigWatcher { _watcher: watcher, rx, debounce })
    }

    /// Waits for the next burst of changes and its debounce window; false when the watcher stopped.
    pub async fn changed(&mut self) -> bool {
        if self.rx.recv().await.is_none() {
            return false;
        }
        tokio::time::sleep(self.debounce).await;
        while self.rx.try_recv().is_ok() {}
        true
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file's bytes are the ones tried last.
    Unchanged,
    /// A new snapshot is served (its version), or the edit changed nothing Envoy sees (same version).
    Applied { version: String, changed: bool },
    /// The edit was refused; the diagnostics.
    Refused(Vec<String>),
}

/// Keeps the last good config serving.
pub struct Reloader {
    path: PathBuf,
    build: Builder,
    cache: SnapshotCache,
    reader: CacheReader,
    metrics: Arc<Metrics>,
    status: Arc<Mutex<ConfigStatus>>,
    last_hash: Option<[u8; 32]>,
    /// The text of the config being served, for [`Reloader::rebuild`].
    last_good: Option<String>,
    /// Proxies get this long to apply each make-before-break step.
    pub step_timeout: Duration,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        build: Builder,
        cache: SnapshotCache,
        reader: CacheReader,
        metrics: Arc<Metrics>,
        status: Arc<Mutex<ConfigStatus>>,
    ) -> Reloader {
        status.lock().unwrap_or_else(|p| p.into_inner()).file = path.display().to_string();
        Reloader {
            path,
            build,
            cache,
            reader,
            metrics,
            status,
            last_hash: None,
            last_good: None,
            step_timeout: STEP_TIMEOUT,
        }
    }

    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.cache.current()
    }

    fn set_status(&self, f: impl FnOnce(&mut ConfigStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Reads the file and, when its bytes changed, builds and publishes it.
    pub async fn reload(&mut self) -> Outcome {
        let text = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) => {
                let msg = format!(
                    "{}:1:1: cannot read the config file: {e}; still serving the last good config",
                    self.path.display()
                );
                return self.refuse(vec![msg], None);
            }
        };
        let hash: [u8; 32] = Sha256::digest(&text).into();
        if self.last_hash == Some(hash) {
            return Outcome::Unchanged;
        }
        self.last_hash = Some(hash);
        let text = String::from_utf8_lossy(&text).into_owned();
        self.build_and_publish(text).await
    }

    /// Builds the config being served again, for inputs other than the file that changed
    /// (a Vertex access token was refreshed). Unchanged when nothing has been served yet.
    pub async fn rebuild(&mut self) -> Outcome {
        match self.last_good.clone() {
            Some(text) => self.build_and_publish(text).await,
            None => Outcome::Unchanged,
        }
    }

    async fn build_and_publish(&mut self, text: String) -> Outcome {
        let t0 = Instant::now();
        let built = (self.build)(&text);
        self.metrics.snapshot_build_seconds.observe(t0.elapsed().as_secs_f64());
        match built {
            Err(errors) => self.refuse(errors, Some(t0)),
            Ok((snapshot, warnings)) => {
                for w in &warnings {
                    warn!("{w}");
                }
                let version = snapshot.version.clone();
                self.last_good = Some(text);
                let changed = self.publish(snapshot).await;
                if changed {
                    self.metrics.config_generation.inc();
                }
                self.metrics.last_reload_success.set(1);
                self.metrics.set_version(&version);
                let generation = self.metrics.config_generation.get();
                self.set_status(|s| {
                    s.version = version.clone();
                    s.generation = generation;
                    s.last_errors.clear();
                });
                if changed {
                    info!(version, generation, build_ms = t0.elapsed().as_millis() as u64, "config loaded and pushed");
                } else {
                    info!(version, "config edit changes nothing Envoy sees; nothing pushed");
                }
                Outcome::Applied { version, changed }
            }
        }
    }

    fn refuse(&mut self, errors: Vec<String>, _t0: Option<Instant>) -> Outcome {
        let serving = self.cache.current().map(|s| s.version.clone()).unwrap_or_else(|| "none".into());
        for e in &errors {
            error!("{e}");
        }
        error!(
            file = %self.path.display(),
            errors = errors.len(),
            serving,
            "config edit refused; the last good config keeps serving"
        );
        self.metrics.reload_errors.inc();
        self.metrics.last_reload_success.set(0);
        self.set_status(|s| s.last_errors = errors.clone());
        Outcome::Refused(errors)
    }

    /// Publishes `new` make-before-break. False when it is already the version served.
    async fn publish(&mut self, new: Snapshot) -> bool {
        let old = self.cache.current();
        if old.as_ref().is_some_and(|o| o.version == new.version) {
            return false;
        }
        let steps = make_before_break(old.as_deref(), &new);
        let last = steps.len().saturating_sub(1);
        for (i, step) in steps.into_iter().enumerate() {
            let waits = i < last;
            let version = step.version.clone();
            self.cache.set(step.clone());
            if waits {
                debug!(step = i + 1, version, "make-before-break step; waiting for proxies to apply it");
                let types = [CLUSTER, LISTENER, EXTENSION_CONFIG, ROUTE];
                if !self.reader.wait_applied(&step, &types, self.step_timeout).await {
                    warn!(
                        step = i + 1,
                        version,
                        timeout_s = self.step_timeout.as_secs(),
                        "not every proxy applied a make-before-break step in time; going on"
                    );
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xds::snapshot::tests::snap;

    fn fake_builder() -> Builder {
        // "clusters: a=1,b=2" -> a snapshot; anything else is an error at 1:1.
        Box::new(|text: &str| {
            let Some(list) = text.trim().strip_prefix("clusters:") else {
                return Err(vec![format!("test.yaml:1:1: expected clusters:, found {:?}", text.trim())]);
            };
            let pairs: Vec<(String, String)> = list
                .split(',')
                .filter_map(|p| p.trim().split_once('=').map(|(a, b)| (a.to_string(), b.to_string())))
                .collect();
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            Ok((snap(&refs, &[("r", list)]), vec![]))
        })
    }

    fn reloader(path: &Path) -> (Reloader, Arc<Metrics>) {
        let (cache, reader) = SnapshotCache::new();
        let metrics = Metrics::new();
        let status = Arc::new(Mutex::new(ConfigStatus::default()));
        (Reloader::new(path.to_path_buf(), fake_builder(), cache, reader, metrics.clone(), status), metrics)
    }

    #[tokio::test]
    async fn a_broken_edit_keeps_the_last_good_config_and_the_next_good_one_is_taken() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "clusters: a=1").expect("write");
        let (mut r, metrics) = reloader(&path);
        let Outcome::Applied { version: good, .. } = r.reload().await else { panic!("first load") };
        assert_eq!(r.reload().await, Outcome::Unchanged);
        std::fs::write(&path, "oops").expect("write");
        assert!(matches!(r.reload().await, Outcome::Refused(e) if e[0].starts_with("test.yaml:1:1: ")));
        assert_eq!(r.current().map(|s| s.version.clone()), Some(good.clone()), "still serving the good one");
        assert_eq!(metrics.reload_errors.get(), 1);
        assert_eq!(metrics.last_reload_success.get(), 0);
        std::fs::write(&path, "clusters: a=2").expect("write");
        assert!(matches!(r.reload().await, Outcome::Applied { changed: true, .. }));
        assert_ne!(r.current().map(|s| s.version.clone()), Some(good));
        assert_eq!(metrics.last_reload_success.get(), 1);
        assert_eq!(metrics.config_generation.get(), 2);
    }

    #[tokio::test]
    async fn a_missing_file_is_refused_and_keeps_serving() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "clusters: a=1").expect("write");
        let (mut r, _) = reloader(&path);
        r.reload().await;
        std::fs::remove_file(&path).expect("rm");
        assert!(matches!(r.reload().await, Outcome::Refused(_)));
        assert!(r.current().is_some());
    }

    async fn next_change(w: &mut ConfigWatcher) -> bool {
        tokio::time::timeout(Duration::from_secs(5), w.changed()).await.unwrap_or(false)
    }

    #[tokio::test]
    async fn the_watcher_sees_a_rename_over_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "clusters: a=1").expect("write");
        let mut w = ConfigWatcher::new(&path, Duration::from_millis(50)).expect("watch");
        let tmp = dir.path().join(".c.yaml.swp");
        std::fs::write(&tmp, "clusters: a=2").expect("write tmp");
        std::fs::rename(&tmp, &path).expect("rename");
        assert!(next_change(&mut w).await, "rename seen");
        assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), "clusters: a=2");
        // And a second edit after the inode changed.
        std::fs::write(&path, "clusters: a=3").expect("write");
        assert!(next_change(&mut w).await, "in-place write after the rename seen");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_watcher_sees_a_configmap_style_symlink_swap() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("..2024_01")).expect("mkdir");
        std::fs::write(d.join("..2024_01/c.yaml"), "clusters: a=1").expect("write");
        symlink("..2024_01", d.join("..data")).expect("symlink");
        symlink("..data/c.yaml", d.join("c.yaml")).expect("symlink");
        let path = d.join("c.yaml");
        let (mut r, _) = reloader(&path);
        assert!(matches!(r.reload().await, Outcome::Applied { .. }));
        let mut w = ConfigWatcher::new(&path, Duration::from_millis(50)).expect("watch");
        // What the kubelet does: new timestamped dir, new ..data_tmp link, renamed over ..data.
        std::fs::create_dir(d.join("..2024_02")).expect("mkdir");
        std::fs::write(d.join("..2024_02/c.yaml"), "clusters: a=9").expect("write");
        symlink("..2024_02", d.join("..data_tmp")).expect("symlink");
        std::fs::rename(d.join("..data_tmp"), d.join("..data")).expect("swap");
        std::fs::remove_dir_all(d.join("..2024_01")).expect("rm old");
        assert!(next_change(&mut w).await, "swap seen");
        assert!(matches!(r.reload().await, Outcome::Applied { changed: true, .. }));
    }
}
