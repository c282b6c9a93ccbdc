//! The agent's lease (DESIGN.md "Safety"): the right to run resources, held only while the
//! leader keeps acknowledging heartbeats.
//!
//! Each heartbeat carries the agent's own monotonic send time; the leader echoes it in the
//! acknowledgement with the lease length it grants. The lease then runs until `send time + lease`.
//! Counting from the *send* time, not the receive time, is what makes the rule safe: the leader
//! cannot have seen the heartbeat before it was sent, so its own count (`node_timeout`, started
//! no earlier than its receipt of that heartbeat) always outlasts the agent's lease by at least
//! the terminate time. The struct is pure: time comes in as milliseconds on the agent's clock.

use nonstop_resource_types::Millis;

/// Whether a change to the lease flipped its validity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseChange {
    /// Still as before.
    Unchanged,
    /// It was expired (or never held) and is valid now.
    Regained,
}

/// The lease: valid until `expires_ms`, on the agent's monotonic millisecond clock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lease {
    expires_ms: Option<u64>,
}

impl Lease {
    /// A lease never granted: not valid until the first acknowledgement.
    pub fn new() -> Self {
        Lease::default()
    }

    /// Records the acknowledgement of the heartbeat sent at `sent_ms`, granting `lease`.
    /// An echo from the future (`sent_ms > now_ms`) is not trusted and changes nothing; an older
    /// acknowledgement arriving after a newer one never shortens the lease.
    pub fn acknowledged(&mut self, sent_ms: u64, lease: Millis, now_ms: u64) -> LeaseChange {
        if sent_ms > now_ms {
            return LeaseChange::Unchanged;
        }
        let was_valid = self.is_valid(now_ms);
        let until = sent_ms.saturating_add(lease.0);
        self.expires_ms = Some(self.expires_ms.map_or(until, |e| e.max(until)));
        if !was_valid && self.is_valid(now_ms) {
            LeaseChange::Regained
        } else {
            LeaseChange::Unchanged
        }
    }

    /// Whether the agent may run resources at `now_ms`.
    pub fn is_valid(&self, now_ms: u64) -> bool {
        self.expires_ms.is_some_and(|e| now_ms < e)
    }

    /// When it runs out (`None`: never granted).
    pub fn expires_ms(&self) -> Option<u64> {
        self.expires_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Millis = Millis(1000);

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
        assert_eq!(lease.acknowledged(100, LEASE, 700), LeaseChange::Regained);
        assert!(lease.is_valid(1099));
        assert!(!lease.is_valid(1100));
    }

    #[test]
    fn a_late_old_acknowledgement_never_shortens_it() {
        let mut lease = Lease::new();
        lease.acknowledged(500, LEASE, 510);
        assert_eq!(lease.acknowledged(200, LEASE, 520), LeaseChange::Unchanged);
        assert_eq!(lease.expires_ms(), Some(1500));
    }

    #[test]
    fn an_acknowledgement_too_old_to_help_leaves_it_expired() {
        let mut lease = Lease::new();
        lease.acknowledged(0, LEASE, 10);
        // At 3000, an acknowledgement of a heartbeat sent at 1500 would end at 2500: still expired.
        assert_eq!(
            lease.acknowledged(1500, LEASE, 3000),
            LeaseChange::Unchanged
        );
        assert!(!lease.is_valid(3000));
        assert_eq!(lease.acknowledged(2900, LEASE, 3000), LeaseChange::Regained);
        assert!(lease.is_valid(3000));
    }

    #[test]
    fn an_echo_from_the_future_is_ignored() {
        let mut lease = Lease::new();
        assert_eq!(lease.acknowledged(5000, LEASE, 10), LeaseChange::Unchanged);
        assert!(!lease.is_valid(10));
    }
}
