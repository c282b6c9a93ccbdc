//! Cluster time: milliseconds since the Unix epoch, stamped on each command by the member that
//! proposes it. The database never reads a clock; it trusts the stamp, so replaying the log gives
//! the same state on every member.

use serde::{Deserialize, Serialize};
use std::fmt;

use nonstop_contract::Millis;

/// A point in cluster time, in milliseconds since the Unix epoch (UTC).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    /// The wall clock now. Only the member that proposes a command reads it; `apply` and
    /// `plan` take time as an argument.
    pub fn now() -> Time {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Time(d.as_millis() as u64)
    }

    /// This time plus a span.
    pub fn plus(self, d: Millis) -> Time {
        Time(self.0.saturating_add(d.0))
    }

    /// The span from `earlier` to this time (zero if `earlier` is later).
    pub fn since(self, earlier: Time) -> Millis {
        Millis(self.0.saturating_sub(earlier.0))
    }

    /// The hour of day (0..24) at this time, shifted by `offset_minutes` from UTC.
    pub fn hour_of_day(self, offset_minutes: i32) -> u8 {
        let minutes = (self.0 / 60_000) as i64 + offset_minutes as i64;
        (minutes.rem_euclid(24 * 60) / 60) as u8
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}", Millis(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_of_day_honours_the_offset() {
        let t = Time(3_600_000 * 25 + 60_000 * 30); // day 2, 01:30 UTC
        assert_eq!(t.hour_of_day(0), 1);
        assert_eq!(t.hour_of_day(9 * 60), 10); // KST
        assert_eq!(t.hour_of_day(-2 * 60), 23);
    }
}
