//! `router_settings`.

use std::collections::{BTreeMap, HashMap};

use super::deployment::Meta;
use super::fields::{self, Keys};
use super::yaml::{Node, Pos};
use super::{Ctx, Deployment, RouterSettings, Strategy, TlsVerify};

pub(crate) const DEFAULT_NUM_RETRIES: u32 = 2;
pub(crate) const DEFAULT_ALLOWED_FAILS: u32 = 3;
pub(crate) const DEFAULT_COOLDOWN_S: f64 = 5.0;
pub(crate) const DEFAULT_HEALTH_CHECK_TIMEOUT_S: f64 = 5.0;
/// `stream_timeout` when the config gives none (and `timeout` is not shorter): the first stream
/// event of an attempt must come within it, and no gap between events may be longer.
pub const DEFAULT_STREAM_TIMEOUT_S: f64 = 30.0;
/// `timeout` when the config gives none (LiteLLM's): it bounds the whole answer.
pub const DEFAULT_TIMEOUT_S: f64 = 600.0;

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
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "residency_zones",
    "gateway_region",
    // capacity: super::redis
    "redis_host",
    "redis_port",
    "redis_password",
    "redis_url",
];

/// LiteLLM router settings this gateway does not implement: accepted, reported once.
const IGNORED: &[&str] = &[
    "cache_responses",
    "cache_kwargs",
    "enable_pre_call_checks",
    "optional_pre_call_checks",
    "model_group_alias",
    "retry_policy",
    "model_group_retry_policy",
    "allowed_fails_policy",
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
    pub timeout: Option<Setting>,
    pub stream_timeout: Option<Setting>,
    /// `litellm_settings.request_timeout`: `timeout` when router_settings gives none.
    pub request_timeout: Option<Setting>,
    pub fallbacks: Vec<Fallback>,
    pub context_window_fallbacks: Vec<Fallback>,
    pub content_policy_fallbacks: Vec<Fallback>,
    /// Groups, with their positions.
    pub default_fallbacks: Option<Vec<(String, Pos)>>,
    pub residency_zones: BTreeMap<String, Vec<String>>,
    pub gateway_region: Option<String>,
    /// `litellm_settings.ssl_verify`: every deployment's default.
    pub ssl_verify: Option<TlsVerify>,
    pub redis: Option<super::redis::Redis>,
}

/// A duration as read: seconds, where, and the key that gave it (for messages).
#[derive(Clone, Copy)]
pub(crate) struct Setting {
    pub seconds: f64,
    pub pos: Pos,
    pub key: &'static str,
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
    raw.timeout = duration(ctx, f.value("timeout"), "router_settings.timeout");
    raw.stream_timeout = duration(ctx, f.value("stream_timeout"), "router_settings.stream_timeout");
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
    read_fallbacks(ctx, "router_settings", &f, &mut raw);
    raw.redis = super::redis::parse(ctx, &f);
    raw
}

/// The four fallback keys of `section` (router_settings or litellm_settings).
fn read_fallbacks(ctx: &mut Ctx, section: &str, f: &fields::Fields<'_>, raw: &mut RawRouter) {
    if let Some(v) = f.value("fallbacks") {
        raw.fallbacks = fallbacks(ctx, &format!("{section}.fallbacks"), v);
    }
    if let Some(v) = f.value("context_window_fallbacks") {
        raw.context_window_fallbacks = fallbacks(ctx, &format!("{section}.context_window_fallbacks"), v);
    }
    if let Some(v) = f.value("content_policy_fallbacks") {
        raw.content_policy_fallbacks = fallbacks(ctx, &format!("{section}.content_policy_fallbacks"), v);
    }
    if let Some(v) = f.value("default_fallbacks") {
        let list = fields::string_list(ctx, &format!("{section}.default_fallbacks"), v).unwrap_or_default();
        raw.default_fallbacks = Some(list.into_iter().map(|(s, n)| (s, n.pos)).collect());
    }
}

