//! Errors to gRPC status codes, in one place.
//!
//! | error | code |
//! |---|---|
//! | unknown name (the thing the request is about) | NOT_FOUND |
//! | bad field, unknown reference, dependency cycle, last voter removed | INVALID_ARGUMENT |
//! | refused by the cluster's state, stale report | FAILED_PRECONDITION |
//! | not the leader (the leader's address in `nonstop-leader`) | FAILED_PRECONDITION |
//! | no leader yet, proposal dropped | UNAVAILABLE (retry) |
//! | this member's raft member stopped (`nonstop-member-stopped` set) | UNAVAILABLE (ask another) |
//! | timed out | DEADLINE_EXCEEDED |
//! | a member's storage failed | INTERNAL |

use nonstop_proto::metadata;
use tonic::{Code, Status};

use crate::db::ApplyError;
use crate::store::StoreError;

/// The status for a command the database rejected.
pub fn from_apply(e: &ApplyError) -> Status {
    let code = match e {
        ApplyError::NotFound { .. } => Code::NotFound,
        ApplyError::Unknown { .. } | ApplyError::Invalid { .. } => Code::InvalidArgument,
        ApplyError::DependencyCycle { .. } => Code::InvalidArgument,
        ApplyError::Duplicate { .. } => Code::AlreadyExists,
        ApplyError::Refused { .. } | ApplyError::Stale { .. } | ApplyError::StaleStop { .. } => {
            Code::FailedPrecondition
        }
        ApplyError::StaleIncarnation { .. } => Code::Aborted,
        ApplyError::InBatch { source, .. } => {
            return Status::new(from_apply(source).code(), e.to_string());
        }
    };
    Status::new(code, e.to_string())
}

/// The status for a store that could not serve.
pub fn from_store(e: &StoreError) -> Status {
    match e {
        StoreError::NotLeader { leader } => {
            let mut s = Status::failed_precondition(e.to_string());
            if let Some(addr) = leader
                && let Ok(v) = addr.parse()
            {
                s.metadata_mut().insert(metadata::LEADER, v);
            }
            s
        }
        StoreError::NoLeader | StoreError::Dropped(_) => Status::unavailable(e.to_string()),
        StoreError::Timeout(_) => Status::deadline_exceeded(e.to_string()),
        StoreError::Invalid { .. } => Status::invalid_argument(e.to_string()),
        StoreError::Stopped(why) => {
            let mut s = Status::unavailable(e.to_string());
            let why = why.replace(|c: char| !c.is_ascii() || c.is_ascii_control(), " ");
            if let Ok(v) = why.parse() {
                s.metadata_mut().insert(metadata::MEMBER_STOPPED, v);
            }
            s
        }
        StoreError::Fatal(_) => Status::internal(e.to_string()),
    }
}

/// A request field with a bad value.
pub fn bad_field(field: &str, reason: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {reason}"))
}
