//! Where each value of a YAML file sits (line and column), so that an error found after
//! deserialising (an unknown node in `owners`, a `MaxUser` out of range) points at the value
//! itself. `yaml_serde` gives positions only for its own errors, so this module walks the
//! event stream of `saphyr-parser` once and keeps a small tree of positioned nodes.

use saphyr_parser::{Event, Parser, Span};

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Pos {
    /// The start of the file: where errors without a better place go.
    pub const START: Pos = Pos { line: 1, column: 1 };

    fn of(span: &Span) -> Pos {
        // saphyr's lines are 1-based and its columns 0-based.
        Pos {
            line: span.start.line().max(1),
            column: span.start.col() + 1,
        }
    }
}

/// A YAML node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// What it is.
    pub kind: Kind,
}

/// The shape of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A scalar, as written (unquoted).
    Scalar(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping: keys and values in file order.
    Map(Vec<(Node, Node)>),
    /// An alias (`*x`): its target is not followed.
    Alias,
}

impl Node {
    /// The text of a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The items of a sequence (none for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(items) => items,
            _ => &[],
        }
    }

    /// The `index`th item of a sequence.
    pub fn at(&self, index: usize) -> Option<&Node> {
        self.items().get(index)
    }

    /// The value at a dotted path of keys (`failover_limit.window`), as deep as it exists:
    /// a missing key stops the walk at the last node found.
    pub fn deepest(&self, path: &str) -> &Node {
        let mut node = self;
        for key in path.split('.').filter(|k| !k.is_empty()) {
            match node.get(key) {
                Some(next) => node = next,
                None => break,
            }
        }
        node
    }
}

/// Parses `text` into a positioned tree of its first document; `None` when the YAML does not
/// parse (the deserialiser reports that error with its own position).
pub fn parse(text: &str) -> Option<Node> {
    let mut events = Parser::new_from_str(text).map(|r| r.ok());
    loop {
        match events.next()?? {
            (Event::StreamStart | Event::DocumentStart(_), _) => continue,
            (Event::StreamEnd, _) => return None,
            (event, span) => return build(event, span, &mut events, 0),
        }
    }
}

/// Where the nesting of collections first goes deeper than `limit`, if it does. Reads events
/// only up to that point, so it is cheap on hostile input.
pub fn too_deep(text: &str, limit: usize) -> Option<Pos> {
    let mut depth = 0usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(ok) => ok,
            // saphyr stops at its own nesting limit (a few hundred levels); other syntax errors
            // are left to the deserialiser, which reports them in its words.
            Err(e) if e.info().contains("recursion limit") => {
                let m = e.marker();
                return Some(Pos {
                    line: m.line().max(1),
                    column: m.col() + 1,
                });
            }
            Err(_) => return None,
        };
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => depth += 1,
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > limit {
            return Some(Pos::of(&span));
        }
    }
    None
}

type Events<'a> = dyn Iterator<Item = Option<(Event<'a>, Span)>> + 'a;

/// Nesting deeper than this gives up rather than risk the stack (cluster.yaml needs about 8).
const MAX_DEPTH: usize = 128;

/// Builds the node that starts with `event`, reading its children from `events`.
fn build<'a>(event: Event<'a>, span: Span, events: &mut Events<'a>, depth: usize) -> Option<Node> {
    if depth > MAX_DEPTH {
        return None;
    }
    let pos = Pos::of(&span);
    let kind = match event {
        Event::Scalar(text, ..) => Kind::Scalar(text.into_owned()),
        Event::Alias(_) => Kind::Alias,
        Event::SequenceStart(..) => Kind::Seq(children(events, depth, |e| {
            matches!(e, Event::SequenceEnd)
        })?),
        Event::MappingStart(..) => {
            let flat = children(events, depth, |e| matches!(e, Event::MappingEnd))?;
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Kind::Map(pairs)
        }
        _ => return None,
    };
    Some(Node { pos, kind })
}

/// Reads nodes until the event that `is_end` recognises.
fn children<'a>(
    events: &mut Events<'a>,
    depth: usize,
    is_end: fn(&Event) -> bool,
) -> Option<Vec<Node>> {
    let mut out = Vec::new();
    loop {
        let (event, span) = events.next()??;
        if is_end(&event) {
            return Some(out);
        }
        out.push(build(event, span, events, depth + 1)?);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_by_key_and_index() {
        let text = "nodes:\n  - name: a\ngroups:\n  - name: G\n    owners: [a, b]\n";
        let root = parse(text).unwrap();
        let owners = root
            .get("groups")
            .unwrap()
            .at(0)
            .unwrap()
            .get("owners")
            .unwrap();
        assert_eq!(
            owners.at(1).unwrap().pos,
            Pos {
                line: 5,
                column: 17
            }
        );
        let name = root
            .get("nodes")
            .unwrap()
            .at(0)
            .unwrap()
            .get("name")
            .unwrap();
        assert_eq!(
            name.pos,
            Pos {
                line: 2,
                column: 11
            }
        );
        assert_eq!(name.scalar(), Some("a"));
    }

    #[test]
    fn deepest_stops_at_the_last_key_found() {
        let root = parse("a:\n  b: 1\n").unwrap();
        assert_eq!(root.deepest("a.b").pos, Pos { line: 2, column: 6 });
        assert_eq!(root.deepest("a.c").pos, Pos { line: 2, column: 3 });
    }

    #[test]
    fn broken_yaml_gives_none() {
        assert!(parse("a: [1, 2").is_none());
        assert!(parse("").is_none());
        assert!(parse(&"[".repeat(10_000)).is_none());
    }

    #[test]
    fn too_deep_finds_the_first_level_past_the_limit() {
        assert_eq!(too_deep("a: [[1]]", 3), None);
        assert_eq!(too_deep("a: [[[1]]]", 3), Some(Pos { line: 1, column: 6 }));
        assert!(too_deep(&"{a: ".repeat(50_000), 32).is_some());
    }
}
