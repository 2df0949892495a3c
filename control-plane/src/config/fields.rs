//! Reading mappings and values: known/unknown keys with suggestions, numbers, strings,
//! `os.environ/VAR` references and secrets.

use super::yaml::{Node, Value};
use super::{Ctx, Secret};

/// The entries of one mapping, by key name.
pub(crate) struct Fields<'a> {
    entries: Vec<(&'a str, &'a Node, &'a Node)>,
}

impl<'a> Fields<'a> {
    /// The key and value nodes of `name`, when present and not null.
    pub(crate) fn get(&self, name: &str) -> Option<(&'a Node, &'a Node)> {
        self.entries.iter().find(|(n, _, v)| *n == name && !v.is_null()).map(|(_, k, v)| (*k, *v))
    }
    pub(crate) fn value(&self, name: &str) -> Option<&'a Node> {
        self.get(name).map(|(_, v)| v)
    }
}

/// What a mapping may contain.
pub(crate) struct Keys<'s> {
    /// Human name of the mapping for messages ("router_settings", "litellm_params").
    pub section: &'s str,
    /// Keys this gateway reads.
    pub known: &'s [&'s str],
    /// Other real LiteLLM keys, read by the caller where they matter, and listed once as
    /// "accepted, not used by llm-router".
    pub accepted: &'s [&'s str],
    /// Real LiteLLM keys not read at all: listed once as "accepted, not used by llm-router".
    pub ignored: &'s [&'s str],
    /// Advice for common mistakes: (key, message).
    pub hints: &'s [(&'s str, &'s str)],
}

/// Reads a mapping (null counts as empty); reports unknown keys. `None` when `node` is
/// not a mapping (an error is reported).
pub(crate) fn read_map<'a>(ctx: &mut Ctx, node: &'a Node, keys: &Keys<'_>) -> Option<Fields<'a>> {
    let entries = match &node.value {
        Value::Null => &[][..],
        Value::Map(m) => &m[..],
        _ => {
            ctx.error(node.pos, format!("{} must be a mapping of keys to values, found {}", keys.section, node.kind()));
            return None;
        }
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let name = k.as_str().unwrap_or("");
        if keys.known.contains(&name) {
            out.push((name, k, v));
        } else if keys.accepted.contains(&name) {
            out.push((name, k, v));
            ctx.unused(keys.section, name, k.pos);
        } else if keys.ignored.contains(&name) {
            ctx.unused(keys.section, name, k.pos);
        } else if let Some((_, hint)) = keys.hints.iter().find(|(h, _)| *h == name) {
            ctx.warn(k.pos, format!("unknown key '{name}' in {}; {hint}", keys.section));
        } else if is_accepted_pattern(keys.section, name) {
            // e.g. model_info.supports_*: descriptive, accepted.
        } else {
            let mut all: Vec<&str> = keys.known.to_vec();
            all.extend_from_slice(keys.ignored);
            ctx.warn(k.pos, unknown_key_message(name, keys.section, &all, keys.accepted));
        }
    }
    Some(Fields { entries: out })
}

/// Like [`read_map`], but any key is accepted without a word (LiteLLM's `model_info`).
pub(crate) fn read_map_any<'a>(ctx: &mut Ctx, node: &'a Node, keys: &Keys<'_>) -> Option<Fields<'a>> {
    let entries = match &node.value {
        Value::Null => &[][..],
        Value::Map(m) => &m[..],
        _ => {
            ctx.error(node.pos, format!("{} must be a mapping of keys to values, found {}", keys.section, node.kind()));
            return None;
        }
    };
    Some(Fields { entries: entries.iter().map(|(k, v)| (k.as_str().unwrap_or(""), k, v)).collect() })
}

fn is_accepted_pattern(section: &str, name: &str) -> bool {
    section.ends_with("model_info") && name.starts_with("supports_")
}

/// "unknown key 'x' in SECTION; did you mean 'y'?" (the suggestion only when one is close).
pub(crate) fn unknown_key_message(name: &str, section: &str, known: &[&str], accepted: &[&str]) -> String {
    let best = known
        .iter()
        .chain(accepted)
        .map(|k| (strsim::jaro_winkler(name, k), strsim::normalized_damerau_levenshtein(name, k), *k))
        .filter(|(jw, dl, _)| *jw >= 0.88 || *dl >= 0.7)
        .max_by(|a, b| (a.0 + a.1).total_cmp(&(b.0 + b.1)));
    match best {
        Some((_, _, k)) => format!("unknown key '{name}' in {section}; did you mean '{k}'?"),
        None => format!("unknown key '{name}' in {section} (ignored); check its spelling"),
    }
}

/// A single value as text; `None` (with an error) for lists and mappings.
pub(crate) fn string(ctx: &mut Ctx, path: &str, node: &Node) -> Option<String> {
    match &node.value {
        Value::Scalar(s, _) => Some(s.clone()),
        Value::Null => None,
        _ => {
            ctx.error(node.pos, format!("{path} must be a single value, found {}", node.kind()));
            None
        }
    }
}

