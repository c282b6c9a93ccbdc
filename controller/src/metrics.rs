//! What a controller member measures for the daemon's Prometheus endpoint.
//!
//! Three kinds, kept apart:
//! - gauges read from the database at scrape time ([`db_gauges`], [`raft_gauges`]): node,
//!   group and resource states, group owners, fence states, raft indexes; pure functions of
//!   what the member has applied, so every member answers the same once caught up;
//! - counters and the fail-over histogram, fed by the applied events ([`EventMetrics`]):
//!   every member applies every command, so every member counts the same transitions;
//! - proposals and their commit latency ([`ProposalMetrics`]), which only the member that
//!   proposed can time.
//!
//! Names follow Prometheus' conventions: the daemon registers them under the `nonstop_`
//! prefix, in base units (seconds), counters end in `_total`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::db::model::{FenceState, GroupState, NodeState, PlaceReason, ResourceState};
use crate::db::{ClusterDb, Event, EventKind};
use crate::store::MemberView;
use crate::time::Time;

/// Labels of one group.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupReason {
    group: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Restart {
    resource: String,
    group: String,
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FenceResult {
    node: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProposalResult {
    result: &'static str,
}

/// 5 ms to about 80 s: a fail-over from the fastest watchdog-confirmed one to a slow start.
fn failover_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// 0.5 ms to about 4 s: a commit on loopback up to an election.
fn proposal_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// Counters and the fail-over histogram, from the applied events. Clones share them.
#[derive(Clone, Debug)]
pub struct EventMetrics {
    restarts: Family<Restart, Counter>,
    moves: Family<GroupReason, Counter>,
    fences: Family<FenceResult, Counter>,
    failover: Family<Reason, Histogram, fn() -> Histogram>,
    /// Fail-overs under way: group -> (new owner, why, when it was decided).
    pending: Arc<Mutex<BTreeMap<String, Pending>>>,
}

/// A fail-over being timed: the new owner, why, and when it was decided.
type Pending = (String, PlaceReason, Time);

impl Default for EventMetrics {
    fn default() -> Self {
        EventMetrics {
            restarts: Family::default(),
            moves: Family::default(),
            fences: Family::default(),
            failover: Family::new_with_constructor(failover_buckets),
            pending: Arc::default(),
        }
    }
}

impl EventMetrics {
    /// Registers them.
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "resource_restarts",
            "Restarts of a resource in place after it failed",
            self.restarts.clone(),
        );
        r.register(
            "group_moves",
            "Groups placed on another node than the one they ran on, by reason \
             (node-down and resource-failed are fail-overs)",
            self.moves.clone(),
        );
        r.register(
            "fence_attempts",
            "Fence attempts by node and result (ok, failed)",
            self.fences.clone(),
        );
        r.register_with_unit(
            "failover_duration",
            "From the committed decision to move a group after a failure (node-down, \
             resource-failed) until every resource of it is Online on the new owner",
            Unit::Seconds,
            self.failover.clone(),
        );
    }

    /// Counts what one applied command changed. `online_on(group, node)` says whether the
    /// group is Online on `node` in the database after the command; `at` is its time.
    pub fn record(&self, events: &[Event], online_on: impl Fn(&str, &str) -> bool) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut last = None;
        for e in events {
            last = Some(e.at);
            match &e.kind {
                EventKind::ResourceState {
                    resource,
                    group,
                    node,
                    to: ResourceState::OnlinePending,
                    restart: Some(_),
                    ..
                } => {
                    let labels = Restart {
                        resource: resource.clone(),
                        group: group.clone(),
                        node: node.clone(),
                    };
                    self.restarts.get_or_create(&labels).inc();
                }
                EventKind::GroupMoving {
                    group,
                    to: Some(to),
                    reason,
                    ..
                } if is_failure(*reason) => {
                    pending.insert(group.clone(), (to.clone(), *reason, e.at));
                }
                EventKind::GroupPlaced {
                    group,
                    from: Some(from),
                    to: Some(to),
                    reason,
                    ..
                } if from != to => {
                    let labels = GroupReason {
                        group: group.clone(),
                        reason: reason_label(*reason),
                    };
                    self.moves.get_or_create(&labels).inc();
                    if is_failure(*reason) {
                        // Decided when it started moving (taken offline first), else now.
                        let since = match pending.get(group) {
                            Some((_, r, t)) if r == reason => *t,
                            _ => e.at,
                        };
                        pending.insert(group.clone(), (to.clone(), *reason, since));
                    } else {
                        pending.remove(group);
                    }
                }
                EventKind::Fenced { node, .. } => {
                    let labels = FenceResult {
                        node: node.clone(),
                        result: "ok",
                    };
                    self.fences.get_or_create(&labels).inc();
                }
                EventKind::FenceFailed { node, .. } => {
                    let labels = FenceResult {
                        node: node.clone(),
                        result: "failed",
                    };
                    self.fences.get_or_create(&labels).inc();
                }
                _ => {}
            }
        }
        let Some(now) = last else { return };
        pending.retain(|group, (to, reason, since)| {
            if !online_on(group, to) {
                return true;
            }
            let took = Duration::from_millis(now.0.saturating_sub(since.0));
            let labels = Reason {
                reason: reason_label(*reason),
            };
            self.failover
                .get_or_create(&labels)
                .observe(took.as_secs_f64());
            false
        });
    }

    /// Whether [`EventMetrics::record`] will ask where groups are Online for these events: a
    /// fail-over is being timed, or they start one. Otherwise the caller need not read the
    /// database for it.
    pub fn needs_placements(&self, events: &[Event]) -> bool {
        let timing = !self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty();
        timing
            || events.iter().any(|e| match &e.kind {
                EventKind::GroupMoving { reason, .. } | EventKind::GroupPlaced { reason, .. } => {
                    is_failure(*reason)
                }
                _ => false,
            })
    }

    /// Whether a fail-over of `group` is being timed (for tests).
    pub fn timing(&self, group: &str) -> bool {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.contains_key(group)
    }
}

