//! The agent protocol's plain data to and from its protobuf messages (proto/proto/agent.proto),
//! in one place: a state crosses the wire as an enum, never as text, and every conversion from
//! the wire names the field it refuses.

use nonstop_proto::agent as pb;

use crate::desired::{AgentReport, GroupStopped, ResourceReport, ResourceState, RestartCount};

/// A field of a peer's message that cannot be right.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct WireError {
    /// The field (`reports[3].transition.state`).
    pub field: String,
    /// Why.
    pub reason: String,
}

impl WireError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        WireError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<ResourceState> for pb::ResourceState {
    fn from(s: ResourceState) -> Self {
        match s {
            ResourceState::Offline => pb::ResourceState::Offline,
            ResourceState::OnlinePending => pb::ResourceState::OnlinePending,
            ResourceState::Online => pb::ResourceState::Online,
            ResourceState::OfflinePending => pb::ResourceState::OfflinePending,
            ResourceState::Failed => pb::ResourceState::Failed,
            ResourceState::Failing => pb::ResourceState::Failing,
        }
    }
}

/// A state from its wire number; `field` names it in the error.
pub fn state_from_wire(n: i32, field: &str) -> Result<ResourceState, WireError> {
    match pb::ResourceState::try_from(n) {
        Ok(pb::ResourceState::Offline) => Ok(ResourceState::Offline),
        Ok(pb::ResourceState::OnlinePending) => Ok(ResourceState::OnlinePending),
        Ok(pb::ResourceState::Online) => Ok(ResourceState::Online),
        Ok(pb::ResourceState::OfflinePending) => Ok(ResourceState::OfflinePending),
        Ok(pb::ResourceState::Failed) => Ok(ResourceState::Failed),
        Ok(pb::ResourceState::Failing) => Ok(ResourceState::Failing),
        Ok(pb::ResourceState::Unspecified) => Err(WireError::new(field, "is not set")),
        Err(_) => Err(WireError::new(
            field,
            format!("{n} is not a resource state"),
        )),
    }
}

impl From<AgentReport> for pb::AgentReport {
    fn from(r: AgentReport) -> Self {
        let kind = match r {
            AgentReport::Resource(r) => {
                pb::agent_report::Kind::Transition(pb::ResourceTransition {
                    resource: r.resource,
                    group: r.group,
                    epoch: r.epoch,
                    state: pb::ResourceState::from(r.state) as i32,
                    restarted: r.restart.is_some(),
                    restart_attempt: r.restart.map(|c| c.attempt).unwrap_or(0),
                    restart_limit: r.restart.and_then(|c| c.limit).unwrap_or(0),
                    gave_up: r.gave_up,
                    message: r.message.unwrap_or_default(),
                    at_ms: r.at_ms,
                })
            }
            AgentReport::GroupStopped(g) => pb::agent_report::Kind::Stopped(pb::GroupStopped {
                group: g.group,
                epoch: g.epoch,
                stop: g.stop,
                at_ms: g.at_ms,
            }),
        };
        pb::AgentReport { kind: Some(kind) }
    }
}

/// Longest message a report may carry (a handler's reason), in bytes.
pub const MAX_MESSAGE: usize = 4096;
/// Longest name (resource, group) a report may carry, in bytes.
pub const MAX_NAME: usize = 255;

/// A report from the wire; `field` is its place in the batch (`reports[3]`).
pub fn report_from_wire(r: pb::AgentReport, field: &str) -> Result<AgentReport, WireError> {
    let name = |value: &str, f: &str| -> Result<(), WireError> {
        if value.is_empty() {
            return Err(WireError::new(format!("{field}.{f}"), "is empty"));
        }
        if value.len() > MAX_NAME {
            return Err(WireError::new(
                format!("{field}.{f}"),
                format!("is {} bytes long (at most {MAX_NAME})", value.len()),
            ));
        }
        Ok(())
    };
    match r.kind {
        None => Err(WireError::new(
            field,
            "carries neither a transition nor a stop",
        )),
        Some(pb::agent_report::Kind::Transition(t)) => {
            name(&t.resource, "transition.resource")?;
            name(&t.group, "transition.group")?;
            if t.message.len() > MAX_MESSAGE {
                return Err(WireError::new(
                    format!("{field}.transition.message"),
                    format!("is {} bytes long (at most {MAX_MESSAGE})", t.message.len()),
                ));
            }
            let state = state_from_wire(t.state, &format!("{field}.transition.state"))?;
            let restart = t.restarted.then_some(RestartCount {
                attempt: t.restart_attempt,
                limit: (t.restart_limit > 0).then_some(t.restart_limit),
            });
            Ok(AgentReport::Resource(ResourceReport {
                resource: t.resource,
                group: t.group,
                epoch: t.epoch,
                state,
                restart,
                gave_up: t.gave_up,
                message: (!t.message.is_empty()).then_some(t.message),
                at_ms: t.at_ms,
            }))
        }
        Some(pb::agent_report::Kind::Stopped(g)) => {
            name(&g.group, "stopped.group")?;
            Ok(AgentReport::GroupStopped(GroupStopped {
                group: g.group,
                epoch: g.epoch,
                stop: g.stop,
                at_ms: g.at_ms,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_survives_the_wire_and_nonsense_is_named() {
        for s in [
            ResourceState::Offline,
            ResourceState::OnlinePending,
            ResourceState::Online,
            ResourceState::OfflinePending,
            ResourceState::Failed,
            ResourceState::Failing,
        ] {
            let n = pb::ResourceState::from(s) as i32;
            assert_eq!(state_from_wire(n, "state").unwrap(), s);
        }
        let e = state_from_wire(99, "reports[0].transition.state").unwrap_err();
        assert_eq!(
            e.to_string(),
            "reports[0].transition.state: 99 is not a resource state"
        );
        assert!(state_from_wire(0, "s").is_err());
    }

    #[test]
    fn reports_round_trip_and_oversized_fields_are_refused() {
        let r = AgentReport::Resource(ResourceReport {
            resource: "chat".into(),
            group: "G".into(),
            epoch: 7,
            state: ResourceState::Failing,
            restart: Some(RestartCount {
                attempt: 2,
                limit: Some(3),
            }),
            gave_up: false,
            message: Some("exited".into()),
            at_ms: 1234,
        });
        let back = report_from_wire(pb::AgentReport::from(r.clone()), "reports[0]").unwrap();
        assert_eq!(back, r);
        let g = AgentReport::GroupStopped(GroupStopped {
            group: "G".into(),
            epoch: 7,
            stop: 9,
            at_ms: 5,
        });
        assert_eq!(
            report_from_wire(pb::AgentReport::from(g.clone()), "r").unwrap(),
            g
        );
        let mut big = pb::AgentReport::from(r);
        if let Some(pb::agent_report::Kind::Transition(t)) = &mut big.kind {
            t.message = "x".repeat(MAX_MESSAGE + 1);
        }
        let e = report_from_wire(big, "reports[1]").unwrap_err();
        assert_eq!(e.field, "reports[1].transition.message");
        let e = report_from_wire(pb::AgentReport { kind: None }, "reports[2]").unwrap_err();
        assert_eq!(e.field, "reports[2]");
    }
}
