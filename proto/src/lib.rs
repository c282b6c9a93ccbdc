//! The wire contract of nonstop: `ClusterService` (operators and tools), `AgentService`
//! (agent <-> controller leader), `RaftTransport` (member <-> member) and
//! `DrillService` (a drill -> the node it breaks).
//!
//! Generated code only, no logic. The .proto files under `proto/` are compiled by `build.rs`
//! with protox, without a system `protoc`; each service gets its own module here.

/// The operators' API (`proto/cluster.proto`).
pub mod cluster {
    #![allow(missing_docs, missing_debug_implementations, clippy::all)]
    tonic::include_proto!("nonstop.cluster.v1");
}

/// The agent <-> leader contract (`proto/agent.proto`).
pub mod agent {
    #![allow(missing_docs, missing_debug_implementations, clippy::all)]
    tonic::include_proto!("nonstop.agent.v1");
}

/// Member <-> member raft traffic (`proto/raft.proto`).
pub mod raft {
    #![allow(missing_docs, missing_debug_implementations, clippy::all)]
    tonic::include_proto!("nonstop.raft.v1");
}

/// Faults a drill injects on a node, through that node's daemon (`proto/drill.proto`).
pub mod drill {
    #![allow(missing_docs, missing_debug_implementations, clippy::all)]
    tonic::include_proto!("nonstop.drill.v1");
}

/// The gRPC metadata keys nonstop reads and writes beside its messages, defined once for the
/// servers, the CLI, the agent and the tests.
pub mod metadata {
    /// The operator who sends a `ClusterService` request (the CLI's `--user`), written to the
    /// audit log; `anonymous` when absent.
    pub const USER: &str = "nonstop-user";
    /// The leader's gRPC address (`host:port`), set by a member that does not lead on the
    /// FAILED_PRECONDITION it answers to a leader-only call: the caller sends the call there.
    pub const LEADER: &str = "nonstop-leader";
    /// Set on UNAVAILABLE by a member whose raft member has stopped (the value says why): its
    /// daemon is about to exit, so the caller asks another member.
    pub const MEMBER_STOPPED: &str = "nonstop-member-stopped";
}

/// The encoded file descriptors of every service, for gRPC reflection (`grpcurl` without the
/// .proto files).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("nonstop_descriptor");
