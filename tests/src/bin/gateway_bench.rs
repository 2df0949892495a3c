//! `gateway-bench`: what the filter costs. Runs the same Envoy 1.40 three ways against the
//! same kind of mock region — a plain proxy (the baseline), the llm-router filter passing
//! OpenAI through, and the filter translating to Bedrock Converse with SigV4 by Envoy — and
//! prints p50/p99 latency, throughput, Envoy's start time and memory for each. The three
//! Envoys run side by side and are measured in interleaved rounds (the order rotating each
//! round), so slow drifts of the machine hit all three alike; differences are reported as the
//! median over rounds, with the range.
//!
//! With `--stream-seconds`, it also streams (`--chunks` events `--chunk-delay-ms` apart) and
//! measures each content chunk's time from the mock's write to the client's read: both run on
//! this machine and share its clock.
//!
//! With `--breakdown`, it measures instead where the filter chain's cost goes: the rendered
//! OpenAI pass-through gateway with its parts taken away one at a time (the access log, the
//! upstream wasm filter, header-to-metadata and the Lua route-cache clear, the router wasm
//! filter, the priority group cluster specifier), each against the next, down to the plain
//! proxy.
//!
//! A benchmark, not a test: it prints figures and asserts nothing.
//!
//!   cargo run --release -p llm-router-e2e --bin gateway-bench -- --rounds 10 --seconds 2 --concurrency 1
//!   cargo run --release -p llm-router-e2e --bin gateway-bench -- --breakdown --rounds 10 --seconds 2

use std::io::Read as _;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use llm_router_e2e::{
    filter_wasm, free_port, llm_router_bin, poll_until, Envoy, Load, LoadReport, MockRegion, Req, TempDir,
};
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    /// Measured seconds per configuration per round (after a 2 s warm-up of each).
    #[arg(long, default_value_t = 2)]
    seconds: u64,
    /// Interleaved rounds.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Prompt size in bytes.
    #[arg(long, default_value_t = 2048)]
    prompt_bytes: usize,
    /// Seconds of streaming per configuration (one stream at a time); 0 = no streaming figures.
    #[arg(long, default_value_t = 0)]
    stream_seconds: u64,
    /// Content chunks per stream.
    #[arg(long, default_value_t = 16)]
    chunks: u32,
    /// Delay between streamed chunks at the mock.
    #[arg(long, default_value_t = 10)]
    chunk_delay_ms: u64,
    /// Diagnostics: how the Bedrock path signs — `signed` (what the gateway does), or, to see
    /// where the time goes, `unsigned-payload` or `none` (the mock does not check).
    #[arg(long, default_value = "signed")]
    bedrock_signing: String,
    /// Where the cost goes: the chain with its parts taken away one at a time.
    #[arg(long)]
    breakdown: bool,
    /// The OpenAI mock answers whole (one JSON body) even when the gateway asks it to stream,
    /// as a canned upstream (nginx) does; without it, the gateway's streamed attempts get the
    /// mock's stream (`--chunks` events) and assemble it.
    #[arg(long)]
    whole_answers: bool,
}

/// One configuration: its Envoy (none when the mock is called directly), URL and mock.
struct Target<'m> {
    name: &'static str,
    envoy: Option<Envoy>,
    /// The request body (the mock called directly takes its own API's body).
    body: Value,
    url: String,
    mock: &'m MockRegion,
    start: Duration,
    rss_before_kib: u64,
    rounds: Vec<LoadReport>,
}

const BENCH_KEY_ID: &str = "AKIDBENCHMARK0001";
const BENCH_SECRET: &str = "bench-secret-not-a-real-key";

