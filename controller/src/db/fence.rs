//! Fencing in the database: how a node is fenced (`FenceMethod`, from `cluster.yaml`), whether
//! the cluster waits for it (`Fencing`), and where each lost node's fencing stands
//! (`FenceState`). The leader's fencer (`leader/fencer.rs`) runs the methods; what it reports,
//! and an operator's confirmation, are applied here. Pure: time comes in with the command.
//!
//! ```text
//!  NodeDown ─(node has a method, or fencing: required)─▶ Pending{since}
//!  Pending ──FenceResult ok / ConfirmFenced──▶ Fenced{at, by}      (groups may move: required)
//!  Pending ──FenceResult failed──▶ Pending{attempts + 1, last}     (retried with backoff)
//!  NodeUp ──▶ None (a node back Up holds its own groups again; nothing to fence)
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::ClusterDb;
use super::error::{Result, invalid, refused, subject};
use super::event::EventKind;
use super::model::{Liveness, NodeSpec};
use crate::time::Time;
use nonstop_contract::Millis;

/// How long a fence method may run when its `timeout` is not given.
pub const DEFAULT_FENCE_TIMEOUT: Millis = Millis(60_000);
/// The shortest and longest `timeout` a method may have.
pub const FENCE_TIMEOUT_RANGE: (Millis, Millis) = (Millis(1_000), Millis(600_000));

/// Whether a lost node's groups wait for its fencing (`fencing:` in `cluster.yaml`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fencing {
    /// A lost node's groups move once its lease has provably run out (docs/design.md); a node's
    /// fence method, if it has one, is run too, and nothing waits for it.
    #[default]
    Lease,
    /// A lost node's groups move only once its fence method reported success or an operator
    /// confirmed it (`nonstop node confirm-fenced`), and its lease has run out as well.
    Required,
}

impl fmt::Display for Fencing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fencing::Lease => "lease",
            Fencing::Required => "required",
        })
    }
}

/// What the fence method does to the node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FenceAction {
    /// Power it off (the default: a node that is off runs nothing, for certain).
    #[default]
    Off,
    /// Power it off and on again.
    Reboot,
}

impl FenceAction {
    /// As fence agents spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            FenceAction::Off => "off",
            FenceAction::Reboot => "reboot",
        }
    }
}

/// How a node is fenced: a fence agent of the fence-agents package, run through the agents'
/// standard interface (`action=...` and the parameters as `key=value` lines on standard input),
/// or any program (the node and the action in its environment; exit 0 means fenced).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FenceMethod {
    /// A fence agent's name (`fence_ipmilan`), found on `PATH` or in /usr/sbin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The agent's own parameters (its `-o metadata` lists them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// A program (absolute path) that fences the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The program's arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// What to do to the node: `off` (default) or `reboot`.
    #[serde(default, skip_serializing_if = "is_off")]
    pub action: FenceAction,
    /// How long one attempt may take (default 60 s); the attempt is killed then and counts as
    /// failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Millis>,
    /// A command line given as one string, as `fence:` took before it ran anything. Never run:
    /// refused when applied (kept only so that an old database still reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy: Option<String>,
}

fn is_off(a: &FenceAction) -> bool {
    *a == FenceAction::Off
}

impl FenceMethod {
    /// What runs, in one phrase (`fence agent fence_ipmilan`, `command /usr/local/bin/x`).
    pub fn describe(&self) -> String {
        match (&self.agent, &self.command) {
            (Some(a), _) => format!("fence agent {a}"),
            (None, Some(c)) => format!("command {c}"),
            (None, None) => "nothing".into(),
        }
    }

    /// How long one attempt may take.
    pub fn timeout(&self) -> Millis {
        self.timeout.unwrap_or(DEFAULT_FENCE_TIMEOUT)
    }

    /// Whether there is something to run.
    pub fn runs(&self) -> bool {
        self.agent.is_some() || self.command.is_some()
    }
}

/// The map form, with every field checked by serde (unknown fields are errors).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodFields {
    #[serde(default)]
    agent: Option<String>,
    #[serde(default, deserialize_with = "scalars")]
    params: BTreeMap<String, String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    action: FenceAction,
    #[serde(default)]
    timeout: Option<Millis>,
    #[serde(default)]
    legacy: Option<String>,
}

