//! Seed pattern 2 (active-active, latency-based) and the cost section: routing that learns
//! from live traffic, per-request strategy, model fallbacks — against a real Envoy.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{bedrock_region, chat_body, Gateway};
use llm_router_e2e::{Load, LoadReport, MockRegion};
use serde_json::json;

const MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";

fn batch(gw: &Gateway, n: u64, headers: &[(&str, &str)]) -> LoadReport {
    let mut l = Load::new(&gw.chat_url(), &chat_body("claude-global"));
    for (k, v) in headers {
        l = l.header(k, v);
    }
    l.max_requests = n;
    l.max_duration = Duration::from_secs(30);
    l.concurrency = 4;
    let r = l.run();
    assert_eq!(r.failed, 0, "{:?}", r.errors);
    r
}

fn share(r: &LoadReport, region: &str) -> f64 {
    *r.by_region.get(region).unwrap_or(&0) as f64 / r.ok.max(1) as f64
}

/// The seed's pattern 2 block with an api_base per deployment.
fn pattern_2(regions: &[(&MockRegion, &str)]) -> String {
    let mut yaml = String::from("model_list:\n");
    for (mock, label) in regions {
        yaml += &format!(
            "  - model_name: claude-global\n    litellm_params:\n      model: bedrock/{MODEL}\n      aws_region_name: {}\n      api_base: {}/v1\n      metadata:\n        region: \"{label}\"\n        latency_target: 50 # ms\n",
            mock.region(),
            mock.url()
        );
    }
    yaml + "router_settings:\n  routing_strategy: \"latency-based-routing\"\n  num_retries: 2\n  health_check_interval: 30\n"
}

