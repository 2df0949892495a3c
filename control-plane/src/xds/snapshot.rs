//! Immutable, content-addressed snapshots of the resources every Envoy is served.
//!
//! A [`Snapshot`] holds encoded resources by type URL and name. Versions are content hashes:
//! each resource has one, each type has one over its resources, and the snapshot has one over
//! its types. The same config therefore always has the same version, a no-op edit pushes
//! nothing, and a change to clusters alone does not resend the listener.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
pub const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
pub const ENDPOINT: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
pub const EXTENSION_CONFIG: &str = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
/// SDS secrets (provider API keys, Vertex access tokens), served over ADS.
pub const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// The order responses go out when several types change at once: clusters before the
/// listener that routes to them, the listener before what it refers to.
pub const PUSH_ORDER: [&str; 4] = [CLUSTER, LISTENER, EXTENSION_CONFIG, ROUTE];

/// Types a client may subscribe to by wildcard (an empty name list or `*`).
pub fn is_wildcard_type(type_url: &str) -> bool {
    type_url == LISTENER || type_url == CLUSTER
}

/// One encoded resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub name: String,
    /// The message's protobuf bytes (the `value` of its `Any`).
    pub body: Vec<u8>,
    /// Content hash of `body` (hex): the resource's version.
    pub version: String,
}

impl Resource {
    /// A resource whose version is the hash of its bytes.
    pub fn new(name: impl Into<String>, body: Vec<u8>) -> Resource {
        let version = hex(&Sha256::digest(&body)[..8]);
        Resource { name: name.into(), body, version }
    }

    /// A resource whose version is the hash of `canonical`, a deterministic rendering of the
    /// same content. Needed because protobuf encoding of map fields (`Struct`s, typed
    /// extension option maps) is not deterministic: equal content may give different bytes.
    pub fn with_canonical(name: impl Into<String>, body: Vec<u8>, canonical: &[u8]) -> Resource {
        Resource { name: name.into(), body, version: Resource::version_of_digest(&Sha256::digest(canonical)) }
    }

    /// A version from the SHA-256 digest of a resource's content (its first 8 bytes, in hex).
    pub fn version_of_digest(digest: &[u8]) -> String {
        hex(&digest[..8])
    }
}

/// The resources of one type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeResources {
    /// Hash over names and resource versions.
    pub version: String,
    pub items: BTreeMap<String, Arc<Resource>>,
}

impl TypeResources {
    fn new(items: BTreeMap<String, Arc<Resource>>) -> TypeResources {
        let mut h = Sha256::new();
        for (name, r) in &items {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(r.version.as_bytes());
            h.update([0]);
        }
        TypeResources { version: hex(&h.finalize()[..8]), items }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("two {type_url} resources are named {name:?}")]
    Duplicate { type_url: String, name: String },
    #[error("{type_url} {name:?} is referenced but not in the snapshot")]
    Missing { type_url: String, name: String },
    #[error("secret {name:?} is in the snapshot but no resource refers to it")]
    UnreferencedSecret { name: String },
}

/// A consistent set of resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Hash over the type versions.
    pub version: String,
    types: BTreeMap<String, TypeResources>,
}

impl Snapshot {
    /// Builds a snapshot from encoded resources by type URL. `references` lists the
    /// `(type_url, name)` pairs other resources refer to (a listener's RDS route config, its
    /// ECDS filter, a cluster's SDS secret): each must be present, or the snapshot is not
    /// consistent and is refused. A secret no resource refers to is refused too: a secret is
    /// served only to hand a cluster its credential, never on its own.
    pub fn new<R: Into<Arc<Resource>>>(
        resources: impl IntoIterator<Item = (String, Vec<R>)>,
        references: &[(String, String)],
    ) -> Result<Snapshot, SnapshotError> {
        let mut types: BTreeMap<String, BTreeMap<String, Arc<Resource>>> = BTreeMap::new();
        for (type_url, list) in resources {
            let items = types.entry(type_url.clone()).or_default();
            for r in list {
                let r: Arc<Resource> = r.into();
                if items.contains_key(&r.name) {
                    return Err(SnapshotError::Duplicate { type_url, name: r.name.clone() });
                }
                items.insert(r.name.clone(), r);
            }
        }
        for (type_url, name) in references {
            if !types.get(type_url).is_some_and(|t| t.contains_key(name)) {
                return Err(SnapshotError::Missing { type_url: type_url.clone(), name: name.clone() });
            }
        }
        for name in types.get(SECRET).into_iter().flat_map(|t| t.keys()) {
            if !references.iter().any(|(t, n)| t == SECRET && n == name) {
                return Err(SnapshotError::UnreferencedSecret { name: name.clone() });
            }
        }
        Ok(Snapshot::from_types(types))
    }

