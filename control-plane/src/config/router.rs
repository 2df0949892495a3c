//! `router_settings`.

use std::collections::BTreeMap;

use super::deployment::Meta;
use super::fields::{self, Keys};
use super::yaml::{Node, Pos};
use super::{Ctx, Deployment, RouterSettings, Strategy};

pub(crate) const DEFAULT_NUM_RETRIES: u32 = 2;
pub(crate) const DEFAULT_ALLOWED_FAILS: u32 = 3;
pub(crate) const DEFAULT_COOLDOWN_S: f64 = 5.0;
pub(crate) const DEFAULT_HEALTH_CHECK_TIMEOUT_S: f64 = 5.0;

const KNOWN: &[&str] = &[
    "routing_strategy",
    "num_retries",
    "allowed_fails",
    "cooldown_time",
    "health_check_interval",
    "health_check_timeout",
    "allowed_regions",
    "timeout",
    "stream_timeout",
    "fallbacks",
    "residency_zones",
    "gateway_region",
];

/// LiteLLM router settings this gateway does not implement: accepted, reported once.
const IGNORED: &[&str] = &[
    "redis_host",
    "redis_port",
    "redis_password",
    "redis_url",
    "cache_responses",
    "cache_kwargs",
    "enable_pre_call_checks",
    "optional_pre_call_checks",
    "model_group_alias",
    "retry_policy",
    "model_group_retry_policy",
    "allowed_fails_policy",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "max_fallbacks",
    "routing_strategy_args",
    "set_verbose",
    "debug_level",
    "retry_after",
    "provider_budget_config",
    "enable_tag_filtering",
    "disable_cooldowns",
    "default_litellm_params",
    "polling_interval",
    "client_ttl",
    "default_max_parallel_requests",
    "default_priority",
    "alerting_config",
    "assistants_config",
    "router_general_settings",
    "num_retries_per_request",
];

/// More retries than this is a typo: each retry goes to another deployment, and no group is
/// that large.
const MAX_RETRIES: u32 = 100;
/// Failures per minute before a cooldown; more would never trigger one.
const MAX_ALLOWED_FAILS: u32 = 1_000_000;

/// A fallbacks entry as read: (group, position, [(fallback group, position)]).
pub(crate) type Fallback = (String, Pos, Vec<(String, Pos)>);

/// `router_settings` as read, before it is checked against the deployments.
#[derive(Default)]
pub(crate) struct RawRouter {
    pub strategy: Option<Strategy>,
    pub num_retries: Option<u32>,
    pub allowed_fails: Option<u32>,
    pub cooldown_time_s: Option<f64>,
    pub health_check_interval_s: Option<f64>,
    pub health_check_timeout_s: Option<f64>,
    /// Regions with their positions, and the position of the key.
    pub allowed_regions: Option<(Vec<(String, Pos)>, Pos)>,
    pub timeout_s: Option<f64>,
    pub stream_timeout_s: Option<f64>,
    pub fallbacks: Vec<Fallback>,
    pub residency_zones: BTreeMap<String, Vec<String>>,
    pub gateway_region: Option<String>,
}

/// Reads `routing_strategy` ([`Strategy::parse`]). Returns the strategy and, for LiteLLM names
/// mapped to another strategy, a warning; an unknown name is an error naming the nearest one.
pub fn parse_strategy(name: &str) -> Result<(Strategy, Option<String>), String> {
    match Strategy::parse(name) {
        Some(parsed) => Ok((
            parsed.strategy,
            parsed.mapped_from.map(|from| {
                format!(
                    "routing_strategy '{from}' is not implemented by this gateway; using '{}' instead",
                    parsed.strategy.name()
                )
            }),
        )),
        None => {
            let valid = Strategy::names();
            let near = valid
                .iter()
                .map(|v| (strsim::jaro_winkler(name, v), *v))
                .filter(|(s, _)| *s >= 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, v)| format!(" (did you mean '{v}'?)"))
                .unwrap_or_default();
            Err(format!("unknown routing_strategy '{name}'{near}; use one of: {}", valid.join(", ")))
        }
    }
}

