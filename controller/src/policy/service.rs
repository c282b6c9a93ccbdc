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
