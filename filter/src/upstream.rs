//! The upstream role: runs once per attempt in one deployment's cluster and makes the
//! request that deployment's: its API (path, body, headers), its host, and — on the way
//! back — the client's API again, chunk by chunk. Each attempt starts from the client's
//! original body, so a retry to another provider is translated afresh. Auth (SigV4, keys)
//! is added after this filter by Envoy's own filters.

use std::rc::Rc;

use llm_router_core::providers::{self, ResponseTranslator, Target};
use llm_router_core::RequestError;
use llm_router_proto as pb;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::metrics;

/// One deployment's upstream configuration, compiled once in `on_configure`.
pub struct UpstreamDeployment {
    pub cfg: pb::UpstreamConfig,
    pub target: Target,
    /// `model.M.deployment.D.region.R` for stat names.
    pub labels: String,
}

impl UpstreamDeployment {
    pub fn compile(cfg: pb::UpstreamConfig) -> Result<UpstreamDeployment, String> {
        let kind = providers::ProviderKind::for_provider(
            &llm_router_core::Provider::from_prefix(&cfg.provider),
            &cfg.provider_model,
        )?;
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let target = Target {
            kind,
            model: cfg.provider_model.clone(),
            base_path: cfg.base_path.clone(),
            api_version: some(&cfg.api_version),
            vertex_project: some(&cfg.vertex_project),
            vertex_location: some(&cfg.vertex_location),
        };
        let labels = format!(
            "model.{}.deployment.{}.region.{}",
            llm_router_core::stat_label(&cfg.model_name),
            llm_router_core::stat_label(&cfg.deployment_id),
            llm_router_core::stat_label(if cfg.region.is_empty() { "unknown" } else { &cfg.region })
        );
        Ok(UpstreamDeployment { cfg, target, labels })
    }
}

pub struct UpstreamAttempt {
    dep: Rc<UpstreamDeployment>,
    /// When this attempt's request headers reached the filter.
    started_ms: u64,
    client_path: String,
    translator: Option<Box<dyn ResponseTranslator>>,
}

impl UpstreamAttempt {
    pub fn new(dep: Rc<UpstreamDeployment>) -> Self {
        UpstreamAttempt { dep, started_ms: 0, client_path: String::new(), translator: None }
    }

    fn reject(&mut self, err: &RequestError) -> Action {
        // A request this provider cannot express is the client's error (400, not retried).
        let body = if self.client_path.split('?').next() == Some("/v1/messages") {
            providers::anthropic_error_body(err)
        } else {
            err.body()
        };
        self.send_http_response(err.status, vec![("content-type", "application/json")], Some(&body));
        Action::Pause
    }

    fn record_usage(&self) {
        let Some(usage) = self.translator.as_ref().and_then(|t| t.usage()) else { return };
        let labels = &self.dep.labels;
        metrics::add("litellm_input_tokens_total", labels, usage.input_tokens);
        metrics::add("litellm_output_tokens_total", labels, usage.output_tokens);
        let spend = usage.input_tokens as f64 * self.dep.cfg.input_cost_per_token
            + usage.output_tokens as f64 * self.dep.cfg.output_cost_per_token;
        if spend > 0.0 {
            // Counters are integers: spend is counted in millionths of a dollar.
            metrics::add("litellm_spend_microdollars_total", labels, (spend * 1e6).round() as u64);
        }
    }
}

fn header_string(map: MapType, name: &str) -> Option<String> {
    hostcalls::get_map_value_bytes(map, name).ok().flatten().map(|b| String::from_utf8_lossy(&b).into_owned())
}

impl Context for UpstreamAttempt {}

impl HttpContext for UpstreamAttempt {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        self.started_ms = crate::router::now_ms();
        self.client_path = header_string(MapType::HttpRequestHeaders, llm_router_core::CLIENT_PATH_HEADER)
            .or_else(|| header_string(MapType::HttpRequestHeaders, ":path"))
            .unwrap_or_default();
        if !self.dep.cfg.authority.is_empty() {
            self.set_http_request_header(":authority", Some(&self.dep.cfg.authority));
        }
        // The client's credentials are for the gateway, and an earlier attempt's provider
        // headers are for that provider: neither goes to this one.
        for name in llm_router_core::ATTEMPT_HEADERS {
            self.set_http_request_header(name, None);
        }
        if end_of_stream {
            return Action::Continue;
        }
        // The translated body has another length.
        self.set_http_request_header("content-length", None);
        // The provider's path depends on the body: wait for it.
        Action::Pause
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        let request = match providers::translate_request(&self.dep.target, &self.client_path, &body) {
            Ok(r) => r,
            Err(e) => return self.reject(&e),
        };
        self.set_http_request_header(":path", Some(&request.path));
        for (name, value) in &request.set_headers {
            self.set_http_request_header(name, Some(value));
        }
        self.set_http_request_body(0, body_size, &request.body);
        // The headers were held for the body, so the new length can still be announced: the
        // provider gets a plain request rather than a chunked one.
        self.set_http_request_header("content-length", Some(&request.body.len().to_string()));
        let created = crate::router::now_ms() / 1000;
        self.translator = Some(providers::response_translator(&self.dep.target, request.response_options(created)));
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        let headers: Vec<(String, String)> = self
            .get_http_response_headers_bytes()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let status = headers.iter().find(|(k, _)| k == ":status").and_then(|(_, v)| v.parse::<u16>().ok()).unwrap_or(0);
        if status != 0 && !crate::router::is_region_failure(u32::from(status)) && self.started_ms > 0 {
            let now = crate::router::now_ms();
            crate::shared::record_latency(&self.dep.cfg.deployment_id, now.saturating_sub(self.started_ms) as f64, now);
        }
        if let Some(t) = self.translator.as_mut() {
            let head = t.on_headers(status, &headers);
            if head.status != status && head.status != 0 {
                self.set_http_response_header(":status", Some(&head.status.to_string()));
            }
            for name in &head.remove_headers {
                self.set_http_response_header(name, None);
            }
            for (name, value) in &head.set_headers {
                self.set_http_response_header(name, Some(value));
            }
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.translator.is_none() {
            return Action::Continue;
        }
        let chunk = self.get_http_response_body(0, body_size).unwrap_or_default();
        let Some(t) = self.translator.as_mut() else { return Action::Continue };
        let out = t.on_body(&chunk, end_of_stream);
        // A pass-through answer comes back unchanged: no need to copy it into Envoy again.
        if out != chunk {
            self.set_http_response_body(0, body_size, &out);
        }
        if end_of_stream {
            self.record_usage();
        }
        Action::Continue
    }
}
