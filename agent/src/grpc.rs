//! The agent's link to the controller over gRPC (`AgentService`, proto/proto/agent.proto).
//!
//! The agent knows the controller members' addresses. Heartbeats go to every member at once,
//! each on its own long-lived stream (agent/src/member_stream.rs; the lease is a quorum's,
//! agent/src/lease.rs). Registration, the desired state and reports go
//! to the leader: a call to a member that does not lead comes back FAILED_PRECONDITION with the
//! leader's address in `nonstop-leader`; the link remembers it and the agent's retry goes there.
//! A member that does not answer makes the link try the next address. Calls are bounded by
//! `timeout`. The addresses start as configured and grow with the voters that acknowledgements
//! name, so members added at run time are heartbeated too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::collections::HashMap;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::{BoxStream, FuturesUnordered};
use nonstop_contract::wire::desired_from_wire;
use nonstop_contract::{AgentReport, Millis, ReportMark};
use nonstop_proto::agent as pb;
use nonstop_proto::agent::agent_service_client::AgentServiceClient;
use nonstop_proto::metadata;
use tonic::transport::{Channel, Endpoint};

use crate::error::{AgentError, Result};
use crate::link::{
    ControllerLink, DesiredStream, Heartbeat, HeartbeatAck, Registered, Registration,
};
use crate::member_stream::MemberStream;

/// How long a connection to a member may go without a frame before it is pinged.
const KEEPALIVE: Duration = Duration::from_secs(1);

/// A link to whichever controller member leads.
#[derive(Debug)]
pub struct GrpcLink {
    node: String,
    addresses: Arc<Mutex<Vec<String>>>,
    timeout: Duration,
    state: Arc<Mutex<LinkState>>,
    /// One heartbeat stream per member address (agent/src/member_stream.rs).
    members: Mutex<HashMap<String, Arc<MemberStream>>>,
    /// How calls are made: plain or TLS, from the node's own address.
    dial: nonstop_pki::Dial,
}

#[derive(Debug, Default)]
struct LinkState {
    /// The address to try next (the leader, when one named itself or was named).
    next: usize,
    leader_hint: Option<String>,
    client: Option<(String, AgentServiceClient<Channel>)>,
    /// The highest leader term an acknowledgement named.
    leader_term: u64,
}

impl GrpcLink {
    /// The link of `node`'s agent over `addresses` (`host:port` of the controller members).
    pub fn new(node: &str, addresses: Vec<String>, timeout: Duration) -> Self {
        let state = Arc::new(Mutex::new(LinkState::default()));
        GrpcLink {
            node: node.to_string(),
            addresses: Arc::new(Mutex::new(addresses)),
            timeout,
            state,
            members: Mutex::new(HashMap::new()),
            dial: nonstop_pki::Dial::default(),
        }
    }

    /// The same link, calling as `dial` says (TLS with the node's certificate, from the
    /// node's own address).
    pub fn dialing(mut self, dial: nonstop_pki::Dial) -> Self {
        self.dial = dial;
        self
    }

    fn endpoint(&self, addr: &str) -> Result<Endpoint> {
        Ok(self
            .dial
            .endpoint(addr)
            .map_err(AgentError::Link)?
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            // A connection that died silently (a partition: packets dropped, no reset) is
            // found by its unanswered ping and replaced; without it every later call and
            // heartbeat stream queued on it until TCP gave up, long after the network healed.
            .http2_keep_alive_interval(KEEPALIVE)
            .keep_alive_timeout(self.timeout)
            .keep_alive_while_idle(true))
    }

    /// The heartbeat stream of every member (connected when first used).
    fn member_streams(&self) -> Vec<(String, Result<Arc<MemberStream>>)> {
        let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for addr in self.addresses() {
            let stream = match members.get(&addr) {
                Some(m) => Ok(m.clone()),
                None => self.endpoint(&addr).map(|e| {
                    let client = AgentServiceClient::new(self.dial.connect_lazy(&e));
                    let m = Arc::new(MemberStream::new(&addr, client, self.timeout));
                    members.insert(addr.clone(), m.clone());
                    m
                }),
            };
            out.push((addr, stream));
        }
        out
    }

