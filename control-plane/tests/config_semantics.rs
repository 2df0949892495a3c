//! What a valid config means: dialects, regions, zones, ids, providers, endpoints,
//! defaults, secrets.

use llm_router::config::{self, Config, Diagnostic, Endpoint, Loaded, Secret, Strategy};

fn ok(yaml: &str) -> Loaded {
    match config::load_str(yaml, "t.yaml") {
        Ok(l) => l,
        Err(diags) => {
            panic!("expected a valid config:\n{}", diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))
        }
    }
}

fn cfg(yaml: &str) -> Config {
    ok(yaml).config
}

fn warnings(l: &Loaded) -> Vec<String> {
    l.warnings.iter().map(Diagnostic::to_string).collect()
}

#[test]
fn both_dialects_give_the_same_config() {
    let seed = "model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0
      aws_region_name: us-west-2
    priority: 1
    weight: 3
  - model_name: claude
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0
      aws_region_name: eu-west-1
    priority: 2
";
    let litellm = "model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0
      aws_region_name: us-west-2
      order: 1
      weight: 3
  - model_name: claude
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0
      aws_region_name: eu-west-1
      order: 2
";
    let a = ok(seed);
    let b = ok(litellm);
    assert!(a.warnings.is_empty() && b.warnings.is_empty(), "{:?} {:?}", warnings(&a), warnings(&b));
    assert_eq!(a.config, b.config);
    let d = &a.config.deployments;
    assert_eq!((d[0].priority, d[0].weight, d[1].priority, d[1].weight), (Some(1), 3, Some(2), 1));
    assert_eq!(a.config.router.strategy, Strategy::Priority, "priority given: priority-routing by default");
}

