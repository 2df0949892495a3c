//! `model_list[]` entries: one deployment each, in either dialect.

use super::endpoint::{self, is_aws_region, is_gcp_region};
use super::fields::{self, Fields, Keys};
use super::keys::*;
use super::vertex_credentials::service_account_for;
use super::yaml::{Node, Pos};
use super::{Credentials, Ctx, Deployment, Provider, Secret};

/// Where a deployment's facts came from, for later checks.
pub(crate) struct Meta {
    pub index: usize,
    pub entry_pos: Pos,
    pub params_pos: Pos,
    /// The key that gave the region (the model value when taken from the model name).
    pub region_pos: Option<Pos>,
    /// `model_info.id` value position, when given.
    pub explicit_id: Option<Pos>,
}

/// Parses every entry; entries with errors are still returned (with placeholders) when
/// they have a model_name, so that later checks can report their own problems.
/// Also returns every model_name written, for checks of names that refer to groups.
pub(crate) fn parse_list(
    ctx: &mut Ctx,
    key: &Node,
    node: &Node,
    router: &super::router::RawRouter,
) -> (Vec<(Deployment, Meta)>, Vec<String>) {
    let items = match node.as_seq() {
        Some(items) if !items.is_empty() => items,
        _ if node.is_null() || node.as_seq().is_some() => {
            ctx.error(key.pos, "model_list is empty; add at least one deployment (model_name + litellm_params.model)");
            return (Vec::new(), Vec::new());
        }
        _ => {
            ctx.error(
                node.pos,
                format!("model_list must be a list of deployments ('- model_name: ...'), found {}", node.kind()),
            );
            return (Vec::new(), Vec::new());
        }
    };
    let groups: Vec<String> = items
        .iter()
        .filter_map(|item| item.as_map())
        .filter_map(|m| m.iter().find(|(k, _)| k.as_str() == Some("model_name")).and_then(|(_, v)| v.as_str()))
        .map(str::to_string)
        .collect();
    let mut out: Vec<(Deployment, Meta)> =
        items.iter().enumerate().filter_map(|(i, item)| parse_one(ctx, i, item)).collect();
    super::resolve::assign_ids(ctx, &mut out);
    super::resolve::zones_and_allowed_regions(ctx, &mut out, router);
    (out, groups)
}

fn parse_one(ctx: &mut Ctx, i: usize, item: &Node) -> Option<(Deployment, Meta)> {
    let entry = read_entry(ctx, i, item)?;
    let (at, f) = (&entry.at, &entry.fields);
    let (params_key, p) = read_params(ctx, at, item, f)?;
    let model = read_model(ctx, at, params_key.pos, &p)?;
    let settings = read_settings(ctx, at, &p);
    let region = region(ctx, at, params_key.pos, &p, &model, &settings);
    let location = Location::of(&settings, &region);
    let endpoint = endpoint::build(
        ctx,
        at,
        &model.provider,
        params_key.pos,
        settings.api_base.clone(),
        &location.aws_region_name,
        &location.vertex_location,
    );
    warn_missing_provider_settings(ctx, at, params_key.pos, &model.provider, &settings);
    // Priority and weight, in either dialect.
    let priority = either(ctx, at, f, "priority", &p, "order", (0, MAX_PRIORITY));
    let weight = either(ctx, at, f, "weight", &p, "weight", (1, MAX_WEIGHT)).unwrap_or(1);
    let (api_key, credentials) = secrets(ctx, at, &p);
    let limits = limits(ctx, at, &p);
    let info = model_info(ctx, at, f, &p);

    let model_name = entry.model_name?;
    let deployment = Deployment {
        id: info.id,
        model_name,
        provider: model.provider,
        provider_model: model.provider_model,
        region: region.region,
        zone: String::new(),
        priority,
        weight,
        endpoint,
        api_key,
        rpm: limits.rpm,
        tpm: limits.tpm,
        timeout_s: limits.timeout_s,
        stream_timeout_s: limits.stream_timeout_s,
        latency_target_ms: settings.metadata.latency_target,
        input_cost_per_token: info.costs[0],
        output_cost_per_token: info.costs[1],
        api_version: settings.api_version,
        aws_region_name: location.aws_region_name,
        vertex_project: settings.vertex_project,
        vertex_location: location.vertex_location,
        credentials,
    };
    check_vertex_credentials(ctx, at, &deployment, &p, params_key.pos);
    let meta = Meta {
        index: i,
        entry_pos: item.pos,
        params_pos: params_key.pos,
        region_pos: region.pos,
        explicit_id: info.explicit_id,
    };
    Some((deployment, meta))
}

/// One `model_list` entry's keys, its model_name (None when missing or malformed, reported),
/// and how messages name it.
struct Entry<'a> {
    fields: Fields<'a>,
    model_name: Option<String>,
    /// `model_list[i]`, with `('name')` when the entry has a model_name.
    at: String,
}

