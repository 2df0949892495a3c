//! Real LiteLLM configs served as LiteLLM serves them, through a real Envoy with the filter:
//! wildcard groups (pattern routing, the client's model passed on in the deployment's
//! template), a `litellm_settings` fallback, an rpm-weighted group, and Gemini on Google AI
//! Studio with its key from LiteLLM's environment variable. The mocks check the model names
//! they receive.

mod common;

use common::Gateway;
use llm_router_e2e::mock::Provider;
use llm_router_e2e::{get, MockRegion};
use serde_json::Value;

/// The model the mock's most recent request named.
fn last_model(m: &MockRegion) -> Value {
    m.stats()["last_model"].clone()
}

#[test]
fn wildcard_groups_a_litellm_settings_fallback_and_rpm_weights_as_litellm_routes_them() {
    let anthropic = MockRegion::start_provider("us-east-1", Provider::Anthropic, &["--api-key", "sk-ant-wild-1"]);
    std::env::set_var("E2E_LITELLM_ANTHROPIC_KEY", "sk-ant-wild-1");
    let any = MockRegion::start("us-east-1");
    let primary = MockRegion::start("us-west-2");
    let backup = MockRegion::start("eu-west-1");
    let big = MockRegion::start("us-west-2");
    let small = MockRegion::start("us-east-1");
    let yaml = format!(
        "model_list:
  - model_name: \"*\"
    litellm_params:
      model: openai/*
      api_base: {any}/v1
      region_name: us-east-1
  - model_name: \"anthropic/*\"
    litellm_params:
      model: anthropic/*
      api_base: {anthropic}
      api_key: os.environ/E2E_LITELLM_ANTHROPIC_KEY
      region_name: us-east-1
  - model_name: primary
    litellm_params:
      model: openai/primary-model
      api_base: {primary}/v1
      region_name: us-west-2
  - model_name: backup
    litellm_params:
      model: openai/backup-model
      api_base: {backup}/v1
      region_name: eu-west-1
  - model_name: fast
    litellm_params:
      model: openai/fast-big
      api_base: {big}/v1
      region_name: us-west-2
      rpm: 900
  - model_name: fast
    rpm: 100
    litellm_params:
      model: openai/fast-small
      api_base: {small}/v1
      region_name: us-east-1
litellm_settings:
  num_retries: 0
  fallbacks: [{{primary: [backup]}}, {{backup: [anthropic/claude-3-5-haiku-latest]}}]
",
        any = any.url(),
        anthropic = anthropic.url(),
        primary = primary.url(),
        backup = backup.url(),
        big = big.url(),
        small = small.url(),
    );
    let gw = Gateway::start(&yaml);

    // Pattern routing: the most specific pattern wins, and the provider gets the client's
    // model in the deployment's template (`anthropic/*` → `*`).
    let r = gw.chat("anthropic/claude-3-7-sonnet-20250219", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(last_model(&anthropic), "claude-3-7-sonnet-20250219");
    assert_eq!(anthropic.last_auth()["verified"], true);
    let r = gw.chat("gpt-4o-mini", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(last_model(&any), "gpt-4o-mini");
    assert_eq!(anthropic.requests(), 1, "'*' took what 'anthropic/*' does not match");
    // An exact group name wins over every pattern ('*' matches 'backup' too).
    assert_eq!(gw.chat("backup", &[]).status, 200);
    assert_eq!(last_model(&backup), "backup-model");
    assert_eq!(any.requests(), 1);
    // /v1/models lists the groups as written, patterns included.
    let ids: Vec<Value> =
        get(&gw.url("/v1/models")).json()["data"].as_array().unwrap().iter().map(|m| m["id"].clone()).collect();
    assert_eq!(&ids[..2], ["*", "anthropic/*"]);

    // litellm_settings.fallbacks: primary fails, backup answers with its own model.
    primary.set_mode(serde_json::json!({"mode": "error", "status": 503}));
    let before = backup.requests();
    let r = gw.chat("primary", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("eu-west-1"));
    assert_eq!(primary.requests(), 1);
    assert_eq!(backup.requests(), before + 1);
    assert_eq!(last_model(&backup), "backup-model");
    assert_eq!(last_model(&primary), "primary-model");

    // A fallback name only a wildcard group serves: that group, sent the fallback's own name.
    backup.set_mode(serde_json::json!({"mode": "error", "status": 503}));
    let r = gw.chat("backup", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(anthropic.requests(), 2);
    assert_eq!(last_model(&anthropic), "claude-3-5-haiku-latest");

    // rpm as simple-shuffle weights (900 : 100), each deployment getting its own model.
    for _ in 0..200 {
        assert_eq!(gw.chat("fast", &[]).status, 200);
    }
    let share = big.requests() as f64 / 200.0;
    assert!((share - 0.9).abs() <= 0.07, "rpm 900 of 1000 took {share:.3}");
    assert_eq!(big.requests() + small.requests(), 200);
    assert_eq!((last_model(&big), last_model(&small)), ("fast-big".into(), "fast-small".into()));
}

#[test]
fn gemini_on_google_ai_studio_speaks_gemini_with_the_key_from_gemini_api_key() {
    let studio = MockRegion::start_provider("us-central1", Provider::Vertex, &["--api-key", "AIza-e2e-studio"]);
    // No api_key in the config: LiteLLM's variable for the provider gives it.
    std::env::set_var("GEMINI_API_KEY", "AIza-e2e-studio");
    let yaml = format!(
        "model_list:
  - model_name: flash
    litellm_params:
      model: gemini/gemini-2.0-flash
      api_base: {}
      region_name: us-central1
",
        studio.url()
    );
    let gw = Gateway::start(&yaml);
    let r = gw.chat("flash", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "hello from us-central1");
    let s = studio.stats();
    assert_eq!(s["last_path"], "/v1beta/models/gemini-2.0-flash:streamGenerateContent");
    assert_eq!(s["last_model"], "gemini-2.0-flash");
    assert_eq!(s["last_auth"]["scheme"], "x-goog-api-key");
    assert_eq!(s["last_auth"]["verified"], true);
}
