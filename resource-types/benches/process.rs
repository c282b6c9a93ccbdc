//! How fast the `process` type brings a program up and notices it died: the handler's share
//! of issue 4's "process exit -> restarted process running" budget (p99 <= 100 ms).
//!
//! `cargo bench -p nonstop-resource-types --bench process`

use criterion::{Criterion, criterion_group, criterion_main};
use nix::sys::signal::{SIGKILL, kill};
use nix::unistd::Pid;
use nonstop_contract::{Properties, Value, builtin};
use nonstop_resource_types::process::ProcessHandler;
use nonstop_resource_types::{FailureSink, OpenContext, ResourceHandler};
use std::time::Duration;
use tokio::sync::mpsc;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (tx, mut failures) = mpsc::unbounded_channel();
    let props = Properties::from([
        ("command".to_string(), Value::Str("sleep".into())),
        ("args".to_string(), Value::List(vec!["300".into()])),
    ]);
    let ctx = OpenContext {
        resource: "bench".into(),
        properties: props,
        data_dir: dir.path().into(),
        failures: FailureSink::new("bench", tx),
        marker: nonstop_resource_types::procs::new_marker(),
    };
    let handler = ProcessHandler::new(builtin::process());
    let mut r = rt.block_on(handler.open(ctx)).expect("opens");
    c.bench_function("process online + offline (sleep)", |b| {
        b.iter(|| {
            rt.block_on(async {
                r.online().await.expect("online");
                r.offline().await.expect("offline");
            })
        })
    });
    rt.block_on(r.online()).expect("online");
    c.bench_function("process exit -> failure pushed -> online again", |b| {
        b.iter(|| {
            rt.block_on(async {
                let pgid = r.footprint().process_groups[0].pgid;
                kill(Pid::from_raw(pgid), SIGKILL).expect("kill");
                tokio::time::timeout(Duration::from_secs(5), failures.recv())
                    .await
                    .expect("failure pushed");
                r.online().await.expect("online again");
            })
        })
    });
    rt.block_on(r.terminate());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
