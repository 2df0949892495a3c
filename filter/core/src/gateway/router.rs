//! The downstream role: one [`RouterRequest`] per client request. It answers what the gateway
//! answers itself (`/health`, `/v1/models`, bad requests), plans the order of deployments for
//! model requests and hands it to Envoy, and learns from each request's attempts.

use std::rc::Rc;

use base64::Engine as _;

use super::limits::{self, CheckEnd, CheckStart, LimitTarget};
use super::{header_lossy, is_region_failure, shared, stat, status, Action, Host};
use crate::health::Outcome;
use crate::providers::ClientApi;
use crate::{body, plan_request, route_plan, Deployment, PlanRequest, RequestError, Rng, RouterTable};

/// Paths whose JSON body names a model group.
const MODEL_PATHS: &[&str] = &[
    "/v1/chat/completions",
    "/chat/completions",
    "/v1/completions",
    "/completions",
    "/v1/embeddings",
    "/embeddings",
    "/v1/messages",
];

pub struct RouterRequest {
    table: Rc<RouterTable>,
    rng: Rng,
    started_ms: u64,
    residency: Option<String>,
    preferred_region: Option<String>,
    strategy: Option<String>,
    /// Indices into `table.deployments`, in attempt order; empty until planned.
    plan: Vec<usize>,
    status: u32,
    attempts: u32,
    client_api: ClientApi,
    /// The client's `:path` (with its query).
    client_path: String,
    /// `Retry-After` of a request refused because its deployments are spent or cooling down.
    retry_after_s: Option<u64>,
    /// The body's `model`, whether the client streams, and whether a whole answer can be
    /// assembled from a stream (`providers::assemblable`): kept to plan again after a
    /// deployment is found spent.
    model: String,
    client_streams: bool,
    assemblable: bool,
    /// The plan waiting for its first deployment's limit check, and that check's call.
    pending: Vec<usize>,
    limit_call: Option<u32>,
    /// Deployments that refused this request at their limit (it spilled over from them).
    spilled_from: Vec<usize>,
}

impl RouterRequest {
    /// `seed` makes this request's shuffles; the adapter mixes the clock and context id into it.
    pub fn new(table: Rc<RouterTable>, seed: u64) -> Self {
        RouterRequest {
            table,
            rng: Rng::new(seed),
            started_ms: 0,
            residency: None,
            preferred_region: None,
            strategy: None,
            plan: Vec::new(),
            status: 0,
            attempts: 0,
            client_api: ClientApi::OpenAi,
            client_path: String::new(),
            retry_after_s: None,
            model: String::new(),
            client_streams: false,
            assemblable: false,
            pending: Vec::new(),
            limit_call: None,
            spilled_from: Vec::new(),
        }
    }

    pub fn on_request_headers(&mut self, host: &mut impl Host, end_of_stream: bool) -> Action {
        self.started_ms = host.now_ms();
        match self.read_headers(host, end_of_stream) {
            Ok(action) => action,
            Err(e) => self.reject(host, &e),
        }
    }

    pub fn on_request_body(&mut self, host: &mut impl Host, body_size: usize, end_of_stream: bool) -> Action {
        if !self.plan.is_empty() {
            return Action::Continue;
        }
        match self.plan(host, body_size, end_of_stream) {
            Ok(action) => action,
            Err(e) => self.reject(host, &e),
        }
    }

    /// Notes the status and attempt count, and names the region and deployment that served.
    pub fn on_response_headers(&mut self, host: &mut impl Host) -> Action {
        self.status = header_lossy(host.response_header(":status")).and_then(|s| s.parse().ok()).unwrap_or(0);
        self.attempts =
            header_lossy(host.response_header("x-envoy-attempt-count")).and_then(|s| s.parse().ok()).unwrap_or(1);
        if host.response_from_upstream() {
            if let Some(d) = self.served().and_then(|i| self.table.deployments.get(i)) {
                host.set_response_header("x-llm-region", Some(&d.region));
                host.set_response_header("x-llm-deployment", Some(&d.id));
            }
        }
        Action::Continue
    }

