//! The upstream role: runs once per attempt in one deployment's cluster and makes the request
//! that deployment's: its API (path, body, headers), its host, and — on the way back — the
//! client's API again, chunk by chunk. Each attempt starts from the client's original body, so
//! a retry to another provider is translated afresh. Auth (SigV4, keys) is added after this
//! filter by Envoy's own filters.
//!
//! Header hygiene: the provider gets only an allow-list of the client's headers
//! ([`attempt_headers`]), and the client gets none of the provider's headers that name the
//! gateway's account ([`crate::ACCOUNT_RESPONSE_HEADERS`]). A 401/403 from the provider is the
//! gateway's own credentials failing ([`AuthFailure`]): the client gets a 502 in its API's
//! shape, and Envoy moves on to the next deployment.

use std::rc::Rc;

use llm_router_proto as pb;

use super::limits::{self, CheckEnd, CheckStart, CooldownCause};
use super::{is_region_failure, shared, stat, Action, Host};
use crate::health::Outcome;
use crate::providers::{self, ClientApi, FirstContent, ProviderKind, ResponseTranslator, Target};
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
    /// A wildcard deployment's model name for this request (the router role's
    /// [`crate::WILDCARD_MODELS_HEADER`]); None = the body's model.
    wildcard_model: Option<String>,
    /// The request headers this attempt sends, written to Envoy in one call once the body is
    /// translated.
    wire_headers: Vec<(String, Vec<u8>)>,
    translator: Option<Box<dyn ResponseTranslator>>,
    /// Set when the provider refused the gateway's credentials: its answer is replaced.
    auth_failure: Option<AuthFailure>,
    /// A streamed answer held until its first content: what the client will get first (at
    /// most [`HELD_CAP`] bytes). `None` when nothing is held.
    held: Option<Vec<u8>>,
    /// A failure after the first content was counted against the deployment.
    failure_recorded: bool,
    /// The rate limit check this attempt waits for (its call's token).
    limit_call: Option<u32>,
    /// The attempt was refused at the deployment's limit: the response is the filter's own.
    refused_at_limit: bool,
    /// Envoy's number of this attempt (1 = the first), when known.
    attempt_number: Option<u64>,
}

impl UpstreamAttempt {
    pub fn new(dep: Rc<UpstreamDeployment>) -> Self {
        UpstreamAttempt {
            dep,
            started_ms: 0,
            client_path: String::new(),
            wildcard_model: None,
            wire_headers: Vec::new(),
            translator: None,
            auth_failure: None,
            held: None,
            failure_recorded: false,
            limit_call: None,
            refused_at_limit: false,
            attempt_number: None,
        }
    }

    pub fn on_request_headers(&mut self, host: &mut impl Host, end_of_stream: bool) -> Action {
        self.started_ms = host.now_ms();
        // One read of the map; the headers every attempt needs come from the dynamic metadata
        // (an earlier attempt rewrote or removed them in the shared map), or from the map when
        // no filter put them there.
        let client = host.request_headers();
        let carried = |name: &str| {
            host.request_metadata(crate::CLIENT_METADATA_NAMESPACE, name)
                .or_else(|| first(&client, name).map(<[u8]>::to_vec))
        };
        self.client_path = carried(crate::CLIENT_PATH_HEADER)
            .or_else(|| first(&client, ":path").map(<[u8]>::to_vec))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        if crate::wildcard::is_pattern(&self.dep.target.model) {
            self.wildcard_model = carried(crate::WILDCARD_MODELS_HEADER)
                .and_then(|v| serde_json::from_slice::<std::collections::HashMap<String, String>>(&v).ok())
                .and_then(|mut names| names.remove(&self.dep.cfg.model_name));
        }
        // Envoy numbers the attempts (the routes' `include_request_attempt_count`).
        self.attempt_number = first(&client, "x-envoy-attempt-count")
            .and_then(|b| std::str::from_utf8(b).ok()?.trim().parse::<u64>().ok());
        let provider_headers = provider_client_headers(self.dep.target.kind)
            .iter()
            .filter_map(|name| carried(name).map(|v| ((*name).to_owned(), v)))
            .collect();
        self.wire_headers = attempt_headers(&client, &self.dep.cfg.authority, !end_of_stream, provider_headers);
        if end_of_stream {
            host.set_request_headers(&self.wire_headers);
            return Action::Continue;
        }
        // The provider's path depends on the body: wait for it.
        Action::Pause
    }

