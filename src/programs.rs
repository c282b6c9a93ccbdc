//! How an external program the leader runs (a fence method, an alert agent) ended, in the words
//! the leader logs and records: whether it succeeded (exit 0), and its last line of output or
//! why it failed. Both run through `nonstop_resource_types::action` (a process group of their
//! own, killed whole past their timeout).

use nonstop_contract::Millis;
use nonstop_controller::leader::Attempt;
use nonstop_resource_types::action::Outcome;

/// An attempt, from how the program ended within `limit`.
pub fn attempt(limit: Millis, out: &Outcome) -> Attempt {
    if out.timed_out {
        return Attempt {
            ok: false,
            detail: format!("timed out after {limit} (killed)"),
        };
    }
    let last = last_line(&format!("{}\n{}", out.stdout, out.stderr));
    let ok = out.code == Some(0);
    let how = match out.code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".to_string(),
    };
    let detail = match (ok, last) {
        (true, Some(l)) => l,
        (true, None) => how,
        (false, Some(l)) => format!("{how}: {l}"),
        (false, None) => how,
    };
    Attempt { ok, detail }
}

/// The last line of output that says something (fence agents log the outcome last), at most
/// 300 characters.
fn last_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    Some(line.chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_that_says_something() {
        assert_eq!(
            last_line("Success: Powered OFF\n\n  \n").as_deref(),
            Some("Success: Powered OFF")
        );
        assert_eq!(last_line("\n \n"), None);
    }

    #[test]
    fn an_ending_in_words() {
        let out = |code, timed_out, stderr: &str| Outcome {
            code,
            timed_out,
            stdout: "started\n".into(),
            stderr: stderr.into(),
        };
        let cases = [
            (out(Some(0), false, ""), true, "started"),
            (
                out(Some(3), false, "Failed: no route\n"),
                false,
                "exit code 3: Failed: no route",
            ),
            (out(None, false, ""), false, "killed by a signal: started"),
            (out(None, true, ""), false, "timed out after 2s (killed)"),
        ];
        for (o, ok, detail) in cases {
            let a = attempt(Millis(2000), &o);
            assert_eq!((a.ok, a.detail.as_str()), (ok, detail), "{o:?}");
        }
    }
}
