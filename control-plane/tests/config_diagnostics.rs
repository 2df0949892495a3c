//! Broken configs: every problem is reported as `FILE:LINE:COL: message` at the key or value
//! at fault.

use std::path::PathBuf;

use llm_router::config::{self, Diagnostic, Loaded, Severity};

fn errors(yaml: &str) -> Vec<String> {
    match config::load_str(yaml, "t.yaml") {
        Ok(l) => panic!("expected errors, got a valid config: {:?}", l.config),
        Err(diags) => diags.iter().filter(|d| d.severity == Severity::Error).map(Diagnostic::to_string).collect(),
    }
}

fn ok(yaml: &str) -> Loaded {
    match config::load_str(yaml, "t.yaml") {
        Ok(l) => l,
        Err(diags) => {
            panic!("expected a valid config:\n{}", diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))
        }
    }
}

fn warnings(l: &Loaded) -> Vec<String> {
    l.warnings.iter().map(Diagnostic::to_string).collect()
}

fn has(list: &[String], prefix: &str) -> bool {
    list.iter().any(|l| l.starts_with(prefix))
}

#[track_caller]
fn assert_has(list: &[String], prefix: &str) {
    assert!(has(list, prefix), "no diagnostic starting with {prefix:?} in:\n{}", list.join("\n"));
}

const ONE: &str = "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/gpt-4o\n";

#[test]
fn display_format() {
    let d = Diagnostic { file: "f.yaml".into(), line: 3, col: 7, severity: Severity::Error, message: "bad".into() };
    assert_eq!(d.to_string(), "f.yaml:3:7: bad");
    let w = Diagnostic { severity: Severity::Warning, ..d };
    assert_eq!(w.to_string(), "f.yaml:3:7: warning: bad");
}