pub(crate) fn parse(ctx: &mut Ctx, section: Option<(&Node, &Node)>) -> RawRouter {
    let mut raw = RawRouter::default();
    let Some((_, node)) = section else { return raw };
    let keys = Keys {
        section: "router_settings",
        known: KNOWN,
        accepted: &[],
        ignored: IGNORED,
        hints: &[(
            "region",
            "use gateway_region for the gateway's own region, allowed_regions to restrict deployments",
        )],
    };
    let Some(f) = fields::read_map(ctx, node, &keys) else {
        return raw;
    };
    if let Some(v) = f.value("routing_strategy") {
        if let Some(name) = fields::string(ctx, "router_settings.routing_strategy", v) {
            match parse_strategy(&name) {
                Ok((s, warning)) => {
                    raw.strategy = Some(s);
                    if let Some(w) = warning {
                        ctx.warn(v.pos, w);
                    }
                }
                Err(e) => ctx.error(v.pos, e),
            }
        }
    }
    let rs = |k: &str| format!("router_settings.{k}");
    if let Some(v) = f.value("num_retries") {
        raw.num_retries = fields::whole(ctx, &rs("num_retries"), v, 0, MAX_RETRIES);
    }
    if let Some(v) = f.value("allowed_fails") {
        raw.allowed_fails = fields::whole(ctx, &rs("allowed_fails"), v, 0, MAX_ALLOWED_FAILS);
    }
    if let Some(v) = f.value("cooldown_time") {
        raw.cooldown_time_s = fields::seconds(ctx, &rs("cooldown_time"), v, false);
    }
    if let Some(v) = f.value("health_check_interval") {
        raw.health_check_interval_s = fields::seconds(ctx, &rs("health_check_interval"), v, true);
    }
    if let Some((k, v)) = f.get("health_check_timeout") {
        raw.health_check_timeout_s = fields::seconds(ctx, &rs("health_check_timeout"), v, true);
        if f.value("health_check_interval").is_none() {
            ctx.warn(k.pos, "health_check_timeout has no effect without health_check_interval; add health_check_interval to turn on active health checks");
            raw.health_check_timeout_s = None;
        }
    }
    for (key, slot) in [("timeout", &mut raw.timeout_s), ("stream_timeout", &mut raw.stream_timeout_s)] {
        if let Some(v) = f.value(key) {
            *slot = fields::seconds(ctx, &rs(key), v, true);
        }
    }
    if let Some((k, v)) = f.get("allowed_regions") {
        if let Some(list) = fields::string_list(ctx, &rs("allowed_regions"), v) {
            if list.is_empty() {
                ctx.error(v.pos, "router_settings.allowed_regions is empty, so no deployment could be used; list regions or remove it");
            }
            raw.allowed_regions = Some((list.into_iter().map(|(s, n)| (s, n.pos)).collect(), k.pos));
        }
    }
    if let Some(v) = f.value("gateway_region") {
        raw.gateway_region = fields::string(ctx, &rs("gateway_region"), v);
    }
    if let Some(v) = f.value("residency_zones") {
        raw.residency_zones = residency_zones(ctx, v);
    }
    if let Some(v) = f.value("fallbacks") {
        raw.fallbacks = fallbacks(ctx, v);
    }
    raw
}

fn residency_zones(ctx: &mut Ctx, node: &Node) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let Some(entries) = node.as_map() else {
        ctx.error(node.pos, format!("router_settings.residency_zones must map zone names to region lists, like {{eu: [eu-west-1, europe-west1]}}; found {}", node.kind()));
        return out;
    };
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in entries {
        let zone = k.as_str().unwrap_or("").to_string();
        let valid = !zone.is_empty() && zone.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            ctx.error(k.pos, format!("residency zone name '{zone}' must use only letters, digits, '-' and '_'"));
            continue;
        }
        let path = format!("router_settings.residency_zones.{zone}");
        let regions = fields::string_list(ctx, &path, v).unwrap_or_default();
        let mut list = Vec::new();
        for (region, n) in regions {
            if let Some(other) = seen.get(&region) {
                ctx.error(
                    n.pos,
                    format!(
                        "region '{region}' is in residency zones '{other}' and '{zone}'; a region belongs to one zone"
                    ),
                );
                continue;
            }
            seen.insert(region.clone(), zone.clone());
            list.push(region);
        }
        out.insert(zone, list);
    }
    out
}

