//! Observability end to end: the seed's monitoring queries and alerts on a real Prometheus
//! (Debian's `prometheus` package) scraping a real Envoy with the filter and the control
//! plane, while one region fails; the shipped rules, Prometheus configs and Grafana dashboard
//! checked by `promtool`; one request followed through Envoy's JSON access log.
//!
//! Prometheus and promtool are found via `$PROMETHEUS_BIN` / `$PROMTOOL_BIN`, else on PATH.
//! Missing, the tests fail with how to install them (`./scripts/setup.sh`); they never skip.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{chat_body, Gateway};
use llm_router_e2e::{
    file_tail, filter_wasm, free_port, llm_router_bin, poll_until, repo_root, Load, MockRegion, Req, TempDir,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Tools and processes

/// `$ENV`, else `name` on PATH (or /usr/bin, where Debian puts it). Panics with the install
/// command when missing.
fn tool(env: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{env}={} does not exist", p.display());
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")]);
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "{name} not found: install Prometheus with `./scripts/setup.sh` (on Debian it runs \
         `apt-get install -y --no-install-recommends prometheus`, which provides prometheus and promtool), \
         or set {env}=/path/to/{name}"
    );
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new(tool("PROMTOOL_BIN", "promtool")).args(args).output().expect("run promtool");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn deploy(path: &str) -> PathBuf {
    repo_root().join("deploy").join(path)
}

/// One sample of an instant query.
#[derive(Debug, Clone)]
struct Sample {
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A Prometheus server on 127.0.0.1 (random port, storage in a temp dir). Killed on Drop;
/// a failing test prints its log and keeps its directory.
struct Prometheus {
    child: Option<Child>,
    dir: TempDir,
    url: String,
    http: reqwest::blocking::Client,
}

impl Prometheus {
    fn start(config: &Value) -> Prometheus {
        let bin = tool("PROMETHEUS_BIN", "prometheus");
        let dir = TempDir::new("llm-router-prometheus");
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, serde_yaml::to_string(config).expect("config as YAML"))
            .expect("write prometheus.yml");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("prometheus.log");
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1h")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let http = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        let mut p = Prometheus { child: Some(child), dir, url: format!("http://127.0.0.1:{port}"), http };
        poll_until(Duration::from_secs(20), "Prometheus /-/ready", || {
            if let Some(Ok(Some(status))) = p.child.as_mut().map(|c| c.try_wait()) {
                panic!("Prometheus exited ({status}):\n{}", p.log_tail());
            }
            let r = p.http.get(format!("{}/-/ready", p.url)).send().ok()?;
            r.status().is_success().then_some(())
        });
        p
    }

    fn log_tail(&self) -> String {
        file_tail(&self.dir.path().join("prometheus.log"), 40)
    }

    /// An instant query: the samples, or Prometheus's error (`bad_data: ...`).
    fn query(&self, expr: &str) -> Result<Vec<Sample>, String> {
        let resp = self
            .http
            .post(format!("{}/api/v1/query", self.url))
            .form(&[("query", expr)])
            .send()
            .map_err(|e| format!("query {expr}: {e}"))?;
        let body: Value = resp.json().map_err(|e| format!("query {expr}: {e}"))?;
        if body["status"] != "success" {
            return Err(format!(
                "{}: {}",
                body["errorType"].as_str().unwrap_or("?"),
                body["error"].as_str().unwrap_or("?")
            ));
        }
        let data = &body["data"];
        match data["resultType"].as_str() {
            Some("vector") => Ok(data["result"]
                .as_array()
                .map(|a| a.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|s| Sample {
                    labels: s["metric"]
                        .as_object()
                        .map(|m| {
                            m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
                        })
                        .unwrap_or_default(),
                    value: s["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
                })
                .collect()),
            Some("scalar") => Ok(vec![Sample {
                labels: BTreeMap::new(),
                value: data["result"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
            }]),
            other => Err(format!("unexpected result type {other:?}")),
        }
    }

    fn ok(&self, expr: &str) -> Vec<Sample> {
        self.query(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    fn api(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.url)).send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        r.json().unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- prometheus log ({}):\n{}", self.dir.path().display(), self.log_tail());
            self.dir.keep();
        }
    }
}

/// `llm-router serve` as a child process, for its /metrics.
struct ControlPlane {
    child: Child,
    metrics_addr: String,
    dir: TempDir,
}

impl ControlPlane {
    fn start(config: &Path) -> ControlPlane {
        let dir = TempDir::new("llm-router-serve");
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("serve.log")).expect("serve.log");
        let child = Command::new(llm_router_bin())
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--filter-wasm")
            .arg(filter_wasm())
            .args(["--port", &free_port().to_string(), "--listen-address", "127.0.0.1", "--region", "us-west-2"])
            .args(["--xds-addr", &format!("127.0.0.1:{}", free_port()), "--metrics-addr", &metrics_addr])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start llm-router serve");
        let cp = ControlPlane { child, metrics_addr, dir };
        poll_until(Duration::from_secs(15), "llm-router serve /readyz", || {
            let r =
                Req::get(&format!("http://{}/readyz", cp.metrics_addr)).timeout(Duration::from_secs(2)).send().ok()?;
            (r.status == 200).then_some(())
        });
        cp
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- llm-router serve log:\n{}", file_tail(&self.dir.path().join("serve.log"), 30));
        }
    }
}

