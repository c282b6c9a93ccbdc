//! Drill scenarios are data: YAML files, the built-in ones under `scenarios/` (compiled in) and
//! a user's own with `--file`, as Pacemaker's CTS lists its tests. A scenario says which fault,
//! where the raft leader should be when it strikes, and which phases a round must show.

use std::time::Duration;

use nonstop_contract::Millis;
use serde::Deserialize;

use super::model::PHASES;

/// The built-in scenarios, in the order `nonstop drill list` shows them.
const BUILT_IN: [(&str, &str); 7] = [
    ("node-crash", include_str!("scenarios/node-crash.yaml")),
    ("node-freeze", include_str!("scenarios/node-freeze.yaml")),
    ("partition", include_str!("scenarios/partition.yaml")),
    (
        "resource-crash",
        include_str!("scenarios/resource-crash.yaml"),
    ),
    ("leader-crash", include_str!("scenarios/leader-crash.yaml")),
    ("move", include_str!("scenarios/move.yaml")),
    ("drain", include_str!("scenarios/drain.yaml")),
];

/// One scenario.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name (`node-crash`).
    pub name: String,
    /// What it does, in one sentence.
    pub description: String,
    /// The fault each round injects.
    pub fault: Fault,
    /// `freeze-daemon`: how long the daemon stays stopped.
    #[serde(default)]
    pub freeze: Option<Millis>,
    /// `partition`: how long the node stays cut off.
    #[serde(default)]
    pub cut: Option<Millis>,
    /// Where the raft leader is when the fault strikes.
    #[serde(default)]
    pub leader: Leader,
    /// The phases a round must show to count as complete, in order.
    pub phases: Vec<String>,
}

/// What a round breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// The target node's daemon is killed (SIGKILL); its watchdog lives on.
    CrashDaemon,
    /// The target node's daemon is stopped (SIGSTOP) for `freeze`, then continued.
    FreezeDaemon,
    /// The processes of one of the group's resources are killed on the node that runs it.
    KillResource,
    /// The target node is cut off from the others for `cut` (nftables rules its daemon
    /// installs, which the kernel removes by itself).
    Partition,
    /// An operator moves the group to another owner.
    Move,
    /// An operator pauses the group's node; it is resumed afterwards.
    Drain,
}

impl Fault {
    /// Whether the fault is injected through the target node's own daemon.
    pub fn on_node(self) -> bool {
        matches!(
            self,
            Fault::CrashDaemon | Fault::FreezeDaemon | Fault::KillResource | Fault::Partition
        )
    }
}

/// Where the raft leader should be when the fault strikes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Leader {
    /// Wherever it is.
    #[default]
    Any,
    /// On the target node (a controller member): the fault costs an election too.
    Target,
    /// On another member than the target.
    Elsewhere,
}

impl Scenario {
    /// Reads a scenario from YAML; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, String> {
        let s: Scenario = yaml_serde::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
        s.check()
            .map_err(|(field, why)| format!("{origin}: {field}: {why}"))?;
        Ok(s)
    }

    /// Checks what YAML cannot: names, phases, the freeze's and the cut's length.
    fn check(&self) -> Result<(), (&'static str, String)> {
        if !nonstop_contract::names::is_safe_name(&self.name) {
            return Err((
                "name",
                format!("{:?}: {}", self.name, nonstop_contract::names::NAME_RULE),
            ));
        }
        if self.description.trim().is_empty() {
            return Err(("description", "must not be empty".into()));
        }
        if self.phases.is_empty() {
            return Err(("phases", "name at least one phase".into()));
        }
        let known: Vec<&str> = PHASES.iter().map(|(n, _)| *n).collect();
        let mut last = None;
        for p in &self.phases {
            let Some(i) = known.iter().position(|k| k == p) else {
                return Err((
                    "phases",
                    format!("unknown phase {p:?}: one of {}", known.join(", ")),
                ));
            };
            if last.is_some_and(|l| l >= i) {
                return Err((
                    "phases",
                    format!("{p:?} is out of order or repeated: {}", known.join(", ")),
                ));
            }
            last = Some(i);
        }
        if !self.fault.on_node() && self.phases.iter().any(|p| p == "detected") {
            return Err((
                "phases",
                "an operator's move or drain has no `detected` phase (nothing fails)".into(),
            ));
        }
        length(
            "freeze",
            self.freeze,
            self.fault == Fault::FreezeDaemon,
            "say how long the daemon stays stopped",
            "only a freeze-daemon fault has a length",
        )?;
        length(
            "cut",
            self.cut,
            self.fault == Fault::Partition,
            "say how long the node stays cut off",
            "only a partition has a cut",
        )?;
        if self.leader != Leader::Any && !self.fault.on_node() {
            return Err((
                "leader",
                "only a fault on a node can ask where the leader is".into(),
            ));
        }
        Ok(())
    }
}

