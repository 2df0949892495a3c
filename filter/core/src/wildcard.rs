//! LiteLLM's wildcard model groups (`model_name: "*"`, `anthropic/*`): which pattern a client's
//! model matches, and the provider model it then names (LiteLLM's `PatternMatchRouter`: each
//! `*` is `(.*)`, the whole name must match, the most specific pattern wins, and the
//! deployment model's `*`s take the matched segments in order).
//!
//! Written by hand (no regex engine in the wasm filter): a pattern is literal text and `*`s,
//! matched with a memo so that a long client model can never make matching slow.

use std::collections::HashSet;

/// Longest client model name matched against patterns; longer names match none.
pub const MAX_NAME_BYTES: usize = 512;

/// Whether `pattern` holds a wildcard.
pub fn is_pattern(name: &str) -> bool {
    name.contains('*')
}

/// The segments `pattern`'s `*`s match in `name` (each as long as possible, left to right, as
/// a regex's greedy `(.*)`), or None when the whole name does not match.
pub fn captures<'n>(pattern: &str, name: &'n str) -> Option<Vec<&'n str>> {
    if name.len() > MAX_NAME_BYTES {
        return None;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let first = parts[0];
    let rest = name.strip_prefix(first)?;
    let start = name.len() - rest.len();
    if parts.len() == 1 {
        return rest.is_empty().then(Vec::new);
    }
    let mut failed = HashSet::new();
    let mut caps = Vec::new();
    fill(&parts[1..], name, start, &mut caps, &mut failed).then_some(caps)
}

/// Matches `parts` (each the literal after one `*`) against `name[at..]`, pushing each `*`'s
/// segment. `failed` remembers (part, position) pairs that cannot match.
fn fill<'n>(
    parts: &[&str],
    name: &'n str,
    at: usize,
    caps: &mut Vec<&'n str>,
    failed: &mut HashSet<(usize, usize)>,
) -> bool {
    let Some((literal, more)) = parts.split_first() else { return at == name.len() };
    if failed.contains(&(parts.len(), at)) {
        return false;
    }
    // Greedy: the longest segment first.
    for end in (at..=name.len()).rev() {
        if !name.is_char_boundary(end) || !name[end..].starts_with(literal) {
            continue;
        }
        let next = end + literal.len();
        if more.is_empty() && next != name.len() {
            continue;
        }
        caps.push(&name[at..end]);
        if fill(more, name, next, caps, failed) {
            return true;
        }
        caps.pop();
    }
    failed.insert((parts.len(), at));
    false
}

/// Whether `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    captures(pattern, name).is_some()
}

/// The deployment's model for a request that matched: `template`'s `*`s replaced by the
/// matched segments in order (a template without `*` is used as it is; segments beyond its
/// `*`s are dropped).
pub fn substitute(template: &str, segments: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + segments.iter().map(|s| s.len()).sum::<usize>());
    let mut segments = segments.iter();
    let mut parts = template.split('*').peekable();
    while let Some(part) = parts.next() {
        out.push_str(part);
        if parts.peek().is_some() {
            out.push_str(segments.next().copied().unwrap_or(""));
        }
    }
    out
}

/// The provider model one request names at a wildcard deployment (LiteLLM's
/// `PatternMatchRouter.set_deployment_model_name`): the deployment's model `template` with its
/// `*`s taken by what the group's `pattern` matched in `client_model`. A template without `*`
/// is used as it is. When the client's model does not match the pattern (the group was reached
/// as another group's fallback) or matched more segments than the template has `*`s, LiteLLM
/// sends the client's model itself, and so does this.
pub fn provider_model(pattern: &str, template: &str, client_model: &str) -> String {
    if !is_pattern(template) {
        return template.to_owned();
    }
    match captures(pattern, client_model) {
        Some(caps) if caps.len() <= template.matches('*').count() => substitute(template, &caps),
        _ => client_model.to_owned(),
    }
}

