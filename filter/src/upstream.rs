//! The upstream role: runs once per attempt in one deployment's cluster and makes the
//! request that deployment's: its model id, its path and its host. Each attempt starts from
//! the client's original body, so a retry to another deployment is rewritten afresh.

use std::rc::Rc;

use llm_router_core::body;
use llm_router_proto as pb;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

/// Client credentials are for the gateway, never for an upstream.
const CLIENT_CREDENTIAL_HEADERS: &[&str] = &["authorization", "x-api-key", "api-key"];

pub struct UpstreamAttempt {
    cfg: Rc<pb::UpstreamConfig>,
    /// When this attempt's request headers went upstream.
    started_ms: u64,
}

impl UpstreamAttempt {
    pub fn new(cfg: Rc<pb::UpstreamConfig>) -> Self {
        UpstreamAttempt { cfg, started_ms: 0 }
    }
}

impl Context for UpstreamAttempt {}

impl HttpContext for UpstreamAttempt {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        self.started_ms = crate::router::now_ms();
        let path = hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, ":path")
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        // The client speaks OpenAI's /v1/...; the deployment's api_base supplies the prefix.
        let rest = path.strip_prefix("/v1").filter(|r| r.starts_with('/')).unwrap_or(&path);
        let upstream_path = format!("{}{}", self.cfg.base_path, rest);
        self.set_http_request_header(":path", Some(&upstream_path));
        if !self.cfg.authority.is_empty() {
            self.set_http_request_header(":authority", Some(&self.cfg.authority));
        }
        for name in CLIENT_CREDENTIAL_HEADERS {
            self.set_http_request_header(name, None);
        }
        // The body is rewritten below, so its length changes.
        self.set_http_request_header("content-length", None);
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let bytes = self.get_http_request_body(0, body_size).unwrap_or_default();
        // The router role already checked the body; if it is somehow unreadable here, pass it on.
        if let Ok(facts) = body::read_body(&bytes) {
            let rewritten = body::rewrite_model(&bytes, &facts.model_span, &self.cfg.provider_model);
            self.set_http_request_body(0, body_size, &rewritten);
        }
        Action::Continue
    }

    /// This attempt's time to first byte feeds the deployment's latency estimate.
    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        let status = hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0);
        if status != 0 && !crate::router::is_region_failure(status) && self.started_ms > 0 {
            let now = crate::router::now_ms();
            crate::shared::record_latency(&self.cfg.deployment_id, now.saturating_sub(self.started_ms) as f64, now);
        }
        Action::Continue
    }
}
