//! LiteLLM's `general_settings.master_key`: every model request needs the gateway's key;
//! the key never reaches Envoy's config in clear, nor an upstream.

mod common;

use common::{chat_body, Gateway};
use llm_router_e2e::{MockRegion, Req};

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
}
