//! proxy-wasm adapter of the llm-router filter: the lifecycle (VM start, configuration, the
//! tick, one context per stream) and [`host::EnvoyHost`]. Every decision is made in
//! `llm_router_core::gateway`, which these contexts call with the stream's host.
//!
//! One module, two roles chosen by the plugin configuration:
//! - `router` (downstream, on the gateway listener): reads `model`, plans the deployment order,
//!   hands it to Envoy's priority group cluster specifier, learns from each request's attempts.
//! - `upstream` (in a deployment cluster's upstream filter chain, once per attempt): speaks that
//!   deployment's API.

mod host;

use std::rc::Rc;

use host::EnvoyHost;
use llm_router_core::gateway::{self, limits, status, Action as GatewayAction, Host as _};
use llm_router_core::RouterTable;
use llm_router_proto as pb;
use prost::Message;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

enum Role {
    Unconfigured,
    Router(Rc<RouterTable>),
    Upstream(Rc<gateway::UpstreamDeployment>),
}

struct Root {
    role: Role,
    contexts_created: u64,
}

impl Default for Root {
    fn default() -> Self {
        Root { role: Role::Unconfigured, contexts_created: 0 }
    }
}

impl Context for Root {
    fn on_grpc_call_response(&mut self, _token: u32, status_code: u32, response_size: usize) {
        if let Role::Upstream(dep) = &self.role {
            let body = self.get_grpc_call_response_body(0, response_size).unwrap_or_default();
            limits::finish_settlement(&mut EnvoyHost, dep, status_code, &body);
        }
    }
}

/// How often an upstream root context settles its deployment's admitted attempts (rpm) and
/// answered tokens (tpm) with the rate limit service: one call per deployment per period at
/// most, whatever the traffic.
const SETTLEMENT_PERIOD: std::time::Duration = std::time::Duration::from_millis(limits::SETTLEMENT_PERIOD_MS);

impl RootContext for Root {
    fn on_vm_start(&mut self, _: usize) -> bool {
        log::info!("llm-router filter {} starting", env!("CARGO_PKG_VERSION"));
        true
    }

    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match configure(&bytes) {
            Ok(role) => {
                if let Role::Router(table) = &role {
                    // Series exist from the start (at 0); health is refreshed every second.
                    status::define_deployment_series(&mut EnvoyHost, table);
                    status::publish_health(&mut EnvoyHost, table, EnvoyHost.now_ms());
                    self.set_tick_period(std::time::Duration::from_secs(1));
                }
                if let Role::Upstream(dep) = &role {
                    let limited = dep.cfg.rpm_limit > 0 || dep.cfg.tpm_limit > 0;
                    if limited && !dep.cfg.ratelimit_cluster.is_empty() {
                        // Admitted attempts and answers' tokens are settled with the fleet-wide
                        // count from here.
                        self.set_tick_period(SETTLEMENT_PERIOD);
                    }
                }
                self.role = role;
                true
            }
            Err(message) => {
                // Refusing the configuration keeps Envoy from serving with a half-read one.
                log::error!("llm-router: refusing plugin configuration: {message}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        match &self.role {
            Role::Router(table) => status::publish_health(&mut EnvoyHost, table, EnvoyHost.now_ms()),
            Role::Upstream(dep) => {
                let _ = limits::settle(&mut EnvoyHost, dep);
            }
            Role::Unconfigured => {}
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        match &self.role {
            Role::Router(table) => {
                let seed = host::now_nanos() ^ (u64::from(context_id) << 32) ^ self.contexts_created;
                Some(Box::new(RouterContext(gateway::RouterRequest::new(table.clone(), seed))))
            }
            Role::Upstream(dep) => Some(Box::new(UpstreamContext(gateway::UpstreamAttempt::new(dep.clone())))),
            Role::Unconfigured => None,
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

fn configure(bytes: &[u8]) -> Result<Role, String> {
    let cfg = pb::PluginConfig::decode(bytes)
        .map_err(|e| format!("not an llmrouter.v1.PluginConfig ({} bytes): {e}", bytes.len()))?;
    match cfg.role {
        Some(pb::plugin_config::Role::Router(router)) => {
            let table = RouterTable::compile(&router)?;
            log::info!(
                "llm-router: router configured: config {} with {} model groups, {} deployments, strategy {}",
                table.config_hash,
                table.groups.len(),
                table.deployments.len(),
                table.strategy.name()
            );
            Ok(Role::Router(Rc::new(table)))
        }
        Some(pb::plugin_config::Role::Upstream(up)) => {
            Ok(Role::Upstream(Rc::new(gateway::UpstreamDeployment::compile(up)?)))
        }
        None => Err("the configuration names no role (router or upstream)".into()),
    }
}

fn action(a: GatewayAction) -> Action {
    match a {
        GatewayAction::Continue => Action::Continue,
        GatewayAction::Pause => Action::Pause,
    }
}

struct RouterContext(gateway::RouterRequest);

impl Context for RouterContext {
    fn on_grpc_call_response(&mut self, token: u32, status_code: u32, response_size: usize) {
        let body = self.get_grpc_call_response_body(0, response_size).unwrap_or_default();
        self.0.on_limit_answer(&mut EnvoyHost, token, status_code, &body);
    }
}

impl HttpContext for RouterContext {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        action(self.0.on_request_headers(&mut EnvoyHost, end_of_stream))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        action(self.0.on_request_body(&mut EnvoyHost, body_size, end_of_stream))
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        action(self.0.on_response_headers(&mut EnvoyHost))
    }

    fn on_log(&mut self) {
        self.0.on_log(&mut EnvoyHost);
    }
}

struct UpstreamContext(gateway::UpstreamAttempt);

impl Context for UpstreamContext {
    fn on_grpc_call_response(&mut self, token: u32, status_code: u32, response_size: usize) {
        let body = self.get_grpc_call_response_body(0, response_size).unwrap_or_default();
        self.0.on_limit_answer(&mut EnvoyHost, token, status_code, &body);
    }
}

impl HttpContext for UpstreamContext {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        action(self.0.on_request_headers(&mut EnvoyHost, end_of_stream))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        action(self.0.on_request_body(&mut EnvoyHost, body_size, end_of_stream))
    }

    fn on_http_response_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        action(self.0.on_response_headers(&mut EnvoyHost, end_of_stream))
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        action(self.0.on_response_body(&mut EnvoyHost, body_size, end_of_stream))
    }
}
