//! The gateway's HTTP behaviour, host-free: what the filter does with each client request
//! ([`router::RouterRequest`]) and with each attempt at a deployment
//! ([`upstream::UpstreamAttempt`]), the shared health view both keep ([`shared`]), and the
//! status pages ([`status`]). Everything Envoy provides (headers, bodies, shared data, metrics,
//! the clock) comes through the [`Host`] trait, so the whole behaviour runs in unit tests
//! against [`mock::MockHost`]; the proxy-wasm adapter implements `Host` with host calls and
//! keeps only the lifecycle.

pub mod limits;
pub mod mock;
pub mod router;
pub mod shared;
pub mod status;
pub mod upstream;

#[cfg(test)]
mod behaviour_tests;
#[cfg(test)]
mod limits_tests;

pub use router::RouterRequest;
pub use upstream::{UpstreamAttempt, UpstreamDeployment};

/// What Envoy does next with the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// Wait (for more body, or because the filter answered the request itself).
    Pause,
}

/// The result of a compare-and-swap write to shared data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedWrite {
    Written,
    /// Another worker wrote the key since it was read: read again.
    CasMismatch,
    Failed,
}

/// What the gateway needs from its host (Envoy, through proxy-wasm; a mock in tests). Header
/// names are lower case. Values the client controls come as bytes: decoding them is the
/// gateway's job, so a bad byte is a 400 and never a panic in the host layer.
pub trait Host {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    fn request_header(&self, name: &str) -> Option<Vec<u8>>;
    /// Every request header, in order, repeated names included (names in lower case).
    fn request_headers(&self) -> Vec<(String, Vec<u8>)>;
    /// Sets (`Some`) or removes (`None`) a request header.
    fn set_request_header(&mut self, name: &str, value: Option<&str>);
    /// Replaces the whole request header map (pseudo-headers included) in one host call.
    fn set_request_headers(&mut self, headers: &[(String, Vec<u8>)]);
    /// A string in the stream's dynamic metadata (`filter_metadata[namespace][key]`), as
    /// Envoy's filters before the router left it.
    fn request_metadata(&self, namespace: &str, key: &str) -> Option<Vec<u8>>;
    /// The first `size` bytes of the buffered request body.
    fn request_body(&self, size: usize) -> Vec<u8>;
    /// Replaces the first `size` bytes of the request body with `body`.
    fn replace_request_body(&mut self, size: usize, body: &[u8]);

    fn response_header(&self, name: &str) -> Option<Vec<u8>>;
    /// Every response header, names in lower case.
    fn response_headers(&self) -> Vec<(String, String)>;
    fn set_response_header(&mut self, name: &str, value: Option<&str>);
    fn response_body(&self, size: usize) -> Vec<u8>;
    fn replace_response_body(&mut self, size: usize, body: &[u8]);
    /// The response came from an upstream (not from Envoy or a filter).
    fn response_from_upstream(&self) -> bool;
    /// Resets the response stream: the client sees it cut (its status line may be out already).
    fn reset_response(&mut self);

    /// Answers the request here with a JSON body; nothing goes upstream.
    fn send_json_response(&mut self, status: u32, body: &[u8]) {
        self.send_json_response_with_headers(status, &[], body);
    }
    /// The same, with more response headers (`retry-after`).
    fn send_json_response_with_headers(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]);

    /// Starts a unary gRPC call to `cluster` (Envoy's `dispatch_grpc_call`); its answer comes
    /// to the calling context with the returned token. None when it cannot be started.
    fn grpc_call(&mut self, cluster: &str, service: &str, method: &str, message: &[u8], timeout_ms: u64)
        -> Option<u32>;
    /// Lets a request paused for a call's answer go on.
    fn resume_request(&mut self);

    /// Shared data (every worker's view): the value and its compare-and-swap token.
    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    fn shared_set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> SharedWrite;

    /// Metrics by full stat name (`name.model.M.deployment.D.region.R`).
    fn define_counter(&mut self, stat: &str);
    fn add_counter(&mut self, stat: &str, n: u64);
    fn record_histogram(&mut self, stat: &str, value: u64);
    fn set_gauge(&mut self, stat: &str, value: u64);

    fn log_warn(&mut self, message: &str);
}

/// LiteLLM's region failures: 5xx, 429 and 408; and 401/403, which upstream can only be the
/// gateway's own credentials or model access failing (a client never sends provider
/// credentials: the gateway injects them). Other 4xx are the client's error and are neither
/// retried nor held against the region.
pub fn is_region_failure(status: u32) -> bool {
    status >= 500 || matches!(status, 429 | 408 | 401 | 403)
}

/// A stat name with the deployment's labels (`name.model.M.deployment.D.region.R`).
pub(crate) fn stat(name: &str, labels: &str) -> String {
    format!("{name}.{labels}")
}

/// Reads a header as UTF-8, replacing what is not (for values the gateway itself set or that
/// only feed logs and metrics).
pub(crate) fn header_lossy(bytes: Option<Vec<u8>>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(&b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_failures_are_litellm_s_and_the_gateway_s_own_credentials() {
        for s in [500, 502, 503, 504, 429, 408, 401, 403] {
            assert!(is_region_failure(s), "{s}");
        }
        for s in [200, 400, 404, 413, 422] {
            assert!(!is_region_failure(s), "{s}");
        }
    }
}