const ENV_PREFIX: &str = "os.environ/";

fn env_var_name<'t>(ctx: &mut Ctx, path: &str, node: &Node, text: &'t str) -> Option<Option<&'t str>> {
    let Some(var) = text.strip_prefix(ENV_PREFIX) else {
        return Some(None);
    };
    let valid = var.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        ctx.error(
            node.pos,
            format!(
                "{path}: '{ENV_PREFIX}' must be followed by an environment variable name such as {ENV_PREFIX}MY_VAR"
            ),
        );
        return None;
    }
    Some(Some(var))
}

/// A non-secret text value that may be `os.environ/VAR`, resolved now (an unset variable is
/// an error: the value is needed to build the config).
pub(crate) fn env_string(ctx: &mut Ctx, path: &str, node: &Node) -> Option<String> {
    let text = string(ctx, path, node)?;
    match env_var_name(ctx, path, node, &text)? {
        None => Some(text),
        Some(var) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Some(v),
            _ => {
                ctx.error(
                    node.pos,
                    format!("{path} refers to environment variable {var}, which is not set; set it or write the value"),
                );
                None
            }
        },
    }
}

/// A text value that may be `os.environ/VAR`: `Ok(value)`, or `Err(VAR)` when the variable is
/// not set (the caller decides whether that is an error). None when malformed (reported).
pub(crate) fn env_string_or_unset(ctx: &mut Ctx, path: &str, node: &Node) -> Option<Result<String, String>> {
    let text = string(ctx, path, node)?;
    match env_var_name(ctx, path, node, &text)? {
        None => Some(Ok(text)),
        Some(var) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Some(Ok(v)),
            _ => Some(Err(var.to_string())),
        },
    }
}

/// A secret: `os.environ/VAR` or a literal. Never echoes the value.
pub(crate) fn secret(ctx: &mut Ctx, path: &str, node: &Node) -> Option<Secret> {
    let text = match &node.value {
        Value::Scalar(s, _) => s,
        Value::Null => return None,
        _ => {
            ctx.error(
                node.pos,
                format!("{path} must be a single value (a literal or os.environ/VAR), found {}", node.kind()),
            );
            return None;
        }
    };
    match env_var_name(ctx, path, node, text)? {
        None if text.is_empty() => {
            ctx.warn(node.pos, format!("{path} is empty and ignored; remove it or give a value"));
            None
        }
        None => Some(Secret::Literal(text.clone())),
        Some(var) => {
            if std::env::var_os(var).is_none() && ctx.env_warned.insert(var.to_string()) {
                ctx.warn(node.pos, format!("{path} refers to environment variable {var}, which is not set in this environment; set it where the gateway runs"));
            }
            Some(Secret::Env(var.to_string()))
        }
    }
}

fn number_text<'n>(ctx: &mut Ctx, path: &str, node: &'n Node, want: &str) -> Option<&'n str> {
    match &node.value {
        Value::Scalar(s, _) => Some(s.trim()),
        Value::Null => None,
        _ => {
            ctx.error(node.pos, format!("{path} must be {want}, found {}", node.kind()));
            None
        }
    }
}

/// A finite number >= `min` (or > `min` when `exclusive`).
pub(crate) fn number(ctx: &mut Ctx, path: &str, node: &Node, min: f64, exclusive: bool) -> Option<f64> {
    number_in(ctx, path, node, min, exclusive, f64::MAX)
}

/// Longest time a duration setting may take (a week). More is a typo, not a timeout, and it
/// keeps Envoy's durations and the filter's millisecond arithmetic far from any overflow.
pub(crate) const MAX_SECONDS: f64 = 604_800.0;

/// A duration in seconds: above 0 (or at least 0 when `exclusive` is false), at most
/// [`MAX_SECONDS`].
pub(crate) fn seconds(ctx: &mut Ctx, path: &str, node: &Node, exclusive: bool) -> Option<f64> {
    number_in(ctx, path, node, 0.0, exclusive, MAX_SECONDS)
}

fn number_in(ctx: &mut Ctx, path: &str, node: &Node, min: f64, exclusive: bool, max: f64) -> Option<f64> {
    let lower = if exclusive { format!("greater than {min}") } else { format!(">= {min}") };
    let want = if max < f64::MAX { format!("a number {lower} and at most {max}") } else { format!("a number {lower}") };
    let text = number_text(ctx, path, node, &want)?;
    match text.replace('_', "").parse::<f64>() {
        Ok(v) if v.is_finite() && (v > min || (!exclusive && v == min)) && v <= max => Some(v),
        _ => {
            ctx.error(node.pos, format!("{path} must be {want}, got '{text}'"));
            None
        }
    }
}

