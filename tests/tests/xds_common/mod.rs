//! Fixture of the xDS end-to-end tests: a real `llm-router serve` (child process) and real
//! Envoys started from `llm-router bootstrap`, all on 127.0.0.1 with free ports.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use llm_router_e2e::{file_tail, filter_wasm, free_port, llm_router_bin, poll_until, Envoy, MockRegion, Req, TempDir};
use serde_json::{json, Value};

pub const LISTENER_TYPE: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
pub const ECDS_TYPE: &str = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";

/// `llm-router serve` as a child process. Killed on Drop; a failing test prints its log tail.
pub struct ControlPlane {
    child: Option<Child>,
    pub config: PathBuf,
    pub wasm: PathBuf,
    pub gateway_port: u16,
    pub xds_port: u16,
    pub metrics_port: u16,
    pub log: PathBuf,
    extra: Vec<String>,
    starts: u32,
}

impl ControlPlane {
    /// Starts `serve` on fresh ports and waits for `/readyz`.
    pub fn start(config: &Path, wasm: &Path, gateway_port: u16, extra: &[&str]) -> ControlPlane {
        let mut cp = ControlPlane {
            child: None,
            config: config.to_path_buf(),
            wasm: wasm.to_path_buf(),
            gateway_port,
            xds_port: free_port(),
            metrics_port: free_port(),
            log: config.with_extension("serve.log"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            starts: 0,
        };
        cp.spawn();
        cp
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.log.display()));
        let child = Command::new(llm_router_bin())
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .arg("--filter-wasm")
            .arg(&self.wasm)
            .args(["--port", &self.gateway_port.to_string(), "--listen-address", "127.0.0.1", "--region", "us-west-2"])
            .args(["--xds-addr", &format!("127.0.0.1:{}", self.xds_port)])
            .args(["--metrics-addr", &format!("127.0.0.1:{}", self.metrics_port)])
            .args(&self.extra)
            .env("RUST_LOG", "info,llm_router=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn llm-router serve");
        self.child = Some(child);
        poll_until(Duration::from_secs(20), "llm-router serve /readyz", || {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("llm-router serve exited ({status}):\n{}", file_tail(&self.log, 30));
            }
            let r = Req::get(&self.url("/readyz")).timeout(Duration::from_secs(1)).send().ok()?;
            (r.status == 200).then_some(())
        });
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same ports.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.metrics_port, path)
    }

    pub fn xds_addr(&self) -> String {
        format!("127.0.0.1:{}", self.xds_port)
    }

    pub fn metrics(&self) -> String {
        Req::get(&self.url("/metrics")).timeout(Duration::from_secs(5)).send().expect("GET /metrics").text()
    }

    /// Sum of the samples of a metric whose line starts with `prefix` (name, or name{labels).
    pub fn metric(&self, prefix: &str) -> f64 {
        self.metrics()
            .lines()
            .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn status(&self) -> Value {
        Req::get(&self.url("/status")).timeout(Duration::from_secs(5)).send().expect("GET /status").json()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every connected proxy (at least `n`) ACKed the versions served now.
    pub fn converged(&self, n: usize) -> bool {
        let s = self.status();
        let Some(proxies) = s["proxies"].as_array() else { return false };
        let served = &s["served"];
        proxies.len() >= n
            && proxies.iter().all(|p| served.as_object().is_some_and(|m| m.iter().all(|(t, v)| &p["acked"][t] == v)))
    }

    pub fn wait_converged(&self, n: usize, what: &str) {
        poll_until(Duration::from_secs(20), what, || self.converged(n).then_some(()));
    }

    /// The version of one resource type served now.
    pub fn served(&self, type_url: &str) -> String {
        self.status()["served"][type_url].as_str().unwrap_or_default().to_string()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "==== llm-router serve log tail ({}) ====\n{}\n==== end ====",
                self.log.display(),
                file_tail(&self.log, 60)
            );
        }
        self.kill();
    }
}

