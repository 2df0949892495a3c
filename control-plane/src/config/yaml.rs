//! A small YAML tree that keeps the position of every key and value.
//!
//! Built from yaml-rust2's event parser (which reports a marker per event) rather than its
//! `Yaml` loader, so that we keep positions, see duplicate keys (the loader silently keeps
//! one), resolve aliases and `<<` merge keys ourselves, and bound alias expansion.

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn from_marker(m: &Marker) -> Pos {
        Pos { line: m.line().max(1), col: m.col() + 1 }
    }
}

/// A node's value. Deliberately not `Debug`: scalars may be secrets.
#[derive(Clone)]
pub enum Value {
    Null,
    /// Text and whether it was quoted (quoted text is never null).
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
    /// The text of a scalar (plain or quoted).
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, _) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }
    /// "a mapping", "a list", ... for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "empty",
            Value::Scalar(..) => "a single value",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A problem found while reading the YAML text itself.
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Largest config file read at all. LiteLLM configs are kilobytes; this leaves room for
/// tens of thousands of deployments and keeps a runaway file out of memory.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// Estimated memory of one node beyond its text (the node, its slot in its parent, allocator
/// rounding). Rounded up: the estimate bounds memory.
const NODE_BYTES: usize = 96;

/// Alias copies may add this much, plus [`ALIAS_FACTOR`] times the file's size. Legitimate
/// anchors (shared `litellm_params`) copy a few hundred bytes per use.
const ALIAS_ALLOWANCE: usize = 1 << 20;
const ALIAS_FACTOR: usize = 4;

/// Ceiling on the estimated size of everything read: the file's own values, alias copies and
/// the anchors kept for copying. Whatever the file, reading it holds about this much at most.
pub const MAX_TREE_BYTES: usize = 64 << 20;

/// Deepest nesting of lists and mappings (a LiteLLM config nests about 6 deep).
const MAX_DEPTH: usize = 100;

/// What alias expansion may add for a file of `file_bytes`.
fn alias_cap(file_bytes: usize) -> usize {
    file_bytes.saturating_mul(ALIAS_FACTOR).saturating_add(ALIAS_ALLOWANCE)
}

