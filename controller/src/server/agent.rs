//! `AgentService`: the controller's side of each agent's link (agent/src/link.rs is the other).
//! Every member acknowledges heartbeats with a lease, unless it suspects the node (the quorum
//! lease of controller/src/liveness/witness.rs) and answers the leader's `Suspect`; the leader
//! alone registers agents, streams the desired state to them, and turns reports into commands.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use nonstop_contract::{AgentReport, DesiredNode, ReportMark, wire};
use nonstop_proto::agent as pb;
use nonstop_proto::agent::agent_service_server::AgentService;
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tracing::{debug, warn};

use super::auth::{Caller, caller};
use super::status::{bad_field, from_apply, from_store};
use crate::db::model::Liveness as NodeLiveness;
use crate::db::{ApplyError, ClusterDb, Command, Op};
use crate::leader::DesiredBoard;
use crate::liveness::{Jury, Liveness, Refused, Verdict};
use crate::store::{Store, StoreError};
use crate::time::Time;

/// The service over a store: this member's liveness duties, and the leader's desired states.
#[derive(Debug, Clone)]
pub struct AgentApi<S> {
    store: S,
    liveness: Liveness<S>,
    board: DesiredBoard,
    /// Asks the members to suspect a node whose watchdog confirmed its stop.
    jury: Arc<Jury>,
    /// Set when the member stops: its long-lived heartbeat streams end, so that the server's
    /// graceful shutdown does not wait for agents that never hang up.
    stop: Option<watch::Receiver<bool>>,
}

/// The most reports one batch may carry (an agent sends at most 256).
pub const MAX_REPORTS: usize = 1024;

impl<S: Store> AgentApi<S> {
    /// The service of this member: heartbeats go to `liveness`, desired-state streams follow
    /// `board` (which the leader's duties publish).
    pub fn new(liveness: Liveness<S>, board: DesiredBoard) -> Self {
        AgentApi {
            store: liveness.store().clone(),
            jury: Arc::new(Jury::new(liveness.witness().clone())),
            liveness,
            board,
            stop: None,
        }
    }

    /// The same service, asking the other members as `dial` says (TLS, this member's address).
    pub fn dialing(mut self, dial: nonstop_pki::Dial) -> Self {
        self.jury = Arc::new(Jury::new(self.liveness.witness().clone()).dialing(dial));
        self
    }

