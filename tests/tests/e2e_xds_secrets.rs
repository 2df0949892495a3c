//! `serve` delivers provider credentials over xDS: API keys as SDS secrets, per-deployment AWS
//! keys inline in the signing filter — fields Envoy redacts in /config_dump. The Envoy itself
//! has no credentials in its environment.

mod xds_common;

use llm_router_e2e::mock::{AwsCredentials, Provider};
use llm_router_e2e::{MockRegion, Req};
use serde_json::json;
use xds_common::XdsGateway;

#[test]
fn serve_hands_each_deployment_its_own_keys_without_showing_them() {
    let openai_key = "sk-xds-openai-31337";
    let aws = AwsCredentials {
        access_key_id: "AKIDPRODUSWEST0002".into(),
        secret_access_key: "prod-us-west-secret-do-not-show".into(),
        session_token: None,
    };
    // The control plane reads these; Envoy gets values only through xDS.
    std::env::set_var("XDS_TEST_OPENAI_KEY", openai_key);
    std::env::set_var("XDS_TEST_AWS_KEY_ID", &aws.access_key_id);
    std::env::set_var("XDS_TEST_AWS_SECRET", &aws.secret_access_key);
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    std::env::remove_var("AWS_SECRET_ACCESS_KEY");

    let bedrock = MockRegion::start_bedrock("us-west-2", &aws, &[]);
    let openai = MockRegion::start_provider("us-east-1", Provider::OpenAi, &["--api-key", openai_key]);
    let yaml = format!(
        "model_list:\n\
         \x20 - model_name: claude\n    litellm_params:\n      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0\n      aws_region_name: us-west-2\n      api_base: {}\n      aws_access_key_id: os.environ/XDS_TEST_AWS_KEY_ID\n      aws_secret_access_key: os.environ/XDS_TEST_AWS_SECRET\n    priority: 1\n\
         \x20 - model_name: claude\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      api_key: os.environ/XDS_TEST_OPENAI_KEY\n      region_name: us-east-1\n    priority: 2\n\
         router_settings:\n  num_retries: 1\n",
        bedrock.url(),
        openai.url()
    );
    let gw = XdsGateway::start(&yaml);
    gw.wait_routed_to("claude", "us-west-2");
    assert_eq!(bedrock.last_auth()["verified"], true, "{}", bedrock.last_auth());

    bedrock.set_mode(json!({"mode": "error", "status": 503}));
    let r = Req::post(&gw.chat_url()).json(&xds_common::chat_body("claude")).send().expect("answer");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-east-1"));
    assert_eq!(openai.last_auth()["verified"], true, "{}", openai.last_auth());

    let dump = gw.envoy.admin_get("/config_dump?include_eds");
    for secret in [openai_key, aws.secret_access_key.as_str()] {
        assert!(!dump.contains(secret), "{secret} must not be in /config_dump");
    }
    assert!(!gw.cp.log_text().contains(openai_key) && !gw.cp.log_text().contains(&aws.secret_access_key));
    assert!(!gw.cp.metrics().contains(openai_key));
}
