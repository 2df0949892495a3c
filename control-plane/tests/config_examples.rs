//! Every shipped example (the seed's config blocks) loads, and means what the seed says.

use std::path::PathBuf;

use llm_router::config::{self, Config, Loaded, Provider, Strategy};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name)
}

fn load_example(name: &str) -> Loaded {
    match config::load(&example(name)) {
        Ok(l) => l,
        Err(diags) => {
            let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            panic!("{name} does not validate:\n{}", text.join("\n"));
        }
    }
}

fn regions(c: &Config) -> Vec<&str> {
    c.deployments.iter().map(|d| d.region.as_str()).collect()
}

fn hosts(c: &Config) -> Vec<&str> {
    c.deployments.iter().map(|d| d.endpoint.host.as_str()).collect()
}

#[test]
fn every_example_loads() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let name = path.file_name().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let loaded = load_example(&name);
        println!("== {name}\n{}", config::summary(&loaded.config));
        // Vertex deployments need a service-account key, which this machine does not have:
        // that warning is about the environment, not the example.
        let warnings: Vec<_> =
            loaded.warnings.iter().filter(|w| !w.message.contains("has no usable Vertex credentials")).collect();
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        n += 1;
    }
    assert!(n >= 8, "expected the 8 seed examples, found {n}");
}

#[test]
fn active_passive() {
    let c = load_example("active-passive.yaml").config;
    assert_eq!(c.router.strategy, Strategy::Priority);
    assert_eq!(regions(&c), vec!["us-west-2", "us-east-1", "eu-west-1"]);
    let prio: Vec<Option<u32>> = c.deployments.iter().map(|d| d.priority).collect();
    assert_eq!(prio, vec![Some(1), Some(2), Some(3)]);
    assert_eq!((c.router.num_retries, c.router.allowed_fails, c.router.cooldown_time_s), (2, 5, 300.0));
    assert_eq!(hosts(&c)[0], "bedrock-runtime.us-west-2.amazonaws.com");
    assert_eq!(c.zones, vec!["eu", "us"]);
    assert!(c
        .deployments
        .iter()
        .all(|d| d.provider == Provider::Bedrock && d.provider_model == "anthropic.claude-3-5-sonnet-20241022-v2:0"));
}

#[test]
fn active_active_latency() {
    let c = load_example("active-active-latency.yaml").config;
    assert_eq!(c.router.strategy, Strategy::Latency);
    // metadata.region names the region; aws_region_name is where the calls go.
    assert_eq!(regions(&c), vec!["us-west", "eu-west", "ap-southeast"]);
    assert_eq!(
        hosts(&c),
        vec![
            "bedrock-runtime.us-west-2.amazonaws.com",
            "bedrock-runtime.eu-west-1.amazonaws.com",
            "bedrock-runtime.ap-southeast-1.amazonaws.com"
        ]
    );
    assert!(c.deployments.iter().all(|d| d.latency_target_ms == Some(50)));
    assert_eq!(c.zones, vec!["apac", "eu", "us"]);
    assert_eq!((c.router.health_check_interval_s, c.router.health_check_timeout_s), (Some(30.0), Some(5.0)));
}

#[test]
fn residency_gateways() {
    let eu = load_example("residency-eu-gateway.yaml").config;
    assert_eq!(eu.router.allowed_regions, Some(vec!["europe-west1".to_string(), "europe-west3".to_string()]));
    assert_eq!((eu.deployments[0].provider.prefix(), eu.deployments[0].region.as_str()), ("vertex_ai", "europe-west1"));
    assert_eq!(eu.deployments[0].provider_model, "claude-3-5-sonnet@20241022");
    assert_eq!(hosts(&eu), vec!["europe-west1-aiplatform.googleapis.com"]);
    assert_eq!(eu.zones, vec!["eu"]);
    let us = load_example("residency-us-gateway.yaml").config;
    assert_eq!(regions(&us), vec!["us-west-2"]);
    assert_eq!(us.zones, vec!["us"]);
}

#[test]
fn deployment_models() {
    let single = load_example("single-gateway.yaml").config;
    assert_eq!(single.router.strategy, Strategy::Latency);
    assert_eq!(regions(&single), vec!["us-west-2", "eu-west-1", "ap-southeast-1"]);
    assert_eq!(single.model_groups(), vec!["claude"]);
    let regional = load_example("regional-us-west.yaml").config;
    assert_eq!(regional.router.strategy, Strategy::Priority);
    // No priorities: model_list order (local region first) is the failover order.
    assert_eq!(regions(&regional), vec!["us-west-2", "us-east-1"]);
    assert!(regional.deployments.iter().all(|d| d.priority.is_none()));
}

#[test]
fn health_checks() {
    let c = load_example("health-checks.yaml").config;
    let r = &c.router;
    assert_eq!((r.health_check_interval_s, r.health_check_timeout_s), (Some(30.0), Some(5.0)));
    assert_eq!((r.allowed_fails, r.cooldown_time_s), (3, 60.0));
}

#[test]
fn weighted() {
    let l = load_example("weighted.yaml");
    let c = &l.config;
    assert_eq!(c.router.strategy, Strategy::SimpleShuffle);
    let w: Vec<u32> = c.deployments.iter().map(|d| d.weight).collect();
    assert_eq!(w, vec![40, 60]);
    // The seed names the regions only at the end of the model names, which is not read as a
    // region: the example says them with aws_region_name.
    assert_eq!(regions(c), vec!["us-west-2", "eu-west-1"]);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}
