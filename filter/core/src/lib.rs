#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! Host-free routing core of the llm-router wasm filter.
//!
//! Everything the filter decides lives here as plain functions over bytes and config, with
//! time and randomness passed in, so it is unit-tested on the host. The proxy-wasm adapter
//! (`filter/src`) only moves headers, bodies and shared data between Envoy and these functions.

pub mod auth;
pub mod body;
pub mod capacity;
pub mod error;
pub mod gateway;
pub mod health;
pub mod latency;
pub mod plan;
pub mod provider;
pub mod providers;
pub mod route_plan;
pub mod strategy;
pub mod table;
pub mod wildcard;

pub use error::RequestError;
pub use plan::{plan_request, Plan, PlanRequest};
pub use provider::Provider;
pub use strategy::Strategy;
pub use table::{Deployment, RouterTable};

/// Request header carrying the route plan (base64 protobuf `Value`) from the filter to Envoy's
/// header-to-metadata filter, which turns it into the priority group override. A client never
/// sets it: the filter rejects requests that carry it.
pub const ROUTE_PLAN_HEADER: &str = "x-llm-route-plan";

/// Request header carrying the client's original path to every attempt's upstream filter:
/// Envoy hands all attempts the same header map, so an earlier attempt's rewritten `:path`
/// is what a retry would otherwise see. Set by the filter; a client may not send it.
pub const CLIENT_PATH_HEADER: &str = "x-llm-client-path";

/// Request header carrying the plan's stream_timeout in milliseconds (the largest of its
/// deployments') from the filter to Envoy's route match: Envoy has no per-request header for a
/// per-try idle timeout, so the control plane gives each value its own route. Set by the
/// filter; a client may not send it.
pub const STREAM_TIMEOUT_HEADER: &str = "x-llm-stream-timeout-ms";

/// Request header carrying, for each wildcard group the plan may reach, the model name that
/// reaches it (a JSON object `{"anthropic/*": "anthropic/claude-3-5-haiku"}`), from the router
/// role to every attempt's upstream role (carried in [`CLIENT_METADATA_NAMESPACE`]): a wildcard
/// deployment fills its model's `*`s from it (LiteLLM's pattern routing). Set by the filter
/// only when the plan has such a group; a client may not send it.
pub const WILDCARD_MODELS_HEADER: &str = "x-llm-wildcard-models";

/// Where the client's request facts that every attempt needs travel: Envoy hands all attempts
/// one shared header map, so what one attempt strips from it is gone for the next. Envoy's
/// header-to-metadata filter (before the router) moves each header of [`CARRIED_REQUEST_HEADERS`]
/// into this dynamic metadata namespace, under its own name, and removes it from the map; each
/// attempt reads it back from there.
pub const CLIENT_METADATA_NAMESPACE: &str = "llm_router.client";

/// The client headers carried to every attempt in [`CLIENT_METADATA_NAMESPACE`]: the client's
/// path (which API it speaks) and the provider headers a client may legitimately set.
pub const CARRIED_REQUEST_HEADERS: &[&str] = &[CLIENT_PATH_HEADER, "anthropic-beta", WILDCARD_MODELS_HEADER];

/// The client's request headers an attempt passes on to any provider (an allow-list: every
/// other header the client or Envoy put on the request stays at the gateway). The provider's
/// own headers come from the translation, auth from Envoy's filters after the wasm filter.
pub const UPSTREAM_REQUEST_HEADERS: &[&str] =
    &[":method", ":path", ":authority", ":scheme", "content-type", "content-length", "accept", "x-request-id"];

/// Provider response headers that name the gateway's account with the provider (organization,
/// project): the gateway removes them from every answer, whichever provider sent them.
pub const ACCOUNT_RESPONSE_HEADERS: &[&str] = &["openai-organization", "openai-project", "anthropic-organization-id"];

/// Headers of Envoy's router that would let a client steer retries or timeouts; the filter
/// removes them from client requests (the filter sets `x-envoy-max-retries` itself).
pub const ENVOY_CONTROL_HEADERS: &[&str] = &[
    "x-envoy-max-retries",
    "x-envoy-retry-on",
    "x-envoy-retriable-status-codes",
    "x-envoy-retriable-header-names",
    "x-envoy-retry-grpc-on",
    "x-envoy-upstream-rq-timeout-ms",
    "x-envoy-upstream-rq-per-try-timeout-ms",
    "x-envoy-hedge-on-per-try-timeout",
    "x-envoy-upstream-rq-timeout-alt-response",
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-priority",
];

/// Small, fast, seedable PRNG (xorshift64*). Routing needs fair shuffles, not secrecy.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Avoid the all-zero state, which xorshift never leaves.
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in (0, 1].
    pub fn next_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// Replaces everything but `[A-Za-z0-9_-]` with `_`, so a value can sit between the dots of
/// an Envoy stat name and come out as a Prometheus label.
pub fn stat_label(value: &str) -> String {
    value.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
