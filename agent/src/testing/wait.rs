//! Waiting with deadlines, and desired states written briefly.

use std::time::Duration;

use nonstop_contract::{DesiredGroup, DesiredResource, HandlerRef, Properties, Timings};
use tokio::sync::broadcast;

/// Waits until `cond` holds, checking every 5 ms, for at most `within`. Returns whether it held.
pub async fn until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The next item of `rx` that matches `pred`, within `within` (`None`: none came).
pub async fn next_matching<T: Clone>(
    rx: &mut broadcast::Receiver<T>,
    within: Duration,
    mut pred: impl FnMut(&T) -> bool,
) -> Option<T> {
    let find = async {
        loop {
            match rx.recv().await {
                Ok(item) if pred(&item) => return Some(item),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    };
    tokio::time::timeout(within, find).await.ok().flatten()
}

/// A desired resource of type `type_name`, online, depending on `deps`.
pub fn desired_resource(
    name: &str,
    type_name: &str,
    deps: &[&str],
    timings: Timings,
) -> DesiredResource {
    DesiredResource {
        name: name.into(),
        type_name: type_name.into(),
        handler: HandlerRef::Builtin(type_name.into()),
        properties: Properties::new(),
        timings,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        online: true,
    }
}

/// A desired group.
pub fn desired_group(name: &str, epoch: u64, resources: Vec<DesiredResource>) -> DesiredGroup {
    DesiredGroup {
        name: name.into(),
        epoch,
        resources,
        stop: None,
    }
}