fn main() {
    let args = Args::parse();
    let chunk_args =
        ["--chunks".to_string(), args.chunks.to_string(), "--chunk-delay-ms".into(), args.chunk_delay_ms.to_string()];
    let mut openai_args: Vec<&str> = vec!["--bench-record-stream-times"];
    openai_args.extend(chunk_args.iter().map(String::as_str));
    let region = MockRegion::start_args("us-west-2", &openai_args);
    if args.breakdown {
        breakdown(&args, &region);
        return;
    }
    // The same gateway speaking Bedrock: Converse translation in wasm and SigV4 by Envoy.
    std::env::set_var("AWS_ACCESS_KEY_ID", BENCH_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", BENCH_SECRET);
    let mut bedrock_args = vec![
        "--provider",
        "bedrock",
        "--aws-access-key-id",
        BENCH_KEY_ID,
        "--aws-secret-access-key",
        BENCH_SECRET,
        // Measure the gateway's translation and signing, not the mock's verification
        // (the e2e tests verify every signature).
        "--bench-skip-signature-check",
    ];
    bedrock_args.extend(openai_args.iter());
    let bedrock = MockRegion::start_args("us-west-2", &bedrock_args);
    let body = json!({
        "model": "claude",
        "messages": [{"role": "user", "content": "x".repeat(args.prompt_bytes)}],
    });

    // The same prompt as Bedrock's Converse API takes it, for calling the Bedrock mock directly.
    let converse = json!({"messages": [{"role": "user", "content": [{"text": "x".repeat(args.prompt_bytes)}]}]});
    let mut targets = vec![
        target("envoy, no filter", baseline_config(&region), &region, &body),
        target("envoy + filter, OpenAI pass-through", filter_config(&openai_deployment(&region)), &region, &body),
        target(
            "envoy + filter, Bedrock (translated, signed)",
            signing(filter_config(&bedrock_deployment(&bedrock)), &args.bedrock_signing),
            &bedrock,
            &body,
        ),
        // The mocks alone: their own cost differs (Converse parsing, event framing), and that
        // difference is not the gateway's.
        direct("mock alone, OpenAI", format!("{}/v1/chat/completions", region.url()), &region, &body),
        direct(
            "mock alone, Bedrock Converse",
            format!("{}/model/{BEDROCK_MODEL}/converse", bedrock.url()),
            &bedrock,
            &converse,
        ),
    ];
    // Every chat attempt streams upstream (issue 14), so the filter's requests get the mock's
    // stream: with no gap between its events here, as the baseline's whole answer has none;
    // the paced chunks are for the streaming figures below.
    region.set_mode(json!({"mode": "ok", "chunk_delay_ms": 0, "whole_answers": args.whole_answers}));
    bedrock.set_mode(json!({"mode": "ok", "chunk_delay_ms": 0}));
    measure_in_rounds(&mut targets, &args);

    println!(
        "\n{} rounds x {} s per configuration, {} connection(s), {} B prompt\n",
        args.rounds, args.seconds, args.concurrency, args.prompt_bytes
    );
    println!(
        "| configuration | start to ready | requests/s | p50 | p99 | requests | Envoy RSS before | after | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for t in &targets {
        let rss = |kib: u64| if t.envoy.is_some() { format!("{} MiB", kib / 1024) } else { "-".into() };
        let ok: u64 = t.rounds.iter().map(|r| r.ok).sum();
        let failed: u64 = t.rounds.iter().map(|r| r.failed).sum();
        let secs: f64 = t.rounds.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        println!(
            "| {} | {:.0} ms | {:.0} | {:.3} ms | {:.3} ms | {} | {} | {} | {} |",
            t.name,
            t.start.as_secs_f64() * 1e3,
            ok as f64 / secs.max(1e-9),
            median(t.rounds.iter().map(|r| ms(r.p50)).collect()),
            median(t.rounds.iter().map(|r| ms(r.p99)).collect()),
            ok,
            rss(t.rss_before_kib),
            rss(rss_kib(t.envoy.as_ref().and_then(Envoy::pid))),
            failed,
        );
    }
    let diff = |a: &Target, b: &Target, f: fn(&LoadReport) -> f64| -> (f64, f64, f64) {
        let d: Vec<f64> = a.rounds.iter().zip(&b.rounds).map(|(x, y)| f(x) - f(y)).collect();
        let (lo, hi) = d.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        (median(d), lo, hi)
    };
    let p50 = |r: &LoadReport| ms(r.p50);
    let p99 = |r: &LoadReport| ms(r.p99);
    let rate = |r: &LoadReport| r.ok as f64 / r.elapsed.as_secs_f64().max(1e-9);
    let (d50, l50, h50) = diff(&targets[1], &targets[0], p50);
    let (d99, _, _) = diff(&targets[1], &targets[0], p99);
    let (rt, _, _) = diff(&targets[1], &targets[0], rate);
    println!(
        "\nadded by the filter (median of rounds): p50 {d50:+.3} ms (rounds {l50:+.3} .. {h50:+.3}), p99 {d99:+.3} ms, throughput {:+.1}%",
        rt / median(targets[0].rounds.iter().map(rate).collect()) * 100.0
    );
    let (b50, bl, bh) = diff(&targets[2], &targets[1], p50);
    let (b99, _, _) = diff(&targets[2], &targets[1], p99);
    println!(
        "Bedrock over OpenAI pass-through (median of rounds): p50 {:+.0} us (rounds {:+.0} .. {:+.0} us), p99 {b99:+.3} ms",
        b50 * 1e3,
        bl * 1e3,
        bh * 1e3
    );
    let (m50, ml, mh) = diff(&targets[4], &targets[3], p50);
    // Per round: (Bedrock - OpenAI through the gateway) - (Bedrock - OpenAI at the mocks alone).
    let net: Vec<f64> = (0..args.rounds)
        .map(|r| {
            let at = |t: usize| ms(targets[t].rounds[r].p50);
            (at(2) - at(1)) - (at(4) - at(3))
        })
        .collect();
    let (nl, nh) = net.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    println!(
        "of which the mocks alone (Bedrock mock over OpenAI mock): p50 {:+.0} us (rounds {:+.0} .. {:+.0} us)\n\
         the gateway's own cost of Bedrock translation and signing: p50 {:+.0} us (rounds {:+.0} .. {:+.0} us)",
        m50 * 1e3,
        ml * 1e3,
        mh * 1e3,
        median(net.clone()) * 1e3,
        nl * 1e3,
        nh * 1e3
    );

    if args.stream_seconds > 0 {
        for m in [&region, &bedrock] {
            m.set_mode(json!({"mode": "ok", "chunk_delay_ms": args.chunk_delay_ms}));
        }
        println!(
            "\nstreaming: {} chunks {} ms apart per stream, one stream at a time, {} s per configuration",
            args.chunks, args.chunk_delay_ms, args.stream_seconds
        );
        println!("time from the mock's write of a content chunk to the client's read of it:\n");
        println!("| configuration | streams | chunks | p50 | p99 | max | first content p50 | first content p99 |");
        println!("|---|---|---|---|---|---|---|---|");
        let mut p99s = Vec::new();
        for t in targets.iter().filter(|t| t.envoy.is_some()) {
            let (streams, mut lat, mut first) = stream_latencies(t, args.stream_seconds);
            lat.sort_by(f64::total_cmp);
            first.sort_by(f64::total_cmp);
            let q = |v: &[f64], p: f64| {
                v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1))).copied().unwrap_or(f64::NAN)
            };
            println!(
                "| {} | {} | {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |",
                t.name,
                streams,
                lat.len(),
                q(&lat, 0.5),
                q(&lat, 0.99),
                lat.last().copied().unwrap_or(f64::NAN),
                q(&first, 0.5),
                q(&first, 0.99),
            );
            p99s.push((q(&lat, 0.5), q(&lat, 0.99)));
        }
        println!(
            "\nper chunk, Bedrock event stream -> OpenAI SSE over OpenAI pass-through: p50 {:+.3} ms, p99 {:+.3} ms; over plain Envoy: p50 {:+.3} ms, p99 {:+.3} ms",
            p99s[2].0 - p99s[1].0,
            p99s[2].1 - p99s[1].1,
            p99s[2].0 - p99s[0].0,
            p99s[2].1 - p99s[0].1,
        );
    }
    let wasm = std::fs::metadata(filter_wasm()).map(|m| m.len()).unwrap_or(0);
    println!("\nfilter module: {} ({} KiB)", filter_wasm().display(), wasm / 1024);
}

