//! Which event becomes which alert, for which configured alert, with what environment: the
//! environment Pacemaker gives its alert agents, so that agents people already have run
//! unmodified. Pure: the leader's alerter (`alerter.rs`) feeds it every batch of applied events
//! and runs the calls it returns.
//!
//! ```text
//!  AppliedEvents { revision, events } ──notices(&db)──▶ one Notice per event worth telling
//!      (kind, sequence, CRM_alert_* and NONSTOP_alert_* values)
//!  Notices × alerts wanting the kind × recipients ──calls──▶ AlertCall (path, timeout, env)
//! ```
//!
//! How nonstop's events read in Pacemaker's words (Pacemaker alerts when an operation ends, not
//! when it begins, so pending states and fence requests are not alerts):
//!
//! | event | kind | task | rc | desc |
//! |---|---|---|---|---|
//! | node Up (or Paused) from Joining or Down | node | | | `member` |
//! | node Down | node | | | `lost` |
//! | resource Online (start or restart) | resource | start | 0 | `ok` |
//! | resource Online again with new properties | resource | reload | 0 | `ok` |
//! | resource Offline after stopping, or after a failure stopped it | resource | stop | 0 | `ok` |
//! | resource failed while Online | resource | monitor | 1 | `error (why)` |
//! | resource failed starting / stopping | resource | start / stop | 1 | `error (why)` |
//! | one copy of several failed and was replaced | resource | monitor, then start | 1, then 0 | |
//! | node fenced | fencing | off / reboot | 0 | `Operation off of N by M for nonstop@L: OK ...` |
//! | fence attempt failed | fencing | off / reboot | -62 timed out, else -201 | `...: Error (why) ...` |
//! | group placed, moving, stopped, held, cleared | group | | | the event's summary |
//! | drill mark | drill | | | the event's summary |

use crate::db::model::{AlertKind, AlertSpec, FenceAction, NodeState, ResourceState};
use crate::db::{ClusterDb, Event, EventKind};
use crate::store::AppliedEvents;
use crate::time::Time;
use nonstop_contract::Millis;

/// Who sends the alerts: the daemon that leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// Its version (`CRM_alert_version`).
    pub version: String,
    /// Its node's name (the origin of fencing alerts' descriptions).
    pub node: String,
}

/// One event, told: its kind, its sequence number, and the values every call for it gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// What it is about.
    pub kind: AlertKind,
    /// `CRM_alert_node_sequence`: the command's revision times a million, plus the notice's
    /// place among the command's notices. It grows with every alert across leaders (a revision
    /// is the raft log's index).
    pub sequence: u64,
    /// Pacemaker's values, each given as `CRM_alert_<name>` and `CRM_notify_<name>` (the older
    /// prefix, which Pacemaker still sets), recipient excepted.
    pub crm: Vec<(&'static str, String)>,
    /// nonstop's own values, each given as `NONSTOP_alert_<name>`.
    pub nonstop: Vec<(&'static str, String)>,
}

/// One run of an alert's program: for one notice and one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertCall {
    /// The alert's name.
    pub alert: String,
    /// The program.
    pub path: String,
    /// Its recipient (empty for an alert without recipients).
    pub recipient: String,
    /// How long it may run.
    pub timeout: Millis,
    /// What the notice is about.
    pub kind: AlertKind,
    /// The notice's sequence number.
    pub sequence: u64,
    /// Its whole environment, in a stable order.
    pub env: Vec<(String, String)>,
}

/// Every call the events of `applied` make, for the alerts `db` configures. Pure.
pub fn alert_calls(db: &ClusterDb, applied: &AppliedEvents, sender: &Sender) -> Vec<AlertCall> {
    if db.settings.alerts.is_empty() {
        return Vec::new();
    }
    calls(&db.settings.alerts, &notices(db, applied, sender))
}

