//! Fuzzing the Tmax environment-file reader with proptest: arbitrary bytes and mutated manual
//! examples never panic, every finding points inside the file, and whatever passes `check`
//! imports into a configuration that the cluster database accepts.
//!
//! The case count follows `PROPTEST_CASES` (default 256 here); a long run:
//! `PROPTEST_CASES=200000 cargo test -p nonstop --release --test tmax_fuzz`.

use std::path::Path;
use std::sync::OnceLock;

use nonstop::tmax;
use nonstop_controller::config::to_ops;
use nonstop_controller::{ClusterDb, Command, Op, Time};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The fixtures, read once.
fn corpus() -> &'static [String] {
    static CORPUS: OnceLock<Vec<String>> = OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tmax");
    let mut texts = Vec::new();
    for dir in ["manual", "corrected", "bad", "good"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("fixture dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "m"))
            .collect();
        paths.sort();
        texts.extend(
            paths
                .iter()
                .map(|p| std::fs::read_to_string(p).expect("fixture")),
        );
    }
    texts
}

/// The properties every input must have.
fn holds(src: &str) -> Result<(), TestCaseError> {
    let checked = tmax::check_source("fuzz.m", src);
    let lines: Vec<usize> = src.split('\n').map(|l| l.chars().count()).collect();
    for f in &checked.findings {
        let d = &f.diag;
        prop_assert!(
            d.line >= 1 && d.line <= lines.len(),
            "{f} ({} lines)",
            lines.len()
        );
        let width = lines[d.line - 1];
        prop_assert!(
            d.column >= 1 && d.column <= width + 1,
            "{f} (line of {width})"
        );
        prop_assert!(d.code.is_some(), "{f}");
    }
    if let Ok((cluster, _)) = tmax::import_source("fuzz.m", src) {
        let ops = to_ops(&cluster).map_err(|e| TestCaseError::fail(format!("to_ops: {e}")))?;
        let cmd = Command::operator(Time(0), "fuzz", Op::Batch(ops));
        if let Err(e) = ClusterDb::new().apply(cmd) {
            return Err(TestCaseError::fail(format!(
                "check passed, apply failed: {e}\n{src}"
            )));
        }
    }
    Ok(())
}

/// One edit of a text.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        Just(",".to_string()),
        Just("=".to_string()),
        Just("\"".to_string()),
        Just("\n".to_string()),
        Just("\n*SVRGROUP\n".to_string()),
        Just("#".to_string()),
        Just(":".to_string()),
        Just(" BACKUP = \"svg1, svg2\",".to_string()),
        Just(" COUSIN = \"svg1,svg3, gw1\",".to_string()),
        Just(" LOAD = -3,".to_string()),
        Just(" MAXRSTART = -1,".to_string()),
        Just("\nDEFAULT: ".to_string()),
        Just("\nsvg9 NODENAME = tmax1".to_string()),
        "[ -~]{0,12}",
        any::<String>(),
    ];
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), token).prop_map(|(a, t)| Edit::Insert(a, t)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn apply_edit(text: &str, e: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| {
        if chars.is_empty() {
            0
        } else {
            i % (chars.len() + 1)
        }
    };
    let mut lines: Vec<&str> = text.split('\n').collect();
    match e {
        Edit::Delete(a, n) => {
            let start = at(*a);
            let end = (start + n).min(chars.len());
            chars[..start].iter().chain(&chars[end..]).collect()
        }
        Edit::Insert(a, t) => {
            let i = at(*a);
            chars[..i].iter().collect::<String>() + t + &chars[i..].iter().collect::<String>()
        }
        Edit::DuplicateLine(a) => {
            let i = a % lines.len();
            lines.insert(i, lines[i]);
            lines.join("\n")
        }
        Edit::SwapLines(a, b) => {
            let n = lines.len();
            lines.swap(a % n, b % n);
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        holds(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn mutated_fixtures_never_panic_and_check_implies_apply(
        pick in any::<usize>(),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let corpus = corpus();
        let mut text = corpus[pick % corpus.len()].clone();
        for e in &edits {
            text = apply_edit(&text, e);
        }
        holds(&text)?;
    }
}
