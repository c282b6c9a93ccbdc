//! Leftovers: an agent that dies leaves its processes running and recorded in its state file;
//! the next agent on that data directory kills them before it registers.

mod common;

use common::{DEADLINE, Harness, process_alive};
use nonstop_agent::AgentEvent;
use nonstop_agent::state_file::StateFile;
use nonstop_agent::testing::until;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_kills_what_the_dead_one_left_before_registering() {
    let mut h = Harness::start(50, 300);
    h.one_online("r", "sleep").await;
    let pid = h.sleep.running("r").expect("started").pid;
    let state = StateFile::load(&h.dir.path().join("agent-state.json")).unwrap();
    let recorded = &state["r"].footprint.process_groups;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].pgid, pid, "recorded");
    assert!(recorded[0].start.is_some(), "with its start time");

    // The agent dies: nothing stops the process.
    h.agent.take().unwrap().abandon().await;
    assert!(process_alive(pid), "a leftover");
    assert_eq!(h.leader.registrations(), 1);

    h.restart_agent();
    let mut events = h.agent.as_ref().unwrap().events();
    h.wait_event("leftovers cleaned", |e| {
        *e == AgentEvent::LeftoversCleaned(vec!["r".into()])
    })
    .await;
    assert!(
        until(DEADLINE, || !process_alive(pid)).await,
        "leftover {pid} killed"
    );
    let registered = nonstop_agent::testing::next_matching(&mut events, DEADLINE, |e| {
        *e == AgentEvent::Registered
    });
    assert!(registered.await.is_some());
    assert_eq!(h.leader.registrations(), 2);
    // The new agent follows the desired state again with a new process.
    assert!(
        until(DEADLINE, || h
            .sleep
            .running("r")
            .is_some_and(|r| r.pid != pid))
        .await
    );
    h.agent.take().unwrap().shutdown().await.unwrap();
    assert!(
        StateFile::load(&h.dir.path().join("agent-state.json"))
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_garbled_state_file_does_not_stop_the_agent() {
    let mut h = Harness::start(50, 300);
    h.agent.take().unwrap().abandon().await;
    std::fs::write(h.dir.path().join("agent-state.json"), "{garbage").unwrap();
    h.restart_agent();
    h.wait_event("cleaned (nothing)", |e| {
        *e == AgentEvent::LeftoversCleaned(vec![])
    })
    .await;
    h.wait_event("registered", |e| *e == AgentEvent::Registered)
        .await;
}

/// Issue 10, item 4: a process-group number in the state file that came back for a process the
/// agent never started is left alone by the restarted agent (it checks the leader's start time),
/// and so is a bare number from an older state file.
#[tokio::test]
async fn i10_4_a_restarted_agent_kills_nothing_it_did_not_start() {
    use nonstop_agent::state_file::{Started, StartedMap, write_atomically};
    use nonstop_contract::HandlerRef;
    use nonstop_resource_types::Footprint;
    use nonstop_resource_types::procs::ProcessGroup;
    use std::os::unix::process::CommandExt;

    let mut h = Harness::start(50, 300);
    h.agent.take().unwrap().abandon().await;
    let mut strangers: Vec<std::process::Child> = (0..2)
        .map(|_| {
            std::process::Command::new("sleep")
                .arg("60")
                .process_group(0)
                .spawn()
                .unwrap()
        })
        .collect();
    let mut reused = ProcessGroup::led_by(strangers[0].id() as i32);
    reused.start = reused.start.map(|s| s.saturating_sub(1000));
    let bare = ProcessGroup {
        pgid: strangers[1].id() as i32,
        start: None,
    };
    let entry = |g: ProcessGroup| Started {
        type_name: "sleep".into(),
        handler: HandlerRef::Builtin("sleep".into()),
        footprint: Footprint {
            process_groups: vec![g],
            ..Footprint::default()
        },
    };
    let map: StartedMap = [
        ("r".to_string(), entry(reused)),
        ("s".to_string(), entry(bare)),
    ]
    .into();
    let path = h.dir.path().join("agent-state.json");
    write_atomically(&path, &serde_json::to_vec(&map).unwrap()).unwrap();

    h.restart_agent();
    h.wait_event(
        "leftovers cleaned",
        |e| matches!(e, AgentEvent::LeftoversCleaned(names) if names.len() == 2),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for s in &mut strangers {
        assert!(s.try_wait().unwrap().is_none(), "a stranger was killed");
        let _ = s.kill();
        let _ = s.wait();
    }
}
