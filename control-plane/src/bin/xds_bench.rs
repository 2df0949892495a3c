//! `xds-bench`: figures for the control plane (recorded in docs/benchmarks.md).
//!
//! ```text
//! xds-bench generate --deployments 10000 [--variant 0] > /tmp/10k.yaml
//! xds-bench cold --config /tmp/10k.yaml          # under /usr/bin/time -v
//! xds-bench snapshot [--deployments 10000]
//! xds-bench fanout [--clients 50] [--rounds 20]
//! xds-bench envoy [--edits 50] [--deployments 2] [--debounce-ms 50] [--filter-wasm PATH]
//! xds-bench all
//! ```
//! (`cargo build --release -p llm-router --bin xds-bench`, then `target/release/xds-bench`.)
//! - generate: the config the other modes build: N/10 model groups in 10 regions each
//!   (loopback endpoints); `--variant` changes one weight.
//! - cold: what `serve` does with a config before it can answer Envoy (read the file, parse
//!   and check it, translate, encode every resource into a snapshot), once, in a fresh
//!   process: run it under `/usr/bin/time -v` for wall time, CPU time and peak RSS.
//! - snapshot: the same in one process, five times (median per stage), then edits of one
//!   weight against the warm encode cache, with how many resources each edit re-encoded.
//! - fanout: one change pushed to N fake ADS clients (tonic, SotW) on 127.0.0.1; time until
//!   every client has the new version, and until the server has every ACK.
//! - envoy: a real Envoy 1.40 with the filter following the control plane (the config
//!   watcher, the reloader and the ADS server, as `serve` wires them): each edit swaps two
//!   deployments' priorities and is written as editors do (temp file renamed over the config);
//!   per edit, the time from the rename to the debounce window closing, to the new snapshot
//!   being served, to Envoy's ACK, and to the first request served by the newly preferred
//!   deployment. `--deployments N` adds N-2 deployments of other groups to the config.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use llm_router::reload::{ConfigWatcher, Outcome, Reloader};
use llm_router::telemetry::{ConfigStatus, Metrics};
use llm_router::translate::{build_snapshot, build_snapshot_cached, BuildCache};
use llm_router::xds::cache::SnapshotCache;
use llm_router::xds::server::AdsService;
use llm_router::xds::snapshot::{Snapshot, CLUSTER, EXTENSION_CONFIG, LISTENER, ROUTE};
use llm_router::xds::NoObserver;
use llm_router::{bootstrap, config, servable, serve, translate, up};
use tokio_stream::StreamExt;

const REGIONS: [&str; 10] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "ap-south-1",
];

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok()).unwrap_or(default)
}

/// A config with `n` deployments: n/10 model groups in 10 regions each. `variant` changes
/// one weight, so two variants differ in the filter config only. Endpoints are loopback
/// addresses nothing listens on (no request is routed to them).
fn big_config(n: usize, variant: usize) -> String {
    let mut y = String::with_capacity(n * 200);
    y.push_str("model_list:\n");
    push_deployments(&mut y, 0..n, variant);
    y.push_str("router_settings:\n  routing_strategy: simple-shuffle\n  num_retries: 2\n");
    y
}

/// Deployments `range` of [`big_config`]'s list.
fn push_deployments(y: &mut String, range: std::ops::Range<usize>, variant: usize) {
    for i in range {
        let region = REGIONS[i % REGIONS.len()];
        let weight = if i == 0 { 1 + variant % 7 } else { 1 + i % 5 };
        y.push_str(&format!(
            "  - model_name: group-{}\n    litellm_params:\n      model: openai/model-{}\n      api_base: http://127.{}.{}.{}:9/v1\n      region_name: {region}\n    weight: {weight}\n",
            i / REGIONS.len(),
            i / REGIONS.len(),
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255,
        ));
    }
}

fn load(yaml: &str) -> anyhow::Result<config::Loaded> {
    config::load_str(yaml, "bench.yaml").map_err(|d| anyhow::anyhow!("{}", d[0]))
}

fn bench_options() -> translate::Options {
    translate::Options {
        filter_wasm: "/opt/llm_router_filter.wasm".into(),
        secret_mode: translate::SecretMode::Inline,
        ..Default::default()
    }
}

fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    v[(((v.len() - 1) as f64) * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mb(kib: u64) -> String {
    format!("{:.0} MB", kib as f64 / 1024.0)
}

/// Resources of `b` that are not the very ones of `a` (encoded again rather than reused).
fn reencoded(a: &Snapshot, b: &Snapshot) -> usize {
    b.type_urls()
        .flat_map(|t| b.of_type(t).into_iter().flat_map(move |r| r.items.iter().map(move |(n, r)| (t, n, r))))
        .filter(|(t, n, r)| !a.get(t, n).is_some_and(|old| Arc::ptr_eq(old, r)))
        .count()
}

fn encoded_bytes(s: &Snapshot) -> usize {
    s.type_urls().filter_map(|t| s.of_type(t)).flat_map(|t| t.items.values()).map(|r| r.body.len()).sum()
}

/// One cold build of the config at `path`, as `serve` makes it before it answers Envoy.
fn bench_cold(path: &str) -> anyhow::Result<()> {
    let t0 = Instant::now();
    llm_router::xds::encode::pool()?;
    let t1 = Instant::now();
    let text = String::from_utf8(config::read_file(std::path::Path::new(path)).map_err(|e| anyhow::anyhow!(e))?)?;
    let build = serve::snapshot_builder(path.to_string(), bench_options(), None, None);
    let built = build(&text).map_err(|e| anyhow::anyhow!("{}", e.join("\n")))?;
    let t2 = Instant::now();
    let (rss, hwm) = rss_kib();
    let snap = &built.snapshot;
    println!(
        "cold build of {path}: {} clusters, {} resources, {:.1} MB encoded",
        snap.names(CLUSTER).len(),
        snap.len(),
        encoded_bytes(snap) as f64 / 1e6
    );
    println!("  Envoy API descriptors  {}", ms(t1 - t0));
    println!("  read, parse, check, translate, encode  {}", ms(t2 - t1));
    println!("  total  {}", ms(t2 - t0));
    println!("  RSS {} now, peak {}", mb(rss), mb(hwm));
    Ok(())
}

fn bench_snapshot(n: usize) -> anyhow::Result<()> {
    let opts = bench_options();
    let (rss0, _) = rss_kib();
    // Load the descriptors once, outside the timings (once per process in serve too).
    llm_router::xds::encode::pool()?;
    let (rss_pool, _) = rss_kib();
    let yaml = big_config(n, 0);
    let (mut parse, mut build, mut total) = (vec![], vec![], vec![]);
    let mut kept = None;
    let mut peak_first = 0;
    for round in 0..5 {
        let t0 = Instant::now();
        let loaded = load(&yaml)?;
        let t1 = Instant::now();
        let snap = build_snapshot(&loaded.config, &opts)?;
        let t2 = Instant::now();
        parse.push(t1 - t0);
        build.push(t2 - t1);
        total.push(t2 - t0);
        drop(loaded);
        kept = Some(snap); // the served snapshot stays alive, as in serve
        if round == 0 {
            peak_first = rss_kib().1;
        }
    }
    let snap = kept.context("no snapshot")?;
    // An edit of a running control plane: one weight changes; unchanged resources are reused.
    let build_edit = serve::snapshot_builder("bench.yaml".into(), opts.clone(), None, None);
    let mut last = build_edit(&yaml).map_err(|e| anyhow::anyhow!("{}", e.join("\n")))?.snapshot;
    let (mut edit, mut changed) = (vec![], vec![]);
    for v in 1..=5 {
        let text = big_config(n, v);
        let t0 = Instant::now();
        let next = build_edit(&text).map_err(|e| anyhow::anyhow!("{}", e.join("\n")))?.snapshot;
        edit.push(t0.elapsed());
        changed.push(reencoded(&last, &next));
        last = next;
    }
    // Where an edit's time goes: the builder's steps one at a time.
    let mut cache = BuildCache::default();
    build_snapshot_cached(&load(&yaml)?.config, &opts, &mut cache)?;
    let (mut e_parse, mut e_check, mut e_build) = (vec![], vec![], vec![]);
    for v in 1..=5 {
        let text = big_config(n, v);
        let t0 = Instant::now();
        let loaded = load(&text)?;
        let t1 = Instant::now();
        let _ = servable::check(&loaded.config, &opts);
        let t2 = Instant::now();
        build_snapshot_cached(&loaded.config, &opts, &mut cache)?;
        let t3 = Instant::now();
        e_parse.push(t1 - t0);
        e_check.push(t2 - t1);
        e_build.push(t3 - t2);
    }
    drop(cache);
    let (rss1, hwm) = rss_kib();
    println!(
        "snapshot build, {n} deployments ({} clusters, {} resources, {:.1} MB encoded):",
        snap.names(CLUSTER).len(),
        snap.len(),
        encoded_bytes(&snap) as f64 / 1e6
    );
    println!("  parse+validate YAML                  {}", ms(median(parse)));
    println!("  translate+encode (streamed)          {}", ms(median(build)));
    println!("  total, cold (median of 5)            {}", ms(median(total)));
    println!(
        "  an edit of one weight, warm encode cache (serve's builder; median of 5)  {}; resources re-encoded per edit: {changed:?}",
        ms(median(edit))
    );
    println!(
        "    of which parse+validate {}, servable check {}, translate + hash + encode what changed {}",
        ms(median(e_parse)),
        ms(median(e_check)),
        ms(median(e_build))
    );
    println!(
        "  RSS: {} at start, {} with descriptors, peak {} after the first cold build, {} now (snapshot and encode cache held), peak {}",
        mb(rss0),
        mb(rss_pool),
        mb(peak_first),
        mb(rss1),
        mb(hwm)
    );
    Ok(())
}

async fn bench_fanout(clients: usize, rounds: usize) -> anyhow::Result<()> {
    let opts = bench_options();
    let snaps: Vec<_> = (0..2)
        .map(|v| Ok(build_snapshot(&load(&big_config(100, v))?.config, &opts)?))
        .collect::<anyhow::Result<_>>()?;
    let (cache, reader) = SnapshotCache::new();
    cache.set(snaps[0].clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = AdsService::new(reader.clone(), Arc::new(NoObserver));
    tokio::spawn(llm_router::xds::server::serve(listener, service, None, std::future::pending()));

    // Each client: a SotW stream subscribing to the four types, ACKing everything; reports
    // (client, ECDS version, arrival) on a channel.
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String, Instant)>();
    for c in 0..clients {
        let seen_tx = seen_tx.clone();
        let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{addr}")).await?;
        let (req_tx, req_rx) = tokio::sync::mpsc::unbounded_channel::<DiscoveryRequest>();
        let node = Node { id: format!("bench-{c}"), ..Default::default() };
        for (t, names) in [
            (CLUSTER, vec![]),
            (LISTENER, vec![]),
            (ROUTE, vec![translate::ROUTE_CONFIG_NAME]),
            (EXTENSION_CONFIG, vec![translate::ROUTER_FILTER_NAME]),
        ] {
            let _ = req_tx.send(DiscoveryRequest {
                node: Some(node.clone()),
                type_url: t.into(),
                resource_names: names.into_iter().map(String::from).collect(),
                ..Default::default()
            });
        }
        let mut responses = client
            .stream_aggregated_resources(tokio_stream::wrappers::UnboundedReceiverStream::new(req_rx))
            .await?
            .into_inner();
        tokio::spawn(async move {
            while let Some(Ok(r)) = responses.next().await {
                if r.type_url == EXTENSION_CONFIG {
                    let _ = seen_tx.send((c, r.version_info.clone(), Instant::now()));
                }
                let names = match r.type_url.as_str() {
                    ROUTE => vec![translate::ROUTE_CONFIG_NAME.to_string()],
                    EXTENSION_CONFIG => vec![translate::ROUTER_FILTER_NAME.to_string()],
                    _ => vec![],
                };
                let _ = req_tx.send(DiscoveryRequest {
                    type_url: r.type_url.clone(),
                    version_info: r.version_info.clone(),
                    response_nonce: r.nonce.clone(),
                    resource_names: names,
                    ..Default::default()
                });
            }
        });
    }
    // Wait for everyone to hold the first snapshot.
    let mut have = vec![false; clients];
    while have.iter().any(|h| !h) {
        let (c, _, _) = seen_rx.recv().await.context("clients gone")?;
        have[c] = true;
    }
    if !reader.wait_applied(&snaps[0], &[CLUSTER, LISTENER, ROUTE, EXTENSION_CONFIG], Duration::from_secs(10)).await {
        bail!("clients did not ACK the first snapshot");
    }
    let (mut delivered, mut acked) = (vec![], vec![]);
    for round in 1..=rounds {
        let snap = &snaps[round % 2];
        let want = snap.type_version(EXTENSION_CONFIG).to_string();
        let t0 = Instant::now();
        cache.set(snap.clone());
        let mut got = vec![false; clients];
        let mut last = t0;
        while got.iter().any(|g| !g) {
            let (c, v, at) =
                tokio::time::timeout(Duration::from_secs(10), seen_rx.recv()).await?.context("clients gone")?;
            if v == want && !got[c] {
                got[c] = true;
                last = last.max(at);
            }
        }
        delivered.push(last - t0);
        if !reader.wait_applied(snap, &[EXTENSION_CONFIG], Duration::from_secs(10)).await {
            bail!("round {round}: not every client ACKed");
        }
        acked.push(t0.elapsed());
    }
    println!(
        "fan-out of one change (filter config, 100-deployment snapshot) to {clients} ADS clients, {rounds} rounds:"
    );
    println!(
        "  all clients received it: p50 {}  p99 {}  max {}",
        ms(pct(&mut delivered, 0.5)),
        ms(pct(&mut delivered, 0.99)),
        ms(pct(&mut delivered, 1.0))
    );
    println!(
        "  all ACKs recorded:       p50 {}  p99 {}  max {}",
        ms(pct(&mut acked, 0.5)),
        ms(pct(&mut acked, 0.99)),
        ms(pct(&mut acked, 1.0))
    );
    Ok(())
}

/// A minimal upstream: answers every request with a chat completion.
async fn upstream(region: &'static str) -> anyhow::Result<u16> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 65536];
                let mut have = Vec::new();
                loop {
                    let Ok(n) = s.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    have.extend_from_slice(&buf[..n]);
                    // Headers then a body of content-length bytes.
                    let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&have[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                        .unwrap_or(0);
                    if have.len() < end + 4 + len {
                        continue;
                    }
                    have.drain(..end + 4 + len);
                    let body = format!(
                        "{{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"hi from {region}\"}},\"finish_reason\":\"stop\"}}]}}"
                    );
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(port)
}

/// One request to the gateway; the `x-llm-region` that served it.
fn served_by(port: u16) -> Option<String> {
    let body = r#"{"model":"bench","messages":[{"role":"user","content":"hi"}]}"#;
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-llm-region:").map(|v| v.trim().to_string()))
}

/// The benchmark's config: group `bench` in two regions on the local upstreams, the one in
/// `first` preferred; and `filler` more deployments of other groups (never routed to).
fn two_regions(first: &str, us: u16, east: u16, filler: usize) -> String {
    let p = |r: &str| if r == first { 1 } else { 2 };
    let mut y = format!(
        "model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/m\n      api_base: http://127.0.0.1:{us}/v1\n      region_name: us-west-2\n    priority: {}\n  - model_name: bench\n    litellm_params:\n      model: openai/m\n      api_base: http://127.0.0.1:{east}/v1\n      region_name: us-east-1\n    priority: {}\n",
        p("us-west-2"),
        p("us-east-1")
    );
    push_deployments(&mut y, 0..filler, 0);
    y.push_str("router_settings:\n  routing_strategy: priority-routing\n");
    y
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// When the control plane saw one edit: its debounce window closed, the new snapshot was
/// served, every Envoy ACKed it.
struct Applied {
    window_closed: Instant,
    served: Instant,
    acked: Instant,
}

async fn bench_envoy(
    edits: usize,
    deployments: usize,
    debounce: Duration,
    wasm: Option<PathBuf>,
) -> anyhow::Result<()> {
    let envoy = up::find_envoy()?;
    let wasm = wasm
        .or_else(up::default_filter_wasm)
        .context("build the filter first: cargo build -p llm-router-filter --target wasm32-wasip1 --profile wasm")?;
    let us = upstream("us-west-2").await?;
    let east = upstream("us-east-1").await?;
    let filler = deployments.saturating_sub(2);
    let dir = std::env::temp_dir().join(format!("xds-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("litellm.yaml");
    std::fs::write(&config, two_regions("us-west-2", us, east, filler))?;
    let (gw, admin) = (free_port()?, free_port()?);

    // The control plane as `serve` wires it (watcher, reloader, ADS server), timed per step.
    let opts = translate::Options {
        filter_wasm: wasm.display().to_string(),
        port: gw,
        listen_address: "127.0.0.1".into(),
        ..bench_options()
    };
    let metrics = Metrics::new();
    let (cache, reader) = SnapshotCache::new();
    let builder = serve::snapshot_builder(config.display().to_string(), opts, None, None);
    let status = Arc::new(std::sync::Mutex::new(ConfigStatus::default()));
    let mut reloader = Reloader::new(config.clone(), builder, cache, reader.clone(), metrics.clone(), status);
    reloader.stable_window = debounce;
    let mut watcher = ConfigWatcher::new(&config, debounce)?;
    if !matches!(reloader.reload().await, Outcome::Applied { .. }) {
        bail!("the first config was not applied");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let xds = listener.local_addr()?.port();
    tokio::spawn(llm_router::xds::server::serve(
        listener,
        AdsService::new(reader.clone(), metrics),
        None,
        std::future::pending(),
    ));
    let (applied_tx, applied_rx) = std::sync::mpsc::channel::<Applied>();
    tokio::spawn(async move {
        while watcher.changed().await {
            let window_closed = Instant::now();
            match reloader.reload().await {
                Outcome::Applied { changed: true, .. } => {
                    let served = Instant::now();
                    let Some(snap) = reloader.current() else { continue };
                    let types = [CLUSTER, LISTENER, EXTENSION_CONFIG, ROUTE];
                    if reader.wait_applied(&snap, &types, Duration::from_secs(30)).await {
                        let _ = applied_tx.send(Applied { window_closed, served, acked: Instant::now() });
                    }
                }
                Outcome::Deferred(_) => watcher.recheck(),
                _ => {}
            }
        }
    });

    let boot = bootstrap::xds_bootstrap_yaml(&bootstrap::BootstrapOptions {
        xds_addr: format!("127.0.0.1:{xds}"),
        node_id: "bench".into(),
        admin_port: admin,
        delta: false,
        tls: None,
    })?;
    let boot_path = dir.join("envoy.yaml");
    std::fs::write(&boot_path, boot)?;
    let mut child = tokio::process::Command::new(&envoy)
        .arg("-c")
        .arg(&boot_path)
        .args(["--disable-hot-restart", "--concurrency", "2", "-l", "error"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let result = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<[Duration; 4]>> {
        let t0 = Instant::now();
        while served_by(gw).as_deref() != Some("us-west-2") {
            if t0.elapsed() > Duration::from_secs(300) {
                bail!("the gateway never served from us-west-2");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("Envoy serving after {} (from its start)", ms(t0.elapsed()));
        while applied_rx.try_recv().is_ok() {}
        let mut lat = Vec::new();
        for i in 1..=edits {
            let want = if i % 2 == 1 { "us-east-1" } else { "us-west-2" };
            let tmp = dir.join(".litellm.yaml.tmp");
            std::fs::write(&tmp, two_regions(want, us, east, filler))?;
            let t = Instant::now();
            std::fs::rename(&tmp, &config)?;
            while served_by(gw).as_deref() != Some(want) {
                if t.elapsed() > Duration::from_secs(30) {
                    bail!("edit {i}: {want} not serving after 30 s");
                }
                // Polling without a pause would take a core from Envoy on a small machine.
                std::thread::sleep(Duration::from_millis(2));
            }
            let served_request = t.elapsed();
            let a = applied_rx.recv_timeout(Duration::from_secs(30)).context("the edit was never ACKed")?;
            lat.push([a.window_closed - t, a.served - a.window_closed, a.acked - t, served_request]);
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(lat)
    })
    .await?;
    let _ = child.kill().await;
    let lat = result?;
    println!(
        "YAML rename -> new routing served by Envoy ({edits} edits, {deployments} deployments, debounce {} ms):",
        debounce.as_millis()
    );
    let names = [
        "rename -> debounce window closed",
        "our work: read, build, serve the snapshot",
        "rename -> Envoy ACKed the new version",
        "rename -> first request served by the new choice",
    ];
    for (i, name) in names.iter().enumerate() {
        let mut col: Vec<Duration> = lat.iter().map(|l| l[i]).collect();
        println!(
            "  {name:<52} p50 {}  p99 {}  max {}",
            ms(pct(&mut col, 0.5)),
            ms(pct(&mut col, 0.99)),
            ms(pct(&mut col, 1.0))
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map(String::as_str).unwrap_or("all");
    match what {
        "generate" => {
            let yaml = big_config(arg(&args, "--deployments", 10_000), arg(&args, "--variant", 0));
            std::io::stdout().write_all(yaml.as_bytes())?;
            return Ok(());
        }
        "cold" => {
            let path = args.windows(2).find(|w| w[0] == "--config").map(|w| w[1].clone());
            return bench_cold(&path.context("cold needs --config FILE (xds-bench generate writes one)")?);
        }
        "snapshot" | "fanout" | "envoy" | "all" => {}
        _ => bail!("unknown benchmark {what:?}: use generate, cold, snapshot, fanout, envoy or all"),
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if matches!(what, "snapshot" | "all") {
        bench_snapshot(arg(&args, "--deployments", 10_000))?;
    }
    if matches!(what, "fanout" | "all") {
        rt.block_on(bench_fanout(arg(&args, "--clients", 50), arg(&args, "--rounds", 20)))?;
    }
    if matches!(what, "envoy" | "all") {
        let debounce = arg(&args, "--debounce-ms", serve::DEFAULT_DEBOUNCE.as_millis() as usize);
        let wasm = args.windows(2).find(|w| w[0] == "--filter-wasm").map(|w| PathBuf::from(&w[1]));
        rt.block_on(bench_envoy(
            arg(&args, "--edits", 50),
            arg(&args, "--deployments", 2),
            Duration::from_millis(debounce as u64),
            wasm,
        ))?;
    }
    Ok(())
}
