//! What `nonstop tmax check` reports: errors and warnings, each with a code, a place and a
//! message naming the entry and the item. Codes from the manual keep their `CFL` names; the
//! others are nonstop's own (`NST...`), listed in docs/tmax.md.

use std::fmt;

use nonstop_controller::config::{Diagnostic, escape_controls};

use super::lexer::Pos;

/// The codes nonstop reports. The two `CFL` codes are the manual's (3.2.3, "COUSIN으로 설정된
/// 서버 그룹 설정의 검증").
pub mod code {
    /// A server group named both in a COUSIN list and in a BACKUP list.
    pub const COUSIN_AND_BACKUP: &str = "CFL0309";
    /// A server group named in the COUSIN lists of two groups.
    pub const DUPLICATE_COUSIN: &str = "CFL0310";
    /// The file cannot be read (not UTF-8, or an I/O error).
    pub const UNREADABLE: &str = "NST0001";
    /// A literal without its closing quote.
    pub const OPEN_LITERAL: &str = "NST0002";
    /// A token where the grammar does not allow it.
    pub const SYNTAX: &str = "NST0003";
    /// An item on a new line after an entry that did not end with a comma (warning).
    pub const MISSING_COMMA: &str = "NST0004";
    /// A section header the manual does not define, or not in upper case.
    pub const SECTION: &str = "NST0005";
    /// A section nonstop reads but does not import (warning).
    pub const SECTION_SKIPPED: &str = "NST0006";
    /// One of the five mandatory sections is missing (3.1.1).
    pub const MISSING_SECTION: &str = "NST0007";
    /// An item the manual does not define for this section.
    pub const UNKNOWN_ITEM: &str = "NST0010";
    /// The same item twice in one entry.
    pub const REPEATED_ITEM: &str = "NST0011";
    /// A mandatory item is missing.
    pub const MISSING_ITEM: &str = "NST0012";
    /// A name longer than the manual allows.
    pub const NAME_TOO_LONG: &str = "NST0013";
    /// A number that does not parse or is outside its range.
    pub const NUMBER: &str = "NST0014";
    /// A value that is not one of the allowed choices.
    pub const CHOICE: &str = "NST0015";
    /// A value longer than the manual allows.
    pub const TOO_LONG: &str = "NST0016";
    /// Two entries of one section with the same name.
    pub const DUPLICATE_NAME: &str = "NST0017";
    /// A name nonstop cannot use (characters outside `A-Z a-z 0-9 _ - . :`).
    pub const BAD_NAME: &str = "NST0018";
    /// An unquoted NODENAME with a hyphen (3.2.3 asks for quotes).
    pub const HYPHEN_UNQUOTED: &str = "NST0019";
    /// NODENAME names no NODE entry.
    pub const UNKNOWN_NODE: &str = "NST0020";
    /// SVGNAME names no SVRGROUP entry.
    pub const UNKNOWN_GROUP: &str = "NST0021";
    /// SVRNAME names no SERVER or GATEWAY entry.
    pub const UNKNOWN_SERVER: &str = "NST0022";
    /// BACKUP names no group (or gateway, in the GATEWAY section).
    pub const UNKNOWN_BACKUP: &str = "NST0023";
    /// COUSIN names no group or gateway.
    pub const UNKNOWN_COUSIN: &str = "NST0024";
    /// ROUTING names no ROUTING entry.
    pub const UNKNOWN_ROUTING: &str = "NST0025";
    /// A gateway's COUSIN names a server group (3.2.6: gateways only).
    pub const GATEWAY_COUSIN: &str = "NST0026";
    /// A group or gateway names itself as its BACKUP.
    pub const SELF_BACKUP: &str = "NST0030";
    /// A BACKUP group has a BACKUP list of its own.
    pub const BACKUP_CHAIN: &str = "NST0031";
    /// A BACKUP group on a node that already owns the original.
    pub const BACKUP_SAME_NODE: &str = "NST0032";
    /// A COUSIN list that names its own group (warning).
    pub const SELF_COUSIN: &str = "NST0033";
    /// A gateway with the name of a server group or a server.
    pub const NAME_CLASH: &str = "NST0034";
    /// MIN above MAX.
    pub const MIN_ABOVE_MAX: &str = "NST0035";
    /// MIN = 0: started on demand in Tmax, imported offline (warning).
    pub const MIN_ZERO: &str = "NST0036";
    /// A server in a BACKUP group: not imported (warning).
    pub const SERVER_IN_BACKUP: &str = "NST0038";
    /// A GPERIOD longer than nonstop's longest restart window: imported as that (warning).
    pub const LONG_GPERIOD: &str = "NST0039";
    /// RESTART/MAXRSTART/GPERIOD on a NODE or SVRGROUP: the engine's or TMS's, not imported
    /// (warning).
    pub const ENGINE_RESTART: &str = "NST0040";
    /// A server or gateway has the name of a server's copy in a cousin group.
    pub const COPY_NAME_TAKEN: &str = "NST0041";
    /// Gateways of a LOAD = -1 cousin set: not called, left out of the set (warning).
    pub const GATEWAY_NOT_CALLED: &str = "NST0042";
    /// An item that another item requires, or that another item forbids.
    pub const ITEM_DEPENDS: &str = "NST0043";
    /// A ROUTING range names no server group or gateway.
    pub const UNKNOWN_RANGE_GROUP: &str = "NST0044";
    /// A ROUTING range whose low end is above its high end.
    pub const REVERSED_RANGE: &str = "NST0045";
    /// RANGES without `*` and without both MIN and MAX (warning).
    pub const NO_CATCH_ALL: &str = "NST0046";
    /// A ROUTING range that cannot be read.
    pub const BAD_RANGE: &str = "NST0047";
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The file is wrong: `check` exits 1 and `import` writes nothing.
    Error,
    /// The file is read, but something is ignored or guessed.
    Warning,
}