    /// Attributes the request's outcome to each deployment it tried: every attempt before the
    /// last failed; the last one failed if the final status is a region failure.
    pub fn on_log(&mut self, host: &mut impl Host) {
        if self.plan.is_empty() || self.status == 0 {
            // Answered by the gateway itself, or the client left before any response.
            return;
        }
        let now = host.now_ms();
        let table = self.table.clone();
        let tried = (self.attempts.max(1) as usize).min(self.plan.len());
        // A good status that did not end as the upstream's answer (Envoy cut the stream after
        // its first content: a stall past stream_timeout, a reset) is the last region's failure.
        let cut_after_content = (200..300).contains(&self.status) && !host.response_from_upstream();
        if cut_after_content {
            if let Some(d) = self.plan.get(tried - 1).and_then(|&i| self.table.deployments.get(i)) {
                host.add_counter(&stat("llm_router_failed_after_content_total", &d.labels), 1);
            }
        }
        for (n, &i) in self.plan.iter().take(tried).enumerate() {
            let Some(d) = table.deployments.get(i) else { continue };
            let last = n + 1 == tried;
            let failed = !last || is_region_failure(self.status) || cut_after_content;
            let outcome = if failed { Outcome::Failure } else { Outcome::Success };
            let sole = table.groups.get(&d.model_group).is_some_and(|g| g.deployments.len() == 1);
            host.add_counter(&stat("litellm_requests_total", &d.labels), 1);
            if failed {
                host.add_counter(&stat("litellm_errors_total", &d.labels), 1);
            }
            let rule = shared::CooldownRule { allowed_fails: table.allowed_fails, cooldown_ms: d.cooldown_ms, sole };
            shared::apply_outcome(host, (&d.id, &d.region, &d.labels), outcome, now, &rule);
            if last {
                host.record_histogram(
                    &stat("litellm_request_duration_ms", &d.labels),
                    now.saturating_sub(self.started_ms),
                );
            }
        }
    }

    fn reject(&mut self, host: &mut impl Host, err: &RequestError) -> Action {
        host.add_counter(&format!("llm_router_rejected_requests_total.code.{}", err.code), 1);
        if matches!(err.status, 503 | 429) {
            if let Some(zone) = &self.residency {
                host.add_counter(
                    &format!("llm_router_residency_unavailable_total.zone.{}", crate::stat_label(zone)),
                    1,
                );
            }
        }
        let body = match self.client_api {
            ClientApi::Anthropic => crate::providers::anthropic_error_body(err),
            ClientApi::OpenAi => err.body(),
        };
        match self.retry_after_s {
            // Every deployment the request may use is spent or cooling down: when to come back.
            Some(seconds) if err.status == 429 => {
                host.send_json_response_with_headers(err.status, &[("retry-after", &seconds.to_string())], &body)
            }
            _ => host.send_json_response(err.status, &body),
        }
        Action::Pause
    }

    /// The gateway's key, when the config sets one.
    fn check_key(&self, headers: &ClientHeaders) -> Result<(), RequestError> {
        match &self.table.master_key {
            None => Ok(()),
            Some(digest) => crate::auth::check(
                digest,
                headers.get("authorization")?.as_deref(),
                headers.get("x-api-key")?.as_deref(),
            ),
        }
    }

    fn read_headers(&mut self, host: &mut impl Host, end_of_stream: bool) -> Result<Action, RequestError> {
        // One read of the whole map: each lookup after it is free, and the headers to remove
        // are known, so only those present cost a host call.
        let headers = ClientHeaders(host.request_headers());
        let path = headers.get(":path")?.unwrap_or_default();
        let method = headers.get(":method")?.unwrap_or_default();
        for internal in [
            crate::ROUTE_PLAN_HEADER,
            crate::CLIENT_PATH_HEADER,
            crate::STREAM_TIMEOUT_HEADER,
            crate::WILDCARD_MODELS_HEADER,
        ] {
            if headers.contains(internal) {
                return Err(RequestError::bad_request(
                    "internal_header_not_allowed",
                    format!("header '{internal}' is internal to the gateway and may not be sent by clients"),
                ));
            }
        }
        for name in crate::ENVOY_CONTROL_HEADERS {
            if headers.contains(name) {
                host.set_request_header(name, None);
            }
        }
        let path_only = path.split('?').next().unwrap_or_default();
        self.client_api = ClientApi::from_path(path_only);
        match (method.as_str(), path_only) {
            ("GET", "/health") => {
                let body = status::health_json(host, &self.table, host.now_ms());
                host.send_json_response(200, body.as_bytes());
                return Ok(Action::Pause);
            }
            ("GET", "/v1/models" | "/models") => {
                self.check_key(&headers)?;
                host.send_json_response(200, status::models_json(&self.table).as_bytes());
                return Ok(Action::Pause);
            }
            ("POST", p) if MODEL_PATHS.contains(&p) => {}
            (_, p) if MODEL_PATHS.contains(&p) => {
                return Err(RequestError {
                    status: 405,
                    kind: "invalid_request_error",
                    code: "method_not_allowed",
                    message: format!("{p} takes POST"),
                    param: None,
                })
            }
            (_, p) => return Err(RequestError::not_found(format!("no route for {method} {p}"))),
        }
        self.check_key(&headers)?;
        if let Some(len) = headers.get("content-length")? {
            if len.trim().parse::<u64>().map_or(true, |n| n > self.table.max_body_bytes) {
                return Err(RequestError::too_large(self.table.max_body_bytes));
            }
        }
        if end_of_stream {
            return Err(RequestError::bad_request("missing_body", "request has no JSON body"));
        }
        // Zones are lower case everywhere (config, metrics, errors): `EU` asks for `eu`.
        self.residency = headers.only_one("x-llm-residency")?.map(|z| z.trim().to_ascii_lowercase());
        self.preferred_region = headers.only_one("x-llm-region")?;
        self.strategy = headers.only_one("x-llm-routing-strategy")?;
        host.set_request_header(crate::CLIENT_PATH_HEADER, Some(&path));
        self.client_path = path;
        // Wait for the body: the model is in it.
        Ok(Action::Pause)
    }

