//! `model_list[]` entries: one deployment each, in either dialect.

use super::endpoint::{self, is_aws_region, is_gcp_region, HostRegion};
use super::fields::{self, Fields, Keys};
use super::keys::*;
use super::providers::{self, Support};
use super::router::RawRouter;
use super::vertex_credentials::service_account_for;
use super::yaml::{Node, Pos};
use super::{Credentials, Ctx, Deployment, Provider, Reach, Secret, TlsVerify};

/// Where a deployment's facts came from, for later checks.
pub(crate) struct Meta {
    pub index: usize,
    pub entry_pos: Pos,
    pub params_pos: Pos,
    /// The key that gave the region.
    pub region_pos: Option<Pos>,
    /// The key that says where requests go (the `model` key for an inference profile).
    pub reach_pos: Pos,
    /// How messages name it: `aws_region_name 'eu-west-1'`, `Bedrock cross-region inference
    /// profile 'eu.…'`; empty when the endpoint names no region.
    pub reach_from: String,
    /// `model_info.id` value position, when given.
    pub explicit_id: Option<Pos>,
    /// `litellm_params.timeout` and `stream_timeout` value positions, when given.
    pub timeout_pos: Option<Pos>,
    pub stream_timeout_pos: Option<Pos>,
}

/// Parses every entry; entries with errors are still returned (with placeholders) when
/// they have a model_name, so that later checks can report their own problems.
/// Also returns every model_name written, for checks of names that refer to groups.
pub(crate) fn parse_list(
    ctx: &mut Ctx,
    key: &Node,
    node: &Node,
    router: &RawRouter,
) -> (Vec<(Deployment, Meta)>, Vec<String>) {
    let items = match node.as_seq() {
        Some(items) if !items.is_empty() => items,
        _ if node.is_null() || node.as_seq().is_some() => {
            ctx.error(key.pos, format!("model_list is empty: {}", super::NO_MODELS_HINT));
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
        items.iter().enumerate().filter_map(|(i, item)| parse_one(ctx, i, item, router)).collect();
    super::resolve::assign_ids(ctx, &mut out);
    super::resolve::zones_and_allowed_regions(ctx, &mut out, router);
    (out, groups)
}

fn parse_one(ctx: &mut Ctx, i: usize, item: &Node, router: &RawRouter) -> Option<(Deployment, Meta)> {
    let entry = read_entry(ctx, i, item)?;
    let (at, f) = (&entry.at, &entry.fields);
    let (params_key, p) = read_params(ctx, at, item, f)?;
    let model = read_model(ctx, at, params_key.pos, &p)?;
    check_wildcard(ctx, at, entry.model_name.as_deref().unwrap_or(""), &model);
    let settings = read_settings(ctx, at, params_key.pos, &p, &model);
    let location = Location::of(ctx, at, params_key.pos, &p, &settings, &model);
    let aws_region_name = location.aws.as_ref().map(|n| n.value.clone());
    let vertex_location = location.vertex.as_ref().map(|n| n.value.clone());
    let mut unresolved = settings.unresolved.clone();
    let bedrock_without_region = model.provider == Provider::Bedrock
        && aws_region_name.is_none()
        && settings.api_base.is_none()
        && settings.api_base_unset.is_none();
    if bedrock_without_region {
        // LiteLLM reads the region from the environment when it calls Bedrock: valid, not servable here.
        ctx.warn(params_key.pos, format!("{at}: bedrock deployment with no region: set litellm_params.aws_region_name (e.g. us-west-2), or AWS_REGION_NAME / AWS_REGION / AWS_DEFAULT_REGION where the gateway runs (render and serve refuse this deployment until then)"));
        unresolved.push("Bedrock needs a region: set litellm_params.aws_region_name, or AWS_REGION_NAME / AWS_REGION / AWS_DEFAULT_REGION where the gateway runs".to_string());
    }
    // Azure, and OpenAI-compatible servers without a default: LiteLLM reads the environment
    // (AZURE_API_BASE, HOSTED_VLLM_API_BASE, ...) when it calls; valid, not servable here.
    let base_env: &[&str] = match model.support {
        Support::OpenAiCompatible(c) if c.default_base.is_none() => c.base_env,
        _ if model.provider == Provider::Azure => &["AZURE_API_BASE"],
        _ => &[],
    };
    let needs_base = settings.api_base.is_none()
        && settings.api_base_unset.is_none()
        && (model.provider == Provider::Azure
            || matches!(model.support, Support::OpenAiCompatible(c) if c.default_base.is_none()));
    if needs_base && !base_env.is_empty() {
        let vars = base_env.join(" / ");
        ctx.warn(params_key.pos, format!("{at}: {} deployment without litellm_params.api_base: set it, or {vars} where the gateway runs (render and serve refuse this deployment until then)", model.provider));
        unresolved.push(format!(
            "{} needs an api_base: set litellm_params.api_base, or {vars} where the gateway runs",
            model.provider
        ));
    }
    let endpoint = match &settings.api_base_unset {
        _ if bedrock_without_region || (needs_base && !base_env.is_empty()) => endpoint::placeholder(),
        // Reported at the api_base; render and serve refuse the deployment (`unresolved`).
        Some(_) => endpoint::placeholder(),
        None => endpoint::build(
            ctx,
            at,
            &model.provider,
            model.support,
            params_key.pos,
            settings.api_base.clone(),
            &aws_region_name,
            &vertex_location,
        ),
    };
    let called = called(ctx, at, &p, &model, &location);
    let region = region(ctx, at, &p, &settings, &location, &called);
    warn_missing_provider_settings(ctx, at, params_key.pos, &model.provider, &settings);
    // Priority and weight, in either dialect.
    let priority = either(ctx, at, f, "priority", &p, "order", (0, MAX_PRIORITY));
    let weight = either(ctx, at, f, "weight", &p, "weight", (1, MAX_WEIGHT));
    let (api_key, credentials) = secrets(ctx, at, &p, &model);
    let limits = limits(ctx, at, f, &p);
    let info = model_info(ctx, at, f, &p);
    let tls_verify = match p.value("ssl_verify") {
        Some(v) => ssl_verify(ctx, &param_path(at, "ssl_verify"), v),
        None => router.ssl_verify.clone().unwrap_or(TlsVerify::Verify),
    };

    let model_name = entry.model_name?;
    let deployment = Deployment {
        id: info.id,
        model_name,
        provider: model.provider,
        provider_model: model.provider_model,
        region: region.region,
        region_source: region.source,
        zone: String::new(),
        reach: called.reach,
        priority,
        // LiteLLM's simple-shuffle weight: weight, else rpm, else tpm.
        weight: weight.or(limits.rpm.map(clamp_weight)).or(limits.tpm.map(clamp_weight)).unwrap_or(1),
        endpoint,
        api_key,
        rpm: limits.rpm,
        tpm: limits.tpm,
        timeout_s: limits.timeout.map(|(v, _)| v),
        stream_timeout_s: limits.stream_timeout.map(|(v, _)| v),
        cooldown_time_s: limits.cooldown_time,
        latency_target_ms: settings.metadata.latency_target,
        input_cost_per_token: info.costs[0],
        output_cost_per_token: info.costs[1],
        api_version: settings.api_version,
        aws_region_name,
        vertex_project: settings.vertex_project,
        vertex_location,
        credentials,
        tls_verify,
        unresolved,
    };
    check_vertex_credentials(ctx, at, &deployment, &p, params_key.pos);
    super::aws_role::check(ctx, at, &deployment, &p);
    let meta = Meta {
        index: i,
        entry_pos: item.pos,
        params_pos: params_key.pos,
        region_pos: region.pos,
        reach_pos: called.pos.unwrap_or(params_key.pos),
        reach_from: called.from,
        explicit_id: info.explicit_id,
        timeout_pos: limits.timeout.map(|(_, pos)| pos),
        stream_timeout_pos: limits.stream_timeout.map(|(_, pos)| pos),
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
    /// How the gateway speaks to it ([`providers::support`]); never `Refused`.
    support: Support,
}

/// The model and its provider as LiteLLM reads them (`get_llm_provider`): `custom_llm_provider`
/// first (the model is then passed whole), else the model's prefix, else the provider LiteLLM
/// infers from a bare name (with a warning). A prefix the gateway does not speak is refused by
/// name with what to write instead.
fn read_model<'a>(ctx: &mut Ctx, at: &str, params_pos: Pos, p: &Fields<'a>) -> Option<Model<'a>> {
    let model_node = p.value("model");
    let model =
        model_node.and_then(|v| fields::env_string(ctx, &param_path(at, "model"), v)).filter(|m| !m.trim().is_empty());
    let Some(model) = model else {
        if model_node.is_none_or(|v| v.as_str().is_some_and(|s| s.trim().is_empty())) {
            ctx.error(params_pos, format!("{at} has no litellm_params.model; add model: PROVIDER/MODEL (e.g. bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0)"));
        }
        return None;
    };
    let model_node = model_node?;
    let custom = p.get("custom_llm_provider").and_then(|(_, v)| {
        fields::env_string(ctx, &param_path(at, "custom_llm_provider"), v).map(|s| (s.trim().to_string(), v.pos))
    });
    let (prefix, provider_model, pos) = match custom {
        // LiteLLM: `custom_llm_provider/model` unless the model already starts with it.
        Some((cp, pos)) => {
            let whole = model.strip_prefix(&format!("{cp}/")).unwrap_or(&model).to_string();
            (cp, whole, pos)
        }
        None => match model.split_once('/') {
            Some((prefix, _)) => {
                let (_, rest) = llm_router_core::provider::split_model(&model);
                (prefix.to_string(), rest, model_node.pos)
            }
            None => match providers::infer_bare(&model) {
                Some(prefix) => {
                    ctx.warn(model_node.pos, format!("{at}: model '{model}' has no provider prefix; read as {prefix}/{model}, as LiteLLM infers it (write {prefix}/{model} to say so)"));
                    (prefix.to_string(), model.clone(), model_node.pos)
                }
                None => {
                    ctx.error(model_node.pos, format!("{at}: model '{model}' names no provider, and LiteLLM infers none for it; write PROVIDER/{model} (e.g. openai/{model} for an OpenAI-compatible server at api_base, hosted_vllm/{model}, ollama/{model})"));
                    return None;
                }
            },
        },
    };
    let support = match providers::support(&prefix) {
        Some(Support::Refused(why)) => {
            ctx.error(
                pos,
                format!("{at}: provider '{prefix}' (model '{model}') is not supported by llm-router: {why}"),
            );
            return None;
        }
        Some(s) => s,
        None => {
            let near = providers::supported_prefixes()
                .into_iter()
                .map(|k| (strsim::jaro_winkler(&prefix, k), k))
                .filter(|(s, _)| *s >= 0.85)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, k)| format!(" (did you mean '{k}'?)"))
                .unwrap_or_default();
            ctx.error(pos, format!("{at}: unknown provider '{prefix}' in model '{model}'{near}; LiteLLM does not know it either. Write openai/MODEL with an api_base for an OpenAI-compatible server, or one of: {}", providers::supported_prefixes().join(", ")));
            return None;
        }
    };
    let provider = providers::provider(&prefix);
    let provider_model = match provider {
        Provider::Bedrock => provider_model.strip_prefix("converse/").unwrap_or(&provider_model).to_string(),
        _ => provider_model,
    };
    Some(Model { text: model, node: model_node, provider, provider_model, support })
}