/// Parameter values as text, whether YAML wrote them as strings, numbers or booleans
/// (`power_timeout: 10`, `lanplus: true`).
fn scalars<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Bool(bool),
        Int(i64),
        Float(f64),
    }
    let raw = BTreeMap::<String, Scalar>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::Text(s) => s,
                Scalar::Bool(b) => if b { "1" } else { "0" }.to_string(),
                Scalar::Int(i) => i.to_string(),
                Scalar::Float(f) => f.to_string(),
            };
            (k, v)
        })
        .collect())
}

/// Written by hand: a map is a method; a string is the old command-line form, read so that it
/// can be refused by name when applied (see [`FenceMethod::legacy`]).
impl<'de> Deserialize<'de> for FenceMethod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = FenceMethod;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("{agent: fence_NAME, params: {...}} or {command: PATH, args: [...]}")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<FenceMethod, E> {
                Ok(FenceMethod {
                    legacy: Some(v.to_string()),
                    ..Default::default()
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<FenceMethod, A::Error> {
                let m =
                    MethodFields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(FenceMethod {
                    agent: m.agent,
                    params: m.params,
                    command: m.command,
                    args: m.args,
                    action: m.action,
                    timeout: m.timeout,
                    legacy: m.legacy,
                })
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Where a node's fencing stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FenceState {
    /// Nothing to fence.
    #[default]
    None,
    /// Declared Down at `since`; to be fenced. `attempts` failed so far, the last at
    /// `last_at` with `last_error`.
    Pending {
        since: Time,
        attempts: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_at: Option<Time>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_error: Option<String>,
    },
    /// Fenced at `at`, by a method or an operator (`by`), after being declared Down at `since`.
    Fenced { since: Time, at: Time, by: String },
}

impl FenceState {
    /// Whether it is [`FenceState::None`] (kept out of the database's JSON then).
    pub fn is_none(&self) -> bool {
        *self == FenceState::None
    }

    /// One phrase for `status` and `node show`.
    pub fn describe(&self) -> Option<String> {
        match self {
            FenceState::None => None,
            FenceState::Pending { attempts: 0, .. } => Some("fencing pending".into()),
            FenceState::Pending {
                attempts,
                last_error,
                ..
            } => Some(format!(
                "fencing failed {attempts} time(s), retrying: {}",
                last_error.as_deref().unwrap_or("no reason given")
            )),
            FenceState::Fenced { by, .. } => Some(format!("fenced by {by}")),
        }
    }
}

/// One attempt's outcome, as the fencer reports it (`Op::FenceResult`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceOutcome {
    /// The node.
    pub node: String,
    /// The Down it answers (`FenceState::Pending::since`): a result for an earlier loss of the
    /// node is refused.
    pub since: Time,
    /// The method, described.
    pub method: String,
    /// Whether the node is fenced.
    pub ok: bool,
    /// How long the attempt took.
    pub took: Millis,
    /// The method's last line of output, or why it could not run.
    pub detail: String,
}

/// The characters a parameter name may hold.
fn param_name_ok(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Checks a node's fence method, naming the field that is wrong.
pub(crate) fn check_method(spec: &NodeSpec) -> Result<()> {
    let Some(m) = &spec.fence else { return Ok(()) };
    let subj = subject("node", &spec.name);
    let bad = |field: &str, why: String| Err(invalid(subj.clone(), field, why));
    if let Some(text) = &m.legacy {
        return bad(
            "fence",
            format!(
                "{text:?} is a command line as text, which nonstop never ran: give \
                 {{agent: fence_NAME, params: {{...}}}} or {{command: /path/to/program, args: [...]}}"
            ),
        );
    }
    match (&m.agent, &m.command) {
        (None, None) => {
            return bad(
                "fence",
                "give agent (a fence agent) or command (a program)".into(),
            );
        }
        (Some(_), Some(_)) => return bad("fence", "give agent or command, not both".into()),
        _ => {}
    }
    if let Some(a) = &m.agent {
        let name_ok = a.starts_with("fence_")
            && a.len() > "fence_".len()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return bad(
                "fence.agent",
                format!(
                    "{a:?} is not a fence agent's name (fence_ and letters, digits, _ or -; no path)"
                ),
            );
        }
        if !m.args.is_empty() {
            return bad(
                "fence.args",
                "belongs to command; an agent takes params".into(),
            );
        }
    }
    if let Some(c) = &m.command {
        if c.trim().is_empty() {
            return bad(
                "fence.command",
                "is empty: give the program's absolute path".into(),
            );
        }
        if !c.starts_with('/') {
            return bad("fence.command", format!("{c:?} is not an absolute path"));
        }
        if !m.params.is_empty() {
            return bad(
                "fence.params",
                "belong to agent; a command takes args".into(),
            );
        }
    }
    for (k, v) in &m.params {
        if !param_name_ok(k) {
            return bad(
                &format!("fence.params.{k}"),
                "a parameter name is lowercase letters, digits, _ or -".into(),
            );
        }
        if k == "action" {
            return bad(
                "fence.params.action",
                "is nonstop's to give: use fence.action (off or reboot)".into(),
            );
        }
        if v.contains(['\n', '\r', '\0']) {
            return bad(&format!("fence.params.{k}"), "holds a line break".into());
        }
    }
    let (lo, hi) = FENCE_TIMEOUT_RANGE;
    if let Some(t) = m.timeout
        && (t < lo || t > hi)
    {
        return bad("fence.timeout", format!("{t} is outside {lo}..{hi}"));
    }
    Ok(())
}

impl ClusterDb {
    /// A node was declared Down at `at`: it is to be fenced when it has a method, or when the
    /// cluster requires fencing (then an operator's confirmation is the only way on).
    pub(super) fn fence_on_down(&mut self, at: Time, name: &str, out: &mut Vec<EventKind>) {
        let required = self.settings.fencing == Fencing::Required;
        let Some(n) = self.nodes.get_mut(name) else {
            return;
        };
        let method = n.spec.fence.as_ref().filter(|m| m.runs());
        if method.is_none() && !required || n.spec.witness {
            return;
        }
        n.fence = FenceState::Pending {
            since: at,
            attempts: 0,
            last_at: None,
            last_error: None,
        };
        out.push(EventKind::FenceRequested {
            node: name.to_string(),
            method: method.map_or_else(|| "an operator's confirmation".into(), |m| m.describe()),
        });
    }

    /// A node came Up: whatever fencing it waited for is moot (its groups never left it, or
    /// moved on the lease rule).
    pub(super) fn fence_on_up(&mut self, name: &str, out: &mut Vec<EventKind>) {
        let Some(n) = self.nodes.get_mut(name) else {
            return;
        };
        if matches!(n.fence, FenceState::Pending { .. }) {
            out.push(EventKind::FenceCancelled {
                node: name.to_string(),
            });
        }
        n.fence = FenceState::None;
    }

    /// The fencer's report of one attempt.
    pub(super) fn fence_result(
        &mut self,
        at: Time,
        r: FenceOutcome,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let subj = subject("node", &r.node);
        let n = self.node_mut(&r.node)?;
        let FenceState::Pending {
            since, attempts, ..
        } = n.fence.clone()
        else {
            return Err(refused(subj, "it is not waiting to be fenced"));
        };
        if since != r.since {
            return Err(refused(
                subj,
                "the result is for an earlier loss of the node (it came back since)",
            ));
        }
        if r.ok {
            n.fence = FenceState::Fenced {
                since,
                at,
                by: r.method.clone(),
            };
            out.push(EventKind::Fenced {
                node: r.node,
                by: r.method,
                took: r.took,
                detail: r.detail,
            });
        } else {
            n.fence = FenceState::Pending {
                since,
                attempts: attempts + 1,
                last_at: Some(at),
                last_error: Some(r.detail.clone()),
            };
            out.push(EventKind::FenceFailed {
                node: r.node,
                method: r.method,
                attempt: attempts + 1,
                took: r.took,
                detail: r.detail,
            });
        }
        Ok(())
    }

    /// An operator asserts that a Down node runs nothing (it is powered off, or cut off for
    /// good): its groups may move without its fence method's word.
    pub(super) fn confirm_fenced(
        &mut self,
        at: Time,
        name: &str,
        by: &str,
        out: &mut Vec<EventKind>,
    ) -> Result<()> {
        let subj = subject("node", name);
        let n = self.node_mut(name)?;
        if n.liveness != Liveness::Down {
            return Err(refused(
                subj,
                "it is not Down: only a lost node can be confirmed fenced",
            ));
        }
        let since = match n.fence {
            FenceState::Pending { since, .. } => since,
            FenceState::Fenced { .. } => return Err(refused(subj, "it is fenced already")),
            FenceState::None => n.since,
        };
        let by = format!("operator ({by})");
        n.fence = FenceState::Fenced {
            since,
            at,
            by: by.clone(),
        };
        out.push(EventKind::Fenced {
            node: name.to_string(),
            by,
            took: at.since(since),
            detail: "confirmed by an operator".into(),
        });
        Ok(())
    }

    /// Whether a Down node's groups may move as far as fencing goes: always on the lease rule;
    /// with fencing required, once fenced for this very loss.
    pub fn fenced_enough(&self, name: &str) -> bool {
        if self.settings.fencing == Fencing::Lease {
            return true;
        }
        self.nodes.get(name).is_none_or(|n| {
            n.spec.witness
                || matches!(&n.fence, FenceState::Fenced { since, .. } if *since >= n.since)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{live, op, paper, place, rejected};
    use super::super::{Command, Op};
    use super::*;
    use crate::db::model::Settings;

    const DUMMY: &str = "fence_dummy";

    fn with_fencing(fencing: Fencing, method: Option<FenceMethod>) -> ClusterDb {
        let mut db = paper();
        let s = Settings {
            fencing,
            ..db.settings.clone()
        };
        op(&mut db, Op::SetSettings(s)).unwrap();
        let mut spec = db.nodes["osdb-serv"].spec.clone();
        spec.fence = method;
        op(&mut db, Op::PutNode(spec)).unwrap();
        for n in ["osdb-serv", "osdb-back"] {
            live(&mut db, Op::NodeUp { node: n.into() }).unwrap();
        }
        live(&mut db, place("SOCKET_GROUP", "osdb-serv")).unwrap();
        db
    }

    fn agent() -> FenceMethod {
        FenceMethod {
            agent: Some(DUMMY.into()),
            params: [("status_file".to_string(), "/tmp/x".to_string())].into(),
            ..Default::default()
        }
    }

    fn down(db: &mut ClusterDb, at: Time) {
        let op = Op::NodeDown {
            node: "osdb-serv".into(),
            reason: "test".into(),
        };
        db.apply(Command::policy(at, op)).unwrap();
    }

    fn result(since: Time, ok: bool) -> Op {
        Op::FenceResult(FenceOutcome {
            node: "osdb-serv".into(),
            since,
            method: "fence agent fence_dummy".into(),
            ok,
            took: Millis(120),
            detail: if ok {
                "Success: Powered OFF"
            } else {
                "timed out"
            }
            .into(),
        })
    }

    fn stopped(db: &ClusterDb, at: Time) -> bool {
        db.group_stopped(&db.groups["SOCKET_GROUP"], at)
    }

    #[test]
    fn with_fencing_required_a_lost_nodes_groups_wait_for_its_fence() {
        let mut db = with_fencing(Fencing::Required, Some(agent()));
        let t = Time(2_000_000);
        down(&mut db, t);
        assert!(matches!(
            db.nodes["osdb-serv"].fence,
            FenceState::Pending { attempts: 0, .. }
        ));
        let later = Time(t.0 + 60_000);
        assert!(!stopped(&db, later), "waits for the fence, however long");
        // A failure is recorded and retried; the group still waits.
        let events = db
            .apply(Command::policy(Time(t.0 + 100), result(t, false)))
            .unwrap();
        assert!(events[0].summary().unwrap().contains("failed (attempt 1)"));
        assert!(!stopped(&db, later));
        db.apply(Command::policy(Time(t.0 + 2000), result(t, true)))
            .unwrap();
        assert!(stopped(&db, later));
        assert!(matches!(
            db.nodes["osdb-serv"].fence,
            FenceState::Fenced { .. }
        ));
    }

    #[test]
    fn on_the_lease_rule_a_method_runs_but_nothing_waits_for_it() {
        let mut db = with_fencing(Fencing::Lease, Some(agent()));
        let t = Time(2_000_000);
        down(&mut db, t);
        assert!(matches!(
            db.nodes["osdb-serv"].fence,
            FenceState::Pending { .. }
        ));
        assert!(stopped(&db, Time(t.0 + 60_000)));
        // Without a method there is nothing to run.
        let mut bare = with_fencing(Fencing::Lease, None);
        down(&mut bare, t);
        assert_eq!(bare.nodes["osdb-serv"].fence, FenceState::None);
    }

    #[test]
    fn a_result_for_another_loss_or_no_loss_changes_nothing() {
        let mut db = with_fencing(Fencing::Required, Some(agent()));
        rejected(&mut db, result(Time(5), true), "not waiting to be fenced");
        let t = Time(2_000_000);
        down(&mut db, t);
        rejected(&mut db, result(Time(t.0 - 1), true), "earlier loss");
        // Back Up: the pending fence is cancelled, and a late success changes nothing.
        let events = live(
            &mut db,
            Op::NodeUp {
                node: "osdb-serv".into(),
            },
        )
        .unwrap();
        assert!(
            events
                .iter()
                .any(|e| e.summary().unwrap().contains("cancelled"))
        );
        rejected(&mut db, result(t, true), "not waiting to be fenced");
    }

    #[test]
    fn an_operator_may_confirm_only_a_down_node() {
        let mut db = with_fencing(Fencing::Required, Some(agent()));
        let confirm = || Op::ConfirmFenced {
            node: "osdb-serv".into(),
            by: "user alice (admin)".into(),
        };
        rejected(&mut db, confirm(), "it is not Down");
        let t = Time(2_000_000);
        down(&mut db, t);
        db.apply(Command::operator(Time(t.0 + 10), "alice", confirm()))
            .unwrap();
        assert!(stopped(&db, Time(t.0 + 60_000)));
        let FenceState::Fenced { by, .. } = &db.nodes["osdb-serv"].fence else {
            panic!("not fenced: {:?}", db.nodes["osdb-serv"].fence);
        };
        assert_eq!(by, "operator (user alice (admin))");
        rejected(&mut db, confirm(), "fenced already");
    }

    #[test]
    fn a_fence_from_an_earlier_loss_does_not_count_for_the_next() {
        let mut db = with_fencing(Fencing::Required, Some(agent()));
        let t = Time(2_000_000);
        down(&mut db, t);
        db.apply(Command::policy(Time(t.0 + 5), result(t, true)))
            .unwrap();
        // It comes back (the fence state is cleared), takes the group again, and is lost again.
        live(
            &mut db,
            Op::NodeUp {
                node: "osdb-serv".into(),
            },
        )
        .unwrap();
        assert_eq!(db.nodes["osdb-serv"].fence, FenceState::None);
        let t2 = Time(t.0 + 100_000);
        down(&mut db, t2);
        assert!(!stopped(&db, Time(t2.0 + 60_000)));
    }

    fn registered(incarnation: u64) -> Op {
        Op::Registered {
            node: "osdb-serv".into(),
            incarnation,
            daemon: String::new(),
        }
    }

    fn watchdog_word(incarnation: u64) -> Op {
        Op::NodeStopped {
            node: "osdb-serv".into(),
            incarnation,
            resources: vec!["disk".into(), "chat".into()],
        }
    }

    #[test]
    fn a_watchdogs_word_for_the_current_run_makes_the_node_down_and_fenced_at_once() {
        let mut db = with_fencing(Fencing::Required, Some(agent()));
        rejected(&mut db, registered(0), "must not be 0");
        live(&mut db, registered(7)).unwrap();
        assert_eq!(db.nodes["osdb-serv"].incarnation, 7);
        // A word about another run (an earlier daemon's watchdog, late) changes nothing; nor
        // does one without a number.
        rejected(&mut db, watchdog_word(6), "not its current daemon run");
        rejected(&mut db, watchdog_word(0), "not its current daemon run");
        let t = Time(2_000_000);
        let events = db
            .apply(Command::agent(t, "osdb-serv", watchdog_word(7)))
            .unwrap();
        let n = &db.nodes["osdb-serv"];
        assert_eq!(n.liveness, Liveness::Down);
        assert!(n.stop_confirmed);
        assert!(matches!(&n.fence, FenceState::Fenced { by, .. } if by == "its watchdog"));
        // Required fencing is satisfied, and nothing is left to wait for: the group may move at
        // the very moment (a plain NodeDown would wait for the fence agent).
        assert!(stopped(&db, t));
        let said: Vec<String> = events.iter().filter_map(|e| e.summary()).collect();
        assert!(
            said.iter()
                .any(|s| s.contains("its watchdog stopped disk, chat")),
            "{said:?}"
        );
        // Said again (the answer was lost): nothing changes.
        let before = db.clone();
        db.apply(Command::agent(Time(t.0 + 5), "osdb-serv", watchdog_word(7)))
            .unwrap();
        assert_eq!((&db.nodes, &db.groups), (&before.nodes, &before.groups));
        // The node comes back: the confirmation was for that loss only.
        live(&mut db, registered(8)).unwrap();
        live(
            &mut db,
            Op::NodeUp {
                node: "osdb-serv".into(),
            },
        )
        .unwrap();
        assert!(!db.nodes["osdb-serv"].stop_confirmed);
        rejected(&mut db, watchdog_word(7), "not its current daemon run");
    }

    #[test]
    fn a_plain_loss_under_required_fencing_still_waits_where_a_watchdogs_word_does_not() {
        let mut db = with_fencing(Fencing::Required, Some(agent()));
        let t = Time(2_000_000);
        down(&mut db, t);
        assert!(!db.nodes["osdb-serv"].stop_confirmed);
        assert!(!stopped(&db, t));
        // Down already when the word arrives: it changes nothing (the fence still decides).
        live(&mut db, registered(7)).unwrap();
        let before = db.clone();
        db.apply(Command::agent(Time(t.0 + 5), "osdb-serv", watchdog_word(7)))
            .unwrap();
        assert_eq!((&db.nodes, &db.groups), (&before.nodes, &before.groups));
    }

    #[test]
    fn bad_methods_are_refused_naming_the_field() {
        let cases: Vec<(FenceMethod, &str)> = vec![
            (
                FenceMethod::default(),
                "give agent (a fence agent) or command",
            ),
            (
                FenceMethod {
                    legacy: Some("touch /x".into()),
                    ..Default::default()
                },
                "a command line as text",
            ),
            (
                FenceMethod {
                    agent: Some(DUMMY.into()),
                    command: Some("/bin/true".into()),
                    ..Default::default()
                },
                "not both",
            ),
            (
                FenceMethod {
                    agent: Some("/usr/sbin/fence_dummy".into()),
                    ..Default::default()
                },
                "fence.agent",
            ),
            (
                FenceMethod {
                    agent: Some("ipmi".into()),
                    ..Default::default()
                },
                "not a fence agent's name",
            ),
            (
                FenceMethod {
                    command: Some("".into()),
                    ..Default::default()
                },
                "fence.command: is empty",
            ),
            (
                FenceMethod {
                    command: Some("bin/x".into()),
                    ..Default::default()
                },
                "not an absolute path",
            ),
            (
                FenceMethod {
                    command: Some("/bin/x".into()),
                    params: [("a".to_string(), "b".to_string())].into(),
                    ..Default::default()
                },
                "fence.params: belong to agent",
            ),
            (
                FenceMethod {
                    agent: Some(DUMMY.into()),
                    args: vec!["x".into()],
                    ..Default::default()
                },
                "fence.args",
            ),
            (
                FenceMethod {
                    agent: Some(DUMMY.into()),
                    params: [("action".to_string(), "on".to_string())].into(),
                    ..Default::default()
                },
                "fence.params.action",
            ),
            (
                FenceMethod {
                    agent: Some(DUMMY.into()),
                    params: [("Bad Name".to_string(), "1".to_string())].into(),
                    ..Default::default()
                },
                "fence.params.Bad Name",
            ),
            (
                FenceMethod {
                    agent: Some(DUMMY.into()),
                    params: [("x".to_string(), "a\nb".to_string())].into(),
                    ..Default::default()
                },
                "line break",
            ),
            (
                FenceMethod {
                    agent: Some(DUMMY.into()),
                    timeout: Some(Millis(10)),
                    ..Default::default()
                },
                "fence.timeout",
            ),
        ];
        let mut db = paper();
        for (m, want) in cases {
            let mut spec = db.nodes["osdb-serv"].spec.clone();
            spec.fence = Some(m);
            rejected(&mut db, Op::PutNode(spec), want);
        }
    }

    #[test]
    fn methods_read_from_yaml_with_scalars_and_the_old_text_form() {
        let m: FenceMethod = yaml_serde::from_str(
            "{agent: fence_ipmilan, params: {ip: 198.18.0.9, lanplus: true, power_timeout: 10}}",
        )
        .unwrap();
        assert_eq!(m.params["lanplus"], "1");
        assert_eq!(m.params["power_timeout"], "10");
        let old: FenceMethod = yaml_serde::from_str("touch /tmp/x").unwrap();
        assert_eq!(old.legacy.as_deref(), Some("touch /tmp/x"));
        let err = yaml_serde::from_str::<FenceMethod>("{agent: fence_x, param: {}}").unwrap_err();
        assert!(err.to_string().contains("unknown field `param`"), "{err}");
    }
}
