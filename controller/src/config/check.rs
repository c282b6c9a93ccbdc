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

use std::collections::{BTreeMap, BTreeSet};

use super::diagnostic::Diagnostic;
use super::file::{ClusterFile, TimingChoice};
use super::load::load_str;
use super::ops::{self, dependency_order};
use super::positions::{self, Kind, Node, Pos};
use crate::db::model::{
    CousinMember, CousinSet, Group, GroupSpec, Node as DbNode, NodeSpec, ResourceSpec, Service,
    Settings,
};
use crate::db::{ApplyError, ClusterDb, Command, Op};
use crate::time::Time;
use nonstop_resource_types::Schema;

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
    let file = load_str(file_name, text)?;
    let root = positions::parse(text);
    check_file(file_name, file, root.as_ref())
}

/// Checks a file already read (the Tmax importer builds one in memory). Without `root`, every
/// diagnostic is placed at 1:1.
pub fn check_file(
    file_name: &str,
    file: ClusterFile,
    root: Option<&Node>,
) -> Result<Checked, Vec<Diagnostic>> {
    let mut c = Checker::new(file_name, root);
    c.settings(&file);
    c.nodes(&file);
    c.types(&file);
    c.groups(&file);
    c.resources(&file);
    c.cousins(&file);
    c.services(&file);
    c.finish(file)
}

