//! `nonstop events`: the cluster's state transitions with their timestamps; the kept history,
//! then, with `--follow`, as they happen.

use std::process::ExitCode;

use clap::Args;
use nonstop_proto::cluster as pb;
use serde::Serialize;

use super::client::{CliError, Client, ConnArgs, call, run_async};
use super::follow::{Retry, follow_events, stream_error};
use super::output::{Format, emit, print_line, tell, timestamp};

/// The options of `nonstop events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep printing events as they happen, until interrupted.
    #[arg(long, short)]
    follow: bool,
    /// Only events applied after this revision [default: every event the member keeps].
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Only events of the last DURATION (`90s`, `15m`, `2h`), by the cluster's clock, among
    /// those the member keeps.
    #[arg(long)]
    since: Option<nonstop_contract::Millis>,
    #[command(flatten)]
    conn: ConnArgs,
}

/// One event.
#[derive(Debug, Serialize)]
struct EventView {
    revision: u64,
    /// Cluster time, milliseconds since the Unix epoch.
    at_ms: u64,
    summary: String,
    /// The event itself (its kind and fields), as the controller records it.
    event: serde_json::Value,
}

impl From<pb::ClusterEvent> for EventView {
    fn from(e: pb::ClusterEvent) -> Self {
        EventView {
            event: serde_json::from_str(&e.json).unwrap_or(serde_json::Value::String(e.json)),
            revision: e.revision,
            at_ms: e.at_ms,
            summary: e.summary,
        }
    }
}

/// Runs `nonstop events`.
pub fn run(args: EventsArgs) -> ExitCode {
    run_async(async move {
        let mut c = Client::new(&args.conn)?;
        let after_ms = args
            .since
            .map(|d| nonstop_agent::clock::wall_ms().saturating_sub(d.0));
        if args.follow {
            return follow(&mut c, args.from, after_ms).await;
        }
        let req = pb::WatchRequest {
            from_revision: args.from,
            history_only: true,
        };
        let mut stream = call!(c, watch_events, req)?;
        let mut kept = Vec::new();
        while let Some(e) = stream.message().await.map_err(|s| stream_error(&s))? {
            let e = EventView::from(e);
            if after_ms.is_none_or(|t| e.at_ms >= t) {
                kept.push(e);
            }
        }
        emit(c.format, &kept, |k| {
            k.iter().map(line).collect::<Vec<_>>().join("\n")
        })
    })
}

/// `--follow`: prints the kept events after `from`, then each as it happens, until
/// interrupted. When the member serving the stream goes away (killed, restarted, cut off), it
/// watches again, on the next member that answers, from the last revision it printed: every
/// member applies the same commands at the same revisions, so nothing is skipped and nothing
/// printed twice (events of a revision arrive together; a revision is "seen" once whole).
async fn follow(c: &mut Client, from: u64, after_ms: Option<u64>) -> Result<(), CliError> {
    let format = c.format;
    let retry = Retry {
        first: std::time::Duration::from_millis(200),
        max: std::time::Duration::from_secs(5),
    };
    let print = |e: pb::ClusterEvent| {
        let e = EventView::from(e);
        match after_ms.is_none_or(|t| e.at_ms >= t) {
            true => print_one(format, &e),
            false => Ok(()),
        }
    };
    let told = |why: &str, last: u64| tell!("warning: {why}; watching again from revision {last}");
    follow_events(c, from, retry, print, told).await
}

/// One followed event: a line, a JSON line, or a YAML document.
fn print_one(format: Format, e: &EventView) -> Result<(), CliError> {
    match format {
        Format::Table => print_line(&line(e)),
        Format::Json => {
            let text = serde_json::to_string(e)
                .map_err(|err| CliError::Refused(format!("cannot write JSON: {err}")))?;
            print_line(&text)
        }
        Format::Yaml => {
            print_line("---")?;
            emit(format, e, line)
        }
    }
}

/// `   42 2026-11-21 11:02:03.120 * Move G ( a -> b ) operator`.
fn line(e: &EventView) -> String {
    let what = if e.summary.is_empty() {
        e.event.to_string()
    } else {
        e.summary.clone()
    };
    format!("{:>6} {} {what}", e.revision, timestamp(e.at_ms))
}
