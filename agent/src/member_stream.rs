//! One controller member's heartbeat stream (`AgentService.Heartbeats`): a long-lived call per
//! member that carries every heartbeat of this agent to it and every acknowledgement back, at a
//! fraction of the CPU a call per heartbeat costs both sides.
//!
//! ```text
//!  ask(hb) ──▶ waiters[seq] = reply slot ──▶ tx ──▶ request stream ──▶ member
//!  reader task ◀── acknowledgement(seq) ◀── answer stream ◀──────────────┘
//!        └──▶ waiters[seq] fulfilled; at the stream's end every waiter gets its error
//! ```
//!
//! A stream that ends (the member refused a heartbeat, restarted, or went away) is opened again
//! at the next heartbeat. A heartbeat that gets no answer within the timeout closes the stream
//! too: heartbeats queued towards a frozen member are cancelled rather than acknowledged, late,
//! when it resumes (the agent would ignore such answers; the member would count the node as
//! heard from later than it was).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nonstop_proto::agent as pb;
use nonstop_proto::agent::agent_service_client::AgentServiceClient;
use tokio::sync::{mpsc, oneshot};
use tonic::transport::Channel;

use crate::error::{AgentError, Result};

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<pb::HeartbeatAck>>>>>;

/// The heartbeat stream to one member, opened when first needed and again after it ends.
#[derive(Debug)]
pub struct MemberStream {
    addr: String,
    client: AgentServiceClient<Channel>,
    timeout: Duration,
    open: tokio::sync::Mutex<Option<Open>>,
}

/// A stream that is open: where requests go, who waits for which answer, and the task that
/// reads the answers (finished once the stream ended).
#[derive(Debug)]
struct Open {
    tx: mpsc::Sender<pb::HeartbeatRequest>,
    waiters: Waiters,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Open {
    fn drop(&mut self) {
        // Ends the call: the member stops reading what is still queued for it.
        self.reader.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemberStream {
    /// The stream to the member at `addr`, through `client`; each answer is awaited at most
    /// `timeout`.
    pub fn new(addr: &str, client: AgentServiceClient<Channel>, timeout: Duration) -> Self {
        MemberStream {
            addr: addr.to_string(),
            client,
            timeout,
            open: tokio::sync::Mutex::new(None),
        }
    }

    /// Sends `hb` and returns the member's answer to it, opening the stream first if needed.
    pub async fn ask(&self, hb: pb::HeartbeatRequest) -> Result<pb::HeartbeatAck> {
        match tokio::time::timeout(self.timeout, self.send_and_wait(hb)).await {
            Ok(answer) => answer,
            Err(_) => {
                // No answer in time: close the stream, so nothing queued reaches the member late.
                *self.open.lock().await = None;
                Err(self.error(format!(
                    "no acknowledgement within {} ms",
                    self.timeout.as_millis()
                )))
            }
        }
    }

    async fn send_and_wait(&self, hb: pb::HeartbeatRequest) -> Result<pb::HeartbeatAck> {
        let seq = hb.seq;
        let (reply_tx, reply_rx) = oneshot::channel();
        {
            let mut open = self.open.lock().await;
            if open.as_ref().is_none_or(|o| o.reader.is_finished()) {
                *open = None;
                *open = Some(self.connect().await?);
            }
            let o = open.as_ref().expect("opened just above");
            lock(&o.waiters).insert(seq, reply_tx);
            if o.tx.send(hb).await.is_err() {
                *open = None;
                return Err(self.error("the stream closed".into()));
            }
        }
        reply_rx
            .await
            .unwrap_or_else(|_| Err(self.error("the stream closed".into())))
    }

    /// Opens the call and starts the task that hands each answer to its waiter.
    async fn connect(&self) -> Result<Open> {
        let (tx, rx) = mpsc::channel::<pb::HeartbeatRequest>(8);
        let requests =
            futures::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|hb| (hb, rx)) },
            );
        let mut client = self.client.clone();
        let mut answers = client
            .heartbeats(requests)
            .await
            .map_err(|s| self.error(format!("{}: {}", s.code(), s.message())))?
            .into_inner();
        let waiters: Waiters = Arc::default();
        let (w, addr) = (waiters.clone(), self.addr.clone());
        let reader = tokio::spawn(async move {
            let why = loop {
                match answers.message().await {
                    Ok(Some(ack)) => {
                        if let Some(waiter) = lock(&w).remove(&ack.seq) {
                            let _ = waiter.send(Ok(ack));
                        }
                    }
                    Ok(None) => break "the member ended the heartbeat stream".to_string(),
                    Err(s) => break format!("{}: {}", s.code(), s.message()),
                }
            };
            for (_, waiter) in lock(&w).drain() {
                let _ = waiter.send(Err(AgentError::Link(format!("{addr}: {why}"))));
            }
        });
        Ok(Open {
            tx,
            waiters,
            reader,
        })
    }

    fn error(&self, why: String) -> AgentError {
        AgentError::Link(format!("{}: {why}", self.addr))
    }
}
