//! Benchmark (issue 4 "Speed"): process exit -> restarted process running, with real processes.
//!
//! One `sleep` resource under an unlimited restart policy with no delay; the benchmark kills
//! its process group with SIGKILL N times and measures, each time, from the kill to the agent's
//! Online report for the new process (and, apart, to the new process's spawn).
//!
//! Run: `cargo run --release -p nonstop-agent --example bench_restart [-- N]` (default N = 200).

use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use nonstop_agent::testing::{
    SleepAgent, desired_group, desired_resource, next_matching, size_arg,
};
use nonstop_contract::{Millis, ResourceState, RestartMode, RestartPolicy, Timings};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let n = size_arg(200)?;
    let bench = SleepAgent::start()?;
    let mut reports = bench.agent.reports();
    let timings = Timings {
        restart: RestartPolicy {
            mode: RestartMode::Restart,
            limit: None,
            window: Millis::secs(900),
            delay: Millis(0),
        },
        ..Timings::default()
    };
    bench.desire(vec![desired_group(
        "g",
        1,
        vec![desired_resource("r", "sleep", &[], timings)],
    )]);
    let online = |r: &nonstop_contract::ResourceReport| r.state == ResourceState::Online;
    next_matching(&mut reports, WAIT, online)
        .await
        .ok_or("never came online")?;

    let (mut to_online, mut to_spawn) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let old = bench.sleep.running("r").ok_or("no process running")?;
        let killed = Instant::now();
        killpg(Pid::from_raw(old.pid), Signal::SIGKILL).map_err(|e| e.to_string())?;
        next_matching(&mut reports, WAIT, online)
            .await
            .ok_or("not restarted")?;
        to_online.push(killed.elapsed());
        let new = bench.sleep.running("r").ok_or("no new process")?;
        to_spawn.push(new.started.duration_since(killed));
    }
    bench.agent.shutdown().await.map_err(|e| e.to_string())?;
    print_stats("kill -> Online reported", &mut to_online);
    print_stats("kill -> new process spawned", &mut to_spawn);
    let p99 = percentile(&to_online, 99.0);
    println!(
        "target: p99 <= 100 ms: {}",
        if p99 <= Duration::from_millis(100) {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn print_stats(what: &str, v: &mut [Duration]) {
    v.sort();
    println!(
        "{what} (n = {}): p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        v.len(),
        percentile(v, 50.0),
        percentile(v, 90.0),
        percentile(v, 99.0),
        v[v.len() - 1]
    );
}
