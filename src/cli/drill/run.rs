//! `nonstop drill run`: checks, confirmation, then each round: the leader where the scenario
//! wants it, the outside check and the probe started, the fault injected (on a node: through
//! that node's own daemon), the phases read off the cluster's events, then what the fault broke
//! restored and the cluster waited for until it is as the drill found it. Ctrl-C stops the
//! rounds and still restores.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use nonstop_contract::Millis;
use nonstop_proto::cluster as pb;
use nonstop_proto::drill as dpb;
use nonstop_proto::drill::drill_service_client::DrillServiceClient;
use serde_json::Value;

use nonstop_agent::clock::wall_ms as now_ms;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::measure::{self, ProbeLog, Rules, Seen, Shown, Watched};
use super::model::{DrillReport, EventLine, Round, Verdict};
use super::outside::{self, Look, Watcher};
use super::render;
use super::scenario::{self, Fault, Leader, Scenario};
use crate::cli::client::{CliError, Client, ConnArgs, User, call, run_async, source_chain};
use crate::cli::follow;
use crate::cli::output::{Format, emit, rows, tell, timestamp};

/// The options of `nonstop drill run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario (`nonstop drill list`), or the name your --file defines.
    scenario: String,
    /// Your own scenario, a YAML file in the built-in ones' form (docs/drills.md).
    #[arg(long)]
    file: Option<PathBuf>,
    /// The group to watch [default: the cluster's only group].
    #[arg(long)]
    group: Option<String>,
    /// The node to break [default: the node that runs the group].
    #[arg(long)]
    node: Option<String>,
    /// For resource-crash: the resource whose processes are killed [default: the group's
    /// first resource with a `command`].
    #[arg(long)]
    resource: Option<String>,
    /// How many rounds.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: u32,
    /// A round that takes this long or longer (fault to the last phase) fails the drill
    /// (exit 4).
    #[arg(long)]
    expect_under: Option<Millis>,
    /// How long one round may take before it counts as failed.
    #[arg(long, default_value = "60s")]
    round_timeout: Millis,
    /// How long the restore after a round may take (a crashed daemon restarted by its
    /// supervisor, the group back home).
    #[arg(long, default_value = "120s")]
    restore_timeout: Millis,
    /// Do not ask for confirmation (needed when not on a terminal).
    #[arg(long)]
    yes: bool,
    /// Run even though the checks found the cluster not ready (or another drill recorded as
    /// running).
    #[arg(long)]
    force: bool,
    /// The folder of a local cluster made by `nonstop up`: a crashed daemon is started again
    /// with `nonstop up --dir DIR` [default: ./.nonstop when `up` made it]. Without one, the
    /// node's supervisor (systemd) must restart it.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Also write the report as one self-contained HTML page.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Also write the rounds as JUnit XML, for CI systems.
    #[arg(long)]
    junit: Option<PathBuf>,
    #[command(flatten)]
    conn: ConnArgs,
}

/// A node daemon's drill service, with the operator's name (and token) on every request.
type NodeApi = DrillServiceClient<InterceptedService<Channel, User>>;

/// What a drill's exit code is when a round failed (docs/cli.md).
const FAILED: u8 = 4;
/// ... and when Ctrl-C interrupted it (after the restore).
const INTERRUPTED: u8 = 130;

/// Runs `nonstop drill run`.
pub fn run(args: RunArgs) -> ExitCode {
    let mut outcome = None;
    let code = run_async(async {
        outcome = Some(drill(args).await?);
        Ok(())
    });
    match outcome {
        Some(Outcome::Passed) => ExitCode::SUCCESS,
        Some(Outcome::Failed) => ExitCode::from(FAILED),
        Some(Outcome::Interrupted) => ExitCode::from(INTERRUPTED),
        None => code,
    }
}

enum Outcome {
    Passed,
    Failed,
    Interrupted,
}

/// What a drill works on: the cluster as the checks found it.
struct Plan {
    scenario: Scenario,
    group: String,
    resources: Vec<pb::Resource>,
    /// The node the faults are injected on (the group's owner unless --node).
    node: String,
    /// Where that node's daemon listens (for faults on the node).
    daemon: Option<String>,
    /// The resource a kill-resource fault kills.
    victim: Option<String>,
    /// The group's owner when the drill started: where it goes back to after each round.
    home: String,
    /// The nodes Up when the drill started: each round waits for them to be Up again.
    up: Vec<String>,
    /// How many controller members answered the leader when the drill started: each round
    /// waits for as many again (a member cut off or stopped catches up first).
    active: usize,
    /// A local cluster's folder (`nonstop up`), to start a crashed daemon again.
    local: Option<PathBuf>,
    /// Whether to tell each phase as it is seen (on a terminal, for people).
    progress: bool,
}

