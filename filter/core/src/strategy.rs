//! The routing strategies: the one definition that the YAML (`router_settings.routing_strategy`),
//! the per-request header (`x-llm-routing-strategy`), the filter's protobuf config and the
//! route planner all use. Adding a strategy is a new variant here; the compiler then points at
//! every `match` that must learn it.

use llm_router_proto as pb;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// `priority-routing`: lowest priority value first, the rest as failover (active-passive).
    Priority,
    /// `simple-shuffle` (LiteLLM's default): weighted random order.
    SimpleShuffle,
    /// `latency-based-routing`: fastest time to first byte first (active-active).
    Latency,
    /// `cost-based-routing`: cheapest first.
    Cost,
    /// `usage-based-routing-v2` (and `usage-based-routing`): the lowest used share of its
    /// rpm/tpm in the current minute first, from the fleet-wide counts.
    UsageBased,
}

/// LiteLLM strategy names this gateway does not implement, and the strategy it uses for each.
const MAPPED: &[(&str, Strategy)] = &[("least-busy", Strategy::Latency)];

/// LiteLLM's older name for usage-based routing: the same strategy here (both count
/// fleet-wide, on the rate limit service).
const USAGE_BASED_V1: &str = "usage-based-routing";

/// A strategy name as read from the YAML or a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedStrategy {
    pub strategy: Strategy,
    /// Set when the name is LiteLLM's but not implemented here: the name that was mapped.
    pub mapped_from: Option<&'static str>,
}

impl Strategy {
    /// Every strategy, in the order they are listed to users.
    pub const ALL: [Strategy; 5] =
        [Strategy::Priority, Strategy::Latency, Strategy::SimpleShuffle, Strategy::Cost, Strategy::UsageBased];

    /// LiteLLM's name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Priority => "priority-routing",
            Strategy::SimpleShuffle => "simple-shuffle",
            Strategy::Latency => "latency-based-routing",
            Strategy::Cost => "cost-based-routing",
            Strategy::UsageBased => "usage-based-routing-v2",
        }
    }

    /// LiteLLM's names of the strategies implemented here, for messages.
    pub fn names() -> Vec<&'static str> {
        Strategy::ALL.iter().map(|s| s.name()).collect()
    }

    /// Reads a strategy name: one of [`Strategy::names`], or another LiteLLM name mapped to the
    /// nearest implemented strategy (`mapped_from` says so). None for anything else.
    pub fn parse(name: &str) -> Option<ParsedStrategy> {
        if let Some(s) = Strategy::ALL.iter().find(|s| s.name() == name) {
            return Some(ParsedStrategy { strategy: *s, mapped_from: None });
        }
        if name == USAGE_BASED_V1 {
            return Some(ParsedStrategy { strategy: Strategy::UsageBased, mapped_from: None });
        }
        MAPPED.iter().find(|(n, _)| *n == name).map(|(n, s)| ParsedStrategy { strategy: *s, mapped_from: Some(n) })
    }

    pub fn to_proto(self) -> pb::RoutingStrategy {
        match self {
            Strategy::Priority => pb::RoutingStrategy::Priority,
            Strategy::SimpleShuffle => pb::RoutingStrategy::SimpleShuffle,
            Strategy::Latency => pb::RoutingStrategy::Latency,
            Strategy::Cost => pb::RoutingStrategy::Cost,
            Strategy::UsageBased => pb::RoutingStrategy::UsageBased,
        }
    }

    /// The proto's value; an unspecified or unknown value is LiteLLM's default, simple-shuffle.
    pub fn from_proto(value: i32) -> Strategy {
        match pb::RoutingStrategy::try_from(value) {
            Ok(pb::RoutingStrategy::Priority) => Strategy::Priority,
            Ok(pb::RoutingStrategy::Latency) => Strategy::Latency,
            Ok(pb::RoutingStrategy::Cost) => Strategy::Cost,
            Ok(pb::RoutingStrategy::UsageBased) => Strategy::UsageBased,
            Ok(pb::RoutingStrategy::SimpleShuffle | pb::RoutingStrategy::Unspecified) | Err(_) => {
                Strategy::SimpleShuffle
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_litellm_names_are_mapped() {
        for s in Strategy::ALL {
            assert_eq!(Strategy::parse(s.name()), Some(ParsedStrategy { strategy: s, mapped_from: None }));
            assert_eq!(Strategy::from_proto(s.to_proto() as i32), s);
        }
        for usage in ["usage-based-routing", "usage-based-routing-v2"] {
            let parsed = Strategy::parse(usage).unwrap();
            assert_eq!((parsed.strategy, parsed.mapped_from), (Strategy::UsageBased, None), "{usage}");
        }
        assert_eq!(Strategy::parse("least-busy").unwrap().strategy, Strategy::Latency);
        assert_eq!(Strategy::parse("fastest"), None);
        assert_eq!(Strategy::parse("Priority-Routing"), None, "LiteLLM's names are exact");
        assert_eq!(Strategy::from_proto(0), Strategy::SimpleShuffle);
    }
}