    pub fn on_request_body(&mut self, host: &mut impl Host, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let body = host.request_body(body_size);
        let wildcard_target;
        let target = if crate::wildcard::is_pattern(&self.dep.target.model) {
            // A wildcard group's deployment: the provider gets the model that reached the group
            // (the client's, or the fallback's name the router names) with the pattern's
            // segments in the deployment's template (LiteLLM's pattern routing).
            let named = self.wildcard_model.take();
            let client_model = match named.map_or_else(|| crate::body::read_body(&body).map(|f| f.model), Ok) {
                Ok(model) => model,
                Err(e) => return self.reject(host, &e),
            };
            let model =
                crate::wildcard::provider_model(&self.dep.cfg.model_name, &self.dep.target.model, &client_model);
            wildcard_target = Target { model, ..self.dep.target.clone() };
            &wildcard_target
        } else {
            &self.dep.target
        };
        let request = match providers::translate_request(target, &self.client_path, &body) {
            Ok(r) => r,
            Err(e) => return self.reject(host, &e),
        };
        let mut headers = std::mem::take(&mut self.wire_headers);
        put(&mut headers, ":path", request.path.as_bytes());
        for (name, value) in &request.set_headers {
            put(&mut headers, name, value.as_bytes());
        }
        // The headers were held for the body, so the new length can still be announced: the
        // provider gets a plain request rather than a chunked one.
        put(&mut headers, "content-length", request.body.len().to_string().as_bytes());
        host.set_request_headers(&headers);
        host.replace_request_body(body_size, &request.body);
        let created = host.now_ms() / 1000;
        self.translator = Some(providers::response_translator(target, request.response_options(created)));
        // A retry waits for the deployment's limit check, if it has a limit. The first attempt
        // was checked (and counted) by the router role when it planned the request, where a
        // spent deployment can still be left out of the plan.
        if self.attempt_number == Some(1) {
            return Action::Continue;
        }
        match limits::start_attempt_check(host, &limits::LimitTarget::of_upstream(&self.dep)) {
            CheckStart::Go => Action::Continue,
            CheckStart::Pending(token) => {
                self.limit_call = Some(token);
                Action::Pause
            }
            CheckStart::Spent { wait_ms } => self.refuse_at_limit(host, wait_ms),
        }
    }

    /// The rate limit service's answer (`grpc_status` 0 = OK) to this attempt's check: the
    /// attempt goes on, or is refused with a 429 that Envoy retries on the next deployment.
    pub fn on_limit_answer(&mut self, host: &mut impl Host, token: u32, grpc_status: u32, body: &[u8]) {
        if self.limit_call != Some(token) {
            return;
        }
        self.limit_call = None;
        match limits::finish_attempt_check(host, &limits::LimitTarget::of_upstream(&self.dep), grpc_status, body) {
            CheckEnd::Go => host.resume_request(),
            CheckEnd::Spent { wait_ms } => {
                self.refuse_at_limit(host, wait_ms);
            }
        }
    }

    /// Refuses a retry at a spent deployment: nothing is sent to the provider, and the client
    /// gets a 429 in its API with `Retry-After`. Envoy never retries a filter's own answer in
    /// the upstream chain (it goes to the client as it is; a reset from there ends the client's
    /// stream: both seen on Envoy 1.40), so only the router role can spill over.
    fn refuse_at_limit(&mut self, host: &mut impl Host, wait_ms: u64) -> Action {
        self.refused_at_limit = true;
        host.add_counter(&stat("llm_router_limit_rejections_total", &self.dep.labels), 1);
        let err = limits::limit_error(&self.dep.cfg.deployment_id, wait_ms);
        let body = match ClientApi::from_path(&self.client_path) {
            ClientApi::Anthropic => providers::anthropic_error_body(&err),
            ClientApi::OpenAi => err.body(),
        };
        let retry_after = crate::capacity::retry_after_seconds([wait_ms]).to_string();
        host.send_json_response_with_headers(err.status, &[("retry-after", &retry_after)], &body);
        Action::Pause
    }

