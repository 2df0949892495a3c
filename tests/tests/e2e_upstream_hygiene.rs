//! What reaches a provider and what comes back, through a real Envoy: each attempt sends only
//! the allowed headers (never the client's master key, billing or identity headers, or the
//! gateway's and Envoy's own), the provider headers naming the gateway's account never reach
//! the client, and a provider refusing the gateway's own credentials (401/403) is a region
//! failure — the attempt moves on, the deployment cools down, a metric and a log line name it,
//! and a client whose every deployment refused gets a 502 in its API's shape. A client's own
//! 400 is never retried.

mod common;
mod xds_common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{aws_creds, Gateway};
use llm_router_e2e::mock::google_oauth::{MockTokenEndpoint, TestServiceAccount};
use llm_router_e2e::mock::Provider;
use llm_router_e2e::{free_port, poll_until, MockRegion, Req, Response, TempDir};
use serde_json::{json, Value};

const BEDROCK_MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
const MASTER_KEY: &str = "sk-gateway-master-hygiene-1";

fn bedrock(group: &str, region: &MockRegion, priority: u32) -> String {
    format!(
        "  - model_name: {group}\n    litellm_params:\n      model: bedrock/{BEDROCK_MODEL}\n      aws_region_name: {}\n      api_base: {}\n      aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID\n      aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY\n    priority: {priority}\n",
        region.region(),
        region.url()
    )
}

fn anthropic(group: &str, region: &MockRegion, key_var: &str, priority: u32) -> String {
    format!(
        "  - model_name: {group}\n    litellm_params:\n      model: anthropic/claude-3-5-sonnet-20241022\n      api_base: {}\n      api_key: os.environ/{key_var}\n      region_name: {}\n    priority: {priority}\n",
        region.url(),
        region.region()
    )
}

fn openai(group: &str, region: &MockRegion, key_var: &str, priority: u32) -> String {
    format!(
        "  - model_name: {group}\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      api_key: os.environ/{key_var}\n      region_name: {}\n    priority: {priority}\n",
        region.url(),
        region.region()
    )
}

fn azure(group: &str, region: &MockRegion, key_var: &str, priority: u32) -> String {
    format!(
        "  - model_name: {group}\n    litellm_params:\n      model: azure/gpt4o-prod\n      api_base: {}\n      api_version: \"2024-10-21\"\n      api_key: os.environ/{key_var}\n      region_name: {}\n    priority: {priority}\n",
        region.url(),
        region.region()
    )
}

/// Priority routing, one retry per further deployment, and a deployment cooled down after one
/// failure (so the test sees the cooldown at once).
const ROUTER: &str =
    "router_settings:\n  routing_strategy: priority-routing\n  num_retries: 2\n  allowed_fails: 1\n  cooldown_time: 300\n";

fn messages(model: &str) -> Value {
    json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]})
}

fn send(gw: &Gateway, path: &str, body: &Value, headers: &[(&str, &str)]) -> Response {
    Req::post(&gw.url(path))
        .json(body)
        .headers(headers)
        .timeout(Duration::from_secs(20))
        .send()
        .expect("gateway answers")
}

fn header_names(headers: &Value) -> BTreeSet<String> {
    headers.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_string()).collect()
}

/// What a client sends beside its request: the gateway's master key, billing and identity
/// headers of other providers, the gateway's and Envoy's own headers, and a legitimate
/// Anthropic beta header.
const CLIENT_EXTRAS: &[(&str, &str)] = &[
    ("authorization", "Bearer sk-gateway-master-hygiene-1"),
    ("openai-organization", "org-client-chosen"),
    ("openai-project", "proj_client_chosen"),
    ("x-goog-user-project", "someone-elses-project"),
    ("x-llm-foo", "bar"),
    ("x-envoy-foo", "bar"),
    ("anthropic-beta", "prompt-caching-2024-07-31"),
    ("x-request-id", "hygiene-req-1"),
    ("user-agent", "hygiene-test/1.0"),
];

