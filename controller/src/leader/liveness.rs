//! Which nodes are silent: the leader's view of agents' heartbeats. Pure (time comes in); not
//! replicated: heartbeats are not committed, only the Up and Down transitions they lead to.
//!
//! A new leader knows nothing of the heartbeats its predecessor saw, so it counts every node
//! as heard from at the moment it took over, and declares none Down before a full
//! `node_timeout` has passed (DESIGN.md's safety rule).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Last heartbeat per node, as this leader saw them.
#[derive(Debug)]
pub struct Liveness {
    since: Instant,
    node_timeout: Duration,
    last: HashMap<String, Instant>,
}

impl Liveness {
    /// Tracking that starts at `now` (this member became leader).
    pub fn new(now: Instant, node_timeout: Duration) -> Self {
        Liveness {
            since: now,
            node_timeout,
            last: HashMap::new(),
        }
    }

    /// A heartbeat from `node` arrived at `now`.
    pub fn beat(&mut self, node: &str, now: Instant) {
        self.last.insert(node.to_string(), now);
    }

    /// Changes the timeout (the timing profile changed).
    pub fn set_timeout(&mut self, node_timeout: Duration) {
        self.node_timeout = node_timeout;
    }

    /// How long `node` has been silent at `now`.
    pub fn silence(&self, node: &str, now: Instant) -> Duration {
        let last = self
            .last
            .get(node)
            .copied()
            .unwrap_or(self.since)
            .max(self.since);
        now.saturating_duration_since(last)
    }

    /// Whether `node` has been silent for longer than the node timeout.
    pub fn is_silent(&self, node: &str, now: Instant) -> bool {
        self.silence(node, now) > self.node_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_new_leader_waits_a_full_timeout_before_calling_anyone_silent() {
        let t0 = Instant::now();
        let l = Liveness::new(t0, 2000 * MS);
        assert!(!l.is_silent("a", t0 + 1999 * MS));
        assert!(!l.is_silent("a", t0 + 2000 * MS));
        assert!(l.is_silent("a", t0 + 2001 * MS));
    }

    #[test]
    fn heartbeats_reset_the_silence() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0, 2000 * MS);
        l.beat("a", t0 + 1500 * MS);
        assert!(!l.is_silent("a", t0 + 3400 * MS));
        assert!(l.is_silent("a", t0 + 3501 * MS));
        assert_eq!(l.silence("a", t0 + 1600 * MS), 100 * MS);
    }
}
