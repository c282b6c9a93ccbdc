//! A group's lifecycle: dependency order online and offline, a failure that takes its
//! dependents down and back, a hung online, a hung offline, checks, graceful shutdown.

mod common;

use std::time::Duration;

use common::{DEADLINE, Harness, timings};
use nonstop_agent::testing::{Behaviour, desired_group, desired_resource, until};
use nonstop_contract::{DesiredResource, ResourceState as S, RestartMode};

/// ip <- app <- web: web needs app, app needs ip.
fn chain(online: bool) -> Vec<DesiredResource> {
    let t = timings(RestartMode::RestartThenFailover, Some(3), 0);
    let mut v = vec![
        desired_resource("ip", "scripted", &[], t),
        desired_resource("app", "scripted", &["ip"], t),
        desired_resource("web", "scripted", &["app"], t),
    ];
    v.iter_mut().for_each(|r| r.online = online);
    v
}

#[tokio::test(start_paused = true)]
async fn a_chain_comes_online_bottom_up_and_goes_offline_top_down() {
    let mut h = Harness::start(200, 1000);
    h.desire(vec![desired_group("g", 1, chain(true))]);
    h.wait_state("web", S::Online).await;
    assert_eq!(
        h.calls(),
        [
            "ip:open",
            "ip:online",
            "app:open",
            "app:online",
            "web:open",
            "web:online"
        ]
    );
    h.desire(vec![desired_group("g", 1, chain(false))]);
    h.wait_state("ip", S::Offline).await;
    let offline: Vec<String> = h
        .calls()
        .into_iter()
        .filter(|c| c.ends_with("offline"))
        .collect();
    assert_eq!(offline, ["web:offline", "app:offline", "ip:offline"]);
}

#[tokio::test(start_paused = true)]
async fn a_failure_takes_dependents_offline_first_then_restarts_and_brings_them_back() {
    let mut h = Harness::start(200, 1000);
    h.desire(vec![desired_group("g", 1, chain(true))]);
    h.wait_state("web", S::Online).await;
    let before = h.calls().len();
    h.scripted.kill("app");
    let failed = h.wait_state("app", S::Failed).await;
    assert_eq!(failed.message.as_deref(), Some("killed by the test"));
    assert!(!failed.gave_up);
    let restarting = h.wait_state("app", S::OnlinePending).await;
    let count = restarting.restart.expect("reported as a restart");
    assert_eq!((count.attempt, count.limit), (1, Some(3)));
    h.wait_state("web", S::Online).await;
    assert_eq!(
        h.calls()[before..],
        ["web:offline", "app:terminate", "app:online", "web:online"]
    );
    assert!(h.scripted.is_running("ip"), "what app needs was left alone");
}

