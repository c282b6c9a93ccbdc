//! `group move --wait`: reads the group after every cluster event until it is Online on its
//! destination, showing progress (a spinner on a terminal, one line per change otherwise), and
//! measures how long it took. Without an event stream it polls.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use nonstop_proto::cluster as pb;
use serde::Serialize;
use tonic::Streaming;

use super::client::{CliError, Client, call};
use super::output::cell;
use super::output::tell;
use super::views::GroupView;
use crate::cli::node::named;

/// How often the group is read when no event stream is open: fine enough for the duration to
/// be within this of the truth.
const POLL: Duration = Duration::from_millis(25);
/// How often it is read anyway while events are followed (a missed event costs at most this).
const POLL_WITH_EVENTS: Duration = Duration::from_millis(500);

/// What a wait waits for.
#[derive(Debug)]
pub struct Goal {
    /// The group.
    pub group: String,
    /// The destination; `None`: whichever node the move picked.
    pub to: Option<String>,
    /// How long to wait.
    pub timeout: Duration,
    /// The revision the move was applied at: events after it are followed.
    pub revision: u64,
}

/// A group that arrived, and how long after the command was sent.
#[derive(Debug, Serialize)]
pub struct Moved {
    pub revision: u64,
    pub changes: Vec<String>,
    pub group: GroupView,
    pub seconds: f64,
}

impl Moved {
    /// The move's reply and the group as it arrived.
    pub fn new(reply: pb::CommandReply, (group, took): (GroupView, Duration)) -> Moved {
        Moved {
            revision: reply.revision,
            changes: reply.changes,
            group,
            seconds: took.as_secs_f64(),
        }
    }

    /// `SOCKET_GROUP online on osdb-back after 1.42 s`.
    pub fn text(&self) -> String {
        format!(
            "{} online on {} after {:.2} s",
            self.group.name,
            cell(&self.group.owner),
            self.seconds
        )
    }
}

/// Waits until the group is Online on the goal's node (or, with no node given, on the node the
/// move picked); returns it and the time since `started`.
pub async fn online(
    c: &mut Client,
    goal: &Goal,
    started: Instant,
) -> Result<(GroupView, Duration), CliError> {
    let deadline = started + goal.timeout;
    let mut dest = goal.to.clone();
    let mut progress = Progress::new(&goal.group);
    let req = pb::WatchRequest {
        from_revision: goal.revision,
        history_only: false,
    };
    // Polling alone still works when the member cannot stream events.
    let mut events = call!(c, watch_events, req).ok();
    loop {
        let reply = call!(c, get_group, named(goal.group.clone()))?;
        let online = reply.state() == pb::GroupState::Online;
        let g = GroupView::from(reply);
        if dest.is_none() {
            dest = g.moving_to.clone();
        }
        progress.show(&g);
        if online && arrived(&g, dest.as_deref()) {
            progress.finish();
            return Ok((g, started.elapsed()));
        }
        if let Some(why) = &g.held {
            progress.finish();
            let msg = format!("group {:?} is held Failed: {why}", g.name);
            return Err(CliError::Refused(msg));
        }
        if let Some(why) = superseded(&g, dest.as_deref()) {
            progress.finish();
            return Err(CliError::Superseded(why));
        }
        if Instant::now() >= deadline {
            progress.finish();
            return Err(timed_out(goal, &g, dest.as_deref()));
        }
        next_change(&mut events, deadline).await;
    }
}

/// Waits for the next cluster event, a poll interval, or the deadline, whichever comes first.
async fn next_change(events: &mut Option<Streaming<pb::ClusterEvent>>, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    match events {
        Some(stream) => tokio::select! {
            m = stream.message() => {
                if !matches!(m, Ok(Some(_))) {
                    *events = None; // the stream ended or broke: poll from now on
                }
            }
            _ = tokio::time::sleep(POLL_WITH_EVENTS.min(left)) => {}
        },
        None => tokio::time::sleep(POLL.min(left)).await,
    }
}

/// Whether the group (Online) is settled on `dest` (on any node when `dest` is unknown).
fn arrived(g: &GroupView, dest: Option<&str>) -> bool {
    let placed = match (g.owner.as_deref(), dest) {
        (Some(o), Some(d)) => o == d,
        (owner, None) => owner.is_some(),
        (None, Some(_)) => false,
    };
    g.moving_to.is_none() && placed
}

/// Whether the group left the way to `dest`: once its move is applied, a group is on its way
/// to `dest` (moving there) or there; anything else means a later command (another move, a
/// drain, an offline) took it elsewhere, and waiting longer cannot end well.
fn superseded(g: &GroupView, dest: Option<&str>) -> Option<String> {
    let dest = dest?;
    let on_way = g.moving_to.as_deref() == Some(dest);
    let there = g.owner.as_deref() == Some(dest) && g.moving_to.is_none();
    if on_way || there {
        return None;
    }
    let now = match (&g.moving_to, &g.owner) {
        (Some(to), _) => format!("moving to {to}"),
        (None, Some(o)) => format!("{} on {o}", g.state),
        (None, None) => "not placed".to_string(),
    };
    Some(format!(
        "superseded: group {:?} is not going to {dest} any more (now {now}): a later command \
         changed its course",
        g.name
    ))
}

fn timed_out(goal: &Goal, g: &GroupView, dest: Option<&str>) -> CliError {
    CliError::TimedOut(format!(
        "timed out after {:.1} s waiting for group {:?} to be Online on {} (now {} on {})",
        goal.timeout.as_secs_f64(),
        goal.group,
        dest.unwrap_or("its best owner"),
        g.state,
        cell(&g.owner)
    ))
}

/// The group's state as it changes: a spinner on a terminal, plain lines on stderr otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    last: String,
}

impl Progress {
    fn new(group: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.set_message(format!("moving {group}"));
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress {
            bar,
            last: String::new(),
        }
    }

    fn show(&mut self, g: &GroupView) {
        let line = match &g.moving_to {
            Some(to) => format!("{}: {} on {} -> {to}", g.name, g.state, cell(&g.owner)),
            None => format!("{}: {} on {}", g.name, g.state, cell(&g.owner)),
        };
        if line == self.last {
            return;
        }
        match &self.bar {
            Some(bar) => bar.set_message(line.clone()),
            None => tell!("{line}"),
        }
        self.last = line;
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
