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
ALSO AMONG THEM:\n  \
    --resolve SERVICE[@NODE]   after each step, where SERVICE would be served by its LOAD rule, \
for a client on NODE (or outside the cluster); '*' for every service; repeat for more\n\n\
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
    let (events, output, asked) = match parse_events(&args.events, args.output) {
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
    let targets = match resolve::targets(&sim.db, &asked) {
        Ok(t) => t,
        Err(e) => return super::fail(&e),
    };
    let mut served = vec![resolve::after(&sim, &targets)];
    for ev in &events {
        if let Err(e) = sim.inject(ev) {
            return super::fail(&e.to_string());
        }
        served.push(resolve::after(&sim, &targets));
    }
    match output {
        Output::Text => {
            let mut text = sim.render_text();
            if !targets.is_empty() {
                text.push_str(&resolve::text(&served));
            }
            if let Err(e) = write_out(&text) {
                end(&e)
            }
        }
        Output::Json => {
            let mut report = match serde_json::to_value(sim.json_report()) {
                Ok(v) => v,
                Err(e) => return super::fail(&e.to_string()),
            };
            if !targets.is_empty() {
                report["services"] = serde_json::json!(served);
            }
            match serde_json::to_string_pretty(&report) {
                Ok(s) => say!("{s}"),
                Err(e) => return super::fail(&e.to_string()),
            }
        }
    }
    ExitCode::SUCCESS
}

/// What `--resolve` asks: a service (`*`: every one) and the client's node, if any.
type Asked = Vec<(String, Option<String>)>;

/// Reads `--flag value` / `--flag=value` pairs in order; `--output` and `--resolve` may appear
/// among them.
fn parse_events(
    raw: &[String],
    mut output: Output,
) -> Result<(Vec<SimEvent>, Output, Asked), String> {
    let mut events = Vec::new();
    let mut asked = Vec::new();
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
        if flag == "resolve" {
            let (service, node) = match value.split_once('@') {
                Some((s, n)) => (s.to_string(), Some(n.to_string())),
                None => (value.clone(), None),
            };
            if service.is_empty() || node.as_deref() == Some("") {
                return Err(format!(
                    "--resolve {value:?}: give SERVICE or SERVICE@NODE ('*' for every service)"
                ));
            }
            asked.push((service, node));
            continue;
        }
        events.push(SimEvent::parse(&flag, &value).map_err(|e| e.to_string())?);
    }
    Ok((events, output, asked))
}

/// `--resolve`: where services are served after each step, by the same rule the members'
/// `service resolve` uses (nonstop_controller::policy::resolve).
mod resolve {
    use std::fmt::Write;

    use nonstop_controller::db::ClusterDb;
    use nonstop_controller::policy::{self, Resolution};
    use nonstop_controller::sim::Simulator;
    use serde::Serialize;

    /// The services asked for, each with its client's node, checked against the cluster.
    pub fn targets(
        db: &ClusterDb,
        asked: &[(String, Option<String>)],
    ) -> Result<Vec<(String, Option<String>)>, String> {
        let mut out = Vec::new();
        for (service, node) in asked {
            if let Some(n) = node
                && !db.nodes.contains_key(n)
            {
                return Err(format!(
                    "--resolve {service}@{n}: {n:?} is not a node of the file"
                ));
            }
            if service == "*" {
                out.extend(db.services.keys().map(|s| (s.clone(), node.clone())));
            } else if db.services.contains_key(service) {
                out.push((service.clone(), node.clone()));
            } else {
                let known: Vec<&str> = db.services.keys().map(String::as_str).collect();
                return Err(format!(
                    "--resolve {service}: no such service (the file's: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        Ok(out)
    }

    /// Where each target is served after one step.
    #[derive(Debug, Serialize)]
    pub struct Served {
        /// The step (`start`, `fail node:osdb-serv`) and its number.
        step: String,
        step_no: usize,
        /// Each target's resolution, with the client's node (null: outside the cluster).
        resolutions: Vec<Resolved>,
    }

    #[derive(Debug, Serialize)]
    struct Resolved {
        from: Option<String>,
        #[serde(flatten)]
        resolution: Resolution,
    }

    /// The targets' resolutions now, after the simulator's last step.
    pub fn after(sim: &Simulator, targets: &[(String, Option<String>)]) -> Served {
        let step_no = sim.steps.len() - 1;
        let resolutions = targets
            .iter()
            .filter_map(|(s, from)| {
                let r = policy::resolve(&sim.db, s, from.as_deref()).ok()?;
                Some(Resolved {
                    from: from.clone(),
                    resolution: r,
                })
            })
            .collect();
        Served {
            step: sim.steps[step_no].name.clone(),
            step_no,
            resolutions,
        }
    }

    /// `== services`, then per step a line per target:
    /// `fail node:osdb-serv: CHAT@osdb-back -> osdb-back (SOCKET_GROUP) [single]`.
    pub fn text(served: &[Served]) -> String {
        let mut out = String::from("== services\n");
        for s in served {
            for r in &s.resolutions {
                let who = match &r.from {
                    Some(n) => format!("{}@{n}", r.resolution.service),
                    None => r.resolution.service.clone(),
                };
                let routes: Vec<String> = (r.resolution.routes.iter())
                    .map(|x| match x.weight {
                        1 => format!("{} ({})", x.node, x.group),
                        w => format!("{} ({}, weight {w})", x.node, x.group),
                    })
                    .collect();
                let to = if routes.is_empty() {
                    "nowhere".to_string()
                } else {
                    routes.join(", ")
                };
                let mode = serde_json::to_value(r.resolution.mode)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                let _ = writeln!(out, "{}: {who} -> {to} [{mode}]", s.step);
            }
        }
        out
    }
}