#[test]
fn region_sources_in_order() {
    let c = cfg("model_list:
  - model_name: m
    litellm_params:
      model: bedrock/anthropic.claude-3
      aws_region_name: us-west-2
      region_name: us-west-2
      metadata: {region: us-west, latency_target: 50}
  - model_name: m
    litellm_params:
      model: bedrock/anthropic.claude-3
      aws_region_name: us-west-2
      region_name: us
  - model_name: m
    litellm_params:
      model: vertex_ai/claude-3-5-sonnet@20241022
      vertex_project: p
      vertex_location: europe-west1
  - model_name: m
    litellm_params:
      model: vertex_ai/gemini-2.0-flash
      vertex_project: p
      vertex_location: global
");
    let d = &c.deployments;
    assert_eq!((d[0].region.as_str(), d[0].zone.as_str()), ("us-west", "us"));
    assert_eq!(d[0].latency_target_ms, Some(50));
    // metadata.region names the region; the AWS region called is still aws_region_name.
    assert_eq!(d[0].aws_region_name.as_deref(), Some("us-west-2"));
    assert_eq!(d[0].endpoint.host, "bedrock-runtime.us-west-2.amazonaws.com");
    // region_name labels it too (a label must agree with the region called: the same or
    // coarser); it never moves the endpoint.
    assert_eq!(d[1].region, "us");
    assert_eq!(d[1].endpoint.host, "bedrock-runtime.us-west-2.amazonaws.com");
    assert_eq!((d[2].region.as_str(), d[2].zone.as_str()), ("europe-west1", "eu"));
    assert_eq!(
        d[2].endpoint,
        Endpoint {
            tls: true,
            host: "europe-west1-aiplatform.googleapis.com".into(),
            port: 443,
            base_path: String::new()
        }
    );
    assert_eq!(d[2].vertex_project.as_deref(), Some("p"));
    assert_eq!((d[3].region.as_str(), d[3].zone.as_str()), ("global", ""));
    assert_eq!(d[3].endpoint.host, "aiplatform.googleapis.com");
    assert_eq!(c.zones, vec!["eu", "us"]);
}

#[test]
fn zones_by_prefix() {
    let regions = [
        ("eu-central-1", "eu"),
        ("europe-west4", "eu"),
        ("us-east-1", "us"),
        ("northamerica-northeast1", "us"),
        ("ap-northeast-1", "apac"),
        ("asia-southeast1", "apac"),
        ("australia-southeast1", "apac"),
        ("me-central-1", "me"),
        ("sa-east-1", "sa"),
        ("southamerica-east1", "sa"),
        ("ca-central-1", "ca"),
        ("af-south-1", "af"),
        ("eu-west", "eu"),
        ("ap-southeast", "apac"),
        ("mars-1", ""),
    ];
    let mut yaml = String::from("model_list:\n");
    for (r, _) in regions {
        yaml.push_str(&format!(
            "  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n      region_name: {r}\n"
        ));
    }
    let c = cfg(&yaml);
    for (d, (r, z)) in c.deployments.iter().zip(regions) {
        assert_eq!((d.region.as_str(), d.zone.as_str()), (r, z));
    }
    assert_eq!(c.zones, vec!["af", "apac", "ca", "eu", "me", "sa", "us"]);
}

#[test]
fn residency_zones_override_prefixes() {
    let l = ok("model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o, region_name: eu-west-1}
  - model_name: m
    litellm_params: {model: openai/gpt-4o, region_name: europe-west3}
  - model_name: m
    litellm_params: {model: openai/gpt-4o, region_name: us-east-1}
router_settings:
  residency_zones:
    gdpr: [eu-west-1, europe-west3]
    ch: []
  gateway_region: eu-west-1
");
    let c = &l.config;
    let zones: Vec<&str> = c.deployments.iter().map(|d| d.zone.as_str()).collect();
    assert_eq!(zones, vec!["gdpr", "gdpr", ""]);
    assert_eq!(c.zones, vec!["ch", "gdpr"]);
    assert_eq!(c.router.gateway_region.as_deref(), Some("eu-west-1"));
    assert_eq!(c.router.residency_zones["gdpr"], vec!["eu-west-1", "europe-west3"]);
    assert_eq!(
        warnings(&l),
        vec!["t.yaml:7:44: warning: deployment 'm-us-east-1' region 'us-east-1' is in no router_settings.residency_zones entry; requests with x-llm-residency never use it"]
    );
}

#[test]
fn a_region_is_never_taken_from_the_model_name() {
    let l = ok("model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/.../us-west-2
    weight: 40
  - model_name: gpt
    litellm_params:
      model: gpt-4o
");
    let d = &l.config.deployments;
    // LiteLLM does not read a region from the model name either: Bedrock then takes it from
    // the environment where the gateway runs (none here), so the deployment cannot be served yet.
    assert_eq!((d[0].region.as_str(), d[0].zone.as_str(), d[0].id.as_str()), ("", "", "claude-0"));
    assert!(!d[0].unresolved.is_empty(), "{:?}", d[0]);
    assert_eq!((d[1].region.as_str(), d[1].zone.as_str(), d[1].id.as_str()), ("", "", "gpt-1"));
    let w = warnings(&l).join("\n");
    assert!(w.contains("t.yaml:4:14: warning: model_list[0] ('claude'): the model name ends in 'us-west-2', which is not read as a region"), "{w}");
    assert!(w.contains("bedrock deployment with no region"), "{w}");
    // One line for the file, naming the deployments without a region.
    assert!(w.contains("warning: 2 deployments have no region (claude-0, gpt-1): "), "{w}");
    // A bare model name is read as LiteLLM infers it, with a warning.
    assert!(w.contains("model 'gpt-4o' has no provider prefix; read as openai/gpt-4o"), "{w}");
}

#[test]
fn deployment_ids() {
    let l = ok("model_list:
  - model_name: claude
    litellm_params: {model: anthropic/claude-3-5-sonnet, region_name: us-east-1}
  - model_name: claude
    litellm_params: {model: anthropic/claude-3-5-sonnet, region_name: us-east-1}
  - model_name: claude
    litellm_params: {model: anthropic/claude-3-5-sonnet, region_name: us-east-1}
    model_info: {id: claude-us-east-1-2}
  - model_name: gpt 4o/mini
    litellm_params: {model: gpt-4o-mini, region_name: us-east-1}
  - model_name: claude
    litellm_params: {model: anthropic/claude-3-5-sonnet, region_name: us-east-1}
");
    let ids: Vec<&str> = l.config.deployments.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "claude-us-east-1",
            "claude-us-east-1-3",
            "claude-us-east-1-2",
            "gpt-4o-mini-us-east-1",
            "claude-us-east-1-4"
        ]
    );
    let diags = config::load_str(
        "model_list:\n  - model_name: a\n    litellm_params: {model: gpt-4o}\n    model_info: {id: x}\n  - model_name: b\n    litellm_params: {model: gpt-4o}\n    model_info: {id: x}\n",
        "t.yaml",
    )
    .expect_err("duplicate ids");
    assert!(
        diags.iter().any(|d| d.to_string()
            == "t.yaml:7:22: model_info.id 'x' is also the id of model_list[0] (line 4); ids must be unique"),
        "{diags:?}"
    );
}

#[test]
fn providers_and_endpoints() {
    let l = ok("model_list:
  - model_name: a
    litellm_params: {model: bedrock/converse/anthropic.claude-3, aws_region_name: eu-central-1}
  - model_name: a
    litellm_params: {model: gpt-4o, region_name: us-east-1}
  - model_name: a
    litellm_params: {model: openai/llama3, api_base: \"http://localhost:8000/v1/\", region_name: us-east-1}
  - model_name: a
    litellm_params: {model: anthropic/claude-3-5-sonnet, region_name: us-east-1}
  - model_name: a
    litellm_params: {model: azure/my-gpt4, api_base: \"https://res.openai.azure.com\", api_version: \"2024-10-21\", region_name: eastus}
  - model_name: a
    litellm_params: {model: hosted_vllm/llm, api_base: \"https://llm.corp:8443/api\", region_name: us-east-1}
  - model_name: a
    litellm_params: {model: bedrock/anthropic.claude-3, aws_region_name: us-west-2, api_base: \"https://vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com\"}
");
    let d = &l.config.deployments;
    let p: Vec<(&str, &str)> = d.iter().map(|d| (d.provider.prefix(), d.provider_model.as_str())).collect();
    assert_eq!(
        p,
        vec![
            ("bedrock", "anthropic.claude-3"),
            ("openai", "gpt-4o"),
            ("openai", "llama3"),
            ("anthropic", "claude-3-5-sonnet"),
            ("azure", "my-gpt4"),
            ("hosted_vllm", "llm"),
            ("bedrock", "anthropic.claude-3"),
        ]
    );
    let e = |tls: bool, host: &str, port: u16, base: &str| Endpoint {
        tls,
        host: host.into(),
        port,
        base_path: base.into(),
    };
    assert_eq!(d[0].endpoint, e(true, "bedrock-runtime.eu-central-1.amazonaws.com", 443, ""));
    assert_eq!(d[1].endpoint, e(true, "api.openai.com", 443, "/v1"));
    assert_eq!(d[2].endpoint, e(false, "localhost", 8000, "/v1"));
    assert_eq!(d[3].endpoint, e(true, "api.anthropic.com", 443, ""));
    assert_eq!(d[4].endpoint, e(true, "res.openai.azure.com", 443, ""));
    assert_eq!(d[4].api_version.as_deref(), Some("2024-10-21"));
    assert_eq!(d[5].endpoint, e(true, "llm.corp", 8443, "/api"));
    assert_eq!(d[6].endpoint, e(true, "vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com", 443, ""));
    assert_eq!(d[6].aws_region_name.as_deref(), Some("us-west-2"));
    let w = warnings(&l);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("t.yaml:5:29: warning: model_list[1] ('a'): model 'gpt-4o' has no provider prefix"),
        "{w:?}"
    );
    // A prefix LiteLLM does not know is refused by name, never read as OpenAI-compatible.
    let e = config::load_str(
        "model_list:\n  - model_name: a\n    litellm_params: {model: mycorp/llm, api_base: \"https://llm.corp/v1\"}\n",
        "t.yaml",
    )
    .expect_err("refused");
    assert!(e[0].to_string().starts_with("t.yaml:3:29: model_list[0] ('a'): unknown provider 'mycorp' in model 'mycorp/llm'; LiteLLM does not know it either. Write openai/MODEL"), "{e:?}");
}

#[test]
fn defaults() {
    let c = cfg("model_list:\n  - model_name: a\n    litellm_params: {model: gpt-4o, region_name: us-east-1}\n");
    let r = &c.router;
    assert_eq!(r.strategy, Strategy::SimpleShuffle);
    assert_eq!((r.num_retries, r.allowed_fails, r.cooldown_time_s), (2, 3, 5.0));
    assert_eq!((r.health_check_interval_s, r.health_check_timeout_s), (None, None));
    assert_eq!((r.allowed_regions.clone(), r.timeout_s, r.stream_timeout_s), (None, None, None));
    assert!(r.fallbacks.is_empty() && r.residency_zones.is_empty() && r.gateway_region.is_none());
    let d = &c.deployments[0];
    assert_eq!((d.weight, d.priority, d.rpm, d.tpm, d.timeout_s), (1, None, None, None, None));
    assert!(c.master_key.is_none());

    let c = cfg("model_list:
  - model_name: a
    litellm_params: {model: gpt-4o, region_name: us-east-1, rpm: 100, tpm: 10000, timeout: 30, stream_timeout: 2.5}
  - model_name: b
    litellm_params: {model: gpt-4o, region_name: us-east-1}
router_settings:
  health_check_interval: 15
  timeout: 60
  stream_timeout: 4
  num_retries: 0
  fallbacks: [{a: [b]}]
");
    let (r, d) = (&c.router, &c.deployments[0]);
    assert_eq!((r.health_check_interval_s, r.health_check_timeout_s), (Some(15.0), Some(5.0)));
    assert_eq!((r.timeout_s, r.stream_timeout_s, r.num_retries), (Some(60.0), Some(4.0), 0));
    assert_eq!(r.fallbacks, vec![("a".to_string(), vec!["b".to_string()])]);
    assert_eq!((d.rpm, d.tpm, d.timeout_s, d.stream_timeout_s), (Some(100), Some(10000), Some(30.0), Some(2.5)));
}

#[test]
fn aliases_and_merge_keys_work() {
    let c = cfg("x-common: &common
  model: bedrock/anthropic.claude-3
  aws_region_name: us-west-2
model_list:
  - model_name: a
    litellm_params:
      <<: *common
  - model_name: a
    litellm_params:
      <<: *common
      aws_region_name: eu-west-1
");
    let r: Vec<&str> = c.deployments.iter().map(|d| d.region.as_str()).collect();
    assert_eq!(r, vec!["us-west-2", "eu-west-1"]);
}

const SECRETS: [&str; 6] = [
    "sk-live-SECRET-aaa",
    "AKIASECRETKEYID",
    "wJalrSECRETaccess",
    "sessionSECRETtok",
    "sk-MASTER-SECRET",
    "{\"private_key\": \"SECRETPEM\"}",
];

#[test]
fn secrets_never_appear_in_output() {
    let yaml = format!(
        "model_list:
  - model_name: a
    litellm_params:
      model: bedrock/anthropic.claude-3
      aws_region_name: us-west-2
      api_key: {}
      aws_access_key_id: {}
      aws_secret_access_key: {}
      aws_session_token: {}
  - model_name: b
    litellm_params:
      model: vertex_ai/gemini-2.0-flash
      vertex_location: us-central1
      vertex_project: p
      vertex_credentials: '{}'
      api_key: os.environ/SOME_KEY_VAR
general_settings:
  master_key: {}
",
        SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3], SECRETS[5], SECRETS[4]
    );
    let l = ok(&yaml);
    let d = &l.config.deployments;
    assert_eq!(d[0].api_key, Some(Secret::Literal(SECRETS[0].into())));
    assert_eq!(d[0].credentials.aws_secret_access_key, Some(Secret::Literal(SECRETS[2].into())));
    assert_eq!(d[1].credentials.vertex_credentials, Some(Secret::Literal(SECRETS[5].into())));
    assert_eq!(d[1].api_key, Some(Secret::Env("SOME_KEY_VAR".into())));
    let outputs = [format!("{:?}", l.config), format!("{:#?}", l), config::summary(&l.config), warnings(&l).join("\n")];
    for out in &outputs {
        for s in SECRETS.iter().chain(&["SECRETPEM"]) {
            assert!(!out.contains(s), "secret {s:?} leaked in:\n{out}");
        }
    }
    assert!(config::summary(&l.config).contains("master key: required"));

    // Diagnostics about broken secret values do not echo them either.
    let broken = "model_list:
  - model_name: a
    litellm_params:
      model: openai/gpt-4o
      api_key: [sk-live-SECRET-aaa]
      api_base: https://user:sk-live-SECRET-aaa@example.com/v1
general_settings:
  master_key: {k: sk-MASTER-SECRET}
";
    let diags = config::load_str(broken, "t.yaml").expect_err("invalid");
    let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert!(text.len() >= 3, "{text:?}");
    for line in &text {
        assert!(!line.contains("SECRET"), "secret leaked: {line}");
    }
}

#[test]
fn summary_shows_groups_and_deployments() {
    let c = cfg("model_list:
  - model_name: claude-global
    litellm_params: {model: bedrock/anthropic.claude-3, aws_region_name: us-west-2}
    priority: 1
  - model_name: claude-global
    litellm_params: {model: bedrock/anthropic.claude-3, aws_region_name: eu-west-1}
    priority: 2
  - model_name: claude-backup
    litellm_params: {model: openai/gpt-4o, api_base: \"http://10.0.0.1:8080/v1\", region_name: us-east-1}
router_settings:
  routing_strategy: priority-routing
  allowed_fails: 5
  cooldown_time: 300
  health_check_interval: 30
  fallbacks: [{claude-global: [claude-backup]}]
");
    let s = config::summary(&c);
    for want in [
        "strategy: priority-routing",
        "retries: 2  allowed_fails: 5  cooldown: 300s",
        "health checks: every 30s, timeout 5s",
        "claude-global (2 deployments)",
        "claude-global-us-west-2",
        "bedrock-runtime.eu-west-1.amazonaws.com",
        "10.0.0.1:8080",
        "fallbacks: claude-backup",
        "zones: eu, us",
    ] {
        assert!(s.contains(want), "{want:?} missing from:\n{s}");
    }
    assert!(s.lines().count() < 25, "{s}");
}
