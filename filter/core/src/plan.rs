//! The routing decision: which deployments a request may use, and in what order.
//!
//! The first deployment of the plan serves the first attempt; each retry (Envoy's, driven by
//! the priority group cluster specifier) takes the next one. Residency is applied before
//! anything else and is never relaxed, so no attempt of a plan can leave the zone.

use crate::table::{Deployment, Group, RouterTable};
use crate::Strategy;
use crate::{RequestError, Rng};

/// What the client asked for, as far as routing goes.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest<'a> {
    /// The body's `model`: a model group name.
    pub model: &'a str,
    /// `x-llm-residency`: hard constraint.
    pub residency: Option<&'a str>,
    /// `x-llm-region`: soft preference.
    pub preferred_region: Option<&'a str>,
    /// `x-llm-routing-strategy`: per-request override.
    pub strategy: Option<&'a str>,
}

/// The ordered deployments for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<'t> {
    pub attempts: Vec<&'t Deployment>,
    pub strategy: Strategy,
}

impl Plan<'_> {
    /// Retries Envoy may make: one per further deployment in the plan.
    pub fn max_retries(&self) -> usize {
        self.attempts.len().saturating_sub(1)
    }
}

/// Share of latency-routed requests that go first to a deployment other than the fastest,
/// so a region that recovered (or has no samples) is noticed without herding everyone there.
pub const EXPLORE_SHARE: f64 = 0.05;

/// What the filter knows about each deployment right now (from Envoy's shared data).
pub trait DeploymentView {
    /// Out of cooldown.
    fn usable(&self, d: &Deployment) -> bool;
    /// Moving average of time to first byte in ms; None before the first sample.
    fn ttfb_ms(&self, d: &Deployment) -> Option<f64>;
    /// Milliseconds until a deployment that is not [`usable`](Self::usable) takes traffic
    /// again (its cooldown or spent budget ends); None when that is not known.
    fn available_in_ms(&self, _d: &Deployment) -> Option<u64> {
        None
    }
    /// The share of its rpm/tpm budget the deployment has used this minute, 0 to 1 (the
    /// larger of the two); 0 when unknown or unlimited.
    fn used_share(&self, _d: &Deployment) -> f64 {
        0.0
    }
    /// A factor (0, 1] on the deployment's weight: below 1 when its provider said its own
    /// quota is nearly spent (`capacity::share_factor`).
    fn weight_factor(&self, _d: &Deployment) -> f64 {
        1.0
    }
}

/// Builds the plan for one request.
pub fn plan_request<'t>(
    table: &'t RouterTable,
    req: &PlanRequest<'_>,
    view: &dyn DeploymentView,
    rng: &mut Rng,
) -> Result<Plan<'t>, RequestError> {
    let group = table.group_for(req.model).ok_or_else(|| {
        RequestError::bad_request(
            "model_not_found",
            format!(
                "model '{}' is not served by this gateway; available models: {}",
                req.model,
                table.group_order.join(", ")
            ),
        )
        .with_param("model")
    })?;
    let strategy = match req.strategy {
        None => table.strategy,
        Some(name) => Strategy::parse(name.trim()).map(|p| p.strategy).ok_or_else(|| {
            RequestError::bad_request(
                "invalid_routing_strategy",
                format!("x-llm-routing-strategy '{name}' is unknown; use {}", Strategy::names().join(", ")),
            )
        })?,
    };
    let zone = match req.residency {
        None => None,
        Some(z) => {
            let z = z.trim();
            if !table.zones.iter().any(|known| known.eq_ignore_ascii_case(z)) {
                return Err(RequestError::bad_request(
                    "invalid_residency",
                    format!("x-llm-residency '{z}' is not a zone of this gateway; zones: {}", table.zones.join(", ")),
                ));
            }
            Some(z)
        }
    };

    let in_zone = |d: &Deployment| zone.is_none_or(|z| d.zone.eq_ignore_ascii_case(z));
    let mut attempts = ordered_usable(table, group, strategy, &in_zone, view, req.preferred_region, rng);
    attempts.truncate(max_attempts(table));
    // Fallback groups come after the group's own deployments, within the same residency.
    for fallback in table.fallback_groups(req.model) {
        let mut more = ordered_usable(table, fallback, strategy, &in_zone, view, req.preferred_region, rng);
        more.truncate(max_attempts(table));
        attempts.extend(more);
    }

    if attempts.is_empty() {
        if let Some(wait_ms) = wait_for_request_ms(table, req, view) {
            let retry_after = crate::capacity::retry_after_seconds([wait_ms]);
            let place = zone.map(|z| format!(" in zone '{z}'")).unwrap_or_default();
            return Err(RequestError::rate_limited(format!(
                "every deployment of '{}'{place} is at its rate limit or cooling down; retry after {retry_after} s",
                req.model
            )));
        }
        let message = match zone {
            Some(z) => format!(
                "no healthy deployment of '{}' in zone '{z}'; the request was not sent outside the zone",
                req.model
            ),
            None => format!(
                "no healthy deployment of '{}': every deployment is cooling down or has no usable credentials",
                req.model
            ),
        };
        return Err(RequestError::unavailable(message));
    }
    Ok(Plan { attempts, strategy })
}

