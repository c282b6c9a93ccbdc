//! Applying configuration changes: nodes, types, groups, resources, dependencies, cousin sets,
//! services and settings. Every check runs before anything changes.

use std::collections::BTreeSet;

use nonstop_contract::{Timings, TypeDef, check_host_port};

use super::discovered::{Undeclared, no_such_parameter, undeclared_reason};
use super::error::{Result, invalid, not_found, refused, subject, unknown};
use super::event::EventKind;
use super::localized::{field, validate_overrides};
use super::model::*;
use super::{ApplyError, ClusterDb};
use nonstop_contract::names::{NAME_RULE, is_safe_name};

/// Names follow [`nonstop_contract::names::NAME_RULE`].
pub(crate) fn check_name(kind: &str, name: &str) -> Result<()> {
    if is_safe_name(name) {
        Ok(())
    } else {
        Err(invalid(subject(kind, name), "name", NAME_RULE))
    }
}

/// Every duration of a type's or a resource's timings within its range.
fn check_timings(subj: &str, t: &Timings) -> Result<()> {
    t.check()
        .map_err(|(field, why)| invalid(subj.to_string(), &format!("timings.{field}"), why))
}

fn changed(out: &mut Vec<EventKind>, sign: char, kind: &str, name: &str) {
    out.push(EventKind::ConfigChanged {
        change: format!("{sign} {kind} {name}"),
    });
}

impl ClusterDb {
    pub(super) fn put_node(&mut self, spec: NodeSpec, out: &mut Vec<EventKind>) -> Result<()> {
        check_name("node", &spec.name)?;
        let subj = subject("node", &spec.name);
        if let Some(a) = &spec.address {
            check_host_port(a).map_err(|why| invalid(subj.clone(), "address", why))?;
        }
        super::fence::check_method(&spec)?;
        if spec.witness
            && let Some(g) = self.groups.values().find(|g| {
                g.rank(&spec.name).is_some()
                    && (g.spec.owners.iter()).all(|o| {
                        *o == spec.name || self.nodes.get(o).is_some_and(|n| n.spec.witness)
                    })
            })
        {
            let why = format!(
                "group {:?} would be left with only witnesses as owners, so it could never run: \
                 give it another owner first",
                g.spec.name
            );
            return Err(invalid(subj, "witness", why));
        }
        match self.nodes.get_mut(&spec.name) {
            Some(n) if n.spec == spec => {}
            Some(n) => {
                changed(out, '~', "node", &spec.name);
                n.spec = spec;
            }
            None => {
                changed(out, '+', "node", &spec.name);
                self.nodes.insert(spec.name.clone(), Node::new(spec));
            }
        }
        Ok(())
    }

    pub(super) fn remove_node(&mut self, name: &str, out: &mut Vec<EventKind>) -> Result<()> {
        let subj = subject("node", name);
        if !self.nodes.contains_key(name) {
            return Err(not_found("node", name));
        }
        if let Some(g) = self.groups_on(name).next() {
            let why = format!(
                "it owns group {:?}: drain it first (nonstop node pause {name}) and remove it \
                 once its groups have moved",
                g.spec.name
            );
            return Err(refused(subj, why));
        }
        if let Some(g) = self.groups.values().find(|g| g.rank(name).is_some()) {
            let why = format!("group {:?} lists it as an owner", g.spec.name);
            return Err(refused(subj, why));
        }
        self.nodes.remove(name);
        changed(out, '-', "node", name);
        Ok(())
    }

    pub(super) fn put_type(&mut self, def: TypeDef, out: &mut Vec<EventKind>) -> Result<()> {
        let subj = subject("type", &def.name);
        check_name("type", &def.name)?;
        if let Err(errs) = def.check() {
            let reason = errs
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(invalid(subj, "properties", reason));
        }
        check_timings(&subj, &def.timings)?;
        // Every resource of the type must still validate under the new schema.
        let mut revalidated = Vec::new();
        for r in self
            .resources
            .values()
            .filter(|r| r.spec.type_name == def.name)
        {
            let would_not = |reason: String| {
                let why = format!("resource {:?} would not validate: {reason}", r.spec.name);
                refused(subj.clone(), why)
            };
            let props = def.schema.validate(&r.spec.properties).map_err(|errs| {
                let reasons: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
                would_not(reasons.join("; "))
            })?;
            let overrides = validate_overrides(&def.schema, &props, &r.spec.node_properties)
                .map_err(|(node, e)| {
                    would_not(format!("{}: {}", field(&node, &e.property), e.reason))
                })?;
            revalidated.push((r.spec.name.clone(), props, overrides));
        }
        match self.types.get(&def.name) {
            Some(old) if *old == def => return Ok(()),
            Some(_) => changed(out, '~', "type", &def.name),
            None => changed(out, '+', "type", &def.name),
        }
        for (name, props, overrides) in revalidated {
            let r = self
                .resources
                .get_mut(&name)
                .expect("collected from the map above");
            r.spec.properties = props;
            r.spec.node_properties = overrides;
            if r.spec.timings.is_none() {
                r.timings = def.timings;
            }
        }
        self.types.insert(def.name.clone(), def);
        Ok(())
    }

