//! Capacity end to end (issue 15): rpm/tpm counted fleet-wide by `serve`'s rate limit service
//! (on a real Redis when gateways share one), spill-over before a 429, the client's 429 with
//! `Retry-After` when nothing is left, a provider's `retry-after` as the cooldown, and failing
//! open when Redis dies. Real Envoys, the real filter, real `serve`s, Debian's `redis-server`.

mod xds_common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llm_router_e2e::{filter_wasm, free_port, poll_until, MockRegion, Req};
use serde_json::json;
use xds_common::{chat_body, start_envoy, ControlPlane, XdsGateway};

/// `redis-server` on a free port, without persistence; killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server; scripts/setup.sh installs it)");
        poll_until(Duration::from_secs(10), "redis-server listening", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
        Redis { child, port }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One OpenAI-compatible deployment of `m` at a mock region.
fn deployment(region: &MockRegion, priority: u32, limits: &str) -> String {
    format!(
        "  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      region_name: {}\n{limits}    priority: {priority}\n",
        region.url(),
        region.region()
    )
}

fn config(deployments: &[String], router: &str) -> String {
    format!(
        "model_list:\n{}router_settings:\n  routing_strategy: priority-routing\n  num_retries: 2\n  allowed_fails: 1000\n  cooldown_time: 1\n{router}",
        deployments.concat()
    )
}

fn chat(port: u16) -> llm_router_e2e::Response {
    Req::post(&format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .json(&chat_body("m"))
        .timeout(Duration::from_secs(10))
        .send()
        .expect("the gateway answers")
}

/// A second gateway on the same config: its own `serve` (counting on the same Redis) and Envoy.
fn second_gateway(first: &XdsGateway) -> (ControlPlane, llm_router_e2e::Envoy, u16) {
    let port = free_port();
    let cp = ControlPlane::start(&first.config_path(), &filter_wasm(), port, &[]);
    let envoy = start_envoy(&cp, "envoy-2", &[]);
    (cp, envoy, port)
}

fn metric(envoy: &llm_router_e2e::Envoy, name: &str, needle: &str) -> f64 {
    envoy
        .stats_prometheus()
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn two_gateways_share_rpm_20_on_redis_and_spill_over_to_the_backup() {
    let limited = MockRegion::start("us-west-2");
    let backup = MockRegion::start("us-east-1");
    let redis = Redis::start();
    let yaml = config(
        &[deployment(&limited, 1, "      rpm: 20\n"), deployment(&backup, 2, "")],
        &format!("  redis_host: 127.0.0.1\n  redis_port: {}\n", redis.port),
    );
    let a = XdsGateway::start(&yaml);
    let (_cp_b, envoy_b, port_b) = second_gateway(&a);
    // 60 requests within 20 s, alternating between the two gateways.
    let started = Instant::now();
    let mut statuses = Vec::new();
    for i in 0..60 {
        let r = chat(if i % 2 == 0 { a.port } else { port_b });
        statuses.push(r.status);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(statuses.iter().all(|&s| s == 200), "no client errors: {statuses:?}");
    let (served_limited, served_backup) = (limited.served_ok(), backup.served_ok());
    println!("limited served {served_limited}, backup {served_backup}");
    assert!((18..=22).contains(&served_limited), "the limited deployment serves 20 (±2): {served_limited}");
    assert_eq!(served_limited + served_backup, 60);
    // Each gateway learned once that the budget was spent (from an attempt it refused, or from
    // the service's count), skipped the deployment until its minute ends, and counted every
    // request that went to the backup instead as a spillover.
    let mut spilled = 0.0;
    for envoy in [&a.envoy, &envoy_b] {
        assert_eq!(metric(envoy, "llm_router_cooldowns_total", "cause=\"limit\""), 1.0);
        assert!(metric(envoy, "llm_router_limit_rejections_total", "region=\"us-west-2\"") <= 1.0);
        spilled += metric(envoy, "llm_router_spillover_total", "region=\"us-west-2\"");
    }
    assert_eq!(spilled, served_backup as f64, "every request the backup served spilled over");
    assert_eq!(metric(&a.envoy, "llm_router_deployment_rpm_remaining", "region=\"us-west-2\""), 0.0);
}

#[test]
fn without_a_backup_20_are_served_and_the_rest_get_429_with_retry_after() {
    let limited = MockRegion::start("us-west-2");
    let gw = XdsGateway::start(&config(&[deployment(&limited, 1, "      rpm: 20\n")], ""));
    let mut ok = 0;
    for _ in 0..30 {
        let r = chat(gw.port);
        match r.status {
            200 => ok += 1,
            429 => {
                let retry_after: u64 = r.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After");
                assert!((1..=60).contains(&retry_after), "{retry_after}");
                let body = r.json();
                assert_eq!(body["error"]["type"], "rate_limit_error", "OpenAI's error shape: {body}");
            }
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    assert_eq!(ok, 20);
    assert_eq!(limited.served_ok(), 20, "nothing beyond the budget reached the provider");
}

#[test]
fn a_provider_s_retry_after_4_keeps_the_deployment_away_for_about_4_s() {
    let throttled = MockRegion::start("us-west-2");
    let other = MockRegion::start("us-east-1");
    let gw = XdsGateway::start(&config(&[deployment(&throttled, 1, ""), deployment(&other, 2, "")], ""));
    assert_eq!(chat(gw.port).header("x-llm-region").as_deref(), Some("us-west-2"));
    throttled.set_mode(json!({"mode": "rate_limit", "retry_after": "4", "count": 1}));
    let before = throttled.requests();
    let started = Instant::now();
    let r = chat(gw.port);
    assert_eq!((r.status, r.header("x-llm-region").as_deref()), (200, Some("us-east-1")));
    // cooldown_time is 1 s; the provider asked for 4: nothing goes there for about 4 s.
    while started.elapsed() < Duration::from_millis(3_600) {
        assert_eq!(chat(gw.port).header("x-llm-region").as_deref(), Some("us-east-1"));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(throttled.requests(), before + 1, "only the throttled request reached it");
    poll_until(Duration::from_secs(3), "back on us-west-2", || {
        (chat(gw.port).header("x-llm-region").as_deref() == Some("us-west-2")).then_some(())
    });
    let back_after = started.elapsed();
    assert!(back_after >= Duration::from_secs(4) && back_after < Duration::from_millis(5_500), "{back_after:?}");
    assert_eq!(metric(&gw.envoy, "llm_router_cooldowns_total", "cause=\"provider_retry_after\""), 1.0);
}

#[test]
fn tpm_from_the_answers_usage_limits_a_deployment_by_tokens() {
    let limited = MockRegion::start("us-west-2");
    let backup = MockRegion::start("us-east-1");
    // The mock answers this prompt with 7 tokens (2 in, 5 out): 150 is 21 answers.
    let gw = XdsGateway::start(&config(&[deployment(&limited, 1, "      tpm: 150\n"), deployment(&backup, 2, "")], ""));
    let first = chat(gw.port);
    let tokens = first.json()["usage"]["total_tokens"].as_u64().expect("usage");
    let mut served_limited = 0;
    for _ in 0..40 {
        let r = chat(gw.port);
        assert_eq!(r.status, 200, "{}", r.text());
        if r.header("x-llm-region").as_deref() == Some("us-west-2") {
            served_limited += 1;
        }
        // Tokens are settled every 500 ms: pace the requests so the count keeps up.
        std::thread::sleep(Duration::from_millis(120));
    }
    let budget = 150 / tokens;
    println!("{tokens} tokens per answer: limited served {} (budget {budget})", served_limited + 1);
    assert!(served_limited + 1 >= budget && served_limited < budget + 6, "{served_limited} vs {budget}");
    assert!(backup.served_ok() >= 40 - served_limited);
    assert!(metric(&gw.envoy, "llm_router_cooldowns_total", "cause=\"limit\"") >= 1.0);
}

#[test]
fn with_redis_killed_requests_keep_being_served_and_the_metric_shows_it() {
    let limited = MockRegion::start("us-west-2");
    let mut redis = Redis::start();
    let yaml = config(
        &[deployment(&limited, 1, "      rpm: 1000\n")],
        &format!("  redis_host: 127.0.0.1\n  redis_port: {}\n", redis.port),
    );
    let gw = XdsGateway::start(&yaml);
    for _ in 0..5 {
        assert_eq!(chat(gw.port).status, 200);
    }
    assert!(metric(&gw.envoy, "llm_router_deployment_rpm_remaining", "region=\"us-west-2\"") >= 990.0);
    redis.kill();
    let started = Instant::now();
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let r = chat(gw.port);
        latencies.push(t.elapsed());
        assert_eq!(r.status, 200, "served with the counter gone: {}", r.text());
    }
    println!("20 requests with Redis down in {:?} (slowest {:?})", started.elapsed(), latencies.iter().max());
    assert_eq!(limited.served_ok(), 25);
    assert!(metric(&gw.envoy, "llm_router_ratelimit_unavailable_total", "region=\"us-west-2\"") >= 1.0);
    assert!(gw.cp.metric("llm_router_ratelimit_backend_errors_total") >= 1.0, "serve counts the backend errors");
}
