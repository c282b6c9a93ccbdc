//! The service directory: "where is service S served now", answered with the Tmax LOAD rules of
//! the cousin set that serves it (Tmax 3.2.3 LOAD, 3.5.1).
//!
//! - `-1` local only: a client is served by the member on its own node, never elsewhere.
//! - `-2` local first: the member on the client's node, then the others.
//! - `-3` standby: routed to only when every member that is not a standby is down; among the
//!   standbys, local first (as the manual says).
//! - `0` least loaded: the member whose node runs the fewest online resources first (nonstop has
//!   no view of a TP monitor's queue lengths; resources online is its measure of load).
//! - `> 0` weights: every live member, with its weight, for the client to share requests.

use serde::{Deserialize, Serialize};

use crate::db::model::{GroupState, Liveness, Load, ResourceState};
use crate::db::{ApplyError, ClusterDb};

/// How the routes were chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteMode {
    /// A group outside any cousin set: its owner.
    Single,
    /// LOAD -1.
    LocalOnly,
    /// LOAD -2.
    LocalFirst,
    /// LOAD -3 members, because every other member is down.
    Standby,
    /// LOAD 0.
    LeastLoaded,
    /// LOAD > 0.
    Weighted,
}

/// One place a request can go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The serving group.
    pub group: String,
    /// The node it runs on.
    pub node: String,
    /// Its share (weights mode), else 1.
    pub weight: u32,
}

/// Where a service is served now, best route first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The service.
    pub service: String,
    /// How the routes were chosen.
    pub mode: RouteMode,
    /// The routes, best first; empty when nothing serves it now.
    pub routes: Vec<Route>,
}

struct Member<'a> {
    group: &'a str,
    node: &'a str,
    load: Load,
}

/// Resolves `service` for a client on `from` (a node name, or `None` for a client outside the
/// cluster, which local rules then treat as local to no node).
pub fn resolve(
    db: &ClusterDb,
    service: &str,
    from: Option<&str>,
) -> Result<Resolution, ApplyError> {
    let svc = db
        .services
        .get(service)
        .ok_or_else(|| ApplyError::Unknown {
            subject: "service resolve".into(),
            field: "service".into(),
            kind: "service",
            name: service.into(),
        })?;
    let set = db
        .cousin_sets
        .values()
        .find(|c| c.members.iter().any(|m| m.group == svc.group));
    let Some(set) = set else {
        let routes = live(db, &svc.group)
            .map(|node| Route {
                group: svc.group.clone(),
                node: node.into(),
                weight: 1,
            })
            .into_iter()
            .collect();
        return Ok(Resolution {
            service: service.into(),
            mode: RouteMode::Single,
            routes,
        });
    };
    let members: Vec<Member> = set
        .members
        .iter()
        .filter_map(|m| {
            live(db, &m.group).map(|node| Member {
                group: &m.group,
                node,
                load: m.load,
            })
        })
        .collect();
    let (mode, routes) = route(db, set.members.iter().map(|m| m.load), members, from);
    Ok(Resolution {
        service: service.into(),
        mode,
        routes,
    })
}

/// The node a group serves from now, if it is up and online there.
fn live<'a>(db: &'a ClusterDb, group: &str) -> Option<&'a str> {
    let g = db.groups.get(group)?;
    let node = g.owner.as_deref()?;
    let up = db
        .nodes
        .get(node)
        .is_some_and(|n| n.liveness == Liveness::Up);
    let state = db.group_state(g);
    (up && matches!(state, GroupState::Online | GroupState::PartialOnline)).then_some(node)
}

fn route(
    db: &ClusterDb,
    all: impl Iterator<Item = Load> + Clone,
    members: Vec<Member>,
    from: Option<&str>,
) -> (RouteMode, Vec<Route>) {
    let is_local = |m: &Member| Some(m.node) == from;
    let (standby, active): (Vec<Member>, Vec<Member>) =
        members.into_iter().partition(|m| m.load == Load::Standby);
    if active.is_empty() {
        return (RouteMode::Standby, local_first(standby, is_local));
    }
    let set_mode = all.clone().filter(|l| *l != Load::Standby);
    if set_mode.clone().any(|l| l == Load::LocalOnly) {
        let local: Vec<Member> = active.into_iter().filter(is_local).collect();
        return (RouteMode::LocalOnly, routes(local, |_| 1));
    }
    if set_mode.clone().any(|l| l == Load::LocalFirst) {
        return (RouteMode::LocalFirst, local_first(active, is_local));
    }
    if set_mode.clone().all(|l| matches!(l, Load::Weight(_))) {
        let mut v = active;
        v.sort_by_key(|m| std::cmp::Reverse(weight(m.load)));
        return (RouteMode::Weighted, routes(v, |m| weight(m.load)));
    }
    let mut v = active;
    v.sort_by_key(|m| (node_load(db, m.node), m.group.to_string()));
    (RouteMode::LeastLoaded, routes(v, |_| 1))
}

fn weight(l: Load) -> u32 {
    match l {
        Load::Weight(w) => w,
        _ => 1,
    }
}

fn local_first(mut v: Vec<Member>, is_local: impl Fn(&Member) -> bool) -> Vec<Route> {
    v.sort_by_key(|m| !is_local(m));
    routes(v, |_| 1)
}

fn routes(v: Vec<Member>, w: impl Fn(&Member) -> u32) -> Vec<Route> {
    v.iter()
        .map(|m| Route {
            group: m.group.into(),
            node: m.node.into(),
            weight: w(m),
        })
        .collect()
}

