//! Who calls, and what they may do. The caller is read off the TLS connection (the client
//! certificate the cluster CA signed), never off a field of the request.
//!
//! ```text
//!  connection ─▶ Guard (every service of a member) ─ caller_of(certificate) ─▶ Caller
//!     │            needed(path): the rule for the method, table below; refused: logged with
//!     │            the peer's address, UNAUTHENTICATED or PERMISSION_DENIED naming the role
//!     ▼
//!  the service ─ caller(&req) ─▶ checks what only the request's body says (an agent's node
//!                                name, a raft message's sender) and records the caller
//! ```
//!
//! | calls | who |
//! |---|---|
//! | ClusterService reads, watches, resolve, audit, member list | any user; any node |
//! | MoveGroup, Set*Target, ClearGroup, PauseNode, ResumeNode, TransferLeader, RecordDrill | operator, admin; a node may pause and resume itself (drain) |
//! | DrillService Inject (served by every daemon with an agent: a fault on that node) | operator, admin |
//! | ApplyConfig, EvictNode, ConfirmFenced, AddMember, RemoveMember, the token calls, and anything not listed | admin |
//! | AgentService Register, Heartbeat(s), Desired, Report, Stopped | the node the request names |
//! | AgentService Suspect, MemberGone, RaftTransport | a controller member (a node certificate for a member's address; MemberGone: for the address of the member it says is gone) |
//!
//! Over TLS, a caller without a client certificate may present a bearer token (tokens.rs):
//! it then has the token's role, as a user.
//!
//! A plain connection reaches a member only when it runs without TLS, on loopback
//! (`--insecure`, node.yaml `insecure: true`): then nobody is authenticated, every call is
//! allowed, and the audit log records the `nonstop-user` the request claims, marked so.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use nonstop_pki::{CertInfo, Identity, Role};
use nonstop_proto::metadata;
use tokio::sync::mpsc;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Request, Status};
use tracing::warn;

use super::tokens::TokenCheck;
use crate::db::{Command, Op};
use crate::store::Store;
use crate::time::Time;

/// Who called, as the connection proves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A plain connection to a member running without TLS: nobody is authenticated.
    Insecure {
        /// What the request's `nonstop-user` claims (`anonymous` when nothing).
        claimed: String,
        /// The peer's address.
        peer: Option<SocketAddr>,
    },
    /// A node of the cluster (its daemon: agent, member, drain).
    Node {
        /// The node's name.
        name: String,
        /// The addresses its certificate covers.
        addresses: Vec<String>,
        /// When its certificate expires, in ms since the Unix epoch.
        expires_ms: u64,
        /// The peer's address.
        peer: Option<SocketAddr>,
    },
    /// A person or a tool.
    User {
        /// The name.
        name: String,
        /// What it may do.
        role: Role,
        /// The peer's address.
        peer: Option<SocketAddr>,
    },
    /// A bearer token (over TLS, without a client certificate; tokens.rs).
    Token {
        /// What it is for.
        name: String,
        /// Its id.
        id: String,
        /// What it may do.
        role: Role,
        /// The peer's address.
        peer: Option<SocketAddr>,
    },
}

