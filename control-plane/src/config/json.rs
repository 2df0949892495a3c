//! `llm-router validate --json`: the resolved config as one JSON object (schema in
//! `shared/docs/interface.md`, "validate --json"). Durations are seconds, absent limits `null`;
//! no secret value appears in it (credentials are not part of it at all).

use serde_json::{json, Map, Value};

use super::{deployment_timeouts, router_timeouts, Config, Deployment, Diagnostic, Loaded, Severity, TlsVerify};

/// The JSON of a load's result: the config and its warnings, or every problem found.
pub fn validate_json(result: &Result<Loaded, Vec<Diagnostic>>) -> Value {
    match result {
        Ok(loaded) => json!({
            "valid": true,
            "problems": [],
            "warnings": diagnostics(&loaded.warnings, Severity::Warning),
            "router": router(&loaded.config),
            "model_groups": model_groups(&loaded.config),
        }),
        Err(diags) => json!({
            "valid": false,
            "problems": diagnostics(diags, Severity::Error),
            "warnings": diagnostics(diags, Severity::Warning),
            "router": null,
            "model_groups": [],
        }),
    }
}

fn diagnostics(diags: &[Diagnostic], severity: Severity) -> Vec<Value> {
    diags
        .iter()
        .filter(|d| d.severity == severity)
        .map(|d| json!({"file": d.file, "line": d.line, "col": d.col, "message": d.message}))
        .collect()
}

fn fallback_map(list: &[(String, Vec<String>)]) -> Value {
    Value::Object(list.iter().map(|(g, to)| (g.clone(), json!(to))).collect::<Map<_, _>>())
}

fn router(cfg: &Config) -> Value {
    let r = &cfg.router;
    let limits = router_timeouts(r);
    json!({
        "routing_strategy": r.strategy.name(),
        "num_retries": r.num_retries,
        "allowed_fails": r.allowed_fails,
        "cooldown_time": r.cooldown_time_s,
        "timeout": limits.answer_s,
        "stream_timeout": limits.stream_s,
        "fallbacks": fallback_map(&r.fallbacks),
        "context_window_fallbacks": fallback_map(&r.context_window_fallbacks),
        "content_policy_fallbacks": fallback_map(&r.content_policy_fallbacks),
        "default_fallbacks": r.default_fallbacks,
        "allowed_regions": r.allowed_regions,
        "residency_zones": r.residency_zones,
        "health_check_interval": r.health_check_interval_s,
        "gateway_region": r.gateway_region,
        "redis": r.redis.as_ref().map(redis),
    })
}

/// Where the counters live, without the password (a `redis_url` may hold one: only whether it
/// is given shows).
fn redis(r: &super::redis::Redis) -> Value {
    let shown = |s: &Option<super::Secret>| match s {
        Some(super::Secret::Literal(v)) => json!(v),
        Some(super::Secret::Env(var)) => json!(format!("os.environ/{var}")),
        None => Value::Null,
    };
    json!({"host": shown(&r.host), "port": shown(&r.port), "url_given": r.url.is_some()})
}

fn model_groups(cfg: &Config) -> Vec<Value> {
    cfg.model_groups()
        .into_iter()
        .map(|name| {
            let deployments: Vec<Value> =
                cfg.deployments.iter().filter(|d| d.model_name == name).map(|d| deployment(cfg, d)).collect();
            json!({
                "model_name": name,
                "pattern": llm_router_core::wildcard::is_pattern(name),
                "deployments": deployments,
            })
        })
        .collect()
}

/// `scheme://host[:port]/base`, or null when the endpoint is not known yet (an unset variable).
fn url(d: &Deployment) -> Value {
    let e = &d.endpoint;
    if e.host.is_empty() {
        return Value::Null;
    }
    let (scheme, default_port) = if e.tls { ("https", 443) } else { ("http", 80) };
    let host = if e.host.contains(':') { format!("[{}]", e.host) } else { e.host.clone() };
    let port = if e.port == default_port { String::new() } else { format!(":{}", e.port) };
    json!(format!("{scheme}://{host}{port}{}", e.base_path))
}

fn non_empty(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        json!(s)
    }
}

fn deployment(cfg: &Config, d: &Deployment) -> Value {
    let limits = deployment_timeouts(&cfg.router, d);
    let mut v = json!({
        "id": d.id,
        "provider": d.provider.prefix(),
        "model": d.provider_model,
        "url": url(d),
        "region": non_empty(&d.region),
        "region_source": non_empty(&d.region_source),
        "zone": non_empty(&d.zone),
        "priority": d.priority,
        "weight": f64::from(d.weight),
        "rpm": d.rpm,
        "tpm": d.tpm,
        "timeout": limits.answer_s,
        "stream_timeout": limits.stream_s,
        "cooldown_time": d.cooldown_time_s.unwrap_or(cfg.router.cooldown_time_s),
        "tls_verify": d.tls_verify != TlsVerify::Off,
    });
    if let TlsVerify::CaBundle(path) = &d.tls_verify {
        v["ca_bundle"] = json!(path);
    }
    if let Some(version) = &d.api_version {
        v["api_version"] = json!(version);
    }
    if !d.unresolved.is_empty() {
        v["unresolved"] = json!(d.unresolved);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_config_is_described_with_its_resolved_values() {
        let yaml = "model_list:\n  - model_name: fast\n    litellm_params:\n      model: groq/llama-3.1-8b-instant\n      rpm: 30\n      metadata: {region: us-east-1}\n";
        let v = validate_json(&super::super::load_str(yaml, "t.yaml"));
        assert_eq!(v["valid"], true);
        let d = &v["model_groups"][0]["deployments"][0];
        assert_eq!(d["provider"], "groq");
        assert_eq!(d["model"], "llama-3.1-8b-instant");
        assert_eq!(d["url"], "https://api.groq.com/openai/v1");
        assert_eq!(d["weight"], 30.0);
        assert_eq!(d["region_source"], "metadata.region");
        assert_eq!(v["router"]["timeout"], 600.0);
        assert_eq!(v["model_groups"][0]["pattern"], false);
    }

    #[test]
    fn an_invalid_config_lists_its_problems_with_positions() {
        let v = validate_json(&super::super::load_str("model_list: []\n", "t.yaml"));
        assert_eq!(v["valid"], false);
        assert_eq!(v["problems"][0]["line"], 1);
        assert!(v["problems"][0]["message"].as_str().unwrap_or("").starts_with("model_list is empty"), "{v}");
        assert_eq!(v["router"], Value::Null);
    }
}