    /// Maps the provider's status and headers to the client's API and records the time to
    /// first byte of a good answer. A streamed answer is held here until its first content
    /// ([`Self::on_response_body`]): a failure before it is the region's, retried on the next
    /// deployment, and the client sees nothing of it. A refusal of the gateway's credentials
    /// waits for its body (the provider's error type is in it) and becomes a 502.
    pub fn on_response_headers(&mut self, host: &mut impl Host, end_of_stream: bool) -> Action {
        if self.refused_at_limit {
            return Action::Continue;
        }
        let headers = host.response_headers();
        for (name, _) in headers.iter().filter(|(k, _)| crate::ACCOUNT_RESPONSE_HEADERS.contains(&k.as_str())) {
            host.set_response_header(name, None);
        }
        let status = headers.iter().find(|(k, _)| k == ":status").and_then(|(_, v)| v.parse::<u16>().ok()).unwrap_or(0);
        if matches!(status, 401 | 403) {
            return self.start_auth_failure(host, &headers, status, end_of_stream);
        }
        self.read_capacity_signals(host, status, &headers);
        let mut hold = false;
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
            hold = !end_of_stream && t.first_content() == FirstContent::Waiting;
        }
        if hold {
            // Timed at the first content instead.
            self.held = Some(Vec::new());
            return Action::Pause;
        }
        if status != 0 && !is_region_failure(u32::from(status)) {
            self.record_first_byte(host);
        }
        Action::Continue
    }

    pub fn on_response_body(&mut self, host: &mut impl Host, body_size: usize, end_of_stream: bool) -> Action {
        if self.refused_at_limit {
            return Action::Continue;
        }
        if self.auth_failure.is_some() {
            return self.on_auth_failure_body(host, body_size, end_of_stream);
        }
        let Some(t) = self.translator.as_mut() else { return Action::Continue };
        let chunk = host.response_body(body_size);
        let out = t.on_body(&chunk, end_of_stream);
        let (first, failed_after, broken) = (t.first_content(), t.failed_after_content(), t.broken_after_content());
        if broken && self.held.take().is_some() {
            // Content and the failure came together, before anything was released: nothing
            // reached the client, so it is a region failure Envoy retries on the next deployment.
            let body = if out.is_empty() { self.failed_mid_answer_body() } else { out };
            return self.fail_held_answer(host, body_size, 503, &body);
        }
        if failed_after && !self.failure_recorded {
            self.failure_recorded = true;
            self.record_failure_after_content(host);
        }
        if broken {
            // A whole answer failed after its first content (its status line may be out): cut
            // the response, so that no client takes what follows for a complete answer.
            host.reset_response();
            return Action::Pause;
        }
        if let Some(mut held) = self.held.take() {
            match first {
                FirstContent::Waiting if !end_of_stream && held.len() + out.len() <= HELD_CAP => {
                    // Kept here rather than in Envoy's buffer, so the next chunk comes alone.
                    held.extend_from_slice(&out);
                    self.held = Some(held);
                    if body_size > 0 {
                        host.replace_response_body(body_size, b"");
                    }
                    return Action::Pause;
                }
                FirstContent::Failed { status, body } => return self.fail_held_answer(host, body_size, status, &body),
                // Content came, the answer ended, or the cap was reached: release it all.
                _ => {
                    held.extend_from_slice(&out);
                    host.replace_response_body(body_size, &held);
                    self.record_first_byte(host);
                    self.record_first_token(host);
                    if end_of_stream {
                        self.record_usage(host);
                    }
                    return Action::Continue;
                }
            }
        }
        // A pass-through answer comes back unchanged: no need to copy it into Envoy again.
        if out != chunk {
            host.replace_response_body(body_size, &out);
        }
        if end_of_stream {
            self.record_usage(host);
        }
        Action::Continue
    }

    /// The provider's word on its own capacity: a 429/503 saying how long to stay away cools
    /// the deployment down for that long (cause `provider_retry_after`, instead of counting
    /// toward `cooldown_time`; a group's only deployment too: the provider said it would refuse
    /// it); a 2xx with a nearly spent quota lowers its weight.
    fn read_capacity_signals(&self, host: &mut impl Host, status: u16, headers: &[(String, String)]) {
        let now = host.now_ms();
        let id = &self.dep.cfg.deployment_id;
        if (200..300).contains(&status) {
            if let Some(factor) = crate::capacity::share_factor(headers) {
                limits::record_share_signal(host, id, factor, now);
            }
            return;
        }
        let Some(ms) = crate::capacity::provider_cooldown(status, headers, now).filter(|&ms| ms > 0) else { return };
        if shared::cool_down_until(host, id, now.saturating_add(ms)) {
            host.add_counter(&limits::cooldown_stat(&self.dep.labels, CooldownCause::ProviderRetryAfter), 1);
            host.log_warn(&format!(
                "llm-router: deployment {id} ({}) answered {status} asking for {ms} ms; cooling down for that long",
                self.dep.cfg.region
            ));
        }
    }

    /// Times the attempt from its request to what the client gets first: the response headers,
    /// or for a held stream its first content.
    fn record_first_byte(&self, host: &mut impl Host) {
        if self.started_ms > 0 {
            let now = host.now_ms();
            shared::record_latency(host, &self.dep.cfg.deployment_id, now.saturating_sub(self.started_ms) as f64, now);
        }
    }

    /// Time to the first content of a held answer (a stream, or a whole answer assembled from
    /// one): the latency the client feels, and the routing signal.
    fn record_first_token(&self, host: &mut impl Host) {
        if self.started_ms > 0 {
            let ms = host.now_ms().saturating_sub(self.started_ms);
            host.record_histogram(&stat("litellm_time_to_first_token_ms", &self.dep.labels), ms);
        }
    }

    /// The provider failed after the client had content (an error event, a broken assembled
    /// answer): Envoy cannot retry it, and the router role sees an answer that ended normally,
    /// so it is counted here, against the deployment's health as any region failure.
    fn record_failure_after_content(&self, host: &mut impl Host) {
        let cfg = &self.dep.cfg;
        host.add_counter(&stat("llm_router_failed_after_content_total", &self.dep.labels), 1);
        let now = host.now_ms();
        let rule = shared::CooldownRule {
            allowed_fails: cfg.allowed_fails,
            cooldown_ms: cfg.cooldown_ms,
            sole: cfg.sole_in_group,
        };
        shared::apply_outcome(host, (&cfg.deployment_id, &cfg.region, &self.dep.labels), Outcome::Failure, now, &rule);
    }

    /// A failure before any content (an error event, a stream cut short, one too large): the
    /// region's, retried on the next deployment; counted and logged here, where the cause is known.
    fn report_failed_before_content(&self, host: &mut impl Host, status: u16) {
        let labels = format!("{}.code.{status}", self.dep.labels);
        host.add_counter(&stat("llm_router_failed_before_content_total", &labels), 1);
        let cfg = &self.dep.cfg;
        host.log_warn(&format!(
            "llm-router: deployment {} ({}) failed before its first content ({status}); the attempt moves on",
            cfg.deployment_id, cfg.region
        ));
    }

    /// The provider refused the gateway's credentials. The status becomes 502 now (Envoy
    /// retries on it and the router counts it as a region failure); the answer is held until
    /// the provider's error body has been read.
    fn start_auth_failure(
        &mut self,
        host: &mut impl Host,
        headers: &[(String, String)],
        status: u16,
        end_of_stream: bool,
    ) -> Action {
        let amzn_error_type = headers.iter().find(|(k, _)| k == "x-amzn-errortype").map(|(_, v)| v.clone());
        host.set_response_header(":status", Some(&AUTH_FAILURE_STATUS.to_string()));
        // The body is replaced; the provider's auth headers would only mislead the client.
        for name in ["content-length", "x-amzn-errortype", "www-authenticate"] {
            if headers.iter().any(|(k, _)| k == name) {
                host.set_response_header(name, None);
            }
        }
        host.set_response_header("content-type", Some("application/json"));
        self.auth_failure = Some(AuthFailure { status, amzn_error_type, body: Vec::new() });
        if end_of_stream {
            // No body to read or replace: report what the headers say, pass the 502 on bare.
            self.report_auth_failure(host);
            return Action::Continue;
        }
        Action::Pause
    }

    /// Keeps the start of the provider's error body (never more than [`AUTH_ERROR_BODY_CAP`]
    /// bytes, the rest is dropped as it comes), then answers with the gateway's error.
    fn on_auth_failure_body(&mut self, host: &mut impl Host, body_size: usize, end_of_stream: bool) -> Action {
        let Some(failure) = self.auth_failure.as_mut() else { return Action::Continue };
        let room = AUTH_ERROR_BODY_CAP.saturating_sub(failure.body.len());
        if room > 0 && body_size > 0 {
            failure.body.extend(host.response_body(body_size.min(room)));
        }
        if !end_of_stream {
            if body_size > 0 {
                host.replace_response_body(body_size, b"");
            }
            return Action::Pause;
        }
        let body = self.report_auth_failure(host);
        host.replace_response_body(body_size, &body);
        Action::Continue
    }

    /// Counts and logs the refusal (deployment, status, the provider's error type; never the
    /// body) and returns the client's error body.
    fn report_auth_failure(&mut self, host: &mut impl Host) -> Vec<u8> {
        let Some(failure) = self.auth_failure.as_ref() else { return Vec::new() };
        let kind = provider_error_type(failure.amzn_error_type.as_deref(), &failure.body);
        let labels = format!("{}.provider_error.{}", self.dep.labels, auth_error_label(kind.as_deref()));
        host.add_counter(&stat("llm_router_upstream_auth_failures_total", &labels), 1);
        let cfg = &self.dep.cfg;
        host.log_warn(&format!(
            "llm-router: deployment {} ({}, {}) refused the gateway's credentials: {} {}; the attempt moves on and counts toward the deployment's cooldown",
            cfg.deployment_id,
            cfg.region,
            self.dep.target.kind.display_name(),
            failure.status,
            kind.as_deref().unwrap_or("(no error type)"),
        ));
        let err = RequestError {
            status: AUTH_FAILURE_STATUS,
            kind: "api_error",
            code: "upstream_auth_failed",
            message: format!(
                "the provider refused the gateway's own credentials for deployment '{}' ({}); this is the gateway's configuration, not your request or key",
                cfg.deployment_id, failure.status
            ),
            param: None,
        };
        match ClientApi::from_path(&self.client_path) {
            ClientApi::Anthropic => providers::anthropic_error_body(&err),
            ClientApi::OpenAi => err.body(),
        }
    }

    /// A held answer failed before anything of it was released: its headers are still held,
    /// so it becomes a retried error (`status` 429 or 503) with `body` in the client's API.
    fn fail_held_answer(&self, host: &mut impl Host, body_size: usize, status: u16, body: &[u8]) -> Action {
        self.report_failed_before_content(host, status);
        host.set_response_header(":status", Some(&status.to_string()));
        host.set_response_header("content-type", Some("application/json"));
        host.set_response_header("cache-control", None);
        host.replace_response_body(body_size, body);
        Action::Continue
    }

    /// The client's error for an answer that failed in the provider's stream before the
    /// gateway released any of it (the provider's own error is not at hand yet).
    fn failed_mid_answer_body(&self) -> Vec<u8> {
        let err = RequestError {
            status: 503,
            kind: "api_error",
            code: "upstream_stream_failed",
            message: format!(
                "deployment '{}' failed in the middle of its answer; the request moves on to the next deployment",
                self.dep.cfg.deployment_id
            ),
            param: None,
        };
        match ClientApi::from_path(&self.client_path) {
            ClientApi::Anthropic => providers::anthropic_error_body(&err),
            ClientApi::OpenAi => err.body(),
        }
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
        // Settled with the fleet-wide tpm count by the deployment's root context.
        limits::add_pending_tokens(host, &self.dep, usage.input_tokens.saturating_add(usage.output_tokens));
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

/// What a client gets when every deployment it could use refused the gateway's credentials: a
/// bad gateway (the gateway's upstream failed it), never the provider's 401/403, which would
/// tell the client that its own key is wrong. Envoy retries 5xx on the next deployment.
pub const AUTH_FAILURE_STATUS: u32 = 502;

/// How much of a streamed answer is held waiting for its first content; past it the answer is
/// released as it is (a provider sending this much without content is not stalled).
pub const HELD_CAP: usize = 1024 * 1024;

/// How much of a refusal's body is kept to find the provider's error type.
const AUTH_ERROR_BODY_CAP: usize = 8 * 1024;

/// A provider's 401/403 to this attempt: the gateway's key, token or model access failed.
struct AuthFailure {
    status: u16,
    /// AWS's `x-amzn-ErrorType` (`AccessDeniedException:http://...`).
    amzn_error_type: Option<String>,
    /// The start of the provider's error body.
    body: Vec<u8>,
}

/// The provider's error types for refused credentials that the metric names; any other is
/// `other` (the log line still names it), so a provider cannot grow the series without bound.
const KNOWN_AUTH_ERRORS: &[&str] = &[
    // Bedrock (x-amzn-ErrorType)
    "AccessDeniedException",
    "UnrecognizedClientException",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
    // OpenAI (error.code)
    "invalid_api_key",
    "invalid_organization",
    "unsupported_country_region_territory",
    // Azure OpenAI (error.code)
    "PermissionDenied",
    // Anthropic (error.type)
    "authentication_error",
    "permission_error",
    // Vertex AI (error.status)
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
];

/// The metric label for a provider error type: itself when known, `other`, or `unknown` when
/// the provider named none.
fn auth_error_label(kind: Option<&str>) -> &'static str {
    match kind {
        None => "unknown",
        Some(k) => KNOWN_AUTH_ERRORS.iter().find(|known| **known == k).copied().unwrap_or("other"),
    }
}