/// `llm-router bootstrap` for one Envoy.
pub fn bootstrap(xds_addr: &str, admin_port: u16, node_id: &str, extra: &[&str]) -> String {
    let out = Command::new(llm_router_bin())
        .args(["bootstrap", "--xds-addr", xds_addr, "--admin-port", &admin_port.to_string(), "--node-id", node_id])
        .args(extra)
        .output()
        .expect("run llm-router bootstrap");
    assert!(out.status.success(), "llm-router bootstrap failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// An Envoy following `cp`; waits until its gateway answers `/health` from the filter.
pub fn start_envoy(cp: &ControlPlane, node_id: &str, extra: &[&str]) -> Envoy {
    let admin = free_port();
    let envoy = Envoy::start(&bootstrap(&cp.xds_addr(), admin, node_id, extra), admin);
    wait_gateway(cp.gateway_port);
    envoy
}

pub fn wait_gateway(port: u16) {
    poll_until(Duration::from_secs(20), "gateway /health from the filter", || {
        let r = Req::get(&format!("http://127.0.0.1:{port}/health")).timeout(Duration::from_secs(2)).send().ok()?;
        (r.status == 200 && r.json().get("deployments").is_some()).then_some(())
    });
}

fn ecds_entry(envoy: &Envoy) -> Value {
    let dump: Value =
        serde_json::from_str(&envoy.admin_get("/config_dump?resource=ecds_filters")).unwrap_or(Value::Null);
    dump["configs"]
        .as_array()
        .and_then(|c| c.iter().find(|x| x["ecds_filter"]["name"] == "llm_router"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The version of the router filter's ECDS config that an Envoy runs (from `/config_dump`).
pub fn envoy_ecds_version(envoy: &Envoy) -> String {
    ecds_entry(envoy)["version_info"].as_str().unwrap_or_default().to_string()
}

/// The router filter's ECDS config (`TypedExtensionConfig` JSON) that an Envoy runs.
pub fn envoy_ecds_filter(envoy: &Envoy) -> Value {
    ecds_entry(envoy)["ecds_filter"].clone()
}

/// A gateway run by `serve` and one Envoy.
pub struct XdsGateway {
    pub envoy: Envoy,
    pub cp: ControlPlane,
    pub port: u16,
    pub dir: TempDir,
}

impl XdsGateway {
    pub fn start(yaml: &str) -> XdsGateway {
        Self::start_with(yaml, &[], &[])
    }

    pub fn start_with(yaml: &str, serve_args: &[&str], bootstrap_args: &[&str]) -> XdsGateway {
        let dir = TempDir::new("llm-xds");
        let config = dir.path().join("litellm.yaml");
        std::fs::write(&config, yaml).expect("write config");
        let port = free_port();
        let cp = ControlPlane::start(&config, &filter_wasm(), port, serve_args);
        let envoy = start_envoy(&cp, "envoy-1", bootstrap_args);
        XdsGateway { envoy, cp, port, dir }
    }

    pub fn config_path(&self) -> PathBuf {
        self.cp.config.clone()
    }

    /// Writes the config the way editors do: a temp file renamed over the original.
    pub fn edit(&self, yaml: &str) {
        let tmp = self.dir.path().join(".litellm.yaml.tmp");
        std::fs::write(&tmp, yaml).expect("write temp config");
        std::fs::rename(&tmp, self.config_path()).expect("rename over the config");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn chat_url(&self) -> String {
        self.url("/v1/chat/completions")
    }

    /// The region that serves one request for `model`.
    pub fn served_by(&self, model: &str) -> Option<String> {
        let r = Req::post(&self.chat_url()).json(&chat_body(model)).timeout(Duration::from_secs(10)).send().ok()?;
        (r.status == 200).then(|| r.header("x-llm-region")).flatten()
    }

    /// Waits until requests for `model` are served by `region`.
    pub fn wait_routed_to(&self, model: &str, region: &str) {
        poll_until(Duration::from_secs(20), &format!("{model} served by {region}"), || {
            (self.served_by(model).as_deref() == Some(region)).then_some(())
        });
    }
}

pub fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

pub fn stream_body(model: &str) -> Value {
    json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "hello"}]})
}

/// One deployment (LiteLLM dialect) at a mock region with a priority.
pub fn deployment(model: &str, region: &MockRegion, priority: u32, extra: &str) -> String {
    format!(
        "  - model_name: {model}\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      region_name: {}\n    priority: {priority}\n{extra}",
        region.url(),
        region.region()
    )
}
