//! `ClusterService`: the operators' API, tonic glue over the store.

use std::pin::Pin;

use futures::Stream;
use nonstop_proto::cluster as pb;
use nonstop_proto::cluster::cluster_service_server::ClusterService;
use tonic::{Request, Response, Status};

use super::auth::{Caller, CertBook, caller, refused};
use super::convert;
use super::history::History;
use super::status::{from_apply, from_store};
use crate::db::{ClusterDb, Command, DrillStep, Op};
use crate::policy;
use crate::store::Store;
use crate::time::Time;

/// The service over a store.
#[derive(Debug, Clone)]
pub struct ClusterApi<S> {
    store: S,
    history: History,
    member: String,
    certs: CertBook,
}

impl<S: Store> ClusterApi<S> {
    /// The API of this member (`member` names it in answers).
    pub fn new(store: S, history: History, member: &str) -> Self {
        ClusterApi {
            store,
            history,
            member: member.to_string(),
            certs: CertBook::default(),
        }
    }

    /// The same API, showing each node's certificate expiry as `certs` has it.
    pub fn with_certs(mut self, certs: CertBook) -> Self {
        self.certs = certs;
        self
    }

    /// The store under the API.
    pub(super) fn store(&self) -> &S {
        &self.store
    }

    /// The node name of the member that answers.
    pub(super) fn member_name(&self) -> &str {
        &self.member
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ClusterDb) -> T + Send + 'static,
    ) -> Result<T, Status> {
        self.store.read(f).await.map_err(|e| from_store(&e))
    }

    /// Records in the audit log what `who` did outside the database (a membership change).
    /// Best effort: the change is made already; a record that cannot be committed is logged.
    pub(super) async fn record(&self, who: &Caller, what: String) {
        tracing::info!(caller = %who, "{what}");
        let cmd = Command::operator(Time::now(), &who.to_string(), Op::Record { what });
        match self.store.propose(cmd).await {
            Ok(c) if c.result.is_ok() => {}
            Ok(c) => tracing::warn!("audit record refused: {:?}", c.result.err()),
            Err(e) => tracing::warn!(%e, "audit record not committed"),
        }
    }

    /// Proposes an operator command, recorded with its caller; the reply carries the revision
    /// and the changes.
    async fn command<R>(
        &self,
        req: &Request<R>,
        op: Op,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let user = caller(req)?.to_string();
        let c = self
            .store
            .propose(Command::operator(Time::now(), &user, op))
            .await
            .map_err(|e| from_store(&e))?;
        let events = c.result.map_err(|e| from_apply(&e))?;
        let changes = events.iter().filter_map(|e| e.summary()).collect();
        Ok(Response::new(pb::CommandReply {
            revision: c.revision,
            changes,
        }))
    }
}

/// A node may pause and resume only itself (its drain); users were checked by the guard.
fn only_itself(who: &Caller, node: &str) -> Result<(), Status> {
    match who {
        Caller::Node { name, .. } if name != node => {
            let status = Status::permission_denied(format!(
                "{who} may not pause or resume node {node:?}: a node may only pause and \
                 resume itself; others need the operator role"
            ));
            Err(refused(&who.to_string(), status))
        }
        _ => Ok(()),
    }
}

/// A node as the API answers it: the database's view and its certificate's expiry.
fn node(certs: &CertBook, db: &ClusterDb, n: &crate::db::model::Node) -> pb::Node {
    pb::Node {
        certificate_expires_ms: certs.expires_ms(&n.spec.name),
        ..convert::node(db, n)
    }
}

