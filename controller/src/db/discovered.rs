//! Types the nodes discovered: the definitions an OCF agent's or an `exec` plug-in's own
//! `meta-data` gives, as each node's agent reported them when it registered
//! ([`super::Op::TypesDiscovered`]). A resource whose type `types:` does not declare is checked
//! against them: every node that reported the type must report the same definition, or the
//! resource is refused naming two nodes that disagree and the first parameter where they
//! differ (docs/resource-types.md).

use std::collections::BTreeMap;

use nonstop_contract::plugin::ocf::clean_name;
use nonstop_contract::{HandlerRef, PropertyError, TypeDef};

use super::ClusterDb;
use super::error::{Result, invalid, subject};
use nonstop_contract::names::is_safe_name;

/// The most types one node may report (Debian's resource-agents has about 150 agents).
pub const MAX_DISCOVERED: usize = 4096;

/// Discovered types by node, then by type name.
pub type Discovered = BTreeMap<String, BTreeMap<String, TypeDef>>;

/// Why a type that `types:` does not declare cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Undeclared {
    /// No node of the cluster reported it.
    Unreported,
    /// Two nodes report different definitions.
    Disagree {
        /// The first node (by name) that reported it.
        first: String,
        /// A node whose definition differs from `first`'s.
        other: String,
        /// Where they differ (`parameter "fake"`, `timings`).
        what: String,
    },
}

impl ClusterDb {
    /// Records the types `node`'s agent discovered (replacing what it reported before). The
    /// node need not be in the database yet: an agent reports before the first `apply` adds its
    /// node, so that the same `apply` may use its types.
    pub(super) fn types_discovered(&mut self, node: &str, types: Vec<TypeDef>) -> Result<()> {
        let subj = subject("node", node);
        if !is_safe_name(node) {
            return Err(invalid(subj, "name", nonstop_contract::names::NAME_RULE));
        }
        if types.len() > MAX_DISCOVERED {
            let why = format!("{} types: at most {MAX_DISCOVERED}", types.len());
            return Err(invalid(subj, "types", why));
        }
        let mut found = BTreeMap::new();
        for (i, t) in types.into_iter().enumerate() {
            let field = format!("types[{i}]");
            check_discovered(&t).map_err(|why| invalid(subj.clone(), &field, why))?;
            if found.contains_key(&t.name) {
                let why = format!("{:?} reported twice", t.name);
                return Err(invalid(subj, &field, why));
            }
            found.insert(t.name.clone(), t);
        }
        if found.is_empty() {
            self.discovered.remove(node);
        } else {
            self.discovered.insert(node.to_string(), found);
        }
        Ok(())
    }

    /// The definition of type `name` as the nodes of the cluster discovered it (not the
    /// declared types: see [`ClusterDb::type_named`]).
    pub fn discovered_type(&self, name: &str) -> std::result::Result<&TypeDef, Undeclared> {
        let mut reports = self
            .discovered
            .iter()
            .filter(|(node, _)| self.nodes.contains_key(*node))
            .filter_map(|(node, types)| types.get(name).map(|t| (node, t)));
        let Some((first, def)) = reports.next() else {
            return Err(Undeclared::Unreported);
        };
        for (other, d) in reports {
            if d != def {
                return Err(Undeclared::Disagree {
                    first: first.clone(),
                    other: other.clone(),
                    what: difference(def, d),
                });
            }
        }
        Ok(def)
    }

    /// The type resources of `name` use: the declared one (built-in or from `types:`), else the
    /// one the nodes discovered, if they agree.
    pub fn type_named(&self, name: &str) -> Option<&TypeDef> {
        self.types
            .get(name)
            .or_else(|| self.discovered_type(name).ok())
    }

    /// The nodes of the cluster that reported type `name`.
    pub fn reported_by(&self, name: &str) -> Vec<String> {
        (self.discovered.iter())
            .filter(|(node, types)| self.nodes.contains_key(*node) && types.contains_key(name))
            .map(|(node, _)| node.clone())
            .collect()
    }

    /// The types resources may use without declaring them: each name the cluster's nodes
    /// reported and agree on (not declared in `types:`), with the nodes that reported it.
    pub fn reported_types(&self) -> Vec<(&TypeDef, Vec<String>)> {
        let names: std::collections::BTreeSet<&String> = (self.discovered.values())
            .flat_map(|types| types.keys())
            .collect();
        (names.into_iter())
            .filter(|n| !self.types.contains_key(*n))
            .filter_map(|n| {
                self.discovered_type(n)
                    .ok()
                    .map(|t| (t, self.reported_by(n)))
            })
            .collect()
    }

