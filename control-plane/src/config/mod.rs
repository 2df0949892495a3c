//! Configuration: LiteLLM's YAML (its own dialect and the seed document's) -> [`Config`].
//!
//! [`load`] / [`load_str`] read and check a file and report every problem found as a
//! [`Diagnostic`] (`FILE:LINE:COL: message`); [`summary`] renders the one-screen summary
//! printed by `llm-router validate`.
//!
//! Reading goes through a small position-keeping YAML tree ([`yaml`]), built from
//! yaml-rust2's event parser, so that every diagnostic points at the key or value at fault
//! and duplicate keys are caught.
//!
//! [`vertex_credentials`] holds Vertex service-account keys and tokens as plain data: load
//! checks a deployment's key with it; translation and the token store use the rest.

pub mod model;
pub use model::*;
pub mod vertex_credentials;

mod aws_role;
mod deployment;
mod endpoint;
mod fields;
pub mod json;
mod keys;
mod providers;
pub mod redis;
mod resolve;
mod router;
mod summary;
mod yaml;

pub use router::{deployment_timeouts, parse_strategy, router_timeouts, Timeouts};
pub use summary::summary;

use std::fmt;
use std::path::Path;

use yaml::Pos;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem (or warning) with its position. `Display`: `FILE:LINE:COL: message`, and
/// `FILE:LINE:COL: warning: message` for warnings. Messages never contain secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub col: usize,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message),
            Severity::Warning => {
                write!(f, "{}:{}:{}: warning: {}", self.file, self.line, self.col, self.message)
            }
        }
    }
}

/// A valid configuration and the warnings found while reading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// Collects diagnostics while checking one file.
pub(crate) struct Ctx {
    file: String,
    diags: Vec<Diagnostic>,
    /// Environment variables already reported as unset (each is reported once).
    env_warned: std::collections::BTreeSet<String>,
    /// LiteLLM keys accepted but not used here, by section: (section, keys, first position).
    unused: Vec<(String, Vec<String>, Pos)>,
}

impl Ctx {
    fn new(file: &str) -> Ctx {
        Ctx { file: file.to_string(), diags: Vec::new(), env_warned: Default::default(), unused: Vec::new() }
    }
    /// Notes a LiteLLM key that is accepted but does not change this gateway's routing; each
    /// section's are listed once ([`Ctx::report_unused`]). `section` is generalised over
    /// deployments (`model_list[3]: litellm_params` counts as `litellm_params`).
    pub(crate) fn unused(&mut self, section: &str, key: &str, pos: Pos) {
        let section = section.rsplit(": ").next().unwrap_or(section);
        match self.unused.iter_mut().find(|(s, _, _)| s == section) {
            Some((_, keys, _)) => {
                if !keys.iter().any(|k| k == key) {
                    keys.push(key.to_string());
                }
            }
            None => self.unused.push((section.to_string(), vec![key.to_string()], pos)),
        }
    }
    fn report_unused(&mut self) {
        for (section, keys, pos) in std::mem::take(&mut self.unused) {
            let what = if section == "the top level" { "sections".to_string() } else { format!("{section} keys") };
            self.warn(pos, format!("{what} accepted, not used by llm-router: {}", keys.join(", ")));
        }
    }
    pub(crate) fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Severity::Error, message.into());
    }
    pub(crate) fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Severity::Warning, message.into());
    }
    fn push(&mut self, pos: Pos, severity: Severity, message: String) {
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line: pos.line.max(1),
            col: pos.col.max(1),
            severity,
            message,
        });
    }
    fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }
    /// Diagnostics in file order (errors before warnings at the same position).
    fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.diags.sort_by_key(|d| (d.line, d.col, d.severity == Severity::Warning));
        self.diags
    }
}

/// Reads and checks the config at `path`. On failure, returns every diagnostic found
/// (errors and warnings, in file order); on success, the config and its warnings.
pub fn load(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    let file = path.display().to_string();
    let text = read_file(path).and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| "cannot read the config file: it is not UTF-8 text".to_string())
    });
    match text {
        Ok(text) => load_str(&text, &file),
        Err(message) => Err(vec![Diagnostic { file, line: 1, col: 1, severity: Severity::Error, message }]),
    }
}

pub use yaml::MAX_FILE_BYTES;

