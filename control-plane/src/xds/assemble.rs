//! Snapshots from resources written as Envoy's canonical JSON: each resource is encoded
//! ([`super::encode`]) and the set is checked and versioned ([`super::snapshot`]).
//!
//! An [`Assembler`] takes the resources one at a time, so a caller can build each one's JSON,
//! hand it over and drop it: the JSON of 10,000 clusters never sits in memory at once. An
//! [`EncodeCache`] keeps the previous build's encodings by (type URL, name): an edit
//! re-encodes only the resources whose content changed.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::encode::{encode_json, EncodeError};
use super::snapshot::{Resource, Snapshot, SnapshotError};

#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("inconsistent snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
    #[error("a {0} resource without a name")]
    Unnamed(&'static str),
}

/// Encoded resources of the previous build, by type URL and name.
#[derive(Debug, Default)]
pub struct EncodeCache {
    entries: HashMap<&'static str, HashMap<String, Arc<Resource>>>,
}

impl EncodeCache {
    /// Resources held, of every type.
    pub fn len(&self) -> usize {
        self.entries.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds one snapshot from resources added one by one.
pub struct Assembler<'c> {
    cache: &'c mut EncodeCache,
    next: EncodeCache,
    types: Vec<(&'static str, Vec<Arc<Resource>>)>,
    /// Resources encoded by this build (not taken from the cache).
    encoded: usize,
}

impl<'c> Assembler<'c> {
    /// An assembler reusing `cache`, which [`Assembler::finish`] replaces with this build's
    /// resources.
    pub fn new(cache: &'c mut EncodeCache) -> Assembler<'c> {
        Assembler { cache, next: EncodeCache::default(), types: Vec::new(), encoded: 0 }
    }

    /// Adds a resource of `type_url` (`what` names the kind in errors: "cluster"), taken from
    /// the cache when its content is unchanged. The first resource of a type adds the type.
    pub fn add(
        &mut self,
        type_url: &'static str,
        what: &'static str,
        json: &Value,
    ) -> Result<Arc<Resource>, AssembleError> {
        let name = json.get("name").and_then(Value::as_str).ok_or(AssembleError::Unnamed(what))?;
        let version = content_version(json);
        let cached = self.cache.entries.get_mut(type_url).and_then(|t| t.remove(name));
        let resource = match cached {
            Some(r) if r.version == version => r,
            _ => {
                self.encoded += 1;
                Arc::new(Resource { name: name.to_string(), body: encode_json(type_url, name, json)?, version })
            }
        };
        self.add_resource(type_url, resource.clone());
        Ok(resource)
    }

    /// Adds a resource encoded earlier (the caller knows its content is unchanged).
    pub fn add_resource(&mut self, type_url: &'static str, resource: Arc<Resource>) {
        self.next.entries.entry(type_url).or_default().insert(resource.name.clone(), resource.clone());
        match self.types.iter_mut().find(|(t, _)| *t == type_url) {
            Some((_, list)) => list.push(resource),
            None => self.types.push((type_url, vec![resource])),
        }
    }

    /// Adds an empty type: served with no resources (unless some are added after).
    pub fn add_type(&mut self, type_url: &'static str) {
        if !self.types.iter().any(|(t, _)| *t == type_url) {
            self.types.push((type_url, Vec::new()));
        }
    }

    /// Resources encoded so far by this build (the others came from the cache).
    pub fn encoded(&self) -> usize {
        self.encoded
    }

    /// The snapshot, in which every `(type_url, name)` of `references` must be present; on
    /// success the cache holds this build's resources.
    pub fn finish(self, references: &[(String, String)]) -> Result<Snapshot, AssembleError> {
        let types = self.types.into_iter().map(|(t, list)| (t.to_string(), list));
        let snapshot = Snapshot::new(types, references)?;
        *self.cache = self.next;
        Ok(snapshot)
    }
}

/// A resource's version: the hash of its JSON text. serde_json keeps key order, so the text is
/// deterministic, unlike the protobuf of map fields in general. The text is streamed into the
/// hash, never held.
pub fn content_version(json: &Value) -> String {
    struct HashWriter(Sha256);
    impl std::io::Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hash = HashWriter(Sha256::new());
    // Writing a Value cannot fail: its keys are strings and the writer never errs.
    let _ = serde_json::to_writer(&mut hash, json);
    Resource::version_of_digest(&hash.0.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xds::snapshot::{CLUSTER, LISTENER, SECRET};
    use serde_json::json;

    fn cluster(name: &str, timeout: &str) -> Value {
        json!({"name": name, "type": "STATIC", "connect_timeout": timeout})
    }

    #[test]
    fn the_version_is_the_hash_of_the_json_text() {
        let c = cluster("a", "1s");
        let text = serde_json::to_vec(&c).expect("serialises");
        assert_eq!(content_version(&c), Resource::with_canonical("a", Vec::new(), &text).version);
    }

    #[test]
    fn only_changed_resources_are_encoded_again() {
        let mut cache = EncodeCache::default();
        let mut a = Assembler::new(&mut cache);
        a.add(CLUSTER, "cluster", &cluster("a", "1s")).expect("adds");
        a.add(CLUSTER, "cluster", &cluster("b", "1s")).expect("adds");
        assert_eq!(a.encoded(), 2);
        let first = a.finish(&[]).expect("builds");
        let mut a = Assembler::new(&mut cache);
        a.add(CLUSTER, "cluster", &cluster("a", "1s")).expect("adds");
        a.add(CLUSTER, "cluster", &cluster("b", "2s")).expect("adds");
        assert_eq!(a.encoded(), 1, "a is unchanged");
        let second = a.finish(&[]).expect("builds");
        assert!(Arc::ptr_eq(&first.get(CLUSTER, "a").expect("a").clone(), second.get(CLUSTER, "a").expect("a")));
        assert_ne!(first.get(CLUSTER, "b"), second.get(CLUSTER, "b"));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_type_is_served_once_added_and_only_then() {
        let mut cache = EncodeCache::default();
        let mut a = Assembler::new(&mut cache);
        a.add_type(LISTENER);
        a.add(CLUSTER, "cluster", &cluster("a", "1s")).expect("adds");
        let s = a.finish(&[]).expect("builds");
        assert!(s.of_type(LISTENER).is_some_and(|t| t.items.is_empty()));
        assert!(s.of_type(SECRET).is_none());
    }

    #[test]
    fn duplicate_and_unnamed_resources_are_refused() {
        let mut cache = EncodeCache::default();
        let mut a = Assembler::new(&mut cache);
        a.add(CLUSTER, "cluster", &cluster("a", "1s")).expect("adds");
        a.add(CLUSTER, "cluster", &cluster("a", "2s")).expect("adds");
        assert!(matches!(a.finish(&[]), Err(AssembleError::Snapshot(SnapshotError::Duplicate { .. }))));
        assert!(matches!(
            Assembler::new(&mut cache).add(CLUSTER, "cluster", &json!({"type": "STATIC"})),
            Err(AssembleError::Unnamed("cluster"))
        ));
    }
}