/// Each part of the chain and the rendered gateway without it, from the whole chain down to
/// the plain proxy: each configuration is the previous one less one part.
fn breakdown(args: &Args, region: &MockRegion) {
    let body = json!({
        "model": "claude",
        "messages": [{"role": "user", "content": "x".repeat(args.prompt_bytes)}],
    });
    region.set_mode(json!({"mode": "ok", "chunk_delay_ms": 0, "whole_answers": args.whole_answers}));
    let (full, port, admin) = filter_config(&openai_deployment(region));
    let cluster = "llm-claude-us-west-2@us-west-2";
    let no_log = cut(&full, "          access_log:", "          local_reply_config:");
    let no_upstream =
        cut(&no_log, "        - name: llm_router_upstream.", "        - name: envoy.filters.http.upstream_codec");
    // Without the plan in metadata the priority group specifier takes its "no-plan" group:
    // pointed at the deployment, the request still goes there.
    let router_only = cut(
        &no_upstream,
        "          - name: envoy.filters.http.header_to_metadata",
        "          - name: envoy.filters.http.lua",
    );
    let router_only =
        cut(&router_only, "          - name: envoy.filters.http.lua", "          - name: envoy.filters.http.router")
            .replace("- cluster_name: llm_router_no_route", &format!("- cluster_name: {cluster}"));
    let with_lua = {
        let lua = section(
            &no_upstream,
            "          - name: envoy.filters.http.lua",
            "          - name: envoy.filters.http.router",
        );
        router_only.replace(
            "          - name: envoy.filters.http.router",
            &format!("{lua}          - name: envoy.filters.http.router"),
        )
    };
    let specifier_only =
        cut(&router_only, "          - name: llm_router\n", "          - name: envoy.filters.http.router");
    let configs: Vec<(&'static str, String)> = vec![
        ("whole chain (as rendered)", full),
        ("less the access log", no_log),
        ("less the upstream wasm filter", no_upstream),
        ("less header-to-metadata", with_lua),
        ("less the Lua route-cache clear", router_only),
        ("less the router wasm filter", specifier_only),
    ];
    let mut targets: Vec<Target> = configs
        .into_iter()
        .map(|(name, yaml)| {
            let (p, a) = (free_port(), free_port());
            let yaml = yaml
                .replace(&format!("port_value: {port}"), &format!("port_value: {p}"))
                .replace(&format!("port_value: {admin}"), &format!("port_value: {a}"));
            target(name, (yaml, p, a), region, &body)
        })
        .collect();
    targets.push(target("plain proxy (no filter, no specifier)", baseline_config(region), region, &body));
    measure_in_rounds(&mut targets, args);
    println!(
        "\n{} rounds x {} s per configuration, {} connection(s), {} B prompt, OpenAI pass-through, upstream answers {}\n",
        args.rounds,
        args.seconds,
        args.concurrency,
        args.prompt_bytes,
        if args.whole_answers { "whole (canned)".to_string() } else { format!("streamed ({} content events)", args.chunks) }
    );
    println!("| configuration | requests/s | p50 | p99 | failed | part taken away next | its p50 | its p99 |");
    println!("|---|---|---|---|---|---|---|---|");
    let p50 = |r: &LoadReport| ms(r.p50) * 1e3;
    let p99 = |r: &LoadReport| ms(r.p99) * 1e3;
    let parts = [
        "access log",
        "upstream wasm filter (per attempt)",
        "header-to-metadata (the plan)",
        "Lua route-cache clear",
        "router wasm filter",
        "priority group specifier",
    ];
    for (i, t) in targets.iter().enumerate() {
        let ok: u64 = t.rounds.iter().map(|r| r.ok).sum();
        let failed: u64 = t.rounds.iter().map(|r| r.failed).sum();
        let secs: f64 = t.rounds.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        let (part, d50, d99) = match targets.get(i + 1) {
            Some(next) => {
                let d = |f: &dyn Fn(&LoadReport) -> f64| {
                    median(t.rounds.iter().zip(&next.rounds).map(|(a, b)| f(a) - f(b)).collect())
                };
                (parts[i], format!("{:+.0} us", d(&p50)), format!("{:+.0} us", d(&p99)))
            }
            None => ("-", "-".into(), "-".into()),
        };
        println!(
            "| {} | {:.0} | {:.3} ms | {:.3} ms | {} | {} | {} | {} |",
            t.name,
            ok as f64 / secs.max(1e-9),
            median(t.rounds.iter().map(|r| ms(r.p50)).collect()),
            median(t.rounds.iter().map(|r| ms(r.p99)).collect()),
            failed,
            part,
            d50,
            d99
        );
    }
    let whole = &targets[0];
    let plain = &targets[targets.len() - 1];
    let added: Vec<f64> = whole.rounds.iter().zip(&plain.rounds).map(|(a, b)| p50(a) - p50(b)).collect();
    let rate = |t: &Target| {
        t.rounds.iter().map(|r| r.ok).sum::<u64>() as f64
            / t.rounds.iter().map(|r| r.elapsed.as_secs_f64()).sum::<f64>()
    };
    println!(
        "\nwhole chain over the plain proxy: p50 {:+.0} us (median of rounds), throughput {:.0}% of the plain proxy's",
        median(added),
        rate(whole) / rate(plain) * 100.0
    );
}

