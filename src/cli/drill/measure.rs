//! What a round's events say: the phases of a fail-over, read off the cluster's own event
//! timestamps (and the drill's probe of the service), and the summary over rounds. Pure: the
//! events come in as the JSON the controller writes (controller/src/db/event.rs), in order.

use serde_json::Value;

use super::model::{PHASES, Phase, PhaseSummary, Round, Summary, Verdict};
use super::scenario::Fault;

/// What a round watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    /// The group.
    pub group: String,
    /// Its resources.
    pub resources: Vec<String>,
    /// The node that ran it before the fault.
    pub from: String,
    /// The fault.
    pub fault: Fault,
    /// When the fault took effect, ms since the Unix epoch.
    pub fault_at_ms: u64,
}

/// One event: its time and its JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    /// The revision it was applied at.
    pub revision: u64,
    pub at_ms: u64,
    pub event: Value,
}

/// The drill's probe of the service: when it tried, and whether it got through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeLog {
    pub tries: Vec<(u64, bool)>,
}

fn field<'a>(e: &'a Value, name: &str) -> Option<&'a str> {
    e.get(name).and_then(Value::as_str)
}

fn kind(e: &Value) -> &str {
    field(e, "event").unwrap_or("")
}

impl Watched {
    fn ours(&self, e: &Value) -> bool {
        field(e, "resource").is_some_and(|r| self.resources.iter().any(|x| x == r))
    }

    fn node_down(&self, e: &Value) -> bool {
        kind(e) == "node-state"
            && field(e, "node") == Some(&self.from)
            && field(e, "to") == Some("Down")
    }

    fn is_detected(&self, e: &Value) -> bool {
        match self.fault {
            Fault::CrashDaemon | Fault::FreezeDaemon | Fault::Partition => self.node_down(e),
            Fault::KillResource => {
                kind(e) == "resource-state"
                    && self.ours(e)
                    && field(e, "node") == Some(&self.from)
                    && field(e, "to") != Some("Online")
            }
            Fault::Move | Fault::Drain => false,
        }
    }

    fn is_decided(&self, e: &Value) -> bool {
        let group = field(e, "group") == Some(&self.group);
        match kind(e) {
            "group-moving" | "group-held" => group,
            "group-placed" => group && field(e, "to") != Some(&self.from),
            "resource-state" => self.ours(e) && e.get("restart").is_some_and(|r| !r.is_null()),
            _ => false,
        }
    }

    fn is_stopped(&self, e: &Value) -> bool {
        let on_old = field(e, "node") == Some(&self.from);
        match kind(e) {
            "group-stopped" => field(e, "group") == Some(&self.group) && on_old,
            "fenced" => on_old,
            "node-state" => self.node_down(e),
            // A crashed resource is stopped once its agent saw it down; a moving group only
            // once every resource of it is (group-stopped).
            "resource-state" => {
                self.fault == Fault::KillResource
                    && self.ours(e)
                    && on_old
                    && matches!(field(e, "to"), Some("Failed" | "Offline"))
            }
            _ => false,
        }
    }
}

/// The phases of one round, in time order, with `at_ms` counted from the fault. `to` is the
/// node that runs the group at the end of the round. A resource counts as started again by its
/// first Online after the fault on another node than `from`, or on `from` after it was seen
/// down there; `started` is when the last of those came, and only if every resource that went
/// down came back. `answering` is the first probe that got through at or after `started`.
pub fn phases(
    w: &Watched,
    events: &[Seen],
    to: Option<&str>,
    probe: Option<&ProbeLog>,
) -> Vec<Phase> {
    let after: Vec<&Seen> = events.iter().filter(|s| s.at_ms >= w.fault_at_ms).collect();
    let first =
        |pred: &dyn Fn(&Value) -> bool| after.iter().find(|s| pred(&s.event)).map(|s| s.at_ms);
    let mut found: Vec<(&str, u64)> = Vec::new();
    if let Some(t) = first(&|e| w.is_detected(e)) {
        found.push(("detected", t));
    }
    if let Some(t) = first(&|e| w.is_decided(e)) {
        found.push(("decided", t));
    }
    if let Some(t) = first(&|e| w.is_stopped(e)) {
        found.push(("stopped", t));
    }
    let started = to.and_then(|to| started_at(w, &after, to));
    if let Some(t) = started {
        found.push(("started", t));
        if let Some(p) = probe
            && let Some(&(at, _)) = p.tries.iter().find(|(at, ok)| *ok && *at >= t)
        {
            found.push(("answering", at));
        }
    }
    let order = |n: &str| {
        PHASES
            .iter()
            .position(|(p, _)| *p == n)
            .unwrap_or(usize::MAX)
    };
    found.sort_by_key(|(n, t)| (*t, order(n)));
    found
        .into_iter()
        .map(|(name, t)| Phase {
            name: name.to_string(),
            at_ms: t.saturating_sub(w.fault_at_ms),
        })
        .collect()
}