/// LiteLLM's pattern routing: a wildcard group (`*`, `anthropic/*`) serves every client model
/// its pattern matches, and its deployment's `model` may hold `*`s that take what the pattern's
/// matched. A `*` in `model` needs a pattern to take it from, and a Vertex AI template must say
/// which of the two APIs it speaks (`vertex_ai/gemini-*`, `vertex_ai/claude-*`).
fn check_wildcard(ctx: &mut Ctx, at: &str, model_name: &str, model: &Model<'_>) {
    use llm_router_core::wildcard::is_pattern;
    if !is_pattern(&model.provider_model) {
        return;
    }
    if !model_name.is_empty() && !is_pattern(model_name) {
        ctx.error(model.node.pos, format!("{at}: model '{}' has a '*' but model_name '{model_name}' has none, so nothing fills it; write the model's full name, or make model_name a pattern (e.g. model_name: \"anthropic/*\" with model: anthropic/*)", model.text));
    } else if let Err(why) =
        llm_router_core::providers::ProviderKind::for_provider(&model.provider, &model.provider_model)
    {
        ctx.error(
            model.node.pos,
            format!("{at}: {why}; a Vertex AI wildcard must name the family: vertex_ai/gemini-* or vertex_ai/claude-*"),
        );
    }
}

/// Plain settings (os.environ/VAR allowed), with the positions of those that give a region.
struct Settings {
    api_base: Option<(String, Pos)>,
    /// `api_base` names an environment variable that is not set: the variable. The deployment
    /// validates (with a warning) but cannot be served until it is set.
    api_base_unset: Option<String>,
    /// Values the deployment needs that name unset environment variables (warned at their keys).
    unresolved: Vec<String>,
    api_version: Option<String>,
    aws_region: Option<(String, Pos)>,
    vertex_project: Option<String>,
    /// `vertex_location` (or LiteLLM's other name for it, `vertex_ai_location`).
    vertex_location: Option<(String, Pos, &'static str)>,
    region_name: Option<(String, Pos)>,
    metadata: Metadata,
}

/// LiteLLM's default Azure `api-version` when neither the config nor `AZURE_API_VERSION` gives
/// one (`AZURE_DEFAULT_API_VERSION` in BerriAI/litellm `litellm/constants.py`).
pub(crate) const AZURE_DEFAULT_API_VERSION: &str = "2025-02-01-preview";

fn read_settings(ctx: &mut Ctx, at: &str, params_pos: Pos, p: &Fields<'_>, model: &Model<'_>) -> Settings {
    let mut unresolved = Vec::new();
    // A value needed only to serve: an unset variable is a warning now, and the deployment is
    // refused by render and serve until it is set (as for api_key).
    let mut needed = |ctx: &mut Ctx, k: &str| {
        let v = p.value(k)?;
        match fields::env_string_or_unset(ctx, &param_path(at, k), v)? {
            Ok(s) => Some((s, v.pos)),
            Err(var) => {
                ctx.warn(v.pos, format!("{at}: litellm_params.{k} refers to environment variable {var}, which is not set in this environment; set it where the gateway runs (render and serve refuse this deployment until it is set)"));
                unresolved.push(format!("litellm_params.{k} refers to environment variable {var}, which is not set; set it where the gateway runs"));
                None
            }
        }
    };
    let api_version = needed(ctx, "api_version").map(|(s, _)| s);
    let vertex_project = needed(ctx, "vertex_project").or_else(|| needed(ctx, "vertex_ai_project")).map(|(s, _)| s);
    let mut text =
        |k: &str| p.value(k).and_then(|v| fields::env_string(ctx, &param_path(at, k), v).map(|s| (s, v.pos)));
    let aws_region = text("aws_region_name");
    let vertex_location = text("vertex_location")
        .map(|(s, pos)| (s, pos, "vertex_location"))
        .or_else(|| text("vertex_ai_location").map(|(s, pos)| (s, pos, "vertex_ai_location")));
    let region_name = text("region_name");
    let mut api_version = api_version;
    let (mut api_base, mut api_base_unset) = (None, None);
    for key in ["api_base", "aws_bedrock_runtime_endpoint"] {
        let Some(v) = p.value(key) else { continue };
        match fields::env_string_or_unset(ctx, &param_path(at, key), v) {
            Some(Ok(s)) => api_base = Some((s, v.pos)),
            Some(Err(var)) => {
                ctx.warn(v.pos, format!("{at}: litellm_params.{key} refers to environment variable {var}, which is not set in this environment; set it where the gateway runs (render and serve refuse this deployment until it is set)"));
                unresolved.push(format!("litellm_params.{key} refers to environment variable {var}, which is not set; set it where the gateway runs"));
                api_base_unset = Some(var);
            }
            None => {}
        }
        break;
    }
    // LiteLLM's environment fallbacks when the config gives no api_base / api_version.
    if api_base.is_none() && api_base_unset.is_none() {
        let vars: &[&'static str] = match model.support {
            Support::OpenAiCompatible(c) => c.base_env,
            _ if model.provider == Provider::Azure => &["AZURE_API_BASE"],
            _ => &[],
        };
        api_base = providers::first_env(vars).map(|(_, v)| (v, params_pos));
    }
    if model.provider == Provider::Azure && api_version.is_none() && p.value("api_version").is_none() {
        api_version = Some(
            providers::first_env(&["AZURE_API_VERSION"])
                .map_or_else(|| AZURE_DEFAULT_API_VERSION.to_string(), |(_, v)| v),
        );
    }
    let vertex_project = vertex_project.or_else(|| {
        (model.provider == Provider::VertexAi)
            .then(|| providers::first_env(&["VERTEXAI_PROJECT"]).map(|(_, v)| v))
            .flatten()
    });
    let metadata = metadata(ctx, at, p);
    Settings {
        api_base,
        api_base_unset,
        unresolved,
        api_version,
        aws_region,
        vertex_project,
        vertex_location,
        region_name,
        metadata,
    }
}

/// A value and the key that gave it, for messages and positions.
#[derive(Debug, Clone)]
struct Named {
    value: String,
    /// `aws_region_name`, `api_base`, `metadata.region`, ... or `model` (the model name).
    key: &'static str,
    pos: Pos,
}

impl Named {
    /// `aws_region_name 'eu-west-1'`, `the api_base host's region 'eastus'`.
    fn describe(&self) -> String {
        match self.key {
            "api_base" => format!("the api_base host's region '{}'", self.value),
            "model_arn" => format!("the model ARN's region '{}'", self.value),
            "default" => format!("LiteLLM's default location '{}'", self.value),
            key => match key.strip_prefix("env:") {
                Some(var) => format!("environment variable {var} '{}'", self.value),
                None => format!("{key} '{}'", self.value),
            },
        }
    }
}

/// The position of `key` itself, else `fallback`.
fn key_pos(p: &Fields<'_>, key: &str, fallback: Pos) -> Pos {
    p.get(key).map_or(fallback, |(k, _)| k.pos)
}

/// The region-shaped last segment of the model name (`bedrock/.../us-west-2`), if any. Never
/// read as the deployment's region (LiteLLM does not read it either, and a guessed region would
/// decide residency): only named in a warning when no key gives a region.
fn model_name_region(model: &Model<'_>) -> Option<Named> {
    let last_segment = model.text.rsplit('/').next().unwrap_or("");
    // Region-shaped and with a known region prefix (`deepseek-r1` is neither a region nor meant as one).
    let region_shaped = endpoint::looks_like_region(last_segment) && !endpoint::zone_by_prefix(last_segment).is_empty();
    (model.text.contains('/') && region_shaped).then(|| Named {
        value: last_segment.to_string(),
        key: "model",
        pos: model.node.pos,
    })
}

/// The declared region labels, in order: `metadata.region`, `region_name`.
fn labels(p: &Fields<'_>, s: &Settings) -> Vec<Named> {
    let metadata = s.metadata.region.as_ref().map(|(value, pos)| Named {
        value: value.clone(),
        key: "metadata.region",
        pos: pos.unwrap_or_else(|| key_pos(p, "metadata", Pos { line: 1, col: 1 })),
    });
    let region_name = s.region_name.as_ref().map(|(value, pos)| Named {
        value: value.clone(),
        key: "region_name",
        pos: key_pos(p, "region_name", *pos),
    });
    metadata.into_iter().chain(region_name).collect()
}

/// The provider location called: the AWS region (bedrock: host and signature) and the Vertex
/// location (vertex_ai: host and path); and the region `api_base`'s host names, if any.
struct Location {
    aws: Option<Named>,
    vertex: Option<Named>,
    host: Option<Named>,
}

/// Environment variables LiteLLM reads for Bedrock's region when the config names none
/// (boto3's and its own), each with its `region_source`.
const AWS_REGION_ENV: &[(&str, &str)] = &[
    ("AWS_REGION_NAME", "env:AWS_REGION_NAME"),
    ("AWS_REGION", "env:AWS_REGION"),
    ("AWS_DEFAULT_REGION", "env:AWS_DEFAULT_REGION"),
];
/// And Vertex's location.
const VERTEX_LOCATION_ENV: &[(&str, &str)] = &[("VERTEXAI_LOCATION", "env:VERTEXAI_LOCATION")];
/// LiteLLM's Vertex location when none is given (`VertexBase.get_vertex_region`).
const VERTEX_DEFAULT_LOCATION: &str = "us-central1";

/// The first set variable of `vars` as a region named by `env:VAR`.
fn env_region(vars: &[(&'static str, &'static str)], pos: Pos) -> Option<Named> {
    vars.iter().find_map(|(var, source)| {
        std::env::var(var).ok().filter(|v| !v.trim().is_empty()).map(|value| Named { value, key: source, pos })
    })
}

/// The region of a Bedrock model ARN (`arn:aws:bedrock:REGION:ACCOUNT:…`), if the model is one.
fn arn_region(model: &Model<'_>) -> Option<Named> {
    let arn = &model.provider_model[model.provider_model.find("arn:")?..];
    let region = arn.split(':').nth(3).filter(|r| is_aws_region(r))?;
    Some(Named { value: region.to_string(), key: "model_arn", pos: model.node.pos })
}

impl Location {
    /// The key that names it, else the region `api_base`'s host names, else (Bedrock) the
    /// model ARN's, else the first AWS- / GCP-shaped region among region_name, metadata.region
    /// and the model name's, else LiteLLM's environment variables (and for Vertex its default
    /// location, with a warning).
    fn of(ctx: &mut Ctx, at: &str, params_pos: Pos, p: &Fields<'_>, s: &Settings, model: &Model<'_>) -> Location {
        let host = s.api_base.as_ref().and_then(|(url, pos)| {
            let value = match endpoint::host_region(&endpoint::parse_url(url).ok()?.host)? {
                HostRegion::Region(r) => r,
                HostRegion::Global => "global".to_string(),
            };
            Some(Named { value, key: "api_base", pos: key_pos(p, "api_base", *pos) })
        });
        let given = |v: &Option<(String, Pos)>, key: &'static str| {
            v.as_ref().map(|(value, pos)| Named { value: value.clone(), key, pos: key_pos(p, key, *pos) })
        };
        let mut candidates = labels(p, s);
        candidates.reverse(); // region_name first
        let first = |shaped: fn(&str) -> bool| candidates.iter().find(|n| shaped(&n.value)).cloned();
        let host_if = |shaped: fn(&str) -> bool| host.clone().filter(|h| shaped(&h.value));
        let vertex_given = s.vertex_location.as_ref().map(|(value, pos, key)| Named {
            value: value.clone(),
            key,
            pos: key_pos(p, key, *pos),
        });
        let mut aws = given(&s.aws_region, "aws_region_name").or_else(|| host_if(is_aws_region));
        let mut vertex = vertex_given.or_else(|| host_if(is_vertex_location));
        match model.provider {
            Provider::Bedrock => {
                aws = aws
                    .or_else(|| arn_region(model))
                    .or_else(|| first(is_aws_region))
                    .or_else(|| env_region(AWS_REGION_ENV, params_pos));
            }
            Provider::VertexAi => {
                vertex =
                    vertex.or_else(|| first(is_gcp_region)).or_else(|| env_region(VERTEX_LOCATION_ENV, params_pos));
                if vertex.is_none() && s.api_base.is_none() && s.api_base_unset.is_none() {
                    ctx.warn(params_pos, format!("{at} names no Vertex location (vertex_location, vertex_ai_location or VERTEXAI_LOCATION); using LiteLLM's default '{VERTEX_DEFAULT_LOCATION}' (set vertex_location to say so)"));
                    vertex = Some(Named { value: VERTEX_DEFAULT_LOCATION.into(), key: "default", pos: params_pos });
                }
            }
            _ => {
                aws = aws.or_else(|| first(is_aws_region));
                vertex = vertex.or_else(|| first(is_gcp_region));
            }
        }
        if aws.is_none() && vertex.is_none() && host.is_none() && candidates.is_empty() {
            if let Some(n) = model_name_region(model) {
                ctx.warn(n.pos, format!("{at}: the model name ends in '{}', which is not read as a region (LiteLLM does not read it either, and residency must not rest on a guess); if the deployment runs there, say so with metadata.region or aws_region_name / vertex_location", n.value));
            }
        }
        Location { aws, vertex, host }
    }
}

