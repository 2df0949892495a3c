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
//!
//! A file written in place (`cat > file`, `scp`) can be read half-written, and the first half
//! of a config is often a valid, smaller config. So an edit that removes the master key or a
//! whole model group is not applied when first read ([`decide`]): it is applied only when the
//! file still holds the same bytes a debounce window later (the operator meant it), with a
//! warning naming what it removes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher as _};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::config::{self, Config};
use crate::telemetry::{ConfigStatus, Metrics};
use crate::xds::cache::{CacheReader, SnapshotCache};
use crate::xds::snapshot::{make_before_break, Snapshot, CLUSTER, EXTENSION_CONFIG, LISTENER, ROUTE};

/// A config file's text, built.
#[derive(Debug)]
pub struct Built {
    pub snapshot: Snapshot,
    pub warnings: Vec<String>,
    /// What clients depend on, for [`decide`].
    pub shape: Shape,
}

/// Turns the config file's text into a snapshot, or every error.
pub type Builder = Box<dyn Fn(&str) -> Result<Built, Vec<String>> + Send + Sync>;

/// What clients of a config depend on: a half-written file typically lacks some of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// `general_settings.master_key` is set.
    pub master_key: bool,
    /// Model group names (`model_name`s).
    pub groups: BTreeSet<String>,
}

impl Shape {
    pub fn of(config: &Config) -> Shape {
        Shape {
            master_key: config.master_key.is_some(),
            groups: config.deployments.iter().map(|d| d.model_name.clone()).collect(),
        }
    }
}

/// Whether a good edit is applied when first read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Apply,
    /// Applied only if the file holds the same bytes a debounce window later; what it removes.
    WaitForStable(String),
}

/// An edit that removes the master key or a whole model group waits for the file to be
/// stable: it is what a file read half-way through a write in place looks like.
pub fn decide(old: &Shape, new: &Shape) -> Decision {
    let mut removed = Vec::new();
    if old.master_key && !new.master_key {
        removed.push("the master key (general_settings.master_key)".to_string());
    }
    let groups: Vec<&str> = old.groups.difference(&new.groups).map(String::as_str).collect();
    match groups.as_slice() {
        [] => {}
        [one] => removed.push(format!("model group '{one}'")),
        many => removed.push(format!("model groups '{}'", many.join("', '"))),
    }
    if removed.is_empty() {
        Decision::Apply
    } else {
        Decision::WaitForStable(removed.join(" and "))
    }
}

/// A good edit held back by [`decide`] until the file is stable.
struct Pending {
    hash: [u8; 32],
    /// When it was first read.
    since: Instant,
    removes: String,
}

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
    /// When the open window closes. Kept here, not in [`ConfigWatcher::changed`]'s future, so
    /// that a `select!` dropping that future mid-window does not lose the change.
    due: Option<tokio::time::Instant>,
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
        Ok(ConfigWatcher { _watcher: watcher, rx, debounce, due: None })
    }

    /// Waits for the next burst of changes and its debounce window; false when the watcher
    /// stopped. Cancel-safe: a window already open stays open.
    pub async fn changed(&mut self) -> bool {
        let due = match self.due {
            Some(due) => due,
            None => {
                if self.rx.recv().await.is_none() {
                    return false;
                }
                *self.due.insert(tokio::time::Instant::now() + self.debounce)
            }
        };
        tokio::time::sleep_until(due).await;
        self.due = None;
        while self.rx.try_recv().is_ok() {}
        true
    }

    /// Opens a window now, file event or not: [`ConfigWatcher::changed`] fires once it closes.
    /// For an edit [`Reloader::reload`] deferred until the file is stable.
    pub fn recheck(&mut self) {
        self.due.get_or_insert_with(|| tokio::time::Instant::now() + self.debounce);
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
    /// A good edit that removes what it names waits for the file to hold the same bytes
    /// [`Reloader::stable_window`] later; read the file again then ([`ConfigWatcher::recheck`]).
    Deferred(String),
}