fn missing(kind: &str, name: &str) -> Status {
    Status::not_found(format!("unknown {kind} {name:?}"))
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ClusterEvent, Status>> + Send>>;

#[tonic::async_trait]
impl<S: Store> ClusterService for ClusterApi<S> {
    async fn status(
        &self,
        r: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusReply>, Status> {
        let who = caller(&r)?;
        let caller_role = match &who {
            Caller::Insecure { .. } => "insecure".to_string(),
            Caller::Node { .. } => "node".to_string(),
            Caller::User { role, .. } | Caller::Token { role, .. } => role.to_string(),
        };
        let info = self.store.leadership().borrow().clone();
        let certs = self.certs.clone();
        let (nodes, groups, revision, drill) = self
            .read(move |db| {
                let nodes = db.nodes.values().map(|n| node(&certs, db, n)).collect();
                let groups = db.groups.values().map(|g| convert::group(db, g)).collect();
                let drill = db
                    .drill
                    .as_ref()
                    .map(|d| format!("{} ({}) by {}", d.id, d.text, d.by))
                    .unwrap_or_default();
                (nodes, groups, db.revision, drill)
            })
            .await?;
        Ok(Response::new(pb::StatusReply {
            leader_id: info.leader_id,
            leader: info.leader_address.unwrap_or_default(),
            term: info.term,
            revision,
            members: self
                .store
                .members()
                .await
                .map_err(|e| from_store(&e))?
                .into_iter()
                .map(|m| pb::Member {
                    role: convert::member_role(&m, info.leader_id) as i32,
                    id: m.id,
                    address: m.address,
                })
                .collect(),
            nodes,
            groups,
            answered_by: self.member.clone(),
            drill,
            caller: who.without_peer(),
            caller_role,
        }))
    }

    async fn list_nodes(
        &self,
        _: Request<pb::ListRequest>,
    ) -> Result<Response<pb::NodeList>, Status> {
        let certs = self.certs.clone();
        let nodes = self
            .read(move |db| db.nodes.values().map(|n| node(&certs, db, n)).collect())
            .await?;
        Ok(Response::new(pb::NodeList { nodes }))
    }

    async fn get_node(&self, r: Request<pb::NameRequest>) -> Result<Response<pb::Node>, Status> {
        let name = r.into_inner().name;
        let (key, certs) = (name.clone(), self.certs.clone());
        let n = self
            .read(move |db| db.nodes.get(&key).map(|n| node(&certs, db, n)))
            .await?;
        n.map(Response::new).ok_or_else(|| missing("node", &name))
    }

    async fn list_groups(
        &self,
        _: Request<pb::ListRequest>,
    ) -> Result<Response<pb::GroupList>, Status> {
        let groups = self
            .read(|db| db.groups.values().map(|g| convert::group(db, g)).collect())
            .await?;
        Ok(Response::new(pb::GroupList { groups }))
    }

    async fn get_group(&self, r: Request<pb::NameRequest>) -> Result<Response<pb::Group>, Status> {
        let name = r.into_inner().name;
        let key = name.clone();
        let g = self
            .read(move |db| db.groups.get(&key).map(|g| convert::group(db, g)))
            .await?;
        g.map(Response::new).ok_or_else(|| missing("group", &name))
    }

    async fn list_resources(
        &self,
        _: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ResourceList>, Status> {
        let now = Time::now().0;
        let resources = self
            .read(move |db| {
                db.resources
                    .values()
                    .map(|r| convert::resource(db, r, now))
                    .collect()
            })
            .await?;
        Ok(Response::new(pb::ResourceList { resources }))
    }

    async fn get_resource(
        &self,
        r: Request<pb::NameRequest>,
    ) -> Result<Response<pb::Resource>, Status> {
        let name = r.into_inner().name;
        let (key, now) = (name.clone(), Time::now().0);
        let res = self
            .read(move |db| {
                db.resources
                    .get(&key)
                    .map(|r| convert::resource(db, r, now))
            })
            .await?;
        res.map(Response::new)
            .ok_or_else(|| missing("resource", &name))
    }

    async fn list_types(
        &self,
        _: Request<pb::ListRequest>,
    ) -> Result<Response<pb::TypeList>, Status> {
        // The declared types, then those the nodes reported from meta-data.
        let types = self
            .read(|db| {
                let declared = db.types.values().map(convert::resource_type);
                let reported = (db.reported_types().into_iter()).map(|(t, nodes)| {
                    let mut t = convert::resource_type(t);
                    t.reported_by = nodes;
                    t
                });
                declared.chain(reported).collect()
            })
            .await?;
        Ok(Response::new(pb::TypeList { types }))
    }

    async fn get_type(
        &self,
        r: Request<pb::NameRequest>,
    ) -> Result<Response<pb::ResourceType>, Status> {
        let name = r.into_inner().name;
        let key = name.clone();
        // A type the nodes reported counts as one the cluster knows (the dashboard's resource
        // form is made from it).
        let t = self
            .read(move |db| {
                let mut t = convert::resource_type(db.type_named(&key)?);
                if !db.types.contains_key(&key) {
                    t.reported_by = db.reported_by(&key);
                }
                Some(t)
            })
            .await?;
        t.map(Response::new).ok_or_else(|| missing("type", &name))
    }

    async fn apply_config(
        &self,
        r: Request<pb::ApplyConfigRequest>,
    ) -> Result<Response<pb::ApplyConfigReply>, Status> {
        super::apply::apply_config(self, r).await
    }

    async fn check_resource(
        &self,
        r: Request<pb::CheckResourceRequest>,
    ) -> Result<Response<pb::CheckResourceReply>, Status> {
        let req = r.into_inner();
        let typed = req.properties.into_iter().collect();
        let checked = self
            .read(move |db| db.check_resource(&req.name, &typed))
            .await?
            .map_err(|e| from_apply(&e))?;
        let problems = checked
            .into_iter()
            .map(|p| pb::FieldProblem {
                field: p.field,
                reason: p.reason,
            })
            .collect();
        Ok(Response::new(pb::CheckResourceReply { problems }))
    }

    async fn update_resource(
        &self,
        r: Request<pb::CheckResourceRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let req = r.get_ref().clone();
        let typed = req.properties.into_iter().collect();
        let spec = self
            .read(move |db| db.resource_with(&req.name, &typed))
            .await?
            .map_err(|e| from_apply(&e))?;
        self.command(&r, Op::PutResource(spec)).await
    }

    async fn move_group(
        &self,
        r: Request<pb::MoveGroupRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let m = r.get_ref();
        let to = (!m.to.is_empty()).then(|| m.to.clone());
        let op = Op::MoveGroup {
            group: m.group.clone(),
            to,
        };
        self.command(&r, op).await
    }

    async fn set_group_target(
        &self,
        r: Request<pb::SetTargetRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let op = Op::SetGroupTarget {
            group: r.get_ref().name.clone(),
            target: convert::target_from_wire(r.get_ref().target, "target")?,
        };
        self.command(&r, op).await
    }

    async fn set_resource_target(
        &self,
        r: Request<pb::SetTargetRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let op = Op::SetResourceTarget {
            resource: r.get_ref().name.clone(),
            target: convert::target_from_wire(r.get_ref().target, "target")?,
        };
        self.command(&r, op).await
    }

    async fn clear_group(
        &self,
        r: Request<pb::NameRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let op = Op::ClearGroup {
            group: r.get_ref().name.clone(),
        };
        self.command(&r, op).await
    }

    async fn pause_node(
        &self,
        r: Request<pb::NameRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let node = r.get_ref().name.clone();
        only_itself(&caller(&r)?, &node)?;
        self.command(&r, Op::PauseNode { node }).await
    }

    async fn resume_node(
        &self,
        r: Request<pb::NameRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let node = r.get_ref().name.clone();
        only_itself(&caller(&r)?, &node)?;
        self.command(&r, Op::ResumeNode { node }).await
    }

    async fn evict_node(
        &self,
        r: Request<pb::NameRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let op = Op::EvictNode {
            node: r.get_ref().name.clone(),
        };
        self.command(&r, op).await
    }

    async fn record_drill(
        &self,
        r: Request<pb::RecordDrillRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let req = r.get_ref();
        let step = match pb::DrillStep::try_from(req.step) {
            Ok(pb::DrillStep::Begin) => DrillStep::Begin,
            Ok(pb::DrillStep::Note) => DrillStep::Note,
            Ok(pb::DrillStep::End) => DrillStep::End,
            _ => {
                return Err(Status::invalid_argument(format!(
                    "step: {} is not a drill step (BEGIN, NOTE, END)",
                    req.step
                )));
            }
        };
        let op = Op::Drill {
            id: req.id.clone(),
            step,
            text: req.text.clone(),
            force: req.force,
        };
        self.command(&r, op).await
    }

    async fn confirm_fenced(
        &self,
        r: Request<pb::NameRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let op = Op::ConfirmFenced {
            node: r.get_ref().name.clone(),
            by: caller(&r)?.to_string(),
        };
        self.command(&r, op).await
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        r: Request<pb::WatchRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let req = r.into_inner();
        let from = req.from_revision;
        let (past, mut live) = self.history.since(from).await;
        if req.history_only {
            return Ok(Response::new(async_stream(past, |_| async {})));
        }
        // Live events at or below the last replayed revision were replayed already.
        let replayed = past.last().map(|(r, _)| *r).unwrap_or(from);
        let stream = async_stream(past, move |tx| async move {
            let mut last = replayed;
            loop {
                match live.recv().await {
                    Ok((rev, e)) if rev > replayed => {
                        last = rev;
                        if tx.send(Ok(convert::event(rev, &e))).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        let msg = format!(
                            "the watcher fell {n} events behind; watch again from revision {last}"
                        );
                        let _ = tx.send(Err(Status::data_loss(msg))).await;
                        return;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(stream))
    }

    async fn resolve_service(
        &self,
        r: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::Resolution>, Status> {
        let q = r.into_inner();
        let res = self
            .read(move |db| {
                let from = (!q.from_node.is_empty()).then_some(q.from_node.as_str());
                policy::resolve(db, &q.service, from)
            })
            .await?
            .map_err(|e| from_apply(&e))?;
        Ok(Response::new(pb::Resolution {
            service: res.service,
            mode: convert::resolution_mode(res.mode) as i32,
            routes: res
                .routes
                .into_iter()
                .map(|r| pb::Route {
                    group: r.group,
                    node: r.node,
                    weight: r.weight,
                })
                .collect(),
        }))
    }

    async fn audit(
        &self,
        r: Request<pb::AuditRequest>,
    ) -> Result<Response<pb::AuditReply>, Status> {
        let limit = r.into_inner().limit as usize;
        let entries = self
            .read(move |db| {
                let skip = if limit == 0 {
                    0
                } else {
                    db.audit.len().saturating_sub(limit)
                };
                db.audit.iter().skip(skip).map(convert::audit).collect()
            })
            .await?;
        Ok(Response::new(pb::AuditReply { entries }))
    }

    async fn list_members(
        &self,
        r: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::MemberList>, Status> {
        super::members::list(self, r).await
    }

    async fn add_member(
        &self,
        r: Request<pb::AddMemberRequest>,
    ) -> Result<Response<pb::MemberChangeReply>, Status> {
        super::members::add(self, r).await
    }

    async fn remove_member(
        &self,
        r: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::MemberChangeReply>, Status> {
        super::members::remove(self, r).await
    }

    async fn transfer_leader(
        &self,
        r: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::TransferLeaderReply>, Status> {
        super::members::transfer(self, r).await
    }

    async fn create_token(
        &self,
        r: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenReply>, Status> {
        super::tokens::create(self, r).await
    }

    async fn list_tokens(
        &self,
        _: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::TokenList>, Status> {
        super::tokens::list(self).await
    }

    async fn revoke_token(
        &self,
        r: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::CommandReply>, Status> {
        let id = r.get_ref().id.clone();
        self.command(&r, Op::RevokeToken { id }).await
    }
}

/// A stream that yields `past` and then whatever `live` sends into it.
fn async_stream<F, Fut>(past: Vec<(u64, crate::db::Event)>, live: F) -> EventStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<pb::ClusterEvent, Status>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        for (rev, e) in past {
            if tx.send(Ok(convert::event(rev, &e))).await.is_err() {
                return;
            }
        }
        live(tx).await;
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
