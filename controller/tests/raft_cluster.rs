//! Three members on loopback over gRPC: election, commit, equal databases, leader loss,
//! restart from the directory, membership changes.

mod raft_support;

use std::time::Duration;

use nonstop_controller::raft::{RaftError, Role};
use raft_support::*;

const ELECTION: Duration = Duration::from_millis(200);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_commit_and_agree() {
    let c = Cluster::start(3, 1000).await;
    let leader = c.leader(Duration::from_secs(5)).await;
    let mut last = 0;
    for i in 0..50 {
        // Alternate members: followers forward to the leader.
        let node = c.node(1 + i % 3);
        let applied = propose(&node, put_node(i), Duration::from_secs(5))
            .await
            .unwrap();
        applied.result.unwrap();
        last = applied.revision;
    }
    let dbs = c.converged(last, Duration::from_secs(5)).await;
    assert!(dbs.windows(2).all(|w| w[0] == w[1]), "members disagree");
    assert_exactly_once(&dbs[0], &(0..50).collect::<Vec<_>>());
    let s = c.node(leader).status().await.unwrap();
    assert_eq!(s.role, Role::Leader);
    assert_eq!(s.voters, vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_commands_are_committed_and_answered() {
    let c = Cluster::start(3, 1000).await;
    c.leader(Duration::from_secs(5)).await;
    let bad = nonstop_controller::db::Command::operator(
        nonstop_controller::time::Time(1),
        "test",
        nonstop_controller::db::Op::RemoveNode {
            node: "ghost".into(),
        },
    );
    let applied = propose(&c.node(2), bad, Duration::from_secs(5))
        .await
        .unwrap();
    let err = applied.result.unwrap_err().to_string();
    assert!(err.contains("ghost"), "{err}");
    let dbs = c.converged(applied.revision, Duration::from_secs(5)).await;
    assert_eq!(dbs[0].revision, 0, "a rejected command changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_leader_elects_another_and_keeps_every_ack() {
    let mut c = Cluster::start(3, 1000).await;
    let old = c.leader(Duration::from_secs(5)).await;
    let mut acked = Vec::new();
    for i in 0..20 {
        propose(&c.node(old), put_node(i), Duration::from_secs(5))
            .await
            .unwrap();
        acked.push(i);
    }
    c.kill(old).await;
    let killed = tokio::time::Instant::now();
    let new = c.leader(Duration::from_secs(5)).await;
    // Two election timeouts (raft randomises each in [T, 2T)): allow 2 * 2T.
    assert!(
        killed.elapsed() < 4 * ELECTION,
        "took {:?}",
        killed.elapsed()
    );
    assert_ne!(new, old);
    let mut last = 0;
    for i in 20..40 {
        let a = propose(&c.node(new), put_node(i), Duration::from_secs(5))
            .await
            .unwrap();
        acked.push(i);
        last = a.revision;
    }
    c.run(old, true).await;
    let dbs = c.converged(last, Duration::from_secs(10)).await;
    assert_eq!(dbs.len(), 3);
    assert!(dbs.windows(2).all(|w| w[0] == w[1]), "members disagree");
    assert_exactly_once(&dbs[0], &acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_the_directory_restores_exactly_the_state() {
    let mut c = Cluster::start(1, 7).await;
    c.leader(Duration::from_secs(5)).await;
    for i in 0..30 {
        propose(&c.node(1), put_node(i), Duration::from_secs(5))
            .await
            .unwrap();
    }
    let before = c.node(1).read(|db| db.clone()).await.unwrap();
    let applied = c.node(1).status().await.unwrap().applied;
    c.shutdown(1).await;
    c.run(1, true).await;
    let after = c.converged(applied, Duration::from_secs(5)).await;
    assert_eq!(after[0], before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_down_during_compaction_catches_up_by_snapshot() {
    let mut c = Cluster::start(3, 10).await;
    let leader = c.leader(Duration::from_secs(5)).await;
    let down = if leader == 3 { 2 } else { 3 };
    c.kill(down).await;
    let mut last = 0;
    for i in 0..60 {
        last = propose(&c.node(leader), put_node(i), Duration::from_secs(5))
            .await
            .unwrap()
            .revision;
    }
    c.run(down, true).await;
    let dbs = c.converged(last, Duration::from_secs(10)).await;
    assert!(dbs.windows(2).all(|w| w[0] == w[1]), "members disagree");
    assert_exactly_once(&dbs[0], &(0..60).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_fourth_and_remove_one_while_commands_flow() {
    let mut c = Cluster::start(3, 20).await;
    let leader = c.leader(Duration::from_secs(5)).await;
    let flow = {
        let node = c.node(leader);
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..150 {
                if propose(&node, put_node(i), Duration::from_secs(5))
                    .await
                    .is_ok()
                {
                    acked.push(i);
                }
            }
            acked
        })
    };
    let addr = c.add_dir(4).await;
    c.run(4, false).await;
    c.node(leader).add_member(4, &addr).await.unwrap();
    let gone = if leader == 1 { 2 } else { 1 };
    c.node(leader).remove_member(gone).await.unwrap();
    c.shutdown(gone).await;
    let acked = flow.await.unwrap();
    assert_eq!(acked.len(), 150);
    let last = c.node(leader).status().await.unwrap().commit;
    let dbs = c.converged(last, Duration::from_secs(10)).await;
    assert_eq!(dbs.len(), 3);
    assert!(dbs.windows(2).all(|w| w[0] == w[1]), "members disagree");
    assert_exactly_once(&dbs[0], &acked);
    let s = c.node(4).status().await.unwrap();
    let mut voters = s.voters.clone();
    voters.sort();
    assert!(voters.contains(&4) && !voters.contains(&gone), "{voters:?}");
    let err = c.node(leader).remove_member(gone).await.unwrap_err();
    assert!(matches!(err, RaftError::Invalid { .. }), "{err}");
}

/// raft-rs drops a ReadIndex that reaches a leader before it committed in its own term; the
/// member asks again, so a read made the instant a leader is elected still answers promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_right_after_election_answers_promptly() {
    let c = Cluster::start(3, 1000).await;
    let nodes = c.running();
    let mut watches: Vec<_> = nodes.iter().map(|n| n.leadership()).collect();
    let leader = loop {
        if let Some(i) = watches.iter().position(|w| w.borrow().is_leader) {
            break nodes[i].clone();
        }
        let futs = watches.iter_mut().map(|w| Box::pin(w.changed()));
        let _ =
            tokio::time::timeout(Duration::from_secs(5), futures::future::select_all(futs)).await;
    };
    let started = std::time::Instant::now();
    let r = leader.read(|db| db.revision).await;
    assert!(r.is_ok(), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "read took {:?}",
        started.elapsed()
    );
}
