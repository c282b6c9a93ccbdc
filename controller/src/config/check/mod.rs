//! `nonstop config check`: every error of a `cluster.yaml`, each at the line and column of the
//! value at fault.
//!
//! ```text
//!  text ──load_str──▶ ClusterFile ──(item by item, on a scratch ClusterDb)──▶ diagnostics
//!    └──positions::parse──▶ positioned tree ──┘   (apply's ApplyError names subject + field;
//!                                                  the tree turns the field into line:column)
//! ```
//!
//! The database's own `apply` is the judge of what is valid, so the rules live in one place.
//! This module feeds it one item at a time, keeps going past failures, and hides the errors that
//! only follow from an earlier one (the resources of a group that failed, a dependency on a
//! resource that failed). Where an item is wrong in one list entry (an unknown owner, a bad
//! dependency), the entry is dropped and the item tried again, so one mistake does not hide the
//! next.

mod items;
mod locate;
mod resources;

use std::collections::{BTreeMap, BTreeSet};

use super::diagnostic::Diagnostic;
use super::file::ClusterFile;
use super::load::load_str;
use super::ops;
use super::positions::{self, Node};
use crate::db::{ApplyError, ClusterDb, Command, Discovered, Op};
use crate::time::Time;
use locate::{Fault, first_quoted, locate, plain};

/// A valid configuration: the file, the commands that build it, and the database they build.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The file as read.
    pub file: ClusterFile,
    /// The configuration commands, in an order `apply` accepts (see [`super::to_ops`]).
    pub ops: Vec<Op>,
    /// A fresh database with the commands applied.
    pub db: ClusterDb,
}

/// Reads and checks `text` (the contents of `file_name`), reporting every error found.
pub fn check(file_name: &str, text: &str) -> Result<Checked, Vec<Diagnostic>> {
    check_with(file_name, text, &Discovered::new())
}

/// [`check`], with the types the nodes discovered (the live database's, or those installed on
/// this machine: [`discovered_here`]): resources of a type that `types:` does not declare are
/// checked against them.
pub fn check_with(
    file_name: &str,
    text: &str,
    discovered: &Discovered,
) -> Result<Checked, Vec<Diagnostic>> {
    let file = load_str(file_name, text)?;
    let root = positions::parse(text);
    check_file_with(file_name, file, root.as_ref(), discovered)
}

/// The types of `defs` (read on this machine) as if every node of `file` had reported them.
pub fn discovered_here(file: &ClusterFile, defs: &[nonstop_contract::TypeDef]) -> Discovered {
    let types: BTreeMap<String, nonstop_contract::TypeDef> =
        defs.iter().map(|d| (d.name.clone(), d.clone())).collect();
    if types.is_empty() {
        return Discovered::new();
    }
    (file.nodes.iter())
        .map(|n| (n.name.clone(), types.clone()))
        .collect()
}

/// Checks a file already read (the Tmax importer builds one in memory). Without `root`, every
/// diagnostic is placed at 1:1.
pub fn check_file(
    file_name: &str,
    file: ClusterFile,
    root: Option<&Node>,
) -> Result<Checked, Vec<Diagnostic>> {
    check_file_with(file_name, file, root, &Discovered::new())
}

/// [`check_file`] with the types the nodes discovered (see [`check_with`]).
pub fn check_file_with(
    file_name: &str,
    file: ClusterFile,
    root: Option<&Node>,
    discovered: &Discovered,
) -> Result<Checked, Vec<Diagnostic>> {
    let mut c = Checker::new(file_name, root);
    c.db.discovered = discovered.clone();
    c.settings(&file);
    c.nodes(&file);
    c.types(&file);
    c.groups(&file);
    c.resources(&file);
    c.cousins(&file);
    c.services(&file);
    c.finish(file)
}

/// One check in progress: a scratch database fed item by item, and what went wrong so far.
struct Checker<'a> {
    file_name: String,
    root: Option<&'a Node>,
    db: ClusterDb,
    diags: Vec<Diagnostic>,
    /// Names that failed, by kind (`node`, `type`, `group`, `resource`).
    failed: BTreeMap<&'static str, BTreeSet<String>>,
    /// Items left out because their name is used twice: (section, index).
    duplicates: BTreeSet<(String, usize)>,
}

impl<'a> Checker<'a> {
    fn new(file_name: &str, root: Option<&'a Node>) -> Self {
        Checker {
            file_name: file_name.to_string(),
            root,
            db: ClusterDb::new(),
            diags: Vec::new(),
            failed: BTreeMap::new(),
            duplicates: BTreeSet::new(),
        }
    }

    fn item(&self, section: &str, index: usize) -> Option<&'a Node> {
        self.root?.get(section)?.at(index)
    }

    fn resource_item(&self, group: usize, index: usize) -> Option<&'a Node> {
        self.item("groups", group)?.get("resources")?.at(index)
    }

    fn report(&mut self, item: Option<&'a Node>, fault: &Fault) {
        let pos = locate(item.or(self.root), fault);
        self.diags.push(Diagnostic {
            file: self.file_name.clone(),
            line: pos.line,
            column: pos.column,
            code: None,
            message: fault.message.clone(),
        });
    }

    fn fail(&mut self, kind: &'static str, name: &str) {
        self.failed
            .entry(kind)
            .or_default()
            .insert(name.to_string());
    }

    fn apply(&mut self, op: Op) -> Result<(), Fault> {
        let cmd = Command::policy(Time(0), op);
        self.db.apply(cmd).map(drop).map_err(|e| self.fault(e))
    }

    fn fault(&self, e: ApplyError) -> Fault {
        let message = e.to_string();
        let (field, hint, repeat, cascade) = match e {
            ApplyError::Unknown {
                field, kind, name, ..
            } => {
                let cascade = self.failed.get(kind).is_some_and(|s| s.contains(&name));
                (field, Some(name), false, cascade)
            }
            ApplyError::Invalid { field, reason, .. } => {
                let repeat = reason.contains("twice") || reason.contains("home node");
                (field, first_quoted(&reason), repeat, false)
            }
            ApplyError::DependencyCycle { path } => {
                ("depends_on".into(), path.get(1).cloned(), false, false)
            }
            _ => (String::new(), None, false, false),
        };
        Fault {
            field,
            hint,
            repeat,
            cascade,
            message,
        }
    }

    fn has_failed(&self, kind: &str, name: &str) -> bool {
        self.failed.get(kind).is_some_and(|s| s.contains(name))
    }

    fn skip(&self, section: &str, index: usize) -> bool {
        self.duplicates.contains(&(section.to_string(), index))
    }

    fn finish(mut self, file: ClusterFile) -> Result<Checked, Vec<Diagnostic>> {
        if self.diags.is_empty() {
            match build(&file, &self.db.discovered) {
                Ok((ops, db)) => return Ok(Checked { file, ops, db }),
                // Not expected: the item-by-item pass accepted it. Say so rather than panic.
                Err(message) => self.report(None, &plain("", message)),
            }
        }
        self.diags.sort_by_key(|d| (d.line, d.column));
        Err(self.diags)
    }
}

/// The commands for `file` and a fresh database (knowing the types the nodes discovered) with
/// them applied as one batch.
fn build(file: &ClusterFile, discovered: &Discovered) -> Result<(Vec<Op>, ClusterDb), String> {
    let ops = ops::to_ops(file).map_err(|e| e.to_string())?;
    let mut db = ClusterDb::new();
    db.discovered = discovered.clone();
    let cmd = Command::policy(Time(0), Op::Batch(ops.clone()));
    db.apply(cmd).map_err(|e| e.to_string())?;
    Ok((ops, db))
}