/// How specific a pattern is, for picking among several that match: more literal text first,
/// then fewer wildcards (LiteLLM's `PatternUtils.calculate_pattern_specificity`).
pub fn specificity(pattern: &str) -> (usize, std::cmp::Reverse<usize>) {
    let stars = pattern.matches('*').count();
    (pattern.len() - stars, std::cmp::Reverse(stars))
}

/// The most specific of `patterns` that `name` matches (the first listed among equals).
pub fn best_match<'p>(patterns: impl IntoIterator<Item = &'p str>, name: &str) -> Option<&'p str> {
    let mut best: Option<&'p str> = None;
    for p in patterns {
        if is_pattern(p) && matches(p, name) && best.is_none_or(|b| specificity(p) > specificity(b)) {
            best = Some(p);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_matches_anything_and_a_prefix_pattern_its_prefix() {
        assert_eq!(captures("*", "gpt-4o"), Some(vec!["gpt-4o"]));
        assert_eq!(captures("anthropic/*", "anthropic/claude-3-5-sonnet"), Some(vec!["claude-3-5-sonnet"]));
        assert_eq!(captures("anthropic/*", "openai/gpt-4o"), None);
        assert_eq!(captures("groq/*", "groq/"), Some(vec![""]));
        assert_eq!(captures("exact", "exact"), Some(vec![]));
        assert_eq!(captures("exact", "exactly"), None);
    }

    #[test]
    fn several_stars_capture_greedily_and_the_template_takes_them_in_order() {
        let caps = captures("fo::*::static::*", "fo::hi::static::hi").expect("match");
        assert_eq!(caps, vec!["hi", "hi"]);
        assert_eq!(substitute("openai/fo::*:static::*", &caps), "openai/fo::hi:static::hi");
        assert_eq!(captures("a*b*c", "a1b2b3c"), Some(vec!["1b2", "3"]));
        assert_eq!(substitute("openai/*", &["gpt-4o"]), "openai/gpt-4o");
        assert_eq!(substitute("openai/gpt-4o", &["x"]), "openai/gpt-4o");
    }

    #[test]
    fn a_request_names_the_template_with_the_client_models_segments() {
        assert_eq!(provider_model("anthropic/*", "*", "anthropic/claude-3-5-sonnet"), "claude-3-5-sonnet");
        assert_eq!(provider_model("*", "*", "gpt-4o"), "gpt-4o");
        assert_eq!(provider_model("openai/gpt-*", "gpt-*-2024", "openai/gpt-4o"), "gpt-4o-2024");
        assert_eq!(provider_model("*", "gpt-4o-mini", "anything"), "gpt-4o-mini", "no star: as written");
        assert_eq!(provider_model("anthropic/*", "*", "gpt-4o"), "gpt-4o", "no match: the client's model");
        assert_eq!(provider_model("*meta*", "meta*", "my-meta-llama"), "my-meta-llama", "more segments than stars");
    }

    #[test]
    fn the_most_specific_pattern_wins() {
        let pats = ["*", "anthropic/*", "anthropic/claude-*"];
        assert_eq!(best_match(pats, "anthropic/claude-3"), Some("anthropic/claude-*"));
        assert_eq!(best_match(pats, "anthropic/other"), Some("anthropic/*"));
        assert_eq!(best_match(pats, "gpt-4o"), Some("*"));
        assert_eq!(best_match(["a/*"], "b"), None);
        assert_eq!(best_match(["plain"], "plain"), None, "only patterns");
    }

    #[test]
    fn hostile_names_are_quick_and_never_panic() {
        let name = "a".repeat(MAX_NAME_BYTES);
        let t0 = std::time::Instant::now();
        assert!(!matches("*a*a*a*a*b", &name));
        assert!(t0.elapsed() < std::time::Duration::from_secs(2), "{:?}", t0.elapsed());
        assert!(!matches("*", &"a".repeat(MAX_NAME_BYTES + 1)));
        assert_eq!(captures("é*", "éü"), Some(vec!["ü"]));
        assert_eq!(captures("*ü", "éü"), Some(vec!["é"]));
    }
}
