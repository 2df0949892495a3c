//! Seed pattern 1 (active-passive, priority-routing) against a real Envoy with the filter.

mod common;

use std::time::{Duration, Instant};

use common::{bedrock_region, chat_body, Gateway};
use llm_router_e2e::{poll_until, Load, MockRegion};
use serde_json::json;

const MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";

/// The seed's pattern 1 YAML, each deployment given an `api_base` at a mock Bedrock region
/// (which checks SigV4 and Converse bodies), with a short cooldown so the test can watch the
/// primary come back.
fn pattern_1(regions: &[&MockRegion; 3], router_extra: &str) -> String {
    let mut yaml = String::from("model_list:\n");
    for (i, r) in regions.iter().enumerate() {
        yaml += &format!(
            "  - model_name: claude-global\n    litellm_params:\n      model: bedrock/{MODEL}\n      aws_region_name: {}\n      api_base: {}/v1\n    priority: {}\n",
            r.region(),
            r.url(),
            i + 1
        );
    }
    yaml += "router_settings:\n  routing_strategy: \"priority-routing\"\n  num_retries: 2\n  allowed_fails: 3\n  cooldown_time: 3\n";
    yaml += router_extra;
    yaml
}

fn three_regions() -> [MockRegion; 3] {
    [bedrock_region("us-west-2"), bedrock_region("us-east-1"), bedrock_region("eu-west-1")]
}

#[test]
fn primary_takes_all_traffic_and_a_stopped_primary_costs_clients_no_errors() {
    let [mut us_west, us_east, eu_west] = three_regions();
    let gw = Gateway::start(&pattern_1(&[&us_west, &us_east, &eu_west], ""));
    let load = |secs: u64| {
        let mut l = Load::new(&gw.chat_url(), &chat_body("claude-global"));
        l.max_requests = 100_000;
        l.max_duration = Duration::from_secs(secs);
        l.concurrency = 8;
        l
    };

    let warm = {
        let mut l = load(10);
        l.max_requests = 200;
        l.run()
    };
    assert_eq!(warm.failed, 0, "{:?}", warm.errors);
    assert_eq!(warm.by_region.get("us-west-2"), Some(&200), "all traffic to priority 1: {:?}", warm.by_region);

    // Stop the primary while requests are running.
    let during = std::thread::scope(|s| {
        let running = s.spawn(|| load(4).run());
        std::thread::sleep(Duration::from_millis(1500));
        us_west.kill();
        running.join().expect("load thread")
    });
    assert_eq!(during.failed, 0, "no client request fails while priority 2 is healthy: {:?}", during.errors);
    assert!(during.by_region.get("us-east-1").copied().unwrap_or(0) > 0, "{:?}", during.by_region);
    assert_eq!(during.by_region.get("eu-west-1"), None, "priority 3 stays idle: {:?}", during.by_region);
    assert!(during.sent > 50, "the load really ran: {during:?}");

    let health = gw.health();
    let primary = health["deployments"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["region"] == "us-west-2"))
        .cloned()
        .expect("primary in /health");
    assert!(primary["cooldowns"].as_u64().unwrap_or(0) >= 1, "{health}");
    assert!(gw.metric_sum("llm_router_cooldowns_total", &["region=\"us-west-2\""]) >= 1.0);
    assert!(gw.metric_sum("litellm_errors_total", &["region=\"us-west-2\""]) >= 3.0);
    poll_until(Duration::from_secs(3), "the health gauge shows the primary down", || {
        (gw.metric_sum("llm_router_deployment_healthy", &["region=\"us-west-2\""]) == 0.0).then_some(())
    });

    // The primary comes back; after the cooldown it takes the traffic again.
    us_west.restart();
    let back_at = Instant::now();
    poll_until(Duration::from_secs(15), "primary serves again after cooldown_time", || {
        (gw.chat("claude-global", &[]).header("x-llm-region").as_deref() == Some("us-west-2")).then_some(())
    });
    let after = {
        let mut l = load(10);
        l.max_requests = 50;
        l.run()
    };
    assert_eq!(after.failed, 0, "{:?}", after.errors);
    assert_eq!(after.by_region.get("us-west-2"), Some(&50), "{:?}", after.by_region);
    assert!(back_at.elapsed() < Duration::from_secs(15));
}

#[test]
fn a_failing_primary_is_retried_on_the_next_region_within_the_same_request() {
    let [us_west, us_east, eu_west] = three_regions();
    let gw = Gateway::start(&pattern_1(&[&us_west, &us_east, &eu_west], ""));
    us_west.set_mode(json!({"mode": "error", "status": 503}));
    let r = gw.chat("claude-global", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-east-1"));
    assert_eq!(r.header("x-envoy-attempt-count").as_deref(), Some("2"));
    assert_eq!(us_east.stats()["last_model"], MODEL, "the deployment's model id was sent upstream");
    assert_eq!(us_east.last_auth()["verified"], true, "signed for us-east-1");

    // 429 is a region failure too.
    us_west.set_mode(json!({"mode": "ok"}));
    us_east.set_mode(json!({"mode": "rate_limit"}));
    let r = gw.chat("claude-global", &[("x-llm-region", "us-east-1")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-west-2"), "429 moved to the next region");

    // Both earlier regions failing: the third serves, still one client request.
    us_west.set_mode(json!({"mode": "reset"}));
    us_east.set_mode(json!({"mode": "error", "status": 500}));
    let r = gw.chat("claude-global", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("eu-west-1"));
}

#[test]
fn a_hanging_primary_is_a_failure_not_an_outage() {
    let [us_west, us_east, eu_west] = three_regions();
    // A non-streaming request: every attempt streams upstream (issue 14), so a hung region
    // costs stream_timeout.
    let gw = Gateway::start(&pattern_1(&[&us_west, &us_east, &eu_west], "  stream_timeout: 0.5\n"));
    us_west.set_mode(json!({"mode": "hang"}));
    for i in 0..6 {
        let started = Instant::now();
        let r = gw.chat("claude-global", &[]);
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.header("x-llm-region").as_deref(), Some("us-east-1"));
        assert!(started.elapsed() < Duration::from_millis(2500), "request {i} took {:?}", started.elapsed());
    }
    // After allowed_fails hangs the primary cools down: no more waiting on it.
    let started = Instant::now();
    let r = gw.chat("claude-global", &[]);
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < Duration::from_millis(300), "cooled-down primary skipped: {:?}", started.elapsed());
    assert_eq!(r.header("x-envoy-attempt-count").as_deref(), Some("1"));

    // A slow stream that has started is not cut: its gaps (0.3 s) stay below stream_timeout,
    // and timeout (the whole answer) is left at its default.
    let gw = Gateway::start(&pattern_1(&[&us_west, &us_east, &eu_west], "  stream_timeout: 0.5\n"));
    let r = llm_router_e2e::Req::post(&gw.chat_url())
        .json(&json!({"model": "claude-global", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send_stream()
        .expect("stream");
    assert_eq!(r.status, 200);
    us_east.set_mode(json!({"mode": "ok", "chunk_delay_ms": 300, "chunks": 4}));
    let r = llm_router_e2e::Req::post(&gw.chat_url())
        .json(&json!({"model": "claude-global", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .timeout(Duration::from_secs(10))
        .send_stream()
        .expect("stream");
    assert_eq!(r.status, 200);
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.done(), "stream ran to [DONE] past the 0.5 s stream_timeout: {}", r.text());
    assert!(r.end_at > Duration::from_millis(1000));
}