/// When every deployment a request may use (its group's and its fallbacks', within its zone,
/// with usable credentials) is spent or cooling down: the time until the first of them takes
/// traffic again. None when some deployment has no known end (it cannot take traffic for
/// another reason), or there is none: then the gateway has no capacity to wait for.
pub fn wait_for_request_ms(table: &RouterTable, req: &PlanRequest<'_>, view: &dyn DeploymentView) -> Option<u64> {
    let group = table.group_for(req.model)?;
    let zone = req.residency.map(str::trim);
    let in_zone = |d: &Deployment| zone.is_none_or(|z| d.zone.eq_ignore_ascii_case(z));
    wait_for_capacity_ms(table, req.model, group, &in_zone, view)
}

/// When the first of the groups a request for `model` may reach (its own, then its fallbacks,
/// found by the client's name as planning finds them) is available again.
fn wait_for_capacity_ms(
    table: &RouterTable,
    model: &str,
    group: &Group,
    in_zone: &dyn Fn(&Deployment) -> bool,
    view: &dyn DeploymentView,
) -> Option<u64> {
    let groups = std::iter::once(group).chain(table.fallback_groups(model));
    let allowed = groups
        .flat_map(|g| g.deployments.iter().filter_map(|&i| table.deployments.get(i)))
        .filter(|d| d.unavailable.is_none() && in_zone(d));
    let mut first: Option<u64> = None;
    for d in allowed {
        let wait = view.available_in_ms(d)?;
        first = Some(first.map_or(wait, |f| f.min(wait)));
    }
    first
}

/// Attempts per group: the first and `num_retries` more. Saturating: on wasm32 `usize` is 32
/// bits, and `u32::MAX + 1` must not wrap to an empty plan.
fn max_attempts(table: &RouterTable) -> usize {
    (table.num_retries as usize).saturating_add(1)
}

fn ordered_usable<'t>(
    table: &'t RouterTable,
    group: &Group,
    strategy: Strategy,
    in_zone: &dyn Fn(&Deployment) -> bool,
    view: &dyn DeploymentView,
    preferred_region: Option<&str>,
    rng: &mut Rng,
) -> Vec<&'t Deployment> {
    let candidates: Vec<&Deployment> = group
        .deployments
        .iter()
        .filter_map(|&i| table.deployments.get(i))
        .filter(|d| d.unavailable.is_none() && in_zone(d) && view.usable(d))
        .collect();
    let ordered = order(candidates, strategy, view, rng);
    match preferred_region {
        // The preferred region first, the strategy's order otherwise unchanged.
        Some(region) => {
            let (mut first, rest): (Vec<_>, Vec<_>) =
                ordered.into_iter().partition(|d| d.region.eq_ignore_ascii_case(region.trim()));
            first.extend(rest);
            first
        }
        None => ordered,
    }
}

