//! The controller-member RPCs of `ClusterService`: list the members, add and remove one, hand
//! leadership to one. Membership goes through raft's own configuration changes (ConfChangeV2),
//! not through the cluster database.
//!
//! ```text
//!  ListMembers ── follower ──FAILED_PRECONDITION + nonstop-leader──▶ the leader (progress)
//!              └─ member without a leader ──UNAVAILABLE──▶ the caller tries another
//!  RemoveMember(leader) ── transfer to another voter ──▶ remove (on the new leader)
//!  TransferLeader ── raft-rs MsgTransferLeader ──▶ wait until the member leads
//! ```

use std::time::{Duration, Instant};

use nonstop_proto::cluster as pb;
use tonic::{Request, Response, Status};

use super::auth::{Caller, caller};
use super::cluster::ClusterApi;
use super::convert;
use super::status::{bad_field, from_store};
use super::transport::member_address;
use crate::store::{MemberView, Store, StoreError};

/// How long a transfer waits when the request does not say.
const DEFAULT_TRANSFER: Duration = Duration::from_secs(10);
/// The longest a transfer may be asked to wait.
const MAX_TRANSFER: Duration = Duration::from_secs(300);

pub(super) async fn list<S: Store>(
    api: &ClusterApi<S>,
    r: Request<pb::ListMembersRequest>,
) -> Result<Response<pb::MemberList>, Status> {
    let view = api
        .store()
        .member_view()
        .await
        .map_err(|e| from_store(&e))?;
    if r.get_ref().local || view.leader == view.id {
        return Ok(Response::new(member_list(&view, api.member_name())));
    }
    // Only the leader knows how far each member's log is; a member without a leader may be
    // behind (just restarted, or cut off), so the caller should try another.
    let leader = view.address(view.leader).map(str::to_string);
    Err(from_store(&match leader {
        Some(_) => StoreError::NotLeader { leader },
        None => StoreError::NoLeader,
    }))
}

pub(super) async fn add<S: Store>(
    api: &ClusterApi<S>,
    r: Request<pb::AddMemberRequest>,
) -> Result<Response<pb::MemberChangeReply>, Status> {
    let who = caller(&r)?;
    let req = r.into_inner();
    if req.id == 0 {
        return Err(bad_field("id", "must not be 0"));
    }
    // Without TLS (a plain connection), members stay on loopback.
    let tls = !matches!(who, Caller::Insecure { .. });
    member_address(&req.address, tls).map_err(|why| bad_field("address", why))?;
    let store = api.store();
    let what = format!("add member {} at {}", req.id, req.address);
    store
        .add_member(req.id, req.address)
        .await
        .map_err(|e| from_store(&e))?;
    api.record(&who, what).await;
    changed(api).await
}

pub(super) async fn remove<S: Store>(
    api: &ClusterApi<S>,
    r: Request<pb::RemoveMemberRequest>,
) -> Result<Response<pb::MemberChangeReply>, Status> {
    let who = caller(&r)?;
    let id = r.into_inner().id;
    if id == 0 {
        return Err(bad_field("id", "must not be 0"));
    }
    let store = api.store();
    store.remove_member(id).await.map_err(|e| from_store(&e))?;
    api.record(&who, format!("remove member {id}")).await;
    changed(api).await
}

pub(super) async fn transfer<S: Store>(
    api: &ClusterApi<S>,
    r: Request<pb::TransferLeaderRequest>,
) -> Result<Response<pb::TransferLeaderReply>, Status> {
    let who = caller(&r)?;
    let req = r.into_inner();
    if req.to == 0 {
        return Err(bad_field("to", "must name a member (its id, not 0)"));
    }
    let within = match Duration::from_millis(req.timeout_ms.into()) {
        d if d.is_zero() => DEFAULT_TRANSFER,
        d if d > MAX_TRANSFER => {
            return Err(bad_field("timeout_ms", format!("at most {MAX_TRANSFER:?}")));
        }
        d => d,
    };
    let start = Instant::now();
    let l = (api.store().transfer_leader(req.to, within).await).map_err(|e| from_store(&e))?;
    api.record(&who, format!("transfer leadership to member {}", req.to))
        .await;
    Ok(Response::new(pb::TransferLeaderReply {
        leader_id: l.leader_id,
        term: l.term,
        took_ms: start.elapsed().as_millis().min(u32::MAX as u128) as u32,
    }))
}

/// The members after a change, as this member sees them.
async fn changed<S: Store>(api: &ClusterApi<S>) -> Result<Response<pb::MemberChangeReply>, Status> {
    let view = api
        .store()
        .member_view()
        .await
        .map_err(|e| from_store(&e))?;
    Ok(Response::new(pb::MemberChangeReply {
        members: Some(member_list(&view, api.member_name())),
    }))
}

fn member_list(view: &MemberView, answered_by: &str) -> pb::MemberList {
    let members = view.members.iter().map(|m| {
        let progress = view.progress.iter().find(|p| p.id == m.id);
        pb::MemberStatus {
            id: m.id,
            address: m.address.clone(),
            role: convert::member_role(m, view.leader) as i32,
            has_progress: progress.is_some(),
            matched: progress.map_or(0, |p| p.matched),
            next_index: progress.map_or(0, |p| p.next_index),
            progress_state: progress.map_or(pb::ProgressState::Unspecified, |p| {
                convert::progress_state(p.state)
            }) as i32,
            active: progress.is_some_and(|p| p.recent_active),
        }
    });
    pb::MemberList {
        members: members.collect(),
        leader_id: view.leader,
        term: view.term,
        answered_by_id: view.id,
        answered_by: answered_by.to_string(),
        answered_role: convert::raft_role(view.role) as i32,
        commit: view.commit,
        applied: view.applied,
    }
}
