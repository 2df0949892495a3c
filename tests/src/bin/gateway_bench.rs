//! `gateway-bench`: what the filter costs. Runs the same Envoy 1.40 twice against the same
//! mock region — once as a plain proxy (the baseline), once with the llm-router filter from
//! `llm-router render` — and prints p50/p99 latency, throughput, Envoy's start time and
//! memory for both. A benchmark, not a test: it prints figures and asserts nothing.
//!
//!   cargo run --release -p llm-router-e2e --bin gateway-bench -- --seconds 10 --concurrency 8

use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use llm_router_e2e::{filter_wasm, free_port, llm_router_bin, poll_until, Envoy, Load, LoadReport, MockRegion, Req, TempDir};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Measured seconds per configuration (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Prompt size in bytes.
    #[arg(long, default_value_t = 2048)]
    prompt_bytes: usize,
}

struct Run {
    name: &'static str,
    start: Duration,
    report: LoadReport,
    rss_before_kib: u64,
    rss_after_kib: u64,
}

fn main() {
    let args = Args::parse();
    let region = MockRegion::start("us-west-2");
    let body = json!({
        "model": "claude",
        "messages": [{"role": "user", "content": "x".repeat(args.prompt_bytes)}],
    });
    let baseline = run("envoy, no filter", &baseline_config(&region), &args, &body);
    let filtered = run("envoy + filter, OpenAI pass-through", &filter_config(&region, &openai_deployment(&region)), &args, &body);
    // The same gateway speaking Bedrock: Converse translation in wasm and SigV4 by Envoy.
    std::env::set_var("AWS_ACCESS_KEY_ID", BENCH_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", BENCH_SECRET);
    let bedrock = MockRegion::start_args(
        "us-west-2",
        &[
            "--provider",
            "bedrock",
            "--aws-access-key-id",
            BENCH_KEY_ID,
            "--aws-secret-access-key",
            BENCH_SECRET,
            // Measure the gateway's translation and signing, not the mock's verification
            // (the e2e tests verify every signature).
            "--bench-skip-signature-check",
        ],
    );
    let translated = run("envoy + filter, Bedrock (translated, signed)", &filter_config(&bedrock, &bedrock_deployment(&bedrock)), &args, &body);

    println!("\n| configuration | start to ready | requests/s | p50 | p99 | Envoy RSS before | after | failed |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in [&baseline, &filtered, &translated] {
        println!(
            "| {} | {:.0} ms | {:.0} | {:.2} ms | {:.2} ms | {} MiB | {} MiB | {} |",
            r.name,
            r.start.as_secs_f64() * 1e3,
            r.report.ok as f64 / r.report.elapsed.as_secs_f64(),
            r.report.p50.as_secs_f64() * 1e3,
            r.report.p99.as_secs_f64() * 1e3,
            r.rss_before_kib / 1024,
            r.rss_after_kib / 1024,
            r.report.failed,
        );
    }
    println!(
        "\nadded by the filter: p50 {:+.3} ms, p99 {:+.3} ms, throughput {:+.1}%",
        (filtered.report.p50.as_secs_f64() - baseline.report.p50.as_secs_f64()) * 1e3,
        (filtered.report.p99.as_secs_f64() - baseline.report.p99.as_secs_f64()) * 1e3,
        (rate(&filtered.report) / rate(&baseline.report) - 1.0) * 100.0,
    );
    println!(
        "Bedrock over OpenAI pass-through: p50 {:+.3} ms, p99 {:+.3} ms ({} translated requests, RSS {} -> {} MiB)",
        (translated.report.p50.as_secs_f64() - filtered.report.p50.as_secs_f64()) * 1e3,
        (translated.report.p99.as_secs_f64() - filtered.report.p99.as_secs_f64()) * 1e3,
        translated.report.ok,
        translated.rss_before_kib / 1024,
        translated.rss_after_kib / 1024,
    );
    let wasm = std::fs::metadata(filter_wasm()).map(|m| m.len()).unwrap_or(0);
    println!("filter module: {} ({} KiB)", filter_wasm().display(), wasm / 1024);
}

fn rate(r: &LoadReport) -> f64 {
    r.ok as f64 / r.elapsed.as_secs_f64().max(1e-9)
}

fn run(name: &'static str, config: &(String, u16, u16), args: &Args, body: &serde_json::Value) -> Run {
    let (yaml, port, admin) = config;
    let t0 = Instant::now();
    let envoy = Envoy::start(yaml, *admin);
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    poll_until(Duration::from_secs(20), "first answer", || {
        Req::post(&url).json(body).send().ok().filter(|r| r.status == 200)
    });
    let start = t0.elapsed();
    let mut load = Load::new(&url, body);
    load.concurrency = args.concurrency;
    load.max_requests = u64::MAX;
    load.max_duration = Duration::from_secs(2);
    load.run();
    let rss_before_kib = rss_kib(envoy.pid());
    load.max_duration = Duration::from_secs(args.seconds);
    let report = load.run();
    let rss_after_kib = rss_kib(envoy.pid());
    eprintln!("{name}: {} ok, {} failed in {:?}", report.ok, report.failed, report.elapsed);
    Run { name, start, report, rss_before_kib, rss_after_kib }
}

fn rss_kib(pid: Option<u32>) -> u64 {
    let Some(pid) = pid else { return 0 };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The same listener and cluster without the filter: a plain Envoy proxy.
fn baseline_config(region: &MockRegion) -> (String, u16, u16) {
    let (port, admin) = (free_port(), free_port());
    let yaml = format!(
        r#"
admin: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}}}
static_resources:
  listeners:
  - name: plain
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: plain
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{{match: {{prefix: "/"}}, route: {{cluster: region}}}}]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}
  clusters:
  - name: region
    type: STATIC
    load_assignment:
      cluster_name: region
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {}}}}}}}}}]}}]
"#,
        region.port()
    );
    (yaml, port, admin)
}

const BENCH_KEY_ID: &str = "AKIDBENCHMARK0001";
const BENCH_SECRET: &str = "bench-secret-not-a-real-key";

fn openai_deployment(region: &MockRegion) -> String {
    format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: openai/claude\n      api_base: {}/v1\n      region_name: us-west-2\n",
        region.url()
    )
}

fn bedrock_deployment(region: &MockRegion) -> String {
    format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0\n      aws_region_name: us-west-2\n      api_base: {}\n",
        region.url()
    )
}

/// A one-deployment gateway rendered by `llm-router render`.
fn filter_config(_region: &MockRegion, litellm_yaml: &str) -> (String, u16, u16) {
    let (port, admin) = (free_port(), free_port());
    let dir = TempDir::new("bench");
    let path = dir.path().join("litellm.yaml");
    std::fs::write(&path, litellm_yaml).expect("write config");
    let out = Command::new(llm_router_bin())
        .args(["render", "--config"])
        .arg(&path)
        .arg("--filter-wasm")
        .arg(filter_wasm())
        .args(["--port", &port.to_string(), "--admin-port", &admin.to_string(), "--listen-address", "127.0.0.1"])
        .output()
        .expect("run llm-router render");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).expect("utf-8"), port, admin)
}