fn started_at(w: &Watched, after: &[&Seen], to: &str) -> Option<u64> {
    let mut last = None;
    for r in &w.resources {
        let mut down = false;
        let mut back = None;
        for s in after {
            let e = &s.event;
            if kind(e) != "resource-state" || field(e, "resource") != Some(r) {
                continue;
            }
            let node = field(e, "node");
            let online = field(e, "to") == Some("Online");
            if !online && node == Some(&w.from) {
                down = true;
            }
            if online && node == Some(to) && (to != w.from || down) {
                back = Some(s.at_ms);
                break;
            }
        }
        match back {
            Some(t) => last = last.max(Some(t)),
            // Gone from the old node (or from a dead one) and not back: not started.
            None if down || to != w.from => return None,
            None => {}
        }
    }
    last
}

/// What a round must show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// The phases it must have.
    pub expected: Vec<String>,
    /// The bound its total must stay under (`--expect-under`).
    pub expect_under_ms: Option<u64>,
}

/// What a round showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shown {
    pub phases: Vec<Phase>,
    /// Where the group ran at its end.
    pub to: Option<String>,
    /// How long the outside check saw it in two places.
    pub overlap_ms: u64,
    /// What already went wrong (the fault could not be injected, the restore failed).
    pub failures: Vec<String>,
}

/// What a round's measurements come to: its total, and why it failed (if it did).
pub fn judge(round: u32, w: &Watched, shown: Shown, rules: &Rules) -> Round {
    let Shown {
        phases,
        to,
        overlap_ms,
        mut failures,
    } = shown;
    let expected = &rules.expected;
    let expect_under_ms = rules.expect_under_ms;
    let missing: Vec<&str> = expected
        .iter()
        .filter(|p| !phases.iter().any(|x| &x.name == *p))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        failures.push(format!("not seen: {}", missing.join(", ")));
    }
    let total_ms = missing
        .is_empty()
        .then(|| phases.iter().map(|p| p.at_ms).max())
        .flatten();
    if overlap_ms > 0 {
        failures.push(format!(
            "the outside check saw the group in two places for {overlap_ms} ms"
        ));
    }
    if let (Some(total), Some(bound)) = (total_ms, expect_under_ms)
        && total >= bound
    {
        failures.push(format!(
            "took {total} ms, not under {bound} ms (--expect-under)"
        ));
    }
    Round {
        round,
        fault_at_ms: w.fault_at_ms,
        from: w.from.clone(),
        to,
        phases,
        total_ms,
        overlap_ms,
        failures,
    }
}

/// The nearest-rank percentile `p` (0..=1) of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Percentiles over the rounds, in total and per phase.
pub fn summarize(rounds: &[Round]) -> Summary {
    let mut totals: Vec<u64> = rounds.iter().filter_map(|r| r.total_ms).collect();
    totals.sort_unstable();
    let stat = |v: &[u64], p| (!v.is_empty()).then(|| percentile(v, p));
    let phases = PHASES
        .iter()
        .filter_map(|(name, _)| {
            let mut at: Vec<u64> = rounds
                .iter()
                .flat_map(|r| r.phases.iter().filter(|p| p.name == *name).map(|p| p.at_ms))
                .collect();
            at.sort_unstable();
            (!at.is_empty()).then(|| PhaseSummary {
                name: name.to_string(),
                n: at.len(),
                p50_ms: percentile(&at, 0.5),
                p99_ms: percentile(&at, 0.99),
                max_ms: at[at.len() - 1],
            })
        })
        .collect();
    Summary {
        rounds: rounds.len(),
        completed: totals.len(),
        p50_ms: stat(&totals, 0.5),
        p99_ms: stat(&totals, 0.99),
        max_ms: totals.last().copied(),
        phases,
    }
}

