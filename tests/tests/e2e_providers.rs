//! Each attempt speaks its deployment's own API: the seed's pattern 1 against mock Bedrock
//! regions that check SigV4 signatures and bodies as Bedrock does, failing over across regions
//! and to an OpenAI-compatible deployment within one request.

mod common;

use std::process::Command;

use common::{aws_creds as creds, chat_body, Gateway, AWS_SECRET as SECRET};
use llm_router_e2e::mock::Provider;
use llm_router_e2e::{repo_root, MockRegion, Req};
use serde_json::json;

const MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
/// Envoy reads the keys from its environment (the standard AWS_* variables, set by the fixture).
fn gateway(yaml: &str) -> Gateway {
    Gateway::start(yaml)
}

fn bedrock_deployment(region: &MockRegion, priority: u32) -> String {
    format!(
        "  - model_name: claude-global\n    litellm_params:\n      model: bedrock/{MODEL}\n      aws_region_name: {}\n      api_base: {}\n      aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID\n      aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY\n    priority: {priority}\n",
        region.region(),
        region.url()
    )
}

#[test]
fn pattern_1_on_bedrock_signs_each_attempt_for_its_own_region() {
    let west = MockRegion::start_bedrock("us-west-2", &creds(), &[]);
    let east = MockRegion::start_bedrock("us-east-1", &creds(), &[]);
    let eu = MockRegion::start_bedrock("eu-west-1", &creds(), &[]);
    let yaml = format!(
        "model_list:\n{}{}{}router_settings:\n  routing_strategy: priority-routing\n  num_retries: 2\n  allowed_fails: 5\n  cooldown_time: 300\n",
        bedrock_deployment(&west, 1),
        bedrock_deployment(&east, 2),
        bedrock_deployment(&eu, 3)
    );
    let gw = gateway(&yaml);

    let r = gw.chat("claude-global", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "hello from us-west-2");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["total_tokens"].as_u64().unwrap_or(0) > 0, "{body}");
    // Every attempt streams upstream (issue 14): a whole answer is assembled from ConverseStream.
    assert_eq!(west.last_op().as_deref(), Some("bedrock.converse-stream"));
    let auth = west.last_auth();
    assert_eq!(
        (auth["scheme"].as_str(), auth["verified"].as_bool(), auth["region"].as_str()),
        (Some("sigv4"), Some(true), Some("us-west-2")),
        "{auth}"
    );

    // us-west-2 throttles: the retry goes to us-east-1, signed for us-east-1.
    west.set_mode(json!({"mode": "rate_limit"}));
    let r = gw.chat("claude-global", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-east-1"));
    assert_eq!(r.json()["choices"][0]["message"]["content"], "hello from us-east-1");
    let auth = east.last_auth();
    assert_eq!((auth["verified"].as_bool(), auth["region"].as_str()), (Some(true), Some("us-east-1")), "{auth}");

    // Streaming: ConverseStream's binary event stream becomes OpenAI SSE.
    west.set_mode(json!({"mode": "ok"}));
    east.set_mode(json!({"mode": "error", "status": 503}));
    let r = Req::post(&gw.chat_url())
        .json(&json!({"model": "claude-global", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}))
        .send_stream()
        .expect("stream");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").unwrap_or_default().starts_with("text/event-stream"));
    assert!(r.done(), "{}", r.text());
    let chunks = r.sse_json();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"), "{chunks:?}");
    let region = r.header("x-llm-region").unwrap_or_default();
    assert_eq!(r.sse_content(), format!("hello from {region}"));
    assert!(
        chunks.iter().any(|c| c["usage"]["completion_tokens"].as_u64().unwrap_or(0) > 0),
        "usage chunk: {chunks:?}"
    );
    assert!(eu.requests() + west.requests() > 0);

    // Tokens per region, from Bedrock's own usage (streaming included).
    let input = gw.metric_sum("litellm_input_tokens_total", &["region=\"us-west-2\""]);
    let output = gw.metric_sum("litellm_output_tokens_total", &["region=\"us-west-2\""]);
    assert!(input > 0.0 && output > 0.0, "token counters: {input} in, {output} out");
}

#[test]
fn one_request_fails_over_from_bedrock_to_an_openai_compatible_deployment() {
    let west = MockRegion::start_bedrock("us-west-2", &creds(), &[]);
    let openai = MockRegion::start_provider(
        "us-east-1",
        Provider::OpenAi,
        &["--api-key", "sk-upstream-4242", "--expect-model", "gpt-4o"],
    );
    std::env::set_var("TEST_OPENAI_KEY", "sk-upstream-4242");
    let yaml = format!(
        "model_list:\n{}  - model_name: claude-global\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      api_key: os.environ/TEST_OPENAI_KEY\n      region_name: us-east-1\n    priority: 2\nrouter_settings:\n  num_retries: 1\n",
        bedrock_deployment(&west, 1),
        openai.url()
    );
    let gw = gateway(&yaml);
    west.set_mode(json!({"mode": "error", "status": 503}));
    let r = Req::post(&gw.chat_url())
        .json(&chat_body("claude-global"))
        .header("authorization", "Bearer client-credential-999")
        .send()
        .expect("answer");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-east-1"));
    assert_eq!(r.header("x-envoy-attempt-count").as_deref(), Some("2"));
    assert_eq!(openai.last_body()["model"], "gpt-4o");
    let seen = openai.last_headers().to_string();
    assert!(seen.contains("sk-upstream-4242"), "the deployment's key was injected: {seen}");
    assert!(!seen.contains("client-credential-999"), "the client's credential was not forwarded: {seen}");
    let dump = gw.envoy.admin_get("/config_dump");
    assert!(!dump.contains("sk-upstream-4242") && !dump.contains(SECRET), "no secret in /config_dump");
}

