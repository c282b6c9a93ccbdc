//! What one controller member has seen of each agent's heartbeats. Pure (time comes in); every
//! member keeps its own, whether it leads or not, and none of it is replicated.
//!
//! Leases are granted by a quorum (docs/design.md, "A group never runs on two nodes"): an agent heartbeats
//! every member, each member that does not suspect it acknowledges with a lease, and the agent
//! may run resources while a majority of the voting members' leases hold. To declare a node
//! Down the leader asks every member for its verdict; a member that finds the node silent for
//! `node_timeout` *suspects* it and grants it nothing more for a while. A majority of such
//! verdicts is needed. Any majority of leases and any majority of verdicts share a member, and
//! that member's last lease ran out `node_timeout - lease` before its verdict: so when a node is
//! declared Down its agent has already stopped, and a leader's death or an election no longer
//! costs anybody their lease.
//!
//! A member counts every node as heard at the moment it started: leases it granted in an
//! earlier life have run out by the time it could call anybody silent. Its suspicions, on the
//! other hand, must outlive a restart (a promise not to grant is only good if kept): the
//! member's [`super::SharedWitness`] writes them to a file and reads them back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One member's view.
#[derive(Debug)]
pub struct Witness {
    since: Instant,
    nodes: HashMap<String, Seen>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// The last heartbeat acknowledged with a lease.
    last: Option<Instant>,
    /// The last heartbeat of an agent that held its lease: a sign of life. An agent whose
    /// acknowledgements never reach it (a one-way partition) is heard and granted leases it
    /// never gets; it runs nothing, and must not look alive.
    alive: Option<Instant>,
    /// The lease granted with the last acknowledgement.
    granted: Duration,
    /// No grants to this node before then.
    suspected_until: Option<Instant>,
}

/// A member's answer to "is this node silent?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Silent this long: the member now suspects it.
    Silent(Duration),
    /// Heard from within the timeout (silent this long).
    Heard(Duration),
}

impl Witness {
    /// A view that starts at `now` (the member started).
    pub fn new(now: Instant) -> Self {
        Witness {
            since: now,
            nodes: HashMap::new(),
        }
    }

    /// A heartbeat from `node` arrived at `now`, sent while its agent held its lease or not
    /// (`alive`). Returns `Err(until)` when the node is suspected: nothing is granted and
    /// nothing is recorded. Otherwise records the lease granted with its acknowledgement, and
    /// when the agent held its lease, a sign of life.
    pub fn heard(
        &mut self,
        node: &str,
        now: Instant,
        lease: Duration,
        alive: bool,
    ) -> Result<(), Instant> {
        if let Some(until) = self.suspected_until(node, now) {
            return Err(until);
        }
        let seen = self.nodes.entry(node.to_string()).or_default();
        seen.last = Some(now);
        seen.granted = lease;
        if alive {
            seen.alive = Some(now);
        }
        Ok(())
    }

    /// Until when `node` is suspected, if it is at `now`.
    pub fn suspected_until(&self, node: &str, now: Instant) -> Option<Instant> {
        self.nodes
            .get(node)
            .and_then(|s| s.suspected_until)
            .filter(|&u| u > now)
    }

    /// How long `node` has given no sign of life at `now` (a heartbeat sent with its lease
    /// held), counting from this member's start at most.
    pub fn silence(&self, node: &str, now: Instant) -> Duration {
        self.ago(self.nodes.get(node).and_then(|s| s.alive), now)
    }

    /// How long since this member last granted `node` a lease, from its start at most.
    fn since_grant(&self, node: &str, now: Instant) -> Duration {
        self.ago(self.nodes.get(node).and_then(|s| s.last), now)
    }

    fn ago(&self, at: Option<Instant>, now: Instant) -> Duration {
        now.saturating_duration_since(at.unwrap_or(self.since).max(self.since))
    }

    /// Every suspicion still running at `now`, with how long it has left.
    pub fn suspicions(&self, now: Instant) -> Vec<(String, Duration)> {
        let mut out: Vec<(String, Duration)> = self
            .nodes
            .iter()
            .filter_map(|(n, s)| {
                let until = s.suspected_until.filter(|&u| u > now)?;
                Some((n.clone(), until - now))
            })
            .collect();
        out.sort();
        out
    }

