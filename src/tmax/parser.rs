//! From tokens to sections and entries, following the rules of manual 3.1.1:
//! a section starts with `*NAME` in upper case; an entry's name is in column 1 and nothing else
//! is; items are `NAME = value` separated by commas, and an item not followed by a comma ends
//! the entry; `DEFAULT:` gives items to the entries that follow it in the section (3.2.2).
//!
//! The manual's own examples sometimes leave out a comma before an item on the next line
//! (`OPENINFO = "..."` then `TMSNAME = ...`, 3.2.2). Read strictly that line has no entry; we
//! read it as the same entry and warn (NST0004), which is what the author meant.
//!
//! The parser reports what it cannot read and goes on at the next line that starts in column 1,
//! so that one run shows every problem.

use super::diag::{Report, code, shown};
use super::lexer::{Kind, Token, tokenize};
use super::model::{Entry, EnvFile, Item, Section, SectionKind, Value};

/// Parses `src`, reporting problems into `report`.
pub fn parse(src: &str, report: &mut Report) -> EnvFile {
    let mut p = Parser {
        toks: tokenize(src),
        i: 0,
        report,
        file: EnvFile::default(),
        defaults: Vec::new(),
        skipping: false,
    };
    p.run();
    p.file
}

struct Parser<'r> {
    toks: Vec<Token>,
    i: usize,
    report: &'r mut Report,
    file: EnvFile,
    /// Items of the last `DEFAULT:` label of the current section.
    defaults: Vec<Item>,
    /// Inside a section nonstop does not know: its entries are skipped.
    skipping: bool,
}

