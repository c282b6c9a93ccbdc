//! Policy cases as data, in the spirit of Pacemaker's scheduler regression tests: each
//! `tests/policy/<case>.yaml` holds a cluster, events, the lines that must appear (written by
//! hand, some with the time of day they must come at) and the final placement;
//! `<case>.expected` beside it holds the whole transcript. Each case is a test of its own,
//! named by its file (`cargo test --test policy -- 014` runs one).
//! `NONSTOP_BLESS=1 cargo test --test policy` rewrites the `.expected` files: review the diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use nonstop_controller::config::ClusterFile;
use nonstop_controller::sim::{SimEvent, Simulator, clock};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    cluster: ClusterFile,
    /// Nodes not heard from at start (they stay Joining).
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    events: Vec<Step>,
    /// Lines that must appear after the start, in this order (other lines may come between),
    /// each optionally at a time of day.
    #[serde(default)]
    expect: Vec<Expect>,
    /// Lines that must not appear after the start.
    #[serde(default)]
    forbid: Vec<String>,
    /// The final owner of each group listed (`null` for none).
    #[serde(default)]
    placement: BTreeMap<String, Option<String>>,
    /// The final state of each group listed.
    #[serde(default)]
    states: BTreeMap<String, String>,
}

/// A line that must appear: `"* Node osdb-serv Down"`, or `{line: ..., at: "00:16:42"}` when
/// it must come at that time of day (the cluster's local time, as the transcript's marks show
/// it; the simulation starts at 00:16:40 UTC).
#[derive(Deserialize)]
#[serde(untagged)]
enum Expect {
    Line(String),
    At { line: String, at: String },
}

impl Expect {
    fn line(&self) -> &str {
        match self {
            Expect::Line(l) | Expect::At { line: l, .. } => l,
        }
    }
}

/// An event, or an event that must be rejected with an error containing `error`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Step {
    Event(String),
    Rejected { event: String, error: String },
}

fn run_case(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Case = yaml_serde::from_str(&text).map_err(|e| format!("case file: {e}"))?;
    let mut sim =
        Simulator::start_without(&case.cluster, &case.absent).map_err(|e| e.to_string())?;
    let start_len = sim.transcript.len();
    for step in &case.events {
        match step {
            Step::Event(line) => {
                let ev = SimEvent::parse_line(line).map_err(|e| e.to_string())?;
                sim.inject(&ev).map_err(|e| e.to_string())?;
            }
            Step::Rejected { event, error } => {
                let ev = SimEvent::parse_line(event).map_err(|e| e.to_string())?;
                let before = sim.db.clone();
                match sim.inject(&ev) {
                    Ok(()) => {
                        return Err(format!("{event}: accepted, want an error with {error:?}"));
                    }
                    Err(e) if !e.to_string().contains(error.as_str()) => {
                        return Err(format!("{event}: error {e}, want one with {error:?}"));
                    }
                    Err(_) if sim.db != before => {
                        return Err(format!("{event}: rejected but changed the db"));
                    }
                    Err(_) => {}
                }
            }
        }
        check_one_node_rule(&sim)?;
    }
    let after = &sim.transcript[start_len..];
    let offset = sim.db.settings.utc_offset_minutes;
    let mut rest = after.iter();
    for want in &case.expect {
        let Some(t) = rest.find(|t| t.summary == want.line()) else {
            return Err(format!(
                "missing or out of order: {:?}\ntranscript:\n{}",
                want.line(),
                sim.render_text()
            ));
        };
        if let Expect::At { at, .. } = want {
            let got = clock(t.event.at, offset);
            if &got != at {
                return Err(format!(
                    "{:?} came at {got}, want {at}\ntranscript:\n{}",
                    want.line(),
                    sim.render_text()
                ));
            }
        }
    }
    let after: Vec<&str> = after.iter().map(|t| t.summary.as_str()).collect();
    for bad in &case.forbid {
        if after.contains(&bad.as_str()) {
            return Err(format!(
                "forbidden line appeared: {bad:?}\n{}",
                sim.render_text()
            ));
        }
    }
    let placement = sim.placement();
    for (g, want) in &case.placement {
        if placement.get(g) != Some(want) {
            return Err(format!(
                "group {g}: placed on {:?}, want {want:?}\n{}",
                placement.get(g),
                sim.render_text()
            ));
        }
    }
    for (g, want) in &case.states {
        let state = sim
            .db
            .groups
            .get(g)
            .map(|x| sim.db.group_state(x).to_string());
        if state.as_deref() != Some(want.as_str()) {
            return Err(format!(
                "group {g}: state {state:?}, want {want}\n{}",
                sim.render_text()
            ));
        }
    }
    compare_snapshot(path, &sim.render_text())
}

/// No resource runs on two nodes at once.
fn check_one_node_rule(sim: &Simulator) -> Result<(), String> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (node, resources) in sim.running() {
        for r in resources {
            if let Some(other) = seen.insert(r, node) {
                return Err(format!("resource {r} runs on {other} and {node}"));
            }
        }
    }
    Ok(())
}

fn compare_snapshot(case: &Path, got: &str) -> Result<(), String> {
    let path = case.with_extension("expected");
    if std::env::var_os("NONSTOP_BLESS").is_some() {
        std::fs::write(&path, got).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let want = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (run with NONSTOP_BLESS=1 to create it)",
            path.display()
        )
    })?;
    if want != got {
        return Err(format!(
            "transcript differs from {}:\n--- want\n{want}--- got\n{got}",
            path.display()
        ));
    }
    Ok(())
}

/// The fewest cases the directory may hold: a lost glob must not pass as a green suite.
const MIN_CASES: usize = 40;

fn main() {
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policy");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/policy exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    cases.sort();
    let count = cases.len();
    let mut trials: Vec<Trial> = cases
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            Trial::test(name, move || run_case(&path).map_err(Failed::from))
        })
        .collect();
    trials.push(Trial::test(
        "the_case_directory_holds_the_cases",
        move || {
            if count < MIN_CASES {
                return Err(
                    format!("only {count} policy cases (want at least {MIN_CASES})").into(),
                );
            }
            Ok(())
        },
    ));
    libtest_mimic::run(&args, trials).exit();
}