impl Caller {
    /// The peer's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        match self {
            Caller::Insecure { peer, .. }
            | Caller::Node { peer, .. }
            | Caller::User { peer, .. }
            | Caller::Token { peer, .. } => *peer,
        }
    }

    /// Who it is, without where it called from (`token 3f2a dash (viewer)`).
    pub fn without_peer(&self) -> String {
        match self {
            Caller::Insecure { claimed, .. } => format!("{claimed} (unauthenticated)"),
            Caller::Node { name, .. } => format!("node {name}"),
            Caller::User { name, role, .. } => format!("user {name} ({role})"),
            Caller::Token { name, id, role, .. } => format!("token {id} {name} ({role})"),
        }
    }

    /// Whether it is a node named `node` (or nobody is authenticated).
    pub fn may_act_for_node(&self, node: &str) -> bool {
        match self {
            Caller::Insecure { .. } => true,
            Caller::Node { name, .. } => name == node,
            Caller::User { .. } | Caller::Token { .. } => false,
        }
    }

    /// Whether it is a controller member: a node certificate that covers the address of one of
    /// `members` (addresses `host:port`), or nobody is authenticated.
    pub fn is_member<'a>(&self, members: impl IntoIterator<Item = &'a str>) -> bool {
        match self {
            Caller::Insecure { .. } => true,
            Caller::Node { addresses, .. } => members
                .into_iter()
                .any(|m| nonstop_pki::covers(addresses, nonstop_pki::host_of(m))),
            Caller::User { .. } | Caller::Token { .. } => false,
        }
    }

    /// Whether its certificate covers `address` (`host:port`): the member listed there may be
    /// it. Always true without authentication.
    pub fn covers(&self, address: &str) -> bool {
        match self {
            Caller::Insecure { .. } => true,
            Caller::Node { addresses, .. } => {
                nonstop_pki::covers(addresses, nonstop_pki::host_of(address))
            }
            Caller::User { .. } | Caller::Token { .. } => false,
        }
    }
}

/// As the audit log records it: `user alice (admin) from 198.18.0.9:40112`.
impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.without_peer())?;
        match self.peer() {
            Some(p) => write!(f, " from {p}"),
            None => Ok(()),
        }
    }
}

/// What a call needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A user with at least this role; a node may call what a viewer may.
    Role(Role),
    /// An operator, or a node (the service checks that it acts on itself).
    OperatorOrSelf,
    /// A node (the service checks which).
    Node,
    /// A controller member.
    Member,
    /// Anyone, even without a certificate (health, reflection).
    Anyone,
}

impl Need {
    /// What a call to the gRPC method at `path` (`/package.Service/Method`) needs. A method
    /// not listed needs an admin.
    pub fn of(path: &str) -> Need {
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path, ""));
        use nonstop_proto::{agent, cluster, drill, raft};
        match service {
            "grpc.health.v1.Health" | "grpc.reflection.v1.ServerReflection" => Need::Anyone,
            raft::raft_transport_server::SERVICE_NAME => Need::Member,
            agent::agent_service_server::SERVICE_NAME => match method {
                "Suspect" | "MemberGone" => Need::Member,
                _ => Need::Node,
            },
            cluster::cluster_service_server::SERVICE_NAME => match method {
                "Status" | "ListNodes" | "GetNode" | "ListGroups" | "GetGroup"
                | "ListResources" | "GetResource" | "ListTypes" | "GetType" | "WatchEvents"
                | "ResolveService" | "Audit" | "ListMembers" | "CheckResource" => {
                    Need::Role(Role::Viewer)
                }
                "MoveGroup" | "SetGroupTarget" | "SetResourceTarget" | "ClearGroup"
                | "TransferLeader" | "RecordDrill" => Need::Role(Role::Operator),
                "PauseNode" | "ResumeNode" => Need::OperatorOrSelf,
                _ => Need::Role(Role::Admin),
            },
            drill::drill_service_server::SERVICE_NAME => Need::Role(Role::Operator),
            _ => Need::Role(Role::Admin),
        }
    }

    /// Whether `caller` may make the call; the error says what it needs. Member checks that
    /// need the membership are the service's ([`Caller::is_member`]); here a node passes.
    pub fn allows(self, caller: &Caller, what: &str) -> Result<(), Status> {
        let denied = |needs: &str| {
            Status::permission_denied(format!("{caller} may not call {what}: it needs {needs}"))
        };
        match (self, caller) {
            (Need::Anyone, _) | (_, Caller::Insecure { .. }) => Ok(()),
            (Need::Role(need), Caller::User { role, .. } | Caller::Token { role, .. })
                if *role >= need =>
            {
                Ok(())
            }
            (Need::Role(Role::Viewer), Caller::Node { .. }) => Ok(()),
            (Need::Role(need), _) => Err(denied(&format!("the {need} role"))),
            (Need::OperatorOrSelf, Caller::User { role, .. } | Caller::Token { role, .. })
                if *role >= Role::Operator =>
            {
                Ok(())
            }
            (Need::OperatorOrSelf, Caller::Node { .. }) => Ok(()),
            (Need::OperatorOrSelf, _) => Err(denied("the operator role")),
            (Need::Node | Need::Member, Caller::Node { .. }) => Ok(()),
            (Need::Node, _) => Err(denied("a node certificate")),
            (Need::Member, _) => Err(denied("a controller member's certificate")),
        }
    }
}

