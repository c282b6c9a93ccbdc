//! Import of a generated 1,000-group Tmax environment file (issue 2, "Speed": at most 100 ms).
//! 100 nodes; 1,000 groups, every tenth with a BACKUP on the next node, cousin pairs among the
//! rest; 10 servers and 20 services per group. Run: `cargo bench -p nonstop --bench tmax_import`.
//!
//! Besides wall time, each phase is measured in CPU time of the benchmark thread
//! (`getrusage(RUSAGE_THREAD)`): on a machine shared with other builds, wall time measures the
//! neighbours as much as the code.

use std::fmt::Write;
use std::hint::black_box;

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nix::sys::resource::{UsageWho, getrusage};
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

/// CPU time (user + system) of the calling thread.
struct ThreadCpu;

fn thread_cpu() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_THREAD).expect("getrusage(RUSAGE_THREAD)");
    let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
    Duration::from_micros(us(usage.user_time()) + us(usage.system_time()))
}

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Shows nanoseconds as milliseconds.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1e6);
        "ms (cpu)"
    }
    fn scale_throughputs(&self, _t: f64, _th: &Throughput, values: &mut [f64]) -> &'static str {
        self.scale_values(0.0, values)
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn bench_cpu(c: &mut Criterion<ThreadCpu>) {
    let src = generate();
    c.bench_function("tmax_import_1000_groups_cpu", |b| {
        b.iter(|| tmax::import_source("bench.m", black_box(&src)).expect("imports"))
    });
    c.bench_function("tmax_lex_1000_groups_cpu", |b| {
        b.iter(|| tmax::lexer::tokenize(black_box(&src)))
    });
    c.bench_function("tmax_check_1000_groups_cpu", |b| {
        b.iter(|| tmax::check_source("bench.m", black_box(&src)))
    });
}

fn cpu() -> Criterion<ThreadCpu> {
    Criterion::default().with_measurement(ThreadCpu)
}

fn bench(c: &mut Criterion) {
    let src = generate();
    let (cluster, _) = tmax::import_source("bench.m", &src).expect("the generated file imports");
    assert_eq!(cluster.groups.len(), GROUPS);
    c.bench_function("tmax_import_1000_groups", |b| {
        b.iter(|| tmax::import_source("bench.m", black_box(&src)).expect("imports"))
    });
    // The phases, to see where the time goes.
    c.bench_function("tmax_lex_1000_groups", |b| {
        b.iter(|| tmax::lexer::tokenize(black_box(&src)))
    });
    c.bench_function("tmax_check_1000_groups", |b| {
        b.iter(|| tmax::check_source("bench.m", black_box(&src)))
    });
}

criterion_group!(benches, bench);
criterion_group! {
    name = cpu_benches;
    config = cpu();
    targets = bench_cpu
}
criterion_main!(benches, cpu_benches);