fn read_entry<'a>(ctx: &mut Ctx, i: usize, item: &'a Node) -> Option<Entry<'a>> {
    let at = format!("model_list[{i}]");
    let keys = Keys { section: &at, known: DEPLOYMENT_KEYS, accepted: &[], ignored: &[], hints: DEPLOYMENT_HINTS };
    let f = fields::read_map(ctx, item, &keys)?;
    let model_name = f.value("model_name").and_then(|v| fields::string(ctx, &format!("{at}.model_name"), v));
    let model_name = match model_name {
        Some(n) if !n.trim().is_empty() => Some(n),
        // A model_name of the wrong shape has been reported already.
        None if f.value("model_name").is_some_and(|v| v.as_str().is_none()) => None,
        _ => {
            ctx.error(
                item.pos,
                format!("{at} has no model_name; add model_name: NAME (the model group clients ask for)"),
            );
            None
        }
    };
    let name = model_name.clone().unwrap_or_default();
    let at = if name.is_empty() { at } else { format!("{at} ('{name}')") };
    Some(Entry { fields: f, model_name, at })
}

/// The entry's `litellm_params`: its key and its fields.
fn read_params<'a>(ctx: &mut Ctx, at: &str, item: &Node, f: &Fields<'a>) -> Option<(&'a Node, Fields<'a>)> {
    let Some((params_key, params_node)) = f.get("litellm_params") else {
        ctx.error(item.pos, format!("{at} has no litellm_params; add litellm_params with model: PROVIDER/MODEL"));
        return None;
    };
    let pk = Keys {
        section: "litellm_params",
        known: PARAMS_KEYS,
        accepted: PARAMS_ACCEPTED,
        ignored: &[],
        hints: PARAMS_HINTS,
    };
    let p = fields::read_map(ctx, params_node, &pk)?;
    Some((params_key, p))
}

fn param_path(at: &str, key: &str) -> String {
    format!("{at}: litellm_params.{key}")
}

/// `litellm_params.model` and the provider it names.
struct Model<'a> {
    text: String,
    node: &'a Node,
    provider: Provider,
    provider_model: String,
}

fn read_model<'a>(ctx: &mut Ctx, at: &str, params_pos: Pos, p: &Fields<'a>) -> Option<Model<'a>> {
    let model_node = p.value("model");
    let model =
        model_node.and_then(|v| fields::string(ctx, &param_path(at, "model"), v)).filter(|m| !m.trim().is_empty());
    let Some(model) = model else {
        ctx.error(params_pos, format!("{at} has no litellm_params.model; add model: PROVIDER/MODEL (e.g. bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0)"));
        return None;
    };
    let model_node = model_node?;
    let (provider, provider_model) = llm_router_core::provider::split_model(&model);
    if !provider.is_known() {
        ctx.warn(model_node.pos, format!("unknown provider '{provider}' in model '{model}'; treating it as OpenAI-compatible (known: bedrock, vertex_ai, azure, openai, anthropic, gemini, mistral, groq, ...)"));
    }
    Some(Model { text: model, node: model_node, provider, provider_model })
}

/// Plain settings (os.environ/VAR allowed), with the positions of those that give a region.
struct Settings {
    api_base: Option<(String, Pos)>,
    api_version: Option<String>,
    aws_region: Option<(String, Pos)>,
    vertex_project: Option<String>,
    vertex_location: Option<(String, Pos)>,
    region_name: Option<(String, Pos)>,
    metadata: Metadata,
}

fn read_settings(ctx: &mut Ctx, at: &str, p: &Fields<'_>) -> Settings {
    let mut text =
        |k: &str| p.value(k).and_then(|v| fields::env_string(ctx, &param_path(at, k), v).map(|s| (s, v.pos)));
    let api_base = text("api_base").or_else(|| text("aws_bedrock_runtime_endpoint"));
    let api_version = text("api_version").map(|(s, _)| s);
    let aws_region = text("aws_region_name");
    let vertex_project = text("vertex_project").map(|(s, _)| s);
    let vertex_location = text("vertex_location");
    let region_name = text("region_name");
    let metadata = metadata(ctx, at, p);
    Settings { api_base, api_version, aws_region, vertex_project, vertex_location, region_name, metadata }
}

/// What one entry's `litellm_params` / deployment keys say about its region.
struct Region {
    region: String,
    /// The key that gave the region (the model value when taken from the model name).
    pos: Option<Pos>,
    /// The region the model name ends in (`bedrock/us-west-2/...`), if any.
    inferred: Option<String>,
}