/// Orders candidates by the strategy. Ties (same priority, same price) are broken by a
/// weighted shuffle, so equal deployments share load by weight.
pub fn order<'t>(
    candidates: Vec<&'t Deployment>,
    strategy: Strategy,
    view: &dyn DeploymentView,
    rng: &mut Rng,
) -> Vec<&'t Deployment> {
    let mut keyed: Vec<(SortKey, &Deployment)> = weighted_shuffle_keys(candidates, view, rng)
        .into_iter()
        .map(|(shuffle, d)| {
            // The weighted shuffle breaks ties: its key descending, so its negation ascending.
            let tie = -shuffle;
            let key = match strategy {
                // Fastest first; a deployment slower than its latency_target goes after every
                // deployment within target; one without samples counts as fastest, so it is tried.
                Strategy::Latency => {
                    let ttfb = view.ttfb_ms(d);
                    let demoted = d.latency_target_ms > 0 && ttfb.is_some_and(|t| t > f64::from(d.latency_target_ms));
                    [f64::from(u8::from(demoted)), ttfb.unwrap_or(0.0), tie]
                }
                Strategy::Priority => [f64::from(d.priority), tie, 0.0],
                Strategy::Cost => [d.cost_per_token.unwrap_or(f64::INFINITY), tie, 0.0],
                Strategy::SimpleShuffle => [tie, 0.0, 0.0],
                // LiteLLM's usage-based routing: the least used (as a share of its own budget)
                // first; equal shares (unlimited deployments, a new minute) by weight.
                Strategy::UsageBased => [view.used_share(d), tie, 0.0],
            };
            (key, d)
        })
        .collect();
    keyed.sort_by(compare_keys);
    if strategy == Strategy::Latency && keyed.len() > 1 && rng.next_unit() <= EXPLORE_SHARE {
        let other = 1 + (rng.next_u64() % (keyed.len() as u64 - 1)) as usize;
        keyed.swap(0, other);
    }
    keyed.into_iter().map(|(_, d)| d).collect()
}

/// A candidate's place in the strategy's order, compared member by member, smallest first.
/// Every strategy's order is one key of one type, read once per candidate (some members are
/// shared-data reads): one sort in the module, where a comparator per strategy made one copy of
/// the standard library's sort each (about 10 KB of wasm apiece).
type SortKey = [f64; 3];

fn compare_keys(a: &(SortKey, &Deployment), b: &(SortKey, &Deployment)) -> std::cmp::Ordering {
    a.0.iter().zip(&b.0).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
}

