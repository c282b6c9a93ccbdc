//! Checking the items of a file other than resources: settings, nodes, types, groups,
//! cousin sets, services, and names used twice.

use std::collections::{BTreeMap, BTreeSet};

use super::Checker;
use super::locate::{Fault, find, first_quoted, plain};
use crate::config::file::{ClusterFile, TimingChoice};
use crate::config::ops;
use crate::config::positions::Node;
use crate::db::model::{
    AlertFault, CousinMember, CousinSet, Fencing, Group, GroupSpec, Node as DbNode, NodeSpec,
    Service, Settings, check_alerts,
};
use crate::db::{Command, Op};
use crate::time::Time;

impl<'a> Checker<'a> {
    pub(super) fn settings(&mut self, file: &ClusterFile) {
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
        // Every fault of every alert, each at its value; the rest of the settings are checked
        // without the alerts at fault.
        let faults = check_alerts(&s.alerts);
        for f in &faults {
            self.report(self.alert_value(f), &plain("", f.to_string()));
        }
        let bad: BTreeSet<usize> = faults.iter().map(|f| f.index).collect();
        s.alerts = (s.alerts.into_iter().enumerate())
            .filter(|(i, _)| !bad.contains(i))
            .map(|(_, a)| a)
            .collect();
        if let Err(f) = self.apply(Op::SetSettings(s)) {
            self.report(None, &f);
        }
    }

    /// Where an alert's fault sits: its field's value, or the list entry the field names
    /// (`kinds[1]`).
    fn alert_value(&self, f: &AlertFault) -> Option<&'a Node> {
        let item = self.item("alerts", f.index)?;
        let (key, entry) = match f.field.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (f.field.as_str(), None),
        };
        let Some(value) = item.get(key) else {
            return Some(item);
        };
        Some(entry.and_then(|i| value.at(i)).unwrap_or(value))
    }

    pub(super) fn nodes(&mut self, file: &ClusterFile) {
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
                continue;
            }
            let unfenced = !n.witness && !n.fence.as_ref().is_some_and(|m| m.runs());
            if file.fencing == Some(Fencing::Required) && unfenced {
                let message = format!(
                    "node {:?}: fence: fencing is required (fencing: required), so every node \
                     that runs groups needs a fence method: give fence: {{agent: ..., params: \
                     {{...}}}} or {{command: ..., args: [...]}}, or set fencing: lease",
                    n.name
                );
                self.report(self.item("nodes", i), &plain("fence", message));
                self.fail("node", &n.name);
            }
        }
    }

    pub(super) fn types(&mut self, file: &ClusterFile) {
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

    pub(super) fn groups(&mut self, file: &ClusterFile) {
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
    pub(super) fn keep_for_resources(&mut self, spec: GroupSpec, owners: Vec<String>) {
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
    pub(super) fn retrying(
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

    pub(super) fn cousins(&mut self, file: &ClusterFile) {
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

    pub(super) fn services(&mut self, file: &ClusterFile) {
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

    /// Reports every name used a second time in a list, and leaves those items out: applying
    /// them would silently replace the first.
    pub(super) fn find_duplicates<'n>(
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
    pub(super) fn nth_resource(&self, n: usize) -> Option<&'a Node> {
        let groups = self.root?.get("groups")?.items();
        groups
            .iter()
            .flat_map(|g| g.get("resources").map(Node::items).unwrap_or_default())
            .nth(n)
    }
}
