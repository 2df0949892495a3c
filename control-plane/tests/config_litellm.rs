//! LiteLLM's own semantics for keys real configs use: litellm_settings as the router's
//! defaults, rpm/tpm as simple-shuffle weights, ssl_verify, environment fallbacks, and the
//! resolved view `validate --json` prints.

use llm_router::config::{self, json::validate_json, Diagnostic, Loaded, TlsVerify};
use llm_router::translate;

fn ok(yaml: &str) -> Loaded {
    match config::load_str(yaml, "t.yaml") {
        Ok(l) => l,
        Err(d) => {
            panic!("expected a valid config:\n{}", d.iter().map(Diagnostic::to_string).collect::<Vec<_>>().join("\n"))
        }
    }
}

const TWO_GROUPS: &str = "model_list:
  - model_name: a
    litellm_params: {model: openai/gpt-4o, region_name: us-east-1}
  - model_name: b
    litellm_params: {model: anthropic/claude-3-5-sonnet-20241022, region_name: us-east-1}
";

#[test]
fn litellm_settings_routing_keys_are_the_router_defaults_and_router_settings_wins() {
    let l = ok(&format!(
        "{TWO_GROUPS}litellm_settings:\n  num_retries: 5\n  allowed_fails: 7\n  cooldown_time: 30\n  fallbacks: [{{a: [b]}}]\n  request_timeout: 45\nrouter_settings:\n  num_retries: 1\n"
    ));
    let r = &l.config.router;
    assert_eq!((r.num_retries, r.allowed_fails, r.cooldown_time_s, r.timeout_s), (1, 7, 30.0, Some(45.0)));
    assert_eq!(r.fallbacks, vec![("a".to_string(), vec!["b".to_string()])]);
    // router_settings' fallbacks replace litellm_settings' (not merged), as in LiteLLM.
    let l = ok(&format!(
        "{TWO_GROUPS}litellm_settings:\n  fallbacks: [{{a: [b]}}]\nrouter_settings:\n  fallbacks: [{{b: [a]}}]\n"
    ));
    assert_eq!(l.config.router.fallbacks, vec![("b".to_string(), vec!["a".to_string()])]);
}

#[test]
fn default_fallbacks_cover_groups_without_their_own_and_others_are_reported_not_used() {
    let l = ok(&format!(
        "{TWO_GROUPS}router_settings:\n  default_fallbacks: [b]\n  context_window_fallbacks: [{{a: [b]}}]\n"
    ));
    let r = &l.config.router;
    assert_eq!(r.fallbacks, vec![("a".to_string(), vec!["b".to_string()])], "b does not fall back to itself");
    assert_eq!(r.context_window_fallbacks, vec![("a".to_string(), vec!["b".to_string()])]);
    let v = validate_json(&Ok(l));
    assert_eq!(v["router"]["default_fallbacks"], serde_json::json!(["b"]));
    assert_eq!(v["router"]["context_window_fallbacks"]["a"], serde_json::json!(["b"]));
}