fn is_failure(r: PlaceReason) -> bool {
    matches!(r, PlaceReason::NodeDown | PlaceReason::ResourceFailed)
}

fn reason_label(r: PlaceReason) -> String {
    r.to_string().replace(' ', "-")
}

/// Proposals this member made, by result, and how long each took to commit and apply here.
#[derive(Clone, Debug)]
pub struct ProposalMetrics {
    count: Family<ProposalResult, Counter>,
    latency: Histogram,
}

impl Default for ProposalMetrics {
    fn default() -> Self {
        ProposalMetrics {
            count: Family::default(),
            latency: proposal_buckets(),
        }
    }
}

impl ProposalMetrics {
    /// Registers them.
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "raft_proposals",
            "Commands this member proposed, by result (committed, refused: applied but \
             refused by the database, not-leader, dropped, timeout, failed)",
            self.count.clone(),
        );
        r.register_with_unit(
            "raft_proposal_duration",
            "From a proposal until it was committed and applied on this member",
            Unit::Seconds,
            self.latency.clone(),
        );
    }

    /// One proposal's outcome after `took`.
    pub fn record(&self, result: &'static str, took: Duration) {
        let labels = ProposalResult { result };
        self.count.get_or_create(&labels).inc();
        if result == "committed" || result == "refused" {
            self.latency.observe(took.as_secs_f64());
        }
    }
}