/// "1.5 MiB", "640 KiB", "12 bytes".
fn human(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else if bytes >= 1 << 10 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

enum Frame {
    /// `start`: the tree's estimated size when the list began (its size is the growth since).
    Seq { pos: Pos, anchor: usize, start: usize, items: Vec<Node> },
    /// `seen`: keys so far and where, so a duplicate is found in constant time.
    Map {
        pos: Pos,
        anchor: usize,
        start: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        seen: HashMap<String, Pos>,
    },
}

/// Estimated memory of what is being read, against its caps.
struct Budget {
    /// Estimated bytes of the tree: values written out and alias copies.
    tree: usize,
    /// Of `tree`, the bytes copied by aliases.
    aliased: usize,
    /// Estimated bytes of the anchors kept for copying.
    anchors: usize,
    alias_cap: usize,
}

struct Builder {
    stack: Vec<Frame>,
    /// Each anchored node with its estimated size.
    anchors: HashMap<usize, (Node, usize)>,
    docs: Vec<(Pos, Option<Node>)>,
    errors: Vec<YamlError>,
    budget: Budget,
    /// A cap was crossed: reading stops.
    aborted: bool,
}

impl Builder {
    fn new(file_bytes: usize) -> Builder {
        Builder {
            stack: Vec::new(),
            anchors: HashMap::new(),
            docs: Vec::new(),
            errors: Vec::new(),
            budget: Budget { tree: 0, aliased: 0, anchors: 0, alias_cap: alias_cap(file_bytes) },
            aborted: false,
        }
    }

    fn error(&mut self, pos: Pos, message: String) {
        self.errors.push(YamlError { pos, message });
    }

    /// Stops reading with an error at `pos`.
    fn abort(&mut self, pos: Pos, message: String) {
        self.error(pos, message);
        self.aborted = true;
    }

    /// Counts `bytes` more of tree (`aliased`: copied by an alias at `pos`); false, having
    /// aborted, when that crosses a cap. Called before the bytes are allocated where possible.
    fn charge(&mut self, pos: Pos, bytes: usize, aliased: bool) -> bool {
        let b = &mut self.budget;
        if aliased {
            b.aliased = b.aliased.saturating_add(bytes);
            if b.aliased > b.alias_cap {
                let msg = format!(
                    "aliases expand the config past {} (4 times the file's size plus 1 MiB); \
                     alias fewer or smaller values, or write the repeated values out",
                    human(b.alias_cap)
                );
                self.abort(pos, msg);
                return false;
            }
        }
        b.tree = b.tree.saturating_add(bytes);
        self.within_ceiling(pos)
    }

    fn within_ceiling(&mut self, pos: Pos) -> bool {
        let total = self.budget.tree.saturating_add(self.budget.anchors);
        if total <= MAX_TREE_BYTES {
            return true;
        }
        let msg = format!(
            "the config holds more than {} once read (its values, alias copies and anchors, \
             {NODE_BYTES} bytes per value besides its text); a LiteLLM config is normally well \
             under 1 MiB: remove repeated or generated content",
            human(MAX_TREE_BYTES)
        );
        self.abort(pos, msg);
        false
    }

    /// Places a finished node (of estimated size `bytes`) in its parent.
    fn finish(&mut self, node: Node, anchor: usize, bytes: usize) {
        let top_level = self.stack.len() == 1;
        if anchor > 0 {
            self.budget.anchors = self.budget.anchors.saturating_add(bytes);
            if !self.within_ceiling(node.pos) {
                return;
            }
            self.anchors.insert(anchor, (node.clone(), bytes));
        }
        match self.stack.last_mut() {
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { key, .. }) if key.is_none() => {
                if node.as_str().is_none() && !node.is_null() {
                    let pos = node.pos;
                    self.error(pos, "a key must be a plain name, not a list or mapping".into());
                }
                if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                    *key = Some(node);
                }
            }
            Some(Frame::Map { entries, key, seen, .. }) => {
                let Some(k) = key.take() else { return };
                let name = k.as_str().unwrap_or("");
                if name == "<<" {
                    entries.push((k, node));
                    return;
                }
                match seen.get(name) {
                    Some(&first) => {
                        // LiteLLM's PyYAML keeps the last one silently: say which would be lost.
                        let hint = if top_level && name == "model_list" {
                            "; one file holds one config: merge the deployments into one model_list, or split several gateways' configs into separate files".to_string()
                        } else if top_level {
                            format!("; LiteLLM would silently use only the second (line {}): merge the two {name} sections into one", k.pos.line)
                        } else {
                            format!("; LiteLLM would silently use only the second (line {}): keep one", k.pos.line)
                        };
                        let msg = format!("duplicate key '{name}' (lines {} and {}){hint}", first.line, k.pos.line);
                        self.error(k.pos, msg);
                    }
                    None => {
                        seen.insert(name.to_string(), k.pos);
                        entries.push((k, node));
                    }
                }
            }
            None => {
                if let Some(last) = self.docs.last_mut() {
                    last.1 = Some(node);
                }
            }
        }
    }

    /// Applies `<<` merge keys: explicit keys win, then merged maps in order.
    fn merge(&mut self, entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
        if !entries.iter().any(|(k, _)| is_merge_key(k)) {
            return entries;
        }
        let mut out: Vec<(Node, Node)> = Vec::new();
        let mut merged: Vec<Node> = Vec::new();
        for (k, v) in entries {
            if is_merge_key(&k) {
                match v.value {
                    Value::Map(_) => merged.push(v),
                    Value::Seq(items) => merged.extend(items),
                    _ => self.error(v.pos, "'<<' must merge a mapping or a list of mappings".into()),
                }
            } else {
                out.push((k, v));
            }
        }
        let mut present: HashSet<String> = out.iter().filter_map(|(k, _)| k.as_str().map(str::to_string)).collect();
        for m in merged {
            match m.value {
                Value::Map(items) => {
                    for (k, v) in items {
                        let name = k.as_str().map(str::to_string);
                        if name.is_none_or(|n| present.insert(n)) {
                            out.push((k, v));
                        }
                    }
                }
                _ => self.error(m.pos, "'<<' must merge a mapping or a list of mappings".into()),
            }
        }
        out
    }

    /// Opens a list or mapping: counts it, and refuses nesting past [`MAX_DEPTH`].
    fn open(&mut self, pos: Pos) -> Option<usize> {
        if self.stack.len() >= MAX_DEPTH {
            self.abort(pos, format!("lists and mappings nest more than {MAX_DEPTH} deep here; flatten the config"));
            return None;
        }
        let start = self.budget.tree;
        self.charge(pos, NODE_BYTES, false).then_some(start)
    }
}

