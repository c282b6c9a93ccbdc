//! From a fault that `apply` found (subject, field, name) to the line and column of the value
//! at fault.

use crate::config::positions::{Kind, Node, Pos};

/// A fault found by `apply`, reduced to what locating it needs.
pub(super) struct Fault {
    /// The field (`owners`, `properties.MaxUser`), relative to the item.
    pub field: String,
    /// The name the message is about, to find it in a list.
    pub hint: Option<String>,
    /// The hint is a repeat: point at its second occurrence.
    pub repeat: bool,
    /// It only follows from an earlier failure.
    pub cascade: bool,
    pub message: String,
}

pub(super) fn plain(field: &str, message: String) -> Fault {
    Fault {
        field: field.to_string(),
        hint: None,
        repeat: false,
        cascade: false,
        message,
    }
}

/// The first `"quoted"` word of a message.
pub(super) fn first_quoted(s: &str) -> Option<String> {
    let start = s.find('"')? + 1;
    let len = s[start..].find('"')?;
    Some(s[start..start + len].to_string())
}

/// The index of `name` in `list`; its second occurrence when `repeat`.
pub(super) fn find(list: &[String], name: &str, repeat: bool) -> Option<usize> {
    let mut hits = list
        .iter()
        .enumerate()
        .filter(|(_, n)| *n == name)
        .map(|(i, _)| i);
    let first = hits.next();
    if repeat { hits.next().or(first) } else { first }
}

/// Where a fault sits inside `item`: the field's value, the list entry its hint names, or
/// the item itself when the field is not written in the file.
pub(super) fn locate(item: Option<&Node>, fault: &Fault) -> Pos {
    let Some(item) = item else {
        return Pos::START;
    };
    let node = item.deepest(&fault.field);
    let Some(hint) = &fault.hint else {
        return node.pos;
    };
    let matches = |n: &&Node| match &n.kind {
        Kind::Scalar(s) => s == hint,
        Kind::Map(_) => ["name", "group"]
            .iter()
            .any(|k| n.get(k).and_then(Node::scalar) == Some(hint)),
        _ => false,
    };
    let mut hits = node.items().iter().filter(matches);
    let first = hits.next();
    let hit = if fault.repeat {
        hits.next().or(first)
    } else {
        first
    };
    hit.map_or(node.pos, |n| n.pos)
}
