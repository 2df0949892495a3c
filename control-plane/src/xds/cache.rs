//! The snapshot every connection serves, and what each connected proxy has.
//!
//! [`SnapshotCache::new`] returns the writer ([`SnapshotCache`], held by the one place that
//! builds snapshots) and connections read through [`CacheReader`]: a `tokio::sync::watch`
//! hands each stream the latest snapshot, skipping intermediate ones a slow stream missed.
//! The proxy registry records versions ACKed and NACKed per connection, for `/status`, for
//! the metrics and for [`CacheReader::wait_applied`] (make-before-break waits on it).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::watch;

use super::snapshot::Snapshot;

/// What one connected proxy has, as seen from its ADS stream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProxyStatus {
    pub node_id: String,
    pub peer: String,
    /// `sotw` or `delta`.
    pub protocol: &'static str,
    pub connected_at_unix: u64,
    /// type URL -> last version it ACKed.
    pub acked: BTreeMap<String, String>,
    /// type URL -> (version, Envoy's error detail) of its last NACK, cleared by a later ACK.
    pub nacked: BTreeMap<String, (String, String)>,
}

#[derive(Debug, Default)]
struct Registry {
    proxies: BTreeMap<u64, ProxyStatus>,
}

#[derive(Debug)]
struct Shared {
    registry: Mutex<Registry>,
    /// Bumped on every ACK, NACK and disconnect.
    changes: watch::Sender<u64>,
    next_id: AtomicU64,
}

/// The writer: sets the snapshot everyone serves.
#[derive(Debug)]
pub struct SnapshotCache {
    tx: watch::Sender<Option<Arc<Snapshot>>>,
}

/// The readers' handle: the current snapshot and the proxy registry.
#[derive(Debug, Clone)]
pub struct CacheReader {
    rx: watch::Receiver<Option<Arc<Snapshot>>>,
    shared: Arc<Shared>,
}

impl SnapshotCache {
    pub fn new() -> (SnapshotCache, CacheReader) {
        let (tx, rx) = watch::channel(None);
        let (changes, _) = watch::channel(0);
        let shared = Arc::new(Shared { registry: Mutex::default(), changes, next_id: AtomicU64::new(1) });
        (SnapshotCache { tx }, CacheReader { rx, shared })
    }

    /// Serves `snapshot` from now on. Returns false (and changes nothing) when it is the
    /// version already served.
    pub fn set(&self, snapshot: Snapshot) -> bool {
        let snapshot = Arc::new(snapshot);
        self.tx.send_if_modified(|cur| {
            if cur.as_ref().is_some_and(|c| c.version == snapshot.version) {
                false
            } else {
                *cur = Some(snapshot.clone());
                true
            }
        })
    }

    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.tx.borrow().clone()
    }
}

impl CacheReader {
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.rx.borrow().clone()
    }

    /// A receiver that sees every later `set`.
    pub fn watch(&self) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.rx.clone()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.shared.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new stream; the handle unregisters it on drop.
    pub fn connect(&self, protocol: &'static str, peer: String) -> ProxyHandle {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let connected_at_unix =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.registry().proxies.insert(id, ProxyStatus { protocol, peer, connected_at_unix, ..Default::default() });
        ProxyHandle { id, reader: self.clone() }
    }

    pub fn proxies(&self) -> Vec<ProxyStatus> {
        self.registry().proxies.values().cloned().collect()
    }

    pub fn connected(&self) -> usize {
        self.registry().proxies.len()
    }

    /// Waits until every connected proxy that holds some version of each of `type_urls` has
    /// answered (ACK or NACK) `snapshot`'s version of it, or `timeout` passes. True when all did.
    pub async fn wait_applied(&self, snapshot: &Snapshot, type_urls: &[&str], timeout: Duration) -> bool {
        let mut changes = self.shared.changes.subscribe();
        let done = |reg: &Registry| {
            reg.proxies.values().all(|p| {
                type_urls.iter().all(|t| {
                    let want = snapshot.type_version(t);
                    let has = p.acked.get(*t).map(|v| v.as_str());
                    has.is_none() || has == Some(want) || p.nacked.get(*t).is_some_and(|(v, _)| v == want)
                })
            })
        };
        let wait = async {
            loop {
                if done(&self.registry()) {
                    return;
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

/// One registered stream.
#[derive(Debug)]
pub struct ProxyHandle {
    id: u64,
    reader: CacheReader,
}

impl ProxyHandle {
    pub fn set_node(&self, node_id: &str) {
        if let Some(p) = self.reader.registry().proxies.get_mut(&self.id) {
            if p.node_id.is_empty() {
                p.node_id = node_id.to_string();
            }
        }
    }

    pub fn acked(&self, type_url: &str, version: &str) {
        if let Some(p) = self.reader.registry().proxies.get_mut(&self.id) {
            p.acked.insert(type_url.to_string(), version.to_string());
            p.nacked.remove(type_url);
        }
        self.reader.shared.changes.send_modify(|n| *n += 1);
    }

    pub fn nacked(&self, type_url: &str, version: &str, detail: &str) {
        if let Some(p) = self.reader.registry().proxies.get_mut(&self.id) {
            p.nacked.insert(type_url.to_string(), (version.to_string(), detail.to_string()));
        }
        self.reader.shared.changes.send_modify(|n| *n += 1);
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.reader.registry().proxies.remove(&self.id);
        self.reader.shared.changes.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xds::snapshot::tests::snap;
    use crate::xds::snapshot::CLUSTER;

    #[test]
    fn setting_the_same_version_twice_is_a_no_op() {
        let (w, r) = SnapshotCache::new();
        let rx = r.watch();
        assert!(w.set(snap(&[("a", "1")], &[])));
        assert!(!w.set(snap(&[("a", "1")], &[])));
        assert!(w.set(snap(&[("a", "2")], &[])));
        assert!(rx.has_changed().unwrap_or(false));
    }

    #[tokio::test]
    async fn wait_applied_returns_when_every_proxy_acked_or_left() {
        let (w, r) = SnapshotCache::new();
        let s = snap(&[("a", "1")], &[]);
        w.set(s.clone());
        let p1 = r.connect("sotw", "test".into());
        let p2 = r.connect("sotw", "test".into());
        p1.acked(CLUSTER, "old");
        p2.acked(CLUSTER, "old");
        assert!(!r.wait_applied(&s, &[CLUSTER], Duration::from_millis(20)).await);
        p1.acked(CLUSTER, s.type_version(CLUSTER));
        let waiter = {
            let r = r.clone();
            let s = s.clone();
            tokio::spawn(async move { r.wait_applied(&s, &[CLUSTER], Duration::from_secs(5)).await })
        };
        drop(p2);
        assert!(waiter.await.unwrap_or(false));
        assert_eq!(r.connected(), 1);
    }
}
