//! The Tmax environment file (the Tmax manual, chapter 3): read it, check it the way `cfl`
//! does, and import it as a `cluster.yaml`.
//!
//! ```text
//!  text ─lexer─▶ tokens ─parser─▶ EnvFile ─check (+refs, routing)─▶ findings
//!                                    └──────import──────▶ ClusterFile (only when no errors)
//! ```

pub mod check;
pub mod diag;
pub mod import;
pub mod items;
pub mod lexer;
pub mod model;
pub mod parser;
pub mod refs;
pub mod routing;

use nonstop_controller::config::ClusterFile;

pub use diag::{Finding, Severity};
use diag::{Report, code};
pub use model::EnvFile;

/// What checking a file found.
#[derive(Debug)]
pub struct Checked {
    /// The parsed file (possibly partial when there are errors).
    pub env: EnvFile,
    /// Errors and warnings, sorted by place.
    pub findings: Vec<Finding>,
}

impl Checked {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Parses and checks the text of a file; `name` is the file as the user named it.
pub fn check_source(name: &str, src: &str) -> Checked {
    let mut report = Report::new(name);
    let env = parser::parse(src, &mut report);
    check::check(&env, &mut report);
    Checked {
        env,
        findings: report.sorted(),
    }
}

/// Reads and checks a file. A file that cannot be read is one error finding; bytes that are
/// not UTF-8 (an EUC-KR comment, say) are replaced and warned about.
pub fn check_path(path: &std::path::Path) -> Checked {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return unreadable(&name, &e),
    };
    let src = String::from_utf8_lossy(&bytes);
    let mut checked = check_source(&name, &src);
    if let Err(e) = std::str::from_utf8(&bytes) {
        let before = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let mut report = Report::new(&name);
        let msg = "bytes that are not UTF-8 were replaced by U+FFFD";
        report.warn(lexer::Pos { line, column }, code::UNREADABLE, msg);
        checked.findings.extend(report.findings);
        checked
            .findings
            .sort_by_key(|f| (f.diag.line, f.diag.column));
    }
    checked
}

fn unreadable(name: &str, e: &std::io::Error) -> Checked {
    let mut report = Report::new(name);
    let pos = lexer::Pos { line: 1, column: 1 };
    report.error(pos, code::UNREADABLE, format!("{name} cannot be read: {e}"));
    Checked {
        env: EnvFile::default(),
        findings: report.sorted(),
    }
}

/// Checks and imports; `Err` carries the findings when there is any error.
pub fn import_source(name: &str, src: &str) -> Result<(ClusterFile, Vec<Finding>), Vec<Finding>> {
    finish(check_source(name, src))
}

/// Reads, checks and imports a file.
pub fn import_path(path: &std::path::Path) -> Result<(ClusterFile, Vec<Finding>), Vec<Finding>> {
    finish(check_path(path))
}

fn finish(c: Checked) -> Result<(ClusterFile, Vec<Finding>), Vec<Finding>> {
    if c.has_errors() {
        return Err(c.findings);
    }
    Ok((import::import(&c.env), c.findings))
}
