//! The gateway listener: its HTTP connection manager, the filter chain that turns a planned
//! request into a routed one, the access log, and Envoy's own error replies in the clients'
//! error shapes.

use serde_json::{json, Value};

use super::envoy::{extend_object, socket_address};
use super::{Options, LISTENER_NAME, MAX_BODY_BYTES, PLAN_METADATA_NAMESPACE};

/// Envoy's per-connection buffer beyond [`MAX_BODY_BYTES`] (see there why).
const BUFFER_HEADROOM: u64 = 64 * 1024;

/// The gateway listener; `router_filter` is the wasm filter itself (static) or its ECDS
/// reference, `route_spec` is `{"route_config": ...}` (static) or `{"rds": ...}`.
pub fn gateway_listener(opts: &Options, router_filter: Value, route_spec: Value) -> Value {
    let mut hcm = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": LISTENER_NAME,
        "codec_type": "AUTO",
        "use_remote_address": true,
        // A client's x-request-id is kept and returned, so one request can be followed from
        // the client through the access log to the region that served it.
        "preserve_external_request_id": true,
        "always_set_request_id_in_response": true,
        "access_log": [access_log()],
        "local_reply_config": local_reply_config(),
        "http_filters": http_filters(router_filter),
    });
    extend_object(&mut hcm, &route_spec);
    json!({
        "name": LISTENER_NAME,
        "address": socket_address(&opts.listen_address, opts.port),
        "per_connection_buffer_limit_bytes": MAX_BODY_BYTES + BUFFER_HEADROOM,
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": hcm,
        }]}],
    })
}

/// The router filter plans; header-to-metadata turns its plan into dynamic metadata (and
/// moves the client headers every attempt needs out of the header map); a Lua filter clears
/// the route cache; the router follows the plan.
fn http_filters(router_filter: Value) -> Value {
    let mut request_rules = vec![json!({
        "header": llm_router_core::ROUTE_PLAN_HEADER,
        "on_header_present": {
            "metadata_namespace": PLAN_METADATA_NAMESPACE,
            "key": "priority_groups",
            "type": "PROTOBUF_VALUE",
            "encode": "BASE64",
        },
        "remove": true,
    })];
    // Every attempt shares one header map, and each sends its provider only an allow-list of
    // it: what later attempts (and the error replies below) need waits in metadata instead.
    request_rules.extend(llm_router_core::CARRIED_REQUEST_HEADERS.iter().map(|header| {
        json!({
            "header": header,
            "on_header_present": {
                "metadata_namespace": llm_router_core::CLIENT_METADATA_NAMESPACE,
                "key": header,
                "type": "STRING",
            },
            "remove": true,
        })
    }));
    json!([
        router_filter,
        {
            "name": "envoy.filters.http.header_to_metadata",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config",
                "request_rules": request_rules,
            },
        },
        {
            // header-to-metadata looks the route up before it sets the plan; clearing the
            // route cache makes the router pick the cluster with the plan in place.
            "name": "envoy.filters.http.lua",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                "default_source_code": {"inline_string": "function envoy_on_request(h) h:clearRouteCache() end\n"},
            },
        },
        {
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
        },
    ])
}

/// One JSON line per request: Envoy's request id with the region and deployment that served it.
fn access_log() -> Value {
    json!({
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            "log_format": {"json_format": {
                "time": "%START_TIME%",
                "request_id": "%REQ(X-REQUEST-ID)%",
                "method": "%REQ(:METHOD)%",
                "path": "%REQ(:PATH)%",
                "status": "%RESPONSE_CODE%",
                "region": "%RESP(X-LLM-REGION)%",
                "deployment": "%RESP(X-LLM-DEPLOYMENT)%",
                "cluster": "%UPSTREAM_CLUSTER%",
                "attempts": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
                "duration_ms": "%DURATION%",
                "first_byte_ms": "%RESPONSE_DURATION%",
                "flags": "%RESPONSE_FLAGS%",
                "details": "%RESPONSE_CODE_DETAILS%",
            }},
        },
    })
}

/// Envoy's own error replies (no healthy upstream, timeouts, resets) in OpenAI's error shape.
/// The filter's replies carry no response flag and pass unchanged.
fn local_reply_config() -> Value {
    let openai_error = |kind: &str| {
        json!({
            "json_format": {"error": {
                "message": "%LOCAL_REPLY_BODY%",
                "type": kind,
                "param": null,
                "code": "%RESPONSE_CODE_DETAILS%",
            }},
        })
    };
    let anthropic_error = json!({
        "json_format": {"type": "error", "error": {"type": "api_error", "message": "%LOCAL_REPLY_BODY%"}},
    });
    let envoy_failures = json!(["UT", "UH", "UF", "UO", "URX", "UC", "UR", "NC", "NR", "UMSDR", "UPE", "DPE"]);
    json!({
        "mappers": [
            {
                // Anthropic-form clients (/v1/messages) get Anthropic's error shape.
                "filter": {"and_filter": {"filters": [
                    {"response_flag_filter": {"flags": envoy_failures}},
                    {"metadata_filter": {"matcher": {
                        "filter": llm_router_core::CLIENT_METADATA_NAMESPACE,
                        "path": [{"key": llm_router_core::CLIENT_PATH_HEADER}],
                        "value": {"string_match": {"prefix": "/v1/messages"}},
                    }}},
                ]}},
                "body_format_override": anthropic_error,
            },
            {
                "filter": {"response_flag_filter": {"flags": ["UT"]}},
                "body_format_override": openai_error("timeout_error"),
            },
            {
                "filter": {"response_flag_filter": {"flags": ["UH", "UF", "UO", "URX", "UC", "UR", "NC", "NR", "UMSDR", "UPE", "DPE"]}},
                "body_format_override": openai_error("service_unavailable_error"),
            },
        ],
    })
}