/// Resources online on a node: nonstop's measure of load for LOAD 0.
fn node_load(db: &ClusterDb, node: &str) -> usize {
    db.groups_on(node)
        .flat_map(|g| db.group_resources(&g.spec.name))
        .filter(|r| r.state == ResourceState::Online)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClusterFile;
    use crate::sim::{SimEvent, Simulator};

    /// Three cousins A, B, C on n1..n3 and D on n4, with the given LOADs (Tmax 3.2.3's example).
    fn cluster(loads: [i64; 4]) -> Simulator {
        let yaml = format!(
            "nodes: [{{name: n1}}, {{name: n2}}, {{name: n3}}, {{name: n4}}]
groups:
  - {{name: A, owners: [n1], resources: [{{name: a, type: process, properties: {{command: x}}}}]}}
  - {{name: B, owners: [n2], resources: [{{name: b, type: process, properties: {{command: x}}}}]}}
  - {{name: C, owners: [n3], resources: [{{name: c, type: process, properties: {{command: x}}}}]}}
  - {{name: D, owners: [n4], resources: [{{name: d, type: process, properties: {{command: x}}}}]}}
cousins:
  - name: S
    members: [{{group: A, load: {}}}, {{group: B, load: {}}}, {{group: C, load: {}}}, {{group: D, load: {}}}]
services: [{{name: SVC, group: A}}]
",
            loads[0], loads[1], loads[2], loads[3]
        );
        let file: ClusterFile = yaml_serde::from_str(&yaml).unwrap();
        Simulator::start(&file).unwrap()
    }

    fn nodes(sim: &Simulator, from: Option<&str>) -> (RouteMode, Vec<String>) {
        let r = resolve(&sim.db, "SVC", from).unwrap();
        (r.mode, r.routes.iter().map(|r| r.node.clone()).collect())
    }

    fn fail(sim: &mut Simulator, node: &str) {
        sim.inject(&SimEvent::FailNode(node.into())).unwrap();
    }

    #[test]
    fn local_first_prefers_the_clients_node_and_standby_waits() {
        let mut sim = cluster([-2, -2, -2, -3]);
        assert_eq!(
            nodes(&sim, Some("n2")),
            (
                RouteMode::LocalFirst,
                vec!["n2".into(), "n1".into(), "n3".into()]
            )
        );
        fail(&mut sim, "n2");
        assert_eq!(nodes(&sim, Some("n2")).1, ["n1", "n3"]);
        fail(&mut sim, "n1");
        fail(&mut sim, "n3");
        assert_eq!(
            nodes(&sim, Some("n2")),
            (RouteMode::Standby, vec!["n4".into()])
        );
    }

    #[test]
    fn local_only_never_leaves_the_node() {
        let mut sim = cluster([-1, -1, -1, -1]);
        assert_eq!(
            nodes(&sim, Some("n3")),
            (RouteMode::LocalOnly, vec!["n3".into()])
        );
        fail(&mut sim, "n3");
        assert_eq!(nodes(&sim, Some("n3")), (RouteMode::LocalOnly, vec![]));
        assert_eq!(nodes(&sim, None).1, Vec::<String>::new());
    }

    #[test]
    fn weights_are_returned_heaviest_first() {
        let sim = cluster([1, 3, 2, 1]);
        let r = resolve(&sim.db, "SVC", None).unwrap();
        assert_eq!(r.mode, RouteMode::Weighted);
        let w: Vec<(String, u32)> = r
            .routes
            .iter()
            .map(|r| (r.node.clone(), r.weight))
            .collect();
        assert_eq!(
            w,
            [
                ("n2".into(), 3),
                ("n3".into(), 2),
                ("n1".into(), 1),
                ("n4".into(), 1)
            ]
        );
    }

    #[test]
    fn least_loaded_orders_by_online_resources() {
        let mut sim = cluster([0, 0, 0, 0]);
        // Every node runs one resource: equal loads, ties go by group name.
        assert_eq!(
            nodes(&sim, Some("n4")),
            (
                RouteMode::LeastLoaded,
                vec!["n1".into(), "n2".into(), "n3".into(), "n4".into()]
            )
        );
        sim.inject(&SimEvent::parse_line("offline resource:b").unwrap())
            .unwrap();
        let (_, order) = nodes(&sim, None);
        assert_eq!(
            order,
            ["n1", "n3", "n4"],
            "a group that is not online is not routed to"
        );
    }

    #[test]
    fn a_group_outside_a_cousin_set_routes_to_its_owner() {
        let yaml = "nodes: [{name: n1}, {name: n2}]
groups: [{name: G, owners: [n1, n2], resources: [{name: g, type: process, properties: {command: x}}]}]
services: [{name: ONE, group: G}]
";
        let mut sim = Simulator::start(&yaml_serde::from_str(yaml).unwrap()).unwrap();
        let r = resolve(&sim.db, "ONE", None).unwrap();
        assert_eq!(
            (r.mode, r.routes[0].node.as_str()),
            (RouteMode::Single, "n1")
        );
        sim.inject(&SimEvent::FailNode("n1".into())).unwrap();
        assert_eq!(resolve(&sim.db, "ONE", None).unwrap().routes[0].node, "n2");
        let err = resolve(&sim.db, "NOPE", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "service resolve: service names unknown service \"NOPE\""
        );
    }
}