#[test]
fn yaml_syntax_error_has_its_position() {
    let e = errors("model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/gpt-4o\n      api_key: \"unterminated\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_has(&e, "t.yaml:5:16: YAML syntax error: ");
    let e = errors("model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/gpt-4o\n\tapi_key: x\n");
    assert_has(&e, "t.yaml:5:1: YAML syntax error: ");
    assert!(e[0].contains("tab"), "{e:?}");
}

#[test]
fn unknown_routing_strategy() {
    let e = errors(&format!("{ONE}router_settings:\n  routing_strategy: latency-routing\n"));
    assert_has(&e, "t.yaml:6:21: unknown routing_strategy 'latency-routing'");
    assert!(
        e[0].ends_with(
            "use one of: priority-routing, latency-based-routing, simple-shuffle, cost-based-routing, usage-based-routing-v2"
        ),
        "{e:?}"
    );
}

#[test]
fn litellm_strategy_names_map_with_a_warning() {
    let l = ok(&format!("{ONE}router_settings:\n  routing_strategy: least-busy\n"));
    assert_eq!(l.config.router.strategy, config::Strategy::Latency);
    assert_has(&warnings(&l), "t.yaml:6:21: warning: routing_strategy 'least-busy' is not implemented by this gateway; using 'latency-based-routing' instead");
    // Usage-based routing is implemented (fleet-wide rpm/tpm shares): no warning.
    for name in ["usage-based-routing", "usage-based-routing-v2"] {
        let l = ok(&format!("{ONE}router_settings:\n  routing_strategy: {name}\n"));
        assert_eq!(l.config.router.strategy, config::Strategy::UsageBased);
        assert_eq!(l.warnings.len(), 1, "{:?}", warnings(&l)); // no region
    }
}

#[test]
fn allowed_regions_are_enforced() {
    let yaml = "model_list:
  - model_name: claude-eu
    litellm_params:
      model: vertex_ai/claude-3-5-sonnet@20241022
      vertex_project: p
      vertex_location: europe-west1
  - model_name: claude-eu
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0
      aws_region_name: us-west-2
  - model_name: claude-eu
    litellm_params:
      model: anthropic/claude-3-5-sonnet-20241022
router_settings:
  allowed_regions: [\"europe-west1\", \"europe-west3\"]
";
    let e = errors(yaml);
    assert_eq!(
        e[0],
        "t.yaml:10:7: deployment 'claude-eu-us-west-2' region 'us-west-2' is outside router_settings.allowed_regions \
         [europe-west1, europe-west3]; remove the deployment or allow its region"
    );
    assert_has(&e, "t.yaml:12:5: deployment 'claude-eu-2' has no region, but router_settings.allowed_regions");
    assert_eq!(e.len(), 2, "{e:?}");
}

#[test]
fn weight_must_be_at_least_one() {
    let yaml = "model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/x
      aws_region_name: us-west-2
    weight: 0
  - model_name: claude
    litellm_params:
      model: bedrock/x
      aws_region_name: us-east-1
      weight: -3
";
    let e = errors(yaml);
    assert_eq!(e[0], "t.yaml:6:13: model_list[0] ('claude'): weight must be a whole number from 1 to 1000000, got '0'");
    assert_eq!(
        e[1],
        "t.yaml:11:15: model_list[1] ('claude'): litellm_params.weight must be a whole number from 1 to 1000000, got '-3'"
    );
}

#[test]
fn misspelt_keys_are_warnings_with_suggestions() {
    let yaml = "model_list:
  - model_name: a
    litellm_params:
      model: bedrock/x
      aws_regon_name: us-west-2
      aws_region_name: us-west-2
    modle_info: {id: x}
router_settings:
  cooldown_tme: 3
";
    let l = ok(yaml);
    let w = warnings(&l);
    assert_has(
        &w,
        "t.yaml:5:7: warning: unknown key 'aws_regon_name' in litellm_params; did you mean 'aws_region_name'?",
    );
    assert_has(&w, "t.yaml:7:5: warning: unknown key 'modle_info' in model_list[0]; did you mean 'model_info'?");
    assert_has(&w, "t.yaml:9:3: warning: unknown key 'cooldown_tme' in router_settings; did you mean 'cooldown_time'?");
    assert_eq!(l.config.router.cooldown_time_s, 5.0);
}

#[test]
fn real_litellm_params_are_accepted_and_listed_once_as_not_used() {
    let yaml = "model_list:
  - model_name: a
    litellm_params:
      model: bedrock/x
      aws_region_name: us-west-2
      max_tokens: 1024
      temperature: 0.2
      drop_params: true
      input_cost_per_token: 0.000003
      max_parallel_requests: 10
      custom_llm_provider: bedrock
      use_in_pass_through: false
      tags: [a, b]
      aws_access_key_id: os.environ/PATH
      aws_profile_name: default
    model_info:
      id: a-1
      mode: chat
      supports_vision: true
";
    let l = ok(yaml);
    // One line for every deployment's keys; model_info takes any key.
    assert_eq!(
        warnings(&l),
        ["t.yaml:6:7: warning: litellm_params keys accepted, not used by llm-router: max_tokens, temperature, drop_params, max_parallel_requests, use_in_pass_through, tags"]
    );
    assert_eq!(l.config.deployments[0].input_cost_per_token, Some(0.000003));
    // custom_llm_provider is honoured: the model is passed whole.
    assert_eq!(l.config.deployments[0].provider, config::Provider::Bedrock);
    assert_eq!(l.config.deployments[0].provider_model, "x");
}

#[test]
fn duplicate_keys_name_both_lines() {
    let e = errors(&format!("{ONE}      api_base: https://a.example.com\n      api_base: https://b.example.com\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_has(&e, "t.yaml:6:7: duplicate key 'api_base' (lines 5 and 6)");
}

#[test]
fn seed_pattern3_block_is_two_files() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/pattern3-combined.yaml");
    let diags = config::load(&path).expect_err("two configs in one file");
    let e: Vec<String> = diags.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("pattern3-combined.yaml:15:1: duplicate key 'model_list' (lines 4 and 15)"), "{e:?}");
}

#[test]
fn missing_model_and_model_name() {
    let e = errors("model_list:\n  - model_name: a\n    litellm_params:\n      api_key: os.environ/X\n  - litellm_params: {model: openai/gpt-4o}\n");
    assert_has(&e, "t.yaml:3:5: model_list[0] ('a') has no litellm_params.model; add model: PROVIDER/MODEL");
    assert_has(&e, "t.yaml:5:5: model_list[1] has no model_name");
    let e = errors("model_list:\n  - model_name: a\n");
    assert_has(&e, "t.yaml:2:5: model_list[0] ('a') has no litellm_params");
}

#[test]
fn missing_or_empty_model_list() {
    assert_has(&errors("router_settings:\n  num_retries: 1\n"), "t.yaml:1:1: the config has no model_list: llm-router reads its models from this file only (models added through LiteLLM's UI or API live in LiteLLM's database");
    assert_has(&errors("model_list: []\n"), "t.yaml:1:1: model_list is empty");
    assert_has(&errors("model_list:\n"), "t.yaml:1:1: model_list is empty");
    assert_has(&errors(""), "t.yaml:1:1: the config is empty");
    assert_has(&errors("- a\n"), "t.yaml:1:1: the config must be a mapping");
}

#[test]
fn azure_without_api_base_is_valid_but_not_servable() {
    // LiteLLM reads AZURE_API_BASE when it calls: a warning now, and render/serve refuse it.
    let l = ok("model_list:\n  - model_name: gpt4\n    litellm_params:\n      model: azure/my-deployment\n      api_version: \"2024-10-21\"\n");
    assert_eq!(warnings(&l)[0], "t.yaml:3:5: warning: model_list[0] ('gpt4'): azure deployment without litellm_params.api_base: set it, or AZURE_API_BASE where the gateway runs (render and serve refuse this deployment until then)");
    assert_eq!(
        l.config.deployments[0].unresolved,
        ["azure needs an api_base: set litellm_params.api_base, or AZURE_API_BASE where the gateway runs"]
    );
    // Without api_version: LiteLLM's default.
    let l = ok("model_list:\n  - model_name: gpt4\n    litellm_params:\n      model: azure/d\n      api_base: https://r.openai.azure.com\n");
    assert_eq!(l.config.deployments[0].api_version.as_deref(), Some("2025-02-01-preview"));
}

#[test]
fn providers_without_a_default_host_need_api_base() {
    let l = ok("model_list:\n  - model_name: l\n    litellm_params:\n      model: hosted_vllm/llama3\n");
    assert_has(&warnings(&l), "t.yaml:3:5: warning: model_list[0] ('l'): hosted_vllm deployment without litellm_params.api_base: set it, or HOSTED_VLLM_API_BASE where the gateway runs");
    assert_eq!(l.config.deployments[0].unresolved.len(), 1);
    let e = errors("model_list:\n  - model_name: l\n    litellm_params:\n      model: openai_like/llama3\n");
    assert_has(&e, "t.yaml:3:5: model_list[0] ('l'): openai_like deployments need litellm_params.api_base");
    // Groq has LiteLLM's default endpoint.
    let l = ok("model_list:\n  - model_name: l\n    litellm_params:\n      model: groq/llama3\n");
    assert_eq!(l.config.deployments[0].endpoint.host, "api.groq.com");
    // Bedrock without a region is valid (LiteLLM reads it from the environment) but not servable.
    let l = ok("model_list:\n  - model_name: c\n    litellm_params:\n      model: bedrock/anthropic.claude-3\n");
    assert_has(&warnings(&l), "t.yaml:3:5: warning: model_list[0] ('c'): bedrock deployment with no region: set litellm_params.aws_region_name");
    assert_eq!(l.config.deployments[0].unresolved.len(), 1);
    // Vertex without a location takes LiteLLM's default, with a warning.
    let l = ok("model_list:\n  - model_name: c\n    litellm_params:\n      model: vertex_ai/gemini-2.0-flash\n      vertex_project: p\n");
    assert_has(&warnings(&l), "t.yaml:3:5: warning: model_list[0] ('c') names no Vertex location");
    assert_eq!(l.config.deployments[0].vertex_location.as_deref(), Some("us-central1"));
}

#[test]
fn malformed_api_base() {
    let e = errors(&format!("{ONE}      api_base: \"ftp://example.com\"\n"));
    assert_eq!(e, vec!["t.yaml:5:17: model_list[0] ('a'): api_base must start with http:// or https://"]);
    let e = errors(&format!("{ONE}      api_base: https://example.com:99999/v1\n"));
    assert_has(&e, "t.yaml:5:17: model_list[0] ('a'): api_base has an invalid port");
}

#[test]
fn unknown_fallback_group() {
    let e = errors(&format!(
        "{ONE}router_settings:\n  fallbacks: [{{\"a\": [\"claude-backup\"]}}, {{\"nope\": [\"a\"]}}]\n"
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(
        e[0],
        "t.yaml:6:22: fallbacks name 'claude-backup', which is not a model_name in model_list; use one of: a"
    );
    assert_has(&e, "t.yaml:6:42: fallbacks name 'nope'");
}

#[test]
fn priority_and_order_must_agree() {
    let e = errors(&format!("{ONE}      aws_region_name: us-west-2\n      order: 2\n    priority: 1\n"));
    assert_eq!(
        e,
        vec!["t.yaml:6:14: model_list[0] ('a'): priority 1 (line 7) and litellm_params.order 2 disagree; keep one"]
    );
    ok(&format!("{ONE}      region_name: us-west-2\n      order: 1\n    priority: 1\n"));
}

#[test]
fn router_numbers_are_checked() {
    let e = errors(&format!(
        "{ONE}router_settings:\n  num_retries: -1\n  allowed_fails: 1.5\n  cooldown_time: -5\n  timeout: 0\n  health_check_interval: abc\n"
    ));
    assert_has(&e, "t.yaml:6:16: router_settings.num_retries must be a whole number from 0 to 100, got '-1'");
    assert_has(&e, "t.yaml:7:18: router_settings.allowed_fails must be a whole number from 0 to 1000000, got '1.5'");
    assert_has(&e, "t.yaml:8:18: router_settings.cooldown_time must be a number >= 0 and at most 604800, got '-5'");
    assert_has(&e, "t.yaml:9:12: router_settings.timeout must be a number greater than 0 and at most 604800, got '0'");
    assert_has(&e, "t.yaml:10:26: router_settings.health_check_interval must be a number greater than 0 and at most 604800, got 'abc'");
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let yaml = "model_list:
  - model_name: a
    litellm_params:
      model: mycorp/x
  - model_name: b
    litellm_params:
      model: openai/gpt-4o
    weight: 0
router_settings:
  routing_strategy: fastest
  fallbacks: [{a: [c]}]
";
    let diags = config::load_str(yaml, "t.yaml").expect_err("invalid");
    let e: Vec<String> = diags.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect();
    let at: Vec<String> = e.iter().map(|l| l.split(": ").next().unwrap_or_default().to_string()).collect();
    assert_eq!(at, vec!["t.yaml:4:14", "t.yaml:8:13", "t.yaml:10:21", "t.yaml:11:20"], "{e:?}");
    let mut sorted = diags.clone();
    sorted.sort_by_key(|d| (d.line, d.col));
    assert_eq!(
        sorted.iter().map(|d| (d.line, d.col)).collect::<Vec<_>>(),
        diags.iter().map(|d| (d.line, d.col)).collect::<Vec<_>>()
    );
}

#[test]
fn ignored_sections_are_reported_once_each() {
    let yaml = format!(
        "{ONE}      region_name: us-west-2\nlitellm_settings:\n  drop_params: true\n  set_verbose: true\ngeneral_settings:\n  database_url: x\n  master_key: os.environ/PATH\nenvironment_variables:\n  A: b\n  C: d\n"
    );
    let l = ok(&yaml);
    let w = warnings(&l);
    assert_eq!(
        w,
        vec![
            "t.yaml:7:3: warning: litellm_settings keys accepted, not used by llm-router: drop_params, set_verbose",
            "t.yaml:10:3: warning: general_settings keys accepted, not used by llm-router: database_url",
            "t.yaml:12:1: warning: sections accepted, not used by llm-router: environment_variables",
        ]
    );
    assert_eq!(l.config.master_key, Some(config::Secret::Env("PATH".into())));
}

#[test]
fn unset_environment_variable_is_a_warning_naming_it() {
    let l =
        ok(&format!("{ONE}      region_name: us-west-2\n      api_key: os.environ/LLM_ROUTER_TEST_SURELY_UNSET_VAR\n"));
    assert_eq!(
        warnings(&l),
        vec!["t.yaml:6:16: warning: model_list[0] ('a'): litellm_params.api_key refers to environment variable LLM_ROUTER_TEST_SURELY_UNSET_VAR, which is not set in this environment; set it where the gateway runs"]
    );
    assert_has(
        &errors(&format!("{ONE}      api_key: os.environ/\n")),
        "t.yaml:5:16: model_list[0] ('a'): litellm_params.api_key: 'os.environ/' must be followed by",
    );
}

#[test]
fn residency_zone_conflicts() {
    let e = errors(&format!("{ONE}router_settings:\n  residency_zones:\n    eu: [eu-west-1]\n    gdpr: [eu-west-1]\n"));
    assert_has(&e, "t.yaml:8:12: region 'eu-west-1' is in residency zones 'eu' and 'gdpr'");
}

#[test]
fn numbers_are_range_checked_not_wrapped() {
    // Each of these was accepted before: u32::MAX retries wrapped the filter's plan to nothing
    // on wasm32, and durations past a week are typos that Envoy or the arithmetic would trip on.
    let yaml = "model_list:\n  - model_name: a\n    weight: 4294967295\n    priority: 2000000\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: http://127.0.0.1:1/v1\n      timeout: 1e20\n      metadata: {latency_target: 4294967295}\nrouter_settings:\n  num_retries: 4294967295\n  allowed_fails: 4294967295\n  cooldown_time: 1e300\n  timeout: 604801\n  stream_timeout: 0\n";
    let e = errors(yaml);
    assert_has(&e, "t.yaml:3:13: model_list[0] ('a'): weight must be a whole number from 1 to 1000000");
    assert_has(&e, "t.yaml:4:15: model_list[0] ('a'): priority must be a whole number from 0 to 999999");
    assert_has(&e, "t.yaml:8:16:");
    assert_has(&e, "t.yaml:9:34:");
    assert_has(&e, "t.yaml:11:16: router_settings.num_retries must be a whole number from 0 to 100");
    assert_has(&e, "t.yaml:12:18: router_settings.allowed_fails must be a whole number from 0 to 1000000");
    assert_has(&e, "t.yaml:13:18: router_settings.cooldown_time must be a number >= 0 and at most 604800");
    assert_has(&e, "t.yaml:14:12: router_settings.timeout must be a number greater than 0 and at most 604800");
    assert_has(&e, "t.yaml:15:19: router_settings.stream_timeout must be a number greater than 0");
    // The limits themselves are fine.
    ok("model_list:\n  - model_name: a\n    weight: 1000000\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: http://127.0.0.1:1/v1\nrouter_settings:\n  num_retries: 100\n  cooldown_time: 604800\n");
}
