//! The `RaftTransport` gRPC service: a [`Transport`] that keeps one client stream open per
//! peer and pushes batches of raft messages down it, and the server side that hands received
//! messages to the local member.
//!
//! ```text
//!  member ─send()─▶ per-peer queue ─▶ peer task: connect (backoff) ─▶ Send(stream RaftBatch)
//!                                                                          │
//!  peer member ◀── RaftNode::step ◀── RaftService::send ◀──────────────────┘
//! ```
//!
//! Messages are raft-rs's own protobuf encoding, carried as `bytes`.

use std::collections::HashMap;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use nonstop_proto::raft::raft_transport_client::RaftTransportClient;
use nonstop_proto::raft::raft_transport_server::{RaftTransport, RaftTransportServer};
use nonstop_proto::raft::{RaftBatch, SendSummary};
use protobuf::Message as _;
use raft::prelude::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};

use super::handle::RaftNode;
use super::transport::Transport;
use super::types::Members;

/// Largest gRPC message either side accepts (a snapshot travels in one).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;
/// Messages queued per peer before new ones are dropped.
const PEER_QUEUE: usize = 4096;
/// Raft messages per batch.
const MAX_BATCH: usize = 512;
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often an idle peer connection is pinged, and how long a ping may go unanswered.
const KEEPALIVE: Duration = Duration::from_millis(500);

/// A future that opens a channel.
pub type ConnectFuture = Pin<Box<dyn Future<Output = Result<Channel, String>> + Send>>;

/// Opens a gRPC channel to a member's address (TCP in production; a simulated network in
/// tests). Called again after every failure, with backoff.
pub trait Connect: Send + Sync + 'static {
    /// Connects to `address`; the error says why not.
    fn connect(&self, address: &str) -> ConnectFuture;
}

/// TCP (`host:port`), plain or TLS, from the member's own listen address when given (its
/// peers, and a firewall, see its connections come from the address it serves on).
#[derive(Clone, Debug, Default)]
pub struct TcpConnect {
    /// How to dial.
    pub dial: nonstop_pki::Dial,
}

impl Connect for TcpConnect {
    fn connect(&self, address: &str) -> ConnectFuture {
        let ep = endpoint(&self.dial, address);
        let dial = self.dial.clone();
        Box::pin(async move { dial.connect(&ep?).await.map_err(|e| e.to_string()) })
    }
}

/// The endpoint for a peer at `address` (`host:port`). HTTP/2 keep-alive pings find a
/// connection that died silently (a partition, a crashed host): the stream on it fails and
/// the link reconnects.
pub fn endpoint(dial: &nonstop_pki::Dial, address: &str) -> Result<Endpoint, String> {
    let ep = dial.endpoint(address)?;
    Ok(ep
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE)
        .keep_alive_while_idle(true))
}

struct Peer {
    address: String,
    queue: mpsc::Sender<Message>,
    task: JoinHandle<()>,
}

/// A [`Transport`] over gRPC client streams, one per peer.
pub struct GrpcTransport {
    id: u64,
    connect: std::sync::Arc<dyn Connect>,
    peers: Mutex<HashMap<u64, Peer>>,
}

impl std::fmt::Debug for GrpcTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTransport")
            .field("id", &self.id)
            .finish()
    }
}