/// One call per notice, alert that wants its kind, and recipient, in that order.
pub fn calls(alerts: &[AlertSpec], notices: &[Notice]) -> Vec<AlertCall> {
    let mut out = Vec::new();
    for n in notices {
        for a in alerts.iter().filter(|a| a.wants(n.kind)) {
            for recipient in a.recipients() {
                let mut env = Vec::with_capacity(2 * n.crm.len() + n.nonstop.len() + 2);
                let crm = n.crm.iter().map(|(k, v)| (*k, v.as_str()));
                for (k, v) in crm.chain([("recipient", recipient)]) {
                    env.push((format!("CRM_alert_{k}"), v.to_string()));
                    env.push((format!("CRM_notify_{k}"), v.to_string()));
                }
                for (k, v) in &n.nonstop {
                    env.push((format!("NONSTOP_alert_{k}"), v.clone()));
                }
                out.push(AlertCall {
                    alert: a.name.clone(),
                    path: a.path.clone(),
                    recipient: recipient.to_string(),
                    timeout: a.timeout(),
                    kind: n.kind,
                    sequence: n.sequence,
                    env,
                });
            }
        }
    }
    out
}

/// The notices of a command's events, in event order.
pub fn notices(db: &ClusterDb, applied: &AppliedEvents, sender: &Sender) -> Vec<Notice> {
    let mut out: Vec<Notice> = Vec::new();
    for e in &applied.events {
        for t in told(db, e, sender, applied.revision) {
            let index = (out.len() as u64).min(999_999);
            let sequence = applied.revision.saturating_mul(1_000_000) + index;
            let mut crm = vec![
                ("kind", t.kind.to_string()),
                ("version", sender.version.clone()),
                ("node_sequence", sequence.to_string()),
                (
                    "timestamp",
                    clock_of_day(e.at, db.settings.utc_offset_minutes),
                ),
                ("timestamp_epoch", (e.at.0 / 1000).to_string()),
                ("timestamp_usec", format!("{:06}", e.at.0 % 1000 * 1000)),
            ];
            crm.extend(t.crm);
            let mut nonstop = vec![
                ("kind", t.kind.to_string()),
                ("revision", applied.revision.to_string()),
                ("summary", e.summary().unwrap_or_default()),
            ];
            nonstop.extend(t.nonstop);
            out.push(Notice {
                kind: t.kind,
                sequence,
                crm,
                nonstop,
            });
        }
    }
    out
}

type Values = Vec<(&'static str, String)>;

/// What an event tells one alert of: its kind and the values of its own.
struct Told {
    kind: AlertKind,
    crm: Values,
    nonstop: Values,
}

/// `%H:%M:%S.%06N` (Pacemaker's default `timestamp-format`) at `t`, in the cluster's local time
/// (`utc_offset_minutes`).
fn clock_of_day(t: Time, offset_minutes: i32) -> String {
    let day_ms: i64 = 86_400_000;
    let local = (t.0 as i64 + i64::from(offset_minutes) * 60_000).rem_euclid(day_ms);
    let (h, m, s, ms) = (
        local / 3_600_000,
        local / 60_000 % 60,
        local / 1000 % 60,
        local % 1000,
    );
    format!("{h:02}:{m:02}:{s:02}.{:06}", ms * 1000)
}

/// Whether an event may become an alert: a cheap test, so that the alerter reads the database
/// only for commands that may tell something (kept beside [`told`], whose last arm it repeats).
pub fn may_tell(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::ConfigChanged { .. }
            | EventKind::TargetChanged { .. }
            | EventKind::FenceRequested { .. }
            | EventKind::FenceCancelled { .. }
    )
}