    fn from_types(types: BTreeMap<String, BTreeMap<String, Arc<Resource>>>) -> Snapshot {
        let types: BTreeMap<String, TypeResources> =
            types.into_iter().map(|(t, items)| (t, TypeResources::new(items))).collect();
        let mut h = Sha256::new();
        for (t, r) in &types {
            h.update(t.as_bytes());
            h.update([0]);
            h.update(r.version.as_bytes());
            h.update([0]);
        }
        Snapshot { version: hex(&h.finalize()[..8]), types }
    }

    /// The resources of a type (empty when the snapshot has none of it).
    pub fn of_type(&self, type_url: &str) -> Option<&TypeResources> {
        self.types.get(type_url)
    }

    /// The version of a type's resources; types the snapshot lacks have the empty version.
    pub fn type_version(&self, type_url: &str) -> &str {
        self.types.get(type_url).map(|t| t.version.as_str()).unwrap_or("")
    }

    pub fn get(&self, type_url: &str, name: &str) -> Option<&Arc<Resource>> {
        self.types.get(type_url)?.items.get(name)
    }

    pub fn names(&self, type_url: &str) -> BTreeSet<String> {
        self.types.get(type_url).map(|t| t.items.keys().cloned().collect()).unwrap_or_default()
    }

    pub fn type_urls(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(|s| s.as_str())
    }