    pub(super) fn remove_type(&mut self, name: &str, out: &mut Vec<EventKind>) -> Result<()> {
        let subj = subject("type", name);
        if !self.types.contains_key(name) {
            return Err(not_found("type", name));
        }
        if let Some(r) = self.resources.values().find(|r| r.spec.type_name == name) {
            return Err(refused(subj, format!("resource {:?} uses it", r.spec.name)));
        }
        self.types.remove(name);
        changed(out, '-', "type", name);
        Ok(())
    }

    pub(super) fn put_group(&mut self, spec: GroupSpec, out: &mut Vec<EventKind>) -> Result<()> {
        check_name("group", &spec.name)?;
        self.check_group_spec(&spec)?;
        self.check_owners_keep_overrides(&spec)?;
        match self.groups.get_mut(&spec.name) {
            Some(g) if g.spec == spec => {}
            Some(g) => {
                changed(out, '~', "group", &spec.name);
                g.spec = spec;
            }
            None => {
                changed(out, '+', "group", &spec.name);
                self.groups.insert(spec.name.clone(), Group::new(spec));
            }
        }
        Ok(())
    }

    fn check_group_spec(&self, spec: &GroupSpec) -> Result<()> {
        let subj = subject("group", &spec.name);
        if spec.owners.is_empty() {
            return Err(invalid(
                subj,
                "owners",
                "a group needs at least its home node",
            ));
        }
        for (i, n) in spec.owners.iter().enumerate() {
            if !self.nodes.contains_key(n) {
                return Err(unknown(subj, "owners", "node", n));
            }
            if spec.owners[..i].contains(n) {
                let reason = if spec.owners[0] == *n {
                    format!("node {n:?} is the home node and cannot also be a backup")
                } else {
                    format!("node {n:?} appears twice")
                };
                return Err(invalid(subj, "owners", reason));
            }
        }
        if spec.owners.iter().all(|n| self.nodes[n].spec.witness) {
            let why = "every owner is a witness, and a witness runs no resources: the group could \
                       never run";
            return Err(invalid(subj, "owners", why));
        }
        if let Failback::Window { start, end } = spec.failback
            && (start > 23 || end > 24 || start == end)
        {
            let reason = format!("window {start}-{end}: hours are 0..24 and must differ");
            return Err(invalid(subj, "failback", reason));
        }
        FAILOVER_WINDOW
            .check(spec.failover_limit.window)
            .map_err(|why| invalid(subj, "failover_limit.window", why))?;
        Ok(())
    }

    pub(super) fn remove_group(&mut self, name: &str, out: &mut Vec<EventKind>) -> Result<()> {
        let subj = subject("group", name);
        if !self.groups.contains_key(name) {
            return Err(not_found("group", name));
        }
        if let Some(r) = self.group_resources(name).next() {
            return Err(refused(
                subj,
                format!("it still holds resource {:?}", r.spec.name),
            ));
        }
        if let Some(c) = self
            .cousin_sets
            .values()
            .find(|c| c.members.iter().any(|m| m.group == name))
        {
            return Err(refused(subj, format!("cousin set {:?} lists it", c.name)));
        }
        if let Some(s) = self.services.values().find(|s| s.group == name) {
            return Err(refused(
                subj,
                format!("service {:?} is served by it", s.name),
            ));
        }
        self.groups.remove(name);
        changed(out, '-', "group", name);
        Ok(())
    }