    fn addresses(&self) -> Vec<String> {
        self.addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A client for the member most likely to lead. Connecting is lazy: a dead member shows up
    /// as an error on the first call.
    fn client(&self) -> Result<(String, AgentServiceClient<Channel>)> {
        let mut s = self.lock();
        if let Some(c) = &s.client {
            return Ok(c.clone());
        }
        let addr = match s.leader_hint.take() {
            Some(a) => a,
            None => {
                let addresses = self.addresses();
                if addresses.is_empty() {
                    return Err(AgentError::Link("no controller addresses".into()));
                }
                let a = addresses[s.next % addresses.len()].clone();
                s.next += 1;
                a
            }
        };
        let client = AgentServiceClient::new(self.dial.connect_lazy(&self.endpoint(&addr)?));
        s.client = Some((addr.clone(), client.clone()));
        Ok((addr, client))
    }

    /// A call only the leader serves: made on the member most likely to lead; when that member
    /// names another leader, made once more at once, there (after a leader change the link
    /// would otherwise learn of it only at the caller's next try).
    async fn to_leader<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn(AgentServiceClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, tonic::Status>>,
    {
        let mut again = true;
        loop {
            let (addr, c) = self.client()?;
            match call(c).await {
                Ok(v) => return Ok(v),
                Err(status) => {
                    let named = status.code() == tonic::Code::FailedPrecondition
                        && status.metadata().get(metadata::LEADER).is_some();
                    let e = self.failed(&addr, status);
                    if !(named && std::mem::take(&mut again)) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Turns a failed call into the agent's error, and decides where the next call goes.
    fn failed(&self, addr: &str, status: tonic::Status) -> AgentError {
        let mut s = self.lock();
        s.client = None;
        if status.code() == tonic::Code::FailedPrecondition
            && let Some(leader) = status
                .metadata()
                .get(metadata::LEADER)
                .and_then(|v| v.to_str().ok())
        {
            s.leader_hint = Some(leader.to_string());
        }
        AgentError::Link(format!("{addr}: {}: {}", status.code(), status.message()))
    }
}

/// The leader's answer to a watchdog's word that a dead daemon's resources are stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopAnswer {
    /// The node is Down: declared now (`true`), or it was already.
    Down(bool),
    /// Refused for good (a newer daemon registered, the node is unknown, the certificate does
    /// not name it): nothing changed, asking again changes nothing.
    Refused(String),
}

impl GrpcLink {
    /// Reports the types this node discovered (its OCF agents' and plug-ins' meta-data) to the
    /// leader, which records them for the node.
    pub async fn report_types(&self, types: &[nonstop_contract::TypeDef]) -> Result<()> {
        let req = pb::TypesReport {
            node: self.node.clone(),
            discovered: types
                .iter()
                .map(nonstop_contract::wire::type_to_wire)
                .collect(),
        };
        self.to_leader(|mut c| {
            let req = req.clone();
            async move { c.report_types(req).await }
        })
        .await
        .map(drop)
    }

    /// Tells the members, one after the other until one answers, that member `id` (the one
    /// this node ran) died with its daemon: the first that followed it campaigns at once.
    /// Returns the address that answered and whether it campaigned; the leader it names (once
    /// one other than `id` leads) is where this link's next leader-only call goes.
    pub async fn member_gone(&self, id: u64) -> Option<(String, bool)> {
        for addr in self.addresses() {
            let Ok(endpoint) = self.endpoint(&addr) else {
                continue;
            };
            let Ok(channel) = self.dial.connect(&endpoint).await else {
                continue;
            };
            let mut c = AgentServiceClient::new(channel);
            let req = pb::MemberGoneRequest { member_id: id };
            if let Ok(reply) = c.member_gone(req).await {
                let reply = reply.into_inner();
                if !reply.leader_address.is_empty() {
                    let mut s = self.lock();
                    s.client = None;
                    s.leader_hint = Some(reply.leader_address);
                }
                return Some((addr, reply.campaigned));
            }
        }
        None
    }

    /// Tells the leader that the daemon run `incarnation` of this node died and that its
    /// watchdog stopped `resources`. An error is worth a retry (no leader, a member away).
    pub async fn stopped(&self, incarnation: u64, resources: Vec<String>) -> Result<StopAnswer> {
        let (addr, mut c) = self.client()?;
        let req = pb::StoppedRequest {
            node: self.node.clone(),
            incarnation,
            resources,
            stopped_at_ms: crate::clock::wall_ms(),
        };
        match c.stopped(req).await {
            Ok(reply) => Ok(StopAnswer::Down(reply.into_inner().declared_down)),
            Err(status) => {
                let final_ = matches!(
                    status.code(),
                    tonic::Code::Aborted
                        | tonic::Code::NotFound
                        | tonic::Code::PermissionDenied
                        | tonic::Code::InvalidArgument
                        | tonic::Code::Unauthenticated
                );
                if final_ {
                    Ok(StopAnswer::Refused(format!(
                        "{addr}: {}: {}",
                        status.code(),
                        status.message()
                    )))
                } else {
                    Err(self.failed(&addr, status))
                }
            }
        }
    }
}

#[async_trait]
impl ControllerLink for GrpcLink {
    async fn register(&self, r: Registration) -> Result<Registered> {
        let req = pb::RegisterRequest {
            node: r.node,
            types: r.types,
            incarnation: r.incarnation,
            address: r.address.unwrap_or_default(),
        };
        let reply = self
            .to_leader(|mut c| {
                let req = req.clone();
                async move { c.register(req).await }
            })
            .await?
            .into_inner();
        Ok(Registered {
            heartbeat: Millis(reply.heartbeat_ms),
            terminate: Millis(reply.terminate_ms),
        })
    }

    fn heartbeat(&self, h: Heartbeat) -> BoxStream<'static, Result<HeartbeatAck>> {
        let req = pb::HeartbeatRequest {
            node: h.node,
            seq: h.seq,
            sent_ms: h.sent_ms,
            holds_lease: Some(h.holds_lease),
        };
        let asks: FuturesUnordered<_> = self
            .member_streams()
            .into_iter()
            .map(|(_, stream)| {
                let (req, known) = (req.clone(), self.addresses.clone());
                let state = self.state.clone();
                async move {
                    let ack = stream?.ask(req).await?;
                    learn(&known, ack.voter_addresses);
                    if !ack.leader_address.is_empty() {
                        follow(&state, ack.leader_term, &ack.leader_address);
                    }
                    Ok(HeartbeatAck {
                        sent_ms: ack.sent_ms,
                        lease: Millis(ack.lease_ms),
                        member: ack.member_id,
                        voters: ack.voters,
                        leader: (!ack.leader_address.is_empty())
                            .then_some((ack.leader_term, ack.leader_address)),
                        heartbeat: (ack.heartbeat_ms > 0).then_some(Millis(ack.heartbeat_ms)),
                        terminate: (ack.terminate_ms > 0).then_some(Millis(ack.terminate_ms)),
                    })
                }
            })
            .collect();
        asks.boxed()
    }

    async fn desired(&self, node: &str) -> Result<DesiredStream> {
        let req = pb::DesiredRequest {
            node: node.to_string(),
        };
        let stream = self
            .to_leader(|mut c| {
                let req = req.clone();
                async move { c.desired(req).await }
            })
            .await?
            .into_inner();
        let items = stream.map(move |item| {
            let msg = item.map_err(|s| AgentError::Link(format!("desired state: {s}")))?;
            Ok(desired_from_wire(msg)?)
        });
        Ok(items.boxed())
    }

    async fn report(&self, first: ReportMark, reports: Vec<AgentReport>) -> Result<()> {
        if reports.is_empty() {
            return Ok(());
        }
        let batch = pb::ReportBatch {
            node: self.node.clone(),
            reports: reports.into_iter().map(pb::AgentReport::from).collect(),
            incarnation: first.incarnation,
            first_seq: first.seq,
        };
        self.to_leader(|mut c| {
            let batch = batch.clone();
            async move { c.report(batch).await }
        })
        .await?;
        Ok(())
    }
}

/// A newer leader named by an acknowledgement: the next leader-only call goes there.
fn follow(state: &Mutex<LinkState>, term: u64, leader: &str) {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    if term <= s.leader_term {
        return;
    }
    s.leader_term = term;
    if s.client.as_ref().is_none_or(|(addr, _)| addr != leader) {
        s.client = None;
        s.leader_hint = Some(leader.to_string());
    }
}

/// Adds the voters an acknowledgement names to the addresses heartbeated.
fn learn(known: &Mutex<Vec<String>>, voters: Vec<String>) {
    let mut known = known.lock().unwrap_or_else(|p| p.into_inner());
    for v in voters {
        if !v.is_empty() && !known.contains(&v) {
            tracing::info!(member = %v, "heartbeating a member added since the start");
            known.push(v);
        }
    }
}
