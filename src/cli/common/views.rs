//! The API's records as the CLI prints them: the JSON and YAML shape scripts rely on (an absent
//! owner is `null`, not `""`), and the tables people read.

use std::collections::BTreeMap;

use nonstop_proto::cluster as pb;
use serde::Serialize;

use super::client::CliError;
use super::output::{Format, cell, emit, fields, list, rows};
use super::wire;

/// `Some(s)` unless `s` is empty.
fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// A node.
#[derive(Debug, Serialize)]
pub struct NodeView {
    pub name: String,
    /// Joining, Up, Paused, Down.
    pub state: String,
    pub address: Option<String>,
    pub autobackup: bool,
    pub witness: bool,
    pub evicted: bool,
    /// The groups it owns.
    pub groups: Vec<String>,
    /// When the certificate it presented last expires (UTC, RFC 3339); null when not seen or
    /// without TLS.
    pub certificate_expires: Option<String>,
    /// Where its fencing stands since it was last declared Down (null: nothing to fence).
    pub fence: Option<String>,
}

/// An expiry in ms since the Unix epoch as RFC 3339 (UTC); `None` for 0 (not known).
fn expiry(ms: u64) -> Option<String> {
    if ms == 0 {
        return None;
    }
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(ms / 1000).ok()?).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// Whole days from now until `rfc3339` (negative once past).
pub fn days_until(rfc3339: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?;
    Some((t - time::OffsetDateTime::now_utc()).whole_days())
}

impl From<pb::Node> for NodeView {
    fn from(n: pb::Node) -> Self {
        NodeView {
            certificate_expires: expiry(n.certificate_expires_ms),
            fence: some(&n.fence),
            address: some(&n.address),
            name: n.name,
            state: wire::node_state(n.state),
            autobackup: n.autobackup,
            witness: n.witness,
            evicted: n.evicted,
            groups: n.groups,
        }
    }
}

/// A group.
#[derive(Debug, Serialize)]
pub struct GroupView {
    pub name: String,
    /// Online, Offline, OnlinePending, OfflinePending, Failed, PartialOnline.
    pub state: String,
    /// The node it is placed on, or null.
    pub owner: Option<String>,
    /// Home first, then the BACKUP nodes.
    pub owners: Vec<String>,
    pub epoch: u64,
    /// The operator's intent: online or offline.
    pub target: String,
    pub moving_to: Option<String>,
    /// Why it is held Failed.
    pub held: Option<String>,
    pub failback: String,
    pub resources: Vec<String>,
}

impl From<pb::Group> for GroupView {
    fn from(g: pb::Group) -> Self {
        GroupView {
            owner: g.has_owner.then(|| g.owner.clone()),
            moving_to: some(&g.moving_to),
            held: some(&g.held),
            state: wire::group_state(g.state),
            target: wire::target(g.target),
            failback: wire::failback(g.failback.as_ref()),
            name: g.name,
            owners: g.owners,
            epoch: g.epoch,
            resources: g.resources,
        }
    }
}

/// A resource.
#[derive(Debug, Serialize)]
pub struct ResourceView {
    pub name: String,
    pub group: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub state: String,
    pub target: String,
    /// Where it runs (its group's owner), or null.
    pub node: Option<String>,
    pub properties: BTreeMap<String, String>,
    /// Values that differ on some nodes, by node (what `properties` becomes there).
    pub node_properties: BTreeMap<String, BTreeMap<String, String>>,
    pub depends_on: Vec<String>,
    pub message: Option<String>,
    pub restarts_in_window: u32,
    pub gave_up: bool,
}

impl From<pb::Resource> for ResourceView {
    fn from(r: pb::Resource) -> Self {
        ResourceView {
            node: some(&r.node),
            message: some(&r.message),
            name: r.name,
            group: r.group,
            type_name: r.r#type,
            state: wire::resource_state(r.state),
            target: wire::target(r.target),
            properties: r.properties.into_iter().collect(),
            node_properties: r
                .node_properties
                .into_iter()
                .map(|(n, p)| (n, p.values.into_iter().collect()))
                .collect(),
            depends_on: r.depends_on,
            restarts_in_window: r.restarts_in_window,
            gave_up: r.gave_up,
        }
    }
}

/// The cluster at a glance.
#[derive(Debug, Serialize)]
pub struct StatusView {
    /// The leader's address, or null when there is none.
    pub leader: Option<String>,
    /// The leader's node name, as it answers for itself; null when it does not answer.
    pub leader_node: Option<String>,
    pub leader_id: u64,
    pub term: u64,
    /// Commands applied on the member that answered.
    pub revision: u64,
    pub answered_by: String,
    /// Whether the CLI reached the cluster over mutual TLS (false: plain gRPC, a cluster run
    /// `--insecure`, where nobody is authenticated).
    pub tls: bool,
    /// The controller members: id, address, role (leader, voter, learner).
    pub members: Vec<MemberView>,
    pub nodes: Vec<NodeView>,
    pub groups: Vec<GroupView>,
    /// Who asked, as the member authenticated the call, and the role that decides what it
    /// may do (viewer, operator, admin; node; insecure: anything, nobody authenticated).
    pub caller: String,
    pub caller_role: String,
    /// The drill running now, in words; null when none.
    pub drill: Option<String>,
}

/// A controller member as the CLI shows it.
#[derive(Debug, Serialize)]
pub struct MemberView {
    pub id: u64,
    pub address: String,
    pub role: String,
}