    pub(super) fn put_resource(
        &mut self,
        spec: ResourceSpec,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        check_name("resource", &spec.name)?;
        let subj = subject("resource", &spec.name);
        if !self.groups.contains_key(&spec.group) {
            return Err(unknown(subj, "group", "group", &spec.group));
        }
        let ty = self.resource_type(&spec)?;
        let props = self
            .validate_properties(ty, &spec.properties)
            .map_err(|errs| {
                let e = &errs[0];
                let more = if errs.len() > 1 {
                    format!(" (and {} more)", errs.len() - 1)
                } else {
                    String::new()
                };
                invalid(
                    subj.clone(),
                    &format!("properties.{}", e.property),
                    format!("{}{more}", e.reason),
                )
            })?;
        let node_properties = self.check_node_properties(&spec, &ty.schema, &props)?;
        if let Some(t) = &spec.timings {
            check_timings(&subj, t)?;
        }
        let timings = spec.timings.unwrap_or(ty.timings);
        if let Some(old) = self.resources.get(&spec.name)
            && old.spec.group != spec.group
        {
            let reason = format!(
                "it belongs to group {:?}: remove it and add it again to move it",
                old.spec.group
            );
            return Err(invalid(subj, "group", reason));
        }
        self.check_dependencies(&spec)?;
        let spec = ResourceSpec {
            properties: props,
            node_properties,
            ..spec
        };
        self.check_unique(&spec, ty)?;
        match self.resources.get_mut(&spec.name) {
            Some(r) if r.spec == spec => {}
            Some(r) => {
                changed(out, '~', "resource", &spec.name);
                r.spec = spec;
                r.timings = timings;
            }
            None => {
                changed(out, '+', "resource", &spec.name);
                let r = Resource {
                    target: spec.target,
                    spec,
                    timings,
                    state: ResourceState::Offline,
                    since: crate::time::Time(0),
                    restarts: Vec::new(),
                    gave_up: false,
                    message: None,
                };
                let members = &mut self
                    .groups
                    .get_mut(&r.spec.group)
                    .expect("checked above")
                    .resources;
                if let Err(at) = members.binary_search(&r.spec.name) {
                    members.insert(at, r.spec.name.clone());
                }
                self.resources.insert(r.spec.name.clone(), r);
            }
        }
        Ok(())
    }

    /// The type of a resource: the declared one, else the one its nodes discovered (and agree
    /// on); an error for its `type` field otherwise.
    pub(crate) fn resource_type(&self, spec: &ResourceSpec) -> Result<&TypeDef> {
        if let Some(t) = self.types.get(&spec.type_name) {
            return Ok(t);
        }
        let subj = subject("resource", &spec.name);
        match self.discovered_type(&spec.type_name) {
            Ok(t) => Ok(t),
            Err(Undeclared::Unreported) if !spec.type_name.starts_with("ocf:") => {
                Err(unknown(subj, "type", "type", &spec.type_name))
            }
            Err(why) => Err(invalid(
                subj,
                "type",
                undeclared_reason(&spec.type_name, &why),
            )),
        }
    }

    /// Validates properties against `ty`'s schema; a type that is not declared (its schema is
    /// its meta-data) names what its meta-data lists for a property it does not take.
    pub(crate) fn validate_properties(
        &self,
        ty: &TypeDef,
        values: &nonstop_contract::Properties,
    ) -> std::result::Result<nonstop_contract::Properties, Vec<nonstop_contract::PropertyError>>
    {
        let from_meta_data = !self.types.contains_key(&ty.name);
        ty.schema.validate(values).map_err(|mut errs| {
            if from_meta_data {
                for e in errs
                    .iter_mut()
                    .filter(|e| ty.schema.get(&e.property).is_none())
                {
                    e.reason = no_such_parameter(ty, &e.property);
                }
            }
            errs
        })
    }

    /// Dependencies must exist, be in the same group, and form no cycle.
    fn check_dependencies(&self, spec: &ResourceSpec) -> Result<()> {
        let subj = subject("resource", &spec.name);
        for (i, d) in spec.depends_on.iter().enumerate() {
            if *d == spec.name {
                return Err(ApplyError::DependencyCycle {
                    path: vec![d.clone(), d.clone()],
                });
            }
            if spec.depends_on[..i].contains(d) {
                return Err(invalid(subj, "depends_on", format!("{d:?} appears twice")));
            }
            let dep = self
                .resources
                .get(d)
                .ok_or_else(|| unknown(subj.clone(), "depends_on", "resource", d))?;
            if dep.spec.group != spec.group {
                let reason = format!(
                    "{d:?} is in group {:?}, not {:?}: dependencies stay inside a group",
                    dep.spec.group, spec.group
                );
                return Err(invalid(subj, "depends_on", reason));
            }
        }
        // A cycle through the new edges: some dependency reaches back to this resource.
        for d in &spec.depends_on {
            if let Some(mut path) = self.path_between(d, &spec.name) {
                path.insert(0, spec.name.clone());
                return Err(ApplyError::DependencyCycle { path });
            }
        }
        Ok(())
    }

