//! The wire contract of nonstop: `ClusterService` (operators and tools), `AgentService`
//! (agent <-> controller leader) and `RaftTransport` (member <-> member).
//!
//! Generated code only, no logic. The .proto files under `proto/` are compiled by `build.rs`
//! with protox, without a system `protoc`; each service gets its own module here.

/// Member <-> member raft traffic (`proto/raft.proto`).
pub mod raft {
    #![allow(missing_docs, missing_debug_implementations, clippy::all)]
    tonic::include_proto!("nonstop.raft.v1");
}
