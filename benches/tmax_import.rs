//! Import of a generated 1,000-group Tmax environment file (issue 2, "Speed": at most 100 ms).
//! 100 nodes; 1,000 groups, every tenth with a BACKUP on the next node, cousin pairs among the
//! rest; 10 servers and 20 services per group. Run: `cargo bench -p nonstop --bench tmax_import`.

use std::fmt::Write;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nonstop::tmax;

const NODES: usize = 100;
const GROUPS: usize = 1000;
const SERVERS_PER_GROUP: usize = 10;

/// The environment file.
fn generate() -> String {
    let mut s = String::from("*DOMAIN\nbench   SHMKEY = 77990, MAXUSER = 1000\n*NODE\n");
    for n in 0..NODES {
        let _ = writeln!(
            s,
            "node{n}  TMAXDIR = \"/tmax\", APPDIR = \"/tmax/appbin\","
        );
        let _ = writeln!(s, "        MAXRSTART = 10, GPERIOD = 600");
    }
    s.push_str("*SVRGROUP\n");
    for g in 0..GROUPS {
        let node = g % NODES;
        let _ = write!(s, "svg{g}  NODENAME = node{node}");
        if g % 10 == 0 {
            let _ = write!(s, ", BACKUP = \"bak{g}\"");
        } else if g % 10 == 1 {
            let _ = write!(s, ", COUSIN = \"svg{}\", LOAD = 2", g + 1);
        }
        s.push('\n');
        if g % 10 == 0 {
            let _ = writeln!(s, "bak{g}  NODENAME = node{}", (node + 1) % NODES);
        }
    }
    s.push_str("*SERVER\n");
    for g in 0..GROUPS {
        for k in 0..SERVERS_PER_GROUP {
            let _ = writeln!(
                s,
                "s{g}_{k}  SVGNAME = svg{g}, MIN = 2, CLOPT = \"-e err -- {k}\""
            );
        }
    }
    s.push_str("*SERVICE\n");
    for g in 0..GROUPS {
        for k in 0..SERVERS_PER_GROUP * 2 {
            let _ = writeln!(s, "V{g}_{k}  SVRNAME = s{g}_{}", k % SERVERS_PER_GROUP);
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let src = generate();
    let (cluster, _) = tmax::import_source("bench.m", &src).expect("the generated file imports");
    assert_eq!(cluster.groups.len(), GROUPS);
    c.bench_function("tmax_import_1000_groups", |b| {
        b.iter(|| tmax::import_source("bench.m", black_box(&src)).expect("imports"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
