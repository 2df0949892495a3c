//! Weighted routing (the seed's troubleshooting example), streaming, and the gateway's own
//! endpoints, against a real Envoy with the filter.

mod common;

use std::time::Duration;

use common::{bedrock_region, chat_body, Gateway};
use llm_router_e2e::{Load, MockRegion, Req};
use serde_json::json;

#[test]
fn weights_40_60_split_2000_requests_within_five_points() {
    let us = bedrock_region("us-west-2");
    let eu = bedrock_region("eu-west-1");
    // The seed's block, with api_base and the regions added (a model name's last segment is
    // not read as a region).
    let yaml = format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: bedrock/.../us-west-2\n      aws_region_name: us-west-2\n      api_base: {}\n    weight: 40 # 40% traffic\n  - model_name: claude\n    litellm_params:\n      model: bedrock/.../eu-west-1\n      aws_region_name: eu-west-1\n      api_base: {}\n    weight: 60 # 60% traffic\n",
        us.url(),
        eu.url()
    );
    let gw = Gateway::start(&yaml);
    let mut load = Load::new(&gw.chat_url(), &chat_body("claude"));
    load.max_requests = 2000;
    load.max_duration = Duration::from_secs(60);
    load.concurrency = 8;
    let r = load.run();
    assert_eq!(r.failed, 0, "{:?}", r.errors);
    assert_eq!(r.ok, 2000);
    let us_share = *r.by_region.get("us-west-2").unwrap_or(&0) as f64 / 2000.0;
    assert!((us_share - 0.40).abs() <= 0.05, "us-west-2 share {us_share:.3} (want 0.40 ± 0.05): {:?}", r.by_region);
    assert_eq!(us.requests() + eu.requests(), 2000, "each request reached exactly one region");
}

#[test]
fn the_first_sse_chunk_reaches_the_client_before_the_upstream_finishes() {
    let us = MockRegion::start("us-west-2");
    let yaml = format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      region_name: us-west-2\n",
        us.url()
    );
    let gw = Gateway::start(&yaml);
    us.set_mode(json!({"mode": "ok", "chunk_delay_ms": 400, "chunks": 5}));
    let r = Req::post(&gw.chat_url())
        .json(&json!({"model": "claude", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .timeout(Duration::from_secs(20))
        .send_stream()
        .expect("stream");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap_or_default().starts_with("text/event-stream"));
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-west-2"));
    let first = r.first_chunk_at.expect("a first chunk");
    assert!(
        first + Duration::from_millis(1500) < r.end_at,
        "first chunk at {first:?}, stream ended at {:?}: the stream was buffered",
        r.end_at
    );
    assert!(r.done(), "{}", r.text());
    assert_eq!(r.sse_content(), "hello from us-west-2");
    assert_eq!(us.last_body()["model"], "gpt-4o");
}

#[test]
fn health_models_and_per_region_metrics() {
    let us = MockRegion::start("us-west-2");
    let eu = MockRegion::start("eu-west-1");
    let yaml = format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: openai/m\n      api_base: {}/v1\n      region_name: us-west-2\n  - model_name: claude\n    litellm_params:\n      model: openai/m\n      api_base: {}/v1\n      region_name: eu-west-1\nrouter_settings:\n  gateway_region: us-west-2\n",
        us.url(),
        eu.url()
    );
    let gw = Gateway::start(&yaml);
    for _ in 0..20 {
        assert_eq!(gw.chat("claude", &[]).status, 200);
    }
    let health = gw.health();
    assert_eq!(health["region"], "us-west-2");
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["deployments"].as_array().map(Vec::len), Some(2));

    let models = llm_router_e2e::get(&gw.url("/v1/models")).json();
    assert_eq!(models["data"][0]["id"], "claude");

    let us_n = gw.metric_sum("litellm_requests_total", &["region=\"us-west-2\"", "model=\"claude\""]);
    let eu_n = gw.metric_sum("litellm_requests_total", &["region=\"eu-west-1\""]);
    assert_eq!(us_n + eu_n, 20.0, "per-region request counters");
    assert_eq!(us_n as u64, us.requests());
    // Histograms reach the admin page at Envoy's stats flush (every 5 s by default).
    llm_router_e2e::poll_until(std::time::Duration::from_secs(12), "latency histogram per region", || {
        let n = gw.metric_sum("litellm_request_duration_ms_count", &["region=\"us-west-2\""]);
        (n as u64 == us.requests()).then_some(())
    });
    // Every deployment's series exist before anything happens to it, and health is a gauge.
    let stats = gw.envoy.stats_prometheus();
    assert!(
        stats
            .lines()
            .any(|l| l.starts_with("litellm_errors_total{") && l.contains("region=\"eu-west-1\"") && l.ends_with(" 0")),
        "error counters start at 0: {stats}"
    );
    assert_eq!(gw.metric_sum("llm_router_deployment_healthy", &[]), 2.0, "both deployments healthy");
    // Envoy's own per-region clusters are on the admin page.
    let clusters = gw.envoy.admin_get("/clusters");
    assert!(clusters.contains("llm-claude-us-west-2@us-west-2::"), "{clusters}");
}
