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

/// A random but well-formed file: the references, BACKUP and COUSIN lists, LOADs and restart
/// items are drawn at random among a few names, so that many files pass `check` and the
/// agreement between `check` and `ClusterDb::apply` is exercised.
#[derive(Clone, Debug)]
struct Shape {
    nodes: usize,
    groups: Vec<(usize, Vec<usize>, Vec<usize>, i64)>,
    servers: Vec<(usize, i64, i64)>,
    gateways: Vec<(usize, Vec<usize>)>,
    services: Vec<usize>,
}

fn shape() -> impl Strategy<Value = Shape> {
    // Mostly no list: every BACKUP or COUSIN is a chance for an error.
    let list = || {
        prop_oneof![
            4 => Just(Vec::new()),
            1 => proptest::collection::vec(0usize..8, 1..3),
        ]
    };
    (
        1usize..5,
        proptest::collection::vec((0usize..5, list(), list(), -3i64..4), 1..7),
        proptest::collection::vec((0usize..8, -1i64..3, 0i64..3), 0..8),
        proptest::collection::vec((0usize..5, list()), 0..3),
        proptest::collection::vec(0usize..10, 0..8),
    )
        .prop_map(|(nodes, groups, servers, gateways, services)| Shape {
            nodes,
            groups,
            servers,
            gateways,
            services,
        })
}

/// Names among `count` entries (indices wrap, so lists repeat and name their own entry).
fn names(prefix: &str, ids: &[usize], count: usize) -> String {
    let v: Vec<String> = ids
        .iter()
        .map(|i| format!("{prefix}{}", i % count))
        .collect();
    v.join(", ")
}

fn render(s: &Shape) -> String {
    let mut out = String::from("*DOMAIN\nd SHMKEY = 77990\n*NODE\n");
    for n in 0..s.nodes {
        out += &format!("n{n} TMAXDIR = \"/t\", APPDIR = \"/t/appbin\"\n");
    }
    out += "*SVRGROUP\n";
    for (i, (node, backup, cousin, load)) in s.groups.iter().enumerate() {
        let (node, groups) = (node % s.nodes, s.groups.len());
        out += &format!("g{i} NODENAME = n{node}, LOAD = {load}");
        if !backup.is_empty() {
            out += &format!(", BACKUP = \"{}\"", names("g", backup, groups));
        }
        if !cousin.is_empty() {
            out += &format!(", COUSIN = \"{}\"", names("g", cousin, groups));
        }
        out += "\n";
    }
    out += "*SERVER\n";
    for (i, (group, max, restart)) in s.servers.iter().enumerate() {
        let restart = ["Y", "N", "Y"][*restart as usize];
        let group = group % s.groups.len();
        out += &format!("s{i} SVGNAME = g{group}, MAXRSTART = {max}, RESTART = {restart}\n");
    }
    out += "*SERVICE\n";
    for (i, server) in s.services.iter().enumerate() {
        let server = server % s.servers.len().max(1);
        out += &format!("V{i} SVRNAME = s{server}\n");
    }
    if !s.gateways.is_empty() {
        out += "*GATEWAY\n";
    }
    for (i, (node, backup)) in s.gateways.iter().enumerate() {
        let (node, gateways) = (node % s.nodes, s.gateways.len());
        out += &format!(
            "w{i} NODENAME = n{node}, GWTYPE = TMAX, PORTNO = 7000, RGWADDR = \"h\", \
             RGWPORTNO = 7000"
        );
        if !backup.is_empty() {
            out += &format!(", BACKUP = \"{}\"", names("w", backup, gateways));
        }
        out += "\n";
    }
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_files_that_pass_check_apply(s in shape()) {
        holds(&render(&s))?;
    }

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