    /// The type resources of `name` run with, for what a running cluster needs (desired
    /// state, stop bounds): as [`ClusterDb::type_named`], or, while nodes disagree, the first
    /// node's report (the resource was applied against one of them).
    pub fn type_for_running(&self, name: &str) -> Option<&TypeDef> {
        self.type_named(name)
            .or_else(|| (self.discovered.values()).find_map(|types| types.get(name)))
    }
}

/// A discovered type must name itself as its handler does: `ocf:<provider>:<agent>` for an OCF
/// agent, a plug-in's name (not a built-in's) for an `exec` plug-in.
fn check_discovered(t: &TypeDef) -> std::result::Result<(), String> {
    match &t.handler {
        HandlerRef::Ocf { provider, agent } => {
            if !clean_name(provider) || !clean_name(agent) {
                return Err(format!("{:?}: bad provider or agent name", t.name));
            }
            if t.name != format!("ocf:{provider}:{agent}") {
                let why = format!("{:?} is not named ocf:{provider}:{agent}", t.name);
                return Err(why);
            }
        }
        HandlerRef::Exec(_) => {
            if !is_safe_name(&t.name) || t.name.starts_with("ocf:") {
                return Err(format!("{:?} cannot name a plug-in", t.name));
            }
            let builtin = nonstop_contract::builtin::builtin_types();
            if builtin.iter().any(|b| b.name == t.name) {
                return Err(format!("{:?} is a built-in type", t.name));
            }
        }
        HandlerRef::Builtin(_) => {
            return Err(format!("{:?}: a built-in is never discovered", t.name));
        }
    }
    t.check().map_err(|errs| {
        let reasons: Vec<String> = errs.iter().map(PropertyError::to_string).collect();
        format!("{:?}: {}", t.name, reasons.join("; "))
    })?;
    t.timings
        .check()
        .map_err(|(field, why)| format!("{:?}: timings.{field}: {why}", t.name))
}

/// The first place where two definitions of one type differ, in words.
pub fn difference(a: &TypeDef, b: &TypeDef) -> String {
    for p in &a.schema.properties {
        match b.schema.get(&p.name) {
            None => return format!("parameter {:?} (only on the first)", p.name),
            Some(q) if q != p => return format!("parameter {:?}", p.name),
            Some(_) => {}
        }
    }
    if let Some(q) = (b.schema.properties.iter()).find(|q| a.schema.get(&q.name).is_none()) {
        return format!("parameter {:?} (only on the second)", q.name);
    }
    if a.timings != b.timings {
        return "timings".into();
    }
    if a.handler != b.handler {
        return "handler".into();
    }
    if a.stop != b.stop {
        return "stop bound".into();
    }
    "description".into()
}

/// Why a resource of undeclared type `name` cannot be applied, for its `type` field.
pub(super) fn undeclared_reason(name: &str, why: &Undeclared) -> String {
    match why {
        Undeclared::Unreported => format!(
            "unknown type {name:?}: not declared in `types:`, and no node of the cluster reported \
             an agent or plug-in of that name"
        ),
        Undeclared::Disagree { first, other, what } => format!(
            "type {name:?} is not declared in `types:`, and nodes {first:?} and {other:?} report \
             different meta-data for it ({what} differs): install the same version on every \
             node, or declare the type"
        ),
    }
}

/// The reason for an unknown property of a type whose schema is its meta-data:
/// `ocf:heartbeat:Dummy takes no parameter "fake2" (its meta-data lists: state, fake)`.
pub(super) fn no_such_parameter(def: &TypeDef, property: &str) -> String {
    let known: Vec<&str> = (def.schema.properties.iter())
        .map(|p| p.name.as_str())
        .collect();
    let listed = if known.is_empty() {
        "its meta-data lists none".to_string()
    } else {
        format!("its meta-data lists: {}", known.join(", "))
    };
    format!("{} takes no parameter {property:?} ({listed})", def.name)
}

/// How [`Discovered`] is written in a snapshot: each distinct definition once, and each node's
/// types as positions in that list. Nodes mostly report the same agents (one resource-agents
/// package on every machine), so a snapshot holds one copy of Debian's ~140 definitions (about
/// 250 KB) instead of one per node.
pub mod shared {
    use std::collections::{BTreeMap, HashMap};

    use nonstop_contract::TypeDef;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Discovered;

    #[derive(Serialize)]
    struct Out<'a> {
        defs: Vec<&'a TypeDef>,
        nodes: BTreeMap<&'a str, BTreeMap<&'a str, usize>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct In {
        defs: Vec<TypeDef>,
        nodes: BTreeMap<String, BTreeMap<String, usize>>,
    }

