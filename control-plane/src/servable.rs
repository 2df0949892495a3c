//! Whether a loaded config can be served with the given options: the one place that decides
//! it, for `render` (a static config), `serve` and every reload alike.
//!
//! A problem refuses the config (render exits 1; serve does not start, or a reload keeps the
//! last good config); a warning is printed and the config is served.

use crate::config::Config;
use crate::translate::upstream_auth::{unavailable_reason, unavailable_text, upstream_auth};
use crate::translate::{Options, SecretMode};

/// What stands in the way of serving a config, and what it will not do once served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Servability {
    /// Each says what to change; any one refuses the config.
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl Servability {
    pub fn is_servable(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks `cfg` for serving with `opts`. Messages name no file: callers prefix their own.
pub fn check(cfg: &Config, opts: &Options) -> Servability {
    let mut problems: Vec<String> = unset_master_key(cfg, opts).into_iter().collect();
    problems.extend(
        cfg.deployments.iter().flat_map(|d| d.unresolved.iter().map(|why| format!("deployment '{}': {why}", d.id))),
    );
    problems.extend(secret_problems(cfg, opts));
    Servability { problems, warnings: never_routed(cfg, opts) }
}

/// A static config fixes the master key's digest when it is written: with the key unset it
/// would refuse every request for good. (`serve` keeps serving such a config, locked, as the
/// translation's all-zero digest does.)
fn unset_master_key(cfg: &Config, opts: &Options) -> Option<String> {
    if opts.secret_mode != SecretMode::Reference {
        return None;
    }
    let key = cfg.master_key.as_ref().filter(|k| k.resolve().is_none())?;
    Some(format!(
        "general_settings.master_key is {key:?}, which is not set in this environment; \
         set it before rendering (a gateway without its key would refuse every request)"
    ))
}

/// Credentials that cannot be expressed with `opts.secret_mode`, each saying what to change.
fn secret_problems(cfg: &Config, opts: &Options) -> Vec<String> {
    cfg.deployments.iter().flat_map(|d| upstream_auth(d, opts.secret_mode, opts.vertex.get(&d.id)).problems).collect()
}

/// Deployments a static config can never send traffic to (Vertex: its tokens expire). Under
/// `serve` a missing token is a passing state that the token store reports itself.
fn never_routed(cfg: &Config, opts: &Options) -> Vec<String> {
    if opts.secret_mode != SecretMode::Reference {
        return Vec::new();
    }
    cfg.deployments
        .iter()
        .filter_map(|d| {
            let why = unavailable_reason(d, opts.secret_mode, opts.vertex.get(&d.id))?;
            Some(format!("deployment '{}' takes no traffic in this config: {}", d.id, unavailable_text(why)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn config(extra: &str) -> Config {
        let yaml = format!(
            "model_list:\n  - model_name: g\n    litellm_params:\n      model: vertex_ai/gemini-2.0-flash\n      \
             vertex_project: p\n      vertex_location: europe-west1\n      \
             vertex_credentials: os.environ/LLM_ROUTER_TEST_SURELY_UNSET_KEY\n{extra}"
        );
        config::load_str(&yaml, "t.yaml").expect("loads").config
    }

    fn mode(secret_mode: SecretMode) -> Options {
        Options { secret_mode, ..Default::default() }
    }

    #[test]
    fn a_static_config_refuses_an_unset_master_key_and_warns_of_vertex() {
        let cfg = config("general_settings:\n  master_key: os.environ/LLM_ROUTER_TEST_SURELY_UNSET_MASTER\n");
        let s = check(&cfg, &mode(SecretMode::Reference));
        assert!(!s.is_servable());
        assert!(s.problems[0].starts_with("general_settings.master_key is os.environ/"), "{s:?}");
        assert_eq!(s.warnings.len(), 1, "{s:?}");
        assert!(s.warnings[0].starts_with("deployment 'g-europe-west1' takes no traffic in this config: "), "{s:?}");
    }

    #[test]
    fn serve_takes_the_same_config_without_a_word() {
        let cfg = config("general_settings:\n  master_key: os.environ/LLM_ROUTER_TEST_SURELY_UNSET_MASTER\n");
        assert_eq!(check(&cfg, &mode(SecretMode::Inline)), Servability::default());
    }
}
