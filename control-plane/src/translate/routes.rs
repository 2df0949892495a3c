//! The gateway's routes: `/health` (answered by the filter when it runs), and everything else
//! to the clusters the filter planned, attempt by attempt, with LiteLLM's retries.

use serde_json::{json, Value};

use super::envoy::{duration, seconds_to_ms};
use super::{gateway_region, Options, LISTENER_NAME, NO_ROUTE_CLUSTER, PLAN_METADATA_NAMESPACE, ROUTE_CONFIG_NAME};
use crate::config::{deployment_timeouts, router_timeouts, Config, RouterSettings, Timeouts};

pub fn route_config(cfg: &Config, opts: &Options) -> Value {
    let mut routes = vec![health_route(&gateway_region(cfg, opts))];
    routes.extend(planned_routes(cfg));
    json!({
        "name": ROUTE_CONFIG_NAME,
        "virtual_hosts": [{
            "name": LISTENER_NAME,
            "domains": ["*"],
            "include_attempt_count_in_response": true,
            // Each attempt's upstream filter knows whether it is the plan's last (a refusal at
            // a deployment's rpm/tpm limit is retried elsewhere unless it is).
            "include_request_attempt_count": true,
            "routes": routes,
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

/// The planned requests' routes, one per stream_timeout a plan can have. Envoy takes a per-try
/// idle timeout from the route only (no request header sets it), so the filter names its plan's
/// stream_timeout in a header and the route for that value carries it. The last route, for a
/// request without that header, has the largest of all. With one value, that route is all.
fn planned_routes(cfg: &Config) -> Vec<Value> {
    let limits: Vec<Timeouts> = cfg.deployments.iter().map(|d| deployment_timeouts(&cfg.router, d)).collect();
    // A valid config has a deployment; without one, the router-wide values.
    let largest = limits
        .iter()
        .copied()
        .reduce(|a, b| Timeouts { stream_s: a.stream_s.max(b.stream_s), answer_s: a.answer_s.max(b.answer_s) })
        .unwrap_or_else(|| router_timeouts(&cfg.router));
    let answer_ms = limit_ms(largest.answer_s);
    // A non-streaming request's attempts wait up to `timeout` (the filter names it in the
    // header: such an answer shows no activity until it is whole), so each `timeout` needs a
    // route too.
    let mut stream_ms: Vec<u64> = limits.iter().flat_map(|t| [limit_ms(t.stream_s), limit_ms(t.answer_s)]).collect();
    stream_ms.sort_unstable();
    stream_ms.dedup();
    let mut routes = Vec::new();
    if stream_ms.len() > 1 {
        for ms in stream_ms {
            let header =
                json!({"name": llm_router_core::STREAM_TIMEOUT_HEADER, "string_match": {"exact": ms.to_string()}});
            routes.push(planned_route(json!({"prefix": "/", "headers": [header]}), &cfg.router, ms, answer_ms));
        }
    }
    routes.push(planned_route(json!({"prefix": "/"}), &cfg.router, limit_ms(largest.stream_s), answer_ms));
    routes
}

/// Attempt N goes to the Nth cluster of the plan the filter put in the request's metadata.
fn planned_route(matcher: Value, r: &RouterSettings, stream_ms: u64, answer_ms: u64) -> Value {
    json!({
        "match": matcher,
        "route": {
            "inline_cluster_specifier_plugin": {"extension": {
                "name": "envoy.router.cluster_specifier_plugin.priority_group",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier",
                    "priority_groups": [{"name": "no-plan", "clusters": [{"cluster_name": NO_ROUTE_CLUSTER, "weight": 1}]}],
                    "override_metadata_namespace": PLAN_METADATA_NAMESPACE,
                },
            }},
            // `timeout` bounds the whole answer: every attempt and retry, and the stream to its
            // end (Envoy resets a stream still running then). This is the largest of any
            // deployment's; the filter sets each request's (x-envoy-upstream-rq-timeout-ms) to
            // the largest of its plan's.
            "timeout": ms_duration(answer_ms),
            // Envoy's stream idle limit (5 min unless set) must not end an answer before the
            // limits here do: an answer held back through stalled attempts shows no activity
            // downstream. 0 turns it off for this route; the per-try idle timeout and the
            // answer's timeout above are the limits.
            "idle_timeout": "0s",
            "retry_policy": retry_policy(r, stream_ms),
        },
    })
}

/// Milliseconds of a limit; at least 1, since Envoy reads 0 as no limit at all. The filter's
/// configuration uses the same, so its header names a route's value exactly.
pub(super) fn limit_ms(seconds: f64) -> u64 {
    seconds_to_ms(seconds).max(1)
}

fn ms_duration(ms: u64) -> String {
    duration(ms as f64 / 1000.0)
}

fn retry_policy(r: &RouterSettings, stream_ms: u64) -> Value {
    json!({
        // LiteLLM's region failures: 5xx, 429, 408, timeouts, resets and refused connections.
        "retry_on": "5xx,reset,connect-failure,retriable-status-codes",
        "retriable_status_codes": [429, 408],
        "num_retries": r.num_retries,
        // Re-pick the cluster on every retry: the next deployment of the plan.
        "refresh_cluster_on_retry": true,
        // Moving to another region needs no back-off.
        "retry_back_off": {"base_interval": "0.002s", "max_interval": "0.010s"},
        // stream_timeout. The timer starts when the attempt is sent and restarts whenever the
        // response passes the upstream filters (headers, then each piece of body): the first
        // content must come within it (the filter holds the headers until then; a timeout then
        // moves on to the next deployment) and so must every later piece (a timeout then ends
        // the answer: it has started, so it cannot be retried). No per_try_timeout on purpose:
        // in Envoy 1.40, once a per-try timeout expires, even ignored because the answer has
        // started, it deletes the attempt's idle timer, and the gaps would go unchecked.
        "per_try_idle_timeout": ms_duration(stream_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    /// The planned routes (the health route left out).
    fn planned(yaml: &str) -> Vec<Value> {
        let cfg = config::load_str(yaml, "t.yaml").expect("loads").config;
        let routes = route_config(&cfg, &Options::default())["virtual_hosts"][0]["routes"].clone();
        routes.as_array().expect("routes")[1..].to_vec()
    }

    /// (header value matched, per-try idle timeout, timeout) of a planned route.
    fn limits(route: &Value) -> (Option<&str>, &str, &str) {
        let r = &route["route"];
        assert_eq!(r["idle_timeout"], "0s", "Envoy's idle limit never cuts before the limits here");
        assert!(r["retry_policy"].get("per_try_timeout").is_none(), "it would disarm the idle timer");
        (
            route["match"]["headers"][0]["string_match"]["exact"].as_str(),
            r["retry_policy"]["per_try_idle_timeout"].as_str().unwrap(),
            r["timeout"].as_str().unwrap(),
        )
    }

    const ONE: &str = "model_list:\n  - model_name: a\n    litellm_params: {model: openai/gpt-4o, api_base: 'http://127.0.0.1:1/v1'}\n";

    #[test]
    fn by_default_an_attempt_has_30_s_to_first_content_and_per_gap_and_the_answer_600_s() {
        let routes = planned(ONE);
        // The second route is for non-streaming requests: their attempts wait up to timeout.
        assert_eq!(
            routes.iter().map(limits).collect::<Vec<_>>(),
            [(Some("30000"), "30s", "600s"), (Some("600000"), "600s", "600s"), (None, "30s", "600s")]
        );
    }

    #[test]
    fn timeout_bounds_the_answer_and_stream_timeout_each_attempt() {
        let routes = planned(&format!("{ONE}router_settings:\n  timeout: 45\n  stream_timeout: 1.5\n"));
        assert_eq!(
            routes.iter().map(limits).collect::<Vec<_>>(),
            [(Some("1500"), "1.500s", "45s"), (Some("45000"), "45s", "45s"), (None, "1.500s", "45s")]
        );
    }

    #[test]
    fn each_stream_timeout_has_a_route_the_filter_s_header_selects_and_none_is_zero() {
        let yaml = format!(
            "{ONE}  - model_name: b\n    litellm_params: {{model: openai/gpt-4o, api_base: 'http://127.0.0.1:2/v1', timeout: 900, stream_timeout: 0.0001}}\n  - model_name: c\n    litellm_params: {{model: openai/gpt-4o, api_base: 'http://127.0.0.1:3/v1', stream_timeout: 2}}\nrouter_settings:\n  stream_timeout: 2\n"
        );
        let routes = planned(&yaml);
        assert_eq!(
            routes.iter().map(limits).collect::<Vec<_>>(),
            [
                (Some("1"), "0.001s", "900s"),
                (Some("2000"), "2s", "900s"),
                (Some("600000"), "600s", "900s"),
                (Some("900000"), "900s", "900s"),
                (None, "2s", "900s")
            ]
        );
        assert_eq!(routes[0]["match"]["headers"][0]["name"], llm_router_core::STREAM_TIMEOUT_HEADER);
    }
}
