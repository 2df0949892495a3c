//! The upstream role: runs once per attempt in one deployment's cluster and makes the request
//! that deployment's: its API (path, body, headers), its host, and — on the way back — the
//! client's API again, chunk by chunk. Each attempt starts from the client's original body, so
//! a retry to another provider is translated afresh. Auth (SigV4, keys) is added after this
//! filter by Envoy's own filters.

use std::rc::Rc;

use llm_router_proto as pb;

use super::{header_lossy, is_region_failure, shared, stat, Action, Host};
use crate::providers::{self, ClientApi, ProviderKind, ResponseTranslator, Target};
use crate::{Provider, RequestError};

/// One deployment's upstream configuration, compiled once when the config loads.
pub struct UpstreamDeployment {
    pub cfg: pb::UpstreamConfig,
    pub target: Target,
    /// `model.M.deployment.D.region.R` for stat names.
    pub labels: String,
}

impl UpstreamDeployment {
    pub fn compile(cfg: pb::UpstreamConfig) -> Result<UpstreamDeployment, String> {
        if cfg.schema_version != llm_router_proto::SCHEMA_VERSION {
            return Err(format!("upstream schema_version {} is not supported", cfg.schema_version));
        }
        let kind = ProviderKind::for_provider(&Provider::from_prefix(&cfg.provider), &cfg.provider_model)?;
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let target = Target {
            kind,
            model: cfg.provider_model.clone(),
            base_path: cfg.base_path.clone(),
            api_version: some(&cfg.api_version),
            vertex_project: some(&cfg.vertex_project),
            vertex_location: some(&cfg.vertex_location),
        };
        let labels = crate::table::deployment_labels(&cfg.model_name, &cfg.deployment_id, &cfg.region);
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

    pub fn on_request_headers(&mut self, host: &mut impl Host, end_of_stream: bool) -> Action {
        self.started_ms = host.now_ms();
        self.client_path = header_lossy(host.request_header(crate::CLIENT_PATH_HEADER))
            .or_else(|| header_lossy(host.request_header(":path")))
            .unwrap_or_default();
        if !self.dep.cfg.authority.is_empty() {
            host.set_request_header(":authority", Some(&self.dep.cfg.authority));
        }
        // The client's credentials are for the gateway, and an earlier attempt's provider
        // headers are for that provider: neither goes to this one.
        for name in crate::ATTEMPT_HEADERS {
            host.set_request_header(name, None);
        }
        if end_of_stream {
            return Action::Continue;
        }
        // The translated body has another length.
        host.set_request_header("content-length", None);
        // The provider's path depends on the body: wait for it.
        Action::Pause
    }

    pub fn on_request_body(&mut self, host: &mut impl Host, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let body = host.request_body(body_size);
        let request = match providers::translate_request(&self.dep.target, &self.client_path, &body) {
            Ok(r) => r,
            Err(e) => return self.reject(host, &e),
        };
        host.set_request_header(":path", Some(&request.path));
        for (name, value) in &request.set_headers {
            host.set_request_header(name, Some(value));
        }
        host.replace_request_body(body_size, &request.body);
        // The headers were held for the body, so the new length can still be announced: the
        // provider gets a plain request rather than a chunked one.
        host.set_request_header("content-length", Some(&request.body.len().to_string()));
        let created = host.now_ms() / 1000;
        self.translator = Some(providers::response_translator(&self.dep.target, request.response_options(created)));
        Action::Continue
    }

    /// Records the time to first byte of a good answer and maps the provider's status and
    /// headers to the client's API.
    pub fn on_response_headers(&mut self, host: &mut impl Host) -> Action {
        let headers = host.response_headers();
        let status = headers.iter().find(|(k, _)| k == ":status").and_then(|(_, v)| v.parse::<u16>().ok()).unwrap_or(0);
        if status != 0 && !is_region_failure(u32::from(status)) && self.started_ms > 0 {
            let now = host.now_ms();
            shared::record_latency(host, &self.dep.cfg.deployment_id, now.saturating_sub(self.started_ms) as f64, now);
        }
        if let Some(t) = self.translator.as_mut() {
            let head = t.on_headers(status, &headers);
            if head.status != status && head.status != 0 {
                host.set_response_header(":status", Some(&head.status.to_string()));
            }
            for name in &head.remove_headers {
                host.set_response_header(name, None);
            }
            for (name, value) in &head.set_headers {
                host.set_response_header(name, Some(value));
            }
        }
        Action::Continue
    }

    pub fn on_response_body(&mut self, host: &mut impl Host, body_size: usize, end_of_stream: bool) -> Action {
        let Some(t) = self.translator.as_mut() else { return Action::Continue };
        let chunk = host.response_body(body_size);
        let out = t.on_body(&chunk, end_of_stream);
        // A pass-through answer comes back unchanged: no need to copy it into Envoy again.
        if out != chunk {
            host.replace_response_body(body_size, &out);
        }
        if end_of_stream {
            self.record_usage(host);
        }
        Action::Continue
    }

    /// A request this provider cannot express is the client's error (400, not retried).
    fn reject(&mut self, host: &mut impl Host, err: &RequestError) -> Action {
        let body = match ClientApi::from_path(&self.client_path) {
            ClientApi::Anthropic => providers::anthropic_error_body(err),
            ClientApi::OpenAi => err.body(),
        };
        host.send_json_response(err.status, &body);
        Action::Pause
    }

    fn record_usage(&self, host: &mut impl Host) {
        let Some(usage) = self.translator.as_ref().and_then(|t| t.usage()) else { return };
        let labels = &self.dep.labels;
        host.add_counter(&stat("litellm_input_tokens_total", labels), usage.input_tokens);
        host.add_counter(&stat("litellm_output_tokens_total", labels), usage.output_tokens);
        let spend = usage.input_tokens as f64 * self.dep.cfg.input_cost_per_token
            + usage.output_tokens as f64 * self.dep.cfg.output_cost_per_token;
        if spend > 0.0 {
            // Counters are integers: spend is counted in millionths of a dollar.
            host.add_counter(&stat("litellm_spend_microdollars_total", labels), (spend * 1e6).round() as u64);
        }
    }
}
