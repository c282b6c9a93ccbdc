//! The watchdog's decisions, pure: given what it knows (the lease's last deadline, whether it
//! fenced for it, whether the daemon is gone), the time and what just happened, what to do next.
//! The I/O loop in the parent module only reads lines, sleeps and fences as told.

/// What happened while the watchdog waited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The daemon wrote a line: the lease's end in CLOCK_MONOTONIC milliseconds, or `none`.
    Line(String),
    /// The daemon's end of the pipe closed: it is gone (exited, or killed).
    Eof,
    /// The wait ran to its end (the deadline it was told to wait until).
    Timeout,
}

/// What the watchdog does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Wait for the next line until that instant (CLOCK_MONOTONIC ms), or with no limit.
    Wait(Option<u64>),
    /// Clean up everything the agent started: the lease ran out (`late_ms` after its end), or
    /// the daemon died holding it (`daemon_gone`: at once, however much of the lease is left,
    /// and then tell the members). Afterwards ask [`Watch::next`] what to do.
    Fence {
        /// The lease's end it fences for.
        deadline: u64,
        /// How long after it the decision was taken (0 when before it).
        late_ms: u64,
        /// The daemon is gone: nothing will start anything on this node any more, so once the
        /// clean-up is complete the members may be told that the node runs nothing.
        daemon_gone: bool,
    },
    /// A line that means nothing: log it, then ask [`Watch::next`] (it changes nothing).
    Ignore(String),
    /// Nothing is left to guard: exit.
    Exit,
}

/// The watchdog's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watch {
    /// The lease's end as last told; `None`: no lease, nothing to guard.
    deadline: Option<u64>,
    /// Whether it already fenced for this deadline (fence once per deadline).
    fenced: bool,
    /// Whether the daemon is gone (no new deadline will come).
    eof: bool,
}

impl Watch {
    /// A watchdog told nothing yet.
    pub fn new() -> Self {
        Watch::default()
    }

    /// Decides what `event`, happening at `now` (CLOCK_MONOTONIC ms), calls for.
    pub fn on(&mut self, event: Event, now: u64) -> Action {
        match event {
            Event::Line(line) => self.line(&line, now),
            Event::Eof => {
                self.eof = true;
                match self.deadline {
                    // The daemon died holding a lease: no need to wait for its end, nobody
                    // will renew it.
                    Some(d) if !self.fenced => {
                        self.fenced = true;
                        Action::Fence {
                            deadline: d,
                            late_ms: now.saturating_sub(d),
                            daemon_gone: true,
                        }
                    }
                    _ => self.next(),
                }
            }
            Event::Timeout => self.check(now),
        }
    }

    /// What to do when no event calls for anything (after a fence, or an ignored line).
    pub fn next(&self) -> Action {
        match (self.deadline, self.fenced, self.eof) {
            (Some(d), false, _) => Action::Wait(Some(d)),
            (_, _, true) => Action::Exit,
            _ => Action::Wait(None),
        }
    }

    fn line(&mut self, line: &str, now: u64) -> Action {
        let line = line.trim();
        let told = if line == "none" {
            None
        } else {
            match line.parse::<u64>() {
                Ok(ms) => Some(ms),
                Err(_) => {
                    return Action::Ignore(format!(
                        "ignoring {line:?}: expected milliseconds of CLOCK_MONOTONIC or \"none\""
                    ));
                }
            }
        };
        if told != self.deadline {
            self.deadline = told;
            self.fenced = false;
        }
        self.check(now)
    }

