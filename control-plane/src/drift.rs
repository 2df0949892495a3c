//! `llm-router drift FILE FILE...`: configuration drift between regional gateways (the seed's
//! deployment model 2, "configuration drift risk").
//!
//! Regional gateways each have their own LiteLLM YAML. Some things are *meant* to differ per
//! region: which deployments a gateway has, their regions, endpoints (`api_base`), priorities,
//! weights, costs, `allowed_regions` and `gateway_region`. Everything a client or an operator
//! expects to behave the same behind the global load balancer is compared:
//!
//! - the model groups offered (`model_name`s);
//! - the provider model ids of each group, per provider (a region may use another provider
//!   for the same group; two regions using the same provider must use the same model ids);
//! - `router_settings`: `routing_strategy`, `num_retries`, `allowed_fails`, `cooldown_time`,
//!   `health_check_interval`, `health_check_timeout`, `timeout`, `stream_timeout`,
//!   `fallbacks` (per group), `residency_zones` (per zone defined in several files);
//! - whether `general_settings.master_key` is set (never its value);
//! - two files naming the same `gateway_region`.
//!
//! Values are compared after defaults (an unset `num_retries` equals an explicit 2). Each
//! difference is reported against the value most files agree on (ties: the earliest file), as
//! `FILE: message` lines. Exit 0 when consistent, 1 on drift, 2 when a file does not load.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{self, Config};

/// One difference, blamed on `file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// The `drift` command: loads every file, prints findings (stdout) or a one-line summary.
pub fn run(files: &[PathBuf]) -> ExitCode {
    let mut loaded = Vec::new();
    let mut failed = false;
    for path in files {
        match config::load(path) {
            Ok(l) => {
                for w in &l.warnings {
                    eprintln!("{w}");
                }
                loaded.push((path.display().to_string(), l.config));
            }
            Err(diags) => {
                for d in &diags {
                    eprintln!("{d}");
                }
                eprintln!("{}: the config was not loaded", path.display());
                failed = true;
            }
        }
    }
    if failed {
        return ExitCode::from(2);
    }
    let named: Vec<(String, &Config)> = loaded.iter().map(|(n, c)| (n.clone(), c)).collect();
    let findings = compare(&named);
    if findings.is_empty() {
        let groups = named.first().map(|(_, c)| c.model_groups().join(", ")).unwrap_or_default();
        println!(
            "{} configs consistent: model groups [{groups}], same router settings, fallbacks and model ids; \
             deployments, regions, endpoints and priorities may differ per region",
            named.len()
        );
        ExitCode::SUCCESS
    } else {
        for f in &findings {
            println!("{f}");
        }
        eprintln!("{} difference(s) across {} configs", findings.len(), named.len());
        ExitCode::from(1)
    }
}