/// What one event tells: nothing for events no alert is about (configuration, targets, pending states, fence requests).
fn told(db: &ClusterDb, e: &Event, sender: &Sender, revision: u64) -> Vec<Told> {
    use EventKind as E;
    let summary = || e.summary().unwrap_or_default();
    let group = |g: &str, task: &str, from: Option<&str>, to: Option<&str>, why: Option<String>| {
        let mut v = vec![
            ("group", g.to_string()),
            ("task", task.to_string()),
            ("from", from.unwrap_or_default().to_string()),
            ("to", to.unwrap_or_default().to_string()),
        ];
        v.extend(why.map(|w| ("reason", w)));
        vec![Told {
            kind: AlertKind::Group,
            crm: vec![("desc", summary())],
            nonstop: v,
        }]
    };
    match &e.kind {
        E::NodeState { node, from, to } => membership(*from, *to)
            .map(|desc| Told {
                kind: AlertKind::Node,
                crm: vec![
                    ("node", node.clone()),
                    ("nodeid", node.clone()),
                    ("desc", desc.to_string()),
                ],
                nonstop: vec![],
            })
            .into_iter()
            .collect(),
        E::ResourceState {
            resource,
            group,
            node,
            from,
            to,
            restart,
            message,
            ..
        } => {
            let interval = db
                .resources
                .get(resource)
                .map_or(Millis(0), |r| r.timings.looks_alive);
            operations(*from, *to, restart.is_some(), message.as_deref())
                .into_iter()
                .map(|op| {
                    let interval = if op.task == "monitor" { interval.0 } else { 0 };
                    let crm = vec![
                        ("node", node.clone()),
                        ("rsc", resource.clone()),
                        ("task", op.task.to_string()),
                        ("interval", interval.to_string()),
                        ("target_rc", "0".to_string()),
                        ("status", "0".to_string()),
                        ("rc", op.rc.to_string()),
                        ("desc", op.desc),
                    ];
                    let nonstop = vec![("group", group.clone())];
                    Told {
                        kind: AlertKind::Resource,
                        crm,
                        nonstop,
                    }
                })
                .collect()
        }
        E::Fenced {
            node, by, detail, ..
        } => vec![fencing(db, node, by, None, detail, sender, revision)],
        E::FenceFailed {
            node,
            method,
            detail,
            ..
        } => vec![fencing(
            db,
            node,
            method,
            Some(detail),
            "",
            sender,
            revision,
        )],
        E::GroupPlaced {
            group: g,
            from,
            to,
            reason,
            ..
        } => {
            let task = match (from, to) {
                (None, Some(_)) => "place",
                (Some(a), Some(b)) if a != b => "move",
                (Some(_), Some(_)) => "replace",
                (_, None) => "unplace",
            };
            group(
                g,
                task,
                from.as_deref(),
                to.as_deref(),
                Some(reason.to_string()),
            )
        }
        E::GroupMoving {
            group: g,
            from,
            to,
            reason,
        } => group(
            g,
            "moving",
            Some(from),
            to.as_deref(),
            Some(reason.to_string()),
        ),
        E::GroupStopped { group: g, node } => group(g, "stopped", Some(node), None, None),
        E::GroupHeld { group: g, reason } => group(g, "hold", None, None, Some(reason.clone())),
        E::GroupCleared { group: g } => group(g, "clear", None, None, None),
        E::Drill { id, step, text } => {
            let v = vec![
                ("drill", id.clone()),
                ("step", step.to_string()),
                ("text", text.clone()),
            ];
            vec![Told {
                kind: AlertKind::Drill,
                crm: vec![("desc", summary())],
                nonstop: v,
            }]
        }
        E::ConfigChanged { .. }
        | E::TargetChanged { .. }
        | E::FenceRequested { .. }
        | E::FenceCancelled { .. } => vec![],
    }
}

/// A node's membership as Pacemaker words it: `member` when it joins (Up, or Paused, from
/// Joining or Down), `lost` when it is declared Down; pausing and resuming a member change
/// nothing Pacemaker would tell.
fn membership(from: NodeState, to: NodeState) -> Option<&'static str> {
    let member = |s: NodeState| matches!(s, NodeState::Up | NodeState::Paused);
    if to == NodeState::Down && from != NodeState::Down {
        Some("lost")
    } else if member(to) && !member(from) {
        Some("member")
    } else {
        None
    }
}

/// A resource operation as Pacemaker reports it.
#[derive(Debug, PartialEq, Eq)]
struct Operation {
    task: &'static str,
    rc: i32,
    desc: String,
}

/// OCF's "generic error" (`OCF_ERR_GENERIC`): every failure nonstop reports, with its reason in
/// the description (nonstop's handlers do not all speak OCF exit codes).
const RC_ERROR: i32 = 1;