/// Region: metadata.region, region_name, aws_region_name, vertex_location, model name.
fn region(ctx: &mut Ctx, at: &str, params_pos: Pos, p: &Fields<'_>, model: &Model<'_>, s: &Settings) -> Region {
    let from_key = |v: &Option<(String, Pos)>, key_of: &str| {
        v.as_ref().map(|(s, _)| (s.clone(), p.get(key_of).map(|(k, _)| k.pos)))
    };
    let explicit = s
        .metadata
        .region
        .clone()
        .or_else(|| from_key(&s.region_name, "region_name"))
        .or_else(|| from_key(&s.aws_region, "aws_region_name"))
        .or_else(|| from_key(&s.vertex_location, "vertex_location"));
    let last_segment = model.text.rsplit('/').next().unwrap_or("");
    let inferred =
        (model.text.contains('/') && endpoint::looks_like_region(last_segment)).then(|| last_segment.to_string());
    match (explicit, &inferred) {
        (Some((region, pos)), _) => Region { region, pos, inferred },
        (None, Some(r)) => {
            ctx.warn(model.node.pos, format!("{at} has no region key; using '{r}' from the model name as its region (set litellm_params.metadata.region, aws_region_name or vertex_location to say so explicitly)"));
            Region { region: r.clone(), pos: Some(model.node.pos), inferred }
        }
        (None, None) => {
            ctx.warn(params_pos, format!("{at} has no region (metadata.region, region_name, aws_region_name or vertex_location); it belongs to no residency zone and x-llm-region cannot select it"));
            Region { region: String::new(), pos: None, inferred }
        }
    }
}

/// The provider location actually called: the AWS region / Vertex location.
struct Location {
    aws_region_name: Option<String>,
    vertex_location: Option<String>,
}

impl Location {
    /// The key that names it, else the first AWS- / GCP-shaped region among region_name,
    /// metadata.region and the model name's.
    fn of(s: &Settings, region: &Region) -> Location {
        let candidates = [
            s.region_name.as_ref().map(|(r, _)| r.clone()),
            s.metadata.region.as_ref().map(|(r, _)| r.clone()),
            region.inferred.clone(),
        ];
        let first = |shaped: fn(&str) -> bool| candidates.iter().flatten().find(|r| shaped(r)).cloned();
        Location {
            aws_region_name: s.aws_region.as_ref().map(|(r, _)| r.clone()).or_else(|| first(is_aws_region)),
            vertex_location: s.vertex_location.as_ref().map(|(r, _)| r.clone()).or_else(|| first(is_gcp_region)),
        }
    }
}

/// A setting the provider's requests need that the entry lacks.
fn warn_missing_provider_settings(ctx: &mut Ctx, at: &str, params_pos: Pos, provider: &Provider, s: &Settings) {
    let missing = match provider {
        Provider::Azure => s.api_version.is_none().then(|| {
            format!("{at} is an azure deployment without litellm_params.api_version; add api_version (e.g. 2024-10-21)")
        }),
        Provider::VertexAi => s.vertex_project.is_none().then(|| {
            format!("{at} is a vertex_ai deployment without litellm_params.vertex_project; add it (the project in the Vertex URL)")
        }),
        Provider::Bedrock | Provider::OpenAi | Provider::Anthropic | Provider::OpenAiCompatible(_) => None,
    };
    if let Some(message) = missing {
        ctx.warn(params_pos, message);
    }
}

/// `api_key` and LiteLLM's credential keys.
fn secrets(ctx: &mut Ctx, at: &str, p: &Fields<'_>) -> (Option<Secret>, Credentials) {
    let mut secret = |k: &str| p.value(k).and_then(|v| fields::secret(ctx, &param_path(at, k), v));
    let api_key = secret("api_key");
    let credentials = Credentials {
        aws_access_key_id: secret("aws_access_key_id"),
        aws_secret_access_key: secret("aws_secret_access_key"),
        aws_session_token: secret("aws_session_token"),
        aws_profile_name: secret("aws_profile_name"),
        aws_role_name: secret("aws_role_name"),
        vertex_credentials: secret("vertex_credentials"),
    };
    (api_key, credentials)
}

/// Rate limits and timeouts.
struct Limits {
    rpm: Option<u64>,
    tpm: Option<u64>,
    timeout_s: Option<f64>,
    stream_timeout_s: Option<f64>,
}

fn limits(ctx: &mut Ctx, at: &str, p: &Fields<'_>) -> Limits {
    let count =
        |ctx: &mut Ctx, k: &str| p.value(k).and_then(|v| fields::whole_u64(ctx, &param_path(at, k), v, 0, u64::MAX));
    let seconds = |ctx: &mut Ctx, k: &str| p.value(k).and_then(|v| fields::seconds(ctx, &param_path(at, k), v, true));
    Limits {
        rpm: count(ctx, "rpm"),
        tpm: count(ctx, "tpm"),
        timeout_s: seconds(ctx, "timeout"),
        stream_timeout_s: seconds(ctx, "stream_timeout"),
    }
}