const FALLBACK_SHAPE: &str = "like [{claude-global: [claude-backup]}]";

fn fallbacks(ctx: &mut Ctx, node: &Node) -> Vec<Fallback> {
    let mut out: Vec<Fallback> = Vec::new();
    let Some(items) = node.as_seq() else {
        ctx.error(
            node.pos,
            format!(
                "router_settings.fallbacks must be a list of one-key mappings, {FALLBACK_SHAPE}; found {}",
                node.kind()
            ),
        );
        return out;
    };
    for item in items {
        let Some(entries) = item.as_map() else {
            ctx.error(
                item.pos,
                format!(
                    "each router_settings.fallbacks entry must be a mapping {FALLBACK_SHAPE}; found {}",
                    item.kind()
                ),
            );
            continue;
        };
        for (k, v) in entries {
            let group = k.as_str().unwrap_or("").to_string();
            let path = format!("router_settings.fallbacks['{group}']");
            let targets = fields::string_list(ctx, &path, v).unwrap_or_default();
            if let Some((_, first, _)) = out.iter().find(|(g, _, _)| *g == group) {
                ctx.error(
                    k.pos,
                    format!(
                        "fallbacks for '{group}' are given twice (first on line {}); merge them into one list",
                        first.line
                    ),
                );
                continue;
            }
            let targets = targets
                .into_iter()
                .filter(|(t, n)| {
                    if *t == group {
                        ctx.warn(n.pos, format!("'{group}' lists itself as a fallback; ignored"));
                    }
                    *t != group
                })
                .map(|(t, n)| (t, n.pos))
                .collect();
            out.push((group, k.pos, targets));
        }
    }
    out
}

/// Checks router settings against the deployments and applies defaults.
pub(crate) fn finish(
    ctx: &mut Ctx,
    raw: RawRouter,
    deployments: &[(Deployment, Meta)],
    groups: &[String],
) -> RouterSettings {
    let mut unique: Vec<&str> = groups.iter().map(String::as_str).collect();
    unique.sort();
    unique.dedup();
    let mut fallbacks = Vec::new();
    for (group, pos, targets) in raw.fallbacks {
        let mut ok = true;
        for (name, p) in std::iter::once((&group, &pos)).chain(targets.iter().map(|(t, p)| (t, p))) {
            if !unique.contains(&name.as_str()) {
                ok = false;
                ctx.error(
                    *p,
                    format!(
                        "fallbacks name '{name}', which is not a model_name in model_list; use one of: {}",
                        unique.join(", ")
                    ),
                );
            }
        }
        if ok {
            fallbacks.push((group, targets.into_iter().map(|(t, _)| t).collect()));
        }
    }
    let any_priority = deployments.iter().any(|(d, _)| d.priority.is_some());
    let strategy = raw.strategy.unwrap_or(if any_priority { Strategy::Priority } else { Strategy::SimpleShuffle });
    let health_check_timeout_s =
        raw.health_check_interval_s.map(|_| raw.health_check_timeout_s.unwrap_or(DEFAULT_HEALTH_CHECK_TIMEOUT_S));
    RouterSettings {
        strategy,
        num_retries: raw.num_retries.unwrap_or(DEFAULT_NUM_RETRIES),
        allowed_fails: raw.allowed_fails.unwrap_or(DEFAULT_ALLOWED_FAILS),
        cooldown_time_s: raw.cooldown_time_s.unwrap_or(DEFAULT_COOLDOWN_S),
        health_check_interval_s: raw.health_check_interval_s,
        health_check_timeout_s,
        allowed_regions: raw.allowed_regions.map(|(list, _)| list.into_iter().map(|(r, _)| r).collect()),
        timeout_s: raw.timeout_s,
        stream_timeout_s: raw.stream_timeout_s,
        fallbacks,
        residency_zones: raw.residency_zones,
        gateway_region: raw.gateway_region,
    }
}
