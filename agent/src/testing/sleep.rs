//! A minimal real-process type (`sleep`): `online` starts `sleep` in its own process group, a
//! watcher task pushes its exit to the agent at once, `terminate` kills the whole group.
//! It records every process it started, with start and exit times, for tests and benchmarks.
//!
//! Test-only: unlike the `process` built-in, its children do not die with the agent (no
//! parent-death signal), which is exactly what the leftover test needs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use nonstop_contract::{HandlerRef, Schema, StopBound, Timings, TypeDef};
use nonstop_resource_types::handler::{HandlerError, Result};
use nonstop_resource_types::procs::ProcessGroup;
use nonstop_resource_types::{
    FailureSink, Footprint, Health, OpenContext, ResourceHandler, ResourceInstance,
};
use tokio::sync::watch;
use tokio::time::Instant;

/// One process the handler started.
#[derive(Clone, Debug)]
pub struct ProcessRecord {
    /// The resource.
    pub resource: String,
    /// Its pid (and process group id).
    pub pid: i32,
    /// When it was started.
    pub started: Instant,
    /// When its exit was seen.
    pub exited: Option<Instant>,
}

/// The `sleep` type's handler; clones share one record of processes.
#[derive(Clone, Debug)]
pub struct SleepHandler {
    def: Arc<TypeDef>,
    records: Arc<Mutex<Vec<ProcessRecord>>>,
}

impl Default for SleepHandler {
    fn default() -> Self {
        SleepHandler::new()
    }
}

impl SleepHandler {
    /// A handler for type `sleep`.
    pub fn new() -> Self {
        SleepHandler {
            def: Arc::new(TypeDef {
                name: "sleep".into(),
                handler: HandlerRef::Builtin("sleep".into()),
                schema: Schema::new(vec![]),
                timings: Timings::default(),
                description: "a sleep process, for tests".into(),
                stop: StopBound::Forced,
                reconfigures: false,
            }),
            records: Arc::default(),
        }
    }

    fn records_mut(&self) -> MutexGuard<'_, Vec<ProcessRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every process started so far.
    pub fn records(&self) -> Vec<ProcessRecord> {
        self.records_mut().clone()
    }

    /// The newest process of `resource` that has not exited.
    pub fn running(&self, resource: &str) -> Option<ProcessRecord> {
        let records = self.records_mut();
        records
            .iter()
            .rev()
            .find(|r| r.resource == resource && r.exited.is_none())
            .cloned()
    }
}

#[async_trait]
impl ResourceHandler for SleepHandler {
    fn def(&self) -> &TypeDef {
        &self.def
    }

    async fn open(&self, ctx: OpenContext) -> Result<Box<dyn ResourceInstance>> {
        Ok(Box::new(SleepInstance {
            name: ctx.resource,
            sink: ctx.failures,
            handler: self.clone(),
            marker: ctx.marker,
            child: None,
        }))
    }
}

#[derive(Debug)]
struct Child {
    group: ProcessGroup,
    pgid: i32,
    exited: watch::Receiver<bool>,
    stopping: Arc<AtomicBool>,
}

#[derive(Debug)]
struct SleepInstance {
    name: String,
    sink: FailureSink,
    handler: SleepHandler,
    marker: String,
    child: Option<Child>,
}

impl SleepInstance {
    fn alive(&self) -> bool {
        self.child.as_ref().is_some_and(|c| !*c.exited.borrow())
    }

    /// Sends `signal` to the process group and waits up to `grace` for the exit.
    async fn stop(&mut self, signal: Signal, grace: Duration) -> bool {
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        child.stopping.store(true, Ordering::SeqCst);
        // ESRCH: already gone, which is what we want.
        let _ = killpg(Pid::from_raw(child.pgid), signal);
        let gone = tokio::time::timeout(grace, child.exited.wait_for(|e| *e)).await;
        matches!(gone, Ok(Ok(_)))
    }

    fn spawn(&mut self) -> Result<()> {
        let mut cmd = tokio::process::Command::new("sleep");
        cmd.arg("100000").process_group(0).kill_on_drop(false);
        nonstop_resource_types::action::mark(&mut cmd, &self.marker);
        let mut proc = cmd.spawn().map_err(|source| HandlerError::Io {
            context: "starting sleep".into(),
            source,
        })?;
        // A pid of 0 or 1 would make killpg hit our own group or init: refuse it.
        let pid = match proc.id().map(|p| p as i32) {
            Some(pid) if pid > 1 => pid,
            _ => {
                return Err(HandlerError::Failed {
                    entry: "online",
                    reason: "sleep exited before its pid was known".into(),
                });
            }
        };
        let index = {
            let mut records = self.handler.records_mut();
            records.push(ProcessRecord {
                resource: self.name.clone(),
                pid,
                started: Instant::now(),
                exited: None,
            });
            records.len() - 1
        };
        let (tx, exited) = watch::channel(false);
        let stopping = Arc::new(AtomicBool::new(false));
        let (sink, handler, stop) = (self.sink.clone(), self.handler.clone(), stopping.clone());
        tokio::spawn(async move {
            let status = proc.wait().await;
            handler.records_mut()[index].exited = Some(Instant::now());
            tx.send_replace(true);
            if !stop.load(Ordering::SeqCst) {
                sink.fail(format!("sleep exited: {status:?}"));
            }
        });
        self.child = Some(Child {
            group: ProcessGroup::led_by(pid),
            pgid: pid,
            exited,
            stopping,
        });
        Ok(())
    }
}

#[async_trait]
impl ResourceInstance for SleepInstance {
    async fn online(&mut self) -> Result<()> {
        if self.alive() {
            return Ok(());
        }
        self.spawn()
    }

    async fn offline(&mut self) -> Result<()> {
        if !self.stop(Signal::SIGTERM, Duration::from_secs(2)).await {
            self.stop(Signal::SIGKILL, Duration::from_secs(2)).await;
        }
        self.child = None;
        Ok(())
    }

    async fn terminate(&mut self) {
        self.stop(Signal::SIGKILL, Duration::from_secs(2)).await;
        self.child = None;
    }

    async fn looks_alive(&mut self) -> Health {
        match self.alive() {
            true => Health::Alive,
            false => Health::Dead("not running".into()),
        }
    }

    async fn is_alive(&mut self) -> Health {
        self.looks_alive().await
    }

    fn footprint(&self) -> Footprint {
        match &self.child {
            Some(c) => Footprint {
                process_groups: vec![c.group.clone()],
                ..Footprint::marked(&self.marker)
            },
            None => Footprint::default(),
        }
    }
}