#[test]
fn each_provider_gets_only_the_allowed_headers_and_the_client_gets_no_account_headers() {
    let west = MockRegion::start_bedrock("us-west-2", &aws_creds(), &[]);
    let ant = MockRegion::start_provider("eu-west-1", Provider::Anthropic, &["--api-key", "sk-ant-upstream-hyg"]);
    let oai = MockRegion::start_provider("us-east-1", Provider::OpenAi, &["--api-key", "sk-oai-upstream-hyg"]);
    std::env::set_var("HYG_ANT_KEY", "sk-ant-upstream-hyg");
    std::env::set_var("HYG_OAI_KEY", "sk-oai-upstream-hyg");
    std::env::set_var("HYG_MASTER_KEY", MASTER_KEY);
    let yaml = format!(
        "model_list:\n{}{}{}{}general_settings:\n  master_key: os.environ/HYG_MASTER_KEY\n",
        bedrock("claude", &west, 1),
        anthropic("claude", &ant, "HYG_ANT_KEY", 2),
        openai("gpt", &oai, "HYG_OAI_KEY", 1),
        ROUTER.replace("allowed_fails: 1", "allowed_fails: 100"),
    );
    let gw = Gateway::start(&yaml);

    // Anthropic, directly: exactly the allowed set arrives (plus the key Envoy injects).
    let r = send(&gw, "/v1/messages", &messages("claude"), CLIENT_EXTRAS);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-west-2"));
    west.set_mode(json!({"mode": "error", "status": 503}));
    let r = send(&gw, "/v1/messages", &messages("claude"), CLIENT_EXTRAS);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("eu-west-1"), "failed over from Bedrock");
    let seen = ant.last_headers();
    assert_eq!(
        header_names(&seen),
        set(&[
            "host",
            "content-type",
            "content-length",
            "accept",
            "accept-encoding",
            "anthropic-version",
            "anthropic-beta",
            "x-request-id",
            "x-api-key",
        ]),
        "{seen}"
    );
    assert_eq!(
        seen["anthropic-beta"], "prompt-caching-2024-07-31",
        "the client's beta header survived the Bedrock attempt"
    );
    assert_eq!(seen["x-api-key"], "sk-ant-upstream-hyg");
    assert_eq!(seen["x-request-id"], "hygiene-req-1");
    assert!(!seen.to_string().contains(MASTER_KEY), "{seen}");
    assert_eq!(r.header("anthropic-organization-id"), None, "the gateway's Anthropic organization stays hidden");
    assert_eq!(r.header("x-request-id").as_deref(), Some("hygiene-req-1"));
    // Bedrock got the allowed set too (and the SigV4 headers Envoy adds after the filter).
    let seen = west.last_headers();
    let names = header_names(&seen);
    assert!(!names.iter().any(|n| n.starts_with("x-llm-") || n.starts_with("x-envoy-")), "{seen}");
    for gone in ["anthropic-beta", "openai-organization", "x-goog-user-project", "user-agent", "x-forwarded-proto"] {
        assert!(!names.contains(gone), "{gone}: {seen}");
    }
    assert!(names.contains("x-amz-date") && names.contains("authorization"), "{seen}");

    // OpenAI: no client billing or identity header, the gateway's key, no account headers back.
    let r = send(&gw, "/v1/chat/completions", &common::chat_body("gpt"), CLIENT_EXTRAS);
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = oai.last_headers();
    assert_eq!(
        header_names(&seen),
        set(&["host", "content-type", "content-length", "accept", "accept-encoding", "x-request-id", "authorization"]),
        "{seen}"
    );
    assert_eq!(seen["authorization"], "Bearer sk-oai-upstream-hyg");
    assert_eq!((r.header("openai-organization"), r.header("openai-project")), (None, None));

    // Envoy's own error replies still find the client's API in the carried path.
    ant.set_mode(json!({"mode": "reset"}));
    let r = send(&gw, "/v1/messages", &messages("claude"), &[("authorization", CLIENT_EXTRAS[0].1)]);
    assert!(r.status >= 500, "{}", r.text());
    let v = r.json();
    assert_eq!((v["type"].as_str(), v["error"]["type"].as_str()), (Some("error"), Some("api_error")), "{v}");
}

