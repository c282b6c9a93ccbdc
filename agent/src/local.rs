//! An in-process leader: a [`ControllerLink`] backed by channels, which a test (or a single-node
//! setup) drives directly. It acknowledges heartbeats with a lease (until told to stop), streams
//! whatever desired state it is given (stale epochs included), and keeps every report it gets.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use nonstop_contract::{
    AgentReport, DesiredNode, GroupStopped, Millis, ReportMark, ResourceReport,
};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::error::{AgentError, Result};
use crate::link::{
    ControllerLink, DesiredStream, Heartbeat, HeartbeatAck, Registered, Registration,
};

/// The leader's side, for the test to drive. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LocalLeader {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    heartbeat: Millis,
    lease: Millis,
    acking: AtomicBool,
    registrations: AtomicU64,
    last_ack: Mutex<Option<(Instant, Heartbeat)>>,
    current: Mutex<Option<DesiredNode>>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<DesiredNode>>>,
    reports: Mutex<Vec<ResourceReport>>,
    stops: Mutex<Vec<GroupStopped>>,
    report_tx: broadcast::Sender<ResourceReport>,
    /// The last numbered report taken, as the real leader keeps it per node.
    last_report: Mutex<Option<ReportMark>>,
    /// How many report calls to take and then answer with an error, as a lost answer would.
    lose_answers: AtomicU64,
}

/// Locks a mutex; a poisoned one (a panicking test thread) still holds usable data.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LocalLeader {
    /// A leader that asks for a heartbeat every `heartbeat` and grants leases of `lease`.
    pub fn new(heartbeat: Millis, lease: Millis) -> Self {
        LocalLeader {
            inner: Arc::new(Inner {
                heartbeat,
                lease,
                acking: AtomicBool::new(true),
                registrations: AtomicU64::new(0),
                last_ack: Mutex::new(None),
                current: Mutex::new(None),
                subscribers: Mutex::new(Vec::new()),
                reports: Mutex::new(Vec::new()),
                stops: Mutex::new(Vec::new()),
                report_tx: broadcast::channel(4096).0,
                last_report: Mutex::new(None),
                lose_answers: AtomicU64::new(0),
            }),
        }
    }

    /// The agent's end of the link.
    pub fn link(&self) -> Arc<dyn ControllerLink> {
        Arc::new(LocalLink {
            inner: self.inner.clone(),
        })
    }

    /// Sends `d` to every subscriber, and to every later one first. Stale epochs are sent as
    /// given: rejecting them is the agent's job.
    pub fn send_desired(&self, d: DesiredNode) {
        *lock(&self.inner.current) = Some(d.clone());
        lock(&self.inner.subscribers).retain(|s| s.send(d.clone()).is_ok());
    }

    /// Stops (false) or resumes (true) acknowledging heartbeats, as a leader cut off would.
    pub fn set_acking(&self, on: bool) {
        self.inner.acking.store(on, Ordering::SeqCst);
    }

    /// When the last acknowledged heartbeat was received, and the heartbeat.
    pub fn last_ack(&self) -> Option<(Instant, Heartbeat)> {
        lock(&self.inner.last_ack).clone()
    }

    /// How many times agents registered.
    pub fn registrations(&self) -> u64 {
        self.inner.registrations.load(Ordering::SeqCst)
    }

    /// Every report received so far, in order.
    pub fn reports(&self) -> Vec<ResourceReport> {
        lock(&self.inner.reports).clone()
    }

    /// Every stop confirmation received so far, in order.
    pub fn stops(&self) -> Vec<GroupStopped> {
        lock(&self.inner.stops).clone()
    }

    /// Takes the next `n` report calls and then fails them, as when the leader committed a
    /// batch and its answer was lost: the agent sends the same batch again.
    pub fn lose_report_answers(&self, n: u64) {
        self.inner.lose_answers.store(n, Ordering::SeqCst);
    }

    /// Reports received from now on.
    pub fn subscribe_reports(&self) -> broadcast::Receiver<ResourceReport> {
        self.inner.report_tx.subscribe()
    }
}

/// The agent's end: implements [`ControllerLink`] over the leader's channels.
#[derive(Debug)]
struct LocalLink {
    inner: Arc<Inner>,
}

#[async_trait]
impl ControllerLink for LocalLink {
    async fn register(&self, _registration: Registration) -> Result<Registered> {
        self.inner.registrations.fetch_add(1, Ordering::SeqCst);
        Ok(Registered {
            heartbeat: self.inner.heartbeat,
            terminate: Millis(0),
        })
    }

    fn heartbeat(&self, heartbeat: Heartbeat) -> BoxStream<'static, Result<HeartbeatAck>> {
        // The in-process leader is the only member.
        let inner = self.inner.clone();
        let ack = move || {
            if !inner.acking.load(Ordering::SeqCst) {
                return Err(AgentError::Link("leader not acknowledging".into()));
            }
            let ack = HeartbeatAck {
                sent_ms: heartbeat.sent_ms,
                lease: inner.lease,
                member: 1,
                voters: 1,
                leader: None,
                heartbeat: None,
                terminate: None,
            };
            *lock(&inner.last_ack) = Some((Instant::now(), heartbeat));
            Ok(ack)
        };
        futures::stream::once(async move { ack() }).boxed()
    }

    async fn desired(&self, _node: &str) -> Result<DesiredStream> {
        let (tx, rx) = mpsc::unbounded_channel();
        // Holding the subscriber list while reading the current state: a concurrent
        // `send_desired` either is seen here or sends to this subscriber after.
        let mut subscribers = lock(&self.inner.subscribers);
        if let Some(d) = lock(&self.inner.current).clone() {
            let _ = tx.send(d);
        }
        subscribers.push(tx);
        drop(subscribers);
        let stream =
            futures::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|d| (Ok(d), rx)) },
            );
        Ok(Box::pin(stream))
    }

    async fn report(&self, first: ReportMark, reports: Vec<AgentReport>) -> Result<()> {
        // Each numbered report is taken once, as the leader applies it once.
        for (i, r) in reports.into_iter().enumerate() {
            let mark = first.nth(i);
            let mut last = lock(&self.inner.last_report);
            if mark.seen_by(*last) {
                continue;
            }
            *last = Some(mark);
            drop(last);
            match r {
                AgentReport::Resource(r) => {
                    let _ = self.inner.report_tx.send(r.clone());
                    lock(&self.inner.reports).push(r);
                }
                AgentReport::GroupStopped(g) => lock(&self.inner.stops).push(g),
            }
        }
        let lose = &self.inner.lose_answers;
        if lose
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(AgentError::Link("the answer was lost".into()));
        }
        Ok(())
    }
}