/// Reads a config file's bytes. One larger than [`MAX_FILE_BYTES`] is refused before it is
/// read (and one that grows past it while being read), so a runaway file never fills memory.
pub fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| format!("cannot read the config file: {e}");
    let file = std::fs::File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?.len();
    if size > MAX_FILE_BYTES as u64 {
        return Err(yaml::too_large_message(usize::try_from(size).unwrap_or(usize::MAX)));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(yaml::too_large_message(bytes.len()));
    }
    Ok(bytes)
}

/// Checks config text; `file_name` is used in diagnostics only.
pub fn load_str(text: &str, file_name: &str) -> Result<Loaded, Vec<Diagnostic>> {
    let mut ctx = Ctx::new(file_name);
    let root = match yaml::parse(text) {
        Ok((root, problems)) => {
            for p in problems {
                ctx.error(p.pos, p.message);
            }
            root
        }
        Err(e) => {
            ctx.error(e.pos, e.message);
            return Err(ctx.into_sorted());
        }
    };
    let config = match root {
        Some(root) => check(&mut ctx, &root),
        None => {
            ctx.error(Pos { line: 1, col: 1 }, "the config is empty; it needs a model_list");
            None
        }
    };
    match config {
        Some(config) if !ctx.has_errors() => Ok(Loaded { config, warnings: ctx.into_sorted() }),
        _ => Err(ctx.into_sorted()),
    }
}

/// Top-level sections LiteLLM knows that do not affect routing here.
const IGNORED_SECTIONS: &[&str] = &[
    "litellm_settings",
    "general_settings",
    "environment_variables",
    "credential_list",
    "callback_settings",
    "guardrails",
    "mcp_servers",
    "mcp_tools",
    "assistant_settings",
    "files_settings",
    "finetune_settings",
    "search_tools",
    "vector_store_registry",
    "include",
    "prompts",
    "pass_through_endpoints",
];

/// What to say when the models are not in the file: LiteLLM can keep them in its database.
const NO_MODELS_HINT: &str = "llm-router reads its models from this file only (models added through LiteLLM's UI or API live in LiteLLM's database, store_model_in_db); list each deployment under model_list (model_name + litellm_params.model)";

fn check(ctx: &mut Ctx, root: &yaml::Node) -> Option<Config> {
    let Some(entries) = root.as_map() else {
        ctx.error(root.pos, format!("the config must be a mapping with a model_list, found {}", root.kind()));
        return None;
    };
    let mut model_list = None;
    let mut router_node = None;
    let mut litellm_node = None;
    let mut master_key = None;
    for (k, v) in entries {
        let name = k.as_str().unwrap_or("");
        match name {
            "model_list" => model_list = Some((k, v)),
            "router_settings" => router_node = Some((k, v)),
            "general_settings" => {
                master_key = fields::general_settings(ctx, k, v);
            }
            "litellm_settings" => litellm_node = Some(v),
            _ if IGNORED_SECTIONS.contains(&name) => ctx.unused("the top level", name, k.pos),
            _ => {
                let mut known: Vec<&str> = vec!["model_list", "router_settings", "general_settings"];
                known.extend_from_slice(IGNORED_SECTIONS);
                ctx.warn(k.pos, fields::unknown_key_message(name, "the top level", &known, &[]));
            }
        }
    }
    let defaults = litellm_node.map(|v| router::litellm_settings(ctx, v)).unwrap_or_default();
    let raw_router = router::parse(ctx, router_node).or_litellm(defaults);
    let (deployments, groups) = match model_list {
        None => {
            ctx.error(root.pos, format!("the config has no model_list: {NO_MODELS_HINT}"));
            ctx.report_unused();
            return None;
        }
        Some((k, v)) => deployment::parse_list(ctx, k, v, &raw_router),
    };
    let router = router::finish(ctx, raw_router, &deployments, &groups);
    ctx.report_unused();
    let deployments: Vec<Deployment> = deployments.into_iter().map(|(d, _)| d).collect();
    let mut zones: Vec<String> = deployments.iter().map(|d| d.zone.clone()).filter(|z| !z.is_empty()).collect();
    zones.extend(router.residency_zones.keys().cloned());
    zones.sort();
    zones.dedup();
    Some(Config { deployments, router, zones, master_key })
}
