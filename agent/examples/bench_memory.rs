//! Benchmark (issue 4 "Speed"): the agent's resident memory with 200 process resources (real
//! `sleep` processes), read from /proc/self/status (VmRSS) once all are Online.
//!
//! The figure is for this whole process: the agent, its in-process leader and the benchmark
//! itself, so it bounds the agent's own share from above.
//!
//! Run: `cargo run --release -p nonstop-agent --example bench_memory [-- N]` (default N = 200).

use std::time::Duration;

use nonstop_agent::testing::{SleepAgent, desired_group, desired_resource, size_arg, until};
use nonstop_contract::Timings;

/// Resources per group: 20 groups of 10 for 200, a chain of dependencies in each.
const PER_GROUP: usize = 10;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let n = size_arg(200)?;
    let before = vm_rss_kb()?;
    let bench = SleepAgent::start()?;
    let names: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    let groups = names
        .chunks(PER_GROUP)
        .enumerate()
        .map(|(g, chunk)| {
            let resources = chunk
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let deps: Vec<&str> = if i == 0 {
                        vec![]
                    } else {
                        vec![chunk[i - 1].as_str()]
                    };
                    desired_resource(name, "sleep", &deps, Timings::default())
                })
                .collect();
            desired_group(&format!("g{g}"), 1, resources)
        })
        .collect();
    bench.desire(groups);
    let all_up = until(Duration::from_secs(60), || {
        names.iter().all(|r| bench.sleep.running(r).is_some())
    })
    .await;
    if !all_up {
        return Err("not every resource came online within 60 s".into());
    }
    // A few check rounds (looks_alive every second) so the figure includes steady state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = vm_rss_kb()?;
    println!(
        "{n} process resources online: VmRSS {:.1} MB (process before the agent: {:.1} MB)",
        rss as f64 / 1024.0,
        before as f64 / 1024.0
    );
    println!(
        "target: <= 30 MB: {}",
        if rss <= 30 * 1024 { "met" } else { "MISSED" }
    );
    bench.agent.shutdown().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// This process's resident set size in kB.
fn vm_rss_kb() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/self/status".into())
}