async fn drill(args: RunArgs) -> Result<Outcome, CliError> {
    let scenario =
        scenario::find(&args.scenario, args.file.as_deref()).map_err(CliError::Refused)?;
    let mut c = Client::new(&args.conn)?;
    let format = c.format;
    let mut plan = plan(&mut c, &args, scenario).await?;
    plan.progress = std::io::stderr().is_terminal() && format == Format::Table;
    confirm(&args, &plan)?;
    if let Some(a) = silenced(&plan) {
        c.try_last(a);
    }
    let id = format!("{}-{:04x}", plan.scenario.name, rand_u16());
    let begun = record(
        &mut c,
        &id,
        pb::DrillStep::Begin,
        format!(
            "{} on group {}, node {}, {} round(s)",
            plan.scenario.name, plan.group, plan.node, args.rounds
        ),
        args.force,
    )
    .await?;
    let started_at_ms = now_ms();
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = interrupted.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            tell!(
                "interrupted: restoring the cluster, then stopping (Ctrl-C again to leave it as it is)"
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(INTERRUPTED));
            }
        }
    });
    let look = Look {
        resources: plan
            .resources
            .iter()
            .filter(|r| r.properties.contains_key("command"))
            .map(|r| r.name.clone())
            .collect(),
        scope: plan
            .local
            .as_ref()
            .and_then(|d| std::fs::canonicalize(d).ok()),
        addresses: plan
            .resources
            .iter()
            .filter(|r| r.r#type == "ip-address")
            .filter_map(|r| r.properties.get("address"))
            .map(|a| a.split('/').next().unwrap_or(a).to_string())
            .collect(),
    };
    let mut rounds = Vec::new();
    // A round that cannot run (the leader will not move where the scenario wants it, a call
    // fails before the fault) ends the drill, failed, but like any other end: the cluster put
    // back, the end recorded (so that the next drill needs no --force), the report written.
    let mut aborted = None;
    for n in 1..=args.rounds {
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        match round(&mut c, &args, &plan, &look, &id, n, &interrupted).await {
            Ok(r) => {
                if plan.progress {
                    tell!("{}", round_line(&r));
                }
                rounds.push(r);
            }
            Err(e) => {
                tell!("round {n} could not run: {e}; restoring the cluster and ending the drill");
                if let Err(e) = restore(&mut c, &args, &plan).await {
                    tell!("the cluster was not restored: {e}");
                }
                aborted = Some(format!("round {n} could not run: {e}"));
                break;
            }
        }
    }
    let was_interrupted = interrupted.load(std::sync::atomic::Ordering::SeqCst);
    let summary = measure::summarize(&rounds);
    let mut verdict = measure::verdict(&rounds);
    if was_interrupted || rounds.len() < args.rounds as usize {
        verdict = Verdict::Fail;
    }
    let verdict_text = match (verdict, was_interrupted) {
        (_, true) => format!("interrupted after {} round(s)", rounds.len()),
        (Verdict::Pass, _) => format!(
            "pass: {} round(s), p50 {} ms, p99 {} ms",
            rounds.len(),
            summary.p50_ms.unwrap_or(0),
            summary.p99_ms.unwrap_or(0)
        ),
        (Verdict::Fail, _) => match &aborted {
            Some(why) => format!("fail: {why}"),
            None => format!(
                "fail: {} of {} round(s) failed",
                rounds.iter().filter(|r| !r.failures.is_empty()).count(),
                rounds.len()
            ),
        },
    };
    let ended = record(&mut c, &id, pb::DrillStep::End, verdict_text, false).await;
    let events = history(&mut c, begun.saturating_sub(1))
        .await
        .unwrap_or_default();
    let report = DrillReport {
        id,
        scenario: plan.scenario.name.clone(),
        description: plan.scenario.description.clone(),
        group: plan.group.clone(),
        node: plan.node.clone(),
        started_at_ms,
        expect_under_ms: args.expect_under.map(|m| m.0),
        outside_check: look.describe(),
        rounds,
        summary,
        verdict,
        events,
    };
    write_files(&args, &report)?;
    emit(format, &report, table)?;
    ended?;
    Ok(match (verdict, was_interrupted) {
        (_, true) => Outcome::Interrupted,
        (Verdict::Pass, _) => Outcome::Passed,
        (Verdict::Fail, _) => Outcome::Failed,
    })
}