fn is_vertex_location(s: &str) -> bool {
    s == "global" || is_gcp_region(s)
}

/// Where the entry's requests go, read from the endpoint called.
struct Called {
    reach: Reach,
    /// The region the endpoint names (a profile's source region; `global`), and its key.
    region: Option<Named>,
    /// The key to point at for zone and allowed_regions problems.
    pos: Option<Pos>,
    /// How messages name it.
    from: String,
}

impl Called {
    /// One region, `global`, or none, as `region` says.
    fn of_region(region: Option<Named>) -> Called {
        let reach = match &region {
            Some(n) if n.value == "global" => Reach::Global,
            Some(n) => Reach::Region(n.value.clone()),
            None => Reach::Unknown,
        };
        let from = match &region {
            Some(n) if n.value == "global" => format!("a global endpoint ({})", n.describe()),
            Some(n) => n.describe(),
            None => String::new(),
        };
        Called { reach, from, pos: region.as_ref().map(|n| n.pos), region }
    }
}

/// The endpoint's region and reach. A host and a region key that name different regions are
/// an error: the request would go to one region and be signed for (or addressed to) the other.
fn called(ctx: &mut Ctx, at: &str, p: &Fields<'_>, model: &Model<'_>, loc: &Location) -> Called {
    let check_host = |ctx: &mut Ctx, key: &Option<Named>| {
        if let (Some(host), Some(key)) = (&loc.host, key) {
            if key.key != "api_base" && !key.value.eq_ignore_ascii_case(&host.value) {
                ctx.error(key.pos, format!("{at}: {} disagrees with {}; requests would go to one region addressed to (or signed for) the other. Make them name the same region, or drop {}", key.describe(), host.describe(), key.key));
            }
        }
    };
    match model.provider {
        Provider::Bedrock => {
            check_host(ctx, &loc.aws);
            let region = loc.host.clone().filter(|h| is_aws_region(&h.value)).or_else(|| loc.aws.clone());
            let Some((geography, destinations)) = endpoint::inference_profile(&model.provider_model) else {
                return Called::of_region(region);
            };
            let source = region.as_ref().map(|n| n.value.as_str());
            Called {
                reach: endpoint::profile_reach(geography, destinations, source),
                from: format!("Bedrock cross-region inference profile '{}'", model.provider_model),
                pos: Some(key_pos(p, "model", model.node.pos)),
                region,
            }
        }
        Provider::VertexAi => {
            check_host(ctx, &loc.vertex);
            Called::of_region(loc.host.clone().filter(|h| is_vertex_location(&h.value)).or_else(|| loc.vertex.clone()))
        }
        Provider::Azure | Provider::OpenAi | Provider::Anthropic | Provider::OpenAiCompatible(_) => {
            Called::of_region(loc.host.clone())
        }
    }
}