impl From<pb::StatusReply> for StatusView {
    fn from(s: pb::StatusReply) -> Self {
        StatusView {
            leader: some(&s.leader),
            leader_node: None,
            leader_id: s.leader_id,
            term: s.term,
            revision: s.revision,
            answered_by: s.answered_by,
            tls: false,
            members: s
                .members
                .into_iter()
                .map(|m| MemberView {
                    id: m.id,
                    address: m.address,
                    role: wire::member_role(m.role),
                })
                .collect(),
            nodes: s.nodes.into_iter().map(NodeView::from).collect(),
            groups: s.groups.into_iter().map(GroupView::from).collect(),
            caller: s.caller,
            caller_role: s.caller_role,
            drill: some(&s.drill),
        }
    }
}

/// What an operator command changed.
#[derive(Debug, Serialize)]
pub struct CommandView {
    /// The revision it was applied at.
    pub revision: u64,
    pub changes: Vec<String>,
}

impl From<pb::CommandReply> for CommandView {
    fn from(c: pb::CommandReply) -> Self {
        CommandView {
            revision: c.revision,
            changes: c.changes,
        }
    }
}

/// The nodes as a table.
pub fn node_table(nodes: &[NodeView]) -> String {
    let header = ["NODE", "STATE", "ADDRESS", "GROUPS"];
    rows(
        &header,
        nodes.iter().map(|n| {
            let mut state = if n.witness {
                format!("{} (witness)", n.state)
            } else {
                n.state.clone()
            };
            if let Some(f) = &n.fence {
                state += &format!(" ({f})");
            }
            [n.name.clone(), state, cell(&n.address), list(&n.groups)]
        }),
    )
}

/// One node, field by field.
pub fn node_fields(n: &NodeView) -> String {
    fields(&[
        ("name", n.name.clone()),
        ("state", n.state.clone()),
        ("address", cell(&n.address)),
        ("autobackup", n.autobackup.to_string()),
        ("witness", n.witness.to_string()),
        ("evicted", n.evicted.to_string()),
        ("groups", list(&n.groups)),
        ("fence", cell(&n.fence)),
        (
            "certificate",
            match &n.certificate_expires {
                Some(at) => {
                    let days = days_until(at).unwrap_or(0);
                    format!("expires {at} (in {days} days)")
                }
                None => "-".into(),
            },
        ),
    ])
}

/// The groups as a table.
pub fn group_table(groups: &[GroupView]) -> String {
    let header = ["GROUP", "STATE", "OWNER", "TARGET", "OWNERS"];
    rows(
        &header,
        groups.iter().map(|g| {
            let owner = match (&g.owner, &g.moving_to) {
                (o, Some(to)) => format!("{} -> {to}", cell(o)),
                (o, None) => cell(o),
            };
            let state = match &g.held {
                Some(why) => format!("{} ({why})", g.state),
                None => g.state.clone(),
            };
            [
                g.name.clone(),
                state,
                owner,
                g.target.clone(),
                list(&g.owners),
            ]
        }),
    )
}

/// One group, field by field.
pub fn group_fields(g: &GroupView) -> String {
    fields(&[
        ("name", g.name.clone()),
        ("state", g.state.clone()),
        ("owner", cell(&g.owner)),
        ("owners", list(&g.owners)),
        ("epoch", g.epoch.to_string()),
        ("target", g.target.clone()),
        ("moving to", cell(&g.moving_to)),
        ("held", cell(&g.held)),
        ("failback", g.failback.clone()),
        ("resources", list(&g.resources)),
    ])
}

/// The resources as a table.
pub fn resource_table(resources: &[ResourceView]) -> String {
    let header = ["RESOURCE", "GROUP", "TYPE", "STATE", "TARGET", "NODE"];
    rows(
        &header,
        resources.iter().map(|r| {
            [
                r.name.clone(),
                r.group.clone(),
                r.type_name.clone(),
                r.state.clone(),
                r.target.clone(),
                cell(&r.node),
            ]
        }),
    )
}

/// One resource, field by field.
pub fn resource_fields(r: &ResourceView) -> String {
    let pairs = |p: &BTreeMap<String, String>| -> Vec<String> {
        p.iter().map(|(k, v)| format!("{k}={v}")).collect()
    };
    let mut rows = vec![
        ("name", r.name.clone()),
        ("group", r.group.clone()),
        ("type", r.type_name.clone()),
        ("state", r.state.clone()),
        ("target", r.target.clone()),
        ("node", cell(&r.node)),
        ("properties", list(&pairs(&r.properties))),
    ];
    let localized: Vec<(String, String)> = r
        .node_properties
        .iter()
        .map(|(n, p)| (format!("properties on {n}"), list(&pairs(p))))
        .collect();
    rows.extend(localized.iter().map(|(k, v)| (k.as_str(), v.clone())));
    rows.extend([
        ("depends on", list(&r.depends_on)),
        ("message", cell(&r.message)),
        ("restarts in window", r.restarts_in_window.to_string()),
        ("gave up", r.gave_up.to_string()),
    ]);
    fields(&rows)
}

/// Prints what an operator command changed.
pub fn print_command(
    format: Format,
    reply: Result<pb::CommandReply, CliError>,
) -> Result<(), CliError> {
    emit(format, &CommandView::from(reply?), command_text)
}

/// What a command changed, one line each.
pub fn command_text(c: &CommandView) -> String {
    if c.changes.is_empty() {
        format!("no change (revision {})", c.revision)
    } else {
        c.changes.join("\n")
    }
}
