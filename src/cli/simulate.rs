//! `nonstop simulate FILE [--fail node:N | --recover node:N | --fail resource:R | --pause node:N
//! ...] [--stop-latency DURATION] [--output text|json]`: runs the leader's own `plan` on a copy
//! of the cluster with failures injected in the order given, and prints every transition.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use nonstop_contract::Millis;
use nonstop_controller::sim::{SimEvent, SimOptions, Simulator};

use super::load::load_cluster;
use super::output::{end, say, write_out};

/// Arguments of `nonstop simulate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "EVENTS (injected in the order given):\n  \
    --fail node:N        the node fails (crash, or cut off: its lease runs out)\n  \
    --recover node:N     the node comes back\n  \
    --fail resource:R    the resource fails on its owner (restart rule, then fail-over)\n  \
    --pause node:N       drain the node      --resume node:N   undo it\n  \
    --evict node:N       take the node out   --clear group:G   forget G's failures\n  \
    --move group:G[@N]   move G to N, or to its best owner\n  \
    --online group:G|resource:R   --offline group:G|resource:R\n  \
    --lose report:R      the next report about R is lost (a real agent would retry)\n  \
    --lose stop:G        the next stop confirmation for G is lost (likewise)\n  \
    --advance DURATION   let time pass (5s, 15m, 2h)\n\n\
Every stop is instant unless --stop-latency says otherwise; a failed node runs until its lease \
ends and is declared Down node_timeout after it failed.")]
pub struct SimulateArgs {
    /// A cluster.yaml or a Tmax environment file.
    file: PathBuf,
    /// How to print the result (may also be given among the events).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// How long every stop takes (each capped by its type's stop bound), to see what slow stops
    /// do to fail-over (5s, 500ms).
    #[arg(long, value_name = "DURATION")]
    stop_latency: Option<Millis>,
    /// The events (see below).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "EVENTS")]
    events: Vec<String>,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Runs `nonstop simulate`.
pub fn run(args: SimulateArgs) -> ExitCode {
    let (events, output) = match parse_events(&args.events, args.output) {
        Ok(v) => v,
        Err(e) => return super::fail(&e),
    };
    let file = match load_cluster(&args.file) {
        Ok(f) => f,
        Err(errors) => return super::fail_all(&errors),
    };
    let options = args
        .stop_latency
        .map(SimOptions::stop_latency)
        .unwrap_or_default();
    let mut sim = match Simulator::start_with(&file, &[], options) {
        Ok(s) => s,
        Err(e) => return super::fail(&format!("{}: {e}", args.file.display())),
    };
    for ev in &events {
        if let Err(e) = sim.inject(ev) {
            return super::fail(&e.to_string());
        }
    }
    match output {
        Output::Text => {
            if let Err(e) = write_out(&sim.render_text()) {
                end(&e)
            }
        }
        Output::Json => match serde_json::to_string_pretty(&sim.json_report()) {
            Ok(s) => say!("{s}"),
            Err(e) => return super::fail(&e.to_string()),
        },
    }
    ExitCode::SUCCESS
}

/// Reads `--flag value` / `--flag=value` pairs in order; `--output` may appear among them.
fn parse_events(raw: &[String], mut output: Output) -> Result<(Vec<SimEvent>, Output), String> {
    let mut events = Vec::new();
    let mut it = raw.iter();
    while let Some(tok) = it.next() {
        let flag = tok
            .strip_prefix("--")
            .ok_or_else(|| format!("{tok:?}: expected an event flag such as --fail node:N"))?;
        let (flag, value) = match flag.split_once('=') {
            Some((f, v)) => (f.to_string(), v.to_string()),
            None => {
                let v = it.next().ok_or_else(|| format!("--{flag} needs a value"))?;
                (flag.to_string(), v.clone())
            }
        };
        if flag == "output" {
            output = Output::from_str(&value, true)
                .map_err(|_| format!("--output {value:?}: use text or json"))?;
            continue;
        }
        events.push(SimEvent::parse(&flag, &value).map_err(|e| e.to_string())?);
    }
    Ok((events, output))
}
