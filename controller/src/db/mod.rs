//! The cluster database: everything that must survive a controller crash, changed only by
//! applying a committed [`Command`].
//!
//! `apply` is deterministic and does no I/O. A rejected command returns an [`ApplyError`] and
//! leaves the database exactly as it was: single operations check everything before they change
//! anything, and a [`Op::Batch`] runs on a copy that replaces the original only when every change
//! in it succeeded.

mod alert;
mod apply_config;
mod apply_live;
mod check;
mod command;
mod desired;
mod discovered;
mod error;
mod event;
mod fence;
mod localized;
pub mod model;
mod placement;
mod state;
mod tokens;
mod unique;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

use nonstop_contract::TypeDef;
use nonstop_contract::builtin::builtin_types;

pub use check::FieldProblem;
pub use command::{Command, DrillStep, Op, Origin, RestartCount};
pub use discovered::{Discovered, MAX_DISCOVERED, Undeclared, difference};
pub use error::{ApplyError, Result};
pub use event::{Event, EventKind};
pub use model::*;
pub use nonstop_contract::names::{NAME_MAX, NAME_RULE, is_safe_name};
pub use nonstop_contract::{DesiredGroup, DesiredNode, DesiredResource};
pub use tokens::{MAX_TOKENS, TOKEN_ROLES, Token};

use crate::time::Time;

/// How many operator commands the audit log keeps (oldest dropped first).
pub const AUDIT_CAPACITY: usize = 10_000;

/// The replicated state of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterDb {
    /// Cluster-wide settings.
    pub settings: Settings,
    /// Nodes by name.
    pub nodes: BTreeMap<String, Node>,
    /// Resource types by name.
    pub types: BTreeMap<String, TypeDef>,
    /// Groups by name.
    pub groups: BTreeMap<String, Group>,
    /// Resources by name.
    pub resources: BTreeMap<String, Resource>,
    /// Cousin sets by name.
    pub cousin_sets: BTreeMap<String, CousinSet>,
    /// The service directory.
    pub services: BTreeMap<String, Service>,
    /// The last placement epoch handed out.
    pub epoch: u64,
    /// How many commands have been applied.
    pub revision: u64,
    /// When the first node came up (first start waits for home nodes from then on).
    pub formed_at: Option<Time>,
    /// Operator commands, newest last.
    pub audit: VecDeque<AuditEntry>,
    /// Bearer tokens by id (tokens.rs).
    #[serde(default)]
    pub tokens: BTreeMap<String, Token>,
    /// The drill running now, if any (`Op::Drill`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<RunningDrill>,
    /// The types each node's agent discovered (OCF agents, `exec` plug-ins: their meta-data),
    /// by node, then by type (`Op::TypesDiscovered`, discovered.rs).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "discovered::shared"
    )]
    pub discovered: Discovered,
}

/// A drill that began and has not ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningDrill {
    /// Its id.
    pub id: String,
    /// What it does, in words.
    pub text: String,
    /// Who began it.
    pub by: String,
    /// Since when.
    pub since: Time,
}

impl Default for ClusterDb {
    fn default() -> Self {
        Self::new()
    }
}

impl ClusterDb {
    /// An empty cluster that knows the built-in resource types.
    pub fn new() -> Self {
        ClusterDb {
            settings: Settings::default(),
            nodes: BTreeMap::new(),
            types: builtin_types()
                .into_iter()
                .map(|t| (t.name.clone(), t))
                .collect(),
            groups: BTreeMap::new(),
            resources: BTreeMap::new(),
            cousin_sets: BTreeMap::new(),
            services: BTreeMap::new(),
            epoch: 0,
            revision: 0,
            formed_at: None,
            audit: VecDeque::new(),
            tokens: BTreeMap::new(),
            drill: None,
            discovered: Discovered::new(),
        }
    }

