//! `xds-bench`: figures for the control plane (recorded in docs/benchmarks.md).
//!
//! ```text
//! cargo run --release -p llm-router --bin xds-bench -- snapshot [--deployments 10000]
//! cargo run --release -p llm-router --bin xds-bench -- fanout [--clients 50] [--rounds 20]
//! cargo run --release -p llm-router --bin xds-bench -- envoy [--edits 50]
//! cargo run --release -p llm-router --bin xds-bench -- all
//! ```
//! - snapshot: YAML -> validated config -> translation -> protobuf snapshot for N deployments;
//!   time per stage (median of 5) and the process's resident memory.
//! - fanout: one change pushed to N fake ADS clients (tonic, SotW) on 127.0.0.1; time until
//!   every client has the new version, and until the server has every ACK.
//! - envoy: a real Envoy 1.40 with the filter following `serve`: time from a YAML write
//!   (rename) to the first request served by the newly preferred deployment.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use llm_router::serve::ServeOptions;
use llm_router::translate::{build_snapshot, build_snapshot_cached};
use llm_router::xds::assemble::EncodeCache;
use llm_router::xds::cache::SnapshotCache;
use llm_router::xds::server::AdsService;
use llm_router::xds::snapshot::{CLUSTER, EXTENSION_CONFIG, LISTENER, ROUTE};
use llm_router::xds::NoObserver;
use llm_router::{bootstrap, config, translate, up};
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
/// one weight, so two variants differ in the filter config only.
fn big_config(n: usize, variant: usize) -> String {
    let mut y = String::with_capacity(n * 200);
    y.push_str("model_list:\n");
    for i in 0..n {
        let region = REGIONS[i % REGIONS.len()];
        let weight = if i == 0 { 1 + variant % 7 } else { 1 + i % 5 };
        y.push_str(&format!(
            "  - model_name: group-{}\n    litellm_params:\n      model: openai/model-{}\n      api_base: http://10.{}.{}.{}:8080/v1\n      region_name: {region}\n    weight: {weight}\n",
            i / REGIONS.len(),
            i / REGIONS.len(),
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255,
        ));
    }
    y.push_str("router_settings:\n  routing_strategy: simple-shuffle\n  num_retries: 2\n");
    y
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

fn bench_snapshot(n: usize) -> anyhow::Result<()> {
    let opts = translate::Options { filter_wasm: "/opt/llm_router_filter.wasm".into(), ..Default::default() };
    let (rss0, _) = rss_kib();
    // Load the descriptors once, outside the timings (once per process in serve too).
    llm_router::xds::encode::pool()?;
    let (rss_pool, _) = rss_kib();
    let yaml = big_config(n, 0);
    let (mut parse, mut trans, mut encode, mut total) = (vec![], vec![], vec![], vec![]);
    let mut kept = None;
    let mut bytes = 0usize;
    for _ in 0..5 {
        let t0 = Instant::now();
        let loaded = config::load_str(&yaml, "bench.yaml").map_err(|d| anyhow::anyhow!("{}", d[0]))?;
        let t1 = Instant::now();
        let _xr = translate::translate_xds(&loaded.config, &opts);
        let t2 = Instant::now();
        let snap = build_snapshot(&loaded.config, &opts)?;
        let t3 = Instant::now();
        parse.push(t1 - t0);
        trans.push(t2 - t1);
        // build_snapshot translates again: subtract that to get encoding alone.
        encode.push((t3 - t2).saturating_sub(t2 - t1));
        total.push((t1 - t0) + (t3 - t2));
        bytes =
            snap.type_urls().filter_map(|t| snap.of_type(t)).flat_map(|t| t.items.values()).map(|r| r.body.len()).sum();
        kept = Some(snap); // the served snapshot stays alive, as in serve
    }
    // An edit of a running control plane: one weight changes; unchanged resources are reused.
    let mut cache = EncodeCache::default();
    let loaded = config::load_str(&yaml, "bench.yaml").map_err(|d| anyhow::anyhow!("{}", d[0]))?;
    build_snapshot_cached(&loaded.config, &opts, &mut cache)?;
    drop(loaded);
    let mut edit = vec![];
    for v in 1..=5 {
        let t0 = Instant::now();
        let loaded = config::load_str(&big_config(n, v), "bench.yaml").map_err(|d| anyhow::anyhow!("{}", d[0]))?;
        build_snapshot_cached(&loaded.config, &opts, &mut cache)?;
        edit.push(t0.elapsed());
    }
    let (rss1, hwm) = rss_kib();
    let snap = kept.context("no snapshot")?;
    println!(
        "snapshot build, {n} deployments ({} clusters, {} resources, {:.1} MB encoded):",
        snap.names(CLUSTER).len(),
        snap.len(),
        bytes as f64 / 1e6
    );
    println!("  parse+validate YAML  {}", ms(median(parse)));
    println!("  translate            {}", ms(median(trans)));
    println!("  encode + snapshot    {}", ms(median(encode)));
    println!("  total, cold (median of 5)            {}", ms(median(total)));
    println!("  total, an edit (one weight, warm encode cache; median of 5)  {}", ms(median(edit)));
    println!(
        "  RSS: {:.0} MB at start, {:.0} MB with descriptors, {:.0} MB after the builds (snapshot and encode cache held); peak {:.0} MB",
        rss0 as f64 / 1024.0,
        rss_pool as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    Ok(())
}

async fn bench_fanout(clients: usize, rounds: usize) -> anyhow::Result<()> {
    let opts = translate::Options { filter_wasm: "/opt/llm_router_filter.wasm".into(), ..Default::default() };
    let snaps: Vec<_> = (0..2)
        .map(|v| {
            let loaded =
                config::load_str(&big_config(100, v), "bench.yaml").map_err(|d| anyhow::anyhow!("{}", d[0]))?;
            Ok(build_snapshot(&loaded.config, &opts)?)
        })
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

fn two_regions(first: &str, us: u16, east: u16) -> String {
    let p = |r: &str| if r == first { 1 } else { 2 };
    format!(
        "model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/m\n      api_base: http://127.0.0.1:{us}/v1\n      region_name: us-west-2\n    priority: {}\n  - model_name: bench\n    litellm_params:\n      model: openai/m\n      api_base: http://127.0.0.1:{east}/v1\n      region_name: us-east-1\n    priority: {}\nrouter_settings:\n  routing_strategy: priority-routing\n",
        p("us-west-2"),
        p("us-east-1")
    )
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn bench_envoy(edits: usize) -> anyhow::Result<()> {
    let envoy = up::find_envoy()?;
    let wasm = up::default_filter_wasm()
        .context("build the filter first: cargo build -p llm-router-filter --target wasm32-wasip1 --profile wasm")?;
    let us = upstream("us-west-2").await?;
    let east = upstream("us-east-1").await?;
    let dir = std::env::temp_dir().join(format!("xds-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("litellm.yaml");
    std::fs::write(&config, two_regions("us-west-2", us, east))?;
    let (gw, admin, xds, metrics) = (free_port()?, free_port()?, free_port()?, free_port()?);
    let serve = ServeOptions {
        config: config.clone(),
        translate: translate::Options {
            filter_wasm: wasm.display().to_string(),
            port: gw,
            listen_address: "127.0.0.1".into(),
            ..Default::default()
        },
        xds_addr: SocketAddr::from(([127, 0, 0, 1], xds)),
        metrics_addr: SocketAddr::from(([127, 0, 0, 1], metrics)),
        tls: None,
        debounce: llm_router::serve::DEFAULT_DEBOUNCE,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(llm_router::serve::run(
        serve,
        async move {
            let _ = stop_rx.await;
        },
        move |a| {
            let _ = ready_tx.send(a);
        },
    ));
    ready_rx.await.context("serve did not start")?;
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
    let result = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Duration>> {
        let t0 = Instant::now();
        while served_by(gw).as_deref() != Some("us-west-2") {
            if t0.elapsed() > Duration::from_secs(30) {
                bail!("the gateway never served from us-west-2");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut lat = Vec::new();
        for i in 1..=edits {
            let want = if i % 2 == 1 { "us-east-1" } else { "us-west-2" };
            let tmp = dir.join(".litellm.yaml.tmp");
            std::fs::write(&tmp, two_regions(want, us, east))?;
            let t = Instant::now();
            std::fs::rename(&tmp, &config)?;
            loop {
                if served_by(gw).as_deref() == Some(want) {
                    break;
                }
                if t.elapsed() > Duration::from_secs(10) {
                    bail!("edit {i}: {want} not serving after 10 s");
                }
            }
            lat.push(t.elapsed());
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(lat)
    })
    .await?;
    let _ = child.kill().await;
    let _ = stop_tx.send(());
    let mut lat = result?;
    println!(
        "YAML write -> new routing served by Envoy ({edits} edits, debounce {} ms):",
        llm_router::serve::DEFAULT_DEBOUNCE.as_millis()
    );
    println!("  p50 {}  p99 {}  max {}", ms(pct(&mut lat, 0.5)), ms(pct(&mut lat, 0.99)), ms(pct(&mut lat, 1.0)));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map(String::as_str).unwrap_or("all");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if matches!(what, "snapshot" | "all") {
        bench_snapshot(arg(&args, "--deployments", 10_000))?;
    }
    if matches!(what, "fanout" | "all") {
        rt.block_on(bench_fanout(arg(&args, "--clients", 50), arg(&args, "--rounds", 20)))?;
    }
    if matches!(what, "envoy" | "all") {
        rt.block_on(bench_envoy(arg(&args, "--edits", 50)))?;
    }
    if !matches!(what, "snapshot" | "fanout" | "envoy" | "all") {
        bail!("unknown benchmark {what:?}: use snapshot, fanout, envoy or all");
    }
    Ok(())
}
