//! A small YAML tree that keeps the position of every key and value.
//!
//! Built from yaml-rust2's event parser (which reports a marker per event) rather than its
//! `Yaml` loader, so that we keep positions, see duplicate keys (the loader silently keeps
//! one), resolve aliases and `<<` merge keys ourselves, and bound alias expansion.

use std::collections::HashMap;

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
    fn size(&self) -> usize {
        match &self.value {
            Value::Null | Value::Scalar(..) => 1,
            Value::Seq(s) => 1 + s.iter().map(Node::size).sum::<usize>(),
            Value::Map(m) => 1 + m.iter().map(|(k, v)| k.size() + v.size()).sum::<usize>(),
        }
    }
}

/// A problem found while reading the YAML text itself.
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Upper bound on nodes produced by alias expansion ("billion laughs").
const MAX_NODES: usize = 1_000_000;

enum Frame {
    Seq { pos: Pos, anchor: usize, items: Vec<Node> },
    Map { pos: Pos, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node> },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    docs: Vec<(Pos, Option<Node>)>,
    errors: Vec<YamlError>,
    expanded: usize,
    aborted: bool,
}

impl Builder {
    fn error(&mut self, pos: Pos, message: String) {
        self.errors.push(YamlError { pos, message });
    }

    fn finish(&mut self, node: Node, anchor: usize) {
        let top_level = self.stack.len() == 1;
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
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
            Some(Frame::Map { entries, key, .. }) => {
                let Some(k) = key.take() else { return };
                let name = k.as_str().unwrap_or("").to_string();
                let first =
                    entries.iter().find(|(e, _)| e.as_str() == Some(name.as_str()) && name != "<<").map(|(e, _)| e.pos);
                match first {
                    Some(first) => {
                        let hint = if top_level {
                            " (one file holds one config: split several gateways' configs into separate files)"
                        } else {
                            ""
                        };
                        let msg = format!(
                            "duplicate key '{name}' (lines {} and {}); keep only one{hint}",
                            first.line, k.pos.line
                        );
                        self.error(k.pos, msg);
                    }
                    None => entries.push((k, node)),
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
                match &v.value {
                    Value::Map(_) => merged.push(v),
                    Value::Seq(items) => merged.extend(items.iter().cloned()),
                    _ => self.error(v.pos, "'<<' must merge a mapping or a list of mappings".into()),
                }
            } else {
                out.push((k, v));
            }
        }
        for m in merged {
            match m.value {
                Value::Map(items) => {
                    for (k, v) in items {
                        if !out.iter().any(|(e, _)| e.as_str().is_some() && e.as_str() == k.as_str()) {
                            out.push((k, v));
                        }
                    }
                }
                _ => self.error(m.pos, "'<<' must merge a mapping or a list of mappings".into()),
            }
        }
        out
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
                let quoted = style != TScalarStyle::Plain;
                let value = if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    Value::Null
                } else {
                    Value::Scalar(text, quoted)
                };
                self.finish(Node { pos, value }, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq { pos, anchor, items: Vec::new() }),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map { pos, anchor, entries: Vec::new(), key: None })
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { pos, anchor, items }) = self.stack.pop() {
                    self.finish(Node { pos, value: Value::Seq(items) }, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map { pos, anchor, entries, .. }) = self.stack.pop() {
                    // A block mapping's start event is marked after its first key: use the key.
                    let pos = entries.first().map_or(pos, |(k, _)| k.pos.min(pos));
                    let entries = self.merge(entries);
                    self.finish(Node { pos, value: Value::Map(entries) }, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    self.expanded += node.size();
                    if self.expanded > MAX_NODES {
                        self.error(pos, "aliases expand to too large a document".into());
                        self.aborted = true;
                        return;
                    }
                    node.pos = pos;
                    self.finish(node, 0);
                }
                None => self.error(pos, "alias refers to an anchor that is not complete here".into()),
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
}

/// Parses one YAML document. A syntax error stops parsing (`Err`); other problems
/// (duplicate keys, bad merges) are returned beside the tree so checking can go on.
/// The tree is `None` for an empty file.
pub fn parse(text: &str) -> Result<(Option<Node>, Vec<YamlError>), YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
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
        return Err(YamlError { pos, message });
    }
    if builder.docs.len() > 1 {
        let pos = builder.docs[1].0;
        builder.error(pos, "more than one YAML document ('---'); put one config per file".into());
    }
    let root = builder.docs.into_iter().next().and_then(|(_, n)| n);
    Ok((root, builder.errors))
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
}
