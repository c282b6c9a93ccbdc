//! The agent's lease (docs/design.md): the right to run resources, held only while a
//! majority of the controller's voting members keep acknowledging heartbeats.
//!
//! Each heartbeat goes to every member and carries the agent's own monotonic send time; each
//! member that does not suspect the node echoes it with the lease length it grants and the
//! number of voters it knows. That member's grant runs until `send time + lease`; the agent's
//! lease holds while a majority of the voters' grants do, that is until the majority-th latest
//! of them ends. Counting from the *send* time, not the receive time, is what makes the rule
//! safe: no member can have seen the heartbeat before it was sent, and the leader declares the
//! node Down only when a majority of members have not heard from it for `node_timeout`
//! (controller/src/liveness/witness.rs), which outlasts any of their grants by at least the
//! terminate time. A leader's death costs nobody their lease: the other members keep granting.
//! The struct is pure: time comes in as milliseconds on the agent's clock.

use std::collections::HashMap;

use crate::link::HeartbeatAck;

/// Whether a change to the lease flipped its validity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseChange {
    /// Still as before.
    Unchanged,
    /// It was expired (or never held) and is valid now.
    Regained,
}

/// The lease: each member's latest grant, on the agent's monotonic millisecond clock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lease {
    /// Member id -> when its grant ends.
    grants: HashMap<u64, u64>,
    /// Voting members, as the freshest acknowledgement counted them.
    voters: u32,
    /// The send time of that acknowledgement.
    freshest_ms: u64,
}

impl Lease {
    /// A lease never granted: not valid until a majority has acknowledged.
    pub fn new() -> Self {
        Lease::default()
    }

    /// Records an acknowledgement received at `now_ms`. An echo from the future
    /// (`sent_ms > now_ms`) is not trusted and changes nothing; an older acknowledgement
    /// arriving after a newer one never shortens a member's grant.
    pub fn acknowledged(&mut self, ack: &HeartbeatAck, now_ms: u64) -> LeaseChange {
        if ack.sent_ms > now_ms {
            return LeaseChange::Unchanged;
        }
        let was_valid = self.is_valid(now_ms);
        let until = ack.sent_ms.saturating_add(ack.lease.0);
        let grant = self.grants.entry(ack.member).or_insert(until);
        *grant = (*grant).max(until);
        if ack.sent_ms >= self.freshest_ms {
            self.freshest_ms = ack.sent_ms;
            self.voters = ack.voters.max(1);
        }
        if !was_valid && self.is_valid(now_ms) {
            LeaseChange::Regained
        } else {
            LeaseChange::Unchanged
        }
    }

    /// Whether the agent may run resources at `now_ms`.
    pub fn is_valid(&self, now_ms: u64) -> bool {
        self.expires_ms().is_some_and(|e| now_ms < e)
    }

    /// When it runs out (`None`: a majority never granted it): the end of the majority-th
    /// latest grant.
    pub fn expires_ms(&self) -> Option<u64> {
        let majority = self.voters as usize / 2 + 1;
        let mut ends: Vec<u64> = self.grants.values().copied().collect();
        ends.sort_unstable_by(|a, b| b.cmp(a));
        ends.get(majority - 1).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nonstop_contract::Millis;

    const LEASE: Millis = Millis(1000);

    fn ack(member: u64, voters: u32, sent_ms: u64) -> HeartbeatAck {
        HeartbeatAck {
            sent_ms,
            lease: LEASE,
            member,
            voters,
            leader: None,
            heartbeat: None,
            terminate: None,
        }
    }

    #[test]
    fn not_valid_before_the_first_acknowledgement() {
        let lease = Lease::new();
        assert!(!lease.is_valid(0));
        assert_eq!(lease.expires_ms(), None);
    }

    #[test]
    fn runs_from_the_send_time_not_the_receive_time() {
        let mut lease = Lease::new();
        // Sent at 100, acknowledged at 700: the lease still ends at 1100.
        assert_eq!(
            lease.acknowledged(&ack(1, 1, 100), 700),
            LeaseChange::Regained
        );
        assert!(lease.is_valid(1099));
        assert!(!lease.is_valid(1100));
    }

    #[test]
    fn a_late_old_acknowledgement_never_shortens_it() {
        let mut lease = Lease::new();
        lease.acknowledged(&ack(1, 1, 500), 510);
        assert_eq!(
            lease.acknowledged(&ack(1, 1, 200), 520),
            LeaseChange::Unchanged
        );
        assert_eq!(lease.expires_ms(), Some(1500));
    }

    #[test]
    fn an_acknowledgement_too_old_to_help_leaves_it_expired() {
        let mut lease = Lease::new();
        lease.acknowledged(&ack(1, 1, 0), 10);
        // At 3000, an acknowledgement of a heartbeat sent at 1500 would end at 2500: still expired.
        assert_eq!(
            lease.acknowledged(&ack(1, 1, 1500), 3000),
            LeaseChange::Unchanged
        );
        assert!(!lease.is_valid(3000));
        assert_eq!(
            lease.acknowledged(&ack(1, 1, 2900), 3000),
            LeaseChange::Regained
        );
        assert!(lease.is_valid(3000));
    }

    #[test]
    fn an_echo_from_the_future_is_ignored() {
        let mut lease = Lease::new();
        assert_eq!(
            lease.acknowledged(&ack(1, 1, 5000), 10),
            LeaseChange::Unchanged
        );
        assert!(!lease.is_valid(10));
    }

    #[test]
    fn one_member_of_three_is_not_enough() {
        let mut lease = Lease::new();
        assert_eq!(
            lease.acknowledged(&ack(1, 3, 100), 110),
            LeaseChange::Unchanged
        );
        assert!(!lease.is_valid(110));
        assert_eq!(
            lease.acknowledged(&ack(2, 3, 200), 210),
            LeaseChange::Regained
        );
        // The second-latest grant ends it: member 1's, at 1100.
        assert_eq!(lease.expires_ms(), Some(1100));
    }

    #[test]
    fn it_survives_one_member_going_quiet() {
        // The leader (member 1) dies at 300; members 2 and 3 keep acknowledging.
        let mut lease = Lease::new();
        for sent in [0, 200] {
            for m in [1, 2, 3] {
                lease.acknowledged(&ack(m, 3, sent), sent + 5);
            }
        }
        for sent in [400, 600, 800, 1000, 1200, 1400] {
            for m in [2, 3] {
                lease.acknowledged(&ack(m, 3, sent), sent + 5);
            }
            assert!(lease.is_valid(sent + 5), "at {sent}");
        }
        assert_eq!(lease.expires_ms(), Some(2400));
    }

    #[test]
    fn a_node_cut_off_with_its_own_member_loses_it() {
        // Only the local member (3) still answers after 200.
        let mut lease = Lease::new();
        for m in [1, 2, 3] {
            lease.acknowledged(&ack(m, 3, 200), 205);
        }
        for sent in [400, 600, 800, 1000, 1200] {
            lease.acknowledged(&ack(3, 3, sent), sent + 5);
        }
        assert_eq!(lease.expires_ms(), Some(1200));
        assert!(!lease.is_valid(1200));
    }
}