/// The provider's name for a refusal: AWS's `x-amzn-ErrorType` (its part before `:`), else the
/// JSON error's `code` (OpenAI; Azure's numeric codes say nothing), `status` (Google) or `type`
/// (Anthropic), or AWS's `__type`. A short token of `[A-Za-z0-9_.-]`, never the message (it may
/// quote the key).
pub(crate) fn provider_error_type(amzn_error_type: Option<&str>, body: &[u8]) -> Option<String> {
    let from_header = amzn_error_type.and_then(|v| v.split(':').next()).map(str::to_owned);
    let from_body = || {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let error = &v["error"];
        let named =
            |x: &serde_json::Value| x.as_str().filter(|s| !s.bytes().all(|b| b.is_ascii_digit())).map(str::to_owned);
        named(&error["code"])
            .or_else(|| named(&error["status"]))
            .or_else(|| named(&error["type"]))
            .or_else(|| named(&v["__type"]).map(|t| t.rsplit('#').next().unwrap_or_default().to_owned()))
    };
    let raw = from_header.filter(|s| !s.is_empty()).or_else(from_body)?;
    let token: String =
        raw.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')).take(64).collect();
    (!token.is_empty()).then_some(token)
}

/// The provider headers of a dialect that a client may set and the provider then gets.
fn provider_client_headers(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::Anthropic | ProviderKind::VertexAnthropic => &["anthropic-beta"],
        ProviderKind::OpenAi
        | ProviderKind::Azure
        | ProviderKind::Bedrock
        | ProviderKind::VertexGemini
        | ProviderKind::GeminiAiStudio => &[],
    }
}

