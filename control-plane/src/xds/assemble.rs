//! Snapshots from resources written as Envoy's canonical JSON: each resource is encoded
//! ([`super::encode`]) and the set is checked and versioned ([`super::snapshot`]).
//!
//! An [`EncodeCache`] keeps the previous build's encodings by (type URL, name): an edit
//! re-encodes only the resources whose content changed (encoding dominates the build of a
//! large config).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

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

/// Encoded resources of the previous build, by (type URL, name).
#[derive(Debug, Default)]
pub struct EncodeCache {
    entries: HashMap<(String, String), Arc<Resource>>,
}

/// The resources of one type, as canonical JSON objects with a `name`.
pub struct JsonResources<'a> {
    pub type_url: &'static str,
    /// What the resources are, for errors ("cluster", "route configuration").
    pub what: &'static str,
    pub items: &'a [Value],
}

/// Encodes `types` into a snapshot in which every `(type_url, name)` of `references` is
/// present, reusing (and, on success, replacing) `cache`.
pub fn assemble(
    types: &[JsonResources<'_>],
    references: &[(String, String)],
    cache: &mut EncodeCache,
) -> Result<Snapshot, AssembleError> {
    let mut next = EncodeCache::default();
    let resources = types.iter().map(|t| encode_all(t, cache, &mut next)).collect::<Result<Vec<_>, AssembleError>>()?;
    let snapshot = Snapshot::new(resources, references)?;
    *cache = next;
    Ok(snapshot)
}

/// One type's resources, each taken from `cache` when its content is unchanged; every one
/// is recorded in `next`.
fn encode_all(
    t: &JsonResources<'_>,
    cache: &mut EncodeCache,
    next: &mut EncodeCache,
) -> Result<(String, Vec<Arc<Resource>>), AssembleError> {
    let mut out = Vec::with_capacity(t.items.len());
    for v in t.items {
        let name = v.get("name").and_then(Value::as_str).ok_or(AssembleError::Unnamed(t.what))?;
        // serde_json keeps key order, so the JSON text is a deterministic content key.
        let canonical = serde_json::to_vec(v).unwrap_or_default();
        let key = (t.type_url.to_string(), name.to_string());
        let version = Resource::with_canonical(name, Vec::new(), &canonical).version;
        let resource = match cache.entries.remove(&key) {
            Some(r) if r.version == version => r,
            _ => Arc::new(Resource { name: name.to_string(), body: encode_json(t.type_url, name, v)?, version }),
        };
        next.entries.insert(key, resource.clone());
        out.push(resource);
    }
    Ok((t.type_url.to_string(), out))
}
