//! Per-resource timings and the restart rule (Tmax RESTART / MAXRSTART / GPERIOD, WSFC
//! RestartThreshold / RestartPeriod / RestartDelay).
//!
//! The rule is a pure function of the policy, the times of earlier restarts and the time now,
//! so the agent (which restarts at once, without a round trip to the leader) and the
//! controller's simulator reach the same decision from the same history.

use serde::{Deserialize, Serialize};

use crate::millis::{Millis, MillisRange};

const MS: u64 = 1;
const SEC: u64 = 1000 * MS;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;

/// `looks_alive` and `is_alive`: at least 10 ms apart (a check every millisecond would only
/// burn the CPU), at most an hour (a check that never comes watches nothing).
pub const CHECK_INTERVAL: MillisRange = MillisRange::new(Millis(10 * MS), Millis(HOUR));
/// `pending_timeout`: 100 ms (no online or offline takes no time at all) to 24 hours.
pub const PENDING_TIMEOUT: MillisRange = MillisRange::new(Millis(100 * MS), Millis(DAY));
/// `restart.window`: 1 s (a zero window counts no restart, so the limit never bites) to 30 days.
pub const RESTART_WINDOW: MillisRange = MillisRange::new(Millis(SEC), Millis(30 * DAY));
/// `restart.delay`: none (restart at once) to an hour.
pub const RESTART_DELAY: MillisRange = MillisRange::new(Millis(0), Millis(HOUR));

/// What to do when a resource fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartMode {
    /// Restart in place up to the limit, then leave the resource Failed.
    Restart,
    /// Restart in place up to the limit, then fail the whole group over (the default, as WSFC).
    #[default]
    RestartThenFailover,
    /// Never restart in place: fail the group over at once.
    NoRestart,
}

/// The restart rule of one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// What to do on failure.
    #[serde(default)]
    pub mode: RestartMode,
    /// At most this many restarts within `window` (Tmax MAXRSTART; `None` is unlimited, Tmax -1).
    #[serde(default = "default_limit")]
    pub limit: Option<u32>,
    /// The window the limit counts in (Tmax GPERIOD), sliding.
    #[serde(default = "default_window")]
    pub window: Millis,
    /// Wait this long before each restart (WSFC RestartDelay).
    #[serde(default = "default_delay")]
    pub delay: Millis,
}

fn default_limit() -> Option<u32> {
    Some(3)
}
fn default_window() -> Millis {
    Millis::secs(900)
}
fn default_delay() -> Millis {
    Millis(0)
}

impl Default for RestartPolicy {
    /// Three restarts in fifteen minutes, then fail over: WSFC's RestartThreshold and
    /// RestartPeriod. No delay: a process that exits is restarted at once.
    fn default() -> Self {
        RestartPolicy {
            mode: RestartMode::default(),
            limit: default_limit(),
            window: default_window(),
            delay: default_delay(),
        }
    }
}

/// What the restart rule decided about one failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartDecision {
    /// Restart in place after `delay`: this is restart number `attempt` of `limit` in the window.
    Restart {
        /// 1-based count of restarts in the window, this one included.
        attempt: u32,
        /// The limit (`None`: unlimited).
        limit: Option<u32>,
        /// Wait before restarting.
        delay: Millis,
    },
    /// No restart: the resource stays Failed; `failover` says whether the group should move.
    GiveUp {
        /// Whether the policy asks for the group to fail over.
        failover: bool,
    },
}

impl RestartPolicy {
    /// Decides what to do about a failure at `now`, given the times of earlier restarts
    /// (milliseconds on any clock that `now` shares). Restarts older than the window no longer
    /// count: the window slides.
    pub fn decide(&self, earlier: &[u64], now: u64) -> RestartDecision {
        let failover = self.mode == RestartMode::RestartThenFailover;
        if self.mode == RestartMode::NoRestart {
            return RestartDecision::GiveUp { failover: true };
        }
        let recent = Self::recent(earlier, now, self.window) as u32;
        match self.limit {
            Some(limit) if recent >= limit => RestartDecision::GiveUp { failover },
            limit => RestartDecision::Restart {
                attempt: recent + 1,
                limit,
                delay: self.delay,
            },
        }
    }

    /// How many of `times` fall within the window that ends at `now`.
    pub fn recent(times: &[u64], now: u64, window: Millis) -> usize {
        // `None` while the window reaches back past the clock's zero: then every time counts,
        // a restart at time 0 included.
        let since = now.checked_sub(window.0);
        times
            .iter()
            .filter(|&&t| since.is_none_or(|s| t > s) && t <= now)
            .count()
    }
}

/// How often a resource is checked and how long its transitions may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    /// Interval of the cheap check.
    #[serde(default = "default_looks_alive")]
    pub looks_alive: Millis,
    /// Interval of the thorough check.
    #[serde(default = "default_is_alive")]
    pub is_alive: Millis,
    /// Longest an online or offline may take before the agent terminates the resource and
    /// reports it Failed.
    #[serde(default = "default_pending")]
    pub pending_timeout: Millis,
    /// The restart rule.
    #[serde(default)]
    pub restart: RestartPolicy,
}