    /// Reads the model from the whole body and hands Envoy the plan: the route plan header
    /// for the priority group cluster specifier, one retry per further deployment, and the
    /// plan's limits (time to each attempt's first content, and the whole answer's).
    fn plan(&mut self, host: &mut impl Host, body_size: usize, end_of_stream: bool) -> Result<Action, RequestError> {
        if body_size as u64 > self.table.max_body_bytes {
            return Err(RequestError::too_large(self.table.max_body_bytes));
        }
        if !end_of_stream {
            return Ok(Action::Pause);
        }
        let bytes = host.request_body(body_size);
        let facts = body::read_body(&bytes)?;
        self.assemblable = crate::providers::assemblable(&self.client_path, &bytes);
        self.client_streams = facts.stream;
        self.model = facts.model;
        self.plan_and_check(host)
    }

    /// Plans the request; when the plan's first deployment has an rpm/tpm limit, asks the rate
    /// limit service for this attempt first (the request waits for [`Self::on_limit_answer`]).
    /// A deployment found spent is cooling down from then on, so planning again leaves it out:
    /// the request spills over to the next one, or gets a 429 when none is left.
    fn plan_and_check(&mut self, host: &mut impl Host) -> Result<Action, RequestError> {
        let table = self.table.clone();
        // Each round cools one more deployment down: at most one round per deployment.
        for _ in 0..=table.deployments.len() {
            let req = PlanRequest {
                model: &self.model,
                residency: self.residency.as_deref(),
                preferred_region: self.preferred_region.as_deref(),
                strategy: self.strategy.as_deref(),
            };
            let view = shared::SharedView { host: &*host, now_ms: host.now_ms() };
            let retry_after_s = &mut self.retry_after_s;
            let plan = plan_request(&table, &req, &view, &mut self.rng).inspect_err(|e| {
                if e.status == 429 {
                    let wait = crate::plan::wait_for_request_ms(&table, &req, &view);
                    *retry_after_s = Some(crate::capacity::retry_after_seconds(wait));
                }
            })?;
            self.pending = plan.attempts.iter().map(|d| d.index).collect();
            let Some(first) = plan.attempts.first() else { break };
            match limits::start_attempt_check(host, &LimitTarget::of_planned(first, &table)) {
                CheckStart::Go => break,
                CheckStart::Pending(token) => {
                    self.limit_call = Some(token);
                    return Ok(Action::Pause);
                }
                CheckStart::Spent { .. } => self.refused_at_limit(host, first),
            }
        }
        self.hand_over(host);
        Ok(Action::Continue)
    }

    /// The rate limit service's answer (`grpc_status` 0 = OK) to the check of the plan's first
    /// deployment: the request goes, spills over to the next deployment, or is refused.
    pub fn on_limit_answer(&mut self, host: &mut impl Host, token: u32, grpc_status: u32, body: &[u8]) {
        if self.limit_call != Some(token) {
            return;
        }
        self.limit_call = None;
        let table = self.table.clone();
        let Some(first) = self.pending.first().and_then(|&i| table.deployments.get(i)) else { return };
        let next = match limits::finish_attempt_check(host, &LimitTarget::of_planned(first, &table), grpc_status, body)
        {
            CheckEnd::Go => {
                self.hand_over(host);
                Ok(Action::Continue)
            }
            CheckEnd::Spent { .. } => {
                self.refused_at_limit(host, first);
                self.plan_and_check(host)
            }
        };
        match next {
            Ok(Action::Continue) => host.resume_request(),
            Ok(Action::Pause) => {}
            Err(e) => {
                self.reject(host, &e);
            }
        }
    }

    /// The plan's first deployment refused the attempt (its budget is spent).
    fn refused_at_limit(&mut self, host: &mut impl Host, d: &Deployment) {
        host.add_counter(&stat("llm_router_limit_rejections_total", &d.labels), 1);
        self.spilled_from.push(d.index);
    }