/// The YAML without the lines from the one starting with `from` up to (not including) the
/// next one starting with `to`.
fn cut(yaml: &str, from: &str, to: &str) -> String {
    let s = section(yaml, from, to);
    yaml.replacen(&s, "", 1)
}

/// The lines from the one starting with `from` up to (not including) the next one starting
/// with `to`.
fn section(yaml: &str, from: &str, to: &str) -> String {
    let start = yaml.find(&format!("\n{}", from.trim_end_matches('\n'))).map(|i| i + 1).unwrap_or_else(|| {
        panic!("the rendered config has no line starting with {from:?}; update gateway-bench's breakdown")
    });
    let end = start
        + 1
        + yaml[start + 1..]
            .find(&format!("\n{to}"))
            .unwrap_or_else(|| panic!("no line starting with {to:?} after {from:?}"))
        + 1;
    yaml[start..end].to_string()
}

/// A 2 s warm-up of each target (its Envoy's memory noted after it), then `args.rounds`
/// interleaved rounds, the order rotating each round so that slow drifts of the machine hit
/// every target alike.
fn measure_in_rounds(targets: &mut [Target], args: &Args) {
    for t in targets.iter_mut() {
        measure(t, args.concurrency, Duration::from_secs(2));
        t.rss_before_kib = rss_kib(t.envoy.as_ref().and_then(Envoy::pid));
    }
    for round in 0..args.rounds {
        for k in 0..targets.len() {
            let i = (round + k) % targets.len();
            let report = measure(&targets[i], args.concurrency, Duration::from_secs(args.seconds));
            targets[i].rounds.push(report);
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn target<'m>(name: &'static str, config: (String, u16, u16), mock: &'m MockRegion, body: &Value) -> Target<'m> {
    let (yaml, port, admin) = config;
    let t0 = Instant::now();
    let envoy = Envoy::start(&yaml, admin);
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    poll_until(Duration::from_secs(20), "first answer", || {
        Req::post(&url).json(body).send().ok().filter(|r| r.status == 200)
    });
    Target {
        name,
        envoy: Some(envoy),
        body: body.clone(),
        url,
        mock,
        start: t0.elapsed(),
        rss_before_kib: 0,
        rounds: Vec::new(),
    }
}

fn direct<'m>(name: &'static str, url: String, mock: &'m MockRegion, body: &Value) -> Target<'m> {
    Target {
        name,
        envoy: None,
        body: body.clone(),
        url,
        mock,
        start: Duration::ZERO,
        rss_before_kib: 0,
        rounds: Vec::new(),
    }
}

fn measure(t: &Target, concurrency: usize, duration: Duration) -> LoadReport {
    let mut load = Load::new(&t.url, &t.body);
    load.concurrency = concurrency;
    load.max_requests = u64::MAX;
    load.max_duration = duration;
    let report = load.run();
    if report.failed > 0 {
        eprintln!("{}: {} failed: {:?}", t.name, report.failed, report.errors.first());
    }
    report
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Streams for `secs` and returns (streams, per-content-chunk latencies in ms): each content
/// chunk's read time at the client minus its write time at the mock. In both the mock's
/// OpenAI stream and its Bedrock event stream, writes 1..=n carry the n content pieces (write
/// 0 is the role / messageStart event). The third list is the first content chunk's alone: the
/// one the filter holds the response for (with everything before it).
fn stream_latencies(t: &Target, secs: u64) -> (usize, Vec<f64>, Vec<f64>) {
    let client = reqwest::blocking::Client::builder().no_proxy().build().expect("client");
    let body = json!({"model": "claude", "stream": true, "messages": [{"role": "user", "content": "hello"}]});
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut streams, mut out, mut first) = (0, Vec::new(), Vec::new());
    while Instant::now() < deadline {
        let Ok(mut resp) = client.post(&t.url).json(&body).send() else { continue };
        let mut arrivals = Vec::new();
        let mut pending = String::new();
        let mut buf = [0u8; 16384];
        while let Ok(n) = resp.read(&mut buf) {
            if n == 0 {
                break;
            }
            let now = unix_nanos();
            pending.push_str(&String::from_utf8_lossy(&buf[..n]));
            while let Some(end) = pending.find("\n\n") {
                let event: String = pending.drain(..end + 2).collect();
                let data = event.trim().strip_prefix("data: ").unwrap_or("");
                let content = serde_json::from_str::<Value>(data)
                    .ok()
                    .and_then(|v| v["choices"][0]["delta"]["content"].as_str().map(|s| !s.is_empty()))
                    .unwrap_or(false);
                if content {
                    arrivals.push(now);
                }
            }
        }
        let sent: Vec<u64> = Req::get(&format!("{}/_mock/stream_times", t.mock.url()))
            .send()
            .map(|r| {
                r.json()["times_ns"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        if sent.len() < arrivals.len() + 1 {
            eprintln!(
                "{}: {} content chunks but {} writes recorded; stream skipped",
                t.name,
                arrivals.len(),
                sent.len()
            );
            continue;
        }
        streams += 1;
        for (i, at) in arrivals.iter().enumerate() {
            let ms = at.saturating_sub(sent[i + 1]) as f64 / 1e6;
            if i == 0 {
                first.push(ms);
            }
            out.push(ms);
        }
    }
    (streams, out, first)
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

const BEDROCK_MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";

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

/// The rendered Bedrock gateway with its signing changed (diagnostics only).
fn signing((yaml, port, admin): (String, u16, u16), how: &str) -> (String, u16, u16) {
    let yaml = match how {
        "signed" => yaml,
        "unsigned-payload" => yaml.replace("use_unsigned_payload: false", "use_unsigned_payload: true"),
        "none" => {
            let start = yaml.find("- name: envoy.filters.http.aws_request_signing").expect("a signing filter");
            let end = start + yaml[start..].find("- name: envoy.filters.http.upstream_codec").expect("the codec");
            format!("{}{}", &yaml[..start], &yaml[end..])
        }
        other => panic!("--bedrock-signing {other}: use signed, unsigned-payload or none"),
    };
    eprintln!("Bedrock signing: {how}");
    (yaml, port, admin)
}

/// A one-deployment gateway rendered by `llm-router render`.
fn filter_config(litellm_yaml: &str) -> (String, u16, u16) {
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