/// Efraimidis–Spirakis keys: sorting by `u^(1/w)` descending draws a weighted random
/// permutation, so each deployment comes first with probability weight / total weight. The
/// weight is lowered by the provider's own quota signals ([`DeploymentView::weight_factor`]).
fn weighted_shuffle_keys<'t>(
    candidates: Vec<&'t Deployment>,
    view: &dyn DeploymentView,
    rng: &mut Rng,
) -> Vec<(f64, &'t Deployment)> {
    candidates
        .into_iter()
        .map(|d| {
            let weight = f64::from(d.weight.max(1)) * view.weight_factor(d).clamp(f64::MIN_POSITIVE, 1.0);
            (rng.next_unit().powf(1.0 / weight), d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_router_proto as pb;

    fn dep(id: &str, region: &str, zone: &str, priority: u32, weight: u32) -> pb::Deployment {
        pb::Deployment {
            id: id.into(),
            cluster: format!("llm-{id}"),
            region: region.into(),
            zone: zone.into(),
            provider: "openai".into(),
            provider_model: "m".into(),
            priority,
            weight,
            ..Default::default()
        }
    }

    fn table(strategy: pb::RoutingStrategy, deps: Vec<pb::Deployment>, retries: u32) -> RouterTable {
        RouterTable::compile(&pb::RouterConfig {
            schema_version: llm_router_proto::SCHEMA_VERSION,
            strategy: strategy as i32,
            num_retries: retries,
            zones: vec!["eu".into(), "us".into()],
            model_groups: vec![pb::ModelGroup { name: "claude".into(), deployments: deps }],
            ..Default::default()
        })
        .unwrap()
    }

    /// Deployments by id that are cooling down, and time-to-first-byte samples.
    #[derive(Default)]
    struct View {
        down: Vec<&'static str>,
        ttfb: Vec<(&'static str, f64)>,
    }

    impl DeploymentView for View {
        fn usable(&self, d: &Deployment) -> bool {
            !self.down.contains(&d.id.as_str())
        }
        fn ttfb_ms(&self, d: &Deployment) -> Option<f64> {
            self.ttfb.iter().find(|(id, _)| *id == d.id).map(|(_, t)| *t)
        }
    }

    fn all_up() -> View {
        View::default()
    }

    fn down(ids: &[&'static str]) -> View {
        View { down: ids.to_vec(), ..Default::default() }
    }

    fn ids(p: &Plan<'_>) -> Vec<String> {
        p.attempts.iter().map(|d| d.id.clone()).collect()
    }

    fn req(model: &str) -> PlanRequest<'_> {
        PlanRequest { model, ..Default::default() }
    }

    #[test]
    fn priority_orders_active_passive() {
        let t = table(
            pb::RoutingStrategy::Priority,
            vec![
                dep("c", "eu-west-1", "eu", 3, 1),
                dep("a", "us-west-2", "us", 1, 1),
                dep("b", "us-east-1", "us", 2, 1),
            ],
            2,
        );
        for (i, d) in t.deployments.iter().enumerate() {
            assert_eq!(d.index, i, "the plan names deployments by their index in the table");
        }
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            let p = plan_request(&t, &req("claude"), &all_up(), &mut rng).unwrap();
            assert_eq!(ids(&p), ["a", "b", "c"]);
            assert_eq!(p.max_retries(), 2);
        }
    }

    #[test]
    fn the_largest_retry_count_does_not_wrap_to_an_empty_plan() {
        let mut t = table(pb::RoutingStrategy::Priority, vec![dep("a", "us-west-2", "us", 1, 1)], 0);
        t.num_retries = u32::MAX;
        let p = plan_request(&t, &req("claude"), &all_up(), &mut Rng::new(1)).unwrap();
        assert_eq!(ids(&p), ["a"]);
        assert_eq!(max_attempts(&t), u32::MAX as usize + 1);
    }

    #[test]
    fn retries_limit_the_plan() {
        let t = table(
            pb::RoutingStrategy::Priority,
            vec![
                dep("a", "us-west-2", "us", 1, 1),
                dep("b", "us-east-1", "us", 2, 1),
                dep("c", "eu-west-1", "eu", 3, 1),
            ],
            1,
        );
        let p = plan_request(&t, &req("claude"), &all_up(), &mut Rng::new(1)).unwrap();
        assert_eq!(ids(&p), ["a", "b"]);
    }

    #[test]
    fn cooling_down_deployments_are_skipped() {
        let t = table(
            pb::RoutingStrategy::Priority,
            vec![dep("a", "us-west-2", "us", 1, 1), dep("b", "us-east-1", "us", 2, 1)],
            2,
        );
        let p = plan_request(&t, &req("claude"), &down(&["a"]), &mut Rng::new(1)).unwrap();
        assert_eq!(ids(&p), ["b"]);
        let e = plan_request(&t, &req("claude"), &down(&["a", "b"]), &mut Rng::new(1)).unwrap_err();
        assert_eq!(e.status, 503);
    }

    #[test]
    fn deployments_without_credentials_are_never_planned() {
        let mut vertex = dep("v", "europe-west1", "eu", 1, 1);
        vertex.unavailable = pb::Unavailable::VertexTokenPending as i32;
        let t = table(pb::RoutingStrategy::Priority, vec![vertex, dep("b", "us-east-1", "us", 2, 1)], 2);
        assert_eq!(t.deployments[0].unavailable, Some("vertex_token_pending"));
        let p = plan_request(&t, &req("claude"), &all_up(), &mut Rng::new(1)).unwrap();
        assert_eq!(ids(&p), ["b"]);
        let e = plan_request(&t, &req("claude"), &down(&["b"]), &mut Rng::new(1)).unwrap_err();
        assert_eq!(e.status, 503);
        assert!(e.message.contains("no usable credentials"), "{}", e.message);
    }

    #[test]
    fn residency_never_leaves_the_zone() {
        let t = table(
            pb::RoutingStrategy::Priority,
            vec![
                dep("us1", "us-west-2", "us", 1, 1),
                dep("eu1", "eu-west-1", "eu", 2, 1),
                dep("eu2", "europe-west1", "eu", 3, 1),
            ],
            5,
        );
        let r = PlanRequest { model: "claude", residency: Some("eu"), ..Default::default() };
        let p = plan_request(&t, &r, &all_up(), &mut Rng::new(1)).unwrap();
        assert_eq!(ids(&p), ["eu1", "eu2"]);
        let e = plan_request(&t, &r, &down(&["eu1", "eu2"]), &mut Rng::new(1)).unwrap_err();
        assert_eq!(e.status, 503);
        assert!(e.message.contains("zone 'eu'"));
        let unknown = PlanRequest { model: "claude", residency: Some("mars"), ..Default::default() };
        assert_eq!(plan_request(&t, &unknown, &all_up(), &mut Rng::new(1)).unwrap_err().status, 400);
    }

    #[test]
    fn preferred_region_goes_first_only_when_usable() {
        let t = table(
            pb::RoutingStrategy::Priority,
            vec![dep("a", "us-west-2", "us", 1, 1), dep("b", "eu-west-1", "eu", 2, 1)],
            2,
        );
        let r = PlanRequest { model: "claude", preferred_region: Some("eu-west-1"), ..Default::default() };
        assert_eq!(ids(&plan_request(&t, &r, &all_up(), &mut Rng::new(1)).unwrap()), ["b", "a"]);
        assert_eq!(ids(&plan_request(&t, &r, &down(&["b"]), &mut Rng::new(1)).unwrap()), ["a"]);
    }

    #[test]
    fn weights_split_first_attempts() {
        let t = table(
            pb::RoutingStrategy::SimpleShuffle,
            vec![dep("a", "us-west-2", "us", 0, 40), dep("b", "eu-west-1", "eu", 0, 60)],
            1,
        );
        let mut rng = Rng::new(42);
        let n = 20_000;
        let firsts_a = (0..n)
            .filter(|_| plan_request(&t, &req("claude"), &all_up(), &mut rng).unwrap().attempts[0].id == "a")
            .count();
        let share = firsts_a as f64 / n as f64;
        assert!((share - 0.40).abs() < 0.02, "share of a = {share}");
    }

    #[test]
    fn a_model_no_group_names_goes_to_the_most_specific_wildcard_group_exact_names_first() {
        let group = |name: &str, id: &str| pb::ModelGroup {
            name: name.into(),
            deployments: vec![dep(id, "us-east-1", "us", 1, 1)],
        };
        let t = RouterTable::compile(&pb::RouterConfig {
            schema_version: llm_router_proto::SCHEMA_VERSION,
            model_groups: vec![
                group("*", "any"),
                group("anthropic/*", "anthropic"),
                group("anthropic/claude-3-5-haiku", "haiku"),
                group("anthropic/claude-*", "claude"),
            ],
            ..Default::default()
        })
        .unwrap();
        let first = |model: &str| plan_request(&t, &req(model), &all_up(), &mut Rng::new(1)).map(|p| ids(&p));
        assert_eq!(first("anthropic/claude-3-5-haiku").unwrap(), ["haiku"], "an exact name wins over patterns");
        assert_eq!(first("anthropic/claude-3-7-sonnet").unwrap(), ["claude"]);
        assert_eq!(first("anthropic/other").unwrap(), ["anthropic"]);
        assert_eq!(first("gpt-4o").unwrap(), ["any"]);
        let only_prefix = table(pb::RoutingStrategy::Priority, vec![dep("a", "us-east-1", "us", 1, 1)], 0);
        assert_eq!(first("claude").unwrap(), ["any"]);
        assert!(plan_request(&only_prefix, &req("claude-x"), &all_up(), &mut Rng::new(1)).is_err());
    }

    #[test]
    fn unknown_model_and_strategy_are_client_errors() {
        let t = table(pb::RoutingStrategy::Priority, vec![dep("a", "us-west-2", "us", 1, 1)], 0);
        let e = plan_request(&t, &req("gpt-9"), &all_up(), &mut Rng::new(1)).unwrap_err();
        assert_eq!((e.status, e.code), (400, "model_not_found"));
        let r = PlanRequest { model: "claude", strategy: Some("fastest"), ..Default::default() };
        assert_eq!(plan_request(&t, &r, &all_up(), &mut Rng::new(1)).unwrap_err().status, 400);
    }

    #[test]
    fn latency_orders_fastest_first_and_keeps_probing() {
        let t = table(
            pb::RoutingStrategy::Latency,
            vec![
                dep("slow", "ap-southeast-1", "apac", 0, 1),
                dep("fast", "us-west-2", "us", 0, 1),
                dep("mid", "eu-west-1", "eu", 0, 1),
            ],
            2,
        );
        let view = View { ttfb: vec![("slow", 150.0), ("fast", 20.0), ("mid", 80.0)], ..Default::default() };
        let mut rng = Rng::new(7);
        let n = 10_000;
        let mut first = std::collections::HashMap::new();
        for _ in 0..n {
            let p = plan_request(&t, &req("claude"), &view, &mut rng).unwrap();
            *first.entry(p.attempts[0].id.clone()).or_insert(0) += 1;
        }
        let fast = f64::from(first["fast"]) / f64::from(n);
        assert!(fast > 0.93 && fast < 0.97, "fastest share {fast}");
        assert!(first.get("mid").copied().unwrap_or(0) > 100, "others keep being probed: {first:?}");
        assert!(first.get("slow").copied().unwrap_or(0) > 100, "{first:?}");
    }

    #[test]
    fn latency_tries_deployments_without_samples_and_demotes_missed_targets() {
        let mut slow_target = dep("a", "us-west-2", "us", 0, 1);
        slow_target.latency_target_ms = 50;
        let t = table(
            pb::RoutingStrategy::Latency,
            vec![slow_target, dep("b", "eu-west-1", "eu", 0, 1), dep("new", "us-east-1", "us", 0, 1)],
            2,
        );
        // a is fastest but misses its 50 ms target; "new" has no samples yet.
        let view = View { ttfb: vec![("a", 60.0), ("b", 90.0)], ..Default::default() };
        let mut rng = Rng::new(3);
        let mut orders = std::collections::HashMap::new();
        for _ in 0..1000 {
            *orders.entry(ids(&plan_request(&t, &req("claude"), &view, &mut rng).unwrap())).or_insert(0) += 1;
        }
        let usual = vec!["new".to_string(), "b".into(), "a".into()];
        assert!(orders[&usual] > 900, "{orders:?}");
    }

    #[test]
    fn cost_orders_cheapest_first_among_usable() {
        let mut a = dep("a", "us-east-1", "us", 0, 1);
        a.input_cost_per_token = 3.0e-6;
        let mut b = dep("b", "eu-west-1", "eu", 0, 1);
        b.input_cost_per_token = 3.3e-6;
        let mut c = dep("c", "ap-southeast-1", "apac", 0, 1);
        c.input_cost_per_token = 3.6e-6;
        let t = table(pb::RoutingStrategy::Cost, vec![c, b, a], 2);
        assert_eq!(ids(&plan_request(&t, &req("claude"), &all_up(), &mut Rng::new(1)).unwrap()), ["a", "b", "c"]);
        assert_eq!(ids(&plan_request(&t, &req("claude"), &down(&["a"]), &mut Rng::new(1)).unwrap()), ["b", "c"]);
        let r = PlanRequest { model: "claude", strategy: Some("latency-based-routing"), ..Default::default() };
        assert_eq!(plan_request(&t, &r, &all_up(), &mut Rng::new(1)).unwrap().strategy, Strategy::Latency);
    }

    /// Deployments by id that are spent or cooling down, and when each takes traffic again.
    struct Waiting(Vec<(&'static str, u64)>);

    impl DeploymentView for Waiting {
        fn usable(&self, d: &Deployment) -> bool {
            !self.0.iter().any(|(id, _)| *id == d.id)
        }
        fn ttfb_ms(&self, _: &Deployment) -> Option<f64> {
            None
        }
        fn available_in_ms(&self, d: &Deployment) -> Option<u64> {
            self.0.iter().find(|(id, _)| *id == d.id).map(|(_, ms)| *ms)
        }
    }

    #[test]
    fn retry_after_counts_the_fallbacks_of_the_name_asked_for_even_through_a_pattern() {
        let t = RouterTable::compile(&pb::RouterConfig {
            schema_version: llm_router_proto::SCHEMA_VERSION,
            strategy: pb::RoutingStrategy::Priority as i32,
            zones: vec!["us".into()],
            model_groups: vec![
                pb::ModelGroup { name: "anthropic/*".into(), deployments: vec![dep("a", "us-west-2", "us", 1, 1)] },
                pb::ModelGroup { name: "backup".into(), deployments: vec![dep("b", "us-east-1", "us", 1, 1)] },
            ],
            // LiteLLM keys fallbacks by the model the client names, here one a pattern serves.
            fallbacks: vec![pb::Fallback {
                model_group: "anthropic/claude-3".into(),
                fallback_groups: vec!["backup".into()],
            }],
            ..Default::default()
        })
        .unwrap();
        let spent = Waiting(vec![("a", 10_000), ("b", 3_000)]);
        let e = plan_request(&t, &req("anthropic/claude-3"), &spent, &mut Rng::new(1)).unwrap_err();
        assert_eq!(e.status, 429);
        assert!(e.message.contains("retry after 3 s"), "the backup is available first: {}", e.message);
    }

    #[test]
    fn fallbacks_follow_the_group_and_stay_in_the_zone() {
        let t = RouterTable::compile(&pb::RouterConfig {
            schema_version: llm_router_proto::SCHEMA_VERSION,
            strategy: pb::RoutingStrategy::Priority as i32,
            num_retries: 1,
            zones: vec!["eu".into(), "us".into()],
            model_groups: vec![
                pb::ModelGroup {
                    name: "claude".into(),
                    deployments: vec![dep("c-us", "us-west-2", "us", 1, 1), dep("c-eu", "eu-west-1", "eu", 2, 1)],
                },
                pb::ModelGroup {
                    name: "backup".into(),
                    deployments: vec![dep("b-us", "us-east-1", "us", 1, 1), dep("b-eu", "eu-central-1", "eu", 2, 1)],
                },
            ],
            fallbacks: vec![pb::Fallback { model_group: "claude".into(), fallback_groups: vec!["backup".into()] }],
            ..Default::default()
        })
        .unwrap();
        let p = plan_request(&t, &req("claude"), &all_up(), &mut Rng::new(1)).unwrap();
        assert_eq!(ids(&p), ["c-us", "c-eu", "b-us", "b-eu"]);
        let p = plan_request(&t, &req("claude"), &down(&["c-us", "c-eu"]), &mut Rng::new(1)).unwrap();
        assert_eq!(ids(&p), ["b-us", "b-eu"], "the backup group serves when the group is down");
        let eu = PlanRequest { model: "claude", residency: Some("eu"), ..Default::default() };
        let p = plan_request(&t, &eu, &down(&["c-eu"]), &mut Rng::new(1)).unwrap();
        assert_eq!(ids(&p), ["b-eu"], "fallbacks never cross the residency zone");
    }
}
