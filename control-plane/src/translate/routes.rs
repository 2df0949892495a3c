//! The gateway's routes: `/health` (answered by the filter when it runs), and everything else
//! to the clusters the filter planned, attempt by attempt, with LiteLLM's retries.

use serde_json::{json, Value};

use super::envoy::duration;
use super::{
    gateway_region, Options, DEFAULT_FIRST_BYTE_TIMEOUT_S, LISTENER_NAME, NO_ROUTE_CLUSTER, PLAN_METADATA_NAMESPACE,
    ROUTE_CONFIG_NAME,
};
use crate::config::{Config, RouterSettings};

pub fn route_config(cfg: &Config, opts: &Options) -> Value {
    json!({
        "name": ROUTE_CONFIG_NAME,
        "virtual_hosts": [{
            "name": LISTENER_NAME,
            "domains": ["*"],
            "include_attempt_count_in_response": true,
            "routes": [health_route(&gateway_region(cfg, opts)), planned_route(&cfg.router)],
        }],
    })
}

/// The filter answers /health itself with live deployment health; this route only answers if
/// the filter is not running.
fn health_route(region: &str) -> Value {
    json!({
        "match": {"path": "/health"},
        "direct_response": {
            "status": 200,
            "body": {"inline_string": json!({"status": "unknown", "region": region}).to_string()},
        },
        "response_headers_to_add": [{"header": {"key": "content-type", "value": "application/json"}}],
    })
}

/// Attempt N goes to the Nth cluster of the plan the filter put in the request's metadata.
fn planned_route(r: &RouterSettings) -> Value {
    json!({
        "match": {"prefix": "/"},
        "route": {
            "inline_cluster_specifier_plugin": {"extension": {
                "name": "envoy.router.cluster_specifier_plugin.priority_group",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier",
                    "priority_groups": [{"name": "no-plan", "clusters": [{"cluster_name": NO_ROUTE_CLUSTER, "weight": 1}]}],
                    "override_metadata_namespace": PLAN_METADATA_NAMESPACE,
                },
            }},
            // Streams may run as long as they keep sending; attempts are bounded by the
            // per-try first-byte timeout instead.
            "timeout": "0s",
            "retry_policy": retry_policy(r),
        },
    })
}

fn retry_policy(r: &RouterSettings) -> Value {
    json!({
        // LiteLLM's region failures: 5xx, 429, 408, timeouts, resets and refused connections.
        "retry_on": "5xx,reset,connect-failure,retriable-status-codes",
        "retriable_status_codes": [429, 408],
        "num_retries": r.num_retries,
        // Re-pick the cluster on every retry: the next deployment of the plan.
        "refresh_cluster_on_retry": true,
        // Moving to another region needs no back-off.
        "retry_back_off": {"base_interval": "0.002s", "max_interval": "0.010s"},
        "per_try_timeout": duration(r.timeout_s.unwrap_or(DEFAULT_FIRST_BYTE_TIMEOUT_S)),
    })
}