/// The operations a resource's change of state ended, in order: none for pending states.
fn operations(
    from: ResourceState,
    to: ResourceState,
    restarted: bool,
    message: Option<&str>,
) -> Vec<Operation> {
    use ResourceState as S;
    let ok = |task| Operation {
        task,
        rc: 0,
        desc: "ok".into(),
    };
    let failed = |task| Operation {
        task,
        rc: RC_ERROR,
        desc: match message {
            Some(m) if !m.is_empty() => format!("error ({m})"),
            _ => "error".into(),
        },
    };
    match (from, to) {
        // One copy of several failed and was replaced in place.
        (S::Online, S::Online) if restarted => vec![failed("monitor"), ok("start")],
        (S::Online, S::Online) => vec![ok("reload")],
        (_, S::Online) => vec![ok("start")],
        (S::Online, S::Failing | S::Failed) => vec![failed("monitor")],
        (S::OnlinePending | S::Offline | S::Failed, S::Failing | S::Failed) => {
            vec![failed("start")]
        }
        (S::OfflinePending, S::Failing | S::Failed) => vec![failed("stop")],
        // Terminated after a failure: the resource is stopped.
        (S::Failing, S::Failed) => vec![ok("stop")],
        // A terminate that did not finish.
        (S::Failing, S::Failing) => vec![failed("stop")],
        (S::Online | S::OfflinePending | S::OnlinePending | S::Failing, S::Offline) => {
            vec![ok("stop")]
        }
        (S::Offline | S::Failed, S::Offline) | (_, S::OnlinePending | S::OfflinePending) => {
            vec![]
        }
    }
}

