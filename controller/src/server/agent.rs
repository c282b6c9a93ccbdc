//! `AgentService`: the leader's side of each agent's link (agent/src/link.rs is the other).
//! Heartbeats feed the leader's liveness view and are acknowledged with the lease; the desired
//! state streams to each agent again on every change; reports become commands.

use std::pin::Pin;
use std::time::Instant;

use futures::Stream;
use nonstop_proto::agent as pb;
use nonstop_proto::agent::agent_service_server::AgentService;
use nonstop_resource_types::{ResourceState, RestartCount};
use tonic::{Request, Response, Status};
use tracing::{debug, warn};

use super::status::{bad_field, from_store};
use crate::db::model::Liveness as NodeLiveness;
use crate::db::{ApplyError, Command, Op};
use crate::leader::SharedLiveness;
use crate::store::{Store, StoreError};
use crate::time::Time;

/// The service over a store, sharing the leader's liveness view.
#[derive(Debug, Clone)]
pub struct AgentApi<S> {
    store: S,
    liveness: SharedLiveness,
}

impl<S: Store> AgentApi<S> {
    /// The service of this member.
    pub fn new(store: S, liveness: SharedLiveness) -> Self {
        AgentApi { store, liveness }
    }

    /// Only the leader serves agents: others point to it.
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

    /// Records a heartbeat (or registration) from `node` and brings it Up in the database if it
    /// was not. Returns the timing profile's heartbeat and lease, in ms.
    ///
    /// One linearizable read serves it all: besides the node and the profile, it confirms with
    /// a quorum that this member still leads, so a deposed leader cannot extend a lease.
    async fn heard_from(&self, node: &str) -> Result<(u64, u64), Status> {
        let key = node.to_string();
        let (live, evicted, heartbeat, lease) = self
            .store
            .read(move |db| {
                let t = &db.settings.timing;
                let n = db.nodes.get(&key)?;
                Some((n.liveness, n.evicted, t.heartbeat.0, t.lease.0))
            })
            .await
            .map_err(|e| from_store(&e))?
            .ok_or_else(|| unknown_node(node))?;
        if evicted {
            return Err(Status::failed_precondition(format!(
                "node {node:?} was evicted: resume it first"
            )));
        }
        if let Some(l) = self
            .liveness
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            l.beat(node, Instant::now());
        }
        if live != NodeLiveness::Up {
            let cmd = Command::liveness(
                Time::now(),
                Op::NodeUp {
                    node: node.to_string(),
                },
            );
            let c = self.store.propose(cmd).await.map_err(|e| from_store(&e))?;
            if let Err(e) = c.result {
                return Err(super::status::from_apply(&e));
            }
        }
        Ok((heartbeat, lease))
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
        let (heartbeat_ms, lease_ms) = self.heard_from(&node).await?;
        Ok(Response::new(pb::RegisterReply {
            heartbeat_ms,
            lease_ms,
        }))
    }

    async fn heartbeat(
        &self,
        r: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatAck>, Status> {
        self.ensure_leader()?;
        let hb = r.into_inner();
        let (_, lease_ms) = self.heard_from(&hb.node).await?;
        Ok(Response::new(pb::HeartbeatAck {
            sent_ms: hb.sent_ms,
            lease_ms,
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
        let mut applied = store.applied();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut last = String::new();
            loop {
                let n = node.clone();
                let Ok(d) = store.read(move |db| db.desired_for(&n)).await else {
                    return;
                };
                let json = serde_json::to_string(&d).unwrap_or_default();
                if json != last {
                    let msg = pb::DesiredState {
                        epoch: d.epoch,
                        json: json.clone(),
                    };
                    if tx.send(Ok(msg)).await.is_err() {
                        return;
                    }
                    last = json;
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
        for rep in batch.reports {
            let op = report_op(&batch.node, rep)?;
            let c = self
                .store
                .propose(Command::agent(Time::now(), &batch.node, op))
                .await
                .map_err(|e| from_store(&e))?;
            match c.result {
                Ok(_) => {}
                // A report on a placement that moved on is history: nothing to record.
                Err(e @ ApplyError::Stale { .. }) => debug!(%e, "stale report"),
                Err(e) => warn!(%e, node = %batch.node, "report rejected"),
            }
        }
        Ok(Response::new(pb::ReportReply {}))
    }
}

fn state(s: &str) -> Result<ResourceState, Status> {
    Ok(match s {
        "Offline" => ResourceState::Offline,
        "OnlinePending" => ResourceState::OnlinePending,
        "Online" => ResourceState::Online,
        "OfflinePending" => ResourceState::OfflinePending,
        "Failed" => ResourceState::Failed,
        _ => {
            return Err(bad_field(
                "reports.state",
                format!("{s:?} is not a resource state"),
            ));
        }
    })
}

fn report_op(node: &str, r: pb::Report) -> Result<Op, Status> {
    let restart = r.restarted.then_some(RestartCount {
        attempt: r.restart_attempt,
        limit: (r.restart_limit > 0).then_some(r.restart_limit),
    });
    Ok(Op::ReportResource {
        node: node.to_string(),
        resource: r.resource,
        epoch: r.epoch,
        state: state(&r.state)?,
        restart,
        gave_up: r.gave_up,
        message: (!r.message.is_empty()).then_some(r.message),
    })
}
