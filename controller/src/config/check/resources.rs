//! Checking resources: properties against their type's schema (every bad one at its own line),
//! dependencies in an order apply accepts, and cycles reported where they close.

use std::collections::{BTreeMap, BTreeSet};

use nonstop_contract::{Properties, Schema};

use super::Checker;
use super::locate::{Fault, plain};
use crate::config::file::ClusterFile;
use crate::config::ops::dependency_order;
use crate::config::positions::Node;
use crate::db::model::ResourceSpec;
use crate::db::{ClusterDb, Op};

impl<'a> Checker<'a> {
    pub(super) fn resources(&mut self, file: &ClusterFile) {
        let all: Vec<(usize, usize, ResourceSpec)> = file
            .groups
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| {
                g.resources
                    .iter()
                    .enumerate()
                    .map(move |(ri, r)| (gi, ri, r.spec(&g.name)))
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

    pub(super) fn resource(&mut self, item: Option<&'a Node>, mut spec: ResourceSpec) {
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
    pub(super) fn relax_type(&mut self, spec: &mut ResourceSpec) -> ClusterDb {
        let mut relaxed = self.db.clone();
        if let Some(t) = relaxed.types.get_mut(&spec.type_name) {
            t.schema = Schema::default();
        }
        for t in relaxed
            .discovered
            .values_mut()
            .filter_map(|d| d.get_mut(&spec.type_name))
        {
            t.schema = Schema::default();
        }
        spec.properties.clear();
        // Keep the nodes, so that apply still checks that they exist and own the group.
        spec.node_properties.values_mut().for_each(|p| p.clear());
        std::mem::replace(&mut self.db, relaxed)
    }

    /// Checks every property against the type's schema, so that each bad one is reported at its
    /// own line (apply stops at the first).
    pub(super) fn properties_valid(&mut self, item: Option<&'a Node>, spec: &ResourceSpec) -> bool {
        let Some(ty) = self.db.type_named(&spec.type_name) else {
            return true; // apply names the unknown type
        };
        let errors = match self.db.validate_properties(ty, &spec.properties) {
            Ok(base) => node_errors(&ty.schema, &base, spec),
            Err(errors) => errors
                .into_iter()
                .map(|e| (format!("properties.{}", e.property), e.reason))
                .collect(),
        };
        for (field, reason) in &errors {
            let message = format!("resource {:?}: {field}: {reason}", spec.name);
            self.report(item, &plain(field, message));
        }
        errors.is_empty()
    }

    /// Finds dependency cycles among the file's resources, reports each at the dependency that
    /// closes it, and drops that dependency so the rest can be checked.
    pub(super) fn break_cycles(&mut self, all: &mut [(usize, usize, ResourceSpec)]) {
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

    pub(super) fn visit(
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

    pub(super) fn report_cycle(
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
}

/// Every property of every node's overrides that does not fit the schema on top of `base`:
/// (field, reason). Overridden nodes are apply's to check.
fn node_errors(schema: &Schema, base: &Properties, spec: &ResourceSpec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (node, over) in &spec.node_properties {
        let mut merged = base.clone();
        merged.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Err(errors) = schema.validate(&merged) {
            out.extend(
                errors
                    .into_iter()
                    .map(|e| (format!("node_properties.{node}.{}", e.property), e.reason)),
            );
        }
    }
    out
}