    /// Suspects `node` for `left` from `now` (a suspicion read back after a restart).
    pub fn restore(&mut self, node: &str, left: Duration, now: Instant) {
        let seen = self.nodes.entry(node.to_string()).or_default();
        let until = now + left;
        seen.suspected_until = Some(seen.suspected_until.map_or(until, |u| u.max(until)));
    }

    /// Suspects `node` from `now` for `2 * node_timeout`, whatever was heard of it: its watchdog
    /// confirmed that its daemon died and what it ran is stopped, and the node's groups are
    /// about to move without waiting for its lease; no run of its agent may hold a lease
    /// meanwhile (as after a silent verdict).
    pub fn suspect(&mut self, node: &str, now: Instant, node_timeout: Duration) {
        let seen = self.nodes.entry(node.to_string()).or_default();
        let until = now + node_timeout * 2;
        seen.suspected_until = Some(seen.suspected_until.map_or(until, |u| u.max(until)));
    }

    /// Whether `node` looks silent from here alone (the leader asks the others only then).
    pub fn looks_silent(&self, node: &str, now: Instant, node_timeout: Duration) -> bool {
        self.silence(node, now) >= node_timeout
    }

    /// The verdict on `node` at `now` for a profile of `node_timeout` and `lease`. Silent means
    /// no sign of life for `node_timeout`, and at least `node_timeout - lease` past the end of
    /// the last lease this member granted (which matters when the profile just changed, and
    /// for an agent that is heard but never gets its acknowledgements). A silent verdict
    /// suspects the node for `2 * node_timeout`: longer than any leader that asked can take to
    /// commit its decision without losing its leadership. A node without a sign of life for
    /// `node_timeout` that this member still grants leases to (it is heard, without its lease)
    /// is suspected at once, so that its last grant can run out.
    pub fn verdict(
        &mut self,
        node: &str,
        now: Instant,
        node_timeout: Duration,
        lease: Duration,
    ) -> Verdict {
        let silence = self.silence(node, now);
        if silence < node_timeout {
            return Verdict::Heard(silence);
        }
        let since_grant = self.since_grant(node, now);
        let granted = self.nodes.get(node).map_or(Duration::ZERO, |s| s.granted);
        let margin = node_timeout.saturating_sub(lease);
        let suspect = |w: &mut Self| w.suspect(node, now, node_timeout);
        if since_grant < granted + margin {
            if since_grant < silence {
                suspect(self);
            }
            return Verdict::Heard(silence);
        }
        suspect(self);
        Verdict::Silent(silence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const TIMEOUT: Duration = Duration::from_millis(2000);
    const LEASE: Duration = Duration::from_millis(1000);

    #[test]
    fn a_member_counts_silence_from_its_own_start_at_most() {
        let t0 = Instant::now();
        let mut w = Witness::new(t0);
        assert_eq!(
            w.verdict("a", t0 + 1999 * MS, TIMEOUT, LEASE),
            Verdict::Heard(1999 * MS)
        );
        assert_eq!(
            w.verdict("a", t0 + 2000 * MS, TIMEOUT, LEASE),
            Verdict::Silent(TIMEOUT)
        );
    }

    #[test]
    fn heartbeats_reset_the_silence() {
        let t0 = Instant::now();
        let mut w = Witness::new(t0);
        w.heard("a", t0 + 1500 * MS, LEASE, true).unwrap();
        assert!(!w.looks_silent("a", t0 + 3499 * MS, TIMEOUT));
        assert!(w.looks_silent("a", t0 + 3500 * MS, TIMEOUT));
        assert_eq!(w.silence("a", t0 + 1600 * MS), 100 * MS);
    }

    #[test]
    fn a_silent_verdict_refuses_grants_for_twice_the_timeout() {
        let t0 = Instant::now();
        let mut w = Witness::new(t0);
        w.heard("a", t0, LEASE, true).unwrap();
        let at = t0 + 2500 * MS;
        assert_eq!(
            w.verdict("a", at, TIMEOUT, LEASE),
            Verdict::Silent(2500 * MS)
        );
        assert_eq!(
            w.heard("a", at + 10 * MS, LEASE, true),
            Err(at + 2 * TIMEOUT)
        );
        // Refused heartbeats do not count as heard.
        assert!(w.looks_silent("a", at + 100 * MS, TIMEOUT));
        assert_eq!(w.suspected_until("a", at + 2 * TIMEOUT), None);
        assert!(w.heard("a", at + 2 * TIMEOUT, LEASE, true).is_ok());
        assert_eq!(w.silence("a", at + 2 * TIMEOUT), Duration::ZERO);
    }

    #[test]
    fn suspicions_are_listed_and_restored() {
        let t0 = Instant::now();
        let mut w = Witness::new(t0);
        w.verdict("a", t0 + TIMEOUT, TIMEOUT, LEASE);
        let later = t0 + TIMEOUT + 500 * MS;
        assert_eq!(w.suspicions(later), vec![("a".to_string(), 3500 * MS)]);
        let mut fresh = Witness::new(later);
        fresh.restore("a", 3500 * MS, later);
        assert_eq!(fresh.heard("a", later, LEASE, true), Err(later + 3500 * MS));
        assert!(fresh.suspicions(later + 3500 * MS).is_empty());
    }

    #[test]
    fn a_heard_verdict_suspects_nothing() {
        let t0 = Instant::now();
        let mut w = Witness::new(t0);
        w.heard("a", t0 + 1000 * MS, LEASE, true).unwrap();
        assert_eq!(
            w.verdict("a", t0 + 1500 * MS, TIMEOUT, LEASE),
            Verdict::Heard(500 * MS)
        );
        assert!(w.heard("a", t0 + 1600 * MS, LEASE, true).is_ok());
    }

    #[test]
    fn an_agent_heard_without_its_lease_is_suspected_then_found_silent() {
        // Its heartbeats arrive, its acknowledgements never do (a one-way partition): it
        // holds no lease and says so; the member grants on, which must not keep it alive.
        let t0 = Instant::now();
        let mut w = Witness::new(t0);
        w.heard("a", t0, LEASE, true).unwrap();
        for ms in (100..=2000).step_by(100) {
            w.heard("a", t0 + ms * MS, LEASE, false).unwrap();
        }
        let at = t0 + 2000 * MS;
        assert!(w.looks_silent("a", at, TIMEOUT));
        // Silent as a sign of life, but granted a moment ago: not Silent yet, suspected.
        assert_eq!(w.verdict("a", at, TIMEOUT, LEASE), Verdict::Heard(TIMEOUT));
        assert_eq!(
            w.heard("a", at + 100 * MS, LEASE, false),
            Err(at + 2 * TIMEOUT)
        );
        // Silent once the last grant (at 2000 ms, 1 s long) ran out the margin (1 s) ago.
        let end = at + TIMEOUT;
        assert_eq!(
            w.verdict("a", end - MS, TIMEOUT, LEASE),
            Verdict::Heard(end - MS - t0)
        );
        assert_eq!(
            w.verdict("a", end, TIMEOUT, LEASE),
            Verdict::Silent(end - t0)
        );
    }

    #[test]
    fn a_longer_lease_granted_before_a_profile_change_is_waited_out() {
        let t0 = Instant::now();
        let mut w = Witness::new(t0);
        // Granted 1 s under the default profile; asked under the fast one (600/300 ms).
        w.heard("a", t0, LEASE, true).unwrap();
        let (fast_timeout, fast_lease) = (600 * MS, 300 * MS);
        assert!(matches!(
            w.verdict("a", t0 + 1000 * MS, fast_timeout, fast_lease),
            Verdict::Heard(_)
        ));
        // Silent from here, but it last heard the node with its lease: nothing is suspected
        // before the verdict says Silent.
        assert_eq!(w.suspected_until("a", t0 + 1000 * MS), None);
        assert!(matches!(
            w.verdict("a", t0 + 1300 * MS, fast_timeout, fast_lease),
            Verdict::Silent(_)
        ));
    }
}