    /// Number of resources of all types.
    pub fn len(&self) -> usize {
        self.types.values().map(|t| t.items.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This snapshot with `type_url`'s resources replaced by the union of `self`'s and
    /// `other`'s (self's win on a name clash). Used to add clusters before the routing that
    /// uses them, and to remove them only after the routing stopped using them.
    pub fn with_union(&self, other: &Snapshot, type_url: &str) -> Snapshot {
        let mut types: BTreeMap<String, BTreeMap<String, Arc<Resource>>> =
            self.types.iter().map(|(t, r)| (t.clone(), r.items.clone())).collect();
        if let Some(theirs) = other.types.get(type_url) {
            let mine = types.entry(type_url.to_string()).or_default();
            for (name, r) in &theirs.items {
                mine.entry(name.clone()).or_insert_with(|| r.clone());
            }
        }
        Snapshot::from_types(types)
    }

    /// This snapshot with `type_url`'s resources taken from `other`.
    pub fn with_type_from(&self, other: &Snapshot, type_url: &str) -> Snapshot {
        let mut types: BTreeMap<String, BTreeMap<String, Arc<Resource>>> =
            self.types.iter().map(|(t, r)| (t.clone(), r.items.clone())).collect();
        match other.types.get(type_url) {
            Some(t) => types.insert(type_url.to_string(), t.items.clone()),
            None => types.remove(type_url),
        };
        Snapshot::from_types(types)
    }
}

/// The steps that take Envoys from `old` to `new` without a moment where routing refers to a
/// cluster they do not have ("make before break"): first `old` plus the new and changed
/// clusters, then `new` plus the clusters only `old` had, then `new`. While both clusters are
/// served, so are both sets of secrets, so that no cluster waits for a credential. Steps equal
/// to their predecessor are dropped; the last step is always `new`.
pub fn make_before_break(old: Option<&Snapshot>, new: &Snapshot) -> Vec<Snapshot> {
    let Some(old) = old else { return vec![new.clone()] };
    let add = old.with_type_from(new, CLUSTER).with_union(old, CLUSTER).with_union(new, SECRET);
    let switch = new.with_union(old, CLUSTER).with_union(old, SECRET);
    let mut steps: Vec<Snapshot> = Vec::new();
    for s in [add, switch, new.clone()] {
        let prev = steps.last().map(|p| p.version.clone()).unwrap_or_else(|| old.version.clone());
        if s.version != prev {
            steps.push(s);
        }
    }
    if steps.last().map(|s| &s.version) != Some(&new.version) {
        steps.push(new.clone());
    }
    steps
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn res(name: &str, body: &str) -> Resource {
        Resource::new(name, body.as_bytes().to_vec())
    }

    pub fn snap(clusters: &[(&str, &str)], routes: &[(&str, &str)]) -> Snapshot {
        Snapshot::new(
            [
                (CLUSTER.to_string(), clusters.iter().map(|(n, b)| res(n, b)).collect()),
                (LISTENER.to_string(), vec![res("l", "listener")]),
                (ROUTE.to_string(), routes.iter().map(|(n, b)| res(n, b)).collect()),
            ],
            &[],
        )
        .expect("consistent")
    }

    #[test]
    fn the_same_content_has_the_same_version() {
        let a = snap(&[("a", "1")], &[("r", "x")]);
        let b = snap(&[("a", "1")], &[("r", "x")]);
        assert_eq!(a.version, b.version);
        let c = snap(&[("a", "2")], &[("r", "x")]);
        assert_ne!(a.version, c.version);
        assert_ne!(a.type_version(CLUSTER), c.type_version(CLUSTER));
        assert_eq!(a.type_version(LISTENER), c.type_version(LISTENER), "only clusters changed");
    }

    #[test]
    fn a_missing_reference_is_refused() {
        let err =
            Snapshot::new([(LISTENER.to_string(), vec![res("l", "x")])], &[(ROUTE.to_string(), "routes".to_string())])
                .unwrap_err();
        assert_eq!(err, SnapshotError::Missing { type_url: ROUTE.into(), name: "routes".into() });
    }

    #[test]
    fn a_secret_no_resource_refers_to_is_refused() {
        let secrets = || (SECRET.to_string(), vec![res("key-a", "a"), res("key-b", "b")]);
        let only_a = [(SECRET.to_string(), "key-a".to_string())];
        let err = Snapshot::new([secrets()], &only_a).unwrap_err();
        assert_eq!(err, SnapshotError::UnreferencedSecret { name: "key-b".into() });
        let both = [only_a[0].clone(), (SECRET.to_string(), "key-b".to_string())];
        assert_eq!(Snapshot::new([secrets()], &both).expect("consistent").names(SECRET).len(), 2);
    }

    #[test]
    fn duplicate_names_are_refused() {
        let err = Snapshot::new([(CLUSTER.to_string(), vec![res("a", "1"), res("a", "2")])], &[]).unwrap_err();
        assert!(matches!(err, SnapshotError::Duplicate { .. }));
    }

    #[test]
    fn make_before_break_adds_clusters_first_and_removes_them_last() {
        let old = snap(&[("a", "1"), ("b", "1")], &[("r", "uses a,b")]);
        let new = snap(&[("b", "2"), ("c", "1")], &[("r", "uses b,c")]);
        let steps = make_before_break(Some(&old), &new);
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].names(CLUSTER), ["a", "b", "c"].map(String::from).into());
        assert_eq!(steps[0].get(CLUSTER, "b").map(|r| r.body.clone()), Some(b"2".to_vec()));
        assert_eq!(steps[0].type_version(ROUTE), old.type_version(ROUTE), "routing unchanged at first");
        assert_eq!(steps[1].type_version(ROUTE), new.type_version(ROUTE));
        assert_eq!(steps[1].names(CLUSTER), ["a", "b", "c"].map(String::from).into());
        assert_eq!(steps[2], new);
    }

    #[test]
    fn a_new_cluster_finds_its_secret_in_every_step() {
        let with_secret = |cluster: &str, secret: &str| {
            Snapshot::new(
                [
                    (CLUSTER.to_string(), vec![res(cluster, secret)]),
                    (ROUTE.to_string(), vec![res("r", cluster)]),
                    (SECRET.to_string(), vec![res(secret, "value")]),
                ],
                &[(SECRET.to_string(), secret.to_string())],
            )
            .expect("consistent")
        };
        let old = with_secret("a", "key-a");
        let new = with_secret("b", "key-b");
        let steps = make_before_break(Some(&old), &new);
        assert_eq!(steps.len(), 3);
        for step in &steps[..2] {
            assert_eq!(step.names(SECRET), ["key-a", "key-b"].map(String::from).into(), "both clusters, both keys");
        }
        assert_eq!(steps[2].names(SECRET), ["key-b".to_string()].into(), "the old key goes with its cluster");
    }

    #[test]
    fn make_before_break_is_one_step_when_clusters_do_not_come_or_go() {
        let old = snap(&[("a", "1")], &[("r", "x")]);
        let new = snap(&[("a", "1")], &[("r", "y")]);
        assert_eq!(make_before_break(Some(&old), &new), vec![new.clone()]);
        assert_eq!(make_before_break(None, &new), vec![new.clone()]);
        let changed = snap(&[("a", "2")], &[("r", "x")]);
        assert_eq!(make_before_break(Some(&old), &changed), vec![changed.clone()]);
    }
}