    /// Hands Envoy the plan: the route plan header for the priority group cluster specifier,
    /// one retry per further deployment, and the plan's limits (time to each attempt's first
    /// content, and the whole answer's).
    fn hand_over(&mut self, host: &mut impl Host) {
        let table = self.table.clone();
        let attempts: Vec<&Deployment> = self.pending.iter().filter_map(|&i| table.deployments.get(i)).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(route_plan::encode(&attempts));
        host.set_request_header(crate::ROUTE_PLAN_HEADER, Some(&encoded));
        host.set_request_header("x-envoy-max-retries", Some(&attempts.len().saturating_sub(1).to_string()));
        let patterns = table.pattern_requests(&self.model);
        if !patterns.is_empty() {
            // JSON escapes every control character, so the value is always a valid header.
            let names: serde_json::Map<String, serde_json::Value> =
                patterns.into_iter().map(|(p, name)| (p.to_owned(), name.into())).collect();
            host.set_request_header(crate::WILDCARD_MODELS_HEADER, Some(&serde_json::Value::Object(names).to_string()));
        }
        // One request's attempts share its limits (Envoy reads them once per request): the
        // largest of the plan's deployments, so that none is cut before its own limit. The
        // header picks the route that carries it as the per-try idle timeout.
        let largest = |limit: fn(&Deployment) -> u64| attempts.iter().map(|&d| limit(d)).max().unwrap_or(0);
        // Every attempt of a chat request streams upstream (a whole answer is assembled from the
        // stream), except where the assembler cannot carry what is asked
        // (`providers::assemblable`) or the deployment cannot stream with usage.
        let streamed = self.client_streams || (attempts.iter().all(|d| d.streams_whole_answers) && self.assemblable);
        let (idle_ms, answer_ms) = if streamed {
            // Each attempt's first content and every gap after it within stream_timeout; the
            // whole answer, retries included, within timeout.
            (largest(|d| d.stream_timeout_ms), largest(|d| d.timeout_ms))
        } else {
            // An answer asked for whole shows no activity until it is whole, so stream_timeout
            // would cut a long but healthy one: each attempt gets `timeout`, as LiteLLM gives
            // each call.
            let per_attempt = largest(|d| d.timeout_ms);
            (per_attempt, per_attempt.saturating_mul(attempts.len().max(1) as u64))
        };
        for (header, ms) in [(crate::STREAM_TIMEOUT_HEADER, idle_ms), ("x-envoy-upstream-rq-timeout-ms", answer_ms)] {
            if ms > 0 {
                host.set_request_header(header, Some(&ms.to_string()));
            }
        }
        // The request went elsewhere because these deployments were spent: refused by this
        // request's own check, or already known spent (the plan left them out).
        let now = host.now_ms();
        let residency = self.residency.as_deref();
        // Only the rate limit service's answers mark a budget spent: without it (a static
        // render) there is nothing to look up on this per-request path.
        let counted = !table.ratelimit_cluster.is_empty();
        let skipped_at_limit = attempts
            .first()
            .filter(|_| counted)
            .and_then(|first| table.groups.get(&first.model_group))
            .map(|group| group.deployments.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|i| !self.pending.contains(i) && !self.spilled_from.contains(i))
            .filter_map(|&i| table.deployments.get(i))
            .filter(|d| d.rpm_limit > 0 || d.tpm_limit > 0)
            .filter(|d| residency.is_none_or(|z| d.zone.eq_ignore_ascii_case(z)))
            .filter(|d| limits::capacity(host, &d.id).is_spent(now))
            .map(|d| d.index)
            .collect::<Vec<_>>();
        for d in self.spilled_from.iter().chain(&skipped_at_limit).filter_map(|&i| table.deployments.get(i)) {
            host.add_counter(&stat("llm_router_spillover_total", &d.labels), 1);
        }
        self.plan = std::mem::take(&mut self.pending);
    }

    /// The deployment that served (or last tried) the request, from Envoy's attempt count.
    fn served(&self) -> Option<usize> {
        let i = (self.attempts.max(1) as usize - 1).min(self.plan.len().checked_sub(1)?);
        self.plan.get(i).copied()
    }
}

/// The client's request headers, read once.
struct ClientHeaders(Vec<(String, Vec<u8>)>);

impl ClientHeaders {
    fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// The first value, as UTF-8; a value that is not is the client's error.
    fn get(&self, name: &str) -> Result<Option<String>, RequestError> {
        match self.0.iter().find(|(k, _)| k == name) {
            Some((_, bytes)) => utf8(name, bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The gateway's own headers may appear once: with two (a client's beside a front proxy's)
    /// neither may silently win, least of all for residency.
    fn only_one(&self, name: &str) -> Result<Option<String>, RequestError> {
        if self.0.iter().filter(|(k, _)| k == name).count() > 1 {
            return Err(RequestError::bad_request(
                "duplicate_header",
                format!("header '{name}' appears more than once; send it once"),
            ));
        }
        self.get(name)
    }
}

fn utf8(name: &str, bytes: &[u8]) -> Result<String, RequestError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| RequestError::bad_request("invalid_header", format!("header '{name}' is not valid UTF-8")))
}