/// The default [`Reloader::stable_window`].
pub const DEFAULT_STABLE_WINDOW: Duration = Duration::from_millis(100);

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
    /// What the config being served offers, for [`decide`].
    last_shape: Option<Shape>,
    pending: Option<Pending>,
    /// Proxies get this long to apply each make-before-break step.
    pub step_timeout: Duration,
    /// How long a deferred edit's bytes must stay the same before it is applied (`serve`
    /// uses its debounce window).
    pub stable_window: Duration,
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
            last_shape: None,
            pending: None,
            step_timeout: STEP_TIMEOUT,
            stable_window: DEFAULT_STABLE_WINDOW,
        }
    }

    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.cache.current()
    }

    fn set_status(&self, f: impl FnOnce(&mut ConfigStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Reads the file and, when its bytes changed, builds and publishes it (or defers it,
    /// see [`decide`]).
    pub async fn reload(&mut self) -> Outcome {
        let text = match config::read_file(&self.path) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.pending = None;
                let msg = format!("{}:1:1: {e}; still serving the last good config", self.path.display());
                return self.refuse(vec![msg], None);
            }
        };
        let hash: [u8; 32] = Sha256::digest(&text).into();
        if self.last_hash == Some(hash) {
            self.pending = None;
            return Outcome::Unchanged;
        }
        let stable = match &self.pending {
            Some(p) if p.hash == hash && p.since.elapsed() >= self.stable_window => true,
            Some(p) if p.hash == hash => return Outcome::Deferred(p.removes.clone()),
            _ => false,
        };
        let text = String::from_utf8_lossy(&text).into_owned();
        let t0 = Instant::now();
        let built = (self.build)(&text);
        self.metrics.snapshot_build_seconds.observe(t0.elapsed().as_secs_f64());
        let built = match built {
            Ok(built) => built,
            Err(errors) => {
                self.last_hash = Some(hash);
                self.pending = None;
                return self.refuse(errors, Some(t0));
            }
        };
        let decision = match &self.last_shape {
            Some(old) if !stable => decide(old, &built.shape),
            _ => Decision::Apply,
        };
        match decision {
            Decision::WaitForStable(removes) => {
                warn!(
                    file = %self.path.display(),
                    wait_ms = self.stable_window.as_millis() as u64,
                    "config edit removes {removes}; applied only if the file is unchanged after the wait \
                     (a file written in place may have been read half-written)"
                );
                self.pending = Some(Pending { hash, since: Instant::now(), removes: removes.clone() });
                Outcome::Deferred(removes)
            }
            Decision::Apply => {
                if let Some(p) = self.pending.take().filter(|_| stable) {
                    warn!(file = %self.path.display(), "config edit removes {}; the file is unchanged, applying it", p.removes);
                }
                self.last_hash = Some(hash);
                self.publish_built(text, built, t0).await
            }
        }
    }

    /// Builds the config being served again, for inputs other than the file that changed
    /// (a Vertex access token was refreshed). Unchanged when nothing has been served yet.
    pub async fn rebuild(&mut self) -> Outcome {
        let Some(text) = self.last_good.clone() else { return Outcome::Unchanged };
        let t0 = Instant::now();
        let built = (self.build)(&text);
        self.metrics.snapshot_build_seconds.observe(t0.elapsed().as_secs_f64());
        match built {
            Ok(built) => self.publish_built(text, built, t0).await,
            Err(errors) => self.refuse(errors, Some(t0)),
        }
    }

    async fn publish_built(&mut self, text: String, built: Built, t0: Instant) -> Outcome {
        let Built { snapshot, warnings, shape } = built;
        for w in &warnings {
            warn!("{w}");
        }
        let version = snapshot.version.clone();
        self.last_good = Some(text);
        self.last_shape = Some(shape);
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
        // "clusters: a=1,b=2" -> a snapshot whose model groups are a and b; "+key" anywhere
        // means a master key is set; anything else is an error at 1:1.
        Box::new(|text: &str| {
            let Some(list) = text.trim().strip_prefix("clusters:") else {
                return Err(vec![format!("test.yaml:1:1: expected clusters:, found {:?}", text.trim())]);
            };
            let pairs: Vec<(String, String)> = list
                .split(',')
                .filter_map(|p| p.trim().split_once('=').map(|(a, b)| (a.to_string(), b.to_string())))
                .collect();
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let shape =
                Shape { master_key: list.contains("+key"), groups: pairs.iter().map(|p| p.0.clone()).collect() };
            Ok(Built { snapshot: snap(&refs, &[("r", list)]), warnings: vec![], shape })
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

    fn shape(master_key: bool, groups: &[&str]) -> Shape {
        Shape { master_key, groups: groups.iter().map(|g| g.to_string()).collect() }
    }

    #[test]
    fn an_edit_that_keeps_the_master_key_and_every_group_applies_at_once() {
        let old = shape(true, &["a", "b"]);
        assert_eq!(decide(&old, &shape(true, &["a", "b"])), Decision::Apply);
        assert_eq!(decide(&old, &shape(true, &["a", "b", "c"])), Decision::Apply);
        assert_eq!(decide(&shape(false, &["a"]), &shape(true, &["a"])), Decision::Apply);
    }

    #[test]
    fn losing_the_master_key_or_a_group_waits_for_a_stable_file() {
        let old = shape(true, &["a", "b", "c"]);
        assert_eq!(
            decide(&old, &shape(false, &["a", "b", "c"])),
            Decision::WaitForStable("the master key (general_settings.master_key)".into())
        );
        assert_eq!(decide(&old, &shape(true, &["a", "c"])), Decision::WaitForStable("model group 'b'".into()));
        assert_eq!(
            decide(&old, &shape(false, &["a"])),
            Decision::WaitForStable("the master key (general_settings.master_key) and model groups 'b', 'c'".into())
        );
    }

    #[test]
    fn the_first_half_of_a_real_config_is_valid_and_waits() {
        let full = "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: http://127.0.0.1:1/v1\n  - model_name: b\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: http://127.0.0.1:2/v1\ngeneral_settings:\n  master_key: sk-test-1234\n";
        let half = &full[..full.find("  - model_name: b").expect("second group")];
        let load =
            |t: &str| Shape::of(&config::load_str(t, "c.yaml").map_err(|d| format!("{d:?}")).expect("valid").config);
        let (old, new) = (load(full), load(half));
        assert_eq!(old, shape(true, &["a", "b"]));
        assert!(
            matches!(decide(&old, &new), Decision::WaitForStable(r) if r.contains("master key") && r.contains("'b'"))
        );
    }

    #[tokio::test]
    async fn a_removal_is_applied_once_the_file_is_unchanged_for_the_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "clusters: a=1,b=2").expect("write");
        let (mut r, metrics) = reloader(&path);
        r.stable_window = Duration::from_millis(200);
        let Outcome::Applied { version: full, .. } = r.reload().await else { panic!("first load") };
        std::fs::write(&path, "clusters: a=1").expect("write");
        assert_eq!(r.reload().await, Outcome::Deferred("model group 'b'".into()));
        assert_eq!(r.reload().await, Outcome::Deferred("model group 'b'".into()), "too early");
        assert_eq!(r.current().map(|s| s.version.clone()), Some(full.clone()), "still serving both groups");
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(matches!(r.reload().await, Outcome::Applied { changed: true, .. }));
        assert_ne!(r.current().map(|s| s.version.clone()), Some(full));
        assert_eq!(metrics.config_generation.get(), 2);
        assert_eq!(metrics.reload_errors.get(), 0);
    }

    #[tokio::test]
    async fn a_half_written_file_completed_within_the_window_is_never_served() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "clusters: a=1,b=2 +key").expect("write");
        let (mut r, metrics) = reloader(&path);
        r.stable_window = Duration::from_millis(50);
        r.reload().await;
        std::fs::write(&path, "clusters: a=1").expect("first half");
        assert!(matches!(r.reload().await, Outcome::Deferred(why) if why.contains("master key")));
        std::fs::write(&path, "clusters: a=1,b=2,c=3 +key").expect("whole file");
        assert!(matches!(r.reload().await, Outcome::Applied { changed: true, .. }));
        assert_eq!(metrics.config_generation.get(), 2, "only the whole file was served after the first");
        // The half that was never confirmed is forgotten: reading it again starts a new wait.
        std::fs::write(&path, "clusters: a=1").expect("write");
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(matches!(r.reload().await, Outcome::Deferred(_)));
    }

    #[tokio::test]
    async fn a_removal_undone_within_the_window_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "clusters: a=1,b=2").expect("write");
        let (mut r, metrics) = reloader(&path);
        r.stable_window = Duration::from_millis(50);
        r.reload().await;
        std::fs::write(&path, "clusters: b=2").expect("write");
        assert!(matches!(r.reload().await, Outcome::Deferred(_)));
        std::fs::write(&path, "clusters: a=1,b=2").expect("write");
        assert_eq!(r.reload().await, Outcome::Unchanged);
        // A new removal waits its own full window.
        tokio::time::sleep(Duration::from_millis(80)).await;
        std::fs::write(&path, "clusters: b=2").expect("write");
        assert!(matches!(r.reload().await, Outcome::Deferred(_)));
        assert_eq!(metrics.config_generation.get(), 1);
    }

    #[tokio::test]
    async fn a_file_over_the_size_cap_is_refused_without_reading_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "clusters: a=1").expect("write");
        let (mut r, _) = reloader(&path);
        r.reload().await;
        // Sparse: 2 GiB on paper, nothing on disk.
        std::fs::OpenOptions::new().write(true).open(&path).and_then(|f| f.set_len(2 << 30)).expect("grow");
        let Outcome::Refused(errors) = r.reload().await else { panic!("refused") };
        assert!(errors[0].contains(":1:1: the config file is 2048.0 MiB, more than the 16.0 MiB"), "{errors:?}");
        assert!(r.current().is_some(), "still serving");
    }

    #[tokio::test]
    async fn recheck_fires_without_a_file_event() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "clusters: a=1").expect("write");
        let mut w = ConfigWatcher::new(&path, Duration::from_millis(50)).expect("watch");
        w.recheck();
        let t0 = Instant::now();
        assert!(next_change(&mut w).await);
        assert!(t0.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_change_survives_its_wait_being_cancelled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "clusters: a=1").expect("write");
        let mut w = ConfigWatcher::new(&path, Duration::from_millis(300)).expect("watch");
        std::fs::write(&path, "clusters: a=2").expect("write");
        // A select! in serve drops the wait when another branch (a token refresh) fires.
        let cancelled = tokio::time::timeout(Duration::from_millis(100), w.changed()).await;
        assert!(cancelled.is_err(), "still in the window");
        let t0 = Instant::now();
        assert!(next_change(&mut w).await, "the change is still reported");
        assert!(t0.elapsed() < Duration::from_millis(1000), "within the open window, not a new one");
    }
}
