//! The wire contract of nonstop: `ClusterService` (operators and tools), `AgentService`
//! (agent <-> controller leader) and `RaftTransport` (member <-> member).
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

/// The encoded file descriptors of every service, for gRPC reflection (`grpcurl` without the
/// .proto files).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("nonstop_descriptor");
