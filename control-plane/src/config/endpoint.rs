//! Providers, regions, residency zones and endpoints.

use std::collections::BTreeMap;

use super::yaml::Pos;
use super::{Ctx, Endpoint, Provider};

fn lower_alpha(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase())
}

/// AWS `us-west-2`, `us-gov-west-1`: two letters, words, a number.
pub(crate) fn is_aws_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && lower_alpha(parts[0])
        && parts[1..parts.len() - 1].iter().all(|p| lower_alpha(p))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
}

/// GCP `europe-west1`, `us-central1`, `northamerica-northeast1`.
pub(crate) fn is_gcp_region(s: &str) -> bool {
    let Some((a, b)) = s.split_once('-') else {
        return false;
    };
    let letters = b.trim_end_matches(|c: char| c.is_ascii_digit());
    lower_alpha(a) && lower_alpha(letters) && letters.len() < b.len()
}

pub(crate) fn looks_like_region(s: &str) -> bool {
    is_aws_region(s) || is_gcp_region(s)
}

/// Zone of a region by its prefix ("" when unknown).
pub(crate) fn zone_by_prefix(region: &str) -> &'static str {
    const PREFIXES: &[(&str, &str)] = &[
        ("eu-", "eu"),
        ("europe-", "eu"),
        ("us-", "us"),
        ("northamerica-", "us"),
        ("ap-", "apac"),
        ("asia-", "apac"),
        ("australia-", "apac"),
        ("me-", "me"),
        ("sa-", "sa"),
        ("southamerica-", "sa"),
        ("ca-", "ca"),
        ("af-", "af"),
        ("africa-", "af"),
    ];
    let r = region.to_ascii_lowercase();
    match r.as_str() {
        "eu" => return "eu",
        "us" => return "us",
        _ => {}
    }
    PREFIXES.iter().find(|(p, _)| r.starts_with(p)).map(|(_, z)| *z).unwrap_or("")
}

/// Zone of a region: `residency_zones` when given (a region it does not list has no
/// zone), else by prefix.
pub(crate) fn zone_of(region: &str, residency: &BTreeMap<String, Vec<String>>) -> String {
    if region.is_empty() {
        return String::new();
    }
    if residency.is_empty() {
        return zone_by_prefix(region).to_string();
    }
    residency
        .iter()
        .find(|(_, regions)| regions.iter().any(|r| r == region))
        .map(|(z, _)| z.clone())
        .unwrap_or_default()
}

/// Parses `api_base`: `http(s)://host[:port][/base]`. Errors say what is wrong without
/// echoing the value (it may carry credentials).
pub(crate) fn parse_url(url: &str) -> Result<Endpoint, String> {
    let url = url.trim();
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("api_base must start with http:// or https://".into());
    };
    if rest.contains('?') || rest.contains('#') {
        return Err(
            "api_base must not contain a query or fragment; give api_version and other options as their own keys"
                .into(),
        );
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err("api_base must not contain credentials (user@host); use api_key".into());
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((h, after)) = v6.split_once(']') else {
            return Err("api_base has an unclosed '[' in its IPv6 host".into());
        };
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if after.is_empty() => default_port,
            None => return Err("api_base has text after its IPv6 host".into()),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), parse_port(p)?),
            None => (authority.to_string(), default_port),
        }
    };
    let ipv6 = authority.starts_with('[');
    let host_ok = !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') || (ipv6 && c == ':'))
        && !host.starts_with('.')
        && !host.starts_with('-');
    if !host_ok {
        return Err("api_base has no valid host name".into());
    }
    if path.chars().any(|c| c.is_whitespace()) {
        return Err("api_base path must not contain spaces".into());
    }
    Ok(Endpoint { tls, host: host.to_ascii_lowercase(), port, base_path: path.trim_end_matches('/').to_string() })
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err("api_base has an invalid port (use 1-65535)".into()),
    }
}

