//! A member's raft configuration: who it is, who its peers are, and the timing of ticks,
//! elections and snapshots. Defaults follow etcd (heartbeat 100 ms, election 1 s), with the
//! random part of the election timeout half as wide (1 to 1.5 s, not 1 to 2 s).

use std::time::Duration;

use super::error::{RaftError, Result};
use super::types::Members;

/// How a member starts and runs raft.
#[derive(Clone, Debug)]
pub struct RaftConfig {
    /// This member's raft id (not 0).
    pub id: u64,
    /// The members known at start, with their addresses (this member included when it
    /// bootstraps). A joining member lists the members it can reach.
    pub peers: Members,
    /// With an empty directory: true makes `peers` the initial voters (1, 3 or 5 of them);
    /// false waits to be added by the cluster (`add_member` on the leader). Ignored when the
    /// directory already holds raft state.
    pub bootstrap: bool,
    /// One raft tick.
    pub tick: Duration,
    /// Ticks between leader heartbeats.
    pub heartbeat_ticks: usize,
    /// Ticks without a leader before a follower campaigns, at the least.
    pub election_ticks: usize,
    /// Each election timeout is drawn from `election_ticks` up to (not including) this.
    /// raft-rs draws up to twice `election_ticks`; half of that spread is plenty to keep two
    /// members from campaigning at once (their timeouts would have to fall within a network
    /// round trip of each other), and it bounds how long the death of a leader leaves the
    /// cluster without one, which a fail-over of the leader's own node waits for.
    pub max_election_ticks: usize,
    /// Take a snapshot of the database every this many applied entries, and compact the log
    /// up to this many entries behind it (a member further behind gets the snapshot).
    pub snapshot_every: u64,
    /// How long `propose`, `read` and membership changes wait for an answer.
    pub request_timeout: Duration,
    /// A follower forwards proposals to the leader (true) or answers `NotLeader` (false).
    pub forward_proposals: bool,
}

impl RaftConfig {
    /// A member with the default timing (heartbeat 100 ms, election 1 s).
    pub fn new(id: u64, peers: Members) -> Self {
        RaftConfig {
            id,
            peers,
            bootstrap: true,
            tick: Duration::from_millis(100),
            heartbeat_ticks: 1,
            election_ticks: 10,
            max_election_ticks: 15,
            snapshot_every: 1000,
            request_timeout: Duration::from_secs(5),
            forward_proposals: true,
        }
    }

    /// The election timeout (the shortest one; raft draws it up to `max_election_ticks`).
    pub fn election_timeout(&self) -> Duration {
        self.tick * self.election_ticks as u32
    }

    /// Checks every field; the error names the field and the reason.
    pub fn validate(&self) -> Result<()> {
        if self.id == 0 {
            return Err(RaftError::invalid("raft.id", "must not be 0"));
        }
        if self.peers.contains_key(&0) {
            return Err(RaftError::invalid(
                "raft.peers",
                "member id 0 is not allowed",
            ));
        }
        if self.bootstrap && !self.peers.contains_key(&self.id) {
            let why = format!("a bootstrapping member must list itself (id {})", self.id);
            return Err(RaftError::invalid("raft.peers", why));
        }
        if self.bootstrap && ![1, 3, 5].contains(&self.peers.len()) {
            let why = format!("bootstrap 1, 3 or 5 members, not {}", self.peers.len());
            return Err(RaftError::invalid("raft.peers", why));
        }
        self.validate_timing()
    }

    fn validate_timing(&self) -> Result<()> {
        if self.tick.is_zero() {
            return Err(RaftError::invalid("raft.tick", "must be more than 0"));
        }
        if self.heartbeat_ticks == 0 {
            return Err(RaftError::invalid(
                "raft.heartbeat_ticks",
                "must be at least 1",
            ));
        }
        if self.election_ticks <= self.heartbeat_ticks {
            let why = format!(
                "must be more than heartbeat_ticks ({})",
                self.heartbeat_ticks
            );
            return Err(RaftError::invalid("raft.election_ticks", why));
        }
        if self.max_election_ticks <= self.election_ticks {
            let why = format!("must be more than election_ticks ({})", self.election_ticks);
            return Err(RaftError::invalid("raft.max_election_ticks", why));
        }
        if self.snapshot_every == 0 {
            return Err(RaftError::invalid(
                "raft.snapshot_every",
                "must be at least 1",
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(RaftError::invalid(
                "raft.request_timeout",
                "must be more than 0",
            ));
        }
        Ok(())
    }

    /// The raft-rs configuration, restarting after `applied`.
    pub(crate) fn to_raft(&self, applied: u64) -> raft::Config {
        raft::Config {
            id: self.id,
            election_tick: self.election_ticks,
            min_election_tick: self.election_ticks,
            max_election_tick: self.max_election_ticks,
            heartbeat_tick: self.heartbeat_ticks,
            applied,
            pre_vote: true,
            check_quorum: true,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Members {
        (1..=3)
            .map(|i| (i, format!("127.0.0.1:{}", 7000 + i)))
            .collect()
    }

    #[test]
    fn defaults_are_etcd_timing_and_valid() {
        let c = RaftConfig::new(1, three());
        assert_eq!(
            c.tick * c.heartbeat_ticks as u32,
            Duration::from_millis(100)
        );
        assert_eq!(c.election_timeout(), Duration::from_secs(1));
        c.validate().unwrap();
        let r = c.to_raft(0);
        assert!(r.pre_vote && r.check_quorum);
        assert_eq!((r.min_election_tick, r.max_election_tick), (10, 15));
        r.validate().unwrap();
    }

    #[test]
    fn bad_fields_are_named() {
        let mut c = RaftConfig::new(4, three());
        assert!(c.validate().unwrap_err().to_string().contains("raft.peers"));
        c.bootstrap = false;
        c.validate().unwrap();
        c.election_ticks = 1;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("raft.election_ticks")
        );
        c.election_ticks = 15;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("raft.max_election_ticks") && e.contains("(15)"),
            "{e}"
        );
        let mut two = RaftConfig::new(1, three());
        two.peers.remove(&3);
        assert!(
            two.validate()
                .unwrap_err()
                .to_string()
                .contains("1, 3 or 5")
        );
    }
}
