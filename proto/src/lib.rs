//! The wire contract of nonstop: `ClusterService` (operators and tools), `AgentService`
//! (agent <-> controller leader) and `RaftTransport` (member <-> member).
//!
//! Generated code only, no logic. The .proto files are compiled without a system `protoc`.
