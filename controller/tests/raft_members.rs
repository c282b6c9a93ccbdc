//! Controller membership through `ClusterService`, on three raft members over loopback: list
//! with the leader's progress, transfer the leadership, remove the leader (it hands over
//! first), refuse removing the last voter, and name the field of every bad request.

mod raft_support;

use std::time::Duration;

use nonstop_controller::server::{ClusterApi, History};
use nonstop_controller::store::{RaftStore, Store};
use nonstop_proto::cluster as pb;
use nonstop_proto::cluster::cluster_service_server::ClusterService;
use nonstop_proto::metadata;
use raft_support::*;
use tonic::{Code, Request};

/// The ClusterService of member `id` (called directly, without a server in front).
fn api(c: &Cluster, id: u64) -> ClusterApi<RaftStore> {
    let store = RaftStore::new(c.node(id));
    let history = History::follow(&store);
    ClusterApi::new(store, history, &format!("node{id}"))
}

async fn list(c: &Cluster, id: u64, local: bool) -> Result<pb::MemberList, tonic::Status> {
    let req = Request::new(pb::ListMembersRequest { local });
    api(c, id).list_members(req).await.map(|r| r.into_inner())
}

async fn transfer(c: &Cluster, via: u64, to: u64, ms: u32) -> Result<u64, tonic::Status> {
    let req = pb::TransferLeaderRequest { to, timeout_ms: ms };
    let r = api(c, via).transfer_leader(Request::new(req)).await?;
    Ok(r.into_inner().leader_id)
}

async fn remove(c: &Cluster, via: u64, id: u64) -> Result<pb::MemberList, tonic::Status> {
    let req = Request::new(pb::RemoveMemberRequest { id });
    let r = api(c, via).remove_member(req).await?;
    Ok(r.into_inner().members.unwrap_or_default())
}