/// A duration key (`key` names it in messages): more than 0, at most a week.
fn duration(ctx: &mut Ctx, node: Option<&Node>, key: &'static str) -> Option<Setting> {
    let v = node?;
    fields::seconds(ctx, key, v, true).map(|seconds| Setting { seconds, pos: v.pos, key })
}

/// Keys of `litellm_settings` that LiteLLM's router takes as its defaults.
const LITELLM_ROUTING_KEYS: &[&str] = &[
    "num_retries",
    "request_timeout",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "allowed_fails",
    "cooldown_time",
    "ssl_verify",
];

/// `litellm_settings`: its routing keys are the router's defaults, as in LiteLLM (where they set
/// `litellm.num_retries`, ... and the Router falls back to them): `router_settings` takes
/// precedence ([`RawRouter::or_litellm`]). `request_timeout` is the default `timeout`. Every
/// other key is listed once as not used.
pub(crate) fn litellm_settings(ctx: &mut Ctx, node: &Node) -> RawRouter {
    let mut raw = RawRouter::default();
    if node.as_map().is_none() && !node.is_null() {
        ctx.error(node.pos, format!("litellm_settings must be a mapping of keys to values, found {}", node.kind()));
        return raw;
    }
    // LiteLLM documents hundreds of litellm_settings (callbacks, caching, ...): every key is
    // accepted; those that do not route are listed once.
    let keys =
        Keys { section: "litellm_settings", known: LITELLM_ROUTING_KEYS, accepted: &[], ignored: &[], hints: &[] };
    let Some(f) = fields::read_map_any(ctx, node, &keys) else { return raw };
    for (k, _) in node.as_map().unwrap_or_default() {
        let name = k.as_str().unwrap_or("");
        if !LITELLM_ROUTING_KEYS.contains(&name) {
            ctx.unused("litellm_settings", name, k.pos);
        }
    }
    let ls = |k: &str| format!("litellm_settings.{k}");
    if let Some(v) = f.value("num_retries") {
        raw.num_retries = fields::whole(ctx, &ls("num_retries"), v, 0, MAX_RETRIES);
    }
    if let Some(v) = f.value("allowed_fails") {
        raw.allowed_fails = fields::whole(ctx, &ls("allowed_fails"), v, 0, MAX_ALLOWED_FAILS);
    }
    if let Some(v) = f.value("cooldown_time") {
        raw.cooldown_time_s = fields::seconds(ctx, &ls("cooldown_time"), v, false);
    }
    raw.request_timeout = duration(ctx, f.value("request_timeout"), "litellm_settings.request_timeout");
    if let Some(v) = f.value("ssl_verify") {
        raw.ssl_verify = Some(super::deployment::ssl_verify(ctx, &ls("ssl_verify"), v));
    }
    read_fallbacks(ctx, "litellm_settings", &f, &mut raw);
    raw
}