/// One finding: a diagnostic and its severity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// File, place, code and message.
    pub diag: Diagnostic,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.diag;
        match self.severity {
            Severity::Error => write!(f, "{d}"),
            Severity::Warning => {
                write!(f, "{}warning: ", d.place())?;
                if let Some(c) = &d.code {
                    write!(f, "{c}: ")?;
                }
                f.write_str(&escape_controls(&d.message, &[]))
            }
        }
    }
}

/// Collects findings for one file.
#[derive(Debug)]
pub struct Report {
    file: String,
    /// What was found, in the order found.
    pub findings: Vec<Finding>,
}

impl Report {
    /// An empty report for `file` (the name as the user gave it).
    pub fn new(file: &str) -> Self {
        Report {
            file: file.to_string(),
            findings: Vec::new(),
        }
    }

    fn add(&mut self, severity: Severity, pos: Pos, code: &str, message: String) {
        self.findings.push(Finding {
            severity,
            diag: Diagnostic {
                file: self.file.clone(),
                line: pos.line,
                column: pos.column,
                code: Some(code.to_string()),
                message,
            },
        });
    }

    /// Records an error.
    pub fn error(&mut self, pos: Pos, code: &str, message: impl Into<String>) {
        self.add(Severity::Error, pos, code, message.into());
    }

    /// Records a warning.
    pub fn warn(&mut self, pos: Pos, code: &str, message: impl Into<String>) {
        self.add(Severity::Warning, pos, code, message.into());
    }

    /// Whether any error was found.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings sorted by place (stable: same place keeps the order found).
    pub fn sorted(mut self) -> Vec<Finding> {
        self.findings.sort_by_key(|f| (f.diag.line, f.diag.column));
        self.findings
    }
}

/// A token's text for a message: quoted, escaped, and cut after 40 characters.
pub fn shown(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        return format!("{text:?}");
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut:?}...")
}