    /// The same service, whose heartbeat streams end once `stop` is true.
    pub fn until(mut self, stop: watch::Receiver<bool>) -> Self {
        self.stop = Some(stop);
        self
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

    /// Acknowledges a heartbeat with this member's lease, unless liveness refuses it.
    async fn ack(&self, hb: pb::HeartbeatRequest) -> Result<pb::HeartbeatAck, Status> {
        // An agent older than the field says nothing: as before, its heartbeats are taken as
        // sent under its lease.
        let holds_lease = hb.holds_lease.unwrap_or(true);
        let (roster, _) = (self.liveness.heard(&hb.node, holds_lease).await).map_err(refused)?;
        let leader = self.store.leadership().borrow().clone();
        Ok(pb::HeartbeatAck {
            sent_ms: hb.sent_ms,
            seq: hb.seq,
            lease_ms: roster.lease_ms,
            member_id: self.store.member_id(),
            voters: roster.voter_count(),
            voter_addresses: roster.voters.clone(),
            leader_address: leader.leader_address.unwrap_or_default(),
            leader_term: leader.term,
            heartbeat_ms: roster.heartbeat_ms,
            terminate_ms: roster.terminate_ms,
        })
    }

    /// Records the types the node discovered (its OCF agents' and plug-ins' meta-data), before
    /// the node need exist, and only when they changed: a report sent again adds nothing to
    /// the log.
    async fn types_discovered(&self, node: &str, r: &pb::TypesReport) -> Result<(), Status> {
        let types = (r.discovered.iter().cloned().enumerate())
            .map(|(i, t)| wire::type_from_wire(t, &format!("discovered[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_field(&e.field, e.reason))?;
        let key = node.to_string();
        let known = self
            .store
            .read(move |db| db.discovered.get(&key).cloned().unwrap_or_default())
            .await
            .map_err(|e| from_store(&e))?;
        let same =
            known.len() == types.len() && types.iter().all(|t| known.get(&t.name) == Some(t));
        if same {
            return Ok(());
        }
        self.commit(
            node,
            Op::TypesDiscovered {
                node: node.to_string(),
                types,
            },
        )
        .await
    }

    /// Commits `op` as a report of `node`'s agent.
    async fn commit(&self, node: &str, op: Op) -> Result<(), Status> {
        let c = self
            .store
            .propose(Command::agent(Time::now(), node, op))
            .await
            .map_err(|e| from_store(&e))?;
        c.result.map(drop).map_err(|e| from_apply(&e))
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

/// Resolves once `stop` is true; never without one (or once its sender is gone).
async fn stopped(stop: &mut Option<watch::Receiver<bool>>) {
    if let Some(rx) = stop
        && rx.wait_for(|s| *s).await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

/// A refused heartbeat or registration as a gRPC status.
fn refused(r: Refused) -> Status {
    match r {
        Refused::UnknownNode(node) => unknown_node(&node),
        Refused::Evicted(_) | Refused::Witness(_) => Status::failed_precondition(r.to_string()),
        Refused::Suspected { .. } | Refused::NotReady => Status::unavailable(r.to_string()),
        Refused::Store(e) => from_store(&e),
    }
}

fn unknown_node(node: &str) -> Status {
    Status::not_found(format!(
        "unknown node {node:?}: add it to the cluster first"
    ))
}

type DesiredStream = Pin<Box<dyn Stream<Item = Result<pb::DesiredState, Status>> + Send>>;
type HeartbeatStream = Pin<Box<dyn Stream<Item = Result<pb::HeartbeatAck, Status>> + Send>>;

#[tonic::async_trait]
impl<S: Store> AgentService for AgentApi<S> {
    async fn register(
        &self,
        r: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterReply>, Status> {
        let node = for_own_node(&r, |r| &r.node)?;
        self.ensure_leader()?;
        let incarnation = r.get_ref().incarnation;
        if incarnation != 0 {
            // Committed before this run is granted anything: a watchdog's word about an
            // earlier run is refused from now on (Op::NodeStopped).
            let op = Op::Registered {
                node: node.clone(),
                incarnation,
                daemon: r.get_ref().address.clone(),
            };
            self.commit(&node, op).await?;
        }
        let (roster, _) = self.liveness.registered(&node).await.map_err(refused)?;
        Ok(Response::new(pb::RegisterReply {
            heartbeat_ms: roster.heartbeat_ms,
            lease_ms: roster.lease_ms,
            terminate_ms: roster.terminate_ms,
        }))
    }

    async fn report_types(
        &self,
        r: Request<pb::TypesReport>,
    ) -> Result<Response<pb::TypesReply>, Status> {
        let node = for_own_node(&r, |r| &r.node)?;
        self.ensure_leader()?;
        self.types_discovered(&node, r.get_ref()).await?;
        Ok(Response::new(pb::TypesReply {}))
    }

    async fn heartbeat(
        &self,
        r: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatAck>, Status> {
        for_own_node(&r, |r| &r.node)?;
        self.ack(r.into_inner()).await.map(Response::new)
    }

    type HeartbeatsStream = HeartbeatStream;

    async fn heartbeats(
        &self,
        r: Request<tonic::Streaming<pb::HeartbeatRequest>>,
    ) -> Result<Response<HeartbeatStream>, Status> {
        // Each heartbeat is acknowledged as the answer stream is read: no task, no queue. The
        // first refusal ends the stream with its status; the agent's end going away ends it too.
        // The member stopping ends it as well.
        // A heartbeat for another node than the certificate's ends the stream.
        let who = caller(&r)?;
        let state = (self.clone(), r.into_inner(), self.stop.clone(), false);
        let acks = futures::stream::unfold(
            (state, who),
            |((api, mut inbound, mut stop, refused), who)| async move {
                if refused {
                    return None;
                }
                let hb = tokio::select! {
                    m = inbound.message() => m.ok()??,
                    _ = stopped(&mut stop) => return None,
                };
                let acked = match acts_for(&who, &hb.node) {
                    Ok(()) => api.ack(hb).await,
                    Err(status) => Err(status),
                };
                match acked {
                    Ok(ack) => Some((Ok(ack), ((api, inbound, stop, false), who))),
                    Err(status) => Some((Err(status), ((api, inbound, stop, true), who))),
                }
            },
        );
        Ok(Response::new(Box::pin(acks)))
    }

    type DesiredStream = DesiredStream;

    async fn desired(
        &self,
        r: Request<pb::DesiredRequest>,
    ) -> Result<Response<DesiredStream>, Status> {
        let node = for_own_node(&r, |r| &r.node)?;
        self.ensure_leader()?;
        self.known(&node).await?;
        let mut desired = self.board.subscribe(&node);
        let mut leadership = self.store.leadership();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut sent: Option<Arc<DesiredNode>> = None;
            loop {
                let now = desired.borrow_and_update().clone();
                if let Some(d) = now.filter(|d| sent.as_deref() != Some(&**d)) {
                    if tx.send(Ok(wire::desired_to_wire(&d))).await.is_err() {
                        return;
                    }
                    sent = Some(d);
                }
                tokio::select! {
                    r = desired.changed() => if r.is_err() { return },
                    r = leadership.changed() => {
                        if r.is_err() || !leadership.borrow_and_update().is_leader {
                            let _ = tx
                                .send(Err(Status::unavailable("this member no longer leads")))
                                .await;
                            return;
                        }
                    }
                    _ = tx.closed() => return,
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
        for_own_node(&r, |r| &r.node)?;
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
        // Report i is report first_seq + i of the agent's run (incarnation 0: unnumbered).
        let first = (batch.incarnation != 0).then_some(ReportMark {
            incarnation: batch.incarnation,
            seq: batch.first_seq,
        });
        let ops = self
            .store
            .read_local(move |db| checked_ops(db, &node, first, reports))
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
                Err(
                    e @ (ApplyError::Stale { .. }
                    | ApplyError::StaleStop { .. }
                    | ApplyError::Duplicate { .. }),
                ) => {
                    debug!(%e, "stale report")
                }
                Err(e) => warn!(%e, node = %batch.node, "report rejected"),
            }
        }
        Ok(Response::new(pb::ReportReply {}))
    }

    async fn stopped(
        &self,
        r: Request<pb::StoppedRequest>,
    ) -> Result<Response<pb::StoppedReply>, Status> {
        let node = for_own_node(&r, |r| &r.node)?;
        self.ensure_leader()?;
        let req = r.into_inner();
        if req.incarnation == 0 {
            return Err(bad_field("incarnation", "must not be 0"));
        }
        if req.resources.len() > MAX_REPORTS {
            return Err(bad_field(
                "resources",
                format!("{} named (at most {MAX_REPORTS})", req.resources.len()),
            ));
        }
        if let Some(i) = req.resources.iter().position(|r| r.trim().is_empty()) {
            return Err(bad_field(&format!("resources[{i}]"), "must not be empty"));
        }
        let declared_down = self
            .confirmed_stop(&node, req.incarnation, req.resources)
            .await?;
        Ok(Response::new(pb::StoppedReply { declared_down }))
    }

    async fn member_gone(
        &self,
        r: Request<pb::MemberGoneRequest>,
    ) -> Result<Response<pb::MemberGoneReply>, Status> {
        let who = caller(&r)?;
        let id = r.get_ref().member_id;
        if id == self.store.member_id() {
            return Err(bad_field("member_id", "names this member, which is alive"));
        }
        let members = self.store.members().await.map_err(|e| from_store(&e))?;
        let Some(gone) = members.iter().find(|m| m.id == id) else {
            return Err(bad_field("member_id", format!("{id} is not a member")));
        };
        if !who.is_member(std::iter::once(gone.address.as_str())) {
            let status = Status::permission_denied(format!(
                "{who} may not say that member {id} is gone: only its own node may (a node \
                 certificate for {})",
                gone.address
            ));
            return Err(super::auth::refused(&who.to_string(), status));
        }
        let campaigned = self
            .store
            .campaign_after(id)
            .await
            .map_err(|e| from_store(&e))?;
        if campaigned {
            warn!(
                member = id,
                "the leader's node says it died: campaigning now"
            );
        }
        // Whoever leads once it is not the dead member: the watchdog's next call goes there.
        let mut leadership = self.store.leadership();
        let wait = leadership.wait_for(|l| l.leader_id != 0 && l.leader_id != id);
        let leader_address = match tokio::time::timeout(Duration::from_secs(2), wait).await {
            Ok(Ok(l)) => l.leader_address.clone().unwrap_or_default(),
            _ => String::new(),
        };
        Ok(Response::new(pb::MemberGoneReply {
            campaigned,
            leader_address,
        }))
    }

    async fn suspect(
        &self,
        r: Request<pb::SuspectRequest>,
    ) -> Result<Response<pb::SuspectReply>, Status> {
        let who = caller(&r)?;
        let members = self.store.members().await.map_err(|e| from_store(&e))?;
        if !who.is_member(members.iter().map(|m| m.address.as_str())) {
            let status = Status::permission_denied(format!(
                "{who} may not ask for suspicions: only controller members may (a node \
                 certificate for a member's address)"
            ));
            return Err(super::auth::refused(&who.to_string(), status));
        }
        let req = r.into_inner();
        if req.confirmed_stop {
            // The leader was told by the node's watchdog that it stopped everything: no run
            // of the node's agent may hold a lease from here until the node has been moved.
            self.liveness
                .witness()
                .suspect(&req.node, Duration::from_millis(req.node_timeout_ms.max(1)));
            return Ok(Response::new(pb::SuspectReply {
                silent: true,
                silence_ms: 0,
                member_id: self.store.member_id(),
            }));
        }
        if req.node_timeout_ms == 0 {
            return Err(bad_field("node_timeout_ms", "must be above zero"));
        }
        if req.lease_ms >= req.node_timeout_ms {
            return Err(bad_field(
                "lease_ms",
                format!("must be below node_timeout_ms ({})", req.node_timeout_ms),
            ));
        }
        let verdict = self.liveness.witness().verdict(
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

impl<S: Store> AgentApi<S> {
    /// A watchdog's word that `node`'s daemon run `incarnation` died and that it stopped
    /// `resources`: checked against the run the cluster last registered for the node, then a
    /// majority of the voters suspect the node (no run of its agent may hold a lease while its
    /// groups move), then the node is declared Down and fenced in one command. Returns whether
    /// this call declared it Down (false: it was Down already).
    async fn confirmed_stop(
        &self,
        node: &str,
        incarnation: u64,
        resources: Vec<String>,
    ) -> Result<bool, Status> {
        let key = node.to_string();
        let found = self
            .store
            .read(move |db| {
                db.nodes
                    .get(&key)
                    .map(|n| (n.incarnation, n.liveness == NodeLiveness::Down))
            })
            .await
            .map_err(|e| from_store(&e))?;
        let Some((current, down)) = found else {
            return Err(unknown_node(node));
        };
        if current != incarnation {
            return Err(stale(node, incarnation, current));
        }
        if down {
            return Ok(false);
        }
        let roster = self
            .liveness
            .roster()
            .ok_or_else(|| Status::unavailable(Refused::NotReady.to_string()))?;
        let timeout = Duration::from_millis(roster.node_timeout_ms);
        let lease = Duration::from_millis(roster.lease_ms);
        let tally = self
            .jury
            .confirm(&self.store, node, timeout, lease)
            .await
            .ok_or_else(|| Status::unavailable("cannot read the controller members"))?;
        if !tally.is_down() {
            return Err(Status::unavailable(format!(
                "only {} of {} members could be told to suspect node {node:?}: not declared \
                 Down on its watchdog's word yet",
                tally.silent, tally.voters
            )));
        }
        warn!(
            %node,
            stopped = resources.len(),
            "declaring node Down: its daemon died and its watchdog stopped what it ran"
        );
        let op = Op::NodeStopped {
            node: node.to_string(),
            incarnation,
            resources,
        };
        let c = self
            .store
            .propose(Command::agent(Time::now(), node, op))
            .await
            .map_err(|e| from_store(&e))?;
        match c.result {
            Ok(_) => Ok(true),
            Err(ApplyError::StaleIncarnation { current, .. }) => {
                Err(stale(node, incarnation, current))
            }
            Err(e) => Err(from_apply(&e)),
        }
    }
}

/// The answer to a watchdog's word about a daemon run that is not the node's current one.
fn stale(node: &str, incarnation: u64, current: u64) -> Status {
    Status::aborted(
        ApplyError::StaleIncarnation {
            node: node.to_string(),
            incarnation,
            current,
        }
        .to_string(),
    )
}

/// The node a request names, if its caller may act for it (a node's certificate for that
/// node); refused otherwise, and logged with the caller.
fn for_own_node<R>(r: &Request<R>, node: impl Fn(&R) -> &String) -> Result<String, Status> {
    let who = caller(r)?;
    let node = node(r.get_ref()).clone();
    acts_for(&who, &node)?;
    Ok(node)
}

fn acts_for(who: &Caller, node: &str) -> Result<(), Status> {
    if who.may_act_for_node(node) {
        return Ok(());
    }
    let status = Status::permission_denied(format!(
        "{who} may not act for node {node:?}: an agent speaks only for the node its \
         certificate names"
    ));
    Err(super::auth::refused(&who.to_string(), status))
}

/// The commands a batch of reports from `node` makes, checked against `db`: an unknown node,
/// an unknown resource or group, a resource reported under another group, or an epoch the
/// cluster never handed out refuse the whole batch (naming the field); reports on a placement
/// that moved on are dropped as history, and so are reports applied already (`first` numbers
/// the batch: an agent whose call timed out sends the same batch again).
fn checked_ops(
    db: &ClusterDb,
    node: &str,
    first: Option<ReportMark>,
    reports: Vec<AgentReport>,
) -> Result<Vec<Op>, Status> {
    let Some(known) = db.nodes.get(node) else {
        return Err(unknown_node(node));
    };
    let future = |field: String, epoch: u64| {
        Err(bad_field(
            &field,
            format!("{epoch} was never handed out (the newest is {})", db.epoch),
        ))
    };
    let mut ops = Vec::new();
    for (i, r) in reports.into_iter().enumerate() {
        let mark = first.map(|m| m.nth(i));
        if mark.is_some_and(|m| m.seen_by(known.last_report)) {
            debug!(%node, ?mark, "report applied already: dropped");
            continue;
        }
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
                    mark,
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
                    mark,
                });
            }
        }
    }
    Ok(ops)
}
