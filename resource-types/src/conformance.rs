//! The conformance suite every resource handler must pass, built-in or plug-in (openraft's
//! `Suite::test_all`, resource-agents' `ocf-tester`). `nonstop type test` runs it on a machine;
//! the crate's tests run it on every built-in type.
//!
//! It checks what the agent relies on: online twice is fine, offline when offline is fine,
//! looks_alive after offline says Dead, terminate never fails, and terminate after a hung
//! online cleans up (for types where a hang can be provoked).

use nonstop_contract::schema::Properties;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use crate::handler::{
    Failure, FailureSink, Footprint, Health, OpenContext, ResourceHandler, ResourceInstance,
};

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked (`online twice is fine`).
    pub name: &'static str,
    /// Whether it held.
    pub passed: bool,
    /// What went wrong, or what was seen.
    pub detail: String,
    /// How long the entry points it called took.
    pub took: Duration,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed { "pass" } else { "FAIL" };
        write!(
            f,
            "{verdict}  {:>8.1} ms  {}",
            self.took.as_secs_f64() * 1e3,
            self.name
        )?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// Every check of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// In the order they ran.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// The checks that failed.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.passed).collect()
    }
}

/// The suite for one handler and one set of properties.
#[derive(Debug)]
pub struct Suite<'a> {
    handler: &'a dyn ResourceHandler,
    props: Properties,
    data_dir: PathBuf,
    step_limit: Duration,
    hang: Option<Properties>,
    report: Report,
}

type Instance = Box<dyn ResourceInstance>;

impl<'a> Suite<'a> {
    /// A suite that opens resources of `handler` with `props`, using `data_dir` (which exists).
    /// Each entry point may take at most 30 s.
    pub fn new(handler: &'a dyn ResourceHandler, props: Properties, data_dir: PathBuf) -> Self {
        Suite {
            handler,
            props,
            data_dir,
            step_limit: Duration::from_secs(30),
            hang: None,
            report: Report::default(),
        }
    }

    /// Bounds each entry point (a check that runs past it fails).
    pub fn step_limit(mut self, limit: Duration) -> Self {
        self.step_limit = limit;
        self
    }

    /// Properties with which `online` hangs: adds the check that terminate after a hung
    /// online stops everything.
    pub fn hung_online(mut self, props: Properties) -> Self {
        self.hang = Some(props);
        self
    }

    /// Runs every check and returns them all; never panics on a handler's misbehaviour.
    pub async fn test_all(mut self) -> Report {
        let (tx, mut failures) = mpsc::unbounded_channel();
        let data_dir = self.data_dir.clone();
        let ctx = |props: &Properties| OpenContext {
            resource: "conformance".into(),
            properties: props.clone(),
            data_dir: data_dir.clone(),
            failures: FailureSink::new("conformance", tx.clone()),
            marker: crate::procs::new_marker(),
        };
        let start = Instant::now();
        let opened = self.handler.open(ctx(&self.props)).await;
        match opened {
            Ok(mut r) => {
                self.record("open accepts the properties", start, Ok(()));
                self.lifecycle(&mut r).await;
                r.close().await;
            }
            Err(e) => self.record("open accepts the properties", start, Err(e.to_string())),
        }
        self.no_failure_pushed(&mut failures);
        if let Some(hang) = self.hang.take() {
            let opened = self.handler.open(ctx(&hang)).await;
            self.hung_online_check(opened.map_err(|e| e.to_string()))
                .await;
        }
        self.report
    }

    /// A handler pushes failures only for resources that should run and stopped by themselves,
    /// never for a deliberate offline or terminate: the run must have pushed none.
    fn no_failure_pushed(&mut self, failures: &mut mpsc::UnboundedReceiver<Failure>) {
        let t = Instant::now();
        let mut pushed = Vec::new();
        while let Ok(f) = failures.try_recv() {
            pushed.push(f.reason);
        }
        let res = if pushed.is_empty() {
            Ok(())
        } else {
            Err(format!("pushed: {}", pushed.join("; ")))
        };
        self.record("no failure pushed while it should run", t, res);
    }

    async fn lifecycle(&mut self, r: &mut Instance) {
        let t = Instant::now();
        let intent = r.intent();
        let res = self.online_and_alive(r).await;
        self.record("online brings it up and looks_alive says Alive", t, res);
        let t = Instant::now();
        let res = covers(&intent, &r.footprint());
        self.record(
            "the intent recorded before online covers what it left",
            t,
            res,
        );
        let t = Instant::now();
        let res = self.health(r.is_alive()).await.and_then(expect_alive);
        self.record("is_alive after online says Alive", t, res);
        let t = Instant::now();
        let before = r.footprint();
        let mut res = self.online_and_alive(r).await;
        if res.is_ok() && r.footprint() != before {
            res = Err(format!(
                "footprint changed: {before:?} -> {:?}",
                r.footprint()
            ));
        }
        self.record("online twice is fine (no second copy)", t, res);
        self.offline_checks(r).await;
        let t = Instant::now();
        let res = self.online_and_alive(r).await;
        self.record("online after offline works", t, res);
        self.terminate_checks(r).await;
    }

