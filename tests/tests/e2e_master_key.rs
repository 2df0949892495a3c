//! LiteLLM's `general_settings.master_key`: every model request needs the gateway's key;
//! the key never reaches Envoy's config in clear, nor an upstream.

mod common;

use common::{chat_body, Gateway};
use llm_router_e2e::{MockRegion, Req};
use sha2::{Digest, Sha256};

#[test]
fn the_gateway_key_is_required_and_never_shown_or_forwarded() {
    let region = MockRegion::start("us-west-2");
    let yaml = format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: openai/m\n      api_base: {}/v1\n      region_name: us-west-2\ngeneral_settings:\n  master_key: os.environ/TEST_GATEWAY_KEY\n",
        region.url()
    );
    let key = "sk-gateway-7f3a9c2e51";
    let gw = Gateway::start_with_env(&yaml, "us-west-2", &[("TEST_GATEWAY_KEY", key)]);
    let send = |headers: &[(&str, &str)]| {
        Req::post(&gw.chat_url()).json(&chat_body("claude")).headers(headers).send().expect("answer")
    };

    for headers in [vec![], vec![("authorization", "Bearer wrong")], vec![("x-api-key", "sk-nope")]] {
        let r = send(&headers);
        assert_eq!(r.status, 401, "{headers:?}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "invalid_api_key");
    }
    assert_eq!(region.requests(), 0);
    let bearer = format!("Bearer {key}");
    assert_eq!(send(&[("authorization", &bearer)]).status, 200);
    assert_eq!(send(&[("x-api-key", key)]).status, 200);
    assert!(!region.last_headers().to_string().contains(key), "the client's key is not forwarded upstream");
    assert_eq!(llm_router_e2e::get(&gw.url("/health")).status, 200, "/health stays open for load balancers");

    let dump = gw.envoy.admin_get("/config_dump");
    assert!(!dump.contains(key), "the key is not in /config_dump");
    let rendered = std::fs::read_to_string(gw.envoy.dir().join("envoy.yaml")).unwrap_or_default();
    assert!(!rendered.contains(key), "nor in the rendered config");

    // Nor its unsalted SHA-256 (a dictionary lookup away from the key), in any encoding: the
    // filter's configuration is base64 protobuf, so look inside every base64 word too.
    let sha = Sha256::digest(key.as_bytes());
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    for (place, text) in [("/config_dump", &dump), ("the rendered config", &rendered)] {
        let decoded = base64_words(text);
        assert!(decoded.len() > 1, "{place}: the filter configuration is found");
        assert!(!text.contains(&hex), "{place} holds the key's SHA-256");
        assert!(
            !decoded.iter().any(|bytes| bytes.windows(32).any(|w| w == sha.as_slice())),
            "{place} holds the key's unsalted SHA-256"
        );
    }
}

/// The bytes of every word of `text` that is base64 (at least 40 characters).
fn base64_words(text: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .filter(|w| w.len() >= 40)
        .filter_map(|w| base64::engine::general_purpose::STANDARD.decode(w).ok())
        .collect()
}

#[test]
fn render_salts_the_key_anew_each_time_and_validate_warns_of_a_short_one() {
    let dir = llm_router_e2e::TempDir::new("llm-master-key");
    let config = dir.path().join("litellm.yaml");
    std::fs::write(
        &config,
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: openai/m\n      api_base: http://127.0.0.1:1/v1\n      region_name: us-west-2\ngeneral_settings:\n  master_key: os.environ/TEST_SHORT_GATEWAY_KEY\n",
    )
    .expect("write");
    let run = |cmd: &str| {
        let mut c = std::process::Command::new(llm_router_e2e::llm_router_bin());
        c.arg(cmd).arg("--config").arg(&config).env("TEST_SHORT_GATEWAY_KEY", "sk-short-1");
        if cmd == "render" {
            c.arg("--filter-wasm").arg(llm_router_e2e::filter_wasm());
        }
        let out = c.output().expect("run llm-router");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (_, warnings) = run("validate");
    assert!(
        warnings.contains(&format!("{}:8:15: warning: general_settings.master_key (os.environ/TEST_SHORT_GATEWAY_KEY) is shorter than 16 characters", config.display())),
        "{warnings}"
    );
    assert!(!warnings.contains("sk-short-1"), "{warnings}");
    let (first, _) = run("render");
    let (second, _) = run("render");
    assert_ne!(first, second, "each render has its own salt, so its own digest");
    assert!(!first.contains("sk-short-1") && !second.contains("sk-short-1"));
}
