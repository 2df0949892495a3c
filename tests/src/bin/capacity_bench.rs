//! `capacity-bench`: what the fleet-wide rpm/tpm check adds to a request. One `llm-router
//! serve` (counting in memory, or on a local `redis-server` with `--redis`) and one Envoy
//! following it; two model groups on the same mock, one without limits and one with an rpm and
//! a tpm too large to be reached, so every request of the second pays the check (the router
//! role's gRPC call to the rate limit service, before the plan goes to Envoy) and nothing else
//! differs. Measured in interleaved rounds (the order alternating), the difference reported as
//! the median over rounds, with the range.
//!
//! A benchmark, not a test: it prints figures and asserts nothing.
//!
//!   cargo run --release -p llm-router-e2e --bin capacity-bench -- --rounds 10 --seconds 2 --concurrency 1 [--redis]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Parser;
use llm_router_e2e::{
    filter_wasm, free_port, llm_router_bin, poll_until, Envoy, Load, LoadReport, MockRegion, Req, TempDir,
};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Measured seconds per group per round (after a 2 s warm-up of each).
    #[arg(long, default_value_t = 2)]
    seconds: u64,
    /// Interleaved rounds.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Count on a local redis-server (started here) instead of in memory.
    #[arg(long)]
    redis: bool,
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let args = Args::parse();
    let mock = MockRegion::start("us-west-2");
    let mut redis_settings = String::new();
    let _redis = args.redis.then(|| {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        poll_until(Duration::from_secs(10), "redis-server", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
        redis_settings = format!("  redis_host: 127.0.0.1\n  redis_port: {port}\n");
        Process(child)
    });
    let deployment = |group: &str, limits: &str| {
        format!(
            "  - model_name: {group}\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      region_name: us-west-2\n{limits}",
            mock.url()
        )
    };
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  num_retries: 0\n{redis_settings}",
        deployment("plain", ""),
        deployment("limited", "      rpm: 1000000000\n      tpm: 1000000000\n"),
    );
    let dir = TempDir::new("capacity-bench");
    let config = dir.path().join("litellm.yaml");
    std::fs::write(&config, yaml).expect("write config");
    let (port, xds, metrics) = (free_port(), free_port(), free_port());
    let serve = Process(
        Command::new(llm_router_bin())
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--filter-wasm")
            .arg(filter_wasm())
            .args(["--port", &port.to_string(), "--listen-address", "127.0.0.1", "--region", "us-west-2"])
            .args(["--xds-addr", &format!("127.0.0.1:{xds}"), "--metrics-addr", &format!("127.0.0.1:{metrics}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("llm-router serve"),
    );
    poll_until(Duration::from_secs(20), "serve /readyz", || {
        let r = Req::get(&format!("http://127.0.0.1:{metrics}/readyz")).send().ok()?;
        (r.status == 200).then_some(())
    });
    let admin = free_port();
    let bootstrap = Command::new(llm_router_bin())
        .args(["bootstrap", "--xds-addr", &format!("127.0.0.1:{xds}"), "--admin-port", &admin.to_string()])
        .output()
        .expect("llm-router bootstrap");
    let _envoy = Envoy::start(&String::from_utf8_lossy(&bootstrap.stdout), admin);
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    poll_until(Duration::from_secs(20), "the gateway serves both groups", || {
        let ok = |g: &str| {
            let r = Req::post(&url).json(&json!({"model": g, "messages": [{"role": "user", "content": "hi"}]})).send();
            r.is_ok_and(|r| r.status == 200)
        };
        (ok("plain") && ok("limited")).then_some(())
    });
    let load = |group: &str, seconds: u64| {
        let mut l = Load::new(&url, &json!({"model": group, "messages": [{"role": "user", "content": "hello"}]}));
        l.concurrency = args.concurrency;
        l.max_requests = u64::MAX;
        l.max_duration = Duration::from_secs(seconds);
        l.run()
    };
    load("plain", 2);
    load("limited", 2);
    let (mut plain, mut limited): (Vec<LoadReport>, Vec<LoadReport>) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        if round % 2 == 0 {
            plain.push(load("plain", args.seconds));
            limited.push(load("limited", args.seconds));
        } else {
            limited.push(load("limited", args.seconds));
            plain.push(load("plain", args.seconds));
        }
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    println!(
        "\n{} rounds x {} s per group, {} connection(s), counting {}\n",
        args.rounds,
        args.seconds,
        args.concurrency,
        if args.redis { "on Redis" } else { "in memory" }
    );
    println!("| group | requests | failed | p50 | p99 |\n|---|---|---|---|---|");
    for (name, reports) in [("no limit", &plain), ("rpm + tpm checked", &limited)] {
        println!(
            "| {name} | {} | {} | {:.0} us | {:.0} us |",
            reports.iter().map(|r| r.sent).sum::<u64>(),
            reports.iter().map(|r| r.failed).sum::<u64>(),
            median(reports.iter().map(|r| us(r.p50)).collect()),
            median(reports.iter().map(|r| us(r.p99)).collect()),
        );
    }
    for (what, pick) in [("p50", (|r: &LoadReport| r.p50) as fn(&LoadReport) -> Duration), ("p99", |r| r.p99)] {
        let diffs: Vec<f64> = plain.iter().zip(&limited).map(|(p, l)| us(pick(l)) - us(pick(p))).collect();
        let (lo, hi) = diffs.iter().fold((f64::MAX, f64::MIN), |(lo, hi), d| (lo.min(*d), hi.max(*d)));
        println!(
            "added by the check, {what} (median of rounds): {:+.0} us (rounds {lo:+.0} .. {hi:+.0} us)",
            median(diffs)
        );
    }
    drop(serve);
}