    /// A dependency path from `from` to `to` over the current edges, if any.
    fn path_between(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![vec![from.to_string()]];
        while let Some(path) = stack.pop() {
            let last = path.last().expect("paths are never empty");
            if last == to {
                return Some(path);
            }
            if !seen.insert(last.clone()) {
                continue;
            }
            if let Some(r) = self.resources.get(last) {
                for d in &r.spec.depends_on {
                    let mut next = path.clone();
                    next.push(d.clone());
                    stack.push(next);
                }
            }
        }
        None
    }

    pub(super) fn remove_resource(&mut self, name: &str, out: &mut Vec<EventKind>) -> Result<()> {
        let subj = subject("resource", name);
        let r = self
            .resources
            .get(name)
            .ok_or_else(|| not_found("resource", name))?;
        if !r.state.is_stopped() {
            return Err(refused(
                subj,
                format!("it is {}: take it offline first", r.state),
            ));
        }
        if let Some(d) = self
            .resources
            .values()
            .find(|d| d.spec.depends_on.iter().any(|x| x == name))
        {
            return Err(refused(
                subj,
                format!("resource {:?} depends on it", d.spec.name),
            ));
        }
        if let Some(r) = self.resources.remove(name)
            && let Some(g) = self.groups.get_mut(&r.spec.group)
        {
            g.resources.retain(|n| n != name);
        }
        changed(out, '-', "resource", name);
        Ok(())
    }

    pub(super) fn put_cousin_set(
        &mut self,
        set: CousinSet,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        check_name("cousin set", &set.name)?;
        let subj = subject("cousin set", &set.name);
        if set.members.len() < 2 {
            return Err(invalid(
                subj,
                "members",
                "a cousin set needs at least two groups",
            ));
        }
        for (i, m) in set.members.iter().enumerate() {
            if !self.groups.contains_key(&m.group) {
                return Err(unknown(subj, "members", "group", &m.group));
            }
            if set.members[..i].iter().any(|o| o.group == m.group) {
                return Err(invalid(
                    subj,
                    "members",
                    format!("group {:?} appears twice", m.group),
                ));
            }
            if let Some(other) = self
                .cousin_sets
                .values()
                .find(|c| c.name != set.name && c.members.iter().any(|o| o.group == m.group))
            {
                let reason = format!(
                    "group {:?} is already in cousin set {:?}",
                    m.group, other.name
                );
                return Err(invalid(subj, "members", reason));
            }
        }
        match self.cousin_sets.get(&set.name) {
            Some(old) if *old == set => return Ok(()),
            Some(_) => changed(out, '~', "cousin set", &set.name),
            None => changed(out, '+', "cousin set", &set.name),
        }
        self.cousin_sets.insert(set.name.clone(), set);
        Ok(())
    }

    pub(super) fn remove_cousin_set(&mut self, name: &str, out: &mut Vec<EventKind>) -> Result<()> {
        if self.cousin_sets.remove(name).is_none() {
            return Err(not_found("cousin set", name));
        }
        changed(out, '-', "cousin set", name);
        Ok(())
    }

    pub(super) fn put_service(&mut self, svc: Service, out: &mut Vec<EventKind>) -> Result<()> {
        check_name("service", &svc.name)?;
        if !self.groups.contains_key(&svc.group) {
            return Err(unknown(
                subject("service", &svc.name),
                "group",
                "group",
                &svc.group,
            ));
        }
        match self.services.get(&svc.name) {
            Some(old) if *old == svc => return Ok(()),
            Some(_) => changed(out, '~', "service", &svc.name),
            None => changed(out, '+', "service", &svc.name),
        }
        self.services.insert(svc.name.clone(), svc);
        Ok(())
    }

    pub(super) fn remove_service(&mut self, name: &str, out: &mut Vec<EventKind>) -> Result<()> {
        if self.services.remove(name).is_none() {
            return Err(not_found("service", name));
        }
        changed(out, '-', "service", name);
        Ok(())
    }

    pub(super) fn set_settings(&mut self, s: Settings, out: &mut Vec<EventKind>) -> Result<()> {
        s.timing
            .check()
            .map_err(|reason| invalid("settings".into(), "timing", reason))?;
        STARTUP_GRACE
            .check(s.startup_grace)
            .map_err(|why| invalid("settings".into(), "startup_grace", why))?;
        if s.utc_offset_minutes.abs() > 14 * 60 {
            return Err(invalid(
                "settings".into(),
                "utc_offset_minutes",
                "must be within ±14 hours",
            ));
        }
        if let Some(f) = check_alerts(&s.alerts).into_iter().next() {
            return Err(invalid("settings".into(), &f.path(), f.reason));
        }
        if self.settings != s {
            out.push(EventKind::ConfigChanged {
                change: "~ settings".into(),
            });
            self.settings = s;
        }
        Ok(())
    }
}