/// The caller of a request with these extensions (an http or a tonic request's), and the
/// request's claimed user for plain connections. A TLS connection without a client
/// certificate, or with one that names no nonstop identity, is unauthenticated.
pub fn caller_of(extensions: &http::Extensions, claimed: Option<&str>) -> Result<Caller, Status> {
    if let Some(tls) = extensions.get::<TlsConnectInfo<TcpConnectInfo>>() {
        let peer = tls.get_ref().remote_addr();
        let from = peer.map(|p| format!(" from {p}")).unwrap_or_default();
        let certs = tls.peer_certs().filter(|c| !c.is_empty()).ok_or_else(|| {
            Status::unauthenticated(format!(
                "no client certificate{from}: present one the cluster CA signed (nonstop cert \
                 user NAME --role R, then --identity DIR)"
            ))
        })?;
        let info = CertInfo::from_der(certs[0].as_ref())
            .map_err(|why| Status::unauthenticated(format!("client certificate{from}: {why}")))?;
        let expires_ms = info.expires_ms();
        return match info.identity {
            Some(Identity::Node(name)) => Ok(Caller::Node {
                name,
                addresses: info.addresses,
                expires_ms,
                peer,
            }),
            Some(Identity::User { name, role }) => Ok(Caller::User { name, role, peer }),
            None => Err(Status::unauthenticated(format!(
                "the client certificate{from} names no node or user"
            ))),
        };
    }
    let peer = extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr);
    Ok(Caller::Insecure {
        claimed: claimed.unwrap_or("anonymous").to_string(),
        peer,
    })
}

/// The caller of a request that came through a [`Guard`] (read again when it did not).
pub fn caller<R>(req: &Request<R>) -> Result<Caller, Status> {
    if let Some(c) = req.extensions().get::<Caller>() {
        return Ok(c.clone());
    }
    let claimed = req
        .metadata()
        .get(metadata::USER)
        .and_then(|v| v.to_str().ok());
    caller_of(req.extensions(), claimed)
}

/// Logs a refusal with the caller and hands the status back.
pub fn refused(caller: &str, status: Status) -> Status {
    warn!(caller, code = ?status.code(), "refused: {}", status.message());
    status
}

/// Where refusals of authenticated callers go besides the log: the audit log, through the
/// leader (a member that does not lead only logs them). Unauthenticated refusals are only
/// logged: whoever has no certificate must not be able to write into the raft log. Bounded:
/// when records arrive faster than they commit, the excess is only logged.
#[derive(Clone, Debug, Default)]
pub struct Refusals(Option<mpsc::Sender<(String, String)>>);

impl Refusals {
    /// Refusals recorded through `store` (while it leads).
    pub fn to_audit<S: Store>(store: S) -> Refusals {
        let (tx, mut rx) = mpsc::channel::<(String, String)>(64);
        tokio::spawn(async move {
            while let Some((who, what)) = rx.recv().await {
                if !store.leadership().borrow().is_leader {
                    continue;
                }
                let op = Op::Record {
                    what: format!("refused: {what}"),
                };
                let _ = store
                    .propose(Command::operator(Time::now(), &who, op))
                    .await;
            }
        });
        Refusals(Some(tx))
    }

    fn note(&self, who: &Caller, what: &str) {
        if let Some(tx) = &self.0 {
            let _ = tx.try_send((who.to_string(), what.to_string()));
        }
    }
}