#[test]
fn latency_routing_follows_the_fastest_region_and_notices_changes() {
    let us = bedrock_region("us-west-2");
    let eu = bedrock_region("eu-west-1");
    let ap = bedrock_region("ap-southeast-1");
    for (m, ms) in [(&us, 20), (&eu, 80), (&ap, 150)] {
        m.set_mode(json!({"mode": "ok", "latency_ms": ms}));
    }
    let gw = Gateway::start(&pattern_2(&[(&us, "us-west"), (&eu, "eu-west"), (&ap, "ap-southeast")]));

    batch(&gw, 60, &[]); // warm-up: every region gets samples
    let steady = batch(&gw, 300, &[]);
    let fast = share(&steady, "us-west");
    println!("steady state shares: {:?}", steady.by_region);
    assert!(fast >= 0.90, "at least 90% to the fastest region, got {fast:.3}: {:?}", steady.by_region);
    assert!(steady.by_region.len() >= 2, "the others keep being probed: {:?}", steady.by_region);

    // The fastest region slows to 300 ms: traffic moves within a few seconds.
    us.set_mode(json!({"mode": "ok", "latency_ms": 300}));
    let slowed = Instant::now();
    let moved_after = loop {
        let r = batch(&gw, 20, &[]);
        if share(&r, "eu-west") >= 0.8 {
            break slowed.elapsed();
        }
        assert!(slowed.elapsed() < Duration::from_secs(10), "traffic did not move: {:?}", r.by_region);
    };
    println!("moved away from the slowed region after {moved_after:?}");
    assert!(moved_after < Duration::from_secs(5), "{moved_after:?}");

    // It recovers: traffic moves back.
    us.set_mode(json!({"mode": "ok", "latency_ms": 20}));
    let recovered = Instant::now();
    let back_after = loop {
        let r = batch(&gw, 20, &[]);
        if share(&r, "us-west") >= 0.8 {
            break recovered.elapsed();
        }
        assert!(recovered.elapsed() < Duration::from_secs(20), "traffic did not come back: {:?}", r.by_region);
    };
    println!("moved back to the recovered region after {back_after:?}");

    // Residency holds throughout: EU-resident requests stay in the EU even though the US is fastest.
    let eu_only = batch(&gw, 40, &[("x-llm-residency", "eu")]);
    assert_eq!(eu_only.by_region.keys().collect::<Vec<_>>(), ["eu-west"], "{:?}", eu_only.by_region);

    let health = gw.health();
    let ttfb: BTreeMap<String, f64> = health["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| (d["region"].as_str().unwrap_or_default().to_string(), d["ttfb_ms"].as_f64().unwrap_or(-1.0)))
        .collect();
    assert!(ttfb["us-west"] < ttfb["eu-west"] && ttfb["eu-west"] < ttfb["ap-southeast"], "{ttfb:?}");
}

#[test]
fn cost_routing_picks_the_cheapest_healthy_region_and_requests_can_ask_for_latency() {
    let east = bedrock_region("us-east-1");
    let eu = bedrock_region("eu-west-1");
    let mut ap = bedrock_region("ap-southeast-1");
    east.set_mode(json!({"mode": "ok", "latency_ms": 120}));
    eu.set_mode(json!({"mode": "ok", "latency_ms": 60}));
    ap.set_mode(json!({"mode": "ok", "latency_ms": 5}));
    // The seed's per-region prices (Claude 3.5 Sonnet input, per token).
    let mut yaml = String::from("model_list:\n");
    for (m, price) in [(&ap, "0.0000036"), (&eu, "0.0000033"), (&east, "0.000003")] {
        yaml += &format!(
            "  - model_name: claude-global\n    litellm_params:\n      model: bedrock/{MODEL}\n      aws_region_name: {}\n      api_base: {}/v1\n    model_info:\n      input_cost_per_token: {price}\n      output_cost_per_token: 0.000015\n",
            m.region(),
            m.url()
        );
    }
    yaml += "router_settings:\n  routing_strategy: cost-based-routing\n  num_retries: 2\n  allowed_fails: 1\n  cooldown_time: 30\n";
    let gw = Gateway::start(&yaml);

    let batch_job = batch(&gw, 40, &[]);
    assert_eq!(batch_job.by_region.get("us-east-1"), Some(&40), "cheapest first: {:?}", batch_job.by_region);

    // Interactive traffic through the same gateway asks for latency per request.
    batch(&gw, 40, &[("x-llm-routing-strategy", "latency-based-routing")]);
    let interactive = batch(&gw, 100, &[("x-llm-routing-strategy", "latency-based-routing")]);
    assert!(share(&interactive, "ap-southeast-1") >= 0.9, "{:?}", interactive.by_region);

    // The cheapest region fails: the next cheapest healthy one serves.
    ap.kill();
    east.set_mode(json!({"mode": "error", "status": 503}));
    let r = batch(&gw, 40, &[]);
    assert_eq!(r.by_region.get("eu-west-1"), Some(&40), "{:?}", r.by_region);
}

#[test]
fn fallbacks_serve_from_the_backup_group_and_never_cross_the_zone() {
    let us = bedrock_region("us-west-2");
    let eu = bedrock_region("eu-west-1");
    let backup = MockRegion::start_with("us-east-1", Some("gpt-4o"));
    let yaml = format!(
        r#"model_list:
  - model_name: claude-global
    litellm_params:
      model: bedrock/{MODEL}
      aws_region_name: us-west-2
      api_base: {}/v1
    priority: 1
  - model_name: claude-global
    litellm_params:
      model: bedrock/{MODEL}
      aws_region_name: eu-west-1
      api_base: {}/v1
    priority: 2
  - model_name: claude-backup
    litellm_params:
      model: openai/gpt-4o
      region_name: us-east-1
      api_base: {}/v1
router_settings:
  routing_strategy: priority-routing
  num_retries: 2
  allowed_fails: 2
  cooldown_time: 30
  fallbacks: [{{"claude-global": ["claude-backup"]}}]
"#,
        us.url(),
        eu.url(),
        backup.url()
    );
    let gw = Gateway::start(&yaml);
    assert_eq!(gw.chat("claude-global", &[]).header("x-llm-region").as_deref(), Some("us-west-2"));

    // Every deployment of the group fails: the backup group answers within the same request.
    us.set_mode(json!({"mode": "error", "status": 500}));
    eu.set_mode(json!({"mode": "error", "status": 503}));
    let r = gw.chat("claude-global", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-deployment").as_deref(), Some("claude-backup-us-east-1"));
    assert_eq!(r.header("x-envoy-attempt-count").as_deref(), Some("3"));
    assert_eq!(backup.last_body()["model"], "gpt-4o", "the backup deployment's own model id");
    let r = batch(&gw, 40, &[]);
    assert_eq!(r.by_region.get("us-east-1"), Some(&40), "{:?}", r.by_region);

    // An EU-resident request never falls back to the US backup.
    let before = backup.requests();
    let r = gw.chat("claude-global", &[("x-llm-residency", "eu")]);
    assert!(matches!(r.status, 503 | 429), "{}", r.text());
    assert_eq!(backup.requests(), before);
}