/// The series `llm_router_upstream_auth_failures_total` for `region` and `provider_error`.
fn auth_failures(gw: &Gateway, region: &str, provider_error: &str) -> f64 {
    gw.metric_sum(
        "llm_router_upstream_auth_failures_total",
        &[&format!("region=\"{region}\""), &format!("provider_error=\"{provider_error}\"")],
    )
}

fn healthy(gw: &Gateway, id: &str) -> bool {
    gw.health()["deployments"].as_array().into_iter().flatten().any(|d| d["id"] == id && d["healthy"] == true)
}

#[test]
fn a_bedrock_403_moves_on_cools_the_region_down_is_counted_and_a_400_is_never_retried() {
    let west = MockRegion::start_bedrock("us-west-2", &aws_creds(), &[]);
    let east = MockRegion::start_bedrock("us-east-1", &aws_creds(), &[]);
    let gw =
        Gateway::start(&format!("model_list:\n{}{}{ROUTER}", bedrock("claude", &west, 1), bedrock("claude", &east, 2)));

    // The client's own 400 is passed on and tried nowhere else.
    west.set_mode(json!({"mode": "error", "status": 400}));
    let r = gw.chat("claude", &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(east.requests(), 0, "a client's 400 is never retried");
    assert!(healthy(&gw, "claude-us-west-2"), "nor held against the region");

    // The gateway's token expired in us-west-2: the request is served by us-east-1.
    west.set_mode(json!({"mode": "error", "status": 403, "error": "ExpiredTokenException"}));
    let r = gw.chat("claude", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-east-1"));
    assert_eq!(r.header("x-envoy-attempt-count").as_deref(), Some("2"));
    assert_eq!(auth_failures(&gw, "us-west-2", "ExpiredTokenException"), 1.0);
    assert!(!healthy(&gw, "claude-us-west-2"), "cooling down: {}", gw.health());
    let before = west.requests();
    let r = gw.chat("claude", &[]);
    assert_eq!((r.status, r.header("x-llm-region").as_deref()), (200, Some("us-east-1")));
    assert_eq!(west.requests(), before, "a cooling deployment is skipped");
    poll_until(Duration::from_secs(5), "the warning in Envoy's log", || {
        let log = gw.envoy.log_tail(400);
        log.lines()
            .any(|l| l.contains("claude-us-west-2") && l.contains("403") && l.contains("ExpiredTokenException"))
            .then_some(())
    });
    assert!(!gw.envoy.log_tail(400).contains("security token included"), "the provider's message is not logged");
}

#[test]
fn openai_and_azure_key_refusals_move_on_and_every_refusal_is_a_502_in_the_client_s_shape() {
    // The OpenAI region holds another key than the one the gateway injects: a real 401.
    let oai = MockRegion::start_provider("us-east-1", Provider::OpenAi, &["--api-key", "sk-the-right-one"]);
    let az = MockRegion::start_provider(
        "eastus",
        Provider::Azure,
        &["--api-key", "az-key-hyg", "--azure-deployment", "gpt4o-prod"],
    );
    std::env::set_var("HYG_OAI_WRONG_KEY", "sk-rotated-away");
    std::env::set_var("HYG_AZ_KEY", "az-key-hyg");
    let yaml = format!(
        "model_list:\n{}{}{ROUTER}",
        openai("gpt", &oai, "HYG_OAI_WRONG_KEY", 1),
        azure("gpt", &az, "HYG_AZ_KEY", 2)
    );
    let gw = Gateway::start(&yaml);
    let r = gw.chat("gpt", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("eastus"));
    assert_eq!(oai.stats()["last_status"].as_u64(), Some(401));
    assert_eq!(auth_failures(&gw, "us-east-1", "invalid_api_key"), 1.0);
    assert!(!healthy(&gw, "gpt-us-east-1"));

    // Azure refuses too (and us-east-1 is cooling down): the client learns the gateway failed,
    // not that its own key is wrong.
    az.set_mode(json!({"mode": "error", "status": 403}));
    let r = gw.chat("gpt", &[]);
    assert_eq!(r.status, 502, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (v["error"]["code"].as_str(), v["error"]["type"].as_str()),
        (Some("upstream_auth_failed"), Some("api_error")),
        "{v}"
    );
    assert!(!v.to_string().contains("Principal"), "the provider's message stays at the gateway: {v}");
    assert_eq!(auth_failures(&gw, "eastus", "PermissionDenied"), 1.0);
}

#[test]
fn anthropic_refusals_move_on_and_every_refusal_is_a_502_in_anthropic_s_shape() {
    let a = MockRegion::start_provider("us-east-1", Provider::Anthropic, &["--api-key", "sk-ant-a"]);
    let b = MockRegion::start_provider("eu-west-1", Provider::Anthropic, &["--api-key", "sk-ant-b"]);
    std::env::set_var("HYG_ANT_A", "sk-ant-a");
    std::env::set_var("HYG_ANT_B", "sk-ant-b");
    let yaml = format!(
        "model_list:\n{}{}{ROUTER}",
        anthropic("claude", &a, "HYG_ANT_A", 1),
        anthropic("claude", &b, "HYG_ANT_B", 2)
    );
    let gw = Gateway::start(&yaml);
    a.set_mode(json!({"mode": "error", "status": 403}));
    let r = send(&gw, "/v1/messages", &messages("claude"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("eu-west-1"));
    assert_eq!(auth_failures(&gw, "us-east-1", "permission_error"), 1.0);
    assert!(!healthy(&gw, "claude-us-east-1"));

    b.set_mode(json!({"mode": "error", "status": 401}));
    let r = send(&gw, "/v1/messages", &messages("claude"), &[]);
    assert_eq!(r.status, 502, "{}", r.text());
    let v = r.json();
    assert_eq!((v["type"].as_str(), v["error"]["type"].as_str()), (Some("error"), Some("api_error")), "{v}");
    assert_eq!(auth_failures(&gw, "eu-west-1", "authentication_error"), 1.0);
}

#[test]
fn a_vertex_permission_denied_moves_on_and_is_counted() {
    const PROJECT: &str = "hygiene-project";
    const ACCOUNT: &str = "gw@hygiene-project.iam.gserviceaccount.com";
    let vertex = |location: &str| {
        MockRegion::start_provider(
            location,
            Provider::Vertex,
            &["--vertex-project", PROJECT, "--bearer-token", "ya29.not-ours"],
        )
    };
    let (west1, west4) = (vertex("europe-west1"), vertex("europe-west4"));
    let dir = TempDir::new("llm-hygiene-vertex");
    let port = free_port();
    let account = TestServiceAccount::generate(ACCOUNT, &format!("http://127.0.0.1:{port}/token"));
    let _tokens = MockTokenEndpoint::start(
        port,
        ACCOUNT,
        &account.public_key_pem,
        Duration::from_secs(3600),
        &[west1.url(), west4.url()],
    );
    let key_file = dir.path().join("sa.json");
    std::fs::write(&key_file, &account.key_json).expect("write the key file");
    let dep = |region: &MockRegion, priority: u32| {
        format!(
            "  - model_name: claude-eu\n    litellm_params:\n      model: vertex_ai/claude-3-5-sonnet@20241022\n      vertex_project: {PROJECT}\n      vertex_location: {}\n      api_base: {}\n      vertex_credentials: {}\n    priority: {priority}\n",
            region.region(),
            region.url(),
            key_file.display()
        )
    };
    let gw = xds_common::XdsGateway::start(&format!("model_list:\n{}{}{ROUTER}", dep(&west1, 1), dep(&west4, 2)));
    gw.wait_routed_to("claude-eu", "europe-west1");

    west1.set_mode(json!({"mode": "error", "status": 403}));
    let r = Req::post(&gw.chat_url()).json(&xds_common::chat_body("claude-eu")).send().expect("answer");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("europe-west4"));
    let metric = || {
        gw.envoy
            .stats_prometheus()
            .lines()
            .filter(|l| l.starts_with("llm_router_upstream_auth_failures_total{"))
            .filter(|l| l.contains("region=\"europe-west1\"") && l.contains("provider_error=\"PERMISSION_DENIED\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert_eq!(metric(), 1.0);
    let health = llm_router_e2e::get(&gw.url("/health")).json();
    let west1_healthy = health["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|d| d["region"] == "europe-west1" && d["healthy"] == true);
    assert!(!west1_healthy, "cooling down: {health}");
}
