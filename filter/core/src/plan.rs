//! The routing decision: which deployments a request may use, and in what order.
//!
//! The first deployment of the plan serves the first attempt; each retry (Envoy's, driven by
//! the priority group cluster specifier) takes the next one. Residency is applied before
//! anything else and is never relaxed, so no attempt of a plan can leave the zone.

use crate::table::{Deployment, Group, RouterTable, Strategy};
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

/// Builds the plan. `usable(d)` says whether a deployment is out of cooldown right now.
pub fn plan_request<'t>(
    table: &'t RouterTable,
    req: &PlanRequest<'_>,
    usable: &dyn Fn(&Deployment) -> bool,
    rng: &mut Rng,
) -> Result<Plan<'t>, RequestError> {
    let group = table.groups.get(req.model).ok_or_else(|| {
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
        Some(name) => Strategy::from_name(name).ok_or_else(|| {
            RequestError::bad_request(
                "invalid_routing_strategy",
                format!(
                    "x-llm-routing-strategy '{name}' is unknown; use priority-routing, simple-shuffle, \
                     latency-based-routing or cost-based-routing"
                ),
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
    let mut attempts = ordered_usable(table, group, strategy, &in_zone, usable, req.preferred_region, rng);
    attempts.truncate(table.num_retries as usize + 1);
    // Fallback groups come after the group's own deployments, within the same residency.
    for name in &group.fallbacks {
        if let Some(fallback) = table.groups.get(name) {
            let mut more = ordered_usable(table, fallback, strategy, &in_zone, usable, req.preferred_region, rng);
            more.truncate(table.num_retries as usize + 1);
            attempts.extend(more);
        }
    }

    if attempts.is_empty() {
        let message = match zone {
            Some(z) => format!("no healthy deployment of '{}' in zone '{z}'; the request was not sent outside the zone", req.model),
            None => format!("no healthy deployment of '{}': every deployment is cooling down", req.model),
        };
        return Err(RequestError::unavailable(message));
    }
    Ok(Plan { attempts, strategy })
}

fn ordered_usable<'t>(
    table: &'t RouterTable,
    group: &Group,
    strategy: Strategy,
    in_zone: &dyn Fn(&Deployment) -> bool,
    usable: &dyn Fn(&Deployment) -> bool,
    preferred_region: Option<&str>,
    rng: &mut Rng,
) -> Vec<&'t Deployment> {
    let candidates: Vec<&Deployment> = group
        .deployments
        .iter()
        .filter_map(|&i| table.deployments.get(i))
        .filter(|d| in_zone(d) && usable(d))
        .collect();
    let mut ordered = order(candidates, strategy, rng);
    if let Some(region) = preferred_region {
        // Stable: the preferred region first, the strategy's order otherwise unchanged.
        ordered.sort_by_key(|d| !d.region.eq_ignore_ascii_case(region.trim()));
    }
    ordered
}

/// Orders candidates by the strategy. Ties (same priority, same price) are broken by a
/// weighted shuffle, so equal deployments share load by weight.
pub fn order<'t>(candidates: Vec<&'t Deployment>, strategy: Strategy, rng: &mut Rng) -> Vec<&'t Deployment> {
    let mut keyed: Vec<(f64, &Deployment)> = weighted_shuffle_keys(candidates, rng);
    match strategy {
        Strategy::Priority => keyed.sort_by(|a, b| a.1.priority.cmp(&b.1.priority).then(b.0.total_cmp(&a.0))),
        Strategy::Cost => keyed.sort_by(|a, b| {
            let ca = a.1.cost_per_token.unwrap_or(f64::INFINITY);
            let cb = b.1.cost_per_token.unwrap_or(f64::INFINITY);
            ca.total_cmp(&cb).then(b.0.total_cmp(&a.0))
        }),
        // Latency ordering needs live measurements; until a deployment has them all are
        // equal and share load by weight.
        Strategy::SimpleShuffle | Strategy::Latency => keyed.sort_by(|a, b| b.0.total_cmp(&a.0)),
    }
    keyed.into_iter().map(|(_, d)| d).collect()
}