/// A whole number in `min..=max`.
pub(crate) fn whole(ctx: &mut Ctx, path: &str, node: &Node, min: u32, max: u32) -> Option<u32> {
    whole_u64(ctx, path, node, u64::from(min), u64::from(max)).map(|v| v as u32)
}

pub(crate) fn whole_u64(ctx: &mut Ctx, path: &str, node: &Node, min: u64, max: u64) -> Option<u64> {
    let want =
        if max < u64::MAX { format!("a whole number from {min} to {max}") } else { format!("a whole number >= {min}") };
    let text = number_text(ctx, path, node, &want)?;
    let parsed = text.replace('_', "").parse::<i128>().ok().or_else(|| {
        // 5.0 is accepted as 5; 5.5 is not.
        text.parse::<f64>().ok().filter(|f| f.is_finite() && f.fract() == 0.0).map(|f| f as i128)
    });
    match parsed {
        Some(v) if v >= i128::from(min) && v <= i128::from(max) => Some(v as u64),
        _ => {
            ctx.error(node.pos, format!("{path} must be {want}, got '{text}'"));
            None
        }
    }
}

/// A list of single values (a lone value counts as a one-item list).
pub(crate) fn string_list<'n>(ctx: &mut Ctx, path: &str, node: &'n Node) -> Option<Vec<(String, &'n Node)>> {
    match &node.value {
        Value::Seq(items) => {
            let mut out = Vec::new();
            for item in items {
                if let Some(s) = string(ctx, path, item) {
                    out.push((s, item));
                }
            }
            Some(out)
        }
        Value::Scalar(s, _) => Some(vec![(s.clone(), node)]),
        Value::Null => None,
        Value::Map(_) => {
            ctx.error(node.pos, format!("{path} must be a list like [a, b], found a mapping"));
            None
        }
    }
}

/// `general_settings`: only `master_key` matters here; the rest is reported once as ignored.
pub(crate) fn general_settings(ctx: &mut Ctx, key: &Node, node: &Node) -> Option<Secret> {
    let Some(entries) = node.as_map() else {
        if !node.is_null() {
            ctx.warn(key.pos, format!("general_settings is {}, not a mapping of keys to values; ignored", node.kind()));
        }
        return None;
    };
    let mut master = None;
    for (k, v) in entries {
        if k.as_str() == Some("master_key") {
            master = secret(ctx, "general_settings.master_key", v);
            warn_short_master_key(ctx, v, master.as_ref());
        } else {
            ctx.unused("general_settings", k.as_str().unwrap_or(""), k.pos);
        }
    }
    master
}

/// Shortest master key taken without a warning (characters).
const MIN_MASTER_KEY_CHARS: usize = 16;

/// Envoy's config holds a salted digest of the master key: whoever reads it (an admin page, a
/// config dump) can still try guesses offline, so only a long random key is safe.
fn warn_short_master_key(ctx: &mut Ctx, node: &Node, key: Option<&Secret>) {
    let Some(len) = key.and_then(Secret::resolve).map(|k| k.chars().count()) else { return };
    if len < MIN_MASTER_KEY_CHARS {
        let source = match key {
            Some(Secret::Env(var)) => format!(" (os.environ/{var})"),
            _ => String::new(),
        };
        ctx.warn(
            node.pos,
            format!(
                "general_settings.master_key{source} is shorter than {MIN_MASTER_KEY_CHARS} characters; a salted \
                 digest of it reaches Envoy's config, where a short key can be guessed offline: use a long random \
                 key (e.g. `sk-` and the output of `openssl rand -hex 24`)"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_master_key_is_a_warning_that_does_not_show_it() {
        let yaml = |key: &str| {
            format!(
                "model_list:\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o\n\
                 general_settings:\n  master_key: {key}\n"
            )
        };
        let loaded = crate::config::load_str(&yaml("sk-short"), "c.yaml").expect("loads");
        let w: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        assert!(w.iter().any(|w| w.starts_with("c.yaml:6:") && w.contains("shorter than 16")), "{w:?}");
        assert!(w.iter().all(|w| !w.contains("sk-short")), "{w:?}");
        let loaded = crate::config::load_str(&yaml("sk-0123456789abcdef0123"), "c.yaml").expect("loads");
        assert!(loaded.warnings.iter().all(|w| !w.message.contains("shorter")), "{:?}", loaded.warnings);
    }

    #[test]
    fn suggestions() {
        let known = ["cooldown_time", "num_retries", "allowed_fails"];
        let m = unknown_key_message("cooldown_tme", "router_settings", &known, &[]);
        assert_eq!(m, "unknown key 'cooldown_tme' in router_settings; did you mean 'cooldown_time'?");
        let m = unknown_key_message("zzz", "router_settings", &known, &[]);
        assert!(!m.contains("did you mean"), "{m}");
    }
}