/// Reads the cluster and checks that it can take the drill; the reasons it cannot, all at
/// once, unless --force.
async fn plan(c: &mut Client, args: &RunArgs, scenario: Scenario) -> Result<Plan, CliError> {
    let status = call!(c, status, pb::StatusRequest {})?;
    let group = match &args.group {
        Some(g) => g.clone(),
        None => match status.groups.as_slice() {
            [only] => only.name.clone(),
            [] => {
                return Err(CliError::Refused(
                    "the cluster has no group to drill".into(),
                ));
            }
            many => {
                let names: Vec<&str> = many.iter().map(|g| g.name.as_str()).collect();
                return Err(CliError::Refused(format!(
                    "--group: the cluster has {} groups ({}): name one",
                    many.len(),
                    names.join(", ")
                )));
            }
        },
    };
    let Some(g) = status.groups.iter().find(|g| g.name == group) else {
        return Err(CliError::Refused(format!(
            "--group: unknown group {group:?}"
        )));
    };
    let mut not_ready = Vec::new();
    if !status.drill.is_empty() {
        not_ready.push(format!("another drill is running: {}", status.drill));
    }
    if g.state() != pb::GroupState::Online || !g.has_owner {
        not_ready.push(format!(
            "group {group} is not Online ({})",
            crate::cli::wire::group_state(g.state)
        ));
    }
    let home = g.owner.clone();
    let node = args.node.clone().unwrap_or_else(|| home.clone());
    let Some(target) = status.nodes.iter().find(|n| n.name == node) else {
        return Err(CliError::Refused(format!("--node: unknown node {node:?}")));
    };
    let mut up = Vec::new();
    for n in status.nodes.iter().filter(|n| !n.witness && !n.evicted) {
        if n.state() == pb::NodeState::Up {
            up.push(n.name.clone());
        } else {
            not_ready.push(format!(
                "node {} is {}",
                n.name,
                crate::cli::wire::node_state(n.state)
            ));
        }
    }
    // Quorum with a member to spare: one member may go (the drill's own fault) and the rest
    // still make a majority.
    // raft forgets who is active at every election timeout and learns it again from the
    // next answers: a look at that moment sees nobody, so look a few times.
    let mut members = pb::MemberList::default();
    let mut active = 0;
    for _ in 0..5 {
        members = call!(c, list_members, pb::ListMembersRequest { local: false })?;
        active = active.max(active_voters(&members));
        if active == members.members.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let voters: Vec<&pb::MemberStatus> = members
        .members
        .iter()
        .filter(|m| m.role() != pb::MemberRole::Learner)
        .collect();
    // The leader's view may still count a member that died a moment ago: each must also
    // answer the drill itself.
    let mut answering = 0;
    for m in &voters {
        if answers(&args.conn, c.is_tls(), &m.address).await {
            answering += 1;
        }
    }
    let active = active.min(answering);
    let quorum = voters.len() / 2 + 1;
    if active < quorum + 1 {
        not_ready.push(format!(
            "{active} of {} controller members answer: a drill needs a quorum ({quorum}) with \
             one to spare",
            voters.len()
        ));
    }
    let daemon = [&target.daemon_address, &target.address]
        .into_iter()
        .find(|a| !a.is_empty())
        .cloned();
    if scenario.fault.on_node() && daemon.is_none() {
        return Err(CliError::Refused(format!(
            "node {node} has not said where its daemon listens (it registers its listen \
             address; give it `address` in cluster.yaml when it listens on a wildcard)"
        )));
    }
    if scenario.leader == Leader::Target
        && !voters.iter().any(|m| Some(&m.address) == daemon.as_ref())
    {
        return Err(CliError::Refused(format!(
            "scenario {}: node {node} must be a controller member to lead (its daemon at {} is \
             not one)",
            scenario.name,
            daemon.as_deref().unwrap_or("?")
        )));
    }
    let mut resources = Vec::new();
    for r in &g.resources {
        let name = pb::NameRequest { name: r.clone() };
        resources.push(call!(c, get_resource, name)?);
    }
    let victim = match (&args.resource, scenario.fault) {
        (Some(r), Fault::KillResource) => {
            if !g.resources.contains(r) {
                return Err(CliError::Refused(format!(
                    "--resource: {r:?} is not a resource of group {group}"
                )));
            }
            Some(r.clone())
        }
        (Some(_), _) => {
            return Err(CliError::Refused(format!(
                "--resource: scenario {} kills no resource",
                scenario.name
            )));
        }
        (None, Fault::KillResource) => Some(
            resources
                .iter()
                .find(|r| r.properties.contains_key("command"))
                .map(|r| r.name.clone())
                .ok_or_else(|| {
                    CliError::Refused(format!(
                        "group {group} has no resource with processes (a `command`) to kill"
                    ))
                })?,
        ),
        (None, _) => None,
    };
    if matches!(scenario.fault, Fault::Move | Fault::Drain)
        && !g.owners.iter().any(|o| *o != home && up.contains(o))
    {
        not_ready.push(format!("group {group} has no other owner Up to move to"));
    }
    if !not_ready.is_empty() && !args.force {
        return Err(CliError::Refused(format!(
            "the cluster is not ready for a drill: {}; --force to run anyway",
            not_ready.join("; ")
        )));
    }
    for why in &not_ready {
        tell!("warning: {why} (--force)");
    }
    let local = match &args.dir {
        Some(d) => Some(d.clone()),
        None => Some(PathBuf::from(".nonstop")).filter(|d| made_by_up(d, &node)),
    };
    if let Some(d) = &args.dir
        && !made_by_up(d, &node)
    {
        return Err(CliError::Refused(format!(
            "--dir: {} is not a local cluster's folder with node {node} (`nonstop up` writes \
             endpoints and NODE/node.yaml there)",
            d.display()
        )));
    }
    Ok(Plan {
        scenario,
        group,
        resources,
        node,
        daemon,
        victim,
        home,
        up,
        active,
        local,
        progress: false,
    })
}

/// Whether the member at `address` answers a status call within 2 s.
async fn answers(conn: &ConnArgs, tls: bool, address: &str) -> bool {
    let scheme = if tls { "https" } else { "http" };
    let mut one = conn.clone();
    one.endpoint = vec![format!("{scheme}://{address}")];
    let Ok(mut c) = Client::new(&one) else {
        return false;
    };
    let asked = tokio::time::timeout(Duration::from_secs(2), async {
        call!(c, status, pb::StatusRequest {})
    });
    matches!(asked.await, Ok(Ok(_)))
}

/// The voters the leader hears from (itself included).
fn active_voters(members: &pb::MemberList) -> usize {
    members
        .members
        .iter()
        .filter(|m| m.role() != pb::MemberRole::Learner)
        .filter(|m| m.active || m.id == members.leader_id)
        .count()
}

/// Whether `dir` holds a local cluster `nonstop up` made, with `node` in it.
fn made_by_up(dir: &Path, node: &str) -> bool {
    dir.join("endpoints").is_file() && dir.join(node).join("node.yaml").is_file()
}

/// Asks on a terminal; refuses elsewhere unless --yes.
fn confirm(args: &RunArgs, plan: &Plan) -> Result<(), CliError> {
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Refused(
            "a drill breaks things on purpose: confirm with --yes when not on a terminal".into(),
        ));
    }
    tell!(
        "Drill {} ({}): {} round(s) on group {}, node {}. Go on? [y/N]",
        plan.scenario.name,
        plan.scenario.description,
        args.rounds,
        plan.group,
        plan.node
    );
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    match answer.trim() {
        "y" | "Y" | "yes" => Ok(()),
        _ => Err(CliError::Refused("not confirmed: nothing was done".into())),
    }
}

