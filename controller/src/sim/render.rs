//! The transcript as people and tools read it.

use std::fmt::Write;

use serde::Serialize;

use nonstop_contract::Millis;

use super::{Simulator, Transition};
use crate::time::Time;

/// The JSON form: `{"transitions": [...], "placement": {"GROUP": "NODE" or null}}`.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// Every transition, in order.
    pub transitions: &'a [Transition],
    /// Where each group runs at the end.
    pub placement: std::collections::BTreeMap<String, Option<String>>,
    /// Each group's state at the end.
    pub states: std::collections::BTreeMap<String, String>,
}

impl Simulator {
    /// The transcript, a heading per step, then the final placement. When time passes within a
    /// step (a stop that takes time, a node declared Down, a window that opens), a mark says how
    /// long after the step the lines below it came, and the cluster's local time of day then:
    /// `-- +2s (00:16:42)`.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let mut step = None;
        let mut at = None;
        let offset = self.db.settings.utc_offset_minutes;
        for t in &self.transcript {
            if step != Some(t.step_no) {
                let _ = writeln!(out, "== {}", t.step);
                step = Some(t.step_no);
                at = self.steps.get(t.step_no).map(|s| s.at);
            }
            if let Some(start) = at
                && at != Some(t.event.at)
            {
                let later = span(t.event.at.since(start));
                let _ = writeln!(out, "-- +{later} ({})", clock(t.event.at, offset));
                at = Some(t.event.at);
            }
            let _ = writeln!(out, "{}", t.summary);
        }
        let _ = writeln!(out, "== placement");
        for g in self.db.groups.values() {
            let owner = g.owner.as_deref().unwrap_or("-");
            let _ = writeln!(out, "{} {} {}", g.spec.name, owner, self.db.group_state(g));
        }
        out
    }

    /// The JSON form of the transcript.
    pub fn json_report(&self) -> JsonReport<'_> {
        JsonReport {
            transitions: &self.transcript,
            placement: self.placement(),
            states: self
                .db
                .groups
                .values()
                .map(|g| (g.spec.name.clone(), self.db.group_state(g).to_string()))
                .collect(),
        }
    }
}

/// A span as people write it: `500ms`, `2s`, `20.5s`, `1h43m18s`.
pub fn span(d: Millis) -> String {
    let ms = d.0;
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if s > 0 || frac > 0 {
        let _ = write!(out, "{s}");
        if frac > 0 {
            let digits = format!("{frac:03}");
            let _ = write!(out, ".{}", digits.trim_end_matches('0'));
        }
        out.push('s');
    }
    out
}

/// The time of day at `t` in the cluster's local time (`utc_offset_minutes`): `02:00:00`, with
/// milliseconds when there are any (`00:16:42.500`).
pub fn clock(t: Time, offset_minutes: i32) -> String {
    let day = 24 * 3_600_000i64;
    let local = (t.0 as i64 + offset_minutes as i64 * 60_000).rem_euclid(day);
    let (h, m, s, ms) = (
        local / 3_600_000,
        local / 60_000 % 60,
        local / 1000 % 60,
        local % 1000,
    );
    if ms == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{ms:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_clocks_read_as_people_write_them() {
        assert_eq!(span(Millis(500)), "500ms");
        assert_eq!(span(Millis(2000)), "2s");
        assert_eq!(span(Millis(20_500)), "20.5s");
        assert_eq!(span(Millis(6_198_000)), "1h43m18s");
        assert_eq!(span(Millis(3_600_000)), "1h");
        assert_eq!(clock(Time(1_002_000), 0), "00:16:42");
        assert_eq!(clock(Time(1_000_500), 0), "00:16:40.500");
        assert_eq!(clock(Time(1_000_000), 540), "09:16:40");
        assert_eq!(clock(Time(1_000_000), -60), "23:16:40");
    }
}
