//! `AgentService`: the controller's side of each agent's link (agent/src/link.rs is the other).
//! Every member acknowledges heartbeats with a lease, unless it suspects the node (the quorum
//! lease of controller/src/leader/witness.rs) and answers the leader's `Suspect`; the leader
//! alone registers agents, streams the desired state to them, and turns reports into commands.

use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::Stream;
use nonstop_contract::{AgentReport, wire};
use nonstop_proto::agent as pb;
use nonstop_proto::agent::agent_service_server::AgentService;
use tonic::{Request, Response, Status};
use tracing::{debug, warn};

use super::status::{bad_field, from_store};
use crate::db::model::Liveness as NodeLiveness;
use crate::db::{ApplyError, ClusterDb, Command, Op};
use crate::leader::{SharedWitness, Verdict};
use crate::store::{Store, StoreError};
use crate::time::Time;

/// The service over a store, with this member's view of the agents' heartbeats.
#[derive(Debug, Clone)]
pub struct AgentApi<S> {
    store: S,
    witness: SharedWitness,
}

/// What a heartbeat needs to know of its node and the timing profile.
#[derive(Clone, Copy, Debug)]
struct NodeView {
    liveness: NodeLiveness,
    evicted: bool,
    witness: bool,
    heartbeat_ms: u64,
    lease_ms: u64,
    terminate_ms: u64,
}

impl NodeView {
    fn of(db: &ClusterDb, node: &str) -> Option<NodeView> {
        let t = &db.settings.timing;
        let n = db.nodes.get(node)?;
        Some(NodeView {
            liveness: n.liveness,
            evicted: n.evicted,
            witness: n.spec.witness,
            heartbeat_ms: t.heartbeat.0,
            lease_ms: t.lease.0,
            terminate_ms: t.terminate.0,
        })
    }
}

/// The most reports one batch may carry (an agent sends at most 256).
pub const MAX_REPORTS: usize = 1024;

impl<S: Store> AgentApi<S> {
    /// The service of this member.
    pub fn new(store: S, witness: SharedWitness) -> Self {
        AgentApi { store, witness }
    }

    /// Only the leader serves registrations, desired state and reports: others point to it.
    fn ensure_leader(&self) -> Result<(), Status> {
        let info = self.store.leadership().borrow().clone();
        if info.is_leader {
            return Ok(());
        }
        let e = match info.leader_address {
            Some(a) => StoreError::NotLeader { leader: Some(a) },
            None => StoreError::NoLeader,
        };
        Err(from_store(&e))
    }

    /// The node as this member knows it: linearizable on the leader's registration path, as
    /// applied here for heartbeats (any member answers those, with or without a leader).
    async fn view(&self, node: &str, linearizable: bool) -> Result<NodeView, Status> {
        let key = node.to_string();
        let read = move |db: &ClusterDb| NodeView::of(db, &key);
        let view = if linearizable {
            self.store.read(read).await
        } else {
            self.store.read_local(read).await
        };
        let view = view
            .map_err(|e| from_store(&e))?
            .ok_or_else(|| unknown_node(node))?;
        if view.evicted {
            return Err(Status::failed_precondition(format!(
                "node {node:?} was evicted: resume it first"
            )));
        }
        Ok(view)
    }

    /// Records the heartbeat and grants the lease, unless this member suspects the node.
    fn grant(&self, node: &str, lease_ms: u64) -> Result<(), Status> {
        let lease = Duration::from_millis(lease_ms);
        let now = Instant::now();
        let mut w = self.witness.lock();
        w.heard(node, now, lease).map_err(|until| {
            Status::unavailable(format!(
                "member {} found node {node:?} silent and grants it no lease for another {} ms",
                self.store.member_id(),
                until.saturating_duration_since(now).as_millis()
            ))
        })
    }

    /// On the leader, brings a node that is heard from again Up in the database.
    async fn bring_up(&self, node: &str, view: NodeView) -> Result<(), Status> {
        if view.liveness == NodeLiveness::Up || !self.store.leadership().borrow().is_leader {
            return Ok(());
        }
        let op = Op::NodeUp {
            node: node.to_string(),
        };
        let c = self
            .store
            .propose(Command::liveness(Time::now(), op))
            .await
            .map_err(|e| from_store(&e))?;
        c.result
            .map(drop)
            .map_err(|e| super::status::from_apply(&e))
    }

