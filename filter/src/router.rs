//! The downstream role: one `RouterRequest` per client request.

use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use llm_router_core::health::Outcome;
use llm_router_core::{body, plan_request, route_plan, PlanRequest, RequestError, Rng, RouterTable};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::{metrics, shared};

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
    /// The client speaks Anthropic's Messages API (/v1/messages): errors in its shape.
    anthropic_client: bool,
}

impl RouterRequest {
    pub fn new(table: Rc<RouterTable>, context_id: u32, salt: u64) -> Self {
        let seed = now_nanos() ^ (u64::from(context_id) << 32) ^ salt;
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
            anthropic_client: false,
        }
    }

    fn reject(&mut self, err: &RequestError) -> Action {
        metrics::count("llm_router_rejected_requests_total", &format!("code.{}", err.code));
        if err.status == 503 && self.residency.is_some() {
            let zone = llm_router_core::stat_label(self.residency.as_deref().unwrap_or_default());
            metrics::count("llm_router_residency_unavailable_total", &format!("zone.{zone}"));
        }
        let body =
            if self.anthropic_client { llm_router_core::providers::anthropic_error_body(err) } else { err.body() };
        self.send_http_response(err.status, vec![("content-type", "application/json")], Some(&body));
        Action::Pause
    }

    /// The gateway's key, when the config sets one.
    fn check_key(&self) -> Result<(), RequestError> {
        match &self.table.master_key_sha256 {
            None => Ok(()),
            Some(digest) => llm_router_core::auth::check(
                digest,
                self.client_header("authorization")?.as_deref(),
                self.client_header("x-api-key")?.as_deref(),
            ),
        }
    }

    /// Reads a client header as UTF-8; a header that is not is the client's error.
    fn client_header(&self, name: &str) -> Result<Option<String>, RequestError> {
        match hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name) {
            Ok(Some(bytes)) => String::from_utf8(bytes).map(Some).map_err(|_| {
                RequestError::bad_request("invalid_header", format!("header '{name}' is not valid UTF-8"))
            }),
            _ => Ok(None),
        }
    }

    fn on_headers(&mut self, end_of_stream: bool) -> Result<Action, RequestError> {
        let path = self.client_header(":path")?.unwrap_or_default();
        let method = self.client_header(":method")?.unwrap_or_default();
        for internal in [llm_router_core::ROUTE_PLAN_HEADER, llm_router_core::CLIENT_PATH_HEADER] {
            if self.client_header(internal)?.is_some() {
                return Err(RequestError::bad_request(
                    "internal_header_not_allowed",
                    format!("header '{internal}' is internal to the gateway and may not be sent by clients"),
                ));
            }
        }
        for name in llm_router_core::ENVOY_CONTROL_HEADERS {
            self.set_http_request_header(name, None);
        }
        let path_only = path.split('?').next().unwrap_or_default();
        self.anthropic_client = path_only == "/v1/messages";
        match (method.as_str(), path_only) {
            ("GET", "/health") => {
                let body = crate::router::health_json(&self.table, now_ms());
                self.send_http_response(200, vec![("content-type", "application/json")], Some(body.as_bytes()));
                return Ok(Action::Pause);
            }
            ("GET", "/v1/models" | "/models") => {
                self.check_key()?;
                let body = models_json(&self.table);
                self.send_http_response(200, vec![("content-type", "application/json")], Some(body.as_bytes()));
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
        self.check_key()?;
        if let Some(len) = self.client_header("content-length")? {
            if len.trim().parse::<u64>().map_or(true, |n| n > self.table.max_body_bytes) {
                return Err(RequestError::too_large(self.table.max_body_bytes));
            }
        }
        if end_of_stream {
            return Err(RequestError::bad_request("missing_body", "request has no JSON body"));
        }
        self.residency = self.client_header("x-llm-residency")?;
        self.preferred_region = self.client_header("x-llm-region")?;
        self.strategy = self.client_header("x-llm-routing-strategy")?;
        self.set_http_request_header(llm_router_core::CLIENT_PATH_HEADER, Some(&path));
        // Wait for the body: the model is in it.
        Ok(Action::Pause)
    }

    fn on_body(&mut self, body_size: usize, end_of_stream: bool) -> Result<Action, RequestError> {
        if body_size as u64 > self.table.max_body_bytes {
            return Err(RequestError::too_large(self.table.max_body_bytes));
        }
        if !end_of_stream {
            return Ok(Action::Pause);
        }
        let bytes = self.get_http_request_body(0, body_size).unwrap_or_default();
        let facts = body::read_body(&bytes)?;
        let now = now_ms();
        let table = self.table.clone();
        let req = PlanRequest {
            model: &facts.model,
            residency: self.residency.as_deref(),
            preferred_region: self.preferred_region.as_deref(),
            strategy: self.strategy.as_deref(),
        };
        let plan = plan_request(&table, &req, &shared::SharedView { now_ms: now }, &mut self.rng)?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(route_plan::encode(&plan.attempts));
        self.set_http_request_header(llm_router_core::ROUTE_PLAN_HEADER, Some(&encoded));
        self.set_http_request_header("x-envoy-max-retries", Some(&plan.max_retries().to_string()));
        let first_byte_ms = if facts.stream { table.stream_first_byte_timeout_ms } else { table.first_byte_timeout_ms };
        if first_byte_ms > 0 {
            self.set_http_request_header("x-envoy-upstream-rq-per-try-timeout-ms", Some(&first_byte_ms.to_string()));
        }
        self.plan = plan.attempts.iter().map(|d| d.index).collect();
        Ok(Action::Continue)
    }

    /// The deployment that served (or last tried) the request, from Envoy's attempt count.
    fn served(&self) -> Option<usize> {
        let i = (self.attempts.max(1) as usize - 1).min(self.plan.len().checked_sub(1)?);
        self.plan.get(i).copied()
    }
}

impl Context for RouterRequest {}

impl HttpContext for RouterRequest {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        self.started_ms = now_ms();
        match self.on_headers(end_of_stream) {
            Ok(action) => action,
            Err(e) => self.reject(&e),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.plan.is_empty() {
            return Action::Continue;
        }
        match self.on_body(body_size, end_of_stream) {
            Ok(action) => action,
            Err(e) => self.reject(&e),
        }
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        let header = |name: &str| {
            hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, name)
                .ok()
                .flatten()
                .and_then(|b| String::from_utf8(b).ok())
        };
        self.status = header(":status").and_then(|s| s.parse().ok()).unwrap_or(0);
        self.attempts = header("x-envoy-attempt-count").and_then(|s| s.parse().ok()).unwrap_or(1);
        let from_upstream = self.get_property(vec!["response", "code_details"]).is_some_and(|d| d == b"via_upstream");
        if from_upstream {
            if let Some(d) = self.served().and_then(|i| self.table.deployments.get(i)) {
                let (region, id) = (d.region.clone(), d.id.clone());
                self.set_http_response_header("x-llm-region", Some(&region));
                self.set_http_response_header("x-llm-deployment", Some(&id));
            }
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        if self.plan.is_empty() || self.status == 0 {
            // Answered by the filter itself, or the client left before any response.
            return;
        }
        let now = now_ms();
        let table = self.table.clone();
        let tried = (self.attempts.max(1) as usize).min(self.plan.len());
        for (n, &i) in self.plan.iter().take(tried).enumerate() {
            let Some(d) = table.deployments.get(i) else { continue };
            let last = n + 1 == tried;
            let failed = !last || is_region_failure(self.status);
            let outcome = if failed { Outcome::Failure } else { Outcome::Success };
            let sole = table.groups.get(&d.model_group).is_some_and(|g| g.deployments.len() == 1);
            metrics::count("litellm_requests_total", &d.labels);
            if failed {
                metrics::count("litellm_errors_total", &d.labels);
            }
            if shared::record(&d.id, outcome, now, table.allowed_fails, table.cooldown_ms, sole) {
                log::warn!("llm-router: deployment {} ({}) cooling down for {} ms", d.id, d.region, table.cooldown_ms);
                metrics::count("llm_router_cooldowns_total", &d.labels);
            }
            if last {
                metrics::observe("litellm_request_duration_ms", &d.labels, now.saturating_sub(self.started_ms));
            }
        }
    }
}

/// GET /health: the gateway's region and each deployment's state, from the shared view.
pub fn health_json(table: &RouterTable, now: u64) -> String {
    let mut cooling = 0;
    let deployments: Vec<serde_json::Value> = table
        .deployments
        .iter()
        .map(|d| {
            let h = shared::read(&d.id);
            let down = h.is_cooling_down(now) || d.unavailable.is_some();
            cooling += usize::from(down);
            let mut entry = serde_json::json!({
                "id": d.id,
                "model_name": d.model_group,
                "region": d.region,
                "zone": d.zone,
                "healthy": !down,
                "cooldown_remaining_ms": h.cooldown_until_ms.saturating_sub(now),
                "cooldowns": h.cooldowns,
                "ttfb_ms": shared::latency(&d.id).map(|l| l.ewma_ms.round()),
            });
            if let Some(why) = &d.unavailable {
                entry["unavailable"] = serde_json::json!(why);
            }
            entry
        })
        .collect();
    let group_down = table.groups.values().any(|g| {
        g.deployments
            .iter()
            .filter_map(|&i| table.deployments.get(i))
            .all(|d| d.unavailable.is_some() || shared::read(&d.id).is_cooling_down(now))
    });
    let status = if group_down {
        "unhealthy"
    } else if cooling > 0 {
        "degraded"
    } else {
        "healthy"
    };
    serde_json::json!({
        "status": status,
        "region": table.gateway_region,
        "config": table.config_hash,
        "deployments": deployments,
    })
    .to_string()
}

/// LiteLLM's region failures: 5xx, 429 and 408. Other 4xx are the client's error.
pub fn is_region_failure(status: u32) -> bool {
    status >= 500 || status == 429 || status == 408
}

fn models_json(table: &RouterTable) -> String {
    let data: Vec<serde_json::Value> = table
        .group_order
        .iter()
        .map(|name| serde_json::json!({"id": name, "object": "model", "created": 0, "owned_by": "llm-router"}))
        .collect();
    serde_json::json!({"object": "list", "data": data}).to_string()
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

pub fn now_ms() -> u64 {
    now_nanos() / 1_000_000
}