/// The shipped deploy/prometheus/prometheus.yml with this test's targets and 1 s intervals:
/// job `litellm` scrapes the gateway's admin (region us-west-2) and a gateway that is down
/// (region eu-west-1, never answers); the control-plane job scrapes `serve`.
fn prometheus_config(gateway_admin: u16, down_gateway: u16, control_plane: &str) -> Value {
    let text = std::fs::read_to_string(deploy("prometheus/prometheus.yml")).expect("deploy/prometheus/prometheus.yml");
    let mut cfg: Value = serde_yaml::from_str(&text).expect("prometheus.yml is YAML");
    cfg["global"]["scrape_interval"] = json!("1s");
    cfg["global"]["scrape_timeout"] = json!("1s");
    cfg["global"]["evaluation_interval"] = json!("1s");
    assert_eq!(cfg["rule_files"], json!(["rules/llm-router.rules.yml", "rules/capacity.rules.yml"]));
    cfg["rule_files"] = json!([
        deploy("prometheus/rules/llm-router.rules.yml").display().to_string(),
        deploy("prometheus/rules/capacity.rules.yml").display().to_string(),
    ]);
    let jobs = cfg["scrape_configs"].as_array_mut().expect("scrape_configs");
    let mut seen = Vec::new();
    for job in jobs.iter_mut() {
        let name = job["job_name"].as_str().unwrap_or_default().to_string();
        match name.as_str() {
            "litellm" => {
                assert_eq!(job["metrics_path"], "/stats/prometheus");
                assert_eq!(job["honor_labels"], true, "the filter's region label must win over the target's");
                job["static_configs"] = json!([
                    {"targets": [format!("127.0.0.1:{gateway_admin}")], "labels": {"region": "us-west-2", "gateway_region": "us-west-2"}},
                    {"targets": [format!("127.0.0.1:{down_gateway}")], "labels": {"region": "eu-west-1", "gateway_region": "eu-west-1"}},
                ]);
            }
            "llm-router-control-plane" => {
                job["static_configs"] = json!([{"targets": [control_plane]}]);
            }
            other => panic!("unexpected scrape job {other} in the shipped prometheus.yml"),
        }
        seen.push(name);
    }
    assert_eq!(seen, ["litellm", "llm-router-control-plane"]);
    cfg
}

fn by(samples: &[Sample], label: &str) -> BTreeMap<String, f64> {
    samples.iter().map(|s| (s.labels.get(label).cloned().unwrap_or_default(), s.value)).collect()
}