    /// The members that vote now: how many (at least 1), and their addresses.
    async fn voters(&self) -> (u32, Vec<String>) {
        let Ok(members) = self.store.members().await else {
            return (1, vec![]);
        };
        let voters: Vec<String> = members
            .into_iter()
            .filter(|m| m.voter)
            .map(|m| m.address)
            .collect();
        ((voters.len() as u32).max(1), voters)
    }

    /// Whether `node` exists (a desired-state stream for an unknown node is refused).
    async fn known(&self, node: &str) -> Result<(), Status> {
        let key = node.to_string();
        let found = self
            .store
            .read(move |db| db.nodes.contains_key(&key))
            .await
            .map_err(|e| from_store(&e))?;
        if found {
            Ok(())
        } else {
            Err(unknown_node(node))
        }
    }
}

fn unknown_node(node: &str) -> Status {
    Status::not_found(format!(
        "unknown node {node:?}: add it to the cluster first"
    ))
}

type DesiredStream = Pin<Box<dyn Stream<Item = Result<pb::DesiredState, Status>> + Send>>;

#[tonic::async_trait]
impl<S: Store> AgentService for AgentApi<S> {
    async fn register(
        &self,
        r: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterReply>, Status> {
        self.ensure_leader()?;
        let node = r.into_inner().node;
        let view = self.view(&node, true).await?;
        if view.witness {
            return Err(Status::failed_precondition(format!(
                "node {node:?} is a witness in the cluster's configuration: it runs no \
                 resources, so its node.yaml must have no `agent` (or set witness: false)"
            )));
        }
        self.grant(&node, view.lease_ms)?;
        self.bring_up(&node, view).await?;
        Ok(Response::new(pb::RegisterReply {
            heartbeat_ms: view.heartbeat_ms,
            lease_ms: view.lease_ms,
            terminate_ms: view.terminate_ms,
        }))
    }

    async fn heartbeat(
        &self,
        r: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatAck>, Status> {
        let hb = r.into_inner();
        let view = self.view(&hb.node, false).await?;
        self.grant(&hb.node, view.lease_ms)?;
        self.bring_up(&hb.node, view).await?;
        let (voters, voter_addresses) = self.voters().await;
        let leader = self.store.leadership().borrow().clone();
        Ok(Response::new(pb::HeartbeatAck {
            sent_ms: hb.sent_ms,
            lease_ms: view.lease_ms,
            member_id: self.store.member_id(),
            voters,
            voter_addresses,
            leader_address: leader.leader_address.unwrap_or_default(),
            leader_term: leader.term,
            heartbeat_ms: view.heartbeat_ms,
            terminate_ms: view.terminate_ms,
        }))
    }

    type DesiredStream = DesiredStream;

    async fn desired(
        &self,
        r: Request<pb::DesiredRequest>,
    ) -> Result<Response<DesiredStream>, Status> {
        self.ensure_leader()?;
        let node = r.into_inner().node;
        self.known(&node).await?;
        let store = self.store.clone();
        let mut applied = store.subscribe_applied();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let n = node.clone();
                let Ok(d) = store.read(move |db| db.desired_for(&n)).await else {
                    return;
                };
                let msg = wire::desired_to_wire(&d);
                if last.as_ref() != Some(&msg) {
                    if tx.send(Ok(msg.clone())).await.is_err() {
                        return;
                    }
                    last = Some(msg);
                }
                match applied.recv().await {
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
                if !store.leadership().borrow().is_leader {
                    let _ = tx
                        .send(Err(Status::unavailable("this member no longer leads")))
                        .await;
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn report(
        &self,
        r: Request<pb::ReportBatch>,
    ) -> Result<Response<pb::ReportReply>, Status> {
        self.ensure_leader()?;
        let batch = r.into_inner();
        if batch.reports.len() > MAX_REPORTS {
            return Err(bad_field(
                "reports",
                format!(
                    "{} in one batch (at most {MAX_REPORTS})",
                    batch.reports.len()
                ),
            ));
        }
        let mut reports = Vec::with_capacity(batch.reports.len());
        for (i, r) in batch.reports.into_iter().enumerate() {
            let r = wire::report_from_wire(r, &format!("reports[{i}]"))
                .map_err(|e| bad_field(&e.field, e.reason))?;
            reports.push(r);
        }
        // Checked against the database before anything is proposed: a report that can never
        // apply is refused here, naming its field, and costs the log nothing.
        let node = batch.node.clone();
        let ops = self
            .store
            .read_local(move |db| checked_ops(db, &node, reports))
            .await
            .map_err(|e| from_store(&e))??;
        for op in ops {
            let c = self
                .store
                .propose(Command::agent(Time::now(), &batch.node, op))
                .await
                .map_err(|e| from_store(&e))?;
            match c.result {
                Ok(_) => {}
                // A report on a placement that moved on is history: nothing to record.
                Err(e @ (ApplyError::Stale { .. } | ApplyError::StaleStop { .. })) => {
                    debug!(%e, "stale report")
                }
                Err(e) => warn!(%e, node = %batch.node, "report rejected"),
            }
        }
        Ok(Response::new(pb::ReportReply {}))
    }

    async fn suspect(
        &self,
        r: Request<pb::SuspectRequest>,
    ) -> Result<Response<pb::SuspectReply>, Status> {
        let req = r.into_inner();
        if req.node_timeout_ms == 0 {
            return Err(bad_field("node_timeout_ms", "must be above zero"));
        }
        if req.lease_ms >= req.node_timeout_ms {
            return Err(bad_field(
                "lease_ms",
                format!("must be below node_timeout_ms ({})", req.node_timeout_ms),
            ));
        }
        let verdict = self.witness.verdict(
            &req.node,
            Duration::from_millis(req.node_timeout_ms),
            Duration::from_millis(req.lease_ms),
        );
        let (silent, silence) = match verdict {
            Verdict::Silent(d) => (true, d),
            Verdict::Heard(d) => (false, d),
        };
        Ok(Response::new(pb::SuspectReply {
            silent,
            silence_ms: silence.as_millis() as u64,
            member_id: self.store.member_id(),
        }))
    }
}

/// The commands a batch of reports from `node` makes, checked against `db`: an unknown node,
/// an unknown resource or group, a resource reported under another group, or an epoch the
/// cluster never handed out refuse the whole batch (naming the field); reports on a placement
/// that moved on are dropped as history.
fn checked_ops(db: &ClusterDb, node: &str, reports: Vec<AgentReport>) -> Result<Vec<Op>, Status> {
    if !db.nodes.contains_key(node) {
        return Err(unknown_node(node));
    }
    let future = |field: String, epoch: u64| {
        Err(bad_field(
            &field,
            format!("{epoch} was never handed out (the newest is {})", db.epoch),
        ))
    };
    let mut ops = Vec::new();
    for (i, r) in reports.into_iter().enumerate() {
        match r {
            AgentReport::Resource(r) => {
                let field = format!("reports[{i}].transition");
                let Some(res) = db.resources.get(&r.resource) else {
                    return Err(bad_field(
                        &format!("{field}.resource"),
                        format!("unknown resource {:?}", r.resource),
                    ));
                };
                if res.spec.group != r.group {
                    return Err(bad_field(
                        &format!("{field}.group"),
                        format!(
                            "resource {:?} belongs to group {:?}, not {:?}",
                            r.resource, res.spec.group, r.group
                        ),
                    ));
                }
                if r.epoch > db.epoch {
                    return future(format!("{field}.epoch"), r.epoch);
                }
                let g = &db.groups[&res.spec.group];
                if g.owner.as_deref() != Some(node) || g.epoch != r.epoch {
                    debug!(resource = %r.resource, epoch = r.epoch, "stale report dropped");
                    continue;
                }
                ops.push(Op::ReportResource {
                    node: node.to_string(),
                    resource: r.resource,
                    epoch: r.epoch,
                    state: r.state,
                    restart: r.restart,
                    gave_up: r.gave_up,
                    message: r.message,
                    reported_at: (r.at_ms > 0).then_some(Time(r.at_ms)),
                });
            }
            AgentReport::GroupStopped(g) => {
                let field = format!("reports[{i}].stopped");
                if !db.groups.contains_key(&g.group) {
                    return Err(bad_field(
                        &format!("{field}.group"),
                        format!("unknown group {:?}", g.group),
                    ));
                }
                if g.epoch > db.epoch || g.stop > db.epoch {
                    return future(format!("{field}.stop"), g.stop.max(g.epoch));
                }
                ops.push(Op::GroupStopped {
                    node: node.to_string(),
                    group: g.group,
                    epoch: g.epoch,
                    stop: g.stop,
                });
            }
        }
    }
    Ok(ops)
}