/// Waits until the leader has heard from every other member lately (a leader hands over only
/// to a voter it knows active; right after an election, on a loaded machine, it may not yet).
async fn all_active(c: &Cluster, leader: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let l = list(c, leader, false).await.unwrap();
        if l.members.iter().all(|m| m.active) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "members not active: {l:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn others(leader: u64) -> (u64, u64) {
    let v: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    (v[0], v[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_lists_every_member_with_its_progress() {
    let c = Cluster::start(3, 1000).await;
    let leader = c.leader(Duration::from_secs(5)).await;
    let last = propose(&c.node(leader), put_node(1), Duration::from_secs(5))
        .await
        .unwrap()
        .revision;
    c.converged(last, Duration::from_secs(5)).await;
    // Progress reaches the leader with the next heartbeat acknowledgement.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let l = loop {
        let l = list(&c, leader, false).await.unwrap();
        if l.members.iter().all(|m| m.matched >= last) {
            break l;
        }
        assert!(tokio::time::Instant::now() < deadline, "{l:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((l.leader_id, l.answered_by_id), (leader, leader));
    assert_eq!(l.answered_role(), pb::RaftRole::Leader);
    assert_eq!(l.members.len(), 3);
    for m in &l.members {
        assert!(m.has_progress && m.active, "{m:?}");
        assert_eq!(m.address, c.members[&m.id].addr);
        let role = if m.id == leader {
            pb::MemberRole::Leader
        } else {
            pb::MemberRole::Voter
        };
        assert_eq!(m.role(), role);
        assert_ne!(m.progress_state(), pb::ProgressState::Unspecified, "{m:?}");
    }

    // A follower sends the caller to the leader, or answers for itself when asked to.
    let (f, _) = others(leader);
    let err = list(&c, f, false).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let to = err
        .metadata()
        .get(metadata::LEADER)
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(to, c.members[&leader].addr);
    let own = list(&c, f, true).await.unwrap();
    assert_eq!(
        (own.answered_by_id, own.answered_by.as_str()),
        (f, format!("node{f}").as_str())
    );
    assert_eq!(own.answered_role(), pb::RaftRole::Follower);
    assert!(own.members.iter().all(|m| !m.has_progress));
    assert!(own.applied >= last);
}

/// raft-rs clears its own "recently active" mark at every quorum check and sets it again with a
/// member's next answer. A member that answers every heartbeat must never look inactive: the
/// leader hands over only to an active voter, so a sample taken between the check and the next
/// answer would refuse `member remove LEADER` with "no other voter is active".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_answering_every_heartbeat_is_never_shown_inactive() {
    let c = Cluster::start(3, 1000).await;
    let leader = c.leader(Duration::from_secs(5)).await;
    all_active(&c, leader).await;
    // Five election timeouts (200 ms each), sampled as often as the leader answers.
    let start = tokio::time::Instant::now();
    let mut samples = 0;
    while start.elapsed() < Duration::from_secs(1) {
        let l = list(&c, leader, false).await.unwrap();
        let idle: Vec<u64> = (l.members.iter())
            .filter(|m| !m.active)
            .map(|m| m.id)
            .collect();
        assert!(
            idle.is_empty(),
            "members {idle:?} shown inactive after {samples} samples"
        );
        samples += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_to_the_named_member_from_any_member() {
    let c = Cluster::start(3, 1000).await;
    let leader = c.leader(Duration::from_secs(5)).await;
    let (a, b) = others(leader);
    // Asked of the leader.
    assert_eq!(transfer(&c, leader, a, 5000).await.unwrap(), a);
    assert_eq!(c.leader(Duration::from_secs(5)).await, a);
    // Asked of a follower, for another follower: raft-rs forwards it to the leader.
    assert_eq!(transfer(&c, leader, b, 5000).await.unwrap(), b);
    assert_eq!(c.leader(Duration::from_secs(5)).await, b);
    // To the leader itself: nothing to do.
    assert_eq!(transfer(&c, a, b, 5000).await.unwrap(), b);
    // Commands still commit under the new leader.
    propose(&c.node(a), put_node(7), Duration::from_secs(5))
        .await
        .unwrap()
        .result
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_a_dead_member_times_out_and_bad_targets_are_named() {
    let mut c = Cluster::start(3, 1000).await;
    let leader = c.leader(Duration::from_secs(5)).await;
    let (dead, _) = others(leader);
    c.kill(dead).await;
    let err = transfer(&c, leader, dead, 600).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains(&format!("member {dead}")), "{err:?}");
    assert_eq!(
        c.leader(Duration::from_secs(5)).await,
        leader,
        "nothing moved"
    );

    let err = transfer(&c, leader, 9, 600).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("to: member 9 is not a voter"),
        "{err:?}"
    );
    let err = transfer(&c, leader, 0, 600).await.unwrap_err();
    assert!(err.message().starts_with("to: "), "{err:?}");
    let err = transfer(&c, leader, dead, 400_000).await.unwrap_err();
    assert!(err.message().starts_with("timeout_ms: "), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_leader_hands_leadership_over_first() {
    let mut c = Cluster::start(3, 1000).await;
    let leader = c.leader(Duration::from_secs(5)).await;
    all_active(&c, leader).await;

    // Asked of the leader itself: it hands over, then sends the caller to the new leader.
    let err = remove(&c, leader, leader).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let new_addr = err
        .metadata()
        .get(metadata::LEADER)
        .unwrap()
        .to_str()
        .unwrap();
    let new = c.members.values().find(|m| m.addr == new_addr).unwrap().id;
    assert_ne!(new, leader);
    assert_eq!(c.leader(Duration::from_secs(5)).await, new);
    // The caller retries there, as the CLI does.
    let after = remove(&c, new, leader).await.unwrap();
    let ids: Vec<u64> = after.members.iter().map(|m| m.id).collect();
    assert!(!ids.contains(&leader), "{ids:?}");
    c.shutdown(leader).await;

    // Asked of a follower: it takes the leadership itself, then removes the old leader.
    let rest = (1..=3).find(|i| *i != leader && *i != new).unwrap();
    let after = remove(&c, rest, new).await.unwrap();
    assert_eq!(after.leader_id, rest);
    assert_eq!(after.members.len(), 1, "{after:?}");
    c.shutdown(new).await;

    // The last voter stays, and the refusal names the field.
    let err = remove(&c, rest, rest).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.message(),
        format!("id: member {rest} is the only voter; a cluster needs one")
    );
    propose(&c.node(rest), put_node(1), Duration::from_secs(5))
        .await
        .unwrap()
        .result
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_member_changes_are_named_and_change_nothing() {
    let mut c = Cluster::start(3, 1000).await;
    let leader = c.leader(Duration::from_secs(5)).await;
    let add = |id: u64, address: &str| pb::AddMemberRequest {
        id,
        address: address.into(),
    };
    let cases = [
        (add(0, "127.0.0.1:1"), "id: must not be 0"),
        (
            add(4, "nowhere"),
            "address: \"nowhere\" is not an IP address",
        ),
        (add(2, "127.0.0.1:1"), "id: member 2 already exists"),
        (add(4, &c.members[&1].addr.clone()), "address: "),
    ];
    for (req, want) in cases {
        let err = api(&c, leader)
            .add_member(Request::new(req))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().starts_with(want),
            "{} vs {want}",
            err.message()
        );
    }
    let err = remove(&c, leader, 7).await.unwrap_err();
    assert!(
        err.message().starts_with("id: member 7 is not a voter"),
        "{err:?}"
    );
    let l = list(&c, leader, false).await.unwrap();
    assert_eq!(l.members.len(), 3, "nothing changed");

    // A real addition through the API: a fourth member that waits to be added.
    let addr = c.add_dir(4).await;
    c.run(4, false).await;
    let after = api(&c, leader)
        .add_member(Request::new(add(4, &addr)))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<u64> = after
        .members
        .unwrap()
        .members
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, vec![1, 2, 3, 4]);
    let last = propose(&c.node(leader), put_node(1), Duration::from_secs(5))
        .await
        .unwrap()
        .revision;
    let dbs = c.converged(last, Duration::from_secs(10)).await;
    assert_eq!(dbs.len(), 4);
    assert!(dbs.windows(2).all(|w| w[0] == w[1]), "members disagree");

    // The new member leads: a member started before it was added (whose configured peers do
    // not name it) still sends callers to its address, learnt from the change that added it.
    assert_eq!(transfer(&c, leader, 4, 5000).await.unwrap(), 4);
    let store = RaftStore::new(c.node(1));
    let mut leadership = store.leadership();
    let seen = leadership.wait_for(|l| l.leader_id == 4);
    let seen = tokio::time::timeout(Duration::from_secs(5), seen).await;
    let seen = seen.expect("member 1 sees member 4 lead").unwrap();
    assert_eq!(seen.leader_address.as_deref(), Some(addr.as_str()));
}

/// Without TLS (a plain connection), a member at a non-loopback address would carry the cluster
/// over the network in plain gRPC, and it counted toward quorum. The server refuses it, naming
/// the field, even when the client did not check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i10_8_a_member_that_cannot_be_reached_securely_is_refused() {
    let c = Cluster::start(1, 1000).await;
    let leader = c.leader(Duration::from_secs(5)).await;
    for address in ["10.0.0.1:7704", "0.0.0.0:7704", "[fd00::1]:7704"] {
        let req = pb::AddMemberRequest {
            id: 4,
            address: address.into(),
        };
        let err = api(&c, leader)
            .add_member(Request::new(req))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{address}");
        let want = format!("address: {address} is not a loopback address: without TLS");
        assert!(err.message().starts_with(&want), "{}", err.message());
    }
    let l = list(&c, leader, false).await.unwrap();
    assert_eq!(l.members.len(), 1, "nothing changed");
}

/// The watchdog of the leader's node says the leader died: a follower campaigns at once, and
/// the others vote for it although their leader's lease has not run out, so a new leader is
/// there well before any election timeout (1 to 2 s with the default timing). Asked about a
/// member that does not lead, nothing happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_told_its_leader_died_campaigns_at_once() {
    let mut c = Cluster::start_default_timing(3, 1000).await;
    let leader = c.leader(Duration::from_secs(10)).await;
    let (a, b) = others(leader);
    let store = RaftStore::new(c.node(a));
    assert!(!store.campaign_after(b).await.unwrap(), "b does not lead");
    assert!(!store.campaign_after(0).await.unwrap());
    assert_eq!(
        c.leader(Duration::from_secs(1)).await,
        leader,
        "nothing moved"
    );

    c.kill(leader).await;
    let start = std::time::Instant::now();
    assert!(store.campaign_after(leader).await.unwrap());
    let deadline = start + Duration::from_millis(900);
    loop {
        let now = c.node(a).leadership().borrow().clone();
        if now.is_leader {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new leader within 900 ms: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("new leader {a} after {:?}", start.elapsed());
}
