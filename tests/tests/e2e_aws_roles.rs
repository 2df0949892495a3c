//! LiteLLM's role keys on Bedrock deployments (`aws_role_name`, `aws_session_name`,
//! `aws_external_id`, `aws_web_identity_token`) reach Envoy's AWS credential providers
//! (AssumeRole, AssumeRoleWithWebIdentity): every form renders to a config Envoy 1.40 accepts,
//! `serve`'s xDS form is ACKed without showing a secret, and what Envoy cannot express is
//! refused at `validate` with FILE:LINE:COL. Nothing is silently ignored.

mod xds_common;

use std::process::Command;

use llm_router_e2e::{filter_wasm, llm_router_bin, Envoy, TempDir};
use xds_common::XdsGateway;

const ROLE: &str = "arn:aws:iam::123456789012:role/llm-gateway";

fn bedrock(group: &str, region: &str, extra: &str) -> String {
    format!(
        "  - model_name: {group}\n    litellm_params:\n      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0\n      aws_region_name: {region}\n      api_base: http://127.0.0.1:1\n{extra}"
    )
}

fn run(cmd: &str, config: &std::path::Path, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut c = Command::new(llm_router_bin());
    c.arg(cmd).arg("--config").arg(config);
    if cmd == "render" {
        c.arg("--filter-wasm").arg(filter_wasm());
    }
    let out = c.envs(env.iter().copied()).output().expect("run llm-router");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn every_role_form_renders_to_a_config_envoy_accepts() {
    let dir = TempDir::new("llm-aws-roles");
    let token_file = dir.path().join("web-identity-token");
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln").expect("write token");
    let forms = [
        (
            "assume role, signed with the standard variables",
            format!(
                "      aws_role_name: {ROLE}\n      aws_session_name: llm-gw\n      aws_external_id: ext-7\n      aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID\n      aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY\n"
            ),
            "assume_role_credential_provider",
        ),
        (
            "assume role, signed with a profile",
            format!("      aws_role_name: {ROLE}\n      aws_profile_name: gateway\n"),
            "assume_role_credential_provider",
        ),
        ("assume role, signed by the local chain", format!("      aws_role_name: {ROLE}\n"), "assume_role_credential_provider"),
        (
            "web identity from a token file",
            format!(
                "      aws_role_name: {ROLE}\n      aws_session_name: llm-gw\n      aws_web_identity_token: {}\n",
                token_file.display()
            ),
            "assume_role_with_web_identity_provider",
        ),
        (
            "web identity from Envoy's environment",
            "      aws_role_name: os.environ/E2E_ROLE_ARN\n      aws_web_identity_token: os.environ/E2E_WEB_TOKEN\n"
                .to_string(),
            "assume_role_with_web_identity_provider",
        ),
    ];
    for (what, params, provider) in forms {
        let config = dir.path().join("litellm.yaml");
        std::fs::write(&config, format!("model_list:\n{}", bedrock("claude", "us-west-2", &params))).expect("write");
        let env = [("E2E_ROLE_ARN", ROLE), ("E2E_WEB_TOKEN", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")];
        let (ok, yaml, stderr) = run("render", &config, &env);
        assert!(ok, "{what}: render refused:\n{stderr}");
        assert!(yaml.contains(provider) && yaml.contains(ROLE), "{what}:\n{yaml}");
        assert!(!yaml.contains("eyJhbGciOiJSUzI1NiJ9"), "{what}: the token itself is never written");
        if let Err(e) = Envoy::validate_config(&yaml) {
            panic!("{what}: Envoy rejects the rendered config:\n{e}");
        }
    }
}

#[test]
fn what_envoy_cannot_express_is_refused_at_validate() {
    let dir = TempDir::new("llm-aws-roles-refused");
    let config = dir.path().join("litellm.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n{}{}{}",
            bedrock("a", "us-west-2", "      aws_session_name: llm-gw\n"),
            bedrock(
                "b",
                "us-west-2",
                &format!(
                    "      aws_role_name: {ROLE}\n      aws_web_identity_token: oidc/google/https://example.com\n"
                )
            ),
            bedrock(
                "c",
                "us-east-1",
                &format!("      aws_role_name: {ROLE}\n      aws_sts_endpoint: https://sts.us-west-2.amazonaws.com\n")
            ),
        ),
    )
    .expect("write");
    let (ok, _, stderr) = run("validate", &config, &[]);
    assert!(!ok, "{stderr}");
    let file = config.display().to_string();
    for (line, says) in
        [(7, "needs aws_role_name"), (14, "oidc/ token providers"), (21, "write https://sts.us-east-1.amazonaws.com")]
    {
        assert!(
            stderr.lines().any(|l| l.starts_with(&format!("{file}:{line}:")) && l.contains(says)),
            "line {line}, {says}:\n{stderr}"
        );
    }
}

#[test]
fn serve_hands_envoy_the_roles_and_shows_no_secret() {
    let secret_key = "role-source-secret-do-not-show";
    let web_token = "eyJhbGciOiJSUzI1NiJ9.web-identity-do-not-show.c2ln";
    std::env::set_var("E2E_ROLE_KEY_ID", "AKIDROLESOURCE0001");
    std::env::set_var("E2E_ROLE_SECRET", secret_key);
    std::env::set_var("E2E_ROLE_WEB_TOKEN", web_token);
    let yaml = format!(
        "model_list:\n{}{}",
        bedrock(
            "assumed",
            "us-west-2",
            &format!("      aws_role_name: {ROLE}\n      aws_session_name: llm-gw\n      aws_access_key_id: os.environ/E2E_ROLE_KEY_ID\n      aws_secret_access_key: os.environ/E2E_ROLE_SECRET\n")
        ),
        bedrock(
            "web",
            "us-east-1",
            &format!("      aws_role_name: {ROLE}\n      aws_web_identity_token: os.environ/E2E_ROLE_WEB_TOKEN\n")
        ),
    );
    let gw = XdsGateway::start(&yaml);
    gw.cp.wait_converged(1, "the Envoy ACKed clusters with both role providers");
    let dump = gw.envoy.admin_get("/config_dump");
    assert!(dump.contains("assume_role_credential_provider") && dump.contains(ROLE), "the role reached Envoy");
    assert!(dump.contains("assume_role_with_web_identity_provider"), "the web identity role reached Envoy");
    for secret in [secret_key, web_token] {
        assert!(!dump.contains(secret), "/config_dump redacts {}...", &secret[..8]);
        assert!(!gw.cp.log_text().contains(secret));
    }
    assert!(!gw.cp.log_text().contains("NACK"), "{}", gw.cp.log_text());
}
