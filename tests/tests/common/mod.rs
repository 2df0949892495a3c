//! The gateway fixture shared by the end-to-end tests: a LiteLLM YAML rendered by the real
//! `llm-router render`, run by a real Envoy 1.40 with the real wasm filter.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use llm_router_e2e::mock::AwsCredentials;
use llm_router_e2e::{
    filter_wasm, free_port, get, llm_router_bin, poll_until, Envoy, MockRegion, Req, Response, TempDir,
};
use serde_json::{json, Value};

/// The AWS keys every test gateway's Envoy signs with (from its environment, as
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`), and every mock Bedrock region accepts.
pub const AWS_KEY_ID: &str = "AKIDEXAMPLETEST01";
pub const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

pub fn aws_creds() -> AwsCredentials {
    AwsCredentials { access_key_id: AWS_KEY_ID.into(), secret_access_key: AWS_SECRET.into(), session_token: None }
}

/// A mock Bedrock Runtime region that checks SigV4 signatures and Converse bodies.
pub fn bedrock_region(region: &str) -> MockRegion {
    MockRegion::start_bedrock(region, &aws_creds(), &[])
}

pub struct Gateway {
    pub envoy: Envoy,
    pub port: u16,
    pub config_path: PathBuf,
    _dir: TempDir,
}

impl Gateway {
    /// Renders `config_yaml` with `llm-router render` and starts Envoy on it.
    pub fn start(config_yaml: &str) -> Gateway {
        Gateway::start_with_region(config_yaml, "us-west-2")
    }

    pub fn start_with_region(config_yaml: &str, region: &str) -> Gateway {
        Gateway::start_with_env(config_yaml, region, &[])
    }

    /// Renders with extra environment variables (secrets given as `os.environ/VAR`).
    pub fn start_with_env(config_yaml: &str, region: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = TempDir::new("llm-gateway");
        let config_path = dir.path().join("litellm.yaml");
        std::fs::write(&config_path, config_yaml).expect("write config");
        let port = free_port();
        let admin_port = free_port();
        let out = Command::new(llm_router_bin())
            .args(["render", "--config"])
            .arg(&config_path)
            .arg("--filter-wasm")
            .arg(filter_wasm())
            .args(["--port", &port.to_string(), "--admin-port", &admin_port.to_string()])
            .args(["--listen-address", "127.0.0.1", "--region", region])
            .envs(env.iter().copied())
            .output()
            .expect("run llm-router render");
        assert!(out.status.success(), "llm-router render failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let rendered = String::from_utf8(out.stdout).expect("render prints UTF-8");
        // Envoy signs Bedrock requests with the standard variables from its environment; tests
        // always give them, so no credential source beyond the environment is ever consulted.
        std::env::set_var("AWS_ACCESS_KEY_ID", AWS_KEY_ID);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", AWS_SECRET);
        std::env::remove_var("AWS_SESSION_TOKEN");
        let envoy = Envoy::start(&rendered, admin_port);
        let gw = Gateway { envoy, port, config_path, _dir: dir };
        // The listener is up once /health answers from the filter.
        poll_until(Duration::from_secs(20), "gateway /health from the filter", || {
            let r = Req::get(&gw.url("/health")).timeout(Duration::from_secs(2)).send().ok()?;
            (r.status == 200 && r.json().get("deployments").is_some()).then_some(())
        });
        gw
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn chat_url(&self) -> String {
        self.url("/v1/chat/completions")
    }

    /// One chat completion request with extra headers.
    pub fn chat(&self, model: &str, headers: &[(&str, &str)]) -> Response {
        Req::post(&self.chat_url())
            .json(&chat_body(model))
            .headers(headers)
            .timeout(Duration::from_secs(20))
            .send()
            .expect("gateway answers")
    }

    pub fn health(&self) -> Value {
        get(&self.url("/health")).json()
    }

    /// A metric value from Envoy's Prometheus page: the sum over series whose name and labels
    /// contain every `needle`.
    pub fn metric_sum(&self, name: &str, needles: &[&str]) -> f64 {
        self.envoy
            .stats_prometheus()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

pub fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

/// A deployment block of LiteLLM YAML (seed dialect) pointing at a mock region.
pub fn deployment(model_name: &str, provider_model: &str, region: &MockRegion, extra: &str) -> String {
    format!(
        "  - model_name: {model_name}\n    litellm_params:\n      model: {provider_model}\n      aws_region_name: {}\n      api_base: {}/v1\n{extra}",
        region.region(),
        region.url()
    )
}