/// Compares configs (`(display name, config)`, in command-line order).
pub fn compare(files: &[(String, &Config)]) -> Vec<Finding> {
    let mut out = Vec::new();
    if files.len() < 2 {
        return out;
    }
    model_groups(files, &mut out);
    model_ids(files, &mut out);

    let setting = |f: fn(&Config) -> String| files.iter().map(|(_, c)| Some(f(c))).collect::<Vec<_>>();
    let secs = |v: f64| format!("{v}s");
    let opt_secs = |v: Option<f64>| v.map(secs).unwrap_or_else(|| "unset".into());
    let checks: Vec<(&str, Vec<Option<String>>)> = vec![
        ("router_settings.routing_strategy", setting(|c| c.router.strategy.name().to_string())),
        ("router_settings.num_retries", setting(|c| c.router.num_retries.to_string())),
        ("router_settings.allowed_fails", setting(|c| c.router.allowed_fails.to_string())),
        ("router_settings.cooldown_time", files.iter().map(|(_, c)| Some(secs(c.router.cooldown_time_s))).collect()),
        (
            "router_settings.health_check_interval",
            files.iter().map(|(_, c)| Some(opt_secs(c.router.health_check_interval_s))).collect(),
        ),
        (
            "router_settings.health_check_timeout",
            files.iter().map(|(_, c)| Some(opt_secs(c.router.health_check_timeout_s))).collect(),
        ),
        ("router_settings.timeout", files.iter().map(|(_, c)| Some(opt_secs(c.router.timeout_s))).collect()),
        (
            "router_settings.stream_timeout",
            files.iter().map(|(_, c)| Some(opt_secs(c.router.stream_timeout_s))).collect(),
        ),
        (
            "general_settings.master_key",
            setting(|c| if c.master_key.is_some() { "set".into() } else { "unset".into() }),
        ),
    ];
    for (what, values) in checks {
        agree(files, what, &values, &mut out);
    }

    // Fallbacks, per group that any file gives fallbacks for.
    let groups_with_fallbacks: BTreeSet<&str> =
        files.iter().flat_map(|(_, c)| c.router.fallbacks.iter().map(|(g, _)| g.as_str())).collect();
    for g in groups_with_fallbacks {
        let values: Vec<Option<String>> = files
            .iter()
            .map(|(_, c)| {
                let list = c.router.fallbacks.iter().find(|(name, _)| name == g).map(|(_, l)| l.join(", "));
                Some(list.map(|l| format!("[{l}]")).unwrap_or_else(|| "none".into()))
            })
            .collect();
        agree(files, &format!("router_settings.fallbacks for \"{g}\""), &values, &mut out);
    }

    // residency_zones: a zone defined in several files must hold the same regions.
    let zones: BTreeSet<&str> =
        files.iter().flat_map(|(_, c)| c.router.residency_zones.keys().map(String::as_str)).collect();
    for z in zones {
        let values: Vec<Option<String>> = files
            .iter()
            .map(|(_, c)| {
                c.router.residency_zones.get(z).map(|regions| {
                    let sorted: BTreeSet<&str> = regions.iter().map(String::as_str).collect();
                    format!("[{}]", sorted.into_iter().collect::<Vec<_>>().join(", "))
                })
            })
            .collect();
        agree(files, &format!("router_settings.residency_zones.{z}"), &values, &mut out);
    }

    // Each regional gateway names its own region.
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, c) in files {
        if let Some(r) = c.router.gateway_region.as_deref() {
            if let Some(first) = seen.get(r) {
                out.push(Finding {
                    file: name.clone(),
                    message: format!(
                        "router_settings.gateway_region is {r}, as in {first}: each regional gateway should name its own region"
                    ),
                });
            } else {
                seen.insert(r, name);
            }
        }
    }

    // Report in file order, then in the order of the checks.
    let order: BTreeMap<&str, usize> = files.iter().enumerate().map(|(i, (n, _))| (n.as_str(), i)).collect();
    out.sort_by_key(|f| order.get(f.file.as_str()).copied().unwrap_or(usize::MAX));
    out
}

/// `values[i]` is file i's value (`None`: not applicable to that file). Files whose value
/// differs from the one most files share (ties: the earliest) get a finding.
fn agree(files: &[(String, &Config)], what: &str, values: &[Option<String>], out: &mut Vec<Finding>) {
    let present: Vec<(usize, &String)> =
        values.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|v| (i, v))).collect();
    let distinct: BTreeSet<&String> = present.iter().map(|(_, v)| *v).collect();
    if distinct.len() < 2 {
        return;
    }
    let reference = majority(&present);
    let holders: Vec<&str> =
        present.iter().filter(|(_, v)| *v == reference).map(|(i, _)| files[*i].0.as_str()).collect();
    for (i, v) in &present {
        if *v != reference {
            out.push(Finding {
                file: files[*i].0.clone(),
                message: format!("{what} is {v}, but {reference} in {}", holders.join(", ")),
            });
        }
    }
}

/// The most common value; ties go to the value seen first.
fn majority<'a>(present: &[(usize, &'a String)]) -> &'a String {
    let mut best: Option<(&String, usize)> = None;
    for (_, v) in present {
        let n = present.iter().filter(|(_, w)| w == v).count();
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((v, n));
        }
    }
    best.map(|(v, _)| v).expect("agree() is called with values")
}

fn model_groups(files: &[(String, &Config)], out: &mut Vec<Finding>) {
    let per_file: Vec<BTreeSet<&str>> =
        files.iter().map(|(_, c)| c.deployments.iter().map(|d| d.model_name.as_str()).collect()).collect();
    // Groups in first-appearance order across the files.
    let mut all: Vec<&str> = Vec::new();
    for (_, c) in files {
        for g in c.model_groups() {
            if !all.contains(&g) {
                all.push(g);
            }
        }
    }
    for g in all {
        let offering: Vec<&str> =
            files.iter().zip(&per_file).filter(|(_, set)| set.contains(g)).map(|((n, _), _)| n.as_str()).collect();
        if offering.len() == files.len() {
            continue;
        }
        for ((name, _), set) in files.iter().zip(&per_file) {
            if !set.contains(g) {
                out.push(Finding {
                    file: name.clone(),
                    message: format!("does not offer model group \"{g}\" (offered by {})", offering.join(", ")),
                });
            }
        }
    }
}

