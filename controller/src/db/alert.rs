//! Alerts in the database: the programs the raft leader runs for each event worth telling, with
//! Pacemaker's alert-agent environment (`alerts:` in `cluster.yaml`, kept with the settings so
//! that every member knows them), and their checks. Which event becomes which alert, and with
//! what environment, is `leader/alerts.rs`; the leader's `leader/alerter.rs` runs them.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use nonstop_contract::names::{NAME_RULE, is_safe_name};
use nonstop_contract::{Millis, MillisRange};

/// How long one agent call may run when the alert gives no `timeout` (Pacemaker's default).
pub const DEFAULT_ALERT_TIMEOUT: Millis = Millis(30_000);
/// The shortest and longest `timeout` an alert may have.
pub const ALERT_TIMEOUT: MillisRange = MillisRange::new(Millis(1_000), Millis(600_000));

/// What an alert is about. The first three are Pacemaker's kinds (`CRM_alert_kind`); `group`
/// and `drill` are nonstop's own, sent only to alerts that list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// A node joined (`member`) or was lost (`lost`).
    Node,
    /// A resource operation ended: a start, a stop, a reload, or a failure.
    Resource,
    /// A fence attempt ended.
    Fencing,
    /// A group was placed, moved, stopped for a move, held Failed or cleared.
    Group,
    /// A drill's mark: its start, a step, its verdict.
    Drill,
}

impl AlertKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [AlertKind; 5] = [
        AlertKind::Node,
        AlertKind::Resource,
        AlertKind::Fencing,
        AlertKind::Group,
        AlertKind::Drill,
    ];

    /// The kinds an alert without `kinds` gets: Pacemaker's own, which its agents know.
    pub const PACEMAKER: [AlertKind; 3] =
        [AlertKind::Node, AlertKind::Resource, AlertKind::Fencing];

    /// As `kinds` and `CRM_alert_kind` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Node => "node",
            AlertKind::Resource => "resource",
            AlertKind::Fencing => "fencing",
            AlertKind::Group => "group",
            AlertKind::Drill => "drill",
        }
    }

    /// The kind a word names, or why none does.
    pub fn parse(word: &str) -> Result<AlertKind, String> {
        if let Some(k) = Self::ALL.into_iter().find(|k| k.as_str() == word) {
            return Ok(k);
        }
        let known: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
        let note = if word == "attribute" {
            " (Pacemaker's attribute alerts have no counterpart: nonstop has no node attributes)"
        } else {
            ""
        };
        Err(format!(
            "unknown kind {word:?}; expected one of {}{note}",
            known.join(", ")
        ))
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Written by hand so that a word that is not a kind is refused in nonstop's words, naming the
/// kinds there are (the reader puts the field's path in front: `alerts[0].kinds[1]: ...`).
impl<'de> Deserialize<'de> for AlertKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than a String read first: the error is then raised while the reader
        // is at the list entry, and names it (`kinds[1]`), not the list.
        struct Word;
        impl serde::de::Visitor<'_> for Word {
            type Value = AlertKind;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a kind: node, resource, fencing, group or drill")
            }
            fn visit_str<E: serde::de::Error>(self, word: &str) -> Result<AlertKind, E> {
                AlertKind::parse(word).map_err(E::custom)
            }
        }
        d.deserialize_str(Word)
    }
}

/// One alert: a program run once per event of its kinds and per recipient.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    /// Its name, in logs.
    pub name: String,
    /// The program (absolute path) on the members' machines.
    pub path: String,
    /// Each is given to one call as `CRM_alert_recipient`; none: one call with an empty one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// The kinds it gets; `None`: Pacemaker's kinds ([`AlertKind::PACEMAKER`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<AlertKind>>,
    /// How long one call may run before it is killed with its process group (default 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Millis>,
}

impl AlertSpec {
    /// How long one call may run.
    pub fn timeout(&self) -> Millis {
        self.timeout.unwrap_or(DEFAULT_ALERT_TIMEOUT)
    }

