//! The two tasks that talk to the leader for the main loop, so that a slow or broken link never
//! blocks it (the lease timer lives there): heartbeats, and the desired-state subscription.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use nonstop_contract::DesiredNode;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::error::AgentError;
use crate::event::AgentEvent;
use crate::link::{ControllerLink, Heartbeat, HeartbeatAck};
use crate::runtime::Shared;

/// A desired-state item, tagged with the subscription it came from.
pub type Tagged = (u64, DesiredNode);

/// Sends a heartbeat every `every` (to every member), each in its own task so that one that
/// hangs never delays the next; acknowledgements go to the main loop as they arrive. Each
/// heartbeat says whether the lease (`lease`, the main loop's view) held when it was sent.
pub async fn heartbeats(
    shared: Arc<Shared>,
    link: Arc<dyn ControllerLink>,
    every: Duration,
    lease: watch::Receiver<bool>,
    acks: mpsc::UnboundedSender<HeartbeatAck>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight = JoinSet::new();
    for seq in 1u64.. {
        tokio::select! {
            _ = tick.tick() => {
                let hb = Heartbeat {
                    node: shared.config.node.clone(),
                    seq,
                    sent_ms: shared.clock.now_ms(),
                    holds_lease: *lease.borrow(),
                };
                let (link, acks) = (link.clone(), acks.clone());
                // An acknowledgement later than this is worth nothing to any usual lease.
                let limit = every * 10;
                in_flight.spawn(async move {
                    let mut answers = link.heartbeat(hb);
                    let deadline = tokio::time::Instant::now() + limit;
                    loop {
                        match tokio::time::timeout_at(deadline, answers.next()).await {
                            Ok(Some(Ok(ack))) => {
                                tracing::trace!(member = ack.member, seq, "acknowledged");
                                let _ = acks.send(ack);
                            }
                            Ok(Some(Err(e))) => tracing::debug!("heartbeat failed: {e}"),
                            Ok(None) => return,
                            Err(_) => return tracing::debug!("heartbeat unanswered"),
                        }
                    }
                });
            }
            Some(_) = in_flight.join_next() => {}
        }
    }
}

/// Subscribes to the desired state and forwards every item tagged with `generation`;
/// subscribes again after an error or the end of the stream: at once the first time, then
/// after pauses that double from 5 ms up to the configured `retry` (a leader that died is
/// replaced within milliseconds when its watchdog has a follower campaign at once, and the
/// backup must hear the new leader's decisions just as soon). A desired state refused for a
/// field that cannot be right is logged with the field and not forwarded: the agent keeps
/// following the one it had, and the stream goes on (its next item is again the node's whole
/// desired state).
pub async fn follow_desired(
    link: Arc<dyn ControllerLink>,
    shared: Arc<Shared>,
    generation: u64,
    tx: mpsc::UnboundedSender<Tagged>,
) {
    let first_pause = Duration::from_millis(5);
    let mut pause = Duration::ZERO;
    loop {
        match link.desired(&shared.config.node).await {
            Ok(mut stream) => {
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(d) => {
                            pause = Duration::ZERO;
                            if tx.send((generation, d)).is_err() {
                                return;
                            }
                        }
                        Err(AgentError::DesiredRefused(e)) => {
                            tracing::error!(
                                field = %e.field,
                                reason = %e.reason,
                                "desired state refused: keeping the one followed until now"
                            );
                            shared.event(AgentEvent::DesiredRefused {
                                field: e.field,
                                reason: e.reason,
                            });
                        }
                        Err(e) => {
                            tracing::warn!("desired-state stream failed: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("desired-state subscription failed: {e}"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).clamp(first_pause, shared.config.retry.max(first_pause));
    }
}
