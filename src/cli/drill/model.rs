//! What a drill measured: the report `nonstop drill run` prints as a table or JSON, and renders
//! as a page (`--report`) and as JUnit XML (`--junit`). Plain data, built by `measure.rs` from
//! the cluster's events and the drill's own probes.

use serde::Serialize;

/// A whole drill: its rounds, their summary and the verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrillReport {
    /// The drill's id in the cluster's events (`node-crash-7f3a`).
    pub id: String,
    /// The scenario's name.
    pub scenario: String,
    /// What the scenario does, in one sentence.
    pub description: String,
    /// The group it watched.
    pub group: String,
    /// The node the faults were injected on.
    pub node: String,
    /// When the drill started, ms since the Unix epoch.
    pub started_at_ms: u64,
    /// The bound every round's total had to stay under (`--expect-under`), if any.
    pub expect_under_ms: Option<u64>,
    /// What the outside check looked at ("processes and addresses on this machine").
    pub outside_check: String,
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// Percentiles over the rounds.
    pub summary: Summary,
    /// Pass when every round completed, none overlapped and none missed `expect_under_ms`.
    pub verdict: Verdict,
    /// The cluster's events during the drill, oldest first.
    pub events: Vec<EventLine>,
}

/// One round: a fault, what followed, and what the outside check saw.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Round {
    /// 1, 2, ...
    pub round: u32,
    /// When the fault took effect, ms since the Unix epoch (on the faulted node's clock).
    pub fault_at_ms: u64,
    /// The node that ran the group before the fault.
    pub from: String,
    /// The node that ran it after (the same one for a restart in place; `None`: nowhere).
    pub to: Option<String>,
    /// The phases seen, in time order; `at_ms` counts from the fault.
    pub phases: Vec<Phase>,
    /// From the fault to the last phase (`None` when the round did not complete).
    pub total_ms: Option<u64>,
    /// How long the outside check saw the group's processes or addresses in two places at
    /// once (must be 0).
    pub overlap_ms: u64,
    /// Why the round failed, one line each (empty: it passed).
    pub failures: Vec<String>,
}

/// One phase of a round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Phase {
    /// `detected`, `decided`, `stopped`, `started`, `answering` (see `PHASES`).
    pub name: String,
    /// Milliseconds after the fault.
    pub at_ms: u64,
}

/// The phases a round can have, in their usual order, with what each means.
pub const PHASES: [(&str, &str); 5] = [
    (
        "detected",
        "the cluster saw the fault: the node Down, or the resource failed",
    ),
    (
        "decided",
        "the leader committed what to do: a move or a restart",
    ),
    (
        "stopped",
        "the group is stopped on its old node (confirmed, or its lease ran out)",
    ),
    (
        "started",
        "every resource of the group reported Online again",
    ),
    (
        "answering",
        "the drill's own probe reached the service again (the resources' check_tcp)",
    ),
];

/// Percentiles over the completed rounds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// How many rounds ran, and how many completed.
    pub rounds: usize,
    pub completed: usize,
    /// Of the rounds' totals (`None` when no round completed).
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub max_ms: Option<u64>,
    /// The same, per phase, in phase order.
    pub phases: Vec<PhaseSummary>,
}

/// Percentiles of one phase over the rounds that had it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PhaseSummary {
    pub name: String,
    /// How many rounds had it.
    pub n: usize,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// A drill's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
}

/// One event of the cluster's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventLine {
    pub revision: u64,
    /// ms since the Unix epoch.
    pub at_ms: u64,
    pub summary: String,
}