/// When each node's certificate expires, as this member saw it last: the certificates nodes
/// present on their calls (agents' heartbeats, members' raft streams), and this member's own.
/// Shown by `status` and `node show`; kept in memory (a restarted member sees them again
/// within a heartbeat).
#[derive(Clone, Debug, Default)]
pub struct CertBook(Arc<Mutex<HashMap<String, u64>>>);

impl CertBook {
    /// Notes that `node`'s certificate expires at `expires_ms` (ms since the Unix epoch).
    pub fn note(&self, node: &str, expires_ms: u64) {
        let mut book = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if book.get(node) != Some(&expires_ms) {
            book.insert(node.to_string(), expires_ms);
        }
    }

    /// When `node`'s certificate expires (0: not seen).
    pub fn expires_ms(&self, node: &str) -> u64 {
        let book = self.0.lock().unwrap_or_else(|p| p.into_inner());
        book.get(node).copied().unwrap_or(0)
    }
}

/// A member's gRPC service behind the rules of [`Need::of`]: refuses what the caller may not
/// call before the service sees it, and hands the service the [`Caller`].
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    refusals: Refusals,
    book: CertBook,
    tokens: Option<Arc<dyn TokenCheck>>,
}

impl<S> fmt::Debug for Guard<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

/// `service`, guarded; refusals are only logged.
pub fn guard<S>(service: S) -> Guard<S> {
    Guard {
        inner: service,
        refusals: Refusals::default(),
        book: CertBook::default(),
        tokens: None,
    }
}

impl<S> Guard<S> {
    /// The same guard, recording refusals of authenticated callers in `refusals` too.
    pub fn recording(mut self, refusals: Refusals) -> Self {
        self.refusals = refusals;
        self
    }

    /// The same guard, noting in `book` when each calling node's certificate expires.
    pub fn noting(mut self, book: CertBook) -> Self {
        self.book = book;
        self
    }

    /// The same guard, taking bearer tokens `tokens` accepts from callers over TLS without a
    /// client certificate.
    pub fn with_tokens(mut self, tokens: Arc<dyn TokenCheck>) -> Self {
        self.tokens = Some(tokens);
        self
    }
}