/// Records a drill's mark; the revision it was applied at.
async fn record(
    c: &mut Client,
    id: &str,
    step: pb::DrillStep,
    text: String,
    force: bool,
) -> Result<u64, CliError> {
    let req = pb::RecordDrillRequest {
        id: id.to_string(),
        step: step as i32,
        text,
        force,
    };
    Ok(call!(c, record_drill, req)?.revision)
}

/// One round.
async fn round(
    c: &mut Client,
    args: &RunArgs,
    plan: &Plan,
    look: &Look,
    id: &str,
    n: u32,
    interrupted: &std::sync::atomic::AtomicBool,
) -> Result<Round, CliError> {
    place_leader(c, plan).await?;
    let status = call!(c, status, pb::StatusRequest {})?;
    let from = status
        .groups
        .iter()
        .find(|g| g.name == plan.group)
        .map(|g| g.owner.clone())
        .unwrap_or_default();
    // Follow the events from here on, into a shared list, from whichever member answers.
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let follower = tokio::spawn(follow(
        args.conn.clone(),
        silenced(plan).map(String::from),
        status.revision,
        seen.clone(),
    ));
    let watcher = Watcher::start(look.clone());
    let probed: Arc<Mutex<ProbeLog>> = Arc::default();
    let targets: Vec<String> = plan
        .resources
        .iter()
        .filter_map(|r| r.properties.get("check_tcp").cloned())
        .collect();
    let probe = tokio::spawn(outside::probe(targets.clone(), probed.clone()));
    let fault_text = format!(
        "round {n}: {} on {}",
        fault_words(plan.scenario.fault, plan.victim.as_deref()),
        plan.node
    );
    record(c, id, pb::DrillStep::Note, fault_text, false).await?;
    let mut failures = Vec::new();
    let fault_at_ms = match inject(c, plan, &from, id, n).await {
        Ok(at) => Some(at),
        Err(e) => {
            failures.push(format!("the fault could not be injected: {e}"));
            None
        }
    };
    let w = Watched {
        group: plan.group.clone(),
        resources: plan.resources.iter().map(|r| r.name.clone()).collect(),
        from: from.clone(),
        fault: plan.scenario.fault,
        fault_at_ms: fault_at_ms.unwrap_or(0),
    };
    // Wait for every phase the scenario names (answering only where there is a port to
    // probe), or the round's timeout.
    let expected: Vec<String> = plan
        .scenario
        .phases
        .iter()
        .filter(|p| *p != "answering" || !targets.is_empty())
        .cloned()
        .collect();
    let deadline = Instant::now() + args.round_timeout.as_duration();
    let mut phases = Vec::new();
    let mut to = None;
    let mut told: Vec<String> = Vec::new();
    if plan.progress {
        tell!(
            "round {n}: fault: {}",
            fault_words(plan.scenario.fault, plan.victim.as_deref())
        );
    }
    if fault_at_ms.is_some() {
        loop {
            let events = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
            to = owner_after(&w, &events);
            {
                let log = probed.lock().unwrap_or_else(|p| p.into_inner());
                phases = measure::phases(&w, &events, to.as_deref(), Some(&log));
            }
            if plan.progress {
                for p in &phases {
                    if !told.contains(&p.name) {
                        tell!("round {n}: {} +{} ms", p.name, p.at_ms);
                        told.push(p.name.clone());
                    }
                }
            }
            let complete = expected.iter().all(|p| phases.iter().any(|x| &x.name == p));
            if complete {
                break;
            }
            if Instant::now() >= deadline {
                failures.push(format!(
                    "the round did not complete within {}",
                    args.round_timeout
                ));
                break;
            }
            if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
                failures.push("interrupted".into());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    probe.abort();
    let events = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if fault_at_ms.is_some() {
        let log = probed.lock().unwrap_or_else(|p| p.into_inner());
        phases = measure::phases(&w, &events, to.as_deref(), Some(&log));
    }
    // Put back what the fault broke, still watched from outside: the way home is a move too.
    if let Err(e) = restore(c, args, plan).await {
        failures.push(format!("the cluster was not restored: {e}"));
    }
    follower.abort();
    let outside = watcher.stop();
    for t in &outside.twice {
        failures.push(format!("seen twice: {t}"));
    }
    let shown = Shown {
        phases,
        to,
        overlap_ms: outside.overlap_ms,
        failures,
    };
    let rules = Rules {
        expected,
        expect_under_ms: args.expect_under.map(|m| m.0),
    };
    Ok(measure::judge(n, &w, shown, &rules))
}

/// The member the round's fault silences (the target's daemon, when it is a member): the drill
/// asks the others first. Its events would reach the drill only once the fault ends, in one
/// batch with the fail-back that follows, and a call to it waits for its timeout.
fn silenced(plan: &Plan) -> Option<&str> {
    match plan.scenario.fault {
        Fault::CrashDaemon | Fault::FreezeDaemon | Fault::Partition => plan.daemon.as_deref(),
        Fault::KillResource | Fault::Move | Fault::Drain => None,
    }
}

/// Follows the cluster's events after `from` into `into`, across the death of the member that
/// serves them (the drill may have killed it): each event once (`follow::follow_events`). The
/// member at `avoid` is asked last. Ends only when a member refuses the watch outright.
async fn follow(conn: ConnArgs, avoid: Option<String>, from: u64, into: Arc<Mutex<Vec<Seen>>>) {
    let Ok(mut c) = Client::new(&conn) else {
        return;
    };
    if let Some(a) = &avoid {
        c.try_last(a);
    }
    let retry = follow::Retry {
        first: Duration::from_millis(20),
        max: Duration::from_millis(20),
    };
    let keep = |e: pb::ClusterEvent| {
        let event = serde_json::from_str(&e.json).unwrap_or(Value::Null);
        let seen = Seen {
            revision: e.revision,
            at_ms: e.at_ms,
            event,
        };
        into.lock().unwrap_or_else(|p| p.into_inner()).push(seen);
        Ok(())
    };
    let _ = follow::follow_events(&mut c, from, retry, keep, |_, _| {}).await;
}

/// The node that runs the group after the fault, by the events: the last placement, else
/// where it was.
fn owner_after(w: &Watched, events: &[Seen]) -> Option<String> {
    let placed = events.iter().rfind(|s| {
        s.at_ms >= w.fault_at_ms
            && s.event.get("event").and_then(Value::as_str) == Some("group-placed")
            && s.event.get("group").and_then(Value::as_str) == Some(&w.group)
    });
    match placed {
        Some(s) => s.event.get("to").and_then(Value::as_str).map(String::from),
        None => Some(w.from.clone()),
    }
}

fn fault_words(f: Fault, victim: Option<&str>) -> String {
    match f {
        Fault::CrashDaemon => "the daemon killed".into(),
        Fault::FreezeDaemon => "the daemon stopped".into(),
        Fault::KillResource => format!("{} killed", victim.unwrap_or("a resource")),
        Fault::Partition => "the node cut off".into(),
        Fault::Move => "the group moved".into(),
        Fault::Drain => "the node paused".into(),
    }
}

/// Moves the raft leadership where the scenario wants it, if it is not there.
async fn place_leader(c: &mut Client, plan: &Plan) -> Result<(), CliError> {
    if plan.scenario.leader == Leader::Any {
        return Ok(());
    }
    let members = call!(c, list_members, pb::ListMembersRequest { local: false })?;
    let mine = members
        .members
        .iter()
        .find(|m| Some(&m.address) == plan.daemon.as_ref())
        .map(|m| m.id);
    let leads_now = mine.is_some() && mine == Some(members.leader_id);
    let to = match plan.scenario.leader {
        Leader::Target if !leads_now => mine,
        Leader::Elsewhere if leads_now || members.leader_id == 0 => members
            .members
            .iter()
            .find(|m| Some(m.id) != mine && m.role() != pb::MemberRole::Learner && m.active)
            .map(|m| m.id),
        _ => None,
    };
    if let Some(id) = to {
        let req = pb::TransferLeaderRequest {
            to: id,
            timeout_ms: 20_000,
        };
        call!(c, transfer_leader, req)?;
        // Let every agent hear of the new leader before the fault (docs/drills.md).
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// Injects the round's fault; when it took effect (ms since the Unix epoch).
async fn inject(
    c: &mut Client,
    plan: &Plan,
    from: &str,
    id: &str,
    n: u32,
) -> Result<u64, CliError> {
    let fault = match plan.scenario.fault {
        Fault::Move => {
            let to = next_owner(c, plan, from).await?;
            let at = now_ms();
            let req = pb::MoveGroupRequest {
                group: plan.group.clone(),
                to,
            };
            call!(c, move_group, req)?;
            return Ok(at);
        }
        Fault::Drain => {
            let at = now_ms();
            call!(
                c,
                pause_node,
                pb::NameRequest {
                    name: plan.node.clone()
                }
            )?;
            return Ok(at);
        }
        Fault::CrashDaemon => dpb::Fault::CrashDaemon,
        Fault::FreezeDaemon => dpb::Fault::FreezeDaemon,
        Fault::KillResource => dpb::Fault::KillResource,
        Fault::Partition => dpb::Fault::Partition,
    };
    let req = dpb::InjectRequest {
        node: plan.node.clone(),
        fault: fault as i32,
        resource: plan.victim.clone().unwrap_or_default(),
        for_ms: plan
            .scenario
            .freeze
            .or(plan.scenario.cut)
            .map_or(0, |m| m.0),
        drill: format!("{id} round {n}"),
    };
    let address = plan.daemon.clone().unwrap_or_default();
    let mut client = node_client(c, &address).await?;
    let reply = client.inject(req).await.map_err(|s| {
        CliError::Refused(format!("node {} ({address}): {}", plan.node, s.message()))
    })?;
    Ok(reply.into_inner().at_ms)
}

/// The group's next owner after `from` that is Up, in its owner list's order.
async fn next_owner(c: &mut Client, plan: &Plan, from: &str) -> Result<String, CliError> {
    let g = call!(
        c,
        get_group,
        pb::NameRequest {
            name: plan.group.clone()
        }
    )?;
    let at = g.owners.iter().position(|o| o == from).unwrap_or(0);
    let order = g.owners.iter().cycle().skip(at + 1).take(g.owners.len());
    for o in order {
        if o != from && plan.up.contains(o) {
            return Ok(o.clone());
        }
    }
    Err(CliError::Refused(format!(
        "group {} has no other owner Up to move to",
        plan.group
    )))
}

/// A client of the node's own daemon, over the links and as the user the CLI uses.
async fn node_client(c: &Client, address: &str) -> Result<NodeApi, CliError> {
    let endpoint = c
        .links()
        .endpoint(address)
        .map_err(CliError::Refused)?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10));
    let channel = endpoint.connect().await.map_err(|e| {
        CliError::Unreachable(format!("node daemon at {address}: {}", source_chain(&e)))
    })?;
    Ok(DrillServiceClient::with_interceptor(channel, c.user()))
}

/// Puts back what the round broke and waits until the cluster is as the drill found it:
/// every node that was Up is Up, the group Online at home.
async fn restore(c: &mut Client, args: &RunArgs, plan: &Plan) -> Result<(), CliError> {
    let deadline = Instant::now() + args.restore_timeout.as_duration();
    match plan.scenario.fault {
        Fault::Drain => {
            call!(
                c,
                resume_node,
                pb::NameRequest {
                    name: plan.node.clone()
                }
            )?;
        }
        Fault::CrashDaemon => {
            if let Some(dir) = &plan.local {
                // Once the node is Down (or its daemon is gone), start it again as `up` does.
                wait_until(c, deadline, "the crashed node to be seen Down", |s| {
                    node_state(s, &plan.node) != Some(pb::NodeState::Up)
                })
                .await?;
                start_again(dir)?;
            }
        }
        _ => {}
    }
    wait_until(c, deadline, "every node to be Up again", |s| {
        plan.up
            .iter()
            .all(|n| node_state(s, n) == Some(pb::NodeState::Up))
    })
    .await?;
    // Its raft member too: an agent is back as soon as it reaches the leader, its member once
    // the leader's link to it has tried again (up to the link's longest backoff later).
    loop {
        let heard = call!(c, list_members, pb::ListMembersRequest { local: false })
            .map(|m| active_voters(&m))
            .unwrap_or(0);
        if heard >= plan.active {
            break;
        }
        if Instant::now() >= deadline {
            return Err(CliError::TimedOut(format!(
                "waited in vain for {} controller members to answer the leader again ({heard} do)",
                plan.active
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The group back home, unless it went back by itself (fail-back).
    let g = call!(
        c,
        get_group,
        pb::NameRequest {
            name: plan.group.clone()
        }
    )?;
    if g.owner != plan.home && g.moving_to != plan.home {
        let req = pb::MoveGroupRequest {
            group: plan.group.clone(),
            to: plan.home.clone(),
        };
        // A move refused because the group is already on its way is no error.
        if let Err(e) = call!(c, move_group, req) {
            tell!("warning: moving {} back to {}: {e}", plan.group, plan.home);
        }
    }
    let home = plan.home.clone();
    let group = plan.group.clone();
    wait_until(
        c,
        deadline,
        &format!("group {group} Online on {home}"),
        |s| {
            s.groups
                .iter()
                .any(|g| g.name == group && g.owner == home && g.state() == pb::GroupState::Online)
        },
    )
    .await?;
    // A moment for the agents to settle (leases renewed, reports sent) before the next fault.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

fn node_state(s: &pb::StatusReply, node: &str) -> Option<pb::NodeState> {
    s.nodes.iter().find(|n| n.name == node).map(|n| n.state())
}

/// Polls the status until `ok`, or fails at `deadline` naming what it waited for.
async fn wait_until(
    c: &mut Client,
    deadline: Instant,
    what: &str,
    ok: impl Fn(&pb::StatusReply) -> bool,
) -> Result<(), CliError> {
    loop {
        // While a member is gone, another answers; a moment without a leader is retried.
        if let Ok(s) = call!(c, status, pb::StatusRequest {})
            && ok(&s)
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CliError::TimedOut(format!("waited in vain for {what}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts a local cluster's stopped daemons again, as `nonstop up --dir DIR` does.
fn start_again(dir: &Path) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Refused(format!("cannot find this program: {e}")))?;
    let out = std::process::Command::new(exe)
        .args(["up", "--dir"])
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| CliError::Refused(format!("nonstop up --dir {}: {e}", dir.display())))?;
    if !out.status.success() {
        return Err(CliError::Refused(format!(
            "nonstop up --dir {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The events since `revision`, for the report.
async fn history(c: &mut Client, revision: u64) -> Result<Vec<EventLine>, CliError> {
    let req = pb::WatchRequest {
        from_revision: revision,
        history_only: true,
    };
    let mut stream = call!(c, watch_events, req)?;
    let mut out = Vec::new();
    while let Ok(Some(e)) = stream.message().await {
        out.push(EventLine {
            revision: e.revision,
            at_ms: e.at_ms,
            summary: if e.summary.is_empty() {
                e.json
            } else {
                e.summary
            },
        });
    }
    Ok(out)
}

/// Writes --report and --junit.
fn write_files(args: &RunArgs, report: &DrillReport) -> Result<(), CliError> {
    let write = |path: &Path, flag: &str, text: String| {
        std::fs::write(path, text)
            .map_err(|e| CliError::Refused(format!("{flag}: {}: {e}", path.display())))
    };
    if let Some(p) = &args.report {
        write(p, "--report", render::html(report))?;
    }
    if let Some(p) = &args.junit {
        write(p, "--junit", render::junit(report))?;
    }
    Ok(())
}

/// `round 3: detected +4 ms, decided +6 ms, ... total 25 ms, overlap 0 ms`.
fn round_line(r: &Round) -> String {
    let phases: Vec<String> = r
        .phases
        .iter()
        .map(|p| format!("{} +{} ms", p.name, p.at_ms))
        .collect();
    let total = r
        .total_ms
        .map(|t| format!("total {t} ms"))
        .unwrap_or_else(|| "incomplete".into());
    let mut line = format!(
        "round {}: {} -> {}: {}; {total}, overlap {} ms",
        r.round,
        r.from,
        r.to.as_deref().unwrap_or("nowhere"),
        phases.join(", "),
        r.overlap_ms
    );
    for f in &r.failures {
        line.push_str(&format!("\n  FAILED: {f}"));
    }
    line
}

/// The report for people: the rounds, then the summary per phase, then the verdict.
fn table(r: &DrillReport) -> String {
    let mut out = format!(
        "drill {} ({}) on group {}, node {}, from {}\n",
        r.id,
        r.description,
        r.group,
        r.node,
        timestamp(r.started_at_ms)
    );
    for round in &r.rounds {
        out.push_str(&round_line(round));
        out.push('\n');
    }
    let ms = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    let mut lines: Vec<[String; 5]> = r
        .summary
        .phases
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.n.to_string(),
                p.p50_ms.to_string(),
                p.p99_ms.to_string(),
                p.max_ms.to_string(),
            ]
        })
        .collect();
    lines.push([
        "total".into(),
        r.summary.completed.to_string(),
        ms(r.summary.p50_ms),
        ms(r.summary.p99_ms),
        ms(r.summary.max_ms),
    ]);
    out.push_str(&rows(
        &["PHASE (ms after the fault)", "ROUNDS", "P50", "P99", "MAX"],
        lines,
    ));
    out.push_str(&format!(
        "\noutside check: {}\nverdict: {}",
        r.outside_check,
        match r.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
        }
    ));
    out
}

/// A random number for the drill's id.
fn rand_u16() -> u16 {
    nonstop_agent::config::new_incarnation() as u16
}