    /// Applies a command: on success the database changed and the events say how; on error
    /// nothing changed.
    pub fn apply(&mut self, cmd: Command) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        let audit_line = cmd.op.to_string();
        match cmd.op {
            Op::Batch(ops) => self.apply_batch(cmd.at, ops, &mut out)?,
            Op::Drill {
                id,
                step,
                text,
                force,
            } => {
                let by = match &cmd.origin {
                    Origin::Operator(user) => user.clone(),
                    _ => "the cluster".to_string(),
                };
                self.drill(cmd.at, id, step, text, force, by, &mut out)?
            }
            op => self.apply_one(cmd.at, op, &mut out)?,
        }
        self.revision += 1;
        if let Origin::Operator(user) = cmd.origin {
            if self.audit.len() == AUDIT_CAPACITY {
                self.audit.pop_front();
            }
            self.audit.push_back(AuditEntry {
                at: cmd.at,
                user,
                command: audit_line,
            });
        }
        Ok(out
            .into_iter()
            .map(|kind| Event { at: cmd.at, kind })
            .collect())
    }

    fn apply_batch(&mut self, at: Time, ops: Vec<Op>, out: &mut Vec<EventKind>) -> Result<()> {
        let mut copy = self.clone();
        let total = ops.len();
        for (i, op) in ops.into_iter().enumerate() {
            let line = op.to_string();
            if matches!(op, Op::Batch(_)) {
                return Err(error::refused("batch".into(), "batches do not nest"));
            }
            copy.apply_one(at, op, out)
                .map_err(|e| ApplyError::InBatch {
                    index: i + 1,
                    total,
                    op: line,
                    source: Box::new(e),
                })?;
        }
        *self = copy;
        Ok(())
    }

    fn apply_one(&mut self, at: Time, op: Op, out: &mut Vec<EventKind>) -> Result<()> {
        match op {
            // The audit entry `apply` adds for an operator's command is all it does.
            Op::Record { .. } => Ok(()),
            Op::PutToken(t) => self.put_token(t),
            Op::RevokeToken { id } => self.revoke_token(&id),
            Op::PutNode(spec) => self.put_node(spec, out),
            Op::RemoveNode { node } => self.remove_node(&node, out),
            Op::PutType(def) => self.put_type(def, out),
            Op::RemoveType { name } => self.remove_type(&name, out),
            Op::PutGroup(spec) => self.put_group(spec, out),
            Op::RemoveGroup { group } => self.remove_group(&group, out),
            Op::PutResource(spec) => self.put_resource(spec, out),
            Op::RemoveResource { resource } => self.remove_resource(&resource, out),
            Op::PutCousinSet(set) => self.put_cousin_set(set, out),
            Op::RemoveCousinSet { name } => self.remove_cousin_set(&name, out),
            Op::PutService(svc) => self.put_service(svc, out),
            Op::RemoveService { name } => self.remove_service(&name, out),
            Op::SetSettings(s) => self.set_settings(s, out),
            Op::Batch(_) => Err(error::refused("batch".into(), "batches do not nest")),
            Op::NodeUp { node } => self.node_up(at, &node, out),
            Op::NodeDown { node, .. } => self.node_down(at, &node, out),
            Op::FenceResult(r) => self.fence_result(at, r, out),
            Op::ConfirmFenced { node, by } => self.confirm_fenced(at, &node, &by, out),
            Op::Registered {
                node,
                incarnation,
                daemon,
            } => self.registered(&node, incarnation, daemon),
            Op::TypesDiscovered { node, types } => self.types_discovered(&node, types),
            Op::Drill { .. } => Err(error::refused(
                "drill".into(),
                "a drill's mark is never part of a batch",
            )),
            Op::NodeStopped {
                node,
                incarnation,
                resources,
            } => self.node_stopped(at, &node, incarnation, &resources, out),
            Op::PauseNode { node } => self.pause_node(&node, true, out),
            Op::ResumeNode { node } => self.pause_node(&node, false, out),
            Op::EvictNode { node } => self.evict_node(at, &node, out),
            Op::MoveGroup { group, to } => self.move_group(at, &group, to, out),
            Op::SetGroupTarget { group, target } => self.set_group_target(at, &group, target, out),
            Op::SetResourceTarget { resource, target } => {
                self.set_resource_target(at, &resource, target, out)
            }
            Op::ClearGroup { group } => self.clear_group(at, &group, out),
            Op::Place {
                group,
                node,
                reason,
            } => self.place(at, &group, node, reason, out),
            Op::BeginMove { group, to, reason } => self.begin_move(at, &group, to, reason, out),
            Op::HoldGroup { group, reason } => self.hold_group(&group, reason, out),
            Op::ReportResource {
                node,
                resource,
                epoch,
                state,
                restart,
                gave_up,
                message,
                reported_at,
                mark,
            } => self.numbered(&node.clone(), mark, |db| {
                db.report_resource(
                    at,
                    apply_live::Report {
                        node,
                        resource,
                        epoch,
                        state,
                        restart,
                        gave_up,
                        message,
                        reported_at,
                    },
                    out,
                )
            }),
            Op::GroupStopped {
                node,
                group,
                epoch,
                stop,
                mark,
            } => self.numbered(&node.clone(), mark, |db| {
                db.group_stopped_on(&node, &group, epoch, stop, out)
            }),
        }
    }

    /// The database as bytes (for raft snapshots).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(self).expect("ClusterDb serialises")
    }

    /// A database from bytes made by [`ClusterDb::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The resources of a group, by name.
    pub fn group_resources<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Resource> {
        // The group's own list of members keeps this proportional to the group, not the cluster.
        self.groups
            .get(group)
            .into_iter()
            .flat_map(|g| g.resources.iter())
            .filter_map(|name| self.resources.get(name))
    }

    /// Groups owned by `node`.
    pub fn groups_on<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Group> {
        self.groups
            .values()
            .filter(move |g| g.owner.as_deref() == Some(node))
    }
}

#[cfg(test)]
pub(crate) mod tests;

impl ClusterDb {
    /// Records a drill's mark; `Begin` while another drill runs is refused unless `force`.
    #[allow(clippy::too_many_arguments)]
    fn drill(
        &mut self,
        at: Time,
        id: String,
        step: DrillStep,
        text: String,
        force: bool,
        by: String,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        if !is_safe_name(&id) {
            return Err(error::invalid(
                "drill".into(),
                "id",
                format!("{id:?}: {NAME_RULE}"),
            ));
        }
        if text.len() > 4096 {
            return Err(error::invalid(
                format!("drill {id}"),
                "text",
                "longer than 4096 bytes".to_string(),
            ));
        }
        match step {
            DrillStep::Begin => {
                if let Some(d) = &self.drill
                    && !force
                {
                    return Err(error::refused(
                        format!("drill {id}"),
                        format!(
                            "drill {} ({}) by {} is running: wait for it to end, or --force \
                             if it was interrupted for good",
                            d.id, d.text, d.by
                        ),
                    ));
                }
                self.drill = Some(RunningDrill {
                    id: id.clone(),
                    text: text.clone(),
                    by,
                    since: at,
                });
            }
            DrillStep::Note => {}
            DrillStep::End => {
                if self.drill.as_ref().is_some_and(|d| d.id == id) {
                    self.drill = None;
                }
            }
        }
        out.push(EventKind::Drill { id, step, text });
        Ok(())
    }
}