    /// Whether it gets alerts of `kind`.
    pub fn wants(&self, kind: AlertKind) -> bool {
        match &self.kinds {
            Some(kinds) => kinds.contains(&kind),
            None => AlertKind::PACEMAKER.contains(&kind),
        }
    }

    /// The recipient of each call: the configured ones, or one empty recipient (Pacemaker runs
    /// an alert without recipients once, with `CRM_alert_recipient` empty).
    pub fn recipients(&self) -> Vec<&str> {
        if self.recipients.is_empty() {
            vec![""]
        } else {
            self.recipients.iter().map(String::as_str).collect()
        }
    }
}

/// What is wrong with one field of one alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertFault {
    /// The alert's place in the list.
    pub index: usize,
    /// The field inside it (`path`, `kinds[1]`, `recipients[0]`).
    pub field: String,
    /// Why.
    pub reason: String,
}

impl AlertFault {
    /// The field's path from the top of the file (`alerts[0].kinds[1]`).
    pub fn path(&self) -> String {
        format!("alerts[{}].{}", self.index, self.field)
    }
}

impl fmt::Display for AlertFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path(), self.reason)
    }
}

/// Every fault of a list of alerts, in list order (a name used twice is a fault of its second
/// use). Pure: whether the program exists is a matter of the member that runs it.
pub fn check_alerts(alerts: &[AlertSpec]) -> Vec<AlertFault> {
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for (index, a) in alerts.iter().enumerate() {
        let mut fault = |field: String, reason: String| {
            out.push(AlertFault {
                index,
                field,
                reason,
            })
        };
        if !is_safe_name(&a.name) {
            fault("name".into(), format!("{:?}: {NAME_RULE}", a.name));
        } else if !names.insert(a.name.as_str()) {
            fault("name".into(), format!("{:?} is used twice", a.name));
        }
        if let Err(why) = check_path(&a.path) {
            fault("path".into(), why);
        }
        let mut seen = BTreeSet::new();
        for (i, r) in a.recipients.iter().enumerate() {
            let why = if r.is_empty() {
                "is empty: leave recipients out to run the agent once without one".to_string()
            } else if r.contains('\0') {
                "holds a NUL character, which no environment variable can".to_string()
            } else if !seen.insert(r.as_str()) {
                format!("{r:?} is listed twice (the agent would run twice for it)")
            } else {
                continue;
            };
            fault(format!("recipients[{i}]"), why);
        }
        match &a.kinds {
            Some(kinds) if kinds.is_empty() => fault(
                "kinds".into(),
                "lists no kind: leave it out for node, resource and fencing".into(),
            ),
            Some(kinds) => {
                for (i, k) in kinds.iter().enumerate() {
                    if kinds[..i].contains(k) {
                        fault(
                            format!("kinds[{i}]"),
                            format!("{:?} is listed twice", k.as_str()),
                        );
                    }
                }
            }
            None => {}
        }
        if let Some(t) = a.timeout
            && let Err(why) = ALERT_TIMEOUT.check(t)
        {
            fault("timeout".into(), why);
        }
    }
    out
}

