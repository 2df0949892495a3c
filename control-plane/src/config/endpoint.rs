//! Providers, regions, residency zones and endpoints.

use std::collections::BTreeMap;

use super::providers::Support;
use super::yaml::Pos;
use super::{Ctx, Endpoint, Provider, Reach};

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

/// The region an endpoint's host names, when it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostRegion {
    Region(String),
    /// `aiplatform.googleapis.com`: Vertex's global endpoint.
    Global,
}

/// Reads the region from the provider hosts that carry one: AWS (`bedrock-runtime.<r>.amazonaws.com`,
/// FIPS and VPC endpoint names too), Vertex (`<loc>-aiplatform.googleapis.com`,
/// `aiplatform.<loc>.rep.googleapis.com`, and `aiplatform.googleapis.com` = global) and Azure
/// AI services (`<region>.api.cognitive.microsoft.com`). Other hosts (`*.openai.azure.com`,
/// `api.openai.com`, a private proxy) say nothing: None.
pub(crate) fn host_region(host: &str) -> Option<HostRegion> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let one_label = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"].iter().any(|d| host.ends_with(d)) {
        return host.split('.').find(|l| is_aws_region(l)).map(|r| HostRegion::Region(r.to_string()));
    }
    if host == "aiplatform.googleapis.com" {
        return Some(HostRegion::Global);
    }
    let vertex = host
        .strip_suffix("-aiplatform.googleapis.com")
        .or_else(|| host.strip_prefix("aiplatform.").and_then(|h| h.strip_suffix(".rep.googleapis.com")));
    if let Some(location) = vertex.filter(|l| one_label(l)) {
        return Some(HostRegion::Region(location.to_string()));
    }
    if let Some(region) = host.strip_suffix(".api.cognitive.microsoft.com").filter(|r| one_label(r)) {
        return Some(HostRegion::Region(region.to_string()));
    }
    None
}

/// Where Amazon Bedrock may process a request for a cross-region (system-defined) inference
/// profile, by the geography prefix of the profile id (`eu.anthropic.claude-…`): the
/// destination regions AWS may route it to from its source region (the region it is sent
/// to, which is added at use). `None`: anywhere, as far as this table knows.
///
/// From AWS's documentation, read 2026-12-03: "Supported Regions and models for inference
/// profiles" and "Geographic cross-Region inference" in the Amazon Bedrock User Guide
/// (docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html), and the
/// per-geography region lists of the AWS CDK API reference, `CrossRegionInferenceProfileRegion`
/// (aws-cdk v2.275.0, docs.aws.amazon.com/cdk/api/v2/docs/@aws-cdk_aws-bedrock-alpha.CrossRegionInferenceProfileRegion.html).
/// Each list is the union over models (one model's profile reaches a subset of it), so a
/// residency check against it errs on the strict side; `us` has us-west-1, which the CDK
/// grants for the US geography. `global.` profiles reach every commercial region. `ca.` is
/// in no list read: its destinations are unknown, so it is treated like `global.`.
/// When AWS adds a destination, add it here (and to the tests).
pub(crate) const INFERENCE_PROFILE_GEOGRAPHIES: &[(&str, Option<&[&str]>)] = &[
    ("us", Some(&["us-east-1", "us-east-2", "us-west-1", "us-west-2"])),
    ("us-gov", Some(&["us-gov-east-1", "us-gov-west-1"])),
    (
        "eu",
        Some(&[
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
        ]),
    ),
    (
        "apac",
        Some(&[
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-7",
            "me-central-1",
        ]),
    ),
    ("jp", Some(&["ap-northeast-1", "ap-northeast-3"])),
    ("au", Some(&["ap-southeast-2", "ap-southeast-4"])),
    ("ca", None),
    ("global", None),
];

