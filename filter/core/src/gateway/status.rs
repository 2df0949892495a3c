//! What the gateway reports about itself: `GET /health`, `GET /v1/models`, and the
//! per-deployment series defined when a config loads and refreshed every second.

use serde_json::json;

use super::{shared, stat, Host};
use crate::RouterTable;

/// Per-deployment counters the router adds to, defined at 0 when the config loads so that
/// `rate()` and `increase()` see a deployment's first error.
pub const DEPLOYMENT_COUNTERS: &[&str] = &["litellm_requests_total", "litellm_errors_total"];

pub fn define_deployment_series(host: &mut impl Host, table: &RouterTable) {
    for d in &table.deployments {
        for name in DEPLOYMENT_COUNTERS {
            host.define_counter(&stat(name, &d.labels));
        }
        for cause in super::limits::CooldownCause::ALL {
            host.define_counter(&super::limits::cooldown_stat(&d.labels, cause));
        }
    }
}

/// `llm_router_deployment_healthy{model,deployment,region}`: 1 when the deployment takes
/// traffic, 0 while it cools down (the shared view every worker routes by) or has no usable
/// credentials (no Vertex access token).
pub fn publish_health(host: &mut impl Host, table: &RouterTable, now_ms: u64) {
    for d in &table.deployments {
        let healthy = !shared::is_down(host, d, now_ms);
        host.set_gauge(&stat("llm_router_deployment_healthy", &d.labels), u64::from(healthy));
    }
}

/// GET /health: the gateway's region and each deployment's state, from the shared view.
/// `unhealthy` when some group has no deployment left, `degraded` when any is down.
pub fn health_json(host: &impl Host, table: &RouterTable, now: u64) -> String {
    // One shared-data read per deployment serves its entry and its group's verdict.
    let health: Vec<_> = table.deployments.iter().map(|d| shared::health(host, &d.id)).collect();
    let down: Vec<bool> =
        table.deployments.iter().zip(&health).map(|(d, h)| d.unavailable.is_some() || h.is_cooling_down(now)).collect();
    let deployments: Vec<serde_json::Value> = table
        .deployments
        .iter()
        .zip(health.iter().zip(&down))
        .map(|(d, (h, &down))| {
            let mut entry = json!({
                "id": d.id,
                "model_name": d.model_group,
                "region": d.region,
                "zone": d.zone,
                "healthy": !down,
                "cooldown_remaining_ms": h.cooldown_until_ms.saturating_sub(now),
                "cooldowns": h.cooldowns,
                "ttfb_ms": shared::latency(host, &d.id).map(|l| l.ewma_ms.round()),
            });
            // A stable code (never free text: the reason behind it may name a secret's source).
            if let Some(code) = d.unavailable {
                entry["unavailable"] = json!(code);
            }
            entry
        })
        .collect();
    let group_down = table.groups.values().any(|g| g.deployments.iter().filter_map(|&i| down.get(i)).all(|&d| d));
    let status = if group_down {
        "unhealthy"
    } else if down.contains(&true) {
        "degraded"
    } else {
        "healthy"
    };
    json!({
        "status": status,
        "region": table.gateway_region,
        "config": table.config_hash,
        "deployments": deployments,
    })
    .to_string()
}

/// GET /v1/models: the model groups, in config order.
pub fn models_json(table: &RouterTable) -> String {
    let data: Vec<serde_json::Value> = table
        .group_order
        .iter()
        .map(|name| json!({"id": name, "object": "model", "created": 0, "owned_by": "llm-router"}))
        .collect();
    json!({"object": "list", "data": data}).to_string()
}
