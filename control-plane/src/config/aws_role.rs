//! LiteLLM's role keys on a Bedrock deployment: `aws_role_name` (the role's ARN), with
//! `aws_session_name` and `aws_external_id` (STS AssumeRole, signed with the deployment's keys,
//! profile or the local chain) or with `aws_web_identity_token` (AssumeRoleWithWebIdentity).
//! Envoy's `aws_request_signing` assumes the role itself (see `translate::upstream_auth`);
//! whatever it cannot express is refused here, saying what to write instead — never ignored.

use super::fields::{self, Fields};
use super::{Ctx, Deployment, Provider, Secret};

/// Keys that only mean something with `aws_role_name`.
const NEED_ROLE: [&str; 4] = ["aws_session_name", "aws_web_identity_token", "aws_external_id", "aws_sts_endpoint"];
/// Keys that give the role's source credentials (AssumeRole signs with them).
const SOURCE_CREDENTIALS: [&str; 4] =
    ["aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_profile_name"];

pub(crate) fn check(ctx: &mut Ctx, at: &str, d: &Deployment, p: &Fields<'_>) {
    let path = |k: &str| format!("{at}: litellm_params.{k}");
    let role_keys = std::iter::once("aws_role_name").chain(NEED_ROLE);
    if d.provider != Provider::Bedrock {
        for key in role_keys {
            if let Some(v) = p.value(key) {
                ctx.error(
                    v.pos,
                    format!(
                        "{} applies to bedrock deployments only (this one is {}); remove it",
                        path(key),
                        d.provider
                    ),
                );
            }
        }
        return;
    }
    let c = &d.credentials;
    let Some(role) = &c.aws_role_name else {
        for key in NEED_ROLE {
            if let Some(v) = p.value(key) {
                ctx.error(
                    v.pos,
                    format!(
                        "{} needs aws_role_name (the ARN of the role to assume); add aws_role_name: \
                         arn:aws:iam::ACCOUNT:role/NAME, or remove {key}",
                        path(key)
                    ),
                );
            }
        }
        return;
    };
    let pos = |k: &str| p.value(k).map(|v| v.pos).unwrap_or_default();
    if role.resolve().is_some_and(|arn| !is_role_arn(&arn)) {
        let held = match role {
            Secret::Env(var) => format!("os.environ/{var} holds"),
            Secret::Literal(_) => "is".to_string(),
        };
        ctx.error(
            pos("aws_role_name"),
            format!(
                "{} {held} no role ARN; LiteLLM's aws_role_name is the role's ARN \
                 (arn:aws:iam::ACCOUNT:role/NAME), not its name",
                path("aws_role_name")
            ),
        );
    }
    if let Some(token) = &c.aws_web_identity_token {
        check_web_identity(ctx, at, p, token);
    }
    if let Some(v) = p.value("aws_sts_endpoint") {
        check_sts_endpoint(ctx, &path("aws_sts_endpoint"), v, d.aws_region_name.as_deref());
    }
}

/// AssumeRoleWithWebIdentity: the token alone authenticates, and it takes no external id.
fn check_web_identity(ctx: &mut Ctx, at: &str, p: &Fields<'_>, token: &Secret) {
    let token_pos = p.value("aws_web_identity_token").map(|v| v.pos).unwrap_or_default();
    let given: Vec<&str> = SOURCE_CREDENTIALS.into_iter().filter(|k| p.value(k).is_some()).collect();
    if !given.is_empty() {
        ctx.error(
            token_pos,
            format!(
                "{at}: litellm_params.aws_web_identity_token assumes the role with the token alone, so {} would be \
                 unused; remove {} or aws_web_identity_token",
                given.join(", "),
                if given.len() == 1 { "it" } else { "them" }
            ),
        );
    }
    if let Some(v) = p.value("aws_external_id") {
        ctx.error(
            v.pos,
            format!(
                "{at}: litellm_params.aws_external_id cannot go with aws_web_identity_token \
                 (AssumeRoleWithWebIdentity takes no external id); remove one"
            ),
        );
    }
    if token.resolve().is_some_and(|t| t.trim_start().starts_with("oidc/")) {
        ctx.error(
            token_pos,
            format!(
                "{at}: litellm_params.aws_web_identity_token names one of LiteLLM's oidc/ token providers, which \
                 this gateway does not run; give the token (os.environ/VAR) or the path of a token file that \
                 your platform keeps fresh (e.g. /var/run/secrets/eks.amazonaws.com/serviceaccount/token)"
            ),
        );
    }
}