/// The geography of a Bedrock model id that names a cross-region inference profile
/// (`eu.anthropic.claude-…`, also inside an ARN `…:inference-profile/eu.…` or after a route
/// prefix such as `invoke/`), with its destination regions (see
/// [`INFERENCE_PROFILE_GEOGRAPHIES`]). None for a model called in one region.
pub(crate) fn inference_profile(bedrock_model: &str) -> Option<(&'static str, Option<&'static [&'static str]>)> {
    let id = bedrock_model.rsplit('/').next().unwrap_or(bedrock_model);
    let (prefix, rest) = id.split_once('.')?;
    // `<geography>.<publisher>.<model>`: a bare model id has one dot less.
    if !rest.contains('.') {
        return None;
    }
    INFERENCE_PROFILE_GEOGRAPHIES.iter().find(|(g, _)| g.eq_ignore_ascii_case(prefix)).map(|(g, r)| (*g, *r))
}

/// What a Bedrock profile sent to `source` may reach: the geography's destinations and the
/// source itself.
pub(crate) fn profile_reach(geography: &str, destinations: Option<&[&str]>, source: Option<&str>) -> Reach {
    let regions = destinations.map(|list| {
        let mut regions: Vec<String> = list.iter().map(|r| r.to_string()).collect();
        if let Some(s) = source.filter(|s| !list.contains(s)) {
            regions.push(s.to_string());
        }
        regions.sort();
        regions
    });
    Reach::Profile { geography: geography.to_string(), source: source.map(str::to_string), regions }
}

/// Whether a declared region label agrees with the region requests go to: the same, or a
/// coarser name of it (`us-west` for `us-west-2`, `eu` for `eu-west-1`).
pub(crate) fn label_agrees(label: &str, region: &str) -> bool {
    let (label, region) = (label.trim().to_ascii_lowercase(), region.to_ascii_lowercase());
    label == region || region.starts_with(&format!("{label}-"))
}

/// The one zone every region of `regions` has by prefix, if they share one.
pub(crate) fn common_prefix_zone(regions: &[String]) -> Option<&'static str> {
    let first = zone_by_prefix(regions.first()?);
    (!first.is_empty() && regions.iter().all(|r| zone_by_prefix(r) == first)).then_some(first)
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

pub(crate) fn placeholder() -> Endpoint {
    Endpoint { tls: true, host: String::new(), port: 443, base_path: String::new() }
}

/// The deployment's endpoint: `api_base` (or LiteLLM's environment variable for it, already
/// applied by the caller), else the provider's default host ([`super::providers`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    ctx: &mut Ctx,
    at: &str,
    provider: &Provider,
    support: Support,
    params_pos: Pos,
    api_base: Option<(String, Pos)>,
    aws_region: &Option<String>,
    vertex_location: &Option<String>,
) -> Endpoint {
    let parse = |ctx: &mut Ctx, url: &str, pos: Pos| match parse_url(url) {
        Ok(e) => e,
        Err(msg) => {
            ctx.error(pos, format!("{at}: {msg}"));
            placeholder()
        }
    };
    if let Support::OpenAiCompatible(c) = support {
        let Some((url, pos)) = api_base.or_else(|| c.default_base.map(|b| (b.to_string(), params_pos))) else {
            let env = c.base_env.first().map(|v| format!(" (or set {v})")).unwrap_or_default();
            ctx.error(params_pos, format!("{at}: {provider} deployments need litellm_params.api_base{env}: the server's URL, e.g. http://HOST:8000/v1; LiteLLM has no default for it"));
            return placeholder();
        };
        let mut e = parse(ctx, &url, pos);
        // Ollama's OpenAI-compatible API is under /v1 of the server LiteLLM's api_base names.
        if c.append_v1 && !e.host.is_empty() && !e.base_path.ends_with("/v1") {
            e.base_path.push_str("/v1");
        }
        return e;
    }
    if let Some((url, pos)) = api_base {
        return parse(ctx, &url, pos);
    }
    let need = |ctx: &mut Ctx, what: &str| {
        ctx.error(params_pos, format!("{at}: {provider} deployments need {what}"));
        placeholder()
    };
    match provider {
        Provider::Bedrock => match aws_region {
            Some(r) => https(format!("bedrock-runtime.{r}.amazonaws.com"), ""),
            None => need(ctx, "a region: litellm_params.aws_region_name (e.g. us-west-2), a model ARN, an api_base, or AWS_REGION_NAME / AWS_REGION / AWS_DEFAULT_REGION where the gateway runs"),
        },
        Provider::VertexAi => match vertex_location {
            Some(l) => https(vertex_host(l), ""),
            None => need(ctx, "litellm_params.vertex_location (e.g. europe-west1 or global) or an api_base"),
        },
        Provider::OpenAi => https("api.openai.com".into(), "/v1"),
        Provider::Anthropic => https("api.anthropic.com".into(), ""),
        Provider::Azure => need(ctx, "litellm_params.api_base (https://YOUR-RESOURCE.openai.azure.com) or AZURE_API_BASE where the gateway runs"),
        Provider::OpenAiCompatible(_) => need(ctx, "litellm_params.api_base (the provider's URL, e.g. https://host/v1)"),
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
    fn regions_named_by_hosts() {
        let region = |h: &str| host_region(h);
        let named = |r: &str| Some(HostRegion::Region(r.to_string()));
        assert_eq!(region("bedrock-runtime.eu-west-1.amazonaws.com"), named("eu-west-1"));
        assert_eq!(region("bedrock-runtime-fips.us-east-1.amazonaws.com"), named("us-east-1"));
        assert_eq!(region("vpce-0a1b.bedrock-runtime.eu-central-1.vpce.amazonaws.com"), named("eu-central-1"));
        assert_eq!(region("bedrock-runtime.cn-north-1.amazonaws.com.cn"), named("cn-north-1"));
        assert_eq!(region("europe-west1-aiplatform.googleapis.com"), named("europe-west1"));
        assert_eq!(region("aiplatform.europe-west4.rep.googleapis.com"), named("europe-west4"));
        assert_eq!(region("aiplatform.googleapis.com"), Some(HostRegion::Global));
        assert_eq!(region("eastus.api.cognitive.microsoft.com"), named("eastus"));
        for silent in [
            "contoso.openai.azure.com",
            "api.openai.com",
            "api.anthropic.com",
            "127.0.0.1",
            "bedrock.internal.example.com",
            "s3.amazonaws.com",
            "a.b-aiplatform.googleapis.com",
        ] {
            assert_eq!(region(silent), None, "{silent}");
        }
    }

    #[test]
    fn inference_profiles_by_prefix() {
        let geo = |m: &str| inference_profile(m).map(|(g, _)| g);
        assert_eq!(geo("eu.anthropic.claude-3-5-sonnet-20241022-v2:0"), Some("eu"));
        assert_eq!(geo("us.amazon.nova-pro-v1:0"), Some("us"));
        assert_eq!(geo("us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0"), Some("us-gov"));
        assert_eq!(geo("apac.anthropic.claude-3-5-sonnet-20241022-v2:0"), Some("apac"));
        assert_eq!(geo("jp.anthropic.claude-sonnet-4-5-20250929-v1:0"), Some("jp"));
        assert_eq!(geo("au.anthropic.claude-sonnet-4-5-20250929-v1:0"), Some("au"));
        assert_eq!(geo("ca.anthropic.claude-sonnet-4-5-20250929-v1:0"), Some("ca"));
        assert_eq!(geo("global.anthropic.claude-sonnet-4-5-20250929-v1:0"), Some("global"));
        assert_eq!(
            geo("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.meta.llama3-2-1b-instruct-v1:0"),
            Some("eu")
        );
        assert_eq!(geo("invoke/us.anthropic.claude-3-haiku-20240307-v1:0"), Some("us"));
        for one_region in [
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "amazon.nova-pro-v1:0",
            "us.x",
            "meta.llama3-70b-instruct-v1:0",
            ".../us-west-2",
        ] {
            assert_eq!(geo(one_region), None, "{one_region}");
        }
        // Where AWS may send them: the documented destinations, nothing known for ca./global.
        assert_eq!(inference_profile("au.a.b").and_then(|(_, r)| r), Some(&["ap-southeast-2", "ap-southeast-4"][..]));
        assert_eq!(inference_profile("global.a.b").map(|(_, r)| r), Some(None));
        assert_eq!(inference_profile("ca.a.b").map(|(_, r)| r), Some(None));
    }

    #[test]
    fn the_destination_table_is_well_formed() {
        for (geography, regions) in INFERENCE_PROFILE_GEOGRAPHIES {
            let Some(regions) = regions else { continue };
            assert!(regions.iter().all(|r| is_aws_region(r)), "{geography}: {regions:?}");
            assert!(regions.windows(2).all(|w| w[0] < w[1]), "{geography}: sorted, no duplicates");
        }
        // The residency facts the zones rely on: eu. stays in eu-*, apac. reaches the Middle East.
        let eu = inference_profile("eu.a.b").and_then(|(_, r)| r).expect("eu");
        assert!(eu.iter().all(|r| r.starts_with("eu-")));
        assert!(inference_profile("apac.a.b").and_then(|(_, r)| r).expect("apac").contains(&"me-central-1"));
    }

    #[test]
    fn a_profile_reaches_its_source_too() {
        let reach = profile_reach("us", Some(&["us-east-1", "us-west-2"]), Some("ca-central-1"));
        let Reach::Profile { regions: Some(regions), source, .. } = reach else { panic!("{reach:?}") };
        assert_eq!(regions, ["ca-central-1", "us-east-1", "us-west-2"]);
        assert_eq!(source.as_deref(), Some("ca-central-1"));
        let Reach::Profile { regions, .. } = profile_reach("global", None, Some("eu-west-1")) else { panic!() };
        assert_eq!(regions, None, "global: anywhere");
    }

    #[test]
    fn labels_agree_when_equal_or_coarser() {
        for (label, region) in [("us-west", "us-west-2"), ("us-west-2", "us-west-2"), ("EU", "eu-west-1"), ("eu", "eu")]
        {
            assert!(label_agrees(label, region), "{label} {region}");
        }
        for (label, region) in
            [("eu-west-1", "us-east-1"), ("us-west-2", "us-west"), ("us-wes", "us-west-2"), ("westeurope", "eastus")]
        {
            assert!(!label_agrees(label, region), "{label} {region}");
        }
    }

    #[test]
    fn a_set_of_regions_has_a_zone_when_all_share_it() {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(common_prefix_zone(&owned(&["eu-west-1", "eu-north-1"])), Some("eu"));
        assert_eq!(common_prefix_zone(&owned(&["ap-south-1", "me-central-1"])), None);
        assert_eq!(common_prefix_zone(&owned(&["mars-1"])), None);
        assert_eq!(common_prefix_zone(&[]), None);
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