/// A fence attempt's end as Pacemaker's fencing alerts tell it: the action, the legacy return
/// code (0; -62 for a timeout, ETIME; -201 for any other failure, pcmk_err_generic) and the
/// description `Operation off of N by M for nonstop@L: OK|Error|Timed out (why) (ref=REV)`.
fn fencing(
    db: &ClusterDb,
    node: &str,
    by: &str,
    failure: Option<&str>,
    detail: &str,
    sender: &Sender,
    revision: u64,
) -> Told {
    let action = db
        .nodes
        .get(node)
        .and_then(|n| n.spec.fence.as_ref())
        .map_or(FenceAction::Off, |m| m.action);
    let (rc, status, why) = match failure {
        None => (0, "OK", detail),
        Some(d) if d.to_ascii_lowercase().contains("timed out") => (-62, "Timed out", d),
        Some(d) => (-201, "Error", d),
    };
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    };
    let desc = format!(
        "Operation {} of {node} by {by} for nonstop@{}: {status}{why} (ref={revision})",
        action.as_str(),
        sender.node
    );
    let crm = vec![
        ("node", node.to_string()),
        ("task", action.as_str().to_string()),
        ("rc", rc.to_string()),
        ("desc", desc),
    ];
    Told {
        kind: AlertKind::Fencing,
        crm,
        nonstop: vec![("by", by.to_string())],
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::db::model::{FenceMethod, NodeSpec, PlaceReason};
    use crate::db::{Command, Op};

    /// 2026-11-21 11:55:29.469 UTC.
    const AT: Time = Time(1_795_262_129_469);

    fn sender() -> Sender {
        Sender {
            version: "0.1.0".into(),
            node: "osdb-back".into(),
        }
    }

    fn alert(name: &str, kinds: Option<Vec<AlertKind>>, recipients: &[&str]) -> AlertSpec {
        AlertSpec {
            name: name.into(),
            path: format!("/usr/local/bin/{name}"),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            kinds,
            timeout: None,
        }
    }

    /// Two nodes, a resource `chat` (looks_alive every 1 s) in group G, `osdb-serv` fenced by
    /// fence_dummy with `reboot`, one alert `log` with the default kinds and one recipient.
    fn db() -> ClusterDb {
        let mut db = ClusterDb::new();
        let fence = FenceMethod {
            agent: Some("fence_dummy".into()),
            action: FenceAction::Reboot,
            ..FenceMethod::default()
        };
        let mut settings = db.settings.clone();
        settings.alerts = vec![alert("log", None, &["/var/log/alerts"])];
        let ops = vec![
            Op::SetSettings(settings),
            Op::PutNode(NodeSpec {
                name: "osdb-serv".into(),
                fence: Some(fence),
                ..NodeSpec::default()
            }),
            Op::PutNode(NodeSpec {
                name: "osdb-back".into(),
                ..NodeSpec::default()
            }),
            Op::PutGroup(crate::db::model::GroupSpec {
                name: "G".into(),
                owners: vec!["osdb-serv".into(), "osdb-back".into()],
                ..Default::default()
            }),
            Op::PutResource(crate::db::model::ResourceSpec {
                name: "chat".into(),
                group: "G".into(),
                type_name: "process".into(),
                properties: [(
                    "command".to_string(),
                    nonstop_contract::Value::Str("/bin/sleep".into()),
                )]
                .into_iter()
                .collect(),
                ..Default::default()
            }),
        ];
        db.apply(Command::policy(Time(0), Op::Batch(ops))).unwrap();
        db
    }

    fn applied(kinds: Vec<EventKind>) -> AppliedEvents {
        AppliedEvents {
            revision: 42,
            events: kinds
                .into_iter()
                .map(|kind| Event { at: AT, kind })
                .collect(),
        }
    }

    /// The environment of each call the events make, as maps.
    fn envs(db: &ClusterDb, kinds: Vec<EventKind>) -> Vec<BTreeMap<String, String>> {
        alert_calls(db, &applied(kinds), &sender())
            .into_iter()
            .map(|c| c.env.into_iter().collect())
            .collect()
    }

    fn resource(from: ResourceState, to: ResourceState, message: Option<&str>) -> EventKind {
        EventKind::ResourceState {
            resource: "chat".into(),
            group: "G".into(),
            node: "osdb-serv".into(),
            from,
            to,
            restart: None,
            window: Millis(0),
            gave_up: false,
            message: message.map(str::to_string),
            reported_at: None,
        }
    }

    fn node(from: NodeState, to: NodeState) -> EventKind {
        EventKind::NodeState {
            node: "osdb-serv".into(),
            from,
            to,
        }
    }

    /// Asserts that `env` holds every `(key, value)` of `want`.
    fn holds(env: &BTreeMap<String, String>, want: &[(&str, &str)]) {
        for (k, v) in want {
            assert_eq!(env.get(*k).map(String::as_str), Some(*v), "{k} in {env:#?}");
        }
    }

    #[test]
    fn every_alert_gets_the_common_values_under_both_prefixes() {
        let env = &envs(&db(), vec![node(NodeState::Joining, NodeState::Up)])[0];
        holds(
            env,
            &[
                ("CRM_alert_kind", "node"),
                ("CRM_alert_version", "0.1.0"),
                ("CRM_alert_recipient", "/var/log/alerts"),
                ("CRM_alert_node_sequence", "42000000"),
                ("CRM_alert_timestamp", "11:55:29.469000"),
                ("CRM_alert_timestamp_epoch", "1795262129"),
                ("CRM_alert_timestamp_usec", "469000"),
                ("CRM_notify_kind", "node"),
                ("CRM_notify_recipient", "/var/log/alerts"),
                ("CRM_notify_timestamp", "11:55:29.469000"),
                ("NONSTOP_alert_kind", "node"),
                ("NONSTOP_alert_revision", "42"),
                ("NONSTOP_alert_summary", "* Node osdb-serv Up"),
            ],
        );
    }

    #[test]
    fn the_timestamp_is_in_the_clusters_local_time() {
        assert_eq!(clock_of_day(AT, 0), "11:55:29.469000");
        assert_eq!(clock_of_day(AT, 9 * 60), "20:55:29.469000");
        assert_eq!(clock_of_day(AT, -12 * 60), "23:55:29.469000");
        assert_eq!(clock_of_day(Time(5), 0), "00:00:00.005000");
    }

    /// Node changes, as data: (from, to, CRM_alert_desc or no alert).
    #[test]
    fn a_node_is_a_member_when_it_joins_and_lost_when_it_is_down() {
        use NodeState as N;
        let cases = [
            (N::Joining, N::Up, Some("member")),
            (N::Down, N::Up, Some("member")),
            (N::Down, N::Paused, Some("member")),
            (N::Up, N::Down, Some("lost")),
            (N::Paused, N::Down, Some("lost")),
            (N::Up, N::Paused, None),
            (N::Paused, N::Up, None),
        ];
        let db = db();
        for (from, to, desc) in cases {
            let envs = envs(&db, vec![node(from, to)]);
            match desc {
                None => assert!(envs.is_empty(), "{from} -> {to}: {envs:#?}"),
                Some(d) => holds(
                    &envs[0],
                    &[
                        ("CRM_alert_kind", "node"),
                        ("CRM_alert_node", "osdb-serv"),
                        ("CRM_alert_nodeid", "osdb-serv"),
                        ("CRM_alert_desc", d),
                    ],
                ),
            }
        }
    }

    /// Resource changes, as data: (from, to, message, [(task, rc, desc)]).
    #[test]
    fn resource_changes_read_as_pacemakers_operations() {
        use ResourceState as S;
        type Case = (
            S,
            S,
            Option<&'static str>,
            Vec<(&'static str, &'static str, &'static str)>,
        );
        let why = "looks_alive: process exited with status 1";
        let cases: Vec<Case> = vec![
            (
                S::OnlinePending,
                S::Online,
                None,
                vec![("start", "0", "ok")],
            ),
            (S::Failed, S::Online, None, vec![("start", "0", "ok")]),
            (S::Online, S::OfflinePending, None, vec![]),
            (S::Offline, S::OnlinePending, None, vec![]),
            (
                S::OfflinePending,
                S::Offline,
                None,
                vec![("stop", "0", "ok")],
            ),
            (
                S::Online,
                S::Offline,
                Some("lease expired: terminated (self-fenced)"),
                vec![("stop", "0", "ok")],
            ),
            (
                S::Online,
                S::Failing,
                Some(why),
                vec![(
                    "monitor",
                    "1",
                    "error (looks_alive: process exited with status 1)",
                )],
            ),
            (S::Failing, S::Failed, Some(why), vec![("stop", "0", "ok")]),
            (
                S::OnlinePending,
                S::Failing,
                Some("online failed: exit code 2"),
                vec![("start", "1", "error (online failed: exit code 2)")],
            ),
            (
                S::Offline,
                S::Failed,
                Some("no handler for type \"x\" on this node"),
                vec![(
                    "start",
                    "1",
                    "error (no handler for type \"x\" on this node)",
                )],
            ),
            (
                S::OfflinePending,
                S::Failed,
                Some("offline failed: busy; terminated"),
                vec![("stop", "1", "error (offline failed: busy; terminated)")],
            ),
            (
                S::Failing,
                S::Failing,
                Some("terminate did not finish"),
                vec![("stop", "1", "error (terminate did not finish)")],
            ),
            (
                S::Online,
                S::Online,
                Some("changed in place: MaxUser"),
                vec![("reload", "0", "ok")],
            ),
            (S::Failed, S::Offline, None, vec![]),
        ];
        let db = db();
        for (from, to, message, want) in cases {
            let envs = envs(&db, vec![resource(from, to, message)]);
            let got: Vec<(String, String, String)> = envs
                .iter()
                .map(|e| {
                    (
                        e["CRM_alert_task"].clone(),
                        e["CRM_alert_rc"].clone(),
                        e["CRM_alert_desc"].clone(),
                    )
                })
                .collect();
            let want: Vec<(String, String, String)> = want
                .iter()
                .map(|(t, r, d)| (t.to_string(), r.to_string(), d.to_string()))
                .collect();
            assert_eq!(got, want, "{from} -> {to}");
            for e in &envs {
                holds(
                    e,
                    &[
                        ("CRM_alert_kind", "resource"),
                        ("CRM_alert_node", "osdb-serv"),
                        ("CRM_alert_rsc", "chat"),
                        ("CRM_alert_target_rc", "0"),
                        ("CRM_alert_status", "0"),
                        ("NONSTOP_alert_group", "G"),
                    ],
                );
                let interval = if e["CRM_alert_task"] == "monitor" {
                    "1000"
                } else {
                    "0"
                };
                holds(e, &[("CRM_alert_interval", interval)]);
            }
        }
    }

    #[test]
    fn a_replaced_copy_is_a_failed_monitor_then_a_start_with_their_own_sequence_numbers() {
        let mut e = resource(
            ResourceState::Online,
            ResourceState::Online,
            Some("copy 2 exited"),
        );
        if let EventKind::ResourceState { restart, .. } = &mut e {
            *restart = Some(crate::db::RestartCount {
                attempt: 1,
                limit: Some(3),
            });
        }
        let envs = envs(&db(), vec![e]);
        let got: Vec<(&str, &str, &str)> = envs
            .iter()
            .map(|e| {
                (
                    e["CRM_alert_task"].as_str(),
                    e["CRM_alert_desc"].as_str(),
                    e["CRM_alert_node_sequence"].as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("monitor", "error (copy 2 exited)", "42000000"),
                ("start", "ok", "42000001")
            ]
        );
    }

    /// Fence results, as data: (event, CRM_alert_rc, CRM_alert_desc).
    #[test]
    fn fence_results_read_as_pacemakers_fencing_alerts() {
        let fenced = |by: &str, detail: &str| EventKind::Fenced {
            node: "osdb-serv".into(),
            by: by.into(),
            took: Millis(900),
            detail: detail.into(),
        };
        let failed = |detail: &str| EventKind::FenceFailed {
            node: "osdb-serv".into(),
            method: "fence agent fence_dummy".into(),
            attempt: 1,
            took: Millis(900),
            detail: detail.into(),
        };
        let cases = [
            (
                fenced("fence agent fence_dummy", "Success: Rebooted"),
                "0",
                "Operation reboot of osdb-serv by fence agent fence_dummy for nonstop@osdb-back: \
                 OK (Success: Rebooted) (ref=42)",
            ),
            (
                fenced("its watchdog", ""),
                "0",
                "Operation reboot of osdb-serv by its watchdog for nonstop@osdb-back: OK (ref=42)",
            ),
            (
                failed("exit code 1: Failed: no route to host"),
                "-201",
                "Operation reboot of osdb-serv by fence agent fence_dummy for nonstop@osdb-back: \
                 Error (exit code 1: Failed: no route to host) (ref=42)",
            ),
            (
                failed("timed out after 10s (killed)"),
                "-62",
                "Operation reboot of osdb-serv by fence agent fence_dummy for nonstop@osdb-back: \
                 Timed out (timed out after 10s (killed)) (ref=42)",
            ),
        ];
        let db = db();
        for (event, rc, desc) in cases {
            let envs = envs(&db, vec![event]);
            holds(
                &envs[0],
                &[
                    ("CRM_alert_kind", "fencing"),
                    ("CRM_alert_node", "osdb-serv"),
                    ("CRM_alert_task", "reboot"),
                    ("CRM_alert_rc", rc),
                    ("CRM_alert_desc", desc),
                ],
            );
        }
        // A node without a method is fenced `off` (a watchdog's word, an operator's).
        let mut e = fenced("operator (user alice (admin))", "confirmed by an operator");
        if let EventKind::Fenced { node, .. } = &mut e {
            *node = "osdb-back".into();
        }
        holds(&envs(&db, vec![e])[0], &[("CRM_alert_task", "off")]);
    }

    #[test]
    fn requests_pending_states_and_configuration_are_not_alerts() {
        let db = db();
        let quiet = vec![
            EventKind::ConfigChanged {
                change: "+ node x".into(),
            },
            EventKind::FenceRequested {
                node: "osdb-serv".into(),
                method: "fence agent fence_dummy".into(),
            },
            EventKind::FenceCancelled {
                node: "osdb-serv".into(),
            },
            EventKind::TargetChanged {
                subject: "group G".into(),
                target: crate::db::model::Target::Offline,
            },
            resource(ResourceState::Offline, ResourceState::OnlinePending, None),
        ];
        // The alerter does not even read the database for the first four.
        let read_for: Vec<bool> = quiet.iter().map(may_tell).collect();
        assert_eq!(read_for, [false, false, false, false, true]);
        assert_eq!(envs(&db, quiet), Vec::<BTreeMap<String, String>>::new());
    }

    fn moved() -> EventKind {
        EventKind::GroupPlaced {
            group: "G".into(),
            from: Some("osdb-serv".into()),
            to: Some("osdb-back".into()),
            epoch: 7,
            reason: PlaceReason::NodeDown,
        }
    }

    fn drill() -> EventKind {
        EventKind::Drill {
            id: "d1".into(),
            step: crate::db::DrillStep::Begin,
            text: "node-crash of osdb-serv".into(),
        }
    }

    #[test]
    fn group_and_drill_alerts_go_only_to_alerts_that_ask_for_them() {
        let mut db = db();
        let events = || vec![moved(), drill(), node(NodeState::Up, NodeState::Down)];
        // The default kinds: Pacemaker's, so only the node alert.
        let kinds: Vec<String> = envs(&db, events())
            .iter()
            .map(|e| e["CRM_alert_kind"].clone())
            .collect();
        assert_eq!(kinds, ["node"]);
        db.settings.alerts = vec![
            alert(
                "groups",
                Some(vec![AlertKind::Group, AlertKind::Drill]),
                &[],
            ),
            alert("nodes", Some(vec![AlertKind::Node]), &["a", "b"]),
        ];
        let calls = alert_calls(&db, &applied(events()), &sender());
        let got: Vec<(&str, &str, AlertKind, u64)> = calls
            .iter()
            .map(|c| (c.alert.as_str(), c.recipient.as_str(), c.kind, c.sequence))
            .collect();
        assert_eq!(
            got,
            [
                ("groups", "", AlertKind::Group, 42_000_000),
                ("groups", "", AlertKind::Drill, 42_000_001),
                ("nodes", "a", AlertKind::Node, 42_000_002),
                ("nodes", "b", AlertKind::Node, 42_000_002),
            ]
        );
        let env: BTreeMap<String, String> = calls[0].env.iter().cloned().collect();
        holds(
            &env,
            &[
                ("CRM_alert_kind", "group"),
                ("CRM_alert_recipient", ""),
                (
                    "CRM_alert_desc",
                    "* Move G ( osdb-serv -> osdb-back ) node down",
                ),
                ("NONSTOP_alert_kind", "group"),
                ("NONSTOP_alert_group", "G"),
                ("NONSTOP_alert_task", "move"),
                ("NONSTOP_alert_from", "osdb-serv"),
                ("NONSTOP_alert_to", "osdb-back"),
                ("NONSTOP_alert_reason", "node down"),
                (
                    "NONSTOP_alert_summary",
                    "* Move G ( osdb-serv -> osdb-back ) node down",
                ),
            ],
        );
        let env: BTreeMap<String, String> = calls[1].env.iter().cloned().collect();
        holds(
            &env,
            &[
                ("CRM_alert_kind", "drill"),
                ("NONSTOP_alert_drill", "d1"),
                ("NONSTOP_alert_step", "started"),
                ("NONSTOP_alert_text", "node-crash of osdb-serv"),
            ],
        );
        assert_eq!(calls[2].timeout, Millis(30_000));
        assert_eq!(calls[2].path, "/usr/local/bin/nodes");
    }

    #[test]
    fn group_events_name_their_task() {
        let mut db = db();
        db.settings.alerts = vec![alert("groups", Some(vec![AlertKind::Group]), &[])];
        let placed = |from: Option<&str>, to: Option<&str>| EventKind::GroupPlaced {
            group: "G".into(),
            from: from.map(str::to_string),
            to: to.map(str::to_string),
            epoch: 1,
            reason: PlaceReason::Start,
        };
        let events = vec![
            placed(None, Some("osdb-serv")),
            moved(),
            placed(Some("osdb-serv"), Some("osdb-serv")),
            placed(Some("osdb-serv"), None),
            EventKind::GroupMoving {
                group: "G".into(),
                from: "osdb-serv".into(),
                to: None,
                reason: PlaceReason::Operator,
            },
            EventKind::GroupStopped {
                group: "G".into(),
                node: "osdb-serv".into(),
            },
            EventKind::GroupHeld {
                group: "G".into(),
                reason: "fail-over limit".into(),
            },
            EventKind::GroupCleared { group: "G".into() },
        ];
        let tasks: Vec<String> = envs(&db, events)
            .iter()
            .map(|e| e["NONSTOP_alert_task"].clone())
            .collect();
        assert_eq!(
            tasks,
            [
                "place", "move", "replace", "unplace", "moving", "stopped", "hold", "clear"
            ]
        );
    }

    #[test]
    fn no_alerts_configured_means_no_calls() {
        let mut db = db();
        db.settings.alerts.clear();
        assert!(envs(&db, vec![node(NodeState::Up, NodeState::Down)]).is_empty());
    }
}