fn model_ids(files: &[(String, &Config)], out: &mut Vec<Finding>) {
    // (group, provider) -> per file: the set of provider model ids.
    let mut table: BTreeMap<(&str, &str), Vec<Option<BTreeSet<&str>>>> = BTreeMap::new();
    for (i, (_, c)) in files.iter().enumerate() {
        for d in &c.deployments {
            let row =
                table.entry((d.model_name.as_str(), d.provider.prefix())).or_insert_with(|| vec![None; files.len()]);
            row[i].get_or_insert_with(BTreeSet::new).insert(d.provider_model.as_str());
        }
    }
    for ((group, provider), row) in table {
        let values: Vec<Option<String>> =
            row.into_iter().map(|ids| ids.map(|s| s.into_iter().collect::<Vec<_>>().join(", "))).collect();
        agree(files, &format!("model group \"{group}\" on {provider}: model id"), &values, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> (String, Config) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/drift").join(name);
        let loaded = config::load(&path).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        (name.to_string(), loaded.config)
    }

    fn drift(names: &[&str]) -> Vec<String> {
        let loaded: Vec<(String, Config)> = names.iter().map(|n| fixture(n)).collect();
        let named: Vec<(String, &Config)> = loaded.iter().map(|(n, c)| (n.clone(), c)).collect();
        compare(&named).iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn regional_configs_that_differ_only_in_regions_endpoints_and_priorities_are_consistent() {
        assert_eq!(drift(&["us-west.yaml", "eu-west.yaml", "ap-southeast.yaml"]), Vec::<String>::new());
    }

    #[test]
    fn every_drifted_setting_is_reported_against_the_majority() {
        let found = drift(&["us-west.yaml", "eu-west.yaml", "ap-southeast-drifted.yaml"]);
        let expected = [
            "ap-southeast-drifted.yaml: does not offer model group \"claude-haiku\" (offered by us-west.yaml, eu-west.yaml)",
            "ap-southeast-drifted.yaml: model group \"claude\" on bedrock: model id is anthropic.claude-3-sonnet-20240229-v1:0, but anthropic.claude-3-5-sonnet-20241022-v2:0 in us-west.yaml, eu-west.yaml",
            "ap-southeast-drifted.yaml: router_settings.num_retries is 1, but 2 in us-west.yaml, eu-west.yaml",
            "ap-southeast-drifted.yaml: router_settings.cooldown_time is 60s, but 30s in us-west.yaml, eu-west.yaml",
            "ap-southeast-drifted.yaml: router_settings.timeout is unset, but 60s in us-west.yaml, eu-west.yaml",
            "ap-southeast-drifted.yaml: router_settings.fallbacks for \"claude\" is none, but [claude-haiku] in us-west.yaml, eu-west.yaml",
            "ap-southeast-drifted.yaml: router_settings.gateway_region is us-west-2, as in us-west.yaml: each regional gateway should name its own region",
        ];
        assert_eq!(found, expected, "{found:#?}");
    }

    #[test]
    fn with_two_files_the_first_is_the_reference() {
        let found = drift(&["us-west.yaml", "ap-southeast-drifted.yaml"]);
        assert!(found.iter().all(|f| f.starts_with("ap-southeast-drifted.yaml: ")), "{found:#?}");
        assert!(found.iter().any(|f| f.contains("num_retries is 1, but 2 in us-west.yaml")), "{found:#?}");
    }

    #[test]
    fn defaults_count_as_their_value_and_another_provider_is_not_drift() {
        // eu-west-vertex.yaml leaves num_retries unset (default 2) and serves claude from
        // Vertex AI as well: its Vertex model ids are compared with no one's.
        assert_eq!(drift(&["us-west.yaml", "eu-west-vertex.yaml"]), Vec::<String>::new());
    }

    #[test]
    fn the_shipped_model_2_examples_are_consistent() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/deployment-models/model-2-regional-gateways");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("examples/deployment-models/model-2-regional-gateways")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        assert!(files.len() >= 3, "{files:?}");
        let loaded: Vec<(String, Config)> = files
            .iter()
            .map(|p| (p.display().to_string(), config::load(p).unwrap_or_else(|d| panic!("{d:?}")).config))
            .collect();
        let named: Vec<(String, &Config)> = loaded.iter().map(|(n, c)| (n.clone(), c)).collect();
        assert_eq!(compare(&named), Vec::<Finding>::new());
    }
}