#[tokio::test(start_paused = true)]
async fn a_hung_online_is_terminated_at_the_pending_timeout_and_reported_failed() {
    let mut h = Harness::start(200, 1000);
    h.scripted.set(
        "stuck",
        Behaviour {
            online_hangs: true,
            ..Behaviour::default()
        },
    );
    let t = timings(RestartMode::NoRestart, Some(3), 0);
    h.desire(vec![desired_group(
        "g",
        1,
        vec![desired_resource("stuck", "scripted", &[], t)],
    )]);
    h.wait_state("stuck", S::OnlinePending).await;
    let started = tokio::time::Instant::now();
    let failed = h.wait_state("stuck", S::Failed).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_millis(600),
        "{waited:?}"
    );
    assert!(failed.gave_up, "no-restart gives up at once");
    assert!(
        failed
            .message
            .unwrap()
            .contains("did not finish within 500 ms")
    );
    assert_eq!(h.scripted.count("stuck", "terminate"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hung_offline_is_terminated_and_reported_failed() {
    let mut h = Harness::start(200, 1000);
    h.scripted.set(
        "r",
        Behaviour {
            offline_hangs: true,
            ..Behaviour::default()
        },
    );
    let t = timings(RestartMode::RestartThenFailover, Some(3), 0);
    let mut r = desired_resource("r", "scripted", &[], t);
    h.desire(vec![desired_group("g", 1, vec![r.clone()])]);
    h.wait_state("r", S::Online).await;
    r.online = false;
    h.desire(vec![desired_group("g", 1, vec![r])]);
    let failed = h.wait_state("r", S::Failed).await;
    assert!(failed.message.unwrap().contains("offline did not finish"));
    assert!(!failed.gave_up, "a resource meant to stop is not restarted");
    assert!(!h.scripted.is_running("r"));
    assert_eq!(h.scripted.count("r", "online"), 1);
}

#[tokio::test(start_paused = true)]
async fn looks_alive_notices_a_silent_death_within_its_interval() {
    let mut h = Harness::start(200, 1000);
    h.one_online("r", "scripted").await;
    h.scripted.vanish("r");
    let gone = tokio::time::Instant::now();
    let failed = h.wait_state("r", S::Failed).await;
    assert!(
        gone.elapsed() <= Duration::from_millis(100),
        "{:?}",
        gone.elapsed()
    );
    assert!(
        failed
            .message
            .unwrap()
            .starts_with("looks_alive: not running")
    );
    h.wait_state("r", S::Online).await;
    assert!(h.scripted.is_running("r"), "restarted");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_type_is_reported_failed_and_the_rest_runs() {
    let mut h = Harness::start(200, 1000);
    let t = timings(RestartMode::RestartThenFailover, Some(3), 0);
    h.desire(vec![desired_group(
        "g",
        1,
        vec![
            desired_resource("odd", "no-such-type", &[], t),
            desired_resource("fine", "scripted", &[], t),
        ],
    )]);
    let failed = h.wait_state("odd", S::Failed).await;
    assert!(failed.gave_up);
    assert!(
        failed
            .message
            .unwrap()
            .contains("no handler for type \"no-such-type\"")
    );
    h.wait_state("fine", S::Online).await;
    // The same desired state again, with one more resource: "odd" is not reported again.
    let again = vec![
        desired_resource("odd", "no-such-type", &[], t),
        desired_resource("fine", "scripted", &[], t),
        desired_resource("more", "scripted", &[], t),
    ];
    h.desire(vec![desired_group("g", 1, again)]);
    h.wait_state("more", S::Online).await;
    let odd = h
        .leader
        .reports()
        .into_iter()
        .filter(|r| r.resource == "odd")
        .count();
    assert_eq!(odd, 1, "reported once per epoch");
}

#[tokio::test(start_paused = true)]
async fn shutdown_takes_everything_offline_top_down_and_delivers_the_reports() {
    let mut h = Harness::start(200, 1000);
    h.desire(vec![desired_group("g", 1, chain(true))]);
    h.wait_state("web", S::Online).await;
    h.agent.take().unwrap().shutdown().await.unwrap();
    let offline: Vec<String> = h
        .calls()
        .into_iter()
        .filter(|c| c.ends_with("offline"))
        .collect();
    assert_eq!(offline, ["web:offline", "app:offline", "ip:offline"]);
    let seen = h.leader.reports();
    let last = seen.iter().rev().find(|r| r.resource == "ip").unwrap();
    assert_eq!(last.state, S::Offline, "the leader got the final reports");
    assert!(until(DEADLINE, || !h.scripted.is_running("ip")).await);
}

#[tokio::test(start_paused = true)]
async fn looks_alive_and_is_alive_run_on_their_own_intervals() {
    let mut h = Harness::start(200, 1000);
    // looks_alive every 100 ms, is_alive every 1000 ms.
    h.one_online("r", "scripted").await;
    tokio::time::sleep(Duration::from_millis(5050)).await; // the window the checks are counted in
    let (looks, is) = (
        h.scripted.count("r", "looks_alive"),
        h.scripted.count("r", "is_alive"),
    );
    assert_eq!(is, 5, "is_alive once a second");
    // Ten ticks a second, minus the ones where is_alive ran instead.
    assert!((44..=46).contains(&looks), "looks_alive {looks} times");
}

/// The leader committed a batch but its answer was lost: the agent sends the same batch again,
/// with the same numbers, and the leader takes each transition once.
#[tokio::test(start_paused = true)]
async fn a_batch_sent_again_after_a_lost_answer_is_taken_once() {
    let mut h = Harness::start(200, 1000);
    h.leader.lose_report_answers(2);
    h.desire(vec![desired_group("g", 1, chain(true))]);
    h.wait_state("web", S::Online).await;
    until(DEADLINE, || {
        h.leader
            .reports()
            .iter()
            .any(|r| r.resource == "web" && r.state == S::Online)
    })
    .await;
    let taken: Vec<(String, S)> = h
        .leader
        .reports()
        .into_iter()
        .map(|r| (r.resource, r.state))
        .collect();
    // Each resource passes each state once on its way online.
    for t in &taken {
        let n = taken.iter().filter(|x| *x == t).count();
        assert_eq!(n, 1, "{t:?} taken {n} times: {taken:?}");
    }
    assert_eq!(
        taken.iter().filter(|(_, s)| *s == S::Online).count(),
        3,
        "{taken:?}"
    );
}
