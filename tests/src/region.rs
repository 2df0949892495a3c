//! [`MockRegion`]: a `mock-region` child process controlled over its `/_mock/` API.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http::Req;
use crate::mock::{AwsCredentials, Provider};

/// One mock regional deployment running as a child process (`mock-region`).
///
/// Started with `--port 0` (the port is read from its first stdout line) and
/// `--exit-on-stdin-eof`, so it also dies if the test process dies. Killed on Drop.
/// All methods are blocking and panic on failure.
pub struct MockRegion {
    bin: PathBuf,
    region: String,
    extra_args: Vec<String>,
    port: u16,
    child: Option<Child>,
}

impl MockRegion {
    /// Starts a mock for `region` that accepts any model.
    pub fn start(region: &str) -> MockRegion {
        Self::start_args(region, &[])
    }

    /// Starts a mock; with `Some(model)`, requests for other models get 400 `model_not_found`.
    pub fn start_with(region: &str, expect_model: Option<&str>) -> MockRegion {
        match expect_model {
            Some(m) => Self::start_args(region, &["--expect-model", m]),
            None => Self::start_args(region, &[]),
        }
    }

    /// Starts a mock speaking `provider`'s API, with extra CLI flags (`--api-key K`,
    /// `--azure-deployment D`, `--bearer-token T`, ...). Bedrock needs credentials: see
    /// [`MockRegion::start_bedrock`].
    pub fn start_provider(region: &str, provider: Provider, extra_args: &[&str]) -> MockRegion {
        let mut args = vec!["--provider", provider.as_str()];
        args.extend_from_slice(extra_args);
        Self::start_args(region, &args)
    }

    /// Starts a Bedrock mock for `region` that accepts SigV4 signatures by `creds` only
    /// (scoped to `region` and service `bedrock`), with extra CLI flags.
    pub fn start_bedrock(region: &str, creds: &AwsCredentials, extra_args: &[&str]) -> MockRegion {
        let mut args = vec![
            "--provider",
            "bedrock",
            "--aws-access-key-id",
            &creds.access_key_id,
            "--aws-secret-access-key",
            &creds.secret_access_key,
        ];
        if let Some(t) = &creds.session_token {
            args.extend_from_slice(&["--aws-session-token", t]);
        }
        args.extend_from_slice(extra_args);
        Self::start_args(region, &args)
    }

    /// Starts a mock with extra CLI flags (`--name N`, `--chunks 8`, `--chunk-delay-ms 50`, ...),
    /// using [`crate::mock_region_bin`].
    pub fn start_args(region: &str, extra_args: &[&str]) -> MockRegion {
        Self::start_bin(crate::mock_region_bin(), region, extra_args)
    }

    /// Like [`MockRegion::start_args`] with an explicit binary
    /// (e.g. `env!("CARGO_BIN_EXE_mock-region")`).
    pub fn start_bin(bin: impl Into<PathBuf>, region: &str, extra_args: &[&str]) -> MockRegion {
        let mut m = MockRegion {
            bin: bin.into(),
            region: region.to_string(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            port: 0,
            child: None,
        };
        m.spawn(0).unwrap_or_else(|e| panic!("starting mock-region {region}: {e}"));
        m
    }

    fn spawn(&mut self, port: u16) -> Result<(), String> {
        let mut child = Command::new(&self.bin)
            .arg("--port")
            .arg(port.to_string())
            .arg("--region")
            .arg(&self.region)
            .arg("--exit-on-stdin-eof")
            .args(&self.extra_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(reader.read_line(&mut line).map(|_| line));
            // Keep draining so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("reading stdout: {e}"));
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("no `listening on` line within 10 s".into());
            }
        };
        let got = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok());
        match got {
            Some(p) => {
                self.port = p;
                self.child = Some(child);
                Ok(())
            }
            None => {
                let _ = child.kill();
                let status = child.wait().ok();
                Err(format!("unexpected first line {line:?} (exit status {status:?})"))
            }
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` (no trailing slash, no `/v1`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = format!("{}/_mock/{path}", self.url());
        let mut r = Req::new(method, &url).timeout(Duration::from_secs(10));
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().unwrap_or_else(|e| panic!("mock {} {method} {url}: {e}", self.region));
        assert_eq!(resp.status, 200, "mock {} {method} {url}: {}", self.region, resp.text());
        resp.json()
    }

    /// `POST /_mock/mode` (see [`crate::mock`] for the fields; the body replaces the
    /// whole mode). Returns the mode now in force.
    pub fn set_mode(&self, mode: Value) -> Value {
        self.control("POST", "mode", Some(&mode))
    }

    /// `GET /_mock/stats`.
    pub fn stats(&self) -> Value {
        self.control("GET", "stats", None)
    }

    /// LLM requests received since start / last reset.
    pub fn requests(&self) -> u64 {
        self.stats()["requests"].as_u64().expect("stats.requests")
    }

    /// LLM requests answered with 200.
    pub fn served_ok(&self) -> u64 {
        self.stats()["served_ok"].as_u64().expect("stats.served_ok")
    }

    /// Health checks (`GET /`, `GET /health`) received.
    pub fn health_checks(&self) -> u64 {
        self.stats()["health_checks"].as_u64().expect("stats.health_checks")
    }

    /// Headers of the most recent LLM request (lowercased names, lossy UTF-8 values).
    pub fn last_headers(&self) -> Value {
        self.stats()["last_headers"].clone()
    }

    /// Body of the most recent LLM request as JSON (`null` if it was not JSON).
    pub fn last_body(&self) -> Value {
        self.stats()["last_body"].clone()
    }

    /// The auth check of the most recent LLM request: `{scheme, verified, against_secret,
    /// region, error, ...}` (SigV4 adds `service`, `access_key_id`, `signed_headers`, `date`,
    /// `session_token`, `payload_hash_header`).
    pub fn last_auth(&self) -> Value {
        self.stats()["last_auth"].clone()
    }

    /// The provider operation of the most recent LLM request (`bedrock.converse`, ...).
    pub fn last_op(&self) -> Option<String> {
        self.stats()["last_op"].as_str().map(str::to_string)
    }

    /// The last 64 LLM requests, oldest first: `{id, path, op, model, auth: {scheme,
    /// verified, region}, status}`.
    pub fn recent(&self) -> Vec<Value> {
        self.stats()["recent"].as_array().cloned().unwrap_or_default()
    }

    /// Vertex: accept bearer `token` from now on, for `expires_in_s` seconds (`None`: forever).
    pub fn add_token(&self, token: &str, expires_in_s: Option<u64>) {
        self.control("POST", "tokens", Some(&json!({"token": token, "expires_in_s": expires_in_s})));
    }

    /// `POST /_mock/reset`: counters to 0, mode `ok`.
    pub fn reset(&self) {
        self.control("POST", "reset", None);
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Kills the process (connections to the port are then refused). Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills (if running) and starts again on the same port, with fresh counters
    /// and mode `ok`. Retries the bind for up to 10 s.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn(port) {
                Ok(()) => return,
                Err(e) if Instant::now() >= deadline => {
                    panic!("restarting mock-region {} on port {port}: {e}", self.region)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for MockRegion {
    fn drop(&mut self) {
        self.kill();
    }
}
