//! Reading a `cluster.yaml` into a [`ClusterFile`]: syntax, field names and value types.
//! Whether the cluster it describes makes sense (references, schemas, cycles) is
//! [`check`](super::check)'s job.

use std::path::Path;

use super::diagnostic::Diagnostic;
use super::file::ClusterFile;
use super::positions;

/// Parses `text` (the contents of `file_name`). Errors carry the line and column
/// `yaml_serde` found them at and the path of the field (`groups[0].owners[1]: ...`).
pub fn load_str(file_name: &str, text: &str) -> Result<ClusterFile, Vec<Diagnostic>> {
    if text.trim().is_empty() || only_comments(text) {
        // yaml_serde reads an empty document as "no fields", which would hide the mistake of
        // pointing the command at the wrong (empty) file behind a "no nodes" error later.
        return Err(vec![at(
            file_name,
            1,
            1,
            "the file is empty: a cluster needs nodes",
        )]);
    }
    if let Some(pos) = positions::too_deep(text, MAX_DEPTH) {
        // libyaml takes time quadratic in the nesting of flow collections (a 200 kB line of
        // `{a: {a: ...` took a minute): refuse such input before it gets there.
        let msg = format!("nested deeper than {MAX_DEPTH} levels (a cluster.yaml needs about 8)");
        return Err(vec![at(file_name, pos.line, pos.column, &msg)]);
    }
    yaml_serde::from_str::<ClusterFile>(text).map_err(|e| vec![from_yaml(file_name, &e)])
}

/// The deepest nesting accepted.
const MAX_DEPTH: usize = 32;

/// Reads and parses the file at `path`; the file name in diagnostics is `path` as given.
pub fn load_path(path: &Path) -> Result<ClusterFile, Vec<Diagnostic>> {
    let name = path.display().to_string();
    let text = read(path)?;
    load_str(&name, &text)
}

/// Reads a file as UTF-8 text, as a diagnostic when it cannot.
pub fn read(path: &Path) -> Result<String, Vec<Diagnostic>> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| vec![at(&name, 1, 1, &format!("{e}"))])?;
    String::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_col(&e.as_bytes()[..e.utf8_error().valid_up_to()]);
        vec![at(&name, line, column, "the file is not UTF-8 text")]
    })
}

fn only_comments(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...")
}

fn at(file: &str, line: usize, column: usize, message: &str) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line,
        column,
        code: None,
        message: message.to_string(),
    }
}

/// The line and column just after `prefix`.
fn line_col(prefix: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A `yaml_serde` error as a diagnostic: its position, its message without the
/// " at line L column C" parts (the diagnostic prints those first), and friendlier words for
/// the few messages that name Rust types instead of fields.
fn from_yaml(file: &str, e: &yaml_serde::Error) -> Diagnostic {
    let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    at(file, line, column, &reword(&strip_marks(&e.to_string())))
}

fn strip_marks(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + " at line ".len()..];
        let skip = tail
            .find(|c: char| !(c.is_ascii_digit() || c == ' ' || "column".contains(c)))
            .unwrap_or(tail.len());
        rest = &tail[skip..];
    }
    out.push_str(rest);
    out
}

fn reword(msg: &str) -> String {
    const UNTAGGED: &str = "data did not match any variant of untagged enum ";
    let Some(i) = msg.find(UNTAGGED) else {
        return msg.to_string();
    };
    let what = match msg[i + UNTAGGED.len()..].trim() {
        "Raw" => "not a duration: write a whole number with a unit, like 500ms, 5s, 15m or 24h",
        "Bound" => "not a bound: a whole number, or a duration with a unit (5s) for a duration",
        _ => return msg.to_string(),
    };
    format!("{}{what}", &msg[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_stripped_from_messages() {
        let m = "did not find expected key at line 3 column 5, while parsing a block mapping at \
                 line 1 column 1";
        assert_eq!(
            strip_marks(m),
            "did not find expected key, while parsing a block mapping"
        );
    }

    #[test]
    fn empty_and_comment_only_files_are_errors() {
        for text in ["", "  \n", "# nothing\n---\n"] {
            let e = load_str("c.yaml", text).unwrap_err();
            assert_eq!(
                e[0].to_string(),
                "c.yaml:1:1: the file is empty: a cluster needs nodes"
            );
        }
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col(b"ab\ncd"), (2, 3));
        assert_eq!(line_col(b""), (1, 1));
    }
}