// ---------------------------------------------------------------------------------------------
// Shipped files, checked offline

#[test]
fn shipped_prometheus_configs_and_rules_pass_promtool_and_their_unit_tests() {
    let config = deploy("prometheus/prometheus.yml");
    let out = promtool(&["check", "config", config.to_str().unwrap()]);
    assert!(out.contains("SUCCESS"), "{out}");
    promtool(&["check", "config", deploy("prometheus/prometheus-global.yml").to_str().unwrap()]);
    let rules = deploy("prometheus/rules/llm-router.rules.yml");
    let out = promtool(&["check", "rules", rules.to_str().unwrap()]);
    assert!(out.contains("SUCCESS"), "{out}");
    // Alerts fire (and stay quiet) on synthetic series as documented.
    promtool(&["test", "rules", deploy("prometheus/rules/llm-router.rules.test.yml").to_str().unwrap()]);

    // The rules file holds the seed's alerts and a working form of each seed query.
    let rules: Value = serde_yaml::from_str(&std::fs::read_to_string(&rules).unwrap()).unwrap();
    let all: Vec<&Value> =
        rules["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
    let alerts: Vec<&str> = all.iter().filter_map(|r| r["alert"].as_str()).collect();
    for a in ["RegionDown", "HighLatencyInRegion", "DeploymentCoolingDown", "ResidencyZoneUnavailable"] {
        assert!(alerts.contains(&a), "alert {a} missing: {alerts:?}");
    }
    let region_down = all.iter().find(|r| r["alert"] == "RegionDown").unwrap();
    assert_eq!(region_down["expr"], "up{job=\"litellm\"} == 0", "the seed's RegionDown runs verbatim");
    assert_eq!(region_down["for"], "2m");
    let exprs: Vec<&str> = all.iter().filter_map(|r| r["expr"].as_str()).collect();
    for e in SEED_WORKING_FORMS {
        assert!(exprs.contains(e), "rules file lacks the working form {e}");
    }
}

/// The seed's four queries as they run here (first verbatim, the others equivalents).
const SEED_WORKING_FORMS: &[&str] = &[
    "sum by (region) (litellm_requests_total)",
    "histogram_quantile(0.95, sum by (region, le) (litellm_request_duration_ms_bucket)) / 1000",
    "sum by (region) (rate(litellm_errors_total[5m]))",
    "avg by (region) (avg_over_time(up{job=\"litellm\"}[5m]))",
];

#[test]
fn every_grafana_panel_query_is_valid_promql_and_the_dashboard_covers_the_issue() {
    let text = std::fs::read_to_string(deploy("grafana/dashboards/llm-router.json")).expect("dashboard JSON");
    let dash: Value = serde_json::from_str(&text).expect("dashboard is JSON");
    assert_eq!(dash["uid"], "llm-router");
    // The datasource every panel names is the one provisioning creates.
    let ds: Value = serde_yaml::from_str(
        &std::fs::read_to_string(deploy("grafana/provisioning/datasources/prometheus.yml"))
            .expect("datasource provisioning"),
    )
    .unwrap();
    let ds_uid = ds["datasources"][0]["uid"].as_str().expect("datasource uid").to_string();
    assert_eq!(ds["datasources"][0]["type"], "prometheus");

    let mut exprs = Vec::new();
    let mut titles = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        if p["type"] == "row" {
            continue;
        }
        let title = p["title"].as_str().unwrap_or_default().to_string();
        assert_eq!(p["datasource"]["uid"], ds_uid.as_str(), "panel {title}");
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("panel {title} has no targets"));
        assert!(!targets.is_empty(), "panel {title} has no queries");
        for t in targets {
            exprs.push((title.clone(), t["expr"].as_str().expect("expr").to_string()));
        }
        titles.push(title.to_lowercase());
    }
    for needle in ["requests", "errors", "p95 latency", "gateway up", "availability", "cooldowns", "config version"] {
        assert!(titles.iter().any(|t| t.contains(needle)), "no panel about {needle}: {titles:?}");
    }
    let joined: String = exprs.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>().join("\n");
    for metric in [
        "litellm_requests_total",
        "litellm_errors_total",
        "litellm_request_duration_ms_bucket",
        "up{job=\"litellm\"",
        "llm_router_cooldowns_total",
        "llm_router_config_info",
    ] {
        assert!(joined.contains(metric), "no panel queries {metric}");
    }

    // Grafana's variables replaced by what Grafana would send, then every expression as a
    // recording rule: `promtool check rules` parses each one as PromQL.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (title, e)) in exprs.iter().enumerate() {
        let e = e.replace("$__rate_interval", "1m").replace("$region", ".*");
        assert!(!e.contains('$'), "panel {title}: unknown Grafana variable in {e}");
        rules +=
            &format!("      - record: dashboard:panel_{i}\n        expr: {}\n", serde_json::to_string(&e).unwrap());
    }
    let dir = TempDir::new("dashboard-rules");
    let file = dir.path().join("dashboard.rules.yml");
    std::fs::write(&file, rules).unwrap();
    let out = promtool(&["check", "rules", file.to_str().unwrap()]);
    assert!(out.contains(&format!("SUCCESS: {} rules found", exprs.len())), "{out}");
}