fn default_looks_alive() -> Millis {
    Millis::secs(1)
}
fn default_is_alive() -> Millis {
    Millis::secs(10)
}
fn default_pending() -> Millis {
    Millis::secs(180)
}

impl Timings {
    /// Checks every duration against its range; the error names the field (`looks_alive`,
    /// `restart.window`) and says why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let fields = [
            ("looks_alive", self.looks_alive, CHECK_INTERVAL),
            ("is_alive", self.is_alive, CHECK_INTERVAL),
            ("pending_timeout", self.pending_timeout, PENDING_TIMEOUT),
            ("restart.window", self.restart.window, RESTART_WINDOW),
            ("restart.delay", self.restart.delay, RESTART_DELAY),
        ];
        for (field, value, range) in fields {
            range.check(value).map_err(|why| (field, why))?;
        }
        Ok(())
    }
}

impl Default for Timings {
    /// looks_alive every second and is_alive every 10 s (WSFC: 5 s and 60 s): the checks are
    /// local and cheap, and a handler that can push failures (a watched child process) does not
    /// wait for either. Pending timeout 3 minutes, as WSFC.
    fn default() -> Self {
        Timings {
            looks_alive: default_looks_alive(),
            is_alive: default_is_alive(),
            pending_timeout: default_pending(),
            restart: RestartPolicy::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: RestartMode, limit: Option<u32>) -> RestartPolicy {
        RestartPolicy {
            mode,
            limit,
            window: Millis::secs(900),
            delay: Millis(0),
        }
    }

    #[test]
    fn i10_8_every_timing_has_a_range() {
        assert_eq!(Timings::default().check(), Ok(()));
        let t = |f: fn(&mut Timings)| {
            let mut t = Timings::default();
            f(&mut t);
            t.check()
        };
        let err = |field, why: &str| Err((field, why.to_string()));
        assert_eq!(
            t(|t| t.looks_alive = Millis(0)),
            err("looks_alive", "0s is not within 10ms..=1h")
        );
        assert_eq!(
            t(|t| t.is_alive = Millis(HOUR + 1)),
            err("is_alive", "3600001ms is not within 10ms..=1h")
        );
        assert_eq!(
            t(|t| t.pending_timeout = Millis(0)),
            err("pending_timeout", "0s is not within 100ms..=24h")
        );
        assert_eq!(
            t(|t| t.restart.window = Millis(0)),
            err("restart.window", "0s is not within 1s..=720h")
        );
        assert_eq!(
            t(|t| t.restart.delay = Millis(u64::MAX)),
            err(
                "restart.delay",
                "18446744073709551615ms is not within 0s..=1h"
            )
        );
        assert_eq!(t(|t| t.restart.delay = Millis(0)), Ok(()));
    }

    #[test]
    fn restarts_count_in_a_sliding_window() {
        let p = policy(RestartMode::RestartThenFailover, Some(3));
        let d = |earlier: &[u64], now| p.decide(earlier, now);
        assert!(matches!(
            d(&[], 1000),
            RestartDecision::Restart { attempt: 1, .. }
        ));
        assert!(matches!(
            d(&[1000, 2000], 3000),
            RestartDecision::Restart { attempt: 3, .. }
        ));
        assert_eq!(
            d(&[1000, 2000, 3000], 4000),
            RestartDecision::GiveUp { failover: true }
        );
        // The first restart slides out of the window: one more is allowed.
        let later = 1000 + 900_000;
        assert!(matches!(
            d(&[1000, 2000, 3000], later),
            RestartDecision::Restart { attempt: 3, .. }
        ));
    }

    #[test]
    fn a_restart_at_the_clocks_zero_counts() {
        let p = policy(RestartMode::Restart, Some(1));
        // A clock that starts at 0 (the agent's does) restarts at 0 when the failure is at once.
        assert_eq!(
            p.decide(&[0], 0),
            RestartDecision::GiveUp { failover: false }
        );
        assert_eq!(RestartPolicy::recent(&[0, 5], 10, Millis(100)), 2);
        assert_eq!(RestartPolicy::recent(&[0, 5], 200, Millis(100)), 0);
    }

    #[test]
    fn modes_decide_what_follows_the_limit() {
        let p = policy(RestartMode::Restart, Some(1));
        assert_eq!(
            p.decide(&[5], 6),
            RestartDecision::GiveUp { failover: false }
        );
        let p = policy(RestartMode::NoRestart, Some(10));
        assert_eq!(p.decide(&[], 6), RestartDecision::GiveUp { failover: true });
        let p = policy(RestartMode::Restart, None);
        let many: Vec<u64> = (1..=1000).collect();
        assert!(matches!(
            p.decide(&many, 1000),
            RestartDecision::Restart {
                attempt: 1001,
                limit: None,
                ..
            }
        ));
    }
}