/// Pass when there was a round and every round passed.
pub fn verdict(rounds: &[Round]) -> Verdict {
    if !rounds.is_empty() && rounds.iter().all(|r| r.failures.is_empty()) {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn watched(fault: Fault) -> Watched {
        Watched {
            group: "G".into(),
            resources: vec!["disk".into(), "chat".into()],
            from: "a".into(),
            fault,
            fault_at_ms: 1000,
        }
    }

    fn seen(at_ms: u64, event: Value) -> Seen {
        Seen {
            revision: at_ms,
            at_ms,
            event,
        }
    }

    fn res(r: &str, node: &str, from: &str, to: &str, restart: bool) -> Value {
        json!({"event": "resource-state", "resource": r, "group": "G", "node": node,
               "from": from, "to": to, "restart": if restart { json!({"attempt": 1}) } else { Value::Null }})
    }

    /// Node a's state changed.
    fn node_a(at_ms: u64, from: &str, to: &str) -> Seen {
        seen(
            at_ms,
            json!({"event": "node-state", "node": "a", "from": from, "to": to}),
        )
    }

    /// G placed on b, a being down.
    fn failed_over_to_b(at_ms: u64) -> Seen {
        seen(
            at_ms,
            json!({"event": "group-placed", "group": "G", "from": "a", "to": "b", "reason": "node-down"}),
        )
    }

    fn names(p: &[Phase]) -> Vec<(&str, u64)> {
        p.iter().map(|p| (p.name.as_str(), p.at_ms)).collect()
    }

    #[test]
    fn a_node_crash_confirmed_by_its_watchdog_reads_as_five_phases() {
        let events = vec![
            // Before the fault: ignored.
            node_a(900, "Up", "Down"),
            seen(
                1004,
                json!({"event": "fenced", "node": "a", "by": "its watchdog"}),
            ),
            node_a(1004, "Up", "Down"),
            failed_over_to_b(1006),
            seen(1010, res("disk", "b", "Offline", "Online", false)),
            seen(1021, res("chat", "b", "OnlinePending", "Online", false)),
            // Another group's events do not count.
            seen(1030, res("other", "b", "Offline", "Online", false)),
        ];
        let probe = ProbeLog {
            tries: vec![(1001, false), (1020, false), (1023, true), (1030, true)],
        };
        let p = phases(
            &watched(Fault::CrashDaemon),
            &events,
            Some("b"),
            Some(&probe),
        );
        assert_eq!(
            names(&p),
            [
                ("detected", 4),
                ("stopped", 4),
                ("decided", 6),
                ("started", 21),
                ("answering", 23)
            ]
        );
    }

    #[test]
    fn a_partitioned_node_is_detected_and_stopped_when_it_is_declared_down() {
        // Cut off, the node's own agent stops the group when its lease runs out (no event
        // reaches the members from there); Down is declared only once that is provable.
        let events = vec![
            node_a(1900, "Up", "Down"),
            failed_over_to_b(1902),
            seen(1910, res("disk", "b", "Offline", "Online", false)),
            seen(1925, res("chat", "b", "Offline", "Online", false)),
            // The node back after the cut: it reports what it stopped, long after.
            node_a(11000, "Down", "Up"),
        ];
        let p = phases(&watched(Fault::Partition), &events, Some("b"), None);
        assert_eq!(
            names(&p),
            [
                ("detected", 900),
                ("stopped", 900),
                ("decided", 902),
                ("started", 925)
            ]
        );
    }

    #[test]
    fn a_restart_in_place_counts_only_the_resource_that_went_down() {
        let events = vec![
            seen(1003, res("chat", "a", "Online", "Failed", false)),
            seen(1005, res("chat", "a", "Failed", "OnlinePending", true)),
            seen(1040, res("chat", "a", "OnlinePending", "Online", true)),
        ];
        let p = phases(&watched(Fault::KillResource), &events, Some("a"), None);
        assert_eq!(
            names(&p),
            [
                ("detected", 3),
                ("stopped", 3),
                ("decided", 5),
                ("started", 40)
            ]
        );
    }

    #[test]
    fn a_group_that_does_not_come_back_has_no_start() {
        let events = vec![
            seen(1003, res("chat", "a", "Online", "Failed", false)),
            seen(
                1004,
                json!({"event": "group-held", "group": "G", "reason": "restarts used up"}),
            ),
        ];
        let w = watched(Fault::KillResource);
        let p = phases(&w, &events, None, None);
        assert_eq!(names(&p), [("detected", 3), ("stopped", 3), ("decided", 4)]);
        let rules = Rules {
            expected: ["detected", "decided", "stopped", "started"]
                .map(String::from)
                .into(),
            expect_under_ms: None,
        };
        let shown = Shown {
            phases: p,
            ..Shown::default()
        };
        let r = judge(1, &w, shown, &rules);
        assert_eq!(r.total_ms, None);
        assert_eq!(r.failures, ["not seen: started"]);
    }

    #[test]
    fn a_move_reads_as_decided_stopped_started() {
        let events = vec![
            seen(
                1001,
                json!({"event": "group-moving", "group": "G", "from": "a", "to": "b"}),
            ),
            seen(1002, res("chat", "a", "Online", "OfflinePending", false)),
            seen(1008, res("chat", "a", "OfflinePending", "Offline", false)),
            seen(1009, res("disk", "a", "Online", "Offline", false)),
            seen(
                1010,
                json!({"event": "group-stopped", "group": "G", "node": "a"}),
            ),
            seen(
                1011,
                json!({"event": "group-placed", "group": "G", "from": "a", "to": "b"}),
            ),
            seen(1015, res("disk", "b", "Offline", "Online", false)),
            seen(1030, res("chat", "b", "Offline", "Online", false)),
        ];
        let p = phases(&watched(Fault::Move), &events, Some("b"), None);
        // Stopped once every resource of it is, not at its first resource's stop.
        assert_eq!(
            names(&p),
            [("decided", 1), ("stopped", 10), ("started", 30)]
        );
    }

    #[test]
    fn a_round_fails_on_overlap_or_a_missed_bound_and_the_summary_counts_what_completed() {
        let w = watched(Fault::CrashDaemon);
        let shown = |t: u64, overlap_ms| Shown {
            phases: vec![Phase {
                name: "started".into(),
                at_ms: t,
            }],
            to: Some("b".into()),
            overlap_ms,
            failures: vec![],
        };
        let bound = Rules {
            expected: vec!["started".into()],
            expect_under_ms: Some(50),
        };
        let unbound = Rules {
            expect_under_ms: None,
            ..bound.clone()
        };
        let ok = judge(1, &w, shown(20, 0), &bound);
        let slow = judge(2, &w, shown(60, 0), &bound);
        let twice = judge(3, &w, shown(10, 12), &unbound);
        assert!(ok.failures.is_empty());
        assert_eq!(
            slow.failures,
            ["took 60 ms, not under 50 ms (--expect-under)"]
        );
        assert_eq!(
            twice.failures,
            ["the outside check saw the group in two places for 12 ms"]
        );
        assert_eq!(verdict(std::slice::from_ref(&ok)), Verdict::Pass);
        assert_eq!(verdict(&[ok.clone(), slow.clone()]), Verdict::Fail);
        assert_eq!(verdict(&[]), Verdict::Fail);
        let s = summarize(&[ok, slow, twice]);
        assert_eq!((s.rounds, s.completed), (3, 3));
        assert_eq!(
            (s.p50_ms, s.p99_ms, s.max_ms),
            (Some(20), Some(60), Some(60))
        );
        assert_eq!(s.phases[0].name, "started");
        assert_eq!(s.phases[0].n, 3);
    }
}