/// Envoy calls STS in the deployment's own region and cannot be pointed elsewhere: only that
/// endpoint can be written.
fn check_sts_endpoint(ctx: &mut Ctx, path: &str, node: &super::yaml::Node, region: Option<&str>) {
    let Some(url) = fields::env_string(ctx, path, node) else { return };
    let region = region.unwrap_or("REGION");
    let envoys = format!("https://sts.{region}.amazonaws.com");
    if url.trim().trim_end_matches('/') != envoys {
        ctx.error(
            node.pos,
            format!(
                "{path}: Envoy asks STS at {envoys} (the deployment's region) and cannot be pointed at another \
                 endpoint; remove aws_sts_endpoint, or write {envoys}"
            ),
        );
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`.
fn is_role_arn(value: &str) -> bool {
    let parts: Vec<&str> = value.trim().splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if !partition.is_empty() && !account.is_empty() && resource.starts_with("role/") && resource.len() > 5)
}

#[cfg(test)]
mod tests {
    use crate::config;

    fn bedrock(params: &str) -> Result<config::Loaded, Vec<config::Diagnostic>> {
        let yaml = format!(
            "model_list:\n  - model_name: claude\n    litellm_params:\n      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0\n      aws_region_name: us-west-2\n{params}"
        );
        config::load_str(&yaml, "c.yaml")
    }

    fn errors(params: &str) -> Vec<String> {
        match bedrock(params) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().filter(|d| d.severity == config::Severity::Error).map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn a_role_with_a_session_name_and_external_id_is_read() {
        let loaded = bedrock(
            "      aws_role_name: arn:aws:iam::123456789012:role/gateway\n      aws_session_name: gw\n      aws_external_id: ext-1\n",
        )
        .expect("loads");
        let c = &loaded.config.deployments[0].credentials;
        assert_eq!(
            c.aws_role_name.as_ref().and_then(|s| s.resolve()).as_deref(),
            Some("arn:aws:iam::123456789012:role/gateway")
        );
        assert_eq!(c.aws_session_name.as_ref().and_then(|s| s.resolve()).as_deref(), Some("gw"));
        assert_eq!(c.aws_external_id.as_ref().and_then(|s| s.resolve()).as_deref(), Some("ext-1"));
    }

    #[test]
    fn role_keys_without_a_role_are_errors_at_their_position() {
        let e = errors("      aws_session_name: gw\n      aws_web_identity_token: /var/run/token\n");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("c.yaml:6:") && e[0].contains("needs aws_role_name"), "{e:?}");
        assert!(e[1].starts_with("c.yaml:7:"), "{e:?}");
    }

    #[test]
    fn a_role_name_that_is_not_an_arn_is_refused() {
        let e = errors("      aws_role_name: gateway-role\n");
        assert!(e.len() == 1 && e[0].starts_with("c.yaml:6:") && e[0].contains("role's ARN"), "{e:?}");
        assert!(errors("      aws_role_name: arn:aws-cn:iam::123456789012:role/path/gw\n").is_empty());
    }

    #[test]
    fn web_identity_refuses_what_it_cannot_use() {
        let e = errors(
            "      aws_role_name: arn:aws:iam::123456789012:role/gw\n      aws_web_identity_token: oidc/google/https://x\n      aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID\n      aws_external_id: e\n",
        );
        assert!(e.iter().any(|m| m.contains("token alone") && m.contains("aws_access_key_id")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("takes no external id")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("oidc/ token providers")), "{e:?}");
        assert!(e.iter().all(|m| m.starts_with("c.yaml:")), "{e:?}");
    }

    #[test]
    fn only_envoys_own_sts_endpoint_may_be_written() {
        let role = "      aws_role_name: arn:aws:iam::123456789012:role/gw\n";
        assert!(errors(&format!("{role}      aws_sts_endpoint: https://sts.us-west-2.amazonaws.com/\n")).is_empty());
        let e = errors(&format!("{role}      aws_sts_endpoint: https://vpce-1.sts.us-west-2.vpce.amazonaws.com\n"));
        assert!(
            e.len() == 1 && e[0].contains("remove aws_sts_endpoint, or write https://sts.us-west-2.amazonaws.com"),
            "{e:?}"
        );
    }

    #[test]
    fn role_keys_on_other_providers_are_refused() {
        let yaml = "model_list:\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o\n      aws_role_name: arn:aws:iam::123456789012:role/gw\n";
        let e = config::load_str(yaml, "c.yaml").expect_err("refused");
        assert!(e.iter().any(|d| d.to_string().contains("applies to bedrock deployments only")), "{e:?}");
    }
}