/// The request headers one attempt sends, before translation: the client's headers of
/// [`crate::UPSTREAM_REQUEST_HEADERS`] (the deployment's `:authority` instead of the client's
/// when it has one; no `content-length` when a translated body follows), then the provider
/// headers the client set that this dialect takes (`provider_headers`). Everything else stays
/// at the gateway: the client's credentials (the gateway's master key), headers that change
/// billing or identity (`openai-organization`, `openai-project`, `x-goog-user-project`), the
/// gateway's `x-llm-*` and Envoy's `x-envoy-*`, forwarding and client-software headers.
pub(crate) fn attempt_headers(
    client: &[(String, Vec<u8>)],
    authority: &str,
    body_follows: bool,
    provider_headers: Vec<(String, Vec<u8>)>,
) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = client
        .iter()
        .filter(|(name, _)| match name.as_str() {
            // The translated body's length is set with it.
            "content-length" => !body_follows,
            // The deployment's host replaces the client's.
            ":authority" => authority.is_empty(),
            other => crate::UPSTREAM_REQUEST_HEADERS.contains(&other),
        })
        .cloned()
        .collect();
    if !authority.is_empty() {
        // Pseudo-headers go before the others.
        let at = out.iter().position(|(k, _)| !k.starts_with(':')).unwrap_or(out.len());
        out.insert(at, (":authority".to_owned(), authority.as_bytes().to_vec()));
    }
    for (name, value) in provider_headers {
        put(&mut out, &name, &value);
    }
    out
}