/// One gauge family, filled at scrape time.
fn family<L>(r: &mut Registry, name: &str, help: &str, values: Vec<(L, i64)>)
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let f: Family<L, Gauge> = Family::default();
    for (labels, v) in values {
        f.get_or_create(&labels).set(v);
    }
    r.register(name, help, f);
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeStateLabels {
    node: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupStateLabels {
    group: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupNode {
    group: String,
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    resource: String,
    group: String,
    node: String,
    state: String,
}

const NODE_STATES: [NodeState; 4] = [
    NodeState::Joining,
    NodeState::Up,
    NodeState::Paused,
    NodeState::Down,
];

const GROUP_STATES: [GroupState; 6] = [
    GroupState::Online,
    GroupState::Offline,
    GroupState::OnlinePending,
    GroupState::OfflinePending,
    GroupState::Failed,
    GroupState::PartialOnline,
];

/// The database's state as gauges: every node's and group's state as a state set (one series
/// per state, 1 for the current one), each group's owner, each resource's state where it is
/// (only the current state: resources are many), and each node's fence state.
pub fn db_gauges(db: &ClusterDb, r: &mut Registry) {
    let mut nodes = Vec::new();
    let mut fence = Vec::new();
    for (name, n) in &db.nodes {
        let now = n.state();
        for s in NODE_STATES {
            let labels = NodeStateLabels {
                node: name.clone(),
                state: s.to_string(),
            };
            nodes.push((labels, i64::from(s == now)));
        }
        let f = match n.fence {
            FenceState::None => 0,
            FenceState::Pending { .. } => 1,
            FenceState::Fenced { .. } => 2,
        };
        fence.push((NodeLabels { node: name.clone() }, f));
    }
    family(
        r,
        "node_state",
        "Each node's state: 1 for the current one (Joining, Up, Paused, Down), 0 for the others",
        nodes,
    );
    family(
        r,
        "node_fence_state",
        "Each node's fence state: 0 nothing to fence, 1 waiting to be fenced, 2 fenced",
        fence,
    );
    let mut groups = Vec::new();
    let mut owners = Vec::new();
    for (name, g) in &db.groups {
        let now = db.group_state(g);
        for s in GROUP_STATES {
            let labels = GroupStateLabels {
                group: name.clone(),
                state: s.to_string(),
            };
            groups.push((labels, i64::from(s == now)));
        }
        if let Some(owner) = &g.owner {
            let labels = GroupNode {
                group: name.clone(),
                node: owner.clone(),
            };
            owners.push((labels, 1));
        }
    }
    family(
        r,
        "group_state",
        "Each group's state: 1 for the current one, 0 for the others",
        groups,
    );
    family(
        r,
        "group_owner",
        "The node that owns each placed group (1)",
        owners,
    );
    let resources = db.resources.values().map(|res| {
        let owner = db.groups.get(&res.spec.group).and_then(|g| g.owner.clone());
        let labels = ResourceLabels {
            resource: res.spec.name.clone(),
            group: res.spec.group.clone(),
            node: owner.unwrap_or_default(),
            state: format!("{:?}", res.state),
        };
        (labels, 1)
    });
    family(
        r,
        "resource_state",
        "Each resource's current state, on its group's owner (empty node: not placed)",
        resources.collect(),
    );
    let revision = Gauge::<i64>::default();
    revision.set(db.revision as i64);
    r.register(
        "db_revision",
        "How many commands this member has applied to its database",
        revision,
    );
}

/// This member's raft view as gauges.
pub fn raft_gauges(v: &MemberView, r: &mut Registry) {
    let gauge = |r: &mut Registry, name: &str, help: &str, value: u64| {
        let g = Gauge::<i64>::default();
        g.set(value as i64);
        r.register(name, help, g);
    };
    gauge(r, "raft_term", "The raft term this member is in", v.term);
    gauge(
        r,
        "raft_commit_index",
        "The highest log index this member knows committed",
        v.commit,
    );
    gauge(
        r,
        "raft_applied_index",
        "The highest log index this member applied to its database",
        v.applied,
    );
    gauge(
        r,
        "raft_leader_id",
        "The member this member follows as leader (0: none known)",
        v.leader,
    );
    gauge(
        r,
        "raft_is_leader",
        "1 when this member leads",
        u64::from(v.leader == v.id && v.leader != 0),
    );
    let voters = v.members.iter().filter(|m| m.voter).count() as u64;
    gauge(r, "raft_voters", "Voting controller members", voters);
    gauge(
        r,
        "raft_members",
        "Controller members, voting or not",
        v.members.len() as u64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::prometheus_text::encode;

    fn at(ms: u64, kind: EventKind) -> Event {
        Event { at: Time(ms), kind }
    }

    fn text(m: &EventMetrics) -> String {
        let mut r = Registry::with_prefix("nonstop");
        m.register(&mut r);
        let mut out = String::new();
        encode(&mut out, &r).unwrap();
        out
    }

    fn placed(group: &str, from: &str, to: &str, reason: PlaceReason) -> EventKind {
        EventKind::GroupPlaced {
            group: group.into(),
            from: Some(from.into()),
            to: Some(to.into()),
            epoch: 2,
            reason,
        }
    }

    fn resource(to: ResourceState, restart: bool) -> EventKind {
        EventKind::ResourceState {
            resource: "r".into(),
            group: "G".into(),
            node: "b".into(),
            from: ResourceState::Offline,
            to,
            restart: restart.then_some(nonstop_contract::RestartCount {
                attempt: 1,
                limit: Some(3),
            }),
            window: nonstop_contract::Millis(1000),
            gave_up: false,
            message: None,
            reported_at: None,
        }
    }

    #[test]
    fn a_node_down_move_is_timed_from_its_decision_until_the_group_is_online_there() {
        let m = EventMetrics::default();
        assert!(!m.needs_placements(&[at(900, resource(ResourceState::Online, false))]));
        let down = [at(1_000, placed("G", "a", "b", PlaceReason::NodeDown))];
        assert!(m.needs_placements(&down));
        m.record(&down, |_, _| false);
        assert!(m.timing("G"));
        assert!(m.needs_placements(&[]), "while it is timed");
        // Still starting: no observation yet.
        m.record(
            &[at(1_100, resource(ResourceState::OnlinePending, false))],
            |_, _| false,
        );
        assert!(m.timing("G"));
        m.record(
            &[at(1_250, resource(ResourceState::Online, false))],
            |g, n| g == "G" && n == "b",
        );
        assert!(!m.timing("G"));
        let t = text(&m);
        assert!(
            t.contains("nonstop_group_moves_total{group=\"G\",reason=\"node-down\"} 1"),
            "{t}"
        );
        // 250 ms: in the 0.32 bucket, not in the 0.16 one.
        assert!(
            t.contains(
                "nonstop_failover_duration_seconds_bucket{reason=\"node-down\",le=\"0.16\"} 0"
            ),
            "{t}"
        );
        assert!(
            t.contains(
                "nonstop_failover_duration_seconds_bucket{reason=\"node-down\",le=\"0.32\"} 1"
            ),
            "{t}"
        );
        assert!(t.contains("nonstop_failover_duration_seconds_sum{reason=\"node-down\"} 0.25"));
    }

    #[test]
    fn a_resource_failure_is_timed_from_the_start_of_the_move_not_the_placement() {
        let m = EventMetrics::default();
        let moving = EventKind::GroupMoving {
            group: "G".into(),
            from: "a".into(),
            to: Some("b".into()),
            reason: PlaceReason::ResourceFailed,
        };
        m.record(&[at(1_000, moving)], |_, _| false);
        let stopped = EventKind::GroupStopped {
            group: "G".into(),
            node: "a".into(),
        };
        m.record(&[at(1_100, stopped)], |_, _| false);
        m.record(
            &[at(
                1_200,
                placed("G", "a", "b", PlaceReason::ResourceFailed),
            )],
            |_, _| false,
        );
        m.record(
            &[at(1_500, resource(ResourceState::Online, false))],
            |_, _| true,
        );
        let t = text(&m);
        assert!(
            t.contains("nonstop_failover_duration_seconds_sum{reason=\"resource-failed\"} 0.5")
        );
    }

    #[test]
    fn operator_moves_and_fail_backs_are_moves_but_not_timed_fail_overs() {
        let m = EventMetrics::default();
        m.record(
            &[at(1, placed("G", "a", "b", PlaceReason::Operator))],
            |_, _| true,
        );
        m.record(
            &[at(2, placed("G", "b", "a", PlaceReason::Failback))],
            |_, _| true,
        );
        let first = EventKind::GroupPlaced {
            group: "H".into(),
            from: None,
            to: Some("a".into()),
            epoch: 1,
            reason: PlaceReason::Start,
        };
        m.record(&[at(3, first)], |_, _| true);
        let t = text(&m);
        assert!(t.contains("nonstop_group_moves_total{group=\"G\",reason=\"operator\"} 1"));
        assert!(t.contains("nonstop_group_moves_total{group=\"G\",reason=\"fail-back\"} 1"));
        assert!(!t.contains("group=\"H\""), "a first start is no move: {t}");
        assert!(
            !t.contains("nonstop_failover_duration_seconds_count"),
            "{t}"
        );
    }

    #[test]
    fn restarts_and_fence_attempts_are_counted() {
        let m = EventMetrics::default();
        m.record(
            &[
                at(1, resource(ResourceState::OnlinePending, true)),
                at(1, resource(ResourceState::OnlinePending, false)),
                at(1, resource(ResourceState::Online, false)),
            ],
            |_, _| false,
        );
        let failed = EventKind::FenceFailed {
            node: "a".into(),
            method: "x".into(),
            attempt: 1,
            took: nonstop_contract::Millis(5),
            detail: "no".into(),
        };
        let fenced = EventKind::Fenced {
            node: "a".into(),
            by: "x".into(),
            took: nonstop_contract::Millis(5),
            detail: String::new(),
        };
        m.record(&[at(2, failed), at(3, fenced)], |_, _| false);
        let t = text(&m);
        assert!(
            t.contains("nonstop_resource_restarts_total{resource=\"r\",group=\"G\",node=\"b\"} 1"),
            "{t}"
        );
        assert!(t.contains("nonstop_fence_attempts_total{node=\"a\",result=\"failed\"} 1"));
        assert!(t.contains("nonstop_fence_attempts_total{node=\"a\",result=\"ok\"} 1"));
    }

    #[test]
    fn proposals_count_by_result_and_time_only_those_that_applied() {
        let p = ProposalMetrics::default();
        p.record("committed", Duration::from_millis(2));
        p.record("not-leader", Duration::from_millis(2));
        let mut r = Registry::with_prefix("nonstop");
        p.register(&mut r);
        let mut t = String::new();
        encode(&mut t, &r).unwrap();
        assert!(t.contains("nonstop_raft_proposals_total{result=\"committed\"} 1"));
        assert!(t.contains("nonstop_raft_proposals_total{result=\"not-leader\"} 1"));
        assert!(
            t.contains("nonstop_raft_proposal_duration_seconds_count 1"),
            "{t}"
        );
    }

    #[test]
    fn db_gauges_give_one_current_state_per_node_and_group() {
        let db = crate::db::tests::paper();
        let mut r = Registry::with_prefix("nonstop");
        db_gauges(&db, &mut r);
        let mut t = String::new();
        encode(&mut t, &r).unwrap();
        for node in ["osdb-serv", "osdb-back"] {
            let ones = t
                .lines()
                .filter(|l| l.starts_with(&format!("nonstop_node_state{{node=\"{node}\"")))
                .filter(|l| l.ends_with(" 1"))
                .count();
            assert_eq!(ones, 1, "{t}");
        }
        let ones = t
            .lines()
            .filter(|l| l.starts_with("nonstop_group_state{group=\"SOCKET_GROUP\""))
            .filter(|l| l.ends_with(" 1"));
        assert_eq!(ones.count(), 1, "{t}");
        assert!(t.contains("nonstop_resource_state{resource=\"chat\",group=\"SOCKET_GROUP\",node=\"\",state=\"Offline\"} 1"), "{t}");
    }
}
