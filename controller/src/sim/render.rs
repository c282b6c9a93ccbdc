//! The transcript as people and tools read it.

use std::fmt::Write;

use serde::Serialize;

use super::{Simulator, Transition};

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
    /// The transcript, a heading per step, then the final placement.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let mut step = None;
        for t in &self.transcript {
            if step != Some(t.step_no) {
                let _ = writeln!(out, "== {}", t.step);
                step = Some(t.step_no);
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
