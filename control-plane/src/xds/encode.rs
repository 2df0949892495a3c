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
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor};
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
///
/// The bytes are written straight from the JSON ([`super::transcode`]); JSON that path leaves
/// aside (and every error) goes through `prost-reflect`'s `DynamicMessage`, which decides.
pub fn encode_json(type_url: &str, name: &str, json: &Value) -> Result<Vec<u8>, EncodeError> {
    let desc = message_descriptor(type_url)?;
    match super::transcode::to_protobuf(&desc, json) {
        Ok(bytes) => Ok(bytes),
        Err(super::transcode::Unsupported) => reflect(&desc, name, json),
    }
}

/// [`encode_json`]'s fast path alone: None when it leaves `json` to `prost-reflect`.
pub fn encode_json_direct(type_url: &str, json: &Value) -> Result<Option<Vec<u8>>, EncodeError> {
    Ok(super::transcode::to_protobuf(&message_descriptor(type_url)?, json).ok())
}

/// Encodes through `prost-reflect`'s `DynamicMessage`: slower, and the reference for what is
/// valid and for the bytes [`encode_json`] writes.
pub fn encode_json_reflect(type_url: &str, name: &str, json: &Value) -> Result<Vec<u8>, EncodeError> {
    reflect(&message_descriptor(type_url)?, name, json)
}

fn message_descriptor(type_url: &str) -> Result<MessageDescriptor, EncodeError> {
    pool()?.get_message_by_name(type_name(type_url)).ok_or_else(|| EncodeError::UnknownType(type_url.to_string()))
}

fn reflect(desc: &MessageDescriptor, name: &str, json: &Value) -> Result<Vec<u8>, EncodeError> {
    let msg =
        DynamicMessage::deserialize_with_options(desc.clone(), json, &DeserializeOptions::new()).map_err(|e| {
            EncodeError::Invalid {
                type_name: desc.full_name().to_string(),
                name: name.to_string(),
                detail: e.to_string(),
            }
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

    const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";

    /// The direct path handles `json` and writes what prost-reflect writes: the same message,
    /// in as many bytes (map entries may come in another order).
    fn assert_direct_is_reflect(type_url: &str, json: &Value) -> Vec<u8> {
        let direct = encode_json_direct(type_url, json).expect("descriptors").expect("the direct path handles it");
        let reflect = encode_json_reflect(type_url, "x", json).expect("prost-reflect encodes it");
        let desc = message_descriptor(type_url).expect("type");
        let decode = |b: &[u8]| DynamicMessage::decode(desc.clone(), b).expect("decodes");
        assert_eq!(decode(&direct), decode(&reflect), "{json}");
        assert_eq!(direct.len(), reflect.len(), "{json}");
        direct
    }

    #[test]
    fn the_direct_path_writes_what_prost_reflect_writes() {
        // Defaults of fields without presence left out, messages always written, packed
        // repeated scalars, enums by name and number, maps, Struct metadata, Any with a
        // message and with a well-known type, wrappers, durations, camelCase names.
        let cluster = json!({
            "name": "c", "type": "LOGICAL_DNS", "connect_timeout": "0s",
            "dns_lookup_family": 0, "ignore_health_on_host_removal": false, "alt_stat_name": "",
            "per_connection_buffer_limit_bytes": 0,
            "load_assignment": {"cluster_name": "c", "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": "api.example.com", "port_value": 443}},
                "hostname": "api.example.com"}}]}]},
            "circuit_breakers": {"thresholds": [{"priority": "DEFAULT", "max_connections": 100000, "max_retries": 0}]},
            "outlier_detection": {"consecutive_5xx": 3, "interval": "1s", "base_ejection_time": "0.250s",
                "max_ejection_time": "12.000000001s", "enforcing_success_rate": 0},
            "health_checks": [{"timeout": "5s", "interval": "2.5s", "unhealthy_threshold": 3, "healthy_threshold": 1,
                "http_health_check": {"host": "h", "path": "/", "expected_statuses": [{"start": 200, "end": 500}]}}],
            "metadata": {"filter_metadata": {"llm_router": {"deployment": "d", "weight": 2.5, "zero": 0,
                "list": [1, "a", true, null, {"x": []}], "none": null, "empty": {}}}},
            "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http_protocol_options": {}},
                "http_filters": [
                    {"name": "w", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                        "config": {"name": "w", "root_id": "r", "failure_policy": "FAIL_RELOAD",
                            "configuration": {"@type": "type.googleapis.com/google.protobuf.BytesValue", "value": "AAEC/w=="},
                            "vm_config": {"vm_id": "v", "runtime": "envoy.wasm.runtime.v8",
                                "code": {"local": {"filename": "/x.wasm"}}}}}},
                    {"name": "codec", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"}},
                ]}},
            "commonLbConfig": {"healthyPanicThreshold": {"value": 0.0}},
        });
        assert_direct_is_reflect(CLUSTER, &cluster);
        let route = json!({"name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"],
            "include_attempt_count_in_response": true, "routes": [{"match": {"prefix": "/", "headers": [
                {"name": "h", "string_match": {"exact": "1"}}]},
                "route": {"cluster": "c", "timeout": "600s", "idle_timeout": "0s", "retry_policy": {
                    "retry_on": "5xx", "retriable_status_codes": [429, 408], "num_retries": 2,
                    "retry_back_off": {"base_interval": "0.002s", "max_interval": "0.010s"},
                    "per_try_idle_timeout": "30s"}}},
                {"match": {"path": "/health"}, "direct_response": {"status": 200,
                    "body": {"inline_string": "{\"status\":\"unknown\"}"}},
                 "response_headers_to_add": [{"header": {"key": "k", "value": "v"}}]}]}]});
        let bytes = assert_direct_is_reflect(ROUTE, &route);
        assert_eq!(bytes, encode_json_reflect(ROUTE, "r", &route).expect("encodes"), "no maps: the very same bytes");
        let wrappers = json!({"name": "l", "per_connection_buffer_limit_bytes": 0,
            "address": {"socket_address": {"address": "0.0.0.0", "port_value": 0}},
            "listener_filters_timeout": "0.000000001s"});
        assert_direct_is_reflect(LISTENER, &wrappers);
    }

    #[test]
    fn what_the_direct_path_leaves_aside_is_still_encoded_by_prost_reflect() {
        // A uint64 written as a string, a negative duration, a null Struct value field, a
        // Timestamp: prost-reflect's JSON, not the translation's.
        let unusual = [
            json!({"name": "c", "circuit_breakers": {"thresholds": [{"max_connections": "7"}]}}),
            json!({"name": "c", "connect_timeout": "-1s"}),
            json!({"name": "c", "metadata": {"filter_metadata": {"a": null}}}),
            json!({"name": "c", "lb_policy": 1.0}),
            json!({"name": "c", "connect_timeout": "1s", "connectTimeout": "2s"}),
            json!({"name": "c", "type": "STATIC", "cluster_type": {"name": "x"}}),
        ];
        for json in &unusual {
            assert_eq!(encode_json_direct(CLUSTER, json).expect("descriptors"), None, "{json}");
            match (encode_json(CLUSTER, "c", json), encode_json_reflect(CLUSTER, "c", json)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("{json}: {a:?} vs {b:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_field_is_an_error_naming_the_resource() {
        let err = encode_json(CLUSTER, "bad", &json!({"name": "bad", "no_such_field": 1})).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("bad") && text.contains("no_such_field"), "{text}");
    }
}
