//! `cargo bench -p nonstop-controller --bench plan`: the policy engine on a large cluster —
//! 100 nodes, 1,000 groups, 10,000 resources — right after one node fails. Target: 50 ms.

use criterion::{Criterion, criterion_group, criterion_main};
use nonstop_controller::config::ClusterFile;
use nonstop_controller::sim::Simulator;
use nonstop_controller::{Command, Op, policy};
use std::hint::black_box;

/// 100 nodes; group i has home n(i % 100) and two backups; ten resources in a chain.
fn big_cluster() -> ClusterFile {
    let mut y = String::from("nodes:\n");
    for n in 0..100 {
        y += &format!("  - {{name: n{n}}}\n");
    }
    y += "groups:\n";
    for g in 0..1000 {
        let (a, b, c) = (g % 100, (g + 1) % 100, (g + 2) % 100);
        y += &format!("  - name: g{g}\n    owners: [n{a}, n{b}, n{c}]\n    resources:\n");
        for r in 0..10 {
            let dep = if r > 0 {
                format!(", depends_on: [g{g}r{}]", r - 1)
            } else {
                String::new()
            };
            y += &format!(
                "      - {{name: g{g}r{r}, type: process, properties: {{command: x}}{dep}}}\n"
            );
        }
    }
    yaml_serde::from_str(&y).expect("the generated cluster parses")
}

fn bench(c: &mut Criterion) {
    let sim = Simulator::start(&big_cluster()).expect("the generated cluster starts");
    let mut db = sim.db.clone();
    let now = sim.now;
    let down = Op::NodeDown {
        node: "n0".into(),
        reason: "bench".into(),
    };
    db.apply(Command::liveness(now, down)).expect("n0 exists");
    let moves = policy::plan(&db, now);
    assert_eq!(moves.len(), 10, "n0 was home to 10 groups");
    c.bench_function(
        "plan after one node of 100 fails (1000 groups, 10000 resources)",
        |b| b.iter(|| black_box(policy::plan(black_box(&db), now))),
    );
    c.bench_function("plan on the settled cluster (nothing to do)", |b| {
        b.iter(|| black_box(policy::plan(black_box(&sim.db), now)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