    async fn offline_checks(&mut self, r: &mut Instance) {
        let t = Instant::now();
        let res = self.step(r.offline()).await;
        self.record("offline takes it down", t, res);
        let t = Instant::now();
        let res = self.health(r.looks_alive()).await.and_then(expect_dead);
        self.record("looks_alive after offline says Dead", t, res);
        let t = Instant::now();
        let res = self.step(r.offline()).await;
        self.record("offline when offline is fine", t, res);
    }

    async fn terminate_checks(&mut self, r: &mut Instance) {
        let t = Instant::now();
        let res = self.terminated(r).await;
        self.record("terminate stops it", t, res);
        let t = Instant::now();
        let res = self.terminated(r).await;
        self.record("terminate when stopped never fails", t, res);
    }

    /// Terminates and checks that nothing is left: looks_alive Dead, footprint empty, no
    /// process carrying the marker.
    async fn terminated(&self, r: &mut Instance) -> Result<(), String> {
        let marker = r.intent().marker;
        self.bounded(r.terminate()).await?;
        self.health(r.looks_alive()).await.and_then(expect_dead)?;
        let left = r.footprint();
        if !left.is_empty() {
            return Err(format!("footprint left after terminate: {left:?}"));
        }
        let markers: std::collections::BTreeSet<&str> = marker.as_deref().into_iter().collect();
        let running = crate::procs::marked(&markers);
        if running.is_empty() {
            Ok(())
        } else {
            Err(format!("processes left after terminate: {running:?}"))
        }
    }

    async fn hung_online_check(&mut self, opened: Result<Instance, String>) {
        const NAME: &str = "terminate after a hung online stops it";
        let t = Instant::now();
        let mut r = match opened {
            Ok(r) => r,
            Err(e) => return self.record(NAME, t, Err(format!("open: {e}"))),
        };
        // A short bound: the point is that online does not finish, and is dropped mid-way.
        let hang = Duration::from_millis(500).min(self.step_limit);
        let res = match tokio::time::timeout(hang, r.online()).await {
            Ok(done) => Err(format!("online did not hang (returned {done:?})")),
            Err(_) => self.terminated(&mut r).await,
        };
        r.close().await;
        self.record(NAME, t, res);
    }

    async fn online_and_alive(&self, r: &mut Instance) -> Result<(), String> {
        self.step(r.online()).await?;
        self.health(r.looks_alive()).await.and_then(expect_alive)
    }

    async fn step<F>(&self, f: F) -> Result<(), String>
    where
        F: Future<Output = crate::handler::Result<()>>,
    {
        self.bounded(f).await?.map_err(|e| e.to_string())
    }

    async fn health<F: Future<Output = Health>>(&self, f: F) -> Result<Health, String> {
        self.bounded(f).await
    }

    async fn bounded<T, F: Future<Output = T>>(&self, f: F) -> Result<T, String> {
        tokio::time::timeout(self.step_limit, f)
            .await
            .map_err(|_| format!("did not return within {:?}", self.step_limit))
    }

    fn record(&mut self, name: &'static str, started: Instant, res: Result<(), String>) {
        self.report.checks.push(Check {
            name,
            passed: res.is_ok(),
            detail: res.err().unwrap_or_default(),
            took: started.elapsed(),
        });
    }
}

/// Whether `intent` (recorded before online) names everything `left` (after online) records:
/// the same marker, the same addresses and commands, and process groups whose leaders carry
/// the marker (their numbers cannot be known before they start).
fn covers(intent: &Footprint, left: &Footprint) -> Result<(), String> {
    if left.marker.is_some() && left.marker != intent.marker {
        return Err(format!("marker {:?} not in the intent", left.marker));
    }
    if let Some(a) = left
        .addresses
        .iter()
        .find(|a| !intent.addresses.contains(a))
    {
        return Err(format!("address {a:?} not in the intent"));
    }
    if let Some(c) = left
        .cleanup_commands
        .iter()
        .find(|c| !intent.cleanup_commands.contains(c))
    {
        return Err(format!("cleanup command {c:?} not in the intent"));
    }
    let markers: std::collections::BTreeSet<&str> = intent.marker.as_deref().into_iter().collect();
    let marked: Vec<i32> = crate::procs::marked(&markers)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    match left
        .process_groups
        .iter()
        .find(|g| !marked.contains(&g.pgid))
    {
        Some(g) => Err(format!(
            "process group {} does not carry the marker",
            g.pgid
        )),
        None => Ok(()),
    }
}

fn expect_alive(h: Health) -> Result<(), String> {
    match h {
        Health::Alive => Ok(()),
        Health::Dead(why) => Err(format!("expected Alive, got Dead: {why}")),
    }
}

fn expect_dead(h: Health) -> Result<(), String> {
    match h {
        Health::Dead(_) => Ok(()),
        Health::Alive => Err("expected Dead, got Alive".into()),
    }
}
