//! The leader's question to every voting member before it declares a node Down: "have you
//! heard from it within node_timeout?" (witness.rs says why a majority of "no" is needed).
//!
//! ```text
//!  leader ──Suspect(node)──▶ each voter (itself in-process), in parallel, each bounded
//!         ◀── silent / heard ──  decided as soon as a majority says silent, or cannot
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use nonstop_proto::agent as pb;
use nonstop_proto::agent::agent_service_client::AgentServiceClient;
use tonic::transport::Channel;

use super::SharedWitness;
use super::witness::Verdict;
use crate::store::Store;

/// How long the leader waits for one member's verdict.
const ASK_TIMEOUT: Duration = Duration::from_millis(500);

/// The tally of one question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Members that found the node silent (or, told of its confirmed stop, suspect it now).
    pub silent: usize,
    /// Voting members.
    pub voters: usize,
}

impl Tally {
    /// Whether a majority of the voters found the node silent.
    pub fn is_down(&self) -> bool {
        self.silent > self.voters / 2
    }
}

/// Asks the members; keeps one lazily connected channel per member address.
#[derive(Debug)]
pub struct Jury {
    witness: SharedWitness,
    clients: Mutex<HashMap<String, AgentServiceClient<Channel>>>,
    /// How the questions are asked: plain or TLS, from the member's own address.
    dial: nonstop_pki::Dial,
}

impl Jury {
    /// A jury whose in-process member is `witness`.
    pub fn new(witness: SharedWitness) -> Self {
        Jury {
            witness,
            clients: Mutex::new(HashMap::new()),
            dial: nonstop_pki::Dial::default(),
        }
    }

    /// The same, asking as `dial` says (TLS, the member's own address).
    pub fn dialing(mut self, dial: nonstop_pki::Dial) -> Self {
        self.dial = dial;
        self
    }

    /// Asks every voter about `node`, stopping once the outcome is known.
    pub async fn ask<S: Store>(
        &self,
        store: &S,
        node: &str,
        node_timeout: Duration,
        lease: Duration,
    ) -> Option<Tally> {
        self.poll(store, node, node_timeout, lease, false).await
    }

    /// Tells every voter that `node`'s watchdog confirmed its stop: each suspects it at once
    /// (grants it nothing for `2 * node_timeout`). The tally counts those that did; a majority
    /// is needed before the node may be declared Down on that word.
    pub async fn confirm<S: Store>(
        &self,
        store: &S,
        node: &str,
        node_timeout: Duration,
        lease: Duration,
    ) -> Option<Tally> {
        self.poll(store, node, node_timeout, lease, true).await
    }

    async fn poll<S: Store>(
        &self,
        store: &S,
        node: &str,
        node_timeout: Duration,
        lease: Duration,
        confirmed_stop: bool,
    ) -> Option<Tally> {
        let members = store.members().await.ok()?;
        let me = store.member_id();
        let voters: Vec<_> = members.into_iter().filter(|m| m.voter).collect();
        let mut tally = Tally {
            silent: 0,
            voters: voters.len().max(1),
        };
        let req = pb::SuspectRequest {
            node: node.to_string(),
            node_timeout_ms: node_timeout.as_millis() as u64,
            lease_ms: lease.as_millis() as u64,
            confirmed_stop,
        };
        let mut asks = FuturesUnordered::new();
        for m in voters.iter().filter(|m| m.id != me) {
            let (client, req) = (self.client(&m.address), req.clone());
            asks.push(async move {
                let mut client = client?;
                let r = tokio::time::timeout(ASK_TIMEOUT, client.suspect(req)).await;
                r.ok()?.ok().map(|r| r.into_inner().silent)
            });
        }
        if confirmed_stop {
            self.witness.suspect(node, node_timeout);
            tally.silent += 1;
        } else if self.local_verdict(node, node_timeout, lease) {
            tally.silent += 1;
        }
        let mut unanswered = asks.len();
        while !tally.is_down() && tally.silent + unanswered > tally.voters / 2 {
            let Some(answer) = asks.next().await else {
                break;
            };
            unanswered -= 1;
            if answer == Some(true) {
                tally.silent += 1;
            }
        }
        Some(tally)
    }

    fn local_verdict(&self, node: &str, node_timeout: Duration, lease: Duration) -> bool {
        matches!(
            self.witness.verdict(node, node_timeout, lease),
            Verdict::Silent(_)
        )
    }

    fn client(&self, address: &str) -> Option<AgentServiceClient<Channel>> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(address) {
            return Some(c.clone());
        }
        let endpoint = self
            .dial
            .endpoint(address)
            .ok()?
            .connect_timeout(ASK_TIMEOUT)
            .timeout(ASK_TIMEOUT)
            // A connection a partition killed silently is found and replaced (agent/src/grpc.rs).
            .http2_keep_alive_interval(Duration::from_secs(1))
            .keep_alive_timeout(ASK_TIMEOUT)
            .keep_alive_while_idle(true);
        let client = AgentServiceClient::new(self.dial.connect_lazy(&endpoint));
        clients.insert(address.to_string(), client.clone());
        Some(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_majority_of_voters_is_needed() {
        let t = |silent, voters| Tally { silent, voters }.is_down();
        assert!(t(1, 1));
        assert!(!t(1, 2));
        assert!(t(2, 2));
        assert!(!t(1, 3));
        assert!(t(2, 3));
        assert!(!t(2, 4));
        assert!(t(3, 5));
    }
}
