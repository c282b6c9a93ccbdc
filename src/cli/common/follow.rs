//! Following the cluster's events across broken streams and dead members, each event exactly
//! once: `nonstop events --follow` and the drill's event reader both use it.
//!
//! Several events may share a revision (one command's), and a stream may break between them. So
//! the watch is opened again from the revision before the last one seen, and the events of that
//! revision already delivered are skipped: nothing is missed and nothing comes twice.

use std::time::Duration;

use nonstop_proto::cluster as pb;

use super::client::{CliError, Client, call};

/// How long to wait before watching again: at first, and at most (doubling in between).
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub first: Duration,
    pub max: Duration,
}

/// Delivers every event after revision `from` to `deliver`, in order, watching again (on the
/// next member when this one is gone) whenever the stream breaks; `on_break` is told why and
/// from which revision it goes on. Ends with `deliver`'s error, or with the member's when it
/// no longer keeps what is asked for (DATA_LOSS) or refuses the caller.
pub async fn follow_events(
    c: &mut Client,
    from: u64,
    retry: Retry,
    mut deliver: impl FnMut(pb::ClusterEvent) -> Result<(), CliError>,
    mut on_break: impl FnMut(&str, u64),
) -> Result<(), CliError> {
    let mut last = from;
    // Events of revision `last` delivered so far (a break may cut a revision in the middle).
    let mut delivered_of_last = 0usize;
    let mut pause = retry.first;
    loop {
        let req = pb::WatchRequest {
            from_revision: last.saturating_sub(u64::from(delivered_of_last > 0)),
            history_only: false,
        };
        let why = match call!(c, watch_events, req) {
            Ok(mut stream) => {
                pause = retry.first;
                let mut skip = delivered_of_last;
                loop {
                    match stream.message().await {
                        Ok(Some(e)) => {
                            // Asked again from the revision before a half-delivered one: its
                            // events come again, and those delivered are skipped.
                            if e.revision < last || (e.revision == last && skip > 0) {
                                skip = skip.saturating_sub(usize::from(e.revision == last));
                                continue;
                            }
                            if e.revision != last {
                                last = e.revision;
                                delivered_of_last = 0;
                            }
                            delivered_of_last += 1;
                            deliver(e)?;
                        }
                        Ok(None) => break "the member ended the event stream".to_string(),
                        Err(s) if s.code() == tonic::Code::DataLoss => {
                            return Err(stream_error(&s));
                        }
                        Err(s) => break format!("the event stream broke: {}", s.message()),
                    }
                }
            }
            Err(CliError::Unreachable(why)) => why,
            Err(e) => return Err(e),
        };
        on_break(&why, last);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(retry.max);
    }
}

/// A stream that broke: the member went away, or the watcher fell behind (DATA_LOSS: the member
/// no longer keeps what was asked for).
pub fn stream_error(s: &tonic::Status) -> CliError {
    match s.code() {
        tonic::Code::DataLoss => CliError::Refused(s.message().to_string()),
        _ => CliError::Unreachable(format!("the event stream broke: {}", s.message())),
    }
}