#[test]
fn the_openai_sdk_is_happy_with_translated_bedrock_answers() {
    let west = MockRegion::start_bedrock("us-west-2", &creds(), &[]);
    let gw = gateway(&format!("model_list:\n{}", bedrock_deployment(&west, 1)));
    let out = Command::new(repo_root().join(".tools/venv/bin/python"))
        .arg(repo_root().join("tests/python/openai_client_check.py"))
        .args([&gw.url(""), "claude-global", "us-west-2"])
        .output()
        .expect("run python (./scripts/setup.sh installs .tools/venv)");
    assert!(
        out.status.success(),
        "the OpenAI SDK rejected translated Bedrock answers:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The SDK's non-streaming calls were answered from ConverseStream too (assembled).
    assert!(west.recent().iter().all(|r| r["op"] == "bedrock.converse-stream"), "{:?}", west.recent());
}

#[test]
fn the_anthropic_sdk_speaks_messages_to_bedrock_and_anthropic_deployments() {
    let west = MockRegion::start_bedrock("us-west-2", &creds(), &[]);
    let anthropic = MockRegion::start_provider("eu-west-1", Provider::Anthropic, &["--api-key", "sk-ant-upstream-77"]);
    std::env::set_var("TEST_ANTHROPIC_KEY", "sk-ant-upstream-77");
    let yaml = format!(
        "model_list:\n{}  - model_name: claude-direct\n    litellm_params:\n      model: anthropic/claude-3-5-sonnet-20241022\n      api_base: {}\n      api_key: os.environ/TEST_ANTHROPIC_KEY\n      region_name: eu-west-1\ngeneral_settings:\n  master_key: os.environ/TEST_GATEWAY_KEY\n",
        bedrock_deployment(&west, 1),
        anthropic.url()
    );
    let gw = Gateway::start_with_env(&yaml, "us-west-2", &[("TEST_GATEWAY_KEY", "sk-gw-anthropic-test")]);
    for (model, region) in [("claude-global", "us-west-2"), ("claude-direct", "eu-west-1")] {
        let out = Command::new(repo_root().join(".tools/venv/bin/python"))
            .arg(repo_root().join("tests/python/anthropic_client_check.py"))
            .args([&gw.url(""), model, region, "sk-gw-anthropic-test"])
            .output()
            .expect("run python (./scripts/setup.sh installs .tools/venv)");
        assert!(
            out.status.success(),
            "the Anthropic SDK rejected the answers for {model}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(west.recent().iter().any(|r| r["op"] == "bedrock.converse-stream"), "{:?}", west.recent());
    assert_eq!(anthropic.last_auth()["verified"], true, "{}", anthropic.last_auth());
}

#[test]
fn tool_calls_round_trip_through_bedrock_in_openai_form() {
    let west = MockRegion::start_bedrock("us-west-2", &creds(), &[]);
    let gw = gateway(&format!("model_list:\n{}", bedrock_deployment(&west, 1)));
    let tools = json!([{"type": "function", "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }}]);
    let first = Req::post(&gw.chat_url())
        .json(&json!({"model": "claude-global", "tools": tools,
                      "messages": [{"role": "user", "content": "weather in Paris?"}]}))
        .send()
        .expect("answer");
    assert_eq!(first.status, 200, "{}", first.text());
    let choice = &first.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{choice}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments = call["function"]["arguments"].as_str().expect("arguments are a JSON string");
    assert!(serde_json::from_str::<serde_json::Value>(arguments).is_ok(), "{arguments}");

    // The second turn carries the call and its result; Bedrock checks the ids pair up.
    let second = Req::post(&gw.chat_url())
        .json(&json!({"model": "claude-global", "tools": tools, "messages": [
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "{\"temp_c\": 18}"},
        ]}))
        .send()
        .expect("answer");
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json()["choices"][0]["finish_reason"], "stop");
}

#[test]
fn azure_deployments_get_their_path_api_version_and_key() {
    let azure = MockRegion::start_provider(
        "eastus",
        Provider::Azure,
        &["--api-key", "azure-key-5150", "--azure-deployment", "gpt4o-prod"],
    );
    std::env::set_var("TEST_AZURE_KEY", "azure-key-5150");
    let yaml = format!(
        "model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: azure/gpt4o-prod\n      api_base: {}\n      api_version: \"2024-10-21\"\n      api_key: os.environ/TEST_AZURE_KEY\n      region_name: eastus\n",
        azure.url()
    );
    let gw = gateway(&yaml);
    let r = Req::post(&gw.chat_url())
        .json(&chat_body("gpt-4o"))
        .header("api-key", "client-azure-key")
        .send()
        .expect("answer");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "hello from eastus");
    assert_eq!(azure.last_auth()["verified"], true, "{}", azure.last_auth());
    assert!(!azure.last_headers().to_string().contains("client-azure-key"));
}