impl RawRouter {
    /// `router_settings` (self) over `litellm_settings` (`defaults`), key by key.
    pub(crate) fn or_litellm(mut self, defaults: RawRouter) -> RawRouter {
        self.num_retries = self.num_retries.or(defaults.num_retries);
        self.allowed_fails = self.allowed_fails.or(defaults.allowed_fails);
        self.cooldown_time_s = self.cooldown_time_s.or(defaults.cooldown_time_s);
        self.request_timeout = self.request_timeout.or(defaults.request_timeout);
        self.ssl_verify = self.ssl_verify.or(defaults.ssl_verify);
        if self.fallbacks.is_empty() {
            self.fallbacks = defaults.fallbacks;
        }
        if self.context_window_fallbacks.is_empty() {
            self.context_window_fallbacks = defaults.context_window_fallbacks;
        }
        if self.content_policy_fallbacks.is_empty() {
            self.content_policy_fallbacks = defaults.content_policy_fallbacks;
        }
        self.default_fallbacks = self.default_fallbacks.or(defaults.default_fallbacks);
        self
    }
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

fn fallbacks(ctx: &mut Ctx, key: &str, node: &Node) -> Vec<Fallback> {
    let mut out: Vec<Fallback> = Vec::new();
    let Some(items) = node.as_seq() else {
        ctx.error(
            node.pos,
            format!("{key} must be a list of one-key mappings, {FALLBACK_SHAPE}; found {}", node.kind()),
        );
        return out;
    };
    for item in items {
        let Some(entries) = item.as_map() else {
            ctx.error(item.pos, format!("each {key} entry must be a mapping {FALLBACK_SHAPE}; found {}", item.kind()));
            continue;
        };
        for (k, v) in entries {
            let group = k.as_str().unwrap_or("").to_string();
            let path = format!("{key}['{group}']");
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

/// A model group, or a name a wildcard group's pattern matches.
fn group_exists(name: &str, groups: &[&str]) -> bool {
    groups.iter().any(|g| *g == name || (g.contains('*') && llm_router_core::wildcard::matches(g, name)))
}

/// Fallbacks whose groups all exist; each unknown name is an error.
fn checked_fallbacks(ctx: &mut Ctx, raw: Vec<Fallback>, groups: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (group, pos, targets) in raw {
        let mut ok = true;
        for (name, p) in std::iter::once((&group, &pos)).chain(targets.iter().map(|(t, p)| (t, p))) {
            if !group_exists(name, groups) {
                ok = false;
                ctx.error(
                    *p,
                    format!(
                        "fallbacks name '{name}', which is not a model_name in model_list; use one of: {}",
                        groups.join(", ")
                    ),
                );
            }
        }
        if ok {
            out.push((group, targets.into_iter().map(|(t, _)| t).collect()));
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
    let mut fallbacks = checked_fallbacks(ctx, raw.fallbacks, &unique);
    let context_window_fallbacks = checked_fallbacks(ctx, raw.context_window_fallbacks, &unique);
    let content_policy_fallbacks = checked_fallbacks(ctx, raw.content_policy_fallbacks, &unique);
    let mut default_fallbacks = Vec::new();
    for (name, pos) in raw.default_fallbacks.unwrap_or_default() {
        if group_exists(&name, &unique) {
            default_fallbacks.push(name);
        } else {
            ctx.error(
                pos,
                format!(
                    "default_fallbacks name '{name}', which is not a model_name in model_list; use one of: {}",
                    unique.join(", ")
                ),
            );
        }
    }
    // LiteLLM: a group without fallbacks of its own falls back to default_fallbacks.
    if !default_fallbacks.is_empty() {
        for group in &unique {
            if !fallbacks.iter().any(|(g, _)| g == group) {
                let to: Vec<String> = default_fallbacks.iter().filter(|t| t != group).cloned().collect();
                if !to.is_empty() {
                    fallbacks.push((group.to_string(), to));
                }
            }
        }
    }
    let any_priority = deployments.iter().any(|(d, _)| d.priority.is_some());
    let strategy = raw.strategy.unwrap_or(if any_priority { Strategy::Priority } else { Strategy::SimpleShuffle });
    let health_check_timeout_s =
        raw.health_check_interval_s.map(|_| raw.health_check_timeout_s.unwrap_or(DEFAULT_HEALTH_CHECK_TIMEOUT_S));
    let timeout = raw.timeout.or(raw.request_timeout);
    let settings = RouterSettings {
        strategy,
        num_retries: raw.num_retries.unwrap_or(DEFAULT_NUM_RETRIES),
        allowed_fails: raw.allowed_fails.unwrap_or(DEFAULT_ALLOWED_FAILS),
        cooldown_time_s: raw.cooldown_time_s.unwrap_or(DEFAULT_COOLDOWN_S),
        health_check_interval_s: raw.health_check_interval_s,
        health_check_timeout_s,
        allowed_regions: raw.allowed_regions.map(|(list, _)| list.into_iter().map(|(r, _)| r).collect()),
        timeout_s: timeout.map(|t| t.seconds),
        stream_timeout_s: raw.stream_timeout.map(|t| t.seconds),
        fallbacks,
        context_window_fallbacks,
        content_policy_fallbacks,
        default_fallbacks,
        residency_zones: raw.residency_zones,
        gateway_region: raw.gateway_region,
        redis: raw.redis,
    };
    check_timeouts(ctx, &settings, deployments, timeout, raw.stream_timeout);
    settings
}

/// A deployment's limits in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// `stream_timeout`: the first stream event of an attempt must come within it, and no gap
    /// between events may be longer.
    pub stream_s: f64,
    /// `timeout`: bounds the whole answer, retries included.
    pub answer_s: f64,
}

/// A deployment's limits as LiteLLM resolves them: its own `litellm_params` key, else the
/// router-wide value ([`router_timeouts`]).
pub fn deployment_timeouts(r: &RouterSettings, d: &Deployment) -> Timeouts {
    resolve(r, d.timeout_s, d.stream_timeout_s)
}

/// The limits of a deployment without keys of its own: router_settings (for `timeout` also
/// litellm_settings.request_timeout), else the defaults.
pub fn router_timeouts(r: &RouterSettings) -> Timeouts {
    resolve(r, None, None)
}

/// Without any stream_timeout LiteLLM bounds a stream by `timeout`, so the default
/// stream_timeout is never longer than `timeout`.
fn resolve(r: &RouterSettings, timeout_s: Option<f64>, stream_timeout_s: Option<f64>) -> Timeouts {
    let answer_s = timeout_s.or(r.timeout_s).unwrap_or(DEFAULT_TIMEOUT_S);
    let stream_s = stream_timeout_s.or(r.stream_timeout_s).unwrap_or(DEFAULT_STREAM_TIMEOUT_S.min(answer_s));
    Timeouts { stream_s, answer_s }
}

/// Where a deployment's limit is set, for messages: its own key, else the router-wide key;
/// None for the default.
fn limit_pos(own: Option<Pos>, router: Option<Setting>) -> Option<Pos> {
    own.or(router.map(|r| r.pos))
}

/// How a limit's source is named in a warning (see [`limit_pos`]).
fn limit_name(own: Option<Pos>, at: &str, key: &str, router: Option<Setting>) -> String {
    match (own, router) {
        (Some(_), _) => format!("{at}: litellm_params.{key}"),
        (None, Some(r)) => r.key.to_string(),
        (None, None) => format!("the default {key}"),
    }
}

/// A model group's stream_timeouts: (seconds, deployment ids, where the first of them got it).
type StreamTimeouts<'a> = Vec<(f64, Vec<&'a str>, Pos)>;

/// Warns where the limits cannot work as written: a stream_timeout longer than the timeout
/// that bounds the same answer, and a model group whose deployments have different
/// stream_timeouts (Envoy takes one per request: see `translate::routes`).
fn check_timeouts(
    ctx: &mut Ctx,
    r: &RouterSettings,
    deployments: &[(Deployment, Meta)],
    timeout: Option<Setting>,
    stream_timeout: Option<Setting>,
) {
    let mut warned: Vec<(Option<Pos>, Option<Pos>)> = Vec::new();
    let mut groups: Vec<(&str, StreamTimeouts)> = Vec::new();
    // Index of each group in `groups` (a scan per deployment is quadratic).
    let mut group_index: HashMap<&str, usize> = HashMap::new();
    for (d, meta) in deployments {
        let t = deployment_timeouts(r, d);
        let stream_pos = limit_pos(meta.stream_timeout_pos, stream_timeout);
        let answer_pos = limit_pos(meta.timeout_pos, timeout);
        if t.stream_s > t.answer_s && !warned.contains(&(stream_pos, answer_pos)) {
            let at = format!("model_list[{}] ('{}')", meta.index, d.model_name);
            let stream_name = limit_name(meta.stream_timeout_pos, &at, "stream_timeout", stream_timeout);
            let answer_name = limit_name(meta.timeout_pos, &at, "timeout", timeout);
            warned.push((stream_pos, answer_pos));
            let line = answer_pos.map(|p| format!(" (line {})", p.line)).unwrap_or_default();
            ctx.warn(
                stream_pos.unwrap_or(meta.params_pos),
                format!(
                    "{stream_name} {}s is longer than {answer_name} {}s{line}: timeout bounds the whole answer, so a stalled attempt would end the request before stream_timeout moves it to the next deployment; lower stream_timeout or raise timeout",
                    t.stream_s, t.answer_s
                ),
            );
        }
        let i = *group_index.entry(d.model_name.as_str()).or_insert_with(|| {
            groups.push((&d.model_name, Vec::new()));
            groups.len() - 1
        });
        let group = &mut groups[i].1;
        match group.iter_mut().find(|(s, ..)| *s == t.stream_s) {
            Some((_, ids, _)) => ids.push(&d.id),
            None => group.push((t.stream_s, vec![&d.id], stream_pos.unwrap_or(meta.params_pos))),
        }
    }
    for (name, mut by_value) in groups {
        by_value.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let [_, .., (largest, _, pos)] = by_value.as_slice() {
            let listed: Vec<String> = by_value.iter().map(|(s, ids, _)| format!("{s}s: {}", ids.join(", "))).collect();
            ctx.warn(
                *pos,
                format!(
                    "model group '{name}' has deployments with different stream_timeouts ({}): Envoy takes one per request, so each attempt of a request to '{name}' waits for its first content, and between events, up to the largest of the deployments it may try ({largest}s)",
                    listed.join("; ")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{self, deployment_timeouts, router_timeouts, Loaded, Severity, Timeouts};

    fn load(yaml: &str) -> Loaded {
        match config::load_str(yaml, "t.yaml") {
            Ok(l) => l,
            Err(d) => panic!("{}", d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")),
        }
    }

    /// The warnings about timeouts and litellm_settings.
    fn warnings(l: &Loaded) -> Vec<String> {
        l.warnings
            .iter()
            .map(|d| d.to_string())
            .filter(|w| w.contains("timeout") || w.contains("litellm_settings"))
            .collect()
    }

    /// (stream, answer) of each deployment, in model_list order.
    fn limits(l: &Loaded) -> Vec<(f64, f64)> {
        let c = &l.config;
        c.deployments.iter().map(|d| deployment_timeouts(&c.router, d)).map(|t| (t.stream_s, t.answer_s)).collect()
    }

    const TWO: &str = "model_list:
  - model_name: a
    litellm_params: {model: openai/gpt-4o, api_base: 'http://127.0.0.1:1/v1', region_name: us-east-1, timeout: 30, stream_timeout: 2.5}
  - model_name: a
    litellm_params: {model: openai/gpt-4o, api_base: 'http://127.0.0.1:2/v1', region_name: us-east-1}
";

    #[test]
    fn defaults_are_30_s_per_stream_and_600_s_per_answer() {
        let l = load("model_list:\n  - model_name: a\n    litellm_params: {model: openai/gpt-4o}\n");
        assert_eq!(limits(&l), [(30.0, 600.0)]);
        assert_eq!(router_timeouts(&l.config.router), Timeouts { stream_s: 30.0, answer_s: 600.0 });
    }

    #[test]
    fn a_deployment_s_own_keys_come_first_then_router_settings() {
        let l = load(&format!("{TWO}router_settings:\n  timeout: 60\n  stream_timeout: 4\n"));
        assert_eq!(limits(&l), [(2.5, 30.0), (4.0, 60.0)]);
        // Without router_settings the second one has the defaults.
        assert_eq!(limits(&load(TWO)), [(2.5, 30.0), (30.0, 600.0)]);
    }

    #[test]
    fn litellm_settings_request_timeout_is_the_default_timeout_after_router_settings() {
        let l = load(&format!("{TWO}litellm_settings:\n  request_timeout: 20\n"));
        // As in LiteLLM, a stream without stream_timeout is bounded by the timeout.
        assert_eq!(limits(&l), [(2.5, 30.0), (20.0, 20.0)]);
        // The section is read, not reported ignored.
        assert!(!warnings(&l).iter().any(|w| w.contains("litellm_settings")), "{:?}", warnings(&l));
        let l = load(&format!("{TWO}litellm_settings:\n  request_timeout: 20\nrouter_settings:\n  timeout: 90\n"));
        assert_eq!(limits(&l)[1], (30.0, 90.0));
    }

    #[test]
    fn litellm_settings_other_keys_are_listed_once_as_not_used_and_request_timeout_is_range_checked() {
        let l = load(&format!(
            "{TWO}litellm_settings:\n  request_timeout: 20\n  drop_params: true\n  set_verbose: false\n"
        ));
        assert_eq!(
            warnings(&l).iter().filter(|w| w.contains("litellm_settings")).collect::<Vec<_>>(),
            ["t.yaml:8:3: warning: litellm_settings keys accepted, not used by llm-router: drop_params, set_verbose"],
        );
        let l = load(&format!("{TWO}litellm_settings:\n  drop_params: true\n"));
        assert!(
            warnings(&l).contains(
                &"t.yaml:7:3: warning: litellm_settings keys accepted, not used by llm-router: drop_params".into()
            ),
            "{:?}",
            warnings(&l)
        );
        let e =
            config::load_str(&format!("{TWO}litellm_settings:\n  request_timeout: 604801\n"), "t.yaml").unwrap_err();
        assert_eq!(
            e.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect::<Vec<_>>(),
            ["t.yaml:7:20: litellm_settings.request_timeout must be a number greater than 0 and at most 604800, got '604801'"]
        );
    }

    #[test]
    fn a_stream_timeout_longer_than_its_timeout_is_a_warning_at_the_stream_timeout() {
        let l = load(&format!("{TWO}router_settings:\n  timeout: 10\n  stream_timeout: 40\n"));
        let w = warnings(&l);
        assert!(
            w.contains(&"t.yaml:8:19: warning: router_settings.stream_timeout 40s is longer than router_settings.timeout 10s (line 7): timeout bounds the whole answer, so a stalled attempt would end the request before stream_timeout moves it to the next deployment; lower stream_timeout or raise timeout".into()),
            "{w:?}"
        );
        // The deployment's own keys: 2.5 s within 30 s is fine; one warning only.
        assert_eq!(w.iter().filter(|w| w.contains("is longer than")).count(), 1, "{w:?}");
        let l =
            load("model_list:\n  - model_name: a\n    litellm_params: {model: openai/gpt-4o, stream_timeout: 700}\n");
        assert!(
            warnings(&l)[0].starts_with("t.yaml:3:60: warning: model_list[0] ('a'): litellm_params.stream_timeout 700s is longer than the default timeout 600s:"),
            "{:?}",
            warnings(&l)
        );
    }

    #[test]
    fn a_timeout_alone_shortens_the_default_stream_timeout_without_a_warning() {
        let l = load("model_list:\n  - model_name: a\n    litellm_params: {model: openai/gpt-4o, timeout: 5}\n");
        assert_eq!(limits(&l), [(5.0, 5.0)]);
        assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    }

    #[test]
    fn different_stream_timeouts_in_a_model_group_are_a_warning_that_names_the_deployments() {
        let l = load(TWO);
        let w = warnings(&l);
        let ids: Vec<&str> = l.config.deployments.iter().map(|d| d.id.as_str()).collect();
        let want = format!(
            "t.yaml:5:5: warning: model group 'a' has deployments with different stream_timeouts (2.5s: {}; 30s: {}): Envoy takes one per request",
            ids[0], ids[1]
        );
        assert!(w.iter().any(|x| x.starts_with(&want)), "{want}\nnot in {w:?}");
        assert!(w[0].ends_with("up to the largest of the deployments it may try (30s)"), "{w:?}");
        // Equal values, or different ones in different groups: each request gets its own.
        let same = load(&format!("{TWO}router_settings:\n  stream_timeout: 2.5\n"));
        assert!(!warnings(&same).iter().any(|w| w.contains("different")), "{:?}", warnings(&same));
        let other_group = load(&TWO.replacen("model_name: a", "model_name: b", 1));
        assert!(!warnings(&other_group).iter().any(|w| w.contains("different")), "{:?}", warnings(&other_group));
    }
}
