//! Canonical JSON -> protobuf bytes, through the Envoy API descriptors.
//!
//! The translation builds resources as Envoy's canonical JSON (what `render` prints and what
//! `/config_dump` shows). xDS carries them as `google.protobuf.Any` protobuf bytes. The
//! descriptors of every Envoy message come from the `envoy-types` crate's FileDescriptorSet
//! (copied by `build.rs`), plus the priority group cluster specifier that crate lacks; with
//! them, `prost-reflect` parses the JSON (nested `Any`s by their `@type`, durations as
//! `"1.5s"`, ...) into a dynamic message and encodes it. Unknown fields are errors, so a
//! typo in the translation fails the snapshot build instead of reaching Envoy.

use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage};
use serde_json::Value;

static ENVOY_TYPES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/envoy_types.bin"));
static PRIORITY_GROUP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/priority_group.bin"));

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("the built-in Envoy API descriptors do not load: {0} (rebuild llm-router)")]
    Descriptors(String),
    #[error("type URL {0:?} has no message of that name in the Envoy API descriptors")]
    UnknownType(String),
    #[error("{type_name} resource {name:?} does not match Envoy's schema: {detail}")]
    Invalid { type_name: String, name: String, detail: String },
}

/// The descriptor pool, decoded once per process.
pub fn pool() -> Result<&'static DescriptorPool, EncodeError> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut pool = DescriptorPool::decode(ENVOY_TYPES).map_err(|e| e.to_string())?;
        pool.decode_file_descriptor_set(PRIORITY_GROUP).map_err(|e| e.to_string())?;
        Ok(pool)
    })
    .as_ref()
    .map_err(|e| EncodeError::Descriptors(e.clone()))
}

/// The message name of a type URL (`type.googleapis.com/a.b.C` -> `a.b.C`).
pub fn type_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}

/// Encodes `json` as the protobuf message named by `type_url`. `name` is for errors only.
pub fn encode_json(type_url: &str, name: &str, json: &Value) -> Result<Vec<u8>, EncodeError> {
    let pool = pool()?;
    let type_name = type_name(type_url);
    let desc = pool.get_message_by_name(type_name).ok_or_else(|| EncodeError::UnknownType(type_url.to_string()))?;
    let msg = DynamicMessage::deserialize_with_options(desc, json, &DeserializeOptions::new()).map_err(|e| {
        EncodeError::Invalid { type_name: type_name.to_string(), name: name.to_string(), detail: e.to_string() }
    })?;
    Ok(msg.encode_to_vec())
}

/// Decodes protobuf bytes back to canonical JSON (tests and diagnostics).
pub fn decode_to_json(type_url: &str, bytes: &[u8]) -> Result<Value, EncodeError> {
    let pool = pool()?;
    let type_name = type_name(type_url);
    let desc = pool.get_message_by_name(type_name).ok_or_else(|| EncodeError::UnknownType(type_url.to_string()))?;
    let msg = DynamicMessage::decode(desc, bytes).map_err(|e| EncodeError::Invalid {
        type_name: type_name.to_string(),
        name: String::new(),
        detail: e.to_string(),
    })?;
    serde_json::to_value(&msg).map_err(|e| EncodeError::Invalid {
        type_name: type_name.to_string(),
        name: String::new(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

    #[test]
    fn a_cluster_round_trips_through_protobuf() {
        let c = json!({"name": "a", "type": "STATIC", "connect_timeout": "1.500s",
            "load_assignment": {"cluster_name": "a", "endpoints": []}});
        let bytes = encode_json(CLUSTER, "a", &c).expect("encodes");
        let back = decode_to_json(CLUSTER, &bytes).expect("decodes");
        assert_eq!(back["name"], "a");
        assert_eq!(back["connectTimeout"], "1.500s");
    }

    #[test]
    fn the_priority_group_specifier_missing_from_envoy_types_is_known() {
        let r = json!({"name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [{
            "match": {"prefix": "/"},
            "route": {"inline_cluster_specifier_plugin": {"extension": {
                "name": "pg",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier",
                    "priority_groups": [{"name": "g", "clusters": [{"cluster_name": "c", "weight": 1}]}],
                    "override_metadata_namespace": "ns",
                }}}},
        }]}]});
        let bytes = encode_json(ROUTE, "r", &r).expect("encodes");
        let back = decode_to_json(ROUTE, &bytes).expect("decodes");
        let tc =
            &back["virtualHosts"][0]["routes"][0]["route"]["inlineClusterSpecifierPlugin"]["extension"]["typedConfig"];
        assert_eq!(tc["priorityGroups"][0]["clusters"][0]["clusterName"], "c");
        assert_eq!(tc["overrideMetadataNamespace"], "ns");
    }

    #[test]
    fn an_unknown_field_is_an_error_naming_the_resource() {
        let err = encode_json(CLUSTER, "bad", &json!({"name": "bad", "no_such_field": 1})).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("bad") && text.contains("no_such_field"), "{text}");
    }
}