/// Sets `name` to `value`, replacing every value it had.
fn put(headers: &mut Vec<(String, Vec<u8>)>, name: &str, value: &[u8]) {
    headers.retain(|(k, _)| k != name);
    headers.push((name.to_owned(), value.to_vec()));
}

fn first<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn an_attempt_keeps_only_the_allowed_client_headers() {
        let client = h(&[
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            (":authority", "gateway.example"),
            (":scheme", "http"),
            ("content-type", "application/json"),
            ("content-length", "70"),
            ("accept", "application/json"),
            ("x-request-id", "req-1"),
            ("authorization", "Bearer sk-gateway-master"),
            ("x-api-key", "sk-gateway-master"),
            ("openai-organization", "org-client"),
            ("openai-project", "proj-client"),
            ("x-goog-user-project", "someone-elses-project"),
            ("x-llm-residency", "eu"),
            ("x-envoy-expected-rq-timeout-ms", "1000"),
            ("x-forwarded-for", "10.0.0.1"),
            ("user-agent", "sdk/1.0"),
            ("anthropic-beta", "from-the-map"),
        ]);
        let out = attempt_headers(&client, "api.example", true, vec![("anthropic-beta".into(), b"tools-1".to_vec())]);
        assert_eq!(
            out,
            h(&[
                (":method", "POST"),
                (":path", "/v1/chat/completions"),
                (":scheme", "http"),
                (":authority", "api.example"),
                ("content-type", "application/json"),
                ("accept", "application/json"),
                ("x-request-id", "req-1"),
                ("anthropic-beta", "tools-1"),
            ])
        );
        // No body follows: the client's length stays; no authority configured: the client's.
        let out = attempt_headers(&client, "", false, Vec::new());
        assert!(out.contains(&(":authority".into(), b"gateway.example".to_vec())));
        assert!(out.contains(&("content-length".into(), b"70".to_vec())));
        assert!(!out.iter().any(|(k, _)| k == "anthropic-beta"), "only a dialect that takes it gets it");
    }

    #[test]
    fn the_provider_s_error_type_comes_from_its_header_or_its_json_and_is_a_short_token() {
        let cases: &[(Option<&str>, &str, Option<&str>)] = &[
            (
                Some("AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
                r#"{"message":"no access"}"#,
                Some("AccessDeniedException"),
            ),
            (
                Some("ExpiredTokenException"),
                r#"{"message":"The security token included in the request is expired"}"#,
                Some("ExpiredTokenException"),
            ),
            (
                None,
                r#"{"error":{"message":"Incorrect API key provided: sk-ab**cd","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
                Some("invalid_api_key"),
            ),
            (None, r#"{"type":"error","error":{"type":"permission_error","message":"no"}}"#, Some("permission_error")),
            (
                None,
                r#"{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}"#,
                Some("PERMISSION_DENIED"),
            ),
            (None, r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key"}}"#, None),
            (
                None,
                r#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"x"}"#,
                Some("UnrecognizedClientException"),
            ),
            (None, "<html>denied</html>", None),
            (None, r#"{"error":{"code":"a b\nc<script>"}}"#, Some("abcscript")),
        ];
        for (header, body, want) in cases {
            assert_eq!(provider_error_type(*header, body.as_bytes()).as_deref(), *want, "{header:?} {body}");
        }
        let long = format!(r#"{{"error":{{"type":"{}"}}}}"#, "x".repeat(500));
        assert_eq!(provider_error_type(None, long.as_bytes()).map(|t| t.len()), Some(64));
        assert_eq!(auth_error_label(Some("ExpiredTokenException")), "ExpiredTokenException");
        assert_eq!(auth_error_label(Some("SomethingNew")), "other");
        assert_eq!(auth_error_label(None), "unknown");
    }
}
