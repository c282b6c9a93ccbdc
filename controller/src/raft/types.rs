//! The data a member shares with its callers and between its own modules: who the members
//! are, what a command's application says, who leads, the member's status and why it stopped.
//! Every other file of raft/ may use these; this one uses no other file of raft/. The store
//! (`crate::store`) hands the same types to the services.
//!
//! A command that was applied is told two ways, to two audiences: its proposer gets an
//! [`Applied`] (the events, or why the database rejected it), and every subscriber gets the
//! [`AppliedEvents`] of each command that changed something (a rejected command, or one
//! without events, is not broadcast).

use std::collections::BTreeMap;

use crate::db::{ApplyError, Event};

/// Raft ids and transport addresses of the controller members.
pub type Members = BTreeMap<u64, String>;

/// A proposed command, applied on this member: the answer to its proposer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The revision it was applied at: on a raft member, the log index it was committed at
    /// (the number [`AppliedEvents`] carry).
    pub revision: u64,
    /// What the database said: the events, or why it rejected the command (a rejected command
    /// is still committed, and changed nothing).
    pub result: Result<Vec<Event>, ApplyError>,
}

/// The events of one applied command, as every subscriber sees them (the services' watch
/// streams, the leader's policy loop). Only commands that changed something are sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedEvents {
    /// The revision the command was applied at (as in [`Applied::revision`]).
    pub revision: u64,
    /// Its events.
    pub events: Vec<Event>,
}

/// Who leads, as this member sees it, and where to reach the leader (so that a follower can
/// point agents and operators to it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leadership {
    /// This member is the leader.
    pub is_leader: bool,
    /// The leader's raft id (0 when none is known).
    pub leader_id: u64,
    /// The leader's address (host:port of its gRPC server), when this member knows it: from
    /// its configured peers, or from the membership change that added the leader.
    pub leader_address: Option<String>,
    /// The current term.
    pub term: u64,
}

/// A member's raft role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Checks whether it could win an election (pre-vote).
    PreCandidate,
    /// Runs for leader.
    Candidate,
    /// Leads.
    Leader,
}

/// A snapshot of a member's raft state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftStatus {
    /// This member's raft id.
    pub id: u64,
    /// The current term.
    pub term: u64,
    /// The leader's raft id (0 when none is known).
    pub leader: u64,
    /// This member's role.
    pub role: Role,
    /// The highest index known committed.
    pub commit: u64,
    /// The highest index applied to this member's database.
    pub applied: u64,
    /// The voters.
    pub voters: Vec<u64>,
    /// Members and their addresses.
    pub members: Members,
    /// How far each member's log matches the leader's, by member id (filled on the leader
    /// only: followers do not track it).
    pub progress: Vec<Progress>,
    /// Messages from peers dropped since start because a field could not be right (see
    /// docs/daemon.md; correct members never send one).
    pub refused: u64,
}

/// A member's replication progress, as the leader tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The member's raft id.
    pub id: u64,
    /// The highest log index known to match the leader's.
    pub matched: u64,
    /// The next index the leader sends it.
    pub next_index: u64,
    /// How the leader sends to it.
    pub state: ProgressState,
    /// Whether it answered within the last election timeout.
    pub recent_active: bool,
}

/// How the leader sends to a member (raft-rs's `ProgressState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressState {
    /// Finding where the logs match.
    Probe,
    /// Streaming entries.
    Replicate,
    /// Sending a snapshot.
    Snapshot,
}

/// Why a member's task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It was asked to ([`super::RaftNode::shutdown`]), or every handle was dropped.
    Requested,
    /// It could not go on: the storage error (naming the file) or the panic inside raft-rs
    /// that ended it.
    Failed(String),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Requested => f.write_str("stopped on request"),
            Exit::Failed(why) => f.write_str(why),
        }
    }
}