// ---------------------------------------------------------------------------------------------
// A real Prometheus, a real Envoy, one failing region

const SLOW_MS: u64 = 2200;

/// Three regions behind one gateway, shuffled so each gets traffic: us-west-2 healthy,
/// eu-west-1 failing (503), ap-southeast-1 slow (2.2 s). Models are OpenAI-compatible mocks.
fn three_region_config(us: &MockRegion, eu: &MockRegion, ap: &MockRegion) -> String {
    let mut yaml = String::from("model_list:\n");
    for r in [us, eu, ap] {
        yaml += &format!(
            "  - model_name: claude\n    litellm_params:\n      model: openai/claude-sonnet\n      api_base: {}/v1\n      region_name: {}\n",
            r.url(),
            r.region()
        );
    }
    yaml += "router_settings:\n  routing_strategy: simple-shuffle\n  num_retries: 2\n  allowed_fails: 3\n  cooldown_time: 2\n";
    yaml
}

#[test]
fn seed_queries_and_alerts_run_on_prometheus_scraping_envoy_with_a_failing_region() {
    let started = Instant::now();
    let us = MockRegion::start("us-west-2");
    let eu = MockRegion::start("eu-west-1");
    let ap = MockRegion::start("ap-southeast-1");
    eu.set_mode(json!({"mode": "error", "status": 503}));
    ap.set_mode(json!({"mode": "ok", "latency_ms": SLOW_MS}));
    let gw = Gateway::start_with_region(&three_region_config(&us, &eu, &ap), "us-west-2");
    let cp = ControlPlane::start(&gw.config_path);
    // A gateway that never answers: a socket that is bound (no one else gets the port) and
    // listening, but never accepts, so its scrapes time out.
    let dead_gateway = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_port = dead_gateway.local_addr().expect("addr").port();
    let prom = Prometheus::start(&prometheus_config(gw.envoy.admin_port(), dead_port, &cp.metrics_addr));
    // Prometheus hands new targets to its scrapers in batches (every 5 s): traffic starts once
    // the gateway has been scraped, so rates see the counters move.
    poll_until(Duration::from_secs(15), "Prometheus scraped the gateway", || {
        let up = prom.ok("up{job=\"litellm\", region=\"us-west-2\"}");
        (up.len() == 1 && up[0].value == 1.0).then_some(())
    });

    // Traffic: one request for a model that does not exist, then chat requests from 8 clients
    // and residency-pinned EU requests from one.
    let mut main = Load::new(&gw.chat_url(), &chat_body("claude"));
    main.concurrency = 8;
    main.max_requests = 100_000;
    main.max_duration = Duration::from_secs(6);
    let mut pinned = Load::new(&gw.chat_url(), &chat_body("claude")).header("x-llm-residency", "eu");
    pinned.concurrency = 1;
    pinned.max_requests = 100_000;
    pinned.max_duration = Duration::from_secs(6);
    assert_eq!(gw.chat("no-such-model", &[]).status, 400);
    let (report, pinned_report) = std::thread::scope(|s| {
        let a = s.spawn(|| main.run());
        let b = s.spawn(|| pinned.run());
        (a.join().expect("load"), b.join().expect("pinned load"))
    });
    assert_eq!(report.failed, 0, "eu-west-1 fails, the gateway retries elsewhere: {:?}", report.errors);
    assert!(
        report.by_region.contains_key("ap-southeast-1") && report.by_region.contains_key("us-west-2"),
        "{report:?}"
    );
    assert!(!report.by_region.contains_key("eu-west-1"), "{report:?}");
    assert!(
        pinned_report.sent > 0 && pinned_report.ok == 0,
        "EU-pinned requests have no healthy EU region: {pinned_report:?}"
    );
    let traffic_done = started.elapsed();

    // 1. Request distribution by region (seed, verbatim): every attempt each region received.
    let expected: BTreeMap<String, f64> =
        [&us, &eu, &ap].iter().map(|r| (r.region().to_string(), r.requests() as f64)).collect();
    let mut last = BTreeMap::new();
    let distribution =
        poll_until(Duration::from_secs(15), "sum by (region) (litellm_requests_total) = attempts per mock", || {
            last = by(&prom.ok("sum by (region) (litellm_requests_total)"), "region");
            (last == expected).then(|| last.clone())
        });
    println!("requests by region: {distribution:?}");

    // 2. p95 latency by region: the seed's form on the millisecond histogram, in seconds.
    let p95_expr = "histogram_quantile(0.95, sum by (region, le) (litellm_request_duration_ms_bucket)) / 1000";
    let p95 = poll_until(Duration::from_secs(15), "p95 for us-west-2 and ap-southeast-1", || {
        let m = by(&prom.ok(p95_expr), "region");
        (m.contains_key("us-west-2") && m.contains_key("ap-southeast-1")).then_some(m)
    });
    println!("p95 seconds by region: {p95:?}");
    // 2.2 s answers fall in the (1 s, 2.5 s] bucket (p95 interpolates to 2.425), on a busy
    // machine some in (2.5 s, 5 s].
    assert!(p95["ap-southeast-1"] >= SLOW_MS as f64 / 1000.0 && p95["ap-southeast-1"] < 5.0, "{p95:?}");
    assert!(p95["us-west-2"] < 1.0, "{p95:?}");

    // 3. Error rate by region: only the failing region.
    let errors = by(&prom.ok("sum by (region) (rate(litellm_errors_total[5m]))"), "region");
    println!("errors/s by region: {errors:?}");
    assert!(errors.get("eu-west-1").copied().unwrap_or(0.0) > 0.0, "{errors:?}");
    assert_eq!(errors.get("us-west-2").copied().unwrap_or(0.0), 0.0, "{errors:?}");
    assert_eq!(errors.get("ap-southeast-1").copied().unwrap_or(0.0), 0.0, "{errors:?}");
    let total_errors = by(&prom.ok("sum by (region) (litellm_errors_total)"), "region");
    assert_eq!(total_errors.get("eu-west-1").copied(), Some(eu.requests() as f64), "every eu-west-1 attempt failed");

    // 4. Availability by region: the live gateway 1, the one nobody answers for 0.
    let avail = by(&prom.ok("avg by (region) (avg_over_time(up{job=\"litellm\"}[5m]))"), "region");
    println!("availability by region: {avail:?}");
    assert_eq!(avail.get("us-west-2"), Some(&1.0), "{avail:?}");
    assert_eq!(avail.get("eu-west-1"), Some(&0.0), "{avail:?}");

    // The seed's verbatim forms that cannot run, and why.
    for bad in ["rate(litellm_errors_total[5m]) by (region)", "avg_over_time(up{job=\"litellm\"}[5m]) by (region)"] {
        let err = prom.query(bad).expect_err(bad);
        assert!(err.starts_with("bad_data"), "{bad}: {err}");
    }
    let seconds = prom.ok("histogram_quantile(0.95, sum by (region, le) (litellm_request_duration_seconds_bucket))");
    assert!(seconds.is_empty(), "no seconds histogram exists: {seconds:?}");

    // Recording rules: each evaluates to per-region (or per-zone/code) series.
    let recorded = poll_until(Duration::from_secs(10), "recording rules evaluated", || {
        let m: BTreeMap<&str, Vec<Sample>> = [
            "region:litellm_requests:sum",
            "region:litellm_requests:rate5m",
            "region:litellm_request_duration_seconds:p95",
            "region:litellm_request_duration_seconds:p95_rate5m",
            "region:litellm_errors:rate5m",
            "region:litellm_error_ratio:rate5m",
            "region:up:avg_over_time5m",
            "region_deployment:llm_router_cooldowns:increase5m",
            "zone:llm_router_residency_unavailable:increase5m",
            "code:llm_router_rejected_requests:rate5m",
        ]
        .into_iter()
        .map(|r| (r, prom.ok(r)))
        .collect();
        // Rules run every second: wait for an evaluation after the last scrape of the traffic.
        (m.values().all(|v| !v.is_empty()) && by(&m["region:litellm_requests:sum"], "region") == expected).then_some(m)
    });
    assert!(by(&recorded["region:litellm_request_duration_seconds:p95_rate5m"], "region")["ap-southeast-1"] >= 2.0);
    assert!(by(&recorded["region:litellm_error_ratio:rate5m"], "region")["eu-west-1"] > 0.9);
    assert!(by(&recorded["zone:llm_router_residency_unavailable:increase5m"], "zone").contains_key("eu"));
    let rejected = by(&recorded["code:llm_router_rejected_requests:rate5m"], "code");
    println!("rejected/s by code: {rejected:?}");
    // The EU-pinned requests while eu-west-1 cools down: 429 with Retry-After (issue 15).
    assert!(rejected.contains_key("model_not_found") && rejected.contains_key("rate_limit_exceeded"), "{rejected:?}");

    // Every rule evaluates without error.
    let rules = prom.api("/api/v1/rules");
    let groups = rules["data"]["groups"].as_array().expect("rule groups");
    assert_eq!(groups.len(), 4, "{rules}"); // llm-router.rules.yml's three and capacity.rules.yml
    for g in groups {
        for r in g["rules"].as_array().unwrap() {
            assert_eq!(r["health"], "ok", "rule {} in {}: {}", r["name"], g["name"], r["lastError"]);
        }
    }

    // Alerts: the failing region's errors and cooldowns, the slow region's latency, the
    // unanswered gateway, the EU zone's refusals; nothing for the healthy region.
    let wanted: &[(&str, &str, &str, &[&str])] = &[
        ("RegionDown", "region", "eu-west-1", &["pending"]),
        ("HighLatencyInRegion", "region", "ap-southeast-1", &["pending"]),
        ("HighErrorRateInRegion", "region", "eu-west-1", &["pending"]),
        ("DeploymentCoolingDown", "region", "eu-west-1", &["firing"]),
        ("ResidencyZoneUnavailable", "zone", "eu", &["firing"]),
    ];
    let mut seen = Vec::new();
    poll_until(Duration::from_secs(10), "alerts pending/firing", || {
        let alerts = prom.api("/api/v1/alerts");
        seen = alerts["data"]["alerts"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|a| {
                let name = a["labels"]["alertname"].as_str().unwrap_or_default().to_string();
                let key =
                    a["labels"]["region"].as_str().or(a["labels"]["zone"].as_str()).unwrap_or_default().to_string();
                (name, key, a["state"].as_str().unwrap_or_default().to_string())
            })
            .collect::<Vec<_>>();
        wanted
            .iter()
            .all(|(name, _, key, states)| {
                seen.iter().any(|(n, k, s)| n == name && k == key && states.contains(&s.as_str()))
            })
            .then_some(())
    });
    println!("alerts: {seen:?}");
    assert!(
        !seen.iter().any(|(n, k, _)| k == "us-west-2" || n == "ControlPlaneDown" || n == "ConfigReloadFailing"),
        "{seen:?}"
    );

    // The control plane, scraped: up, and the config version it serves.
    let cp_up = prom.ok("up{job=\"llm-router-control-plane\"}");
    assert_eq!(cp_up.len(), 1);
    assert_eq!(cp_up[0].value, 1.0);
    let version = prom.ok("llm_router_config_info");
    assert_eq!(version.len(), 1, "{version:?}");
    assert!(!version[0].labels["version"].is_empty());
    assert_eq!(prom.ok("llm_router_config_last_reload_success")[0].value, 1.0);

    println!("traffic done after {traffic_done:?}, all checks after {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// One request followed from client to region

/// The request id Envoy logs is the one the region received, next to the region and the
/// deployment the client was told about in `x-llm-region` / `x-llm-deployment`.
#[test]
fn one_request_is_followed_through_the_json_access_log_to_its_region() {
    let us = MockRegion::start("us-west-2");
    let eu = MockRegion::start("eu-west-1");
    us.set_mode(json!({"mode": "error", "status": 503, "count": 1}));
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  routing_strategy: priority-routing\n  num_retries: 2\n",
        format_args!(
            "  - model_name: claude\n    litellm_params:\n      model: openai/claude-sonnet\n      api_base: {}/v1\n      region_name: us-west-2\n    priority: 1\n",
            us.url()
        ),
        format_args!(
            "  - model_name: claude\n    litellm_params:\n      model: openai/claude-sonnet\n      api_base: {}/v1\n      region_name: eu-west-1\n    priority: 2\n",
            eu.url()
        ),
    );
    let gw = Gateway::start(&yaml);
    // The first attempt fails in us-west-2; Envoy retries in eu-west-1 within the request.
    // The client names its request; the gateway keeps that id and returns it.
    let client_id = "client-trace-7d41c0";
    let resp = gw.chat("claude", &[("x-request-id", client_id)]);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("x-request-id").as_deref(), Some(client_id), "the client's id comes back");
    assert_eq!(resp.header("x-llm-region").as_deref(), Some("eu-west-1"));
    assert_eq!(resp.header("x-envoy-attempt-count").as_deref(), Some("2"));
    let deployment = resp.header("x-llm-deployment").expect("x-llm-deployment");

    // The id Envoy gave the request, as both regions saw it.
    let id = eu.last_headers()["x-request-id"].as_str().expect("x-request-id reaches the region").to_string();
    assert_eq!(id, client_id, "the region sees the client's id");
    assert_eq!(us.last_headers()["x-request-id"], id.as_str(), "both attempts carry the same request id");

    // Envoy flushes its stdout access log every few seconds.
    let stdout = gw.envoy.dir().join("envoy.stdout");
    let line: Value = poll_until(Duration::from_secs(15), "the request's access-log line", || {
        let text = std::fs::read_to_string(&stdout).ok()?;
        text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|v| v["request_id"] == id.as_str())
    });
    println!("access log: {line}");
    assert_eq!(line["region"], "eu-west-1");
    assert_eq!(line["deployment"], deployment.as_str());
    assert_eq!(line["status"], 200);
    assert_eq!(line["attempts"], 2);
    assert_eq!(line["path"], "/v1/chat/completions");
}
