//! proxy-wasm adapter of the llm-router filter. It moves headers, bodies and shared data
//! between Envoy and `llm_router_core`, where every decision is made.
//!
//! One module, two roles chosen by the plugin configuration:
//! - `router` (downstream, on the gateway listener): reads `model`, plans the deployment order,
//!   hands it to Envoy's priority group cluster specifier, learns from each request's attempts.
//! - `upstream` (in a deployment cluster's upstream filter chain, once per attempt): rewrites
//!   model, path and authority for that deployment.
//!
//! Client-controlled bytes are read with the `_bytes` host calls and decoded here, never with
//! the convenience getters that unwrap UTF-8 (a panic would take down the worker's VM).

mod metrics;
mod router;
mod shared;
mod upstream;

use std::rc::Rc;

use llm_router_core::RouterTable;
use llm_router_proto as pb;
use prost::Message;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

enum Role {
    Unconfigured,
    Router(Rc<RouterTable>),
    Upstream(Rc<upstream::UpstreamDeployment>),
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

impl Context for Root {}

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
                    // Series exist from the start (at 0), so rate() and increase() see a
                    // deployment's first error; health is refreshed every second.
                    metrics::define_deployment_series(table);
                    metrics::publish_health(table, router::now_ms());
                    self.set_tick_period(std::time::Duration::from_secs(1));
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
        if let Role::Router(table) = &self.role {
            metrics::publish_health(table, router::now_ms());
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        match &self.role {
            Role::Router(table) => {
                Some(Box::new(router::RouterRequest::new(table.clone(), context_id, self.contexts_created)))
            }
            Role::Upstream(cfg) => Some(Box::new(upstream::UpstreamAttempt::new(cfg.clone()))),
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
            if up.schema_version != llm_router_proto::SCHEMA_VERSION {
                return Err(format!("upstream schema_version {} is not supported", up.schema_version));
            }
            Ok(Role::Upstream(Rc::new(upstream::UpstreamDeployment::compile(up)?)))
        }
        None => Err("the configuration names no role (router or upstream)".into()),
    }
}