/// A fault found by `apply`, reduced to what locating it needs.
struct Fault {
    /// The field (`owners`, `properties.MaxUser`), relative to the item.
    field: String,
    /// The name the message is about, to find it in a list.
    hint: Option<String>,
    /// The hint is a repeat: point at its second occurrence.
    repeat: bool,
    /// It only follows from an earlier failure.
    cascade: bool,
    message: String,
}

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

    fn settings(&mut self, file: &ClusterFile) {
        let mut s = Settings::default();
        match ops::settings(file) {
            Ok(ok) => s = ok,
            Err(e) => {
                let message = format!("{}: {}", e.field, e.reason);
                self.report(None, &plain("timing", message));
            }
        }
        if let Some(TimingChoice::Custom(p)) = &file.timing
            && let Err(reason) = p.check()
        {
            let field = format!("timing.{}", reason.split(' ').next().unwrap_or_default());
            self.report(None, &plain(&field, format!("timing: {reason}")));
            s.timing = Default::default();
        }
        if let Err(f) = self.apply(Op::SetSettings(s)) {
            self.report(None, &f);
        }
    }

    fn nodes(&mut self, file: &ClusterFile) {
        if file.nodes.is_empty() {
            let at = self.root.and_then(|r| r.get("nodes"));
            let msg = "nodes: a cluster needs at least one node".to_string();
            self.report(at, &plain("", msg));
        }
        self.find_duplicates("nodes", "node", file.nodes.iter().map(|n| n.name.as_str()));
        for (i, n) in file.nodes.iter().enumerate() {
            if self.skip("nodes", i) {
                continue;
            }
            if let Err(f) = self.apply(Op::PutNode(n.clone())) {
                self.report(self.item("nodes", i), &f);
                self.fail("node", &n.name);
            }
        }
    }

    fn types(&mut self, file: &ClusterFile) {
        self.find_duplicates("types", "type", file.types.iter().map(|t| t.name.as_str()));
        for (i, t) in file.types.iter().enumerate() {
            if self.skip("types", i) {
                continue;
            }
            let known: Vec<_> = self.db.types.values().cloned().collect();
            let result = match ops::type_def(t, &known) {
                Ok(def) => self.apply(Op::PutType(def)),
                Err(e) => Err(Fault {
                    cascade: t.base.as_ref().is_some_and(|b| self.has_failed("type", b)),
                    hint: first_quoted(&e.reason),
                    field: e.field.clone(),
                    repeat: false,
                    message: e.to_string(),
                }),
            };
            if let Err(f) = result {
                if !f.cascade {
                    self.report(self.item("types", i), &f);
                }
                self.fail("type", &t.name);
            }
        }
    }

    fn groups(&mut self, file: &ClusterFile) {
        self.find_duplicates(
            "groups",
            "group",
            file.groups.iter().map(|g| g.name.as_str()),
        );
        for (i, g) in file.groups.iter().enumerate() {
            if self.skip("groups", i) {
                continue;
            }
            let mut owners = g.owners.clone();
            let spec = GroupSpec {
                name: g.name.clone(),
                owners: Vec::new(),
                failback: g.failback.unwrap_or_default(),
                failover_limit: g.failover_limit.unwrap_or_default(),
                target: g.target.unwrap_or_default(),
            };
            let item = self.item("groups", i);
            let ok = self.retrying(item, "owners", &mut owners, |s, owners| {
                let spec = GroupSpec {
                    owners: owners.to_vec(),
                    ..spec.clone()
                };
                s.apply(Op::PutGroup(spec))
            });
            if !ok && !self.db.groups.contains_key(&g.name) {
                self.keep_for_resources(spec, owners);
            }
        }
    }

    /// A group whose owners are wrong still holds resources worth checking: it goes into the
    /// scratch database as written (errors already reported); anything else wrong with it
    /// makes it a failed group, whose resources are not checked.
    fn keep_for_resources(&mut self, spec: GroupSpec, owners: Vec<String>) {
        const PROBE: &str = "probe-node";
        let relaxed = GroupSpec {
            owners: vec![PROBE.to_string()],
            ..spec.clone()
        };
        let mut probe = self.db.clone();
        let node = NodeSpec {
            name: PROBE.into(),
            ..NodeSpec::default()
        };
        probe.nodes.insert(PROBE.into(), DbNode::new(node));
        let only_owners = probe
            .apply(Command::policy(Time(0), Op::PutGroup(relaxed)))
            .is_ok();
        if only_owners {
            let spec = GroupSpec { owners, ..spec };
            self.db.groups.insert(spec.name.clone(), Group::new(spec));
        } else {
            self.fail("group", &spec.name);
        }
    }

    /// Applies with `list` as it stands; when the fault is one entry of `list` (named by the
    /// fault's hint), reports it, drops the entry and tries again. Returns whether it applied.
    fn retrying(
        &mut self,
        item: Option<&'a Node>,
        field: &str,
        list: &mut Vec<String>,
        mut attempt: impl FnMut(&mut Self, &[String]) -> Result<(), Fault>,
    ) -> bool {
        loop {
            let Err(f) = attempt(self, list) else {
                return true;
            };
            if !f.cascade {
                self.report(item, &f);
            }
            let entry = (f.field == field)
                .then(|| f.hint.as_ref().and_then(|h| find(list, h, f.repeat)))
                .flatten();
            match entry {
                // A list emptied by repairs would only add a "needs at least one" error.
                Some(k) if list.len() > 1 => drop(list.remove(k)),
                _ => return false,
            }
        }
    }

    fn resources(&mut self, file: &ClusterFile) {
        let all: Vec<(usize, usize, ResourceSpec)> = file
            .groups
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| {
                g.resources.iter().enumerate().map(move |(ri, r)| {
                    let spec = ResourceSpec {
                        name: r.name.clone(),
                        group: g.name.clone(),
                        type_name: r.type_name.clone(),
                        properties: r.properties.clone(),
                        depends_on: r.depends_on.clone(),
                        timings: r.timings,
                        target: r.target.unwrap_or_default(),
                    };
                    (gi, ri, spec)
                })
            })
            .collect();
        let names = all.iter().map(|(_, _, r)| r.name.as_str());
        self.find_duplicates("resources", "resource", names);
        let mut all: Vec<_> = all
            .into_iter()
            .enumerate()
            .filter(|(k, _)| !self.skip("resources", *k))
            .map(|(_, r)| r)
            .collect();
        self.break_cycles(&mut all);
        let keys: Vec<(&str, &[String])> = all
            .iter()
            .map(|(_, _, r)| (r.name.as_str(), r.depends_on.as_slice()))
            .collect();
        for k in dependency_order(&keys) {
            let (gi, ri, spec) = all[k].clone();
            self.resource(self.resource_item(gi, ri), spec);
        }
    }

    fn resource(&mut self, item: Option<&'a Node>, mut spec: ResourceSpec) {
        let name = spec.name.clone();
        if self.has_failed("group", &spec.group) || self.has_failed("type", &spec.type_name) {
            return self.fail("resource", &name);
        }
        let relaxed = !self.properties_valid(item, &spec);
        let saved = relaxed.then(|| self.relax_type(&mut spec));
        let mut deps = std::mem::take(&mut spec.depends_on);
        let ok = self.retrying(item, "depends_on", &mut deps, |s, deps| {
            let spec = ResourceSpec {
                depends_on: deps.to_vec(),
                ..spec.clone()
            };
            s.apply(Op::PutResource(spec))
        });
        if let Some(saved) = saved {
            let checked = std::mem::replace(&mut self.db, saved);
            if let Some(r) = checked.resources.get(&name) {
                self.db.resources.insert(name.clone(), r.clone());
            }
        }
        if !ok {
            self.fail("resource", &name);
        }
    }

    /// For a resource whose properties were already reported: checks the rest of it (group,
    /// type, dependencies) against a copy of the database whose copy of its type takes any
    /// properties. Returns the real database, to put back afterwards.
    fn relax_type(&mut self, spec: &mut ResourceSpec) -> ClusterDb {
        let mut relaxed = self.db.clone();
        if let Some(t) = relaxed.types.get_mut(&spec.type_name) {
            t.schema = Schema::default();
        }
        spec.properties.clear();
        std::mem::replace(&mut self.db, relaxed)
    }

    /// Checks every property against the type's schema, so that each bad one is reported at its
    /// own line (apply stops at the first).
    fn properties_valid(&mut self, item: Option<&'a Node>, spec: &ResourceSpec) -> bool {
        let Some(ty) = self.db.types.get(&spec.type_name) else {
            return true; // apply names the unknown type
        };
        let Err(errors) = ty.schema.validate(&spec.properties) else {
            return true;
        };
        for e in errors {
            let field = format!("properties.{}", e.property);
            let message = format!("resource {:?}: {field}: {}", spec.name, e.reason);
            self.report(item, &plain(&field, message));
        }
        false
    }

    /// Finds dependency cycles among the file's resources, reports each at the dependency that
    /// closes it, and drops that dependency so the rest can be checked.
    fn break_cycles(&mut self, all: &mut [(usize, usize, ResourceSpec)]) {
        let index: BTreeMap<String, usize> = all
            .iter()
            .enumerate()
            .map(|(k, (_, _, r))| (r.name.clone(), k))
            .collect();
        let mut done = BTreeSet::new();
        for start in 0..all.len() {
            let mut stack = Vec::new();
            self.visit(all, &index, start, &mut stack, &mut done);
        }
    }

    fn visit(
        &mut self,
        all: &mut [(usize, usize, ResourceSpec)],
        index: &BTreeMap<String, usize>,
        k: usize,
        stack: &mut Vec<usize>,
        done: &mut BTreeSet<usize>,
    ) {
        if done.contains(&k) {
            return;
        }
        stack.push(k);
        let mut d = 0;
        while d < all[k].2.depends_on.len() {
            let Some(&next) = index.get(&all[k].2.depends_on[d]) else {
                d += 1;
                continue;
            };
            if let Some(at) = stack.iter().position(|&s| s == next) {
                self.report_cycle(all, &stack[at..], k, d);
                all[k].2.depends_on.remove(d);
                continue;
            }
            self.visit(all, index, next, stack, done);
            d += 1;
        }
        stack.pop();
        done.insert(k);
    }

    fn report_cycle(
        &mut self,
        all: &[(usize, usize, ResourceSpec)],
        ring: &[usize],
        k: usize,
        d: usize,
    ) {
        let mut path: Vec<&str> = ring.iter().map(|&i| all[i].2.name.as_str()).collect();
        path.push(&all[ring[0]].2.name);
        let (gi, ri, spec) = &all[k];
        let message = format!(
            "resource {:?}: depends_on: dependency cycle {}",
            spec.name,
            path.join(" -> ")
        );
        let fault = Fault {
            hint: Some(spec.depends_on[d].clone()),
            ..plain("depends_on", message)
        };
        self.report(self.resource_item(*gi, *ri), &fault);
    }

    fn cousins(&mut self, file: &ClusterFile) {
        let names = file.cousins.iter().map(|c| c.name.as_str());
        self.find_duplicates("cousins", "cousin set", names);
        for (i, c) in file.cousins.iter().enumerate() {
            if self.skip("cousins", i) {
                continue;
            }
            let item = self.item("cousins", i);
            let loads: BTreeMap<String, _> = c
                .members
                .iter()
                .map(|m| (m.group.clone(), m.load))
                .collect();
            let mut groups: Vec<String> = c.members.iter().map(|m| m.group.clone()).collect();
            self.retrying(item, "members", &mut groups, |s, groups| {
                let members = groups
                    .iter()
                    .map(|g| CousinMember {
                        group: g.clone(),
                        load: loads[g],
                    })
                    .collect();
                let name = c.name.clone();
                s.apply(Op::PutCousinSet(CousinSet { name, members }))
            });
        }
    }

    fn services(&mut self, file: &ClusterFile) {
        let names = file.services.iter().map(|s| s.name.as_str());
        self.find_duplicates("services", "service", names);
        for (i, s) in file.services.iter().enumerate() {
            if self.skip("services", i) {
                continue;
            }
            let svc = Service {
                name: s.name.clone(),
                group: s.group.clone(),
            };
            if let Err(f) = self.apply(Op::PutService(svc))
                && !f.cascade
            {
                self.report(self.item("services", i), &f);
            }
        }
    }

    fn has_failed(&self, kind: &str, name: &str) -> bool {
        self.failed.get(kind).is_some_and(|s| s.contains(name))
    }

    fn skip(&self, section: &str, index: usize) -> bool {
        self.duplicates.contains(&(section.to_string(), index))
    }

    /// Reports every name used a second time in a list, and leaves those items out: applying
    /// them would silently replace the first.
    fn find_duplicates<'n>(
        &mut self,
        section: &str,
        kind: &str,
        names: impl Iterator<Item = &'n str>,
    ) {
        let mut first: BTreeMap<&str, usize> = BTreeMap::new();
        let names: Vec<&str> = names.collect();
        for (i, name) in names.iter().enumerate() {
            let Some(&j) = first.get(name) else {
                first.insert(name, i);
                continue;
            };
            self.duplicates.insert((section.to_string(), i));
            let (here, there) = if section == "resources" {
                (self.nth_resource(i), self.nth_resource(j))
            } else {
                (self.item(section, i), self.item(section, j))
            };
            let line = there.map_or(0, |n| n.deepest("name").pos.line);
            let message = format!("{kind} {name:?}: defined twice (first at line {line})");
            self.report(here, &plain("name", message));
        }
    }

    /// The `n`th resource counting through every group.
    fn nth_resource(&self, n: usize) -> Option<&'a Node> {
        let groups = self.root?.get("groups")?.items();
        groups
            .iter()
            .flat_map(|g| g.get("resources").map(Node::items).unwrap_or_default())
            .nth(n)
    }

    fn finish(mut self, file: ClusterFile) -> Result<Checked, Vec<Diagnostic>> {
        if self.diags.is_empty() {
            match build(&file) {
                Ok((ops, db)) => return Ok(Checked { file, ops, db }),
                // Not expected: the item-by-item pass accepted it. Say so rather than panic.
                Err(message) => self.report(None, &plain("", message)),
            }
        }
        self.diags.sort_by_key(|d| (d.line, d.column));
        Err(self.diags)
    }
}

/// The commands for `file` and a fresh database with them applied as one batch.
fn build(file: &ClusterFile) -> Result<(Vec<Op>, ClusterDb), String> {
    let ops = ops::to_ops(file).map_err(|e| e.to_string())?;
    let mut db = ClusterDb::new();
    let cmd = Command::policy(Time(0), Op::Batch(ops.clone()));
    db.apply(cmd).map_err(|e| e.to_string())?;
    Ok((ops, db))
}

fn plain(field: &str, message: String) -> Fault {
    Fault {
        field: field.to_string(),
        hint: None,
        repeat: false,
        cascade: false,
        message,
    }
}

/// The first `"quoted"` word of a message.
fn first_quoted(s: &str) -> Option<String> {
    let start = s.find('"')? + 1;
    let len = s[start..].find('"')?;
    Some(s[start..start + len].to_string())
}

/// The index of `name` in `list`; its second occurrence when `repeat`.
fn find(list: &[String], name: &str, repeat: bool) -> Option<usize> {
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
fn locate(item: Option<&Node>, fault: &Fault) -> Pos {
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