/// Checks a fault's length `field`: given (and from 1 ms to 10 minutes) when `wanted`, absent
/// otherwise.
fn length(
    field: &'static str,
    value: Option<Millis>,
    wanted: bool,
    missing: &str,
    unwanted: &str,
) -> Result<(), (&'static str, String)> {
    match (wanted, value) {
        (true, None) => Err((field, missing.into())),
        (true, Some(d))
            if d.as_duration().is_zero() || d.as_duration() > Duration::from_secs(600) =>
        {
            Err((field, format!("{d} is not between 1ms and 10m")))
        }
        (false, Some(_)) => Err((field, unwanted.into())),
        _ => Ok(()),
    }
}

/// Every built-in scenario.
pub fn built_in() -> Vec<Scenario> {
    BUILT_IN
        .iter()
        .map(|(name, text)| {
            Scenario::parse(text, &format!("built-in scenario {name}"))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

/// The scenario `name`: a built-in one, or the one in `file`.
pub fn find(name: &str, file: Option<&std::path::Path>) -> Result<Scenario, String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--file: {}: {e}", path.display()))?;
        let s = Scenario::parse(&text, &path.display().to_string())?;
        if s.name != name {
            return Err(format!(
                "--file: {} defines scenario {:?}, not {name:?}",
                path.display(),
                s.name
            ));
        }
        return Ok(s);
    }
    built_in()
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            let names: Vec<String> = built_in().into_iter().map(|s| s.name).collect();
            format!(
                "scenario: unknown scenario {name:?}: one of {} (or your own with --file)",
                names.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_scenarios_parse_and_are_named_as_their_files() {
        let all = built_in();
        assert_eq!(all.len(), BUILT_IN.len());
        for (s, (file, _)) in all.iter().zip(BUILT_IN) {
            assert_eq!(s.name, file);
        }
    }

    #[test]
    fn a_bad_scenario_is_refused_naming_the_field() {
        let base = "name: x\ndescription: d\nfault: crash-daemon\nphases: [detected]\n";
        assert!(Scenario::parse(base, "f").is_ok());
        let cases = [
            (
                "name: x\ndescription: d\nfault: explode\nphases: [detected]\n",
                "fault",
            ),
            (&format!("{base}colour: red\n"), "unknown field `colour`"),
            (
                &base.replace("[detected]", "[started, detected]"),
                "phases: \"detected\" is out of order",
            ),
            (
                &base.replace("[detected]", "[landed]"),
                "phases: unknown phase \"landed\"",
            ),
            (
                &base.replace("[detected]", "[]"),
                "phases: name at least one",
            ),
            (&base.replace("name: x", "name: \"a b\""), "name: \"a b\""),
            (
                &base.replace("crash-daemon", "freeze-daemon"),
                "freeze: say how long",
            ),
            (
                &format!("{base}freeze: 5s\n"),
                "freeze: only a freeze-daemon",
            ),
            (
                &base.replace("crash-daemon", "move"),
                "phases: an operator's move",
            ),
            (
                "name: x\ndescription: d\nfault: move\nleader: target\nphases: [started]\n",
                "leader: only a fault on a node",
            ),
            (
                "name: x\ndescription: d\nfault: freeze-daemon\nfreeze: 11m\nphases: [started]\n",
                "freeze: 11m is not between",
            ),
            (
                &base.replace("crash-daemon", "partition"),
                "cut: say how long the node stays cut off",
            ),
            (
                &base.replace("crash-daemon", "partition\ncut: 0s"),
                "cut: 0s is not between 1ms and 10m",
            ),
            (
                &format!("{base}cut: 5s\n"),
                "cut: only a partition has a cut",
            ),
            (
                &base.replace("crash-daemon", "freeze-daemon\nfreeze: 5s\ncut: 5s"),
                "cut: only a partition",
            ),
        ];
        for (text, want) in cases {
            let e = Scenario::parse(text, "f.yaml").unwrap_err();
            assert!(e.starts_with("f.yaml"), "{e}");
            assert!(e.contains(want), "{text}\n-> {e}\nwanted {want}");
        }
    }

    #[test]
    fn a_partition_says_how_long_the_cut_lasts() {
        let p = find("partition", None).unwrap();
        assert_eq!(p.fault, Fault::Partition);
        assert!(p.fault.on_node());
        assert_eq!(
            p.cut.map(|c| c.as_duration()),
            Some(Duration::from_secs(10))
        );
        assert_eq!((p.freeze, p.leader), (None, Leader::Elsewhere));
        let mine = "name: p\ndescription: d\nfault: partition\ncut: 4s\n\
                    phases: [detected, started]\n";
        let s = Scenario::parse(mine, "f").unwrap();
        assert_eq!(s.cut.map(|c| c.0), Some(4000));
    }

    #[test]
    fn a_scenario_is_found_by_name_or_in_its_file() {
        assert_eq!(find("drain", None).unwrap().fault, Fault::Drain);
        let e = find("nope", None).unwrap_err();
        assert!(
            e.contains("unknown scenario \"nope\": one of node-crash"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("mine.yaml");
        std::fs::write(
            &f,
            "name: mine\ndescription: d\nfault: kill-resource\nphases: [detected, started]\n",
        )
        .unwrap();
        assert_eq!(find("mine", Some(&f)).unwrap().fault, Fault::KillResource);
        let e = find("other", Some(&f)).unwrap_err();
        assert!(
            e.contains("defines scenario \"mine\", not \"other\""),
            "{e}"
        );
    }
}
