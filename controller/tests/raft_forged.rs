//! Messages no correct member sends, delivered to real members: through the gRPC
//! `RaftTransport` as a peer would send them, and stepped in bulk with random fields. raft-rs
//! trusts its peers (a heartbeat whose commit is past the log panics inside it); a member must
//! drop such messages and keep serving.

mod raft_support;

use std::time::Duration;

use nonstop_proto::raft::RaftBatch;
use nonstop_proto::raft::raft_transport_client::RaftTransportClient;
use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, EntryType, Message, MessageType, Snapshot};
use raft_support::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WAIT: Duration = Duration::from_secs(10);

/// Sends `msgs` to member `to` at `addr` through its `RaftTransport` service, as member `from`.
async fn send_as_peer(addr: &str, from: u64, to: u64, msgs: &[Message]) {
    let mut client = RaftTransportClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let batch = RaftBatch {
        from,
        to,
        messages: msgs.iter().map(|m| m.write_to_bytes().unwrap()).collect(),
    };
    let stream = tokio_stream::iter(vec![batch]);
    client.send(stream).await.unwrap();
}

/// A cluster of three with a leader and a few commands applied: (cluster, leader, follower).
async fn three_with_a_leader() -> (Cluster, u64, u64) {
    let c = Cluster::start(3, 1000).await;
    let leader = c.leader(WAIT).await;
    for i in 0..3 {
        propose(&c.node(leader), put_node(i), WAIT)
            .await
            .unwrap()
            .result
            .unwrap();
    }
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    (c, leader, follower)
}

/// The cluster still commits through every member, and every member applies it.
async fn still_serving(c: &Cluster, leader: u64, n: u64) {
    for node in c.running() {
        assert!(node.is_running(), "member {} stopped", node.id());
    }
    let a = propose(&c.node(leader), put_node(n), WAIT).await.unwrap();
    a.result.unwrap();
    let dbs = c.converged(a.revision, WAIT).await;
    assert!(dbs.windows(2).all(|w| w[0] == w[1]), "members disagree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i10_5_a_forged_heartbeat_with_a_huge_commit_is_dropped() {
    let (c, leader, follower) = three_with_a_leader().await;
    let term = c.node(follower).status().await.unwrap().term;
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgHeartbeat);
    m.from = leader;
    m.to = follower;
    m.term = term;
    m.commit = 1_000_000_000_000;
    let addr = c.members[&follower].addr.clone();
    send_as_peer(&addr, leader, follower, &[m]).await;
    // The member handles the message in its own task: give it the time to.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = c.node(follower).status().await;
    assert!(
        s.is_ok(),
        "member {follower} died of a forged heartbeat: {s:?}"
    );
    still_serving(&c, leader, 10).await;
}

/// A value for a numeric field: the edges raft-rs trips on, values near `near` (the member's
/// own term or commit), or anything.
fn pick(rng: &mut StdRng, near: u64) -> u64 {
    match rng.random_range(0..8) {
        0 => 0,
        1 => u64::MAX,
        2 => 1_000_000_000_000,
        3 => rng.random(),
        _ => (near + rng.random_range(0..5)).saturating_sub(2),
    }
}

/// A message of any type with fields drawn around the member's `term` and `commit`, mostly
/// from a member and to `to`, sometimes a plausible append (contiguous entries).
fn random_message(rng: &mut StdRng, to: u64, term: u64, commit: u64) -> Message {
    use protobuf::ProtobufEnum;
    let types = MessageType::values();
    let mut m = Message::default();
    m.set_msg_type(types[rng.random_range(0..types.len())]);
    m.to = if rng.random_bool(0.9) {
        to
    } else {
        pick(rng, to)
    };
    m.from = match rng.random_range(0..10) {
        0 => pick(rng, 3),
        _ => 1 + (to + rng.random_range(0..2)) % 3,
    };
    m.term = pick(rng, term);
    m.log_term = pick(rng, term);
    m.index = pick(rng, commit);
    m.commit = pick(rng, commit);
    m.commit_term = pick(rng, term);
    m.reject = rng.random_bool(0.3);
    m.reject_hint = pick(rng, commit);
    m.request_snapshot = if rng.random_bool(0.8) {
        0
    } else {
        pick(rng, commit)
    };
    m.context = random_bytes(rng).into();
    let n = rng.random_range(0..4);
    let contiguous = rng.random_bool(0.5);
    let entries: Vec<Entry> = (0..n)
        .map(|i| {
            let mut e = Entry::default();
            let ty = [
                EntryType::EntryNormal,
                EntryType::EntryConfChange,
                EntryType::EntryConfChangeV2,
            ];
            e.set_entry_type(ty[rng.random_range(0..3)]);
            if contiguous {
                e.index = m.index.saturating_add(1 + i);
                e.term = m.term;
            } else {
                e.index = pick(rng, commit);
                e.term = pick(rng, term);
            }
            e.data = random_bytes(rng).into();
            e.context = random_bytes(rng).into();
            e
        })
        .collect();
    m.set_entries(entries.into());
    if rng.random_bool(0.3) {
        let mut snap = Snapshot {
            data: random_bytes(rng).into(),
            ..Default::default()
        };
        let meta = snap.mut_metadata();
        meta.index = pick(rng, commit);
        meta.term = pick(rng, term);
        let ids = |rng: &mut StdRng| {
            (0..rng.random_range(0..4))
                .map(|_| rng.random_range(0..6))
                .collect::<Vec<u64>>()
        };
        let mut cs = ConfState::from((ids(rng), ids(rng)));
        if rng.random_bool(0.3) {
            cs.voters_outgoing = ids(rng);
            cs.learners_next = ids(rng);
            cs.auto_leave = rng.random_bool(0.5);
        }
        meta.set_conf_state(cs);
        m.set_snapshot(snap);
    }
    m
}

fn random_bytes(rng: &mut StdRng) -> Vec<u8> {
    (0..rng.random_range(0..24)).map(|_| rng.random()).collect()
}

/// How many seeds, and messages per seed: `NONSTOP_FUZZ_SEEDS`, `NONSTOP_FUZZ_MESSAGES`.
fn fuzz_size() -> (u64, u64) {
    let var = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    (
        var("NONSTOP_FUZZ_SEEDS", 3),
        var("NONSTOP_FUZZ_MESSAGES", 3000),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i10_5_random_and_malformed_messages_never_stop_a_member() {
    let (seeds, per_seed) = fuzz_size();
    for seed in 0..seeds {
        let mut rng = StdRng::seed_from_u64(seed);
        let (c, _, _) = three_with_a_leader().await;
        // Commands keep flowing meanwhile, so members are met leading, following, electing.
        let load = {
            let nodes = c.running();
            tokio::spawn(async move {
                for i in 100.. {
                    let node = &nodes[i as usize % 3];
                    let _ = node.propose(put_node(i)).await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        let mut sent = 0;
        while sent < per_seed {
            let to = rng.random_range(1..=3);
            let s = c.node(to).status().await;
            let s = s.unwrap_or_else(|e| panic!("seed {seed}: member {to} stopped: {e}"));
            for _ in 0..20 {
                let m = random_message(&mut rng, to, s.term, s.commit);
                c.node(to).step(vec![m]);
                sent += 1;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        load.abort();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut refused = 0;
        for node in c.running() {
            let s = node.status().await;
            let s = s.unwrap_or_else(|e| panic!("seed {seed}: member {} stopped: {e}", node.id()));
            refused += s.refused;
        }
        assert!(
            refused > 0,
            "seed {seed}: no message was refused: the fuzz misses the checks"
        );
    }
}