/// `model_info`: the id, and the costs (which may also sit in litellm_params, as LiteLLM allows).
struct ModelInfo {
    /// Empty when not given (an id is assigned later).
    id: String,
    explicit_id: Option<Pos>,
    /// Input and output cost per token.
    costs: [Option<f64>; 2],
}

fn model_info(ctx: &mut Ctx, at: &str, f: &Fields<'_>, p: &Fields<'_>) -> ModelInfo {
    const COSTS: [&str; 2] = ["input_cost_per_token", "output_cost_per_token"];
    let mut info = ModelInfo { id: String::new(), explicit_id: None, costs: [None, None] };
    if let Some(node) = f.value("model_info") {
        let mk = Keys {
            section: "model_info",
            known: MODEL_INFO_KEYS,
            accepted: MODEL_INFO_ACCEPTED,
            ignored: &[],
            hints: &[],
        };
        if let Some(mi) = fields::read_map(ctx, node, &mk) {
            if let Some(v) = mi.value("id") {
                if let Some(s) = fields::string(ctx, &format!("{at}: model_info.id"), v) {
                    info.id = s;
                    info.explicit_id = Some(v.pos);
                }
            }
            for (slot, k) in info.costs.iter_mut().zip(COSTS) {
                *slot = mi.value(k).and_then(|v| fields::number(ctx, &format!("{at}: model_info.{k}"), v, 0.0, false));
            }
        }
    }
    for (slot, k) in info.costs.iter_mut().zip(COSTS) {
        if slot.is_none() {
            *slot = p.value(k).and_then(|v| fields::number(ctx, &param_path(at, k), v, 0.0, false));
        }
    }
    info
}

/// A Vertex deployment whose key cannot be used is served, but takes no traffic: say so now.
fn check_vertex_credentials(ctx: &mut Ctx, at: &str, d: &Deployment, p: &Fields<'_>, params_pos: Pos) {
    if d.provider != Provider::VertexAi {
        return;
    }
    if let Err(why) = service_account_for(d) {
        let pos = p.value("vertex_credentials").map_or(params_pos, |v| v.pos);
        ctx.warn(pos, format!("{at} has no usable Vertex credentials: {why}. It is reported unhealthy and takes no traffic until they are fixed"));
    }
}

struct Metadata {
    /// Region and the position of its key.
    region: Option<(String, Option<Pos>)>,
    latency_target: Option<u32>,
}

fn metadata(ctx: &mut Ctx, at: &str, p: &Fields<'_>) -> Metadata {
    let mut out = Metadata { region: None, latency_target: None };
    let Some(node) = p.value("metadata") else {
        return out;
    };
    let keys =
        Keys { section: "litellm_params.metadata", known: METADATA_KEYS, accepted: &[], ignored: &[], hints: &[] };
    let Some(m) = fields::read_map(ctx, node, &keys) else {
        return out;
    };
    if let Some((k, v)) = m.get("region") {
        out.region = fields::string(ctx, &format!("{at}: metadata.region"), v)
            .filter(|s| !s.trim().is_empty())
            .map(|s| (s, Some(k.pos)));
    }
    if let Some(v) = m.value("latency_target") {
        out.latency_target =
            fields::whole(ctx, &format!("{at}: metadata.latency_target (ms)"), v, 0, MAX_LATENCY_TARGET_MS);
    }
    out
}

/// A value given at deployment level (seed dialect) or in litellm_params (LiteLLM's);
/// Priorities stay below the ones given to deployments without a priority (which go last).
const MAX_PRIORITY: u32 = 999_999;
/// Weights are relative shares; a million to one is already more skew than any config means.
const MAX_WEIGHT: u32 = 1_000_000;
/// A latency target of a day is no target.
const MAX_LATENCY_TARGET_MS: u32 = 86_400_000;

/// both given and different is an error.
fn either(
    ctx: &mut Ctx,
    at: &str,
    dep: &Fields<'_>,
    dep_key: &str,
    params: &Fields<'_>,
    param_key: &str,
    (min, max): (u32, u32),
) -> Option<u32> {
    let a = dep
        .value(dep_key)
        .and_then(|v| fields::whole(ctx, &format!("{at}: {dep_key}"), v, min, max).map(|x| (x, v.pos)));
    let b = params.value(param_key).and_then(|v| {
        fields::whole(ctx, &format!("{at}: litellm_params.{param_key}"), v, min, max).map(|x| (x, v.pos))
    });
    match (a, b) {
        (Some((x, xp)), Some((y, yp))) if x != y => {
            ctx.error(
                yp,
                format!("{at}: {dep_key} {x} (line {}) and litellm_params.{param_key} {y} disagree; keep one", xp.line),
            );
            Some(x)
        }
        (a, b) => a.or(b).map(|(x, _)| x),
    }
}