    /// Fences when the deadline has passed and it has not fenced for it yet.
    fn check(&mut self, now: u64) -> Action {
        match self.deadline {
            Some(d) if !self.fenced && now >= d => {
                self.fenced = true;
                Action::Fence {
                    deadline: d,
                    late_ms: now - d,
                    daemon_gone: self.eof,
                }
            }
            _ => self.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Event {
        Event::Line(s.to_string())
    }

    #[test]
    fn waits_until_the_deadline_then_fences_once() {
        let mut w = Watch::new();
        assert_eq!(w.next(), Action::Wait(None));
        assert_eq!(w.on(line("1000"), 900), Action::Wait(Some(1000)));
        // Woken early (a spurious wake-up): keep waiting.
        assert_eq!(w.on(Event::Timeout, 999), Action::Wait(Some(1000)));
        let fence = w.on(Event::Timeout, 1003);
        assert_eq!(
            fence,
            Action::Fence {
                deadline: 1000,
                late_ms: 3,
                daemon_gone: false
            }
        );
        assert_eq!(w.next(), Action::Wait(None));
        assert_eq!(w.on(Event::Timeout, 2000), Action::Wait(None));
        // The same deadline again (the daemon resumed and repeats itself): no second fence.
        assert_eq!(w.on(line("1000"), 2001), Action::Wait(None));
    }

    #[test]
    fn a_new_deadline_rearms_it() {
        let mut w = Watch::new();
        w.on(line("1000"), 900);
        assert!(matches!(w.on(Event::Timeout, 1000), Action::Fence { .. }));
        assert_eq!(w.on(line("5000"), 4000), Action::Wait(Some(5000)));
        assert_eq!(
            w.on(Event::Timeout, 5200),
            Action::Fence {
                deadline: 5000,
                late_ms: 200,
                daemon_gone: false
            }
        );
    }

    #[test]
    fn a_later_deadline_before_the_first_one_postpones_the_fence() {
        let mut w = Watch::new();
        w.on(line("1000"), 900);
        assert_eq!(w.on(line("1200"), 950), Action::Wait(Some(1200)));
        assert_eq!(w.on(Event::Timeout, 1100), Action::Wait(Some(1200)));
    }

    #[test]
    fn a_deadline_already_past_fences_at_once() {
        let mut w = Watch::new();
        assert_eq!(
            w.on(line("1000"), 1500),
            Action::Fence {
                deadline: 1000,
                late_ms: 500,
                daemon_gone: false
            }
        );
    }

    #[test]
    fn none_disarms_and_eof_after_none_exits_at_once() {
        let mut w = Watch::new();
        w.on(line("1000"), 900);
        assert_eq!(w.on(line("none"), 950), Action::Wait(None));
        assert_eq!(w.on(Event::Timeout, 5000), Action::Wait(None));
        assert_eq!(w.on(Event::Eof, 5000), Action::Exit);
    }

    #[test]
    fn eof_before_any_line_exits() {
        assert_eq!(Watch::new().on(Event::Eof, 10), Action::Exit);
    }

    #[test]
    fn eof_with_a_lease_fences_at_once_for_a_report_and_exits() {
        let mut w = Watch::new();
        w.on(line("1000"), 900);
        // The daemon died 80 ms before its lease's end: nobody can renew it, and what it
        // started is cleaned up now, not when the lease runs out.
        assert_eq!(
            w.on(Event::Eof, 920),
            Action::Fence {
                deadline: 1000,
                late_ms: 0,
                daemon_gone: true
            }
        );
        assert_eq!(w.next(), Action::Exit);
    }

    #[test]
    fn eof_after_the_deadline_fences_then_exits() {
        let mut w = Watch::new();
        w.on(line("1000"), 900);
        assert!(matches!(
            w.on(Event::Eof, 1500),
            Action::Fence {
                daemon_gone: true,
                ..
            }
        ));
        assert_eq!(w.next(), Action::Exit);
        // Fenced already, then the daemon went: nothing more to do.
        let mut w = Watch::new();
        w.on(line("1000"), 900);
        w.on(Event::Timeout, 1000);
        assert_eq!(w.on(Event::Eof, 1500), Action::Exit);
    }

    #[test]
    fn a_garbled_line_changes_nothing() {
        let mut w = Watch::new();
        w.on(line("1000"), 900);
        let before = w.clone();
        for junk in ["", "12x", "-5", "NONE!", "1e3", "99999999999999999999999"] {
            let a = w.on(line(junk), 950);
            assert!(
                matches!(&a, Action::Ignore(m) if m.contains("ignoring")),
                "{junk}: {a:?}"
            );
            assert_eq!(w, before, "{junk:?} changed the state");
        }
        assert_eq!(w.next(), Action::Wait(Some(1000)));
        // Not even past the deadline: a garbled line never fences.
        assert!(matches!(w.on(line("junk"), 5000), Action::Ignore(_)));
        assert_eq!(
            w.on(Event::Timeout, 5000),
            Action::Fence {
                deadline: 1000,
                late_ms: 4000,
                daemon_gone: false
            }
        );
    }
}