/// An agent's path: absolute, as fence commands are (a member's working folder is no place to
/// look for it).
fn check_path(path: &str) -> Result<(), String> {
    if path.trim().is_empty() {
        Err("is empty: give the agent's absolute path".into())
    } else if !path.starts_with('/') {
        Err(format!("{path:?} is not an absolute path"))
    } else if path.contains('\0') {
        Err("holds a NUL character".into())
    } else if path.ends_with('/') {
        Err(format!("{path:?} names a folder, not a program"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, path: &str) -> AlertSpec {
        AlertSpec {
            name: name.into(),
            path: path.into(),
            ..AlertSpec::default()
        }
    }

    #[test]
    fn without_kinds_an_alert_gets_pacemakers_kinds_only() {
        let a = alert("log", "/usr/local/bin/alert");
        let wanted: Vec<AlertKind> = AlertKind::ALL.into_iter().filter(|k| a.wants(*k)).collect();
        assert_eq!(wanted, AlertKind::PACEMAKER);
        let a = AlertSpec {
            kinds: Some(vec![AlertKind::Group]),
            ..a
        };
        let wanted: Vec<AlertKind> = AlertKind::ALL.into_iter().filter(|k| a.wants(*k)).collect();
        assert_eq!(wanted, [AlertKind::Group]);
    }

    #[test]
    fn without_recipients_an_alert_runs_once_with_an_empty_one() {
        let a = alert("log", "/bin/true");
        assert_eq!(a.recipients(), [""]);
        let a = AlertSpec {
            recipients: vec!["/var/log/a".into(), "ops@example.com".into()],
            ..a
        };
        assert_eq!(a.recipients(), ["/var/log/a", "ops@example.com"]);
        assert_eq!(a.timeout(), Millis(30_000));
    }

    #[test]
    fn kinds_are_read_by_name_and_others_refused_naming_the_known_ones() {
        assert_eq!(AlertKind::parse("fencing"), Ok(AlertKind::Fencing));
        assert_eq!(
            AlertKind::parse("nodes").unwrap_err(),
            "unknown kind \"nodes\"; expected one of node, resource, fencing, group, drill"
        );
        assert!(
            AlertKind::parse("attribute")
                .unwrap_err()
                .contains("nonstop has no node attributes")
        );
    }

    /// Each bad field, as data: the alert, then the fault reported for it.
    #[test]
    fn every_bad_field_is_named() {
        let good = alert("log", "/usr/local/bin/alert");
        let cases: Vec<(AlertSpec, &str)> = vec![
            (
                alert("", "/bin/x"),
                "alerts[0].name: \"\": use 1 to 63 letters",
            ),
            (
                alert("log", "alert.sh"),
                "alerts[0].path: \"alert.sh\" is not an absolute path",
            ),
            (
                alert("log", " "),
                "alerts[0].path: is empty: give the agent's absolute path",
            ),
            (
                alert("log", "/usr/local/bin/"),
                "alerts[0].path: \"/usr/local/bin/\" names a folder, not a program",
            ),
            (
                AlertSpec {
                    recipients: vec!["a".into(), "".into()],
                    ..good.clone()
                },
                "alerts[0].recipients[1]: is empty: leave recipients out",
            ),
            (
                AlertSpec {
                    recipients: vec!["a".into(), "a".into()],
                    ..good.clone()
                },
                "alerts[0].recipients[1]: \"a\" is listed twice",
            ),
            (
                AlertSpec {
                    kinds: Some(vec![]),
                    ..good.clone()
                },
                "alerts[0].kinds: lists no kind",
            ),
            (
                AlertSpec {
                    kinds: Some(vec![AlertKind::Node, AlertKind::Drill, AlertKind::Node]),
                    ..good.clone()
                },
                "alerts[0].kinds[2]: \"node\" is listed twice",
            ),
            (
                AlertSpec {
                    timeout: Some(Millis(500)),
                    ..good.clone()
                },
                "alerts[0].timeout: 500ms is not within 1s..=10m",
            ),
        ];
        for (a, expected) in cases {
            let faults = check_alerts(std::slice::from_ref(&a));
            assert_eq!(faults.len(), 1, "{a:?}: {faults:?}");
            let text = faults[0].to_string();
            assert!(text.starts_with(expected), "{text}\n  expected {expected}");
        }
        assert_eq!(check_alerts(&[good]), []);
    }

    #[test]
    fn a_name_used_twice_is_a_fault_of_its_second_use_and_every_fault_is_reported() {
        let faults = check_alerts(&[
            alert("log", "/bin/a"),
            alert("mail", "relative"),
            alert("log", "/bin/b"),
        ]);
        let text: Vec<String> = faults.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "alerts[1].path: \"relative\" is not an absolute path",
                "alerts[2].name: \"log\" is used twice",
            ]
        );
    }
}