pub(crate) fn https(host: String, base_path: &str) -> Endpoint {
    Endpoint { tls: true, host, port: 443, base_path: base_path.to_string() }
}

pub(crate) fn vertex_host(location: &str) -> String {
    if location == "global" {
        "aiplatform.googleapis.com".to_string()
    } else {
        format!("{location}-aiplatform.googleapis.com")
    }
}

fn placeholder() -> Endpoint {
    Endpoint { tls: true, host: String::new(), port: 443, base_path: String::new() }
}

/// The deployment's endpoint: `api_base`, else the provider's default host.
pub(crate) fn build(
    ctx: &mut Ctx,
    at: &str,
    provider: &Provider,
    params_pos: Pos,
    api_base: Option<(String, Pos)>,
    aws_region: &Option<String>,
    vertex_location: &Option<String>,
) -> Endpoint {
    if let Some((url, pos)) = api_base {
        return match parse_url(&url) {
            Ok(e) => e,
            Err(msg) => {
                ctx.error(pos, format!("{at}: {msg}"));
                placeholder()
            }
        };
    }
    let need = |ctx: &mut Ctx, what: &str| {
        ctx.error(params_pos, format!("{at}: {provider} deployments need {what}"));
        placeholder()
    };
    match provider {
        Provider::Bedrock => match aws_region {
            Some(r) => https(format!("bedrock-runtime.{r}.amazonaws.com"), ""),
            None => need(ctx, "litellm_params.aws_region_name (e.g. us-west-2) or an api_base"),
        },
        Provider::VertexAi => match vertex_location {
            Some(l) => https(vertex_host(l), ""),
            None => need(ctx, "litellm_params.vertex_location (e.g. europe-west1 or global) or an api_base"),
        },
        Provider::OpenAi => https("api.openai.com".into(), "/v1"),
        Provider::Anthropic => https("api.anthropic.com".into(), ""),
        Provider::Azure => need(ctx, "litellm_params.api_base (https://YOUR-RESOURCE.openai.azure.com)"),
        Provider::OpenAiCompatible(_) => {
            need(ctx, "litellm_params.api_base (the provider's URL, e.g. https://host/v1)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for r in
            ["us-west-2", "eu-central-1", "us-gov-west-1", "europe-west1", "us-central1", "northamerica-northeast1"]
        {
            assert!(looks_like_region(r), "{r}");
        }
        for r in ["anthropic.claude-3", "claude-3-5-sonnet@20241022", "us-west", "gpt-4o", "global", "v1"] {
            assert!(!looks_like_region(r), "{r}");
        }
    }

    #[test]
    fn zones() {
        assert_eq!(zone_by_prefix("eu-west-1"), "eu");
        assert_eq!(zone_by_prefix("europe-west4"), "eu");
        assert_eq!(zone_by_prefix("us-west"), "us");
        assert_eq!(zone_by_prefix("northamerica-northeast1"), "us");
        assert_eq!(zone_by_prefix("ap-southeast"), "apac");
        assert_eq!(zone_by_prefix("asia-northeast1"), "apac");
        assert_eq!(zone_by_prefix("australia-southeast1"), "apac");
        assert_eq!(zone_by_prefix("global"), "");
    }

    #[test]
    fn urls() {
        let e = parse_url("https://example.com/v1/").expect("ok");
        assert_eq!((e.tls, e.host.as_str(), e.port, e.base_path.as_str()), (true, "example.com", 443, "/v1"));
        let e = parse_url("http://127.0.0.1:8080").expect("ok");
        assert_eq!((e.tls, e.port, e.base_path.as_str()), (false, 8080, ""));
        let e = parse_url("http://[::1]:9000/x").expect("ok");
        assert_eq!((e.host.as_str(), e.port), ("::1", 9000));
        for bad in [
            "example.com",
            "ftp://x",
            "https://",
            "https://h:99999",
            "https://u:p@h",
            "https://h/?a=1",
            "https://a:b:c",
            "https://h:",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
