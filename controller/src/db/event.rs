//! Events: what an applied command changed, for watchers, the audit trail and the transition
//! summary that `nonstop simulate` prints (`* Move SOCKET_GROUP ( osdb-serv -> osdb-back )`).

use serde::{Deserialize, Serialize};

use nonstop_contract::Millis;

use super::command::{DrillStep, RestartCount};
use super::model::{NodeState, PlaceReason, ResourceState, Target};
use crate::time::Time;

/// Something that changed, at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When (the command's time).
    pub at: Time,
    /// What.
    pub kind: EventKind,
}

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum EventKind {
    /// Configuration changed: one line per change (`+ group G`, `~ resource R`, `- node N`).
    ConfigChanged { change: String },
    /// A node's state changed.
    NodeState {
        node: String,
        from: NodeState,
        to: NodeState,
    },
    /// A group was placed (`from` -> `to`), with its new epoch.
    GroupPlaced {
        group: String,
        from: Option<String>,
        to: Option<String>,
        epoch: u64,
        reason: PlaceReason,
    },
    /// A group started moving: its owner takes it offline first.
    GroupMoving {
        group: String,
        from: String,
        to: Option<String>,
        reason: PlaceReason,
    },
    /// A moving group's old owner confirmed that every resource of it is stopped.
    GroupStopped { group: String, node: String },
    /// An operator changed a group's or resource's target.
    TargetChanged { subject: String, target: Target },
    /// A group is held Failed.
    GroupHeld { group: String, reason: String },
    /// A group's failures were cleared.
    GroupCleared { group: String },
    /// A lost node is to be fenced (`method`: what will run, or an operator's confirmation).
    FenceRequested { node: String, method: String },
    /// One attempt to fence a node failed; it is retried.
    FenceFailed {
        node: String,
        method: String,
        attempt: u32,
        took: Millis,
        detail: String,
    },
    /// A node is fenced (`by`: the method, or the operator who confirmed it).
    Fenced {
        node: String,
        by: String,
        took: Millis,
        detail: String,
    },
    /// A node waiting to be fenced came Up again: it is not fenced.
    FenceCancelled { node: String },
    /// A drill's mark: started, a step, ended with its verdict.
    Drill {
        id: String,
        step: DrillStep,
        text: String,
    },
    /// A resource changed state on a node.
    ResourceState {
        resource: String,
        group: String,
        node: String,
        from: ResourceState,
        to: ResourceState,
        restart: Option<RestartCount>,
        window: Millis,
        gave_up: bool,
        message: Option<String>,
        /// When the agent saw it, on its own wall clock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reported_at: Option<Time>,
    },
}

impl Event {
    /// The line a person reads at a glance, in the style of Pacemaker's `crm_simulate`, or
    /// `None` for events that are not transitions worth a line.
    pub fn summary(&self) -> Option<String> {
        use EventKind as E;
        Some(match &self.kind {
            E::ConfigChanged { change } => format!("* Config {change}"),
            E::NodeState { node, to, .. } => format!("* Node {node} {to}"),
            E::GroupPlaced {
                group,
                from: None,
                to: Some(n),
                ..
            } => {
                format!("* Place {group} ( {n} )")
            }
            E::GroupPlaced {
                group,
                from: Some(a),
                to: Some(b),
                reason,
                ..
            } if a != b => {
                format!("* Move {group} ( {a} -> {b} ) {reason}")
            }
            E::GroupPlaced {
                group,
                from: Some(a),
                to: Some(_),
                reason,
                ..
            } => {
                format!("* Replace {group} ( {a} ) {reason}")
            }
            E::GroupPlaced {
                group,
                from,
                to: None,
                reason,
                ..
            } => {
                let from = from.as_deref().unwrap_or("-");
                format!("* Unplace {group} ( {from} ) {reason}")
            }
            E::GroupMoving {
                group,
                from,
                to,
                reason,
            } => {
                let to = to.as_deref().unwrap_or("best owner");
                format!("* Moving {group} ( {from} -> {to} ) {reason}")
            }
            E::GroupStopped { group, node } => format!("* Stopped {group} ( {node} )"),
            E::TargetChanged { subject, target } => format!("* Target {subject} {target:?}"),
            E::GroupHeld { group, reason } => format!("* Hold {group} Failed: {reason}"),
            E::GroupCleared { group } => format!("* Clear {group}"),
            E::FenceRequested { node, method } => format!("* Fence {node} ( {method} )"),
            E::FenceFailed {
                node,
                attempt,
                detail,
                ..
            } => format!("* Fence {node} failed (attempt {attempt}): {detail}"),
            E::Fenced {
                node,
                by,
                took,
                detail,
            } => match detail.as_str() {
                "" => format!("* Fenced {node} by {by} in {took}"),
                d => format!("* Fenced {node} by {by} in {took}: {d}"),
            },
            E::FenceCancelled { node } => format!("* Fence {node} cancelled: it is Up again"),
            E::Drill { id, step, text } => format!("* Drill {id} {step}: {text}"),
            E::ResourceState { .. } => return self.resource_summary(),
        })
    }

    fn resource_summary(&self) -> Option<String> {
        let EventKind::ResourceState {
            resource,
            node,
            from,
            to,
            restart,
            window,
            gave_up,
            message,
            ..
        } = &self.kind
        else {
            return None;
        };
        use ResourceState as S;
        let why = message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        Some(match (from, to, restart) {
            (_, S::Online, Some(r)) | (_, S::OnlinePending, Some(r)) => {
                let limit = r.limit.map(|l| l.to_string()).unwrap_or("unlimited".into());
                format!(
                    "* Restart {resource} ( {node} ) {}/{limit} in {window}",
                    r.attempt
                )
            }
            (S::Online, S::Online, None) => format!("* Update {resource} ( {node} ){why}"),
            (_, S::Online, None) => format!("* Start {resource} ( {node} )"),
            (_, S::OnlinePending, None) => format!("* Starting {resource} ( {node} )"),
            (_, S::OfflinePending, _) => format!("* Stopping {resource} ( {node} )"),
            (_, S::Offline, None) => format!("* Stop {resource} ( {node} )"),
            (_, S::Failing, _) => format!("* Fail {resource} ( {node} ){why}"),
            (S::Failing, S::Failed, _) if *gave_up => {
                format!("* Stop {resource} ( {node} ) after failure, gave up")
            }
            (S::Failing, S::Failed, _) => format!("* Stop {resource} ( {node} ) after failure"),
            (_, S::Failed, _) if *gave_up => format!("* Fail {resource} ( {node} ) gave up{why}"),
            (_, S::Failed, _) => format!("* Fail {resource} ( {node} ){why}"),
            _ => return None,
        })
    }
}