/// The bearer token in an `authorization` header (`Bearer <token>`).
fn bearer(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

impl<S: NamedService> NamedService for Guard<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tonic::codegen::Service<http::Request<Body>> for Guard<S>
where
    S: tonic::codegen::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        let path = req.uri().path().to_string();
        let claimed = req
            .headers()
            .get(metadata::USER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let tls = req.extensions().get::<TlsConnectInfo<TcpConnectInfo>>();
        let peer = tls.and_then(|t| t.get_ref().remote_addr());
        // A token counts only over TLS, and only without a client certificate.
        let by_token = match (tls, &self.tokens, bearer(req.headers())) {
            (Some(t), Some(check), Some(token)) if t.peer_certs().is_none_or(|c| c.is_empty()) => {
                Some(check.check(token, peer))
            }
            _ => None,
        };
        // The service was ready (poll_ready); a clone takes its place for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (refusals, book) = (self.refusals.clone(), self.book.clone());
        Box::pin(async move {
            let identified = match by_token {
                Some(check) => check.await,
                None => caller_of(req.extensions(), claimed.as_deref()),
            };
            let who = peer.map_or("unknown peer".to_string(), |p| p.to_string());
            let caller = match identified {
                Ok(caller) => caller,
                Err(status) => return Ok(refused(&who, status).into_http()),
            };
            if let Err(status) = Need::of(&path).allows(&caller, &path) {
                refusals.note(&caller, &path);
                return Ok(refused(&caller.to_string(), status).into_http());
            }
            if let Caller::Node {
                name, expires_ms, ..
            } = &caller
            {
                book.note(name, *expires_ms);
            }
            req.extensions_mut().insert(caller);
            inner.call(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> Caller {
        Caller::User {
            name: "u".into(),
            role,
            peer: None,
        }
    }

    fn node(name: &str, address: &str) -> Caller {
        Caller::Node {
            name: name.into(),
            addresses: vec![address.into()],
            expires_ms: 0,
            peer: None,
        }
    }

    /// The rule table, as cases: (method, caller, allowed).
    #[test]
    fn each_method_needs_what_the_table_says() {
        let cluster = |m: &str| format!("/nonstop.cluster.v1.ClusterService/{m}");
        let agent = |m: &str| format!("/nonstop.agent.v1.AgentService/{m}");
        let raft = "/nonstop.raft.v1.RaftTransport/Send".to_string();
        let drill = "/nonstop.drill.v1.DrillService/Inject".to_string();
        let viewer = user(Role::Viewer);
        let operator = user(Role::Operator);
        let admin = user(Role::Admin);
        let a = node("a", "198.18.0.1");
        let insecure = Caller::Insecure {
            claimed: "x".into(),
            peer: None,
        };
        let cases: Vec<(String, &Caller, bool)> = vec![
            (cluster("Status"), &viewer, true),
            (cluster("WatchEvents"), &a, true),
            (cluster("MoveGroup"), &viewer, false),
            (cluster("MoveGroup"), &operator, true),
            (cluster("MoveGroup"), &a, false),
            (cluster("PauseNode"), &a, true),
            (cluster("PauseNode"), &viewer, false),
            (cluster("ApplyConfig"), &operator, false),
            (cluster("ApplyConfig"), &admin, true),
            (cluster("ApplyConfig"), &a, false),
            (cluster("AddMember"), &operator, false),
            (cluster("RemoveMember"), &admin, true),
            (cluster("EvictNode"), &operator, false),
            (cluster("ConfirmFenced"), &operator, false),
            (cluster("ConfirmFenced"), &admin, true),
            (cluster("RecordDrill"), &viewer, false),
            (cluster("RecordDrill"), &operator, true),
            // A fault on a node: operators only, never another node.
            (drill.clone(), &viewer, false),
            (drill.clone(), &a, false),
            (drill, &operator, true),
            (cluster("SomethingNew"), &operator, false),
            (cluster("SomethingNew"), &admin, true),
            (agent("Report"), &admin, false),
            (agent("Report"), &a, true),
            (agent("Suspect"), &operator, false),
            (raft.clone(), &admin, false),
            (raft.clone(), &a, true),
            (raft, &insecure, true),
            ("/grpc.health.v1.Health/Check".into(), &viewer, true),
            ("/other.Service/Call".into(), &operator, false),
        ];
        for (path, caller, allowed) in cases {
            let r = Need::of(&path).allows(caller, &path);
            assert_eq!(r.is_ok(), allowed, "{path} by {caller}: {r:?}");
            if let Err(s) = r {
                assert_eq!(s.code(), tonic::Code::PermissionDenied);
                assert!(s.message().contains("it needs"), "{}", s.message());
            }
        }
    }

    #[test]
    fn a_refusal_names_the_caller_and_the_role_it_needs() {
        let path = "/nonstop.cluster.v1.ClusterService/MoveGroup";
        let err = Need::of(path)
            .allows(&user(Role::Viewer), path)
            .unwrap_err();
        assert_eq!(
            err.message(),
            "user u (viewer) may not call /nonstop.cluster.v1.ClusterService/MoveGroup: it needs \
             the operator role"
        );
    }

    #[test]
    fn a_member_is_a_node_certificate_for_a_member_address() {
        let members = ["198.18.0.1:7701", "198.18.0.2:7701"];
        assert!(node("a", "198.18.0.1").is_member(members));
        assert!(!node("c", "198.18.0.3").is_member(members));
        assert!(!user(Role::Admin).is_member(members));
        assert!(node("a", "198.18.0.1").covers("198.18.0.1:7701"));
        assert!(!node("a", "198.18.0.1").covers("198.18.0.2:7701"));
        assert!(node("a", "::1").covers("[::1]:7701"));
    }

    #[test]
    fn a_plain_connection_is_unauthenticated_and_says_who_it_claims_to_be() {
        let c = caller_of(&http::Extensions::new(), Some("alice")).unwrap();
        assert_eq!(c.to_string(), "alice (unauthenticated)");
        assert!(c.may_act_for_node("any"));
    }
}