#[test]
fn rpm_then_tpm_are_simple_shuffle_weights_when_weight_is_absent_at_either_level() {
    let l = ok("model_list:
  - model_name: a
    litellm_params: {model: openai/gpt-4o, rpm: 900}
  - model_name: a
    rpm: 100
    litellm_params: {model: openai/gpt-4o-mini}
  - model_name: a
    litellm_params: {model: openai/o3-mini, tpm: 5000}
  - model_name: a
    litellm_params: {model: openai/o1, rpm: 10, weight: 3}
");
    let w: Vec<u32> = l.config.deployments.iter().map(|d| d.weight).collect();
    assert_eq!(w, [900, 100, 5000, 3]);
    assert_eq!(l.config.deployments[1].rpm, Some(100));
    let e = config::load_str(
        "model_list:\n  - model_name: a\n    rpm: 1\n    litellm_params: {model: openai/gpt-4o, rpm: 2}\n",
        "t.yaml",
    )
    .expect_err("disagree");
    assert!(e.iter().any(|d| d.message.contains("rpm 1 (line 3) and litellm_params.rpm 2 disagree")), "{e:?}");
}

#[test]
fn ssl_verify_false_or_a_bundle_reaches_the_cluster_tls() {
    let l = ok("model_list:
  - model_name: a
    litellm_params: {model: openai/m, api_base: 'https://one.internal/v1', ssl_verify: false}
  - model_name: a
    litellm_params: {model: openai/m, api_base: 'https://two.internal/v1', ssl_verify: /etc/corp-ca.pem}
  - model_name: a
    litellm_params: {model: openai/m, api_base: 'https://three.internal/v1'}
litellm_settings:
  ssl_verify: /etc/default-ca.pem
");
    let d = &l.config.deployments;
    assert_eq!(d[0].tls_verify, TlsVerify::Off);
    assert_eq!(d[1].tls_verify, TlsVerify::CaBundle("/etc/corp-ca.pem".into()));
    assert_eq!(d[2].tls_verify, TlsVerify::CaBundle("/etc/default-ca.pem".into()), "litellm_settings' default");
    let clusters = translate::translate(&l.config, &translate::Options::default()).clusters;
    let validation = |host: &str| {
        let c = clusters
            .iter()
            .find(|c| c["transport_socket"]["typed_config"]["sni"] == host)
            .unwrap_or_else(|| panic!("no cluster for {host}"));
        c["transport_socket"]["typed_config"]["common_tls_context"]["validation_context"].clone()
    };
    assert_eq!(validation("one.internal"), serde_json::json!({}));
    assert_eq!(validation("two.internal")["trusted_ca"]["filename"], "/etc/corp-ca.pem");
    assert_eq!(validation("three.internal")["trusted_ca"]["filename"], "/etc/default-ca.pem");
}

#[test]
fn os_environ_works_in_model_and_custom_llm_provider_passes_the_model_whole() {
    // PATH is set in any test environment.
    let path = std::env::var("PATH").expect("PATH");
    let l = ok("model_list:
  - model_name: a
    litellm_params: {model: meta-llama/Llama-3.1-8B, custom_llm_provider: hosted_vllm, api_base: 'http://vllm:8000/v1'}
");
    let d = &l.config.deployments[0];
    assert_eq!((d.provider.prefix(), d.provider_model.as_str()), ("hosted_vllm", "meta-llama/Llama-3.1-8B"));
    let e =
        config::load_str("model_list:\n  - model_name: a\n    litellm_params: {model: os.environ/PATH}\n", "t.yaml")
            .expect_err("PATH is no model");
    // The variable was read: its value is the model refused (it names no known provider).
    assert!(e.iter().any(|d| d.message.contains(&format!("in model '{path}'"))), "{e:?}");
}

#[test]
fn model_info_takes_any_key_and_the_region_source_is_reported() {
    let l = ok("model_list:
  - model_name: a
    litellm_params: {model: bedrock/anthropic.claude-3-haiku-20240307-v1:0, aws_region_name: eu-west-1}
    model_info: {id: x1, team: research, anything_at_all: 3, supports_vision: true}
");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let v = validate_json(&Ok(l));
    let d = &v["model_groups"][0]["deployments"][0];
    assert_eq!((d["id"].as_str(), d["region_source"].as_str()), (Some("x1"), Some("aws_region_name")));
    assert_eq!(d["url"], "https://bedrock-runtime.eu-west-1.amazonaws.com");
    assert_eq!(d["zone"], "eu");
}

#[test]
fn a_bedrock_arn_names_the_region() {
    let l = ok("model_list:
  - model_name: a
    litellm_params: {model: 'bedrock/arn:aws:bedrock:ap-northeast-1:123456789012:application-inference-profile/abc'}
");
    let d = &l.config.deployments[0];
    assert_eq!((d.region.as_str(), d.region_source.as_str()), ("ap-northeast-1", "model_arn"));
    assert_eq!(d.endpoint.host, "bedrock-runtime.ap-northeast-1.amazonaws.com");
}

/// The errors of a config that does not load, as `FILE:LINE:COL: message` lines.
fn errors(yaml: &str) -> String {
    match config::load_str(yaml, "t.yaml") {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(d) => d.iter().map(Diagnostic::to_string).collect::<Vec<_>>().join("\n"),
    }
}

#[test]
fn wildcard_groups_load_and_reach_the_filter_as_patterns_with_their_templates() {
    let l = ok("model_list:
  - model_name: \"*\"
    litellm_params: {model: openai/*, region_name: us-east-1}
  - model_name: \"anthropic/*\"
    litellm_params: {model: anthropic/*, region_name: us-east-1}
  - model_name: \"gemini-*\"
    litellm_params: {model: vertex_ai/gemini-*, vertex_project: p, vertex_location: us-central1}
");
    let rc = translate::router_config(&l.config, &translate::Options::default());
    let groups: Vec<(&str, &str)> =
        rc.model_groups.iter().map(|g| (g.name.as_str(), g.deployments[0].provider_model.as_str())).collect();
    assert_eq!(groups, [("*", "*"), ("anthropic/*", "*"), ("gemini-*", "gemini-*")]);
    assert_eq!(validate_json(&Ok(l))["model_groups"][1]["pattern"], true);

    // A '*' in the model with nothing to fill it, and a Vertex template that names no family.
    let e = errors("model_list:\n  - model_name: plain\n    litellm_params: {model: openai/gpt-*}\n");
    assert!(
        e.contains(
            "t.yaml:3:29: model_list[0] ('plain'): model 'openai/gpt-*' has a '*' but model_name 'plain' has none"
        ),
        "{e}"
    );
    let e = errors("model_list:\n  - model_name: \"v/*\"\n    litellm_params: {model: vertex_ai/*, vertex_project: p, vertex_location: us-central1}\n");
    assert!(e.contains("a Vertex AI wildcard must name the family: vertex_ai/gemini-* or vertex_ai/claude-*"), "{e}");
}

#[test]
fn a_deployment_s_cooldown_time_overrides_the_router_s_in_the_filter() {
    let l = ok("model_list:
  - model_name: a
    litellm_params: {model: openai/m, api_base: 'http://127.0.0.1:1/v1', cooldown_time: 60}
  - model_name: a
    litellm_params: {model: openai/m, api_base: 'http://127.0.0.1:2/v1', max_retries: 3}
router_settings:
  cooldown_time: 5
");
    let rc = translate::router_config(&l.config, &translate::Options::default());
    let cooldowns: Vec<Option<u64>> = rc.model_groups[0].deployments.iter().map(|d| d.cooldown_ms).collect();
    assert_eq!(cooldowns, [Some(60_000), None], "None: the router's {} ms", rc.cooldown_ms);
    assert_eq!(rc.cooldown_ms, 5_000);
    // max_retries is LiteLLM's SDK-client retry of the same deployment: accepted, not used.
    let unused = l.warnings.iter().map(Diagnostic::to_string).collect::<Vec<_>>().join("\n");
    assert!(unused.contains("litellm_params keys accepted, not used by llm-router: max_retries"), "{unused}");
}

#[test]
fn native_provider_keys_come_from_litellm_s_variables_and_gemini_s_goes_in_x_goog_api_key() {
    std::env::set_var("ANTHROPIC_API_KEY", "sk-ant-from-env");
    std::env::set_var("GEMINI_API_KEY", "AIza-from-env");
    let l = ok("model_list:
  - model_name: a
    litellm_params: {model: anthropic/claude-3-5-haiku-latest, region_name: us-east-1}
  - model_name: g
    litellm_params: {model: gemini/gemini-2.0-flash, region_name: us-east-1}
  - model_name: o
    litellm_params: {model: openai/gpt-4o, api_key: sk-literal, region_name: us-east-1}
");
    std::env::remove_var("ANTHROPIC_API_KEY");
    std::env::remove_var("GEMINI_API_KEY");
    let keys: Vec<String> = l.config.deployments.iter().map(|d| format!("{:?}", d.api_key)).collect();
    assert_eq!(
        keys,
        ["Some(os.environ/ANTHROPIC_API_KEY)", "Some(os.environ/GEMINI_API_KEY)", "Some(<literal secret>)"]
    );
    // Google AI Studio: Google's host, Gemini's own API, the key in Google's header.
    assert_eq!(l.config.deployments[1].endpoint.host, "generativelanguage.googleapis.com");
    let opts = translate::Options { secret_mode: translate::SecretMode::Reference, ..Default::default() };
    let resources = translate::translate(&l.config, &opts);
    let text = serde_json::to_string(&resources.clusters).unwrap();
    assert!(text.contains(r#""header":"x-goog-api-key""#), "{text}");
    let secrets = serde_json::to_string(&resources.secrets).unwrap();
    assert!(secrets.contains(r#""environment_variable":"GEMINI_API_KEY""#), "{secrets}");
    assert!(secrets.contains(r#""environment_variable":"ANTHROPIC_API_KEY""#), "{secrets}");
}