    /// Writes `d` with each distinct definition once.
    pub fn serialize<S: Serializer>(d: &Discovered, s: S) -> Result<S::Ok, S::Error> {
        let mut defs: Vec<&TypeDef> = Vec::new();
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut nodes = BTreeMap::new();
        for (node, types) in d {
            let mut at = BTreeMap::new();
            for (name, def) in types {
                let same = by_name.entry(name).or_default();
                let k = match same.iter().find(|k| defs[**k] == def) {
                    Some(k) => *k,
                    None => {
                        defs.push(def);
                        same.push(defs.len() - 1);
                        defs.len() - 1
                    }
                };
                at.insert(name.as_str(), k);
            }
            nodes.insert(node.as_str(), at);
        }
        Out { defs, nodes }.serialize(s)
    }

    /// Reads what [`serialize`] wrote; a position past the list is an error naming it.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Discovered, D::Error> {
        let In { defs, nodes } = In::deserialize(d)?;
        let mut out = Discovered::new();
        for (node, types) in nodes {
            let mut mine = BTreeMap::new();
            for (name, k) in types {
                let Some(def) = defs.get(k) else {
                    return Err(serde::de::Error::custom(format!(
                        "discovered: node {node:?} type {name:?} names definition {k} of {}",
                        defs.len()
                    )));
                };
                mine.insert(name, def.clone());
            }
            out.insert(node, mine);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use nonstop_contract::{
        HandlerRef, Millis, PropertyKind, PropertySpec, Schema, StopBound, Timings, TypeDef, Value,
    };

    use super::super::tests::{group, node, op, resource};
    use super::super::*;

    /// Dummy as Debian's resource-agents describes it: `state` and `fake`, 20 s timeouts.
    fn dummy(fake: PropertyKind) -> TypeDef {
        TypeDef {
            name: "ocf:heartbeat:Dummy".into(),
            handler: HandlerRef::Ocf {
                provider: "heartbeat".into(),
                agent: "Dummy".into(),
            },
            schema: Schema::new(vec![
                PropertySpec::new("state", PropertyKind::String),
                PropertySpec::new("fake", fake),
            ]),
            timings: Timings {
                pending_timeout: Millis::secs(20),
                ..Timings::default()
            },
            description: "Example stateless resource agent".into(),
            stop: StopBound::Within(Millis::secs(21)),
            reconfigures: false,
        }
    }

    fn discovered(node: &str, types: Vec<TypeDef>) -> Op {
        Op::TypesDiscovered {
            node: node.into(),
            types,
        }
    }

    fn agent(db: &mut ClusterDb, o: Op) -> Result<Vec<Event>> {
        db.apply(Command::agent(crate::time::Time(5), "n", o))
    }

    fn cluster() -> ClusterDb {
        let mut db = ClusterDb::new();
        for o in [node("a"), node("b"), group("G", &["a", "b"])] {
            op(&mut db, o).unwrap();
        }
        db
    }

    fn dummy_resource(props: &[(&str, Value)]) -> Op {
        resource("d", "G", "ocf:heartbeat:Dummy", props, &[])
    }

    #[test]
    fn an_undeclared_type_is_checked_against_its_meta_data_with_its_timings() {
        let mut db = cluster();
        let e = op(&mut db, dummy_resource(&[])).unwrap_err().to_string();
        assert!(e.contains("resource \"d\": type: unknown type"), "{e}");
        assert!(e.contains("not declared in `types:`"), "{e}");
        // Reported before node a is even in the database: kept, and used once it is.
        let mut early = ClusterDb::new();
        agent(
            &mut early,
            discovered("a", vec![dummy(PropertyKind::String)]),
        )
        .unwrap();
        assert!(early.discovered.contains_key("a"));
        assert!(
            early.type_named("ocf:heartbeat:Dummy").is_none(),
            "a is no node yet"
        );
        agent(&mut db, discovered("a", vec![dummy(PropertyKind::String)])).unwrap();
        let s = Value::Str("x".into());
        let e = op(&mut db, dummy_resource(&[("bogus", s.clone())]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "resource \"d\": properties.bogus: ocf:heartbeat:Dummy takes no parameter \"bogus\" \
             (its meta-data lists: state, fake)"
        );
        op(&mut db, dummy_resource(&[("fake", s)])).unwrap();
        let r = &db.resources["d"];
        assert_eq!(
            r.timings.pending_timeout,
            Millis::secs(20),
            "the agent's timeout"
        );
        let g = db.groups["G"].clone();
        assert_eq!(
            db.stop_wait(&g),
            StopBound::Within(Millis::secs(21)).beyond(db.settings.timing.terminate),
            "the group waits out an OCF stop after its node is lost"
        );
        let desired = db.desired_for_group(&g, "a");
        assert_eq!(
            desired[0].handler,
            HandlerRef::Ocf {
                provider: "heartbeat".into(),
                agent: "Dummy".into()
            }
        );
    }

    #[test]
    fn nodes_that_disagree_are_named_with_the_parameter_and_declared_types_win() {
        let mut db = cluster();
        agent(&mut db, discovered("a", vec![dummy(PropertyKind::String)])).unwrap();
        agent(&mut db, discovered("b", vec![dummy(PropertyKind::Int)])).unwrap();
        let e = op(&mut db, dummy_resource(&[])).unwrap_err().to_string();
        assert!(
            e.contains("nodes \"a\" and \"b\" report different meta-data")
                && e.contains("parameter \"fake\" differs"),
            "{e}"
        );
        // A declared type wins over what the nodes report.
        let mut declared = dummy(PropertyKind::Bool);
        declared.description = "declared".into();
        op(&mut db, Op::PutType(declared)).unwrap();
        op(&mut db, dummy_resource(&[("fake", Value::Bool(true))])).unwrap();
        // A node that reports again with the same meta-data as the other ends the quarrel.
        let mut db = cluster();
        agent(&mut db, discovered("a", vec![dummy(PropertyKind::String)])).unwrap();
        agent(&mut db, discovered("b", vec![dummy(PropertyKind::Int)])).unwrap();
        agent(&mut db, discovered("b", vec![dummy(PropertyKind::String)])).unwrap();
        op(&mut db, dummy_resource(&[])).unwrap();
        // An empty report forgets the node's types.
        agent(&mut db, discovered("b", vec![])).unwrap();
        assert!(!db.discovered.contains_key("b"));
    }

    #[test]
    fn a_report_is_refused_whole_naming_the_bad_type() {
        let mut db = cluster();
        let before = db.clone();
        let mut misnamed = dummy(PropertyKind::String);
        misnamed.name = "ocf:heartbeat:Other".into();
        let e = agent(
            &mut db,
            discovered("a", vec![dummy(PropertyKind::String), misnamed]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("types[1]") && e.contains("is not named"), "{e}");
        let mut builtin = dummy(PropertyKind::String);
        builtin.name = "process".into();
        builtin.handler = HandlerRef::Exec("/x/process".into());
        let e = agent(&mut db, discovered("a", vec![builtin])).unwrap_err();
        assert!(e.to_string().contains("is a built-in type"), "{e}");
        let twice = vec![dummy(PropertyKind::String), dummy(PropertyKind::String)];
        let e = agent(&mut db, discovered("a", twice)).unwrap_err();
        assert!(e.to_string().contains("reported twice"), "{e}");
        let e = agent(&mut db, discovered("../x", vec![])).unwrap_err();
        assert!(e.to_string().contains("node \"../x\": name"), "{e}");
        assert_eq!(db, before, "a refused report changes nothing");
    }

    #[test]
    fn difference_names_the_first_parameter_that_differs() {
        let a = dummy(PropertyKind::String);
        let mut b = a.clone();
        assert_eq!(difference(&a, &b), "description");
        b.schema.properties.pop();
        assert_eq!(difference(&a, &b), "parameter \"fake\" (only on the first)");
        assert_eq!(
            difference(&b, &a),
            "parameter \"fake\" (only on the second)"
        );
        let mut c = a.clone();
        c.timings.pending_timeout = Millis::secs(30);
        assert_eq!(difference(&a, &c), "timings");
    }

    /// A snapshot holds each distinct definition once, and reads back the same.
    #[test]
    fn a_snapshot_keeps_one_copy_of_what_nodes_share() {
        let mut db = cluster();
        for n in ["a", "b"] {
            agent(&mut db, discovered(n, vec![dummy(PropertyKind::String)])).unwrap();
        }
        let one = serde_json::to_string(&db).unwrap();
        // A third node with the same definition adds its name and a position, not a copy.
        op(&mut db, node("c")).unwrap();
        agent(&mut db, discovered("c", vec![dummy(PropertyKind::String)])).unwrap();
        let same = serde_json::to_string(&db).unwrap();
        assert_eq!(same.matches("Example stateless resource agent").count(), 1);
        assert!(
            same.len() < one.len() + 200,
            "{} -> {}",
            one.len(),
            same.len()
        );
        // Another version on a fourth node is its own definition.
        op(&mut db, node("d")).unwrap();
        agent(&mut db, discovered("d", vec![dummy(PropertyKind::Int)])).unwrap();
        let text = serde_json::to_string(&db).unwrap();
        assert_eq!(text.matches("Example stateless resource agent").count(), 2);
        let back: ClusterDb = serde_json::from_str(&text).unwrap();
        assert_eq!(back, db);
        // A position past the list is refused, naming it.
        let bad = text.replace("\"Dummy\":1", "\"Dummy\":7");
        let bad = bad.replace("\"ocf:heartbeat:Dummy\":1", "\"ocf:heartbeat:Dummy\":7");
        let e = serde_json::from_str::<ClusterDb>(&bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "discovered: node \"d\" type \"ocf:heartbeat:Dummy\" names definition 7 of 2"
            ),
            "{e}"
        );
    }
}
