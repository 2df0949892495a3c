//! The xDS encoding's fast path (`xds::transcode`: JSON written straight to protobuf) against
//! `prost-reflect`'s `DynamicMessage`, the reference it replaces: for every resource that
//! `serve` builds from the examples, from the LiteLLM corpus and from a config with every kind
//! of credential, TLS and health check, the fast path takes the JSON (no fallback, which
//! would cost the speed) and writes the same message in as many bytes.

use std::path::{Path, PathBuf};

use llm_router::translate::{self, Options, SecretMode};
use llm_router::xds::encode::{decode_to_json, encode_json_direct, encode_json_reflect};
use llm_router::xds::snapshot::{CLUSTER, EXTENSION_CONFIG, LISTENER, ROUTE, SECRET};
use llm_router::{config, servable};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn options() -> Options {
    Options { filter_wasm: "/x/llm_router_filter.wasm".into(), secret_mode: SecretMode::Inline, ..Default::default() }
}

/// Checks every xDS resource of `cfg`; returns how many there were.
fn check(source: &str, cfg: &config::Config) -> usize {
    let r = translate::translate_xds(cfg, &options());
    let all = [
        (LISTENER, &r.listeners),
        (ROUTE, &r.route_configs),
        (CLUSTER, &r.clusters),
        (EXTENSION_CONFIG, &r.extension_configs),
        (SECRET, &r.secrets),
    ];
    let mut n = 0;
    for (type_url, items) in all {
        for json in items {
            let name = json["name"].as_str().unwrap_or_default();
            let direct = encode_json_direct(type_url, json)
                .expect("descriptors")
                .unwrap_or_else(|| panic!("{source}: {name} was left to prost-reflect: {json}"));
            let reflect = encode_json_reflect(type_url, name, json).unwrap_or_else(|e| panic!("{source}: {e}"));
            let decode = |bytes: &[u8]| decode_to_json(type_url, bytes).expect("decodes");
            assert_eq!(decode(&direct), decode(&reflect), "{source}: {name}");
            assert_eq!(direct.len(), reflect.len(), "{source}: {name}");
            n += 1;
        }
    }
    n
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "yaml"));
    files.sort();
    files
}

#[test]
fn every_example_and_corpus_config_is_encoded_by_the_fast_path_as_prost_reflect_encodes_it() {
    let mut files = yaml_files(&repo().join("examples"));
    // The LiteLLM corpus (shared/, beside the repository), where it is present.
    files.extend(yaml_files(&repo().join("../shared/compat/litellm-configs")));
    let (mut configs, mut resources) = (0, 0);
    for file in &files {
        let Ok(loaded) = config::load(file) else { continue };
        resources += check(&file.display().to_string(), &loaded.config);
        configs += 1;
    }
    assert!(configs >= 9, "the examples at least: {configs}");
    assert!(resources > 40, "{resources}");
}

/// Every kind of credential (keys as SDS secrets, SigV4 with static keys, a profile, an assumed
/// role, a web identity), TLS verified against the default CA, a bundle or not at all, health
/// checks, outlier detection, per-deployment timeouts and residency zones.
const EVERYTHING: &str = r#"
model_list:
  - model_name: chat
    litellm_params: {model: openai/gpt-4o, api_base: 'https://api.openai.example/v1', api_key: sk-literal, region_name: us-east-1, timeout: 90, stream_timeout: 5, rpm: 100, tpm: 10000}
    model_info: {id: oa}
  - model_name: chat
    litellm_params: {model: azure/gpt-4o, api_base: 'https://eu.openai.azure.com', api_key: az-literal, api_version: '2024-06-01', region_name: eu-west-1, ssl_verify: false}
  - model_name: chat
    litellm_params: {model: anthropic/claude-3-5-sonnet, api_key: an-literal, ssl_verify: /etc/corp-ca.pem, region_name: us-west-2, input_cost_per_token: 0.000003, output_cost_per_token: 0.000015}
  - model_name: chat
    litellm_params: {model: bedrock/anthropic.claude-3-5-sonnet, aws_region_name: eu-central-1, aws_access_key_id: AKIAEXAMPLE, aws_secret_access_key: secret-literal, cooldown_time: 7}
  - model_name: chat
    litellm_params: {model: bedrock/anthropic.claude-3-haiku, aws_region_name: us-east-2, aws_profile_name: prod}
  - model_name: chat
    litellm_params: {model: bedrock/anthropic.claude-3-opus, aws_region_name: us-west-2, aws_role_name: 'arn:aws:iam::123456789012:role/r', aws_session_name: s}
  - model_name: chat
    litellm_params: {model: bedrock/anthropic.claude-3-opus, aws_region_name: eu-west-3, aws_role_name: 'arn:aws:iam::123456789012:role/w', aws_web_identity_token: token-literal}
  - model_name: gem
    litellm_params: {model: gemini/gemini-2.0-flash, api_key: g-literal, region_name: us-east-1}
  - model_name: local
    litellm_params: {model: openai/llama, api_base: 'http://10.0.0.1:8000/v1', region_name: us-west-2}
router_settings:
  routing_strategy: latency-based-routing
  num_retries: 3
  allowed_fails: 2
  cooldown_time: 30
  health_check_interval: 15
  health_check_timeout: 2.5
  residency_zones: {us: [us-east-1, us-east-2, us-west-2], eu: [eu-west-1, eu-central-1, eu-west-3]}
  fallbacks: [{chat: [gem]}]
general_settings:
  master_key: sk-master
"#;

#[test]
fn every_credential_tls_and_health_check_shape_is_encoded_by_the_fast_path() {
    let loaded = config::load_str(EVERYTHING, "everything.yaml").unwrap_or_else(|d| panic!("{d:#?}"));
    let servable = servable::check(&loaded.config, &options());
    assert!(servable.is_servable(), "{:?}", servable.problems);
    let r = translate::translate_xds(&loaded.config, &options());
    let text = Value::Array(r.clusters.clone()).to_string();
    for shape in ["credential_injector", "aws_request_signing", "assume_role", "web_identity", "UpstreamTlsContext"] {
        assert!(text.contains(shape), "the config exercises {shape}");
    }
    assert!(!r.secrets.is_empty());
    check("everything.yaml", &loaded.config);
}