/// Efraimidis–Spirakis keys: sorting by `u^(1/w)` descending draws a weighted random
/// permutation, so each deployment comes first with probability weight / total weight.
fn weighted_shuffle_keys<'t>(candidates: Vec<&'t Deployment>, rng: &mut Rng) -> Vec<(f64, &'t Deployment)> {
    candidates
        .into_iter()
        .map(|d| (rng.next_unit().powf(1.0 / f64::from(d.weight.max(1))), d))
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
            vec![dep("c", "eu-west-1", "eu", 3, 1), dep("a", "us-west-2", "us", 1, 1), dep("b", "us-east-1", "us", 2, 1)],
            2,
        );
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            let p = plan_request(&t, &req("claude"), &|_| true, &mut rng).unwrap();
            assert_eq!(ids(&p), ["a", "b", "c"]);
            assert_eq!(p.max_retries(), 2);
        }
    }

    #[test]
    fn retries_limit_the_plan() {
        let t = table(
            pb::RoutingStrategy::Priority,
            vec![dep("a", "us-west-2", "us", 1, 1), dep("b", "us-east-1", "us", 2, 1), dep("c", "eu-west-1", "eu", 3, 1)],
            1,
        );
        let p = plan_request(&t, &req("claude"), &|_| true, &mut Rng::new(1)).unwrap();
        assert_eq!(ids(&p), ["a", "b"]);
    }

    #[test]
    fn cooling_down_deployments_are_skipped() {
        let t = table(
            pb::RoutingStrategy::Priority,
            vec![dep("a", "us-west-2", "us", 1, 1), dep("b", "us-east-1", "us", 2, 1)],
            2,
        );
        let p = plan_request(&t, &req("claude"), &|d| d.id != "a", &mut Rng::new(1)).unwrap();
        assert_eq!(ids(&p), ["b"]);
        let e = plan_request(&t, &req("claude"), &|_| false, &mut Rng::new(1)).unwrap_err();
        assert_eq!(e.status, 503);
    }

    #[test]
    fn residency_never_leaves_the_zone() {
        let t = table(
            pb::RoutingStrategy::Priority,
            vec![dep("us1", "us-west-2", "us", 1, 1), dep("eu1", "eu-west-1", "eu", 2, 1), dep("eu2", "europe-west1", "eu", 3, 1)],
            5,
        );
        let r = PlanRequest { model: "claude", residency: Some("eu"), ..Default::default() };
        let p = plan_request(&t, &r, &|_| true, &mut Rng::new(1)).unwrap();
        assert_eq!(ids(&p), ["eu1", "eu2"]);
        let e = plan_request(&t, &r, &|d| d.zone != "eu", &mut Rng::new(1)).unwrap_err();
        assert_eq!(e.status, 503);
        assert!(e.message.contains("zone 'eu'"));
        let unknown = PlanRequest { model: "claude", residency: Some("mars"), ..Default::default() };
        assert_eq!(plan_request(&t, &unknown, &|_| true, &mut Rng::new(1)).unwrap_err().status, 400);
    }

    #[test]
    fn preferred_region_goes_first_only_when_usable() {
        let t = table(
            pb::RoutingStrategy::Priority,
            vec![dep("a", "us-west-2", "us", 1, 1), dep("b", "eu-west-1", "eu", 2, 1)],
            2,
        );
        let r = PlanRequest { model: "claude", preferred_region: Some("eu-west-1"), ..Default::default() };
        assert_eq!(ids(&plan_request(&t, &r, &|_| true, &mut Rng::new(1)).unwrap()), ["b", "a"]);
        assert_eq!(ids(&plan_request(&t, &r, &|d| d.id != "b", &mut Rng::new(1)).unwrap()), ["a"]);
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
            .filter(|_| plan_request(&t, &req("claude"), &|_| true, &mut rng).unwrap().attempts[0].id == "a")
            .count();
        let share = firsts_a as f64 / n as f64;
        assert!((share - 0.40).abs() < 0.02, "share of a = {share}");
    }

    #[test]
    fn unknown_model_and_strategy_are_client_errors() {
        let t = table(pb::RoutingStrategy::Priority, vec![dep("a", "us-west-2", "us", 1, 1)], 0);
        let e = plan_request(&t, &req("gpt-9"), &|_| true, &mut Rng::new(1)).unwrap_err();
        assert_eq!((e.status, e.code), (400, "model_not_found"));
        let r = PlanRequest { model: "claude", strategy: Some("fastest"), ..Default::default() };
        assert_eq!(plan_request(&t, &r, &|_| true, &mut Rng::new(1)).unwrap_err().status, 400);
    }
}
