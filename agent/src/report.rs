//! Reports: every resource transition becomes a [`ResourceReport`] stamped with the wall clock,
//! queued without blocking the group that made it, and delivered to the leader in order.

use std::sync::Arc;
use std::time::Duration;

use nonstop_contract::{
    AgentReport, GroupStopped, ReportMark, ResourceReport, ResourceState, RestartCount,
};
use tokio::sync::{broadcast, mpsc};

use crate::clock::wall_ms;
use crate::link::ControllerLink;

/// Where group tasks send their transitions. Cheap to clone; never blocks.
#[derive(Clone, Debug)]
pub struct Reporter {
    tx: mpsc::UnboundedSender<AgentReport>,
    /// Every report is also published here, for whoever watches the agent locally.
    local: broadcast::Sender<ResourceReport>,
}

/// One transition, before it is stamped.
#[derive(Clone, Debug, Default)]
pub struct Transition {
    /// The new state.
    pub state: ResourceState,
    /// Set when it is a restart in place.
    pub restart: Option<RestartCount>,
    /// Set when the agent gave up restarting.
    pub gave_up: bool,
    /// Why, when something went wrong.
    pub message: Option<String>,
}

impl Reporter {
    /// A reporter and the receiving end the forwarder drains.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<AgentReport>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (local, _) = broadcast::channel(4096);
        (Reporter { tx, local }, rx)
    }

    /// Reports `resource` of `group` (under `epoch`) entering `t.state`, stamped now.
    pub fn report(&self, group: &str, epoch: u64, resource: &str, t: Transition) {
        let report = ResourceReport {
            resource: resource.to_string(),
            group: group.to_string(),
            epoch,
            state: t.state,
            restart: t.restart,
            gave_up: t.gave_up,
            message: t.message,
            at_ms: wall_ms(),
        };
        tracing::debug!(?report, "resource transition");
        let _ = self.local.send(report.clone());
        // The forwarder only stops when the agent stops; a report made then has nowhere to go.
        let _ = self.tx.send(AgentReport::Resource(report));
    }

    /// Confirms that every resource of `group` (under `epoch`) is stopped, for the move `stop`.
    pub fn group_stopped(&self, group: &str, epoch: u64, stop: u64) {
        tracing::debug!(%group, epoch, stop, "group stopped for a move");
        let _ = self.tx.send(AgentReport::GroupStopped(GroupStopped {
            group: group.to_string(),
            epoch,
            stop,
            at_ms: wall_ms(),
        }));
    }

    /// The local broadcast every report is published on.
    pub fn local(&self) -> broadcast::Sender<ResourceReport> {
        self.local.clone()
    }
}

/// Delivers queued reports to the leader in order, retrying a failed batch after pauses that
/// double from 5 ms up to `retry`, until
/// every sender is gone. Reports are numbered in the order they are sent, from 1 in this run of
/// the agent (`incarnation`, never 0): a batch sent again keeps its numbers, so that the leader
/// applies it once even when the first try was committed and only its answer was lost.
pub async fn forward(
    link: Arc<dyn ControllerLink>,
    mut rx: mpsc::UnboundedReceiver<AgentReport>,
    retry: Duration,
    incarnation: u64,
) {
    let incarnation = incarnation.max(1);
    let mut next = 1u64;
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let first = ReportMark {
            incarnation,
            seq: next,
        };
        next += batch.len() as u64;
        let mut tries = 0u32;
        while let Err(e) = link.report(first, batch.clone()).await {
            // Once per batch at warn level: a leader away for a while must not flood the log.
            if tries == 0 {
                tracing::warn!("{} reports not delivered, retrying: {e}", batch.len());
            } else {
                tracing::debug!("reports still not delivered: {e}");
            }
            // From 5 ms, doubling up to `retry`: right after a leader change the new one is
            // there within milliseconds, and a fail-over is measured up to this report.
            let pause = Duration::from_millis(5) * 2u32.pow(tries.min(10));
            tries = tries.saturating_add(1);
            tokio::time::sleep(pause.min(retry)).await;
        }
        batch.clear();
    }
}
