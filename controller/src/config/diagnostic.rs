//! A problem found in a file, located by line and column, printed the way compilers print them:
//! `cluster.yaml:12:7: group "SOCKET_GROUP": owners names unknown node "osdb-bak"`.
//! Shared by the `cluster.yaml` loader and the Tmax environment-file compiler.

use std::borrow::Cow;
use std::fmt;

/// One error in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// An error code (`CFL0309`), where the format has them.
    pub code: Option<String>,
    /// What is wrong, naming the field.
    pub message: String,
}

impl Diagnostic {
    /// `FILE:LINE:COL: ` with the file name's control characters escaped (a diagnostic is one
    /// line, whatever the file is called).
    pub fn place(&self) -> String {
        let file = escape_controls(&self.file, &[]);
        format!("{file}:{}:{}: ", self.line, self.column)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.place())?;
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&escape_controls(&self.message, &[]))
    }
}

/// `text` with its control characters (and the Unicode controls that reorder text), except
/// those in `keep`, written as Rust escapes (`\u{1b}`, `\r`, `\n`): a name or a file name
/// echoed to a terminal can then neither move the cursor, change colours, nor fake a line.
pub fn escape_controls<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    let bad = |c: char| {
        (c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
            && !keep.contains(&c)
    };
    if !text.contains(bad) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if bad(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i10_8_control_characters_are_escaped_and_nothing_else() {
        assert!(matches!(
            escape_controls("osdb-serv é ✓", &[]),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("a\u{1b}[2J\rb\nc\td\u{9b}e\u{202e}f", &[]),
            "a\\u{1b}[2J\\rb\\nc\\td\\u{9b}e\\u{202e}f"
        );
        assert_eq!(escape_controls("a\nb\tc\r", &['\n', '\t']), "a\nb\tc\\r");
        let d = Diagnostic {
            file: "x\n1.yaml".into(),
            line: 1,
            column: 2,
            code: None,
            message: "unknown field `a\u{1b}`".into(),
        };
        assert_eq!(d.to_string(), "x\\n1.yaml:1:2: unknown field `a\\u{1b}`");
    }
}
