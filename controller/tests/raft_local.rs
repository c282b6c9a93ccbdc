//! Members in one process over the in-memory transport: the handle's contract (errors,
//! forwarding, linearizable reads, the leadership watch, the applied events, shutdown)
//! without sockets.

mod raft_support;

use std::time::Duration;

use nonstop_controller::raft::{
    AppliedEvents, EntryContext, LocalTransport, RaftConfig, RaftError, RaftNode, RedbLog,
};
use raft_support::{fast, propose, put_node};

struct Local {
    _dir: tempfile::TempDir,
    nodes: Vec<RaftNode>,
}

fn start(forward: bool) -> Local {
    let dir = tempfile::tempdir().unwrap();
    let net = LocalTransport::new();
    let peers: nonstop_controller::raft::Members =
        (1..=3).map(|i| (i, format!("local-{i}"))).collect();
    let nodes = (1..=3)
        .map(|id| {
            let mut cfg = fast(RaftConfig::new(id, peers.clone()));
            cfg.forward_proposals = forward;
            let log = RedbLog::open(&dir.path().join(format!("m{id}")), id).unwrap();
            let node = RaftNode::start(cfg, log, net.clone()).unwrap();
            net.register(node.clone());
            node
        })
        .collect();
    Local { _dir: dir, nodes }
}

async fn leader(nodes: &[RaftNode]) -> u64 {
    let mut watch = nodes[0].leadership();
    let l = tokio::time::timeout(Duration::from_secs(5), watch.wait_for(|l| l.leader_id != 0))
        .await
        .expect("a leader within 5 s")
        .unwrap();
    l.leader_id
}

#[tokio::test]
async fn proposals_before_any_leader_say_so() {
    let l = start(true);
    // Ticks are 20 ms and an election takes at least 200 ms: nobody leads yet.
    let err = l.nodes[0].propose(put_node(1)).await.unwrap_err();
    assert!(matches!(err, RaftError::NoLeader), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_follower_forwards_and_reads_are_linearizable() {
    let l = start(true);
    let lead = leader(&l.nodes).await;
    let follower = l.nodes.iter().find(|n| n.id() != lead).unwrap();
    let a = propose(follower, put_node(7), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(a.result.is_ok());
    // Any member, right after: the read waits for the command.
    for n in &l.nodes {
        let has = n.read(|db| db.nodes.contains_key("n7")).await.unwrap();
        assert!(has, "member {} read stale data", n.id());
    }
    let status = follower.status().await.unwrap();
    assert_eq!(status.leader, lead);
    assert!(status.applied >= a.revision);
}

#[tokio::test]
async fn every_member_publishes_the_events_of_what_it_applies() {
    let l = start(true);
    // Subscribed before anything is applied: nothing needs to be wired up beside the member.
    let mut subscribers: Vec<_> = l.nodes.iter().map(|n| n.subscribe_applied()).collect();
    let lead = leader(&l.nodes).await;
    let on_leader = l.nodes.iter().find(|n| n.id() == lead).unwrap();
    let a = propose(on_leader, put_node(3), Duration::from_secs(5))
        .await
        .unwrap();
    let events = a.result.unwrap();
    assert!(!events.is_empty());
    let want = AppliedEvents {
        revision: a.revision,
        events,
    };
    for s in &mut subscribers {
        let got = tokio::time::timeout(Duration::from_secs(5), s.recv()).await;
        assert_eq!(got.expect("events within 5 s").unwrap(), want);
    }
}

#[tokio::test]
async fn without_forwarding_a_follower_names_the_leader() {
    let l = start(false);
    let lead = leader(&l.nodes).await;
    // The first node's watch saw a leader; wait until every member knows it.
    for n in &l.nodes {
        let mut w = n.leadership();
        tokio::time::timeout(Duration::from_secs(5), w.wait_for(|x| x.leader_id == lead))
            .await
            .unwrap()
            .unwrap();
    }
    let follower = l.nodes.iter().find(|n| n.id() != lead).unwrap();
    match follower.propose(put_node(1)).await {
        Err(RaftError::NotLeader { leader, address }) => {
            assert_eq!(leader, lead);
            assert_eq!(address, Some(format!("local-{lead}")));
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }
    let on_leader = l.nodes.iter().find(|n| n.id() == lead).unwrap();
    assert!(on_leader.leadership().borrow().is_leader);
}

#[tokio::test]
async fn bad_membership_changes_are_refused_and_shutdown_stops_the_member() {
    let l = start(true);
    let lead = leader(&l.nodes).await;
    let n = l.nodes.iter().find(|n| n.id() == lead).unwrap();
    let err = n.add_member(2, "x:1").await.unwrap_err().to_string();
    assert!(err.contains("2 is already a voter"), "{err}");
    let err = n.remove_member(9).await.unwrap_err().to_string();
    assert!(err.contains("9 is not a voter"), "{err}");
    let err = n.add_member(0, "x:1").await.unwrap_err().to_string();
    assert!(err.contains("member id"), "{err}");
    n.shutdown().await;
    assert!(matches!(
        n.propose(put_node(1)).await,
        Err(RaftError::Stopped)
    ));
}

#[test]
fn a_bad_configuration_is_refused_before_anything_starts() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = RedbLog::open(dir.path(), 1).unwrap();
        let cfg = RaftConfig::new(0, Default::default());
        let err = RaftNode::start(cfg, log, LocalTransport::new()).unwrap_err();
        assert!(err.to_string().contains("raft.id"), "{err}");
    });
}

/// A member answers a caller when it applies an entry carrying its id and the caller's number.
/// A restarted member must not number its proposals as its previous incarnation did: an entry
/// that incarnation proposed, applied after the restart, would answer a new caller who holds
/// the same number, acknowledging a command that may never be committed.
#[tokio::test]
async fn a_restarted_member_never_reuses_its_proposal_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let peers: nonstop_controller::raft::Members = [(1, "local-1".to_string())].into();
    let mut contexts = Vec::new();
    for i in 0..2 {
        let net = LocalTransport::new();
        let log = RedbLog::open(dir.path(), 1).unwrap();
        let node =
            RaftNode::start(fast(RaftConfig::new(1, peers.clone())), log, net.clone()).unwrap();
        net.register(node.clone());
        let a = propose(&node, put_node(i), Duration::from_secs(5))
            .await
            .unwrap();
        node.shutdown().await;
        let log = RedbLog::open(dir.path(), 1).unwrap();
        let entry = raft::Storage::entries(
            &log,
            a.revision,
            a.revision + 1,
            None,
            raft::GetEntriesContext::empty(false),
        )
        .unwrap()
        .remove(0);
        let ctx = EntryContext::decode(&entry.context).expect("a proposal's context");
        assert_eq!(ctx.proposer, 1);
        contexts.push(ctx.seq);
    }
    assert_ne!(
        contexts[0], contexts[1],
        "both incarnations gave their first proposal the same number"
    );
}