/// Whether a token begins a new entry or section (anything in column 1).
fn starts_line(t: &Token) -> bool {
    t.pos.column == 1 && matches!(t.kind, Kind::Word | Kind::Section)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn peek_at(&self, n: usize) -> Option<&Token> {
        self.toks.get(self.i + n)
    }

    /// Moves the next token out (its text is not needed again) and steps past it.
    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get_mut(self.i)?;
        self.i += 1;
        Some(Token {
            kind: t.kind.clone(),
            text: std::mem::take(&mut t.text),
            pos: t.pos,
        })
    }

    /// Skips to the next token in column 1 (error recovery).
    fn recover(&mut self) {
        while let Some(t) = self.peek() {
            if starts_line(t) && self.i > 0 {
                return;
            }
            if t.kind == Kind::Error {
                let (pos, why) = (t.pos, t.text.clone());
                self.report.error(pos, code::OPEN_LITERAL, why);
            }
            self.i += 1;
        }
    }

    fn run(&mut self) {
        while let Some(t) = self.peek() {
            match t.kind {
                Kind::Section => {
                    let t = self.next().expect("peeked");
                    self.section(&t);
                }
                Kind::Word if t.pos.column == 1 => self.entry(),
                Kind::Error => {
                    let t = self.next().expect("peeked");
                    self.report.error(t.pos, code::OPEN_LITERAL, t.text);
                }
                _ => {
                    let t = self.next().expect("peeked");
                    let msg = format!(
                        "unexpected {}: only an entry name may start a line, in column 1 \
                         (manual 3.1.1)",
                        shown(&t.text)
                    );
                    self.report.error(t.pos, code::SYNTAX, msg);
                    self.recover();
                }
            }
        }
    }

    fn section(&mut self, t: &Token) {
        self.defaults.clear();
        let upper = t.text.to_ascii_uppercase();
        let Some(kind) = SectionKind::from_name(&upper) else {
            let msg = format!(
                "unknown section *{}: the manual defines *DOMAIN, *NODE, *SVRGROUP, *SERVER, \
                 *SERVICE, *GATEWAY, *ROUTING, *RQ and *HMS; its entries are skipped",
                t.text
            );
            self.report.error(t.pos, code::SECTION, msg);
            self.skipping = true;
            return;
        };
        if upper != t.text {
            let msg = format!(
                "section *{} must be written in upper case (manual 3.1.1)",
                t.text
            );
            self.report.error(t.pos, code::SECTION, msg);
        }
        self.skipping = false;
        self.file.sections.push(Section {
            kind,
            pos: t.pos,
            entries: Vec::new(),
        });
    }

    fn entry(&mut self) {
        let name = self.next().expect("entry() is called on a word");
        let is_default = name.text.eq_ignore_ascii_case("DEFAULT")
            && self.peek().is_some_and(|t| t.kind == Kind::Colon);
        if is_default {
            self.i += 1;
        }
        let items = self.items();
        if self.skipping {
            return;
        }
        if self.file.sections.is_empty() {
            let msg = format!("entry {:?} comes before any section header", name.text);
            self.report.error(name.pos, code::SYNTAX, msg);
            return;
        }
        if is_default {
            self.defaults = items;
            return;
        }
        self.push_entry(name, items);
    }

    fn push_entry(&mut self, name: Token, mut items: Vec<Item>) {
        for d in &self.defaults {
            if !items.iter().any(|i| i.key == d.key) {
                items.push(Item {
                    from_default: true,
                    ..d.clone()
                });
            }
        }
        let entry = Entry {
            name: name.text,
            pos: name.pos,
            items,
        };
        if let Some(s) = self.file.sections.last_mut() {
            s.entries.push(entry);
        }
    }

    /// The items of one entry, up to the item not followed by a comma.
    fn items(&mut self) -> Vec<Item> {
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None => return items,
                Some(t) if starts_line(t) => return items,
                _ => {}
            }
            let Some(item) = self.item() else {
                self.recover();
                return items;
            };
            let value_line = item.value.pos.line;
            items.push(item);
            if !self.after_item(value_line) {
                return items;
            }
        }
    }

    /// After an item: whether the entry goes on.
    fn after_item(&mut self, value_line: usize) -> bool {
        let Some(t) = self.peek() else {
            return false;
        };
        if t.kind == Kind::Comma {
            self.i += 1;
            return true;
        }
        if starts_line(t) {
            return false;
        }
        let next_is_item = t.kind == Kind::Word
            && t.pos.line > value_line
            && self.peek_at(1).is_some_and(|n| n.kind == Kind::Equals);
        let (pos, text) = (t.pos, shown(&t.text));
        if next_is_item {
            let msg = format!(
                "no comma before {text}: the entry is read as going on (manual 3.1.1: a missing \
                 comma ends the entry)"
            );
            self.report.warn(pos, code::MISSING_COMMA, msg);
            return true;
        }
        let msg =
            format!("unexpected {text}: expected ',' before another item, or the end of the entry");
        self.report.error(pos, code::SYNTAX, msg);
        self.recover();
        false
    }

    /// `NAME = value`; reports and returns `None` when it is not one.
    fn item(&mut self) -> Option<Item> {
        let key = self.next()?;
        if key.kind != Kind::Word {
            return self.expected(&key, "an item name");
        }
        let eq = self.on_this_entry(&key, "'='")?;
        if eq.kind != Kind::Equals {
            return self.expected(&eq, &format!("'=' after {}", key.text));
        }
        let v = self.on_this_entry(&eq, &format!("a value for {}", key.text))?;
        if !matches!(v.kind, Kind::Word | Kind::Literal) {
            return self.expected(&v, &format!("a value for {}", key.text));
        }
        Some(Item {
            key: key.text.to_ascii_uppercase(),
            pos: key.pos,
            value: Value {
                quoted: v.kind == Kind::Literal,
                text: v.text,
                pos: v.pos,
            },
            from_default: false,
        })
    }

    /// The next token if it still belongs to this entry (not the end of the file, not a token
    /// in column 1); otherwise reports that `what` was expected after `after`.
    fn on_this_entry(&mut self, after: &Token, what: &str) -> Option<Token> {
        match self.peek() {
            Some(t) if !starts_line(t) => self.next(),
            Some(_) => {
                let a = shown(&after.text);
                let msg = format!("expected {what} after {a}, but the entry ends there");
                self.report.error(after.pos, code::SYNTAX, msg);
                None
            }
            None => {
                let a = shown(&after.text);
                let msg = format!("expected {what} after {a}, found the end of the file");
                self.report.error(after.pos, code::SYNTAX, msg);
                None
            }
        }
    }

    fn expected(&mut self, got: &Token, what: &str) -> Option<Item> {
        if got.kind == Kind::Error {
            self.report
                .error(got.pos, code::OPEN_LITERAL, got.text.clone());
        } else {
            let msg = format!("expected {what}, found {}", shown(&got.text));
            self.report.error(got.pos, code::SYNTAX, msg);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(src: &str) -> (EnvFile, Vec<String>) {
        let mut report = Report::new("t.m");
        let env = parse(src, &mut report);
        let found = report.findings.iter().map(ToString::to_string).collect();
        (env, found)
    }

    #[test]
    fn defaults_fill_what_an_entry_does_not_set() {
        let src = "*NODE\nDEFAULT: MINCLH = 2, MAXCLH = 3\nn1 TMAXDIR = \"/a\", maxclh = 5\n";
        let (env, found) = parsed(src);
        assert!(found.is_empty(), "{found:?}");
        let n1 = &env.sections[0].entries[0];
        assert_eq!(n1.text("MAXCLH"), Some("5"), "the entry's own value wins");
        assert_eq!(n1.text("MINCLH"), Some("2"));
        assert!(n1.get("MINCLH").is_some_and(|i| i.from_default));
    }

    #[test]
    fn a_missing_comma_ends_the_entry_unless_an_item_follows_on_the_next_line() {
        let (env, found) = parsed("*SVRGROUP\ns1 NODENAME = a\n   DBNAME = X\ns2 NODENAME = b\n");
        assert_eq!(env.sections[0].entries.len(), 2);
        assert_eq!(env.sections[0].entries[0].text("DBNAME"), Some("X"));
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("t.m:3:4: warning: NST0004: "),
            "{found:?}"
        );
        let (_, found) = parsed("*SVRGROUP\ns1 NODENAME = a DBNAME = X\n");
        assert!(found[0].starts_with("t.m:2:17: NST0003: "), "{found:?}");
    }

    #[test]
    fn a_trailing_comma_before_the_next_entry_is_fine() {
        let (env, found) = parsed("*NODE\nn1 TMAXDIR = \"/a\",\nn2 TMAXDIR = \"/b\",\n*SVRGROUP\n");
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(env.sections[0].entries.len(), 2);
        assert_eq!(env.sections.len(), 2);
    }

    #[test]
    fn repeated_sections_stay_apart_and_recovery_resumes_at_column_one() {
        let src = "*SERVER\na SVGNAME = g, = x\nb SVGNAME = g\n*SERVER\nc SVGNAME = g\n";
        let (env, found) = parsed(src);
        let names: Vec<&str> = env
            .entries(SectionKind::Server)
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