/// What the entry's keys say about its region.
struct Region {
    region: String,
    /// The key that gave the region.
    pos: Option<Pos>,
    /// `region_source`: the key, or `env:VAR`; empty when there is no region.
    source: String,
}

/// The region clients see: metadata.region, else region_name, else the endpoint's region,
/// else aws_region_name / vertex_location / the model name's. A label that disagrees with
/// where requests go is an error.
fn region(ctx: &mut Ctx, at: &str, p: &Fields<'_>, s: &Settings, loc: &Location, called: &Called) -> Region {
    let labels = labels(p, s);
    if let Some(endpoint) = &called.region {
        for label in labels.iter().filter(|l| !endpoint::label_agrees(&l.value, &endpoint.value)) {
            ctx.error(label.pos, format!("{at}: {} '{}' disagrees with where its requests go, {}; residency follows the endpoint: correct {} or remove it (the region is then '{}')", label.key, label.value, endpoint.describe(), label.key, endpoint.value));
        }
    }
    if let Some(label) = labels.into_iter().next() {
        return Region { region: label.value, pos: Some(label.pos), source: label.key.to_string() };
    }
    // Where the endpoint names no region (an OpenAI-compatible host), the region keys still
    // label the deployment, as LiteLLM reads them.
    match called.region.clone().or_else(|| loc.aws.clone()).or_else(|| loc.vertex.clone()) {
        Some(n) => Region { region: n.value, pos: Some(n.pos), source: n.key.to_string() },
        // Reported once for the whole file (or per deployment where residency needs it).
        None => Region { region: String::new(), pos: None, source: String::new() },
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
/// Without `api_key`, the key comes from LiteLLM's environment variable for the provider
/// (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `AZURE_API_KEY`, `GROQ_API_KEY`, ...) when that is set
/// where the config is loaded (`serve` loads it where the gateway runs). Only the variable's
/// name is kept; its value is read where it is used.
fn secrets(ctx: &mut Ctx, at: &str, p: &Fields<'_>, model: &Model<'_>) -> (Option<Secret>, Credentials) {
    let mut secret = |k: &str| p.value(k).and_then(|v| fields::secret(ctx, &param_path(at, k), v));
    let api_key = secret("api_key").or_else(|| {
        p.value("api_key")
            .is_none()
            .then(|| providers::first_env(providers::key_env(&model.provider)))
            .flatten()
            .map(|(var, _)| Secret::Env(var.to_string()))
    });
    let credentials = Credentials {
        aws_access_key_id: secret("aws_access_key_id"),
        aws_secret_access_key: secret("aws_secret_access_key"),
        aws_session_token: secret("aws_session_token"),
        aws_profile_name: secret("aws_profile_name"),
        aws_role_name: secret("aws_role_name"),
        aws_session_name: secret("aws_session_name"),
        aws_web_identity_token: secret("aws_web_identity_token"),
        aws_external_id: secret("aws_external_id"),
        vertex_credentials: secret("vertex_credentials"),
    };
    (api_key, credentials)
}

/// Rate limits, and timeouts (seconds) with their positions.
struct Limits {
    rpm: Option<u64>,
    tpm: Option<u64>,
    timeout: Option<(f64, Pos)>,
    stream_timeout: Option<(f64, Pos)>,
    cooldown_time: Option<f64>,
}

/// rpm/tpm as a simple-shuffle weight (weights are relative; the filter takes a u32).
fn clamp_weight(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX).max(1)
}

/// `rpm`/`tpm` may sit next to litellm_params (LiteLLM's router reads both places); both given
/// and different is an error, like weight and priority.
fn limits(ctx: &mut Ctx, at: &str, dep: &Fields<'_>, p: &Fields<'_>) -> Limits {
    let count = |ctx: &mut Ctx, k: &str| {
        let own = dep
            .value(k)
            .and_then(|v| fields::whole_u64(ctx, &format!("{at}: {k}"), v, 0, u64::MAX).map(|x| (x, v.pos)));
        let param =
            p.value(k).and_then(|v| fields::whole_u64(ctx, &param_path(at, k), v, 0, u64::MAX).map(|x| (x, v.pos)));
        match (own, param) {
            (Some((x, xp)), Some((y, yp))) if x != y => {
                ctx.error(
                    yp,
                    format!("{at}: {k} {x} (line {}) and litellm_params.{k} {y} disagree; keep one", xp.line),
                );
                Some(x)
            }
            (a, b) => a.or(b).map(|(x, _)| x),
        }
    };
    let seconds = |ctx: &mut Ctx, k: &str| {
        p.value(k).and_then(|v| fields::seconds(ctx, &param_path(at, k), v, true).map(|s| (s, v.pos)))
    };
    Limits {
        rpm: count(ctx, "rpm"),
        tpm: count(ctx, "tpm"),
        timeout: seconds(ctx, "timeout"),
        stream_timeout: seconds(ctx, "stream_timeout"),
        cooldown_time: p
            .value("cooldown_time")
            .and_then(|v| fields::seconds(ctx, &param_path(at, "cooldown_time"), v, false)),
    }
}

/// LiteLLM's `ssl_verify`: false turns certificate checks off, a path names a CA bundle.
pub(crate) fn ssl_verify(ctx: &mut Ctx, path: &str, node: &Node) -> TlsVerify {
    let Some(text) = fields::env_string(ctx, path, node) else { return TlsVerify::Verify };
    match text.trim() {
        "true" | "True" | "TRUE" | "yes" => TlsVerify::Verify,
        "false" | "False" | "FALSE" | "no" => {
            ctx.warn(node.pos, format!("{path} is false: upstream TLS certificates are not checked for this deployment, as LiteLLM does; give a CA bundle path instead to keep them checked"));
            TlsVerify::Off
        }
        bundle => {
            if !std::path::Path::new(bundle).is_file() {
                ctx.warn(
                    node.pos,
                    format!("{path}: CA bundle '{bundle}' is not a file here; Envoy reads it where the gateway runs"),
                );
            }
            TlsVerify::CaBundle(bundle.to_string())
        }
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
        // LiteLLM's model_info holds any key (it is descriptive): only these are read here.
        let mk = Keys { section: "model_info", known: MODEL_INFO_KEYS, accepted: &[], ignored: &[], hints: &[] };
        if let Some(mi) = fields::read_map_any(ctx, node, &mk) {
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