fn is_merge_key(k: &Node) -> bool {
    matches!(&k.value, Value::Scalar(s, false) if s == "<<")
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.aborted {
            return;
        }
        let pos = Pos::from_marker(&mark);
        match ev {
            Event::DocumentStart => self.docs.push((pos, None)),
            Event::Scalar(text, style, anchor, _tag) => {
                let bytes = NODE_BYTES.saturating_add(text.len());
                if !self.charge(pos, bytes, false) {
                    return;
                }
                let quoted = style != TScalarStyle::Plain;
                let value = if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    Value::Null
                } else {
                    Value::Scalar(text, quoted)
                };
                self.finish(Node { pos, value }, anchor, bytes);
            }
            Event::SequenceStart(anchor, _) => {
                if let Some(start) = self.open(pos) {
                    self.stack.push(Frame::Seq { pos, anchor, start, items: Vec::new() });
                }
            }
            Event::MappingStart(anchor, _) => {
                if let Some(start) = self.open(pos) {
                    let (entries, seen) = (Vec::new(), HashMap::new());
                    self.stack.push(Frame::Map { pos, anchor, start, entries, key: None, seen });
                }
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { pos, anchor, start, items }) = self.stack.pop() {
                    let bytes = self.budget.tree - start;
                    self.finish(Node { pos, value: Value::Seq(items) }, anchor, bytes);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map { pos, anchor, start, entries, .. }) = self.stack.pop() {
                    // A block mapping's start event is marked after its first key: use the key.
                    let pos = entries.first().map_or(pos, |(k, _)| k.pos.min(pos));
                    let entries = self.merge(entries);
                    let bytes = self.budget.tree - start;
                    self.finish(Node { pos, value: Value::Map(entries) }, anchor, bytes);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, bytes)| *bytes) {
                // Counted before the copy is made: a refused alias allocates nothing.
                Some(bytes) => {
                    if !self.charge(pos, bytes, true) {
                        return;
                    }
                    let Some((mut node, _)) = self.anchors.get(&id).cloned() else { return };
                    node.pos = pos;
                    self.finish(node, 0, bytes);
                }
                None => self.error(pos, "alias refers to an anchor that is not complete here".into()),
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
}

/// Parses one YAML document. A syntax error stops parsing (`Err`); other problems
/// (duplicate keys, bad merges) are returned beside the tree so checking can go on.
/// The tree is `None` for an empty file. Reading is bounded: a text over [`MAX_FILE_BYTES`],
/// aliases that expand past 4 times the text's size plus 1 MiB, or a tree estimated over
/// [`MAX_TREE_BYTES`] is an error (at the alias or value that crossed the cap).
pub fn parse(text: &str) -> Result<(Option<Node>, Vec<YamlError>), YamlError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlError { pos: Pos { line: 1, col: 1 }, message: too_large_message(text.len()) });
    }
    let mut builder = Builder::new(text.len());
    let mut parser = Parser::new_from_str(text);
    // Driven event by event (not `Parser::load`, which recurses once per nesting level) so
    // that reading stops as soon as a cap is crossed.
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((ev, mark)) => {
                builder.on_event(ev, mark);
                if builder.aborted {
                    break;
                }
            }
            Err(e) => return Err(syntax_error(text, &e)),
        }
    }
    if builder.aborted {
        // A cap stops reading like a syntax error does: the tree is incomplete.
        if let Some(e) = builder.errors.pop() {
            return Err(e);
        }
    }
    if builder.docs.len() > 1 {
        let pos = builder.docs[1].0;
        builder.error(pos, "more than one YAML document ('---'); put one config per file".into());
    }
    let root = builder.docs.into_iter().next().and_then(|(_, n)| n);
    Ok((root, builder.errors))
}