impl GrpcTransport {
    /// The transport of member `id`, opening channels with `connect`.
    pub fn new(id: u64, connect: impl Connect) -> Self {
        GrpcTransport {
            id,
            connect: std::sync::Arc::new(connect),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Over plain TCP.
    pub fn tcp(id: u64) -> Self {
        Self::new(id, TcpConnect::default())
    }

    /// Over TCP as `dial` says (TLS, the member's own address).
    pub fn tcp_dialing(id: u64, dial: nonstop_pki::Dial) -> Self {
        Self::new(id, TcpConnect { dial })
    }

    fn spawn_peer(&self, to: u64, address: &str) -> Peer {
        let (queue, rx) = mpsc::channel(PEER_QUEUE);
        let link = Link {
            from: self.id,
            to,
            address: address.to_string(),
            connect: self.connect.clone(),
        };
        Peer {
            address: address.to_string(),
            queue,
            task: tokio::spawn(link.run(rx)),
        }
    }
}

impl Transport for GrpcTransport {
    fn send(&self, msgs: Vec<Message>) {
        let Ok(peers) = self.peers.lock() else { return };
        for m in msgs {
            if let Some(p) = peers.get(&m.to) {
                // A full queue means the peer is slow or gone: raft resends what matters.
                let _ = p.queue.try_send(m);
            }
        }
    }

    fn set_members(&self, members: &Members) {
        let Ok(mut peers) = self.peers.lock() else {
            return;
        };
        peers.retain(|id, p| {
            let keep = members.get(id) == Some(&p.address);
            if !keep {
                p.task.abort();
            }
            keep
        });
        for (id, address) in members {
            if *id != self.id && !peers.contains_key(id) {
                let peer = self.spawn_peer(*id, address);
                peers.insert(*id, peer);
            }
        }
    }
}

impl Drop for GrpcTransport {
    fn drop(&mut self) {
        if let Ok(peers) = self.peers.lock() {
            peers.values().for_each(|p| p.task.abort());
        }
    }
}

/// The sending side towards one peer.
struct Link {
    from: u64,
    to: u64,
    address: String,
    connect: std::sync::Arc<dyn Connect>,
}

impl Link {
    async fn run(self, mut rx: mpsc::Receiver<Message>) {
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.connect.connect(&self.address).await {
                Ok(channel) => {
                    backoff = MIN_BACKOFF;
                    if self.stream(channel, &mut rx).await.is_break() {
                        return;
                    }
                }
                Err(e) => tracing::debug!(to = self.to, address = %self.address, error = %e,
                    "raft peer unreachable"),
            }
            // What queued up while the link was down is stale: raft resends what matters.
            while rx.try_recv().is_ok() {}
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Streams batches until the stream fails (`Continue`: reconnect) or the transport is
    /// dropped (`Break`).
    async fn stream(&self, channel: Channel, rx: &mut mpsc::Receiver<Message>) -> ControlFlow<()> {
        let (tx, batches) = mpsc::channel(64);
        let mut client = RaftTransportClient::new(channel)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let call = client.send(ReceiverStream::new(batches));
        tokio::pin!(call);
        loop {
            tokio::select! {
                res = &mut call => {
                    tracing::debug!(to = self.to, result = ?res.map(|r| r.into_inner()),
                        "raft stream ended");
                    return ControlFlow::Continue(());
                }
                m = rx.recv() => {
                    let Some(m) = m else { return ControlFlow::Break(()) };
                    let batch = self.batch(m, rx);
                    if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(batch) {
                        return ControlFlow::Continue(());
                    }
                }
            }
        }
    }

    /// `first` and whatever else is queued, encoded.
    fn batch(&self, first: Message, rx: &mut mpsc::Receiver<Message>) -> RaftBatch {
        let mut messages = vec![first.write_to_bytes().unwrap_or_default()];
        while messages.len() < MAX_BATCH {
            let Ok(m) = rx.try_recv() else { break };
            messages.push(m.write_to_bytes().unwrap_or_default());
        }
        RaftBatch {
            from: self.from,
            to: self.to,
            messages,
        }
    }
}

/// The receiving side: hands raft messages to the local member.
#[derive(Debug)]
pub struct RaftService {
    node: RaftNode,
}

/// The `RaftTransport` service for `node`, ready to add to a tonic server.
pub fn raft_service(node: RaftNode) -> RaftTransportServer<RaftService> {
    RaftTransportServer::new(RaftService { node })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

impl RaftService {
    /// Whether `who` may send for member `from`: its certificate covers the address `from`
    /// is listed at. Refused otherwise, and logged with the caller.
    async fn check_sender(&self, who: &crate::server::Caller, from: u64) -> Result<(), Status> {
        let members = self
            .node
            .status()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?
            .members;
        match members.get(&from) {
            Some(address) if who.covers(address) => Ok(()),
            listed => {
                let why = match listed {
                    Some(address) => {
                        format!("member {from} is at {address}, which it does not cover")
                    }
                    None => format!("{from} is not a member"),
                };
                let status = Status::permission_denied(format!(
                    "{who} may not send raft messages as member {from}: {why}"
                ));
                Err(crate::server::auth::refused(&who.to_string(), status))
            }
        }
    }
}

#[tonic::async_trait]
impl RaftTransport for RaftService {
    async fn send(
        &self,
        request: Request<Streaming<RaftBatch>>,
    ) -> Result<Response<SendSummary>, Status> {
        // Who sends: a member's certificate, for the address the sender of each message is
        // listed at (checked once per sender on this stream).
        let who = crate::server::auth::caller(&request)?;
        let mut senders = std::collections::BTreeSet::new();
        let mut stream = request.into_inner();
        let mut accepted = 0;
        loop {
            // A stopped member ends its streams at once: senders reconnect to whatever serves
            // the address next, and a graceful server shutdown does not wait on them.
            let batch = tokio::select! {
                b = stream.message() => b?,
                _ = self.node.stopped() => None,
            };
            let Some(batch) = batch else { break };
            if batch.to != self.node.id() {
                let why = format!(
                    "batch for member {} reached member {}",
                    batch.to,
                    self.node.id()
                );
                return Err(Status::invalid_argument(why));
            }
            let msgs = (batch.messages.iter())
                .map(|b| Message::parse_from_bytes(b))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Status::invalid_argument(format!("messages: {e}")))?;
            // The member that sends is the batch's `from`: its certificate must cover that
            // member's address. Its messages are its own, except a MsgTransferLeader a follower
            // forwards to the leader, which names the member asked to lead (raft-rs keeps the
            // transferee as `from`).
            if !senders.contains(&batch.from) {
                self.check_sender(&who, batch.from).await?;
                senders.insert(batch.from);
            }
            if let Some(m) = not_from(batch.from, &msgs) {
                let status = Status::permission_denied(format!(
                    "{who} may not send raft messages as member {}: the batch comes from member {}",
                    m.from, batch.from
                ));
                return Err(crate::server::auth::refused(&who.to_string(), status));
            }
            accepted += msgs.len() as u64;
            if !self.node.step(msgs) {
                // End the stream so the sender reconnects to whatever serves this address next.
                return Err(Status::unavailable(format!(
                    "member {} stopped",
                    self.node.id()
                )));
            }
        }
        Ok(Response::new(SendSummary { accepted }))
    }
}

/// The first message of a batch from member `from` that is not that member's to send: every
/// message's `from` is the batch's, except a MsgTransferLeader a follower forwards to the
/// leader, which raft-rs sends with the transferee as `from`.
fn not_from(from: u64, msgs: &[Message]) -> Option<&Message> {
    msgs.iter().find(|m| {
        m.from != from && m.get_msg_type() != raft::prelude::MessageType::MsgTransferLeader
    })
}

/// The connections `listener` accepts, each with `TCP_NODELAY` set, for any gRPC server of a
/// member. tonic sets its `tcp_nodelay` option only on listeners it binds itself; on a socket
/// handed to `serve_with_incoming`, Nagle's algorithm held small answers and stream items
/// (a heartbeat's acknowledgement, a desired state, an event) for up to 40 ms.
pub fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Serves `node`'s `RaftTransport` on `listener` until `shutdown` resolves.
pub async fn serve_tcp(
    listener: tokio::net::TcpListener,
    node: RaftNode,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let incoming = incoming(listener);
    tonic::transport::Server::builder()
        .add_service(raft_service(node))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use raft::prelude::{Message, MessageType};

    fn msg(ty: MessageType, from: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(ty);
        m.from = from;
        m.to = 1;
        m
    }

    /// A batch speaks for its sending member only; a forwarded MsgTransferLeader names the
    /// member asked to lead and passes (t50 found the refusal of those).
    #[test]
    fn a_batch_carries_its_senders_messages_and_forwarded_transfers_only() {
        let own = [
            msg(MessageType::MsgAppendResponse, 2),
            msg(MessageType::MsgHeartbeatResponse, 2),
        ];
        assert!(super::not_from(2, &own).is_none());
        let forwarded = [msg(MessageType::MsgTransferLeader, 3)];
        assert!(super::not_from(2, &forwarded).is_none());
        let forged = [
            msg(MessageType::MsgHeartbeatResponse, 2),
            msg(MessageType::MsgAppend, 3),
        ];
        let found = super::not_from(2, &forged).expect("a message of member 3 in member 2's batch");
        assert_eq!(
            (found.from, found.get_msg_type()),
            (3, MessageType::MsgAppend)
        );
        let vote = [msg(MessageType::MsgRequestVote, 3)];
        assert!(
            super::not_from(2, &vote).is_some(),
            "a vote is its candidate's own"
        );
    }

    /// Every accepted connection has Nagle's algorithm off: small answers leave at once.
    #[tokio::test]
    async fn accepted_connections_have_nodelay_set() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accepted = super::incoming(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let server_side = accepted.next().await.unwrap().unwrap();
        assert!(server_side.nodelay().unwrap());
    }
}