/// The error for a config file of `bytes` over [`MAX_FILE_BYTES`].
pub fn too_large_message(bytes: usize) -> String {
    format!(
        "the config file is {}, more than the {} a config may be; a LiteLLM config is normally \
         well under 1 MiB: check that this is the right file",
        human(bytes),
        human(MAX_FILE_BYTES)
    )
}

fn syntax_error(text: &str, e: &yaml_rust2::ScanError) -> YamlError {
    let mut pos = Pos::from_marker(e.marker());
    let message = if e.info().contains("tab") {
        // The scanner marks the start of the token, not the tab: point at the tab.
        if let Some(p) = tab_after(text, e.marker().index()) {
            pos = p;
        }
        format!("YAML syntax error: {}; indent with spaces, not tabs", e.info())
    } else {
        format!("YAML syntax error: {}; check indentation, quoting and ':' placement", e.info())
    };
    YamlError { pos, message }
}

/// Position of the first tab at or after char index `from`.
fn tab_after(text: &str, from: usize) -> Option<Pos> {
    let (mut line, mut col) = (1, 1);
    for (i, c) in text.chars().enumerate() {
        if c == '\t' && i >= from {
            return Some(Pos { line, col });
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let n = parse("a:\n  b: 1\n").ok().and_then(|r| r.0).expect("doc");
        let (k, v) = &n.as_map().expect("map")[0];
        assert_eq!(k.pos, Pos { line: 1, col: 1 });
        let (k2, v2) = &v.as_map().expect("map")[0];
        assert_eq!(k2.pos, Pos { line: 2, col: 3 });
        assert_eq!(v2.pos, Pos { line: 2, col: 6 });
    }

    #[test]
    fn aliases_and_merges() {
        let n = parse("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n").ok().and_then(|r| r.0).expect("doc");
        let c = &n.as_map().expect("map")[1].1;
        let m = c.as_map().expect("map");
        let keys: Vec<_> = m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(keys, vec![(Some("y"), Some("3")), (Some("x"), Some("1"))]);
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let errs = parse("a: 1\nb: 2\na: 3\n").ok().map(|r| r.1).expect("parsed");
        assert_eq!(errs[0].pos, Pos { line: 3, col: 1 });
        assert!(errs[0].message.contains("lines 1 and 3"), "{}", errs[0].message);
    }

    fn refusal(text: &str) -> YamlError {
        match parse(text) {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        }
    }

    /// `big: &s "<n bytes>"` then a list of `aliases` copies of it.
    fn aliased_string(n: usize, aliases: usize) -> String {
        let mut y = format!("big: &s \"{}\"\nlist:\n", "x".repeat(n));
        for _ in 0..aliases {
            y += "  - *s\n";
        }
        y
    }

    #[test]
    fn a_megabyte_string_aliased_1500_times_is_refused_at_the_alias_that_crossed_the_cap() {
        let text = aliased_string(1 << 20, 1500);
        let t0 = std::time::Instant::now();
        let e = refusal(&text);
        assert!(t0.elapsed() < std::time::Duration::from_secs(3), "took {:?}", t0.elapsed());
        // The cap is 4 times the file (just over 1 MiB) plus 1 MiB: five copies fit, the sixth
        // (line 3 holds the first) crosses it.
        assert_eq!(e.pos, Pos { line: 8, col: 5 });
        assert!(
            e.message.contains("aliases expand the config past 5.0 MiB (4 times the file's size plus 1 MiB)"),
            "{}",
            e.message
        );
        assert!(e.message.contains("write the repeated values out"), "{}", e.message);
    }

    #[test]
    fn a_few_aliases_of_shared_params_are_fine() {
        let text = aliased_string(300, 1000);
        let (root, errors) = parse(&text).ok().expect("parsed");
        assert!(errors.is_empty());
        let list = root.expect("doc").as_map().expect("map")[1].1.as_seq().expect("list").len();
        assert_eq!(list, 1000);
    }

    #[test]
    fn billion_laughs_is_refused_quickly() {
        let mut y = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            y += &format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n");
        }
        let t0 = std::time::Instant::now();
        let e = refusal(&y);
        assert!(t0.elapsed() < std::time::Duration::from_secs(3), "took {:?}", t0.elapsed());
        assert!(e.message.contains("aliases expand the config past 1.0 MiB"), "{}", e.message);
        assert!(e.pos.line > 1 && e.pos.line <= 10, "{:?}", e.pos);
    }

    #[test]
    fn a_file_over_the_size_cap_is_refused_before_parsing() {
        let e = refusal(&"#".repeat(MAX_FILE_BYTES + 1));
        assert_eq!(e.pos, Pos { line: 1, col: 1 });
        assert!(e.message.contains("is 16.0 MiB, more than the 16.0 MiB a config may be"), "{}", e.message);
    }

    #[test]
    fn many_tiny_values_are_bounded_by_the_tree_ceiling() {
        // 1.2 million one-character values: 2.4 MB of text, about 80 MB once read.
        let text = format!("a: [{}1]\n", "1,".repeat(1_200_000));
        let e = refusal(&text);
        assert_eq!(e.pos.line, 1);
        assert!(e.message.contains("holds more than 64.0 MiB once read"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let text = "- ".repeat(100_000) + "x\n";
        let e = refusal(&text);
        assert!(e.message.contains("nest more than 100 deep"), "{}", e.message);
    }

    fn wide_mapping(keys: usize) -> String {
        (0..keys).map(|i| format!("key{i}: {i}\n")).collect()
    }

    /// Best of three, to be less at the mercy of a busy machine.
    fn parse_time(text: &str) -> std::time::Duration {
        (0..3)
            .map(|_| {
                let t0 = std::time::Instant::now();
                let (root, errors) = parse(text).ok().expect("parsed");
                assert!(errors.is_empty() && root.is_some());
                t0.elapsed()
            })
            .min()
            .unwrap_or_default()
    }

    #[test]
    fn a_mapping_with_50000_keys_loads_in_linear_time() {
        let small = parse_time(&wide_mapping(50_000));
        let large = parse_time(&wide_mapping(200_000));
        // Generous for a debug build on a busy machine; the pairwise check took minutes.
        assert!(small < std::time::Duration::from_secs(10), "50,000 keys took {small:?}");
        // Linear: 4 times the keys take about 4 times as long (quadratic would be 16 times).
        assert!(large < small * 8, "50,000 keys took {small:?}, 200,000 took {large:?}");
    }

    #[test]
    fn a_merge_of_a_large_mapping_is_linear_and_keeps_explicit_keys_first() {
        let merged: Vec<String> = (0..50_000).map(|i| format!("k{i}: base")).collect();
        let text = format!("c:\n  <<: {{{}}}\n  k7: own\n", merged.join(", "));
        let t0 = std::time::Instant::now();
        let root = parse(&text).ok().and_then(|r| r.0).expect("doc");
        // Generous for a debug build on a busy machine; a pairwise merge takes far longer.
        assert!(t0.elapsed() < std::time::Duration::from_secs(10), "took {:?}", t0.elapsed());
        let c = root.as_map().expect("map")[0].1.as_map().expect("map");
        assert_eq!(c.len(), 50_000);
        assert_eq!((c[0].0.as_str(), c[0].1.as_str()), (Some("k7"), Some("own")));
        assert_eq!(c.iter().filter(|(k, _)| k.as_str() == Some("k7")).count(), 1);
    }
}
