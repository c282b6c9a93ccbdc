//! Knowing our processes again before killing them.
//!
//! A process number is not an identity: pid_max is often 32768, and numbers come back. A state
//! file written by an agent that died names process groups by number; killing those numbers
//! blindly after a restart kills whatever has them now. So nothing is killed on a number alone:
//!
//! - **a process group** is killed only while its leader is the very process that was started:
//!   the same number *and* the same start time (field 22 of `/proc/PID/stat`, clock ticks since
//!   boot), on the same boot (`/proc/sys/kernel/random/boot_id`);
//! - **a marker**: every program a resource starts carries `NONSTOP_FOOTPRINT=<128 random bits>`
//!   in its environment, and its children inherit it. A process whose environment holds the
//!   marker was started for that resource (or by something it started), whatever its number and
//!   process group. The marker is recorded before anything starts, so the processes of an
//!   interrupted start can be found without knowing their numbers.
//!
//! What is left: a process that changes its own process group *and* clears its environment
//! escapes both (a resource that does that must be stopped by its own stop command); and between
//! the check and the kill a few microseconds pass in which a leader could exit and its number be
//! taken by a new group leader, which on a busy machine means 32768 forks in those microseconds.

use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// The environment variable that carries a resource's marker.
pub const MARKER_VAR: &str = "NONSTOP_FOOTPRINT";

/// A process group a resource started: its number and its leader's start time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "GroupRepr")]
pub struct ProcessGroup {
    /// The group's number (its leader's pid).
    pub pgid: i32,
    /// The leader's start time in clock ticks since boot. `None` for entries written by versions
    /// that did not record it: those are never killed (they cannot be told from a stranger).
    pub start: Option<u64>,
}

/// How a group is read from a state file: as written now, or a bare number (older files).
#[derive(Deserialize)]
#[serde(untagged)]
enum GroupRepr {
    Now { pgid: i32, start: Option<u64> },
    Bare(i32),
}

impl From<GroupRepr> for ProcessGroup {
    fn from(r: GroupRepr) -> Self {
        match r {
            GroupRepr::Now { pgid, start } => ProcessGroup { pgid, start },
            GroupRepr::Bare(pgid) => ProcessGroup { pgid, start: None },
        }
    }
}

impl ProcessGroup {
    /// The group led by `pid`, which was just started (its start time read now).
    pub fn led_by(pid: i32) -> Self {
        ProcessGroup {
            pgid: pid,
            start: stat(pid).map(|s| s.start),
        }
    }

    /// Whether the group's leader is still the process that was started.
    pub fn is_ours(&self) -> bool {
        let Some(start) = self.start else {
            return false;
        };
        self.pgid > 1
            && stat(self.pgid).is_some_and(|s| s.start == start && s.pgrp == self.pgid && !s.zombie)
    }
}

/// What `/proc/PID/stat` says of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Its parent.
    pub ppid: i32,
    /// Its process group.
    pub pgrp: i32,
    /// When it started, in clock ticks since boot.
    pub start: u64,
    /// It exited and waits to be reaped.
    pub zombie: bool,
}

/// Reads `/proc/PID/stat`; `None` when there is no such process (or it cannot be read).
pub fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses a `/proc/PID/stat` line. The command name, in parentheses, may hold any byte, so
/// fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (field 3), ppid (4), pgrp (5), ... starttime (22).
    Some(Stat {
        zombie: f.first()? == &"Z",
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// This boot's identity; `None` if the kernel does not say.
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// A fresh marker: 128 random bits in hex.
pub fn new_marker() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The processes /proc lists now (none when it cannot be read).
pub fn pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Every running process (not zombies) whose environment holds one of `markers`, with the
/// marker it holds.
pub fn marked(markers: &BTreeSet<&str>) -> Vec<(i32, String)> {
    if markers.is_empty() {
        return Vec::new();
    }
    let me = std::process::id() as i32;
    let prefix = format!("{MARKER_VAR}=");
    let mut out = Vec::new();
    for pid in pids() {
        if pid == me {
            continue;
        }
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let found = env
            .split(|b| *b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok())
            .filter_map(|kv| kv.strip_prefix(&prefix))
            .find(|m| markers.contains(m));
        if let Some(m) = found
            && stat(pid).is_some_and(|s| !s.zombie)
        {
            out.push((pid, m.to_string()));
        }
    }
    out
}

/// The processes of a footprint, for [`kill_all`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Processes<'a> {
    /// The process groups it recorded.
    pub groups: &'a [ProcessGroup],
    /// Its marker, if it recorded one.
    pub marker: Option<&'a str>,
    /// The boot it was recorded on (`None`: unknown).
    pub boot: Option<&'a str>,
}

/// What [`kill_all`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Killed {
    /// How many processes and groups were signalled.
    pub signalled: usize,
    /// Whether a pass found nothing left to kill before the limit (false: some of them were
    /// still found running when the time was up).
    pub clean: bool,
}

/// SIGKILL to every process of `sets` that is provably theirs: groups whose leader is the one
/// that was started, and processes that carry a marker. Repeats (every 10 ms, at most `limit`)
/// until a pass finds none, so that a process forked during the kill is caught too.
/// Blocking: call from a blocking thread.
pub fn kill_all(sets: &[Processes<'_>], limit: Duration) -> Killed {
    let boot = boot_id();
    // Recorded on another boot: nothing of it can be running now.
    let here: Vec<&Processes<'_>> = sets
        .iter()
        .filter(|s| s.boot.is_none() || s.boot == boot.as_deref())
        .collect();
    let markers: BTreeSet<&str> = here.iter().filter_map(|s| s.marker).collect();
    let deadline = std::time::Instant::now() + limit;
    let mut signalled = 0;
    loop {
        let mut found = 0;
        for g in here.iter().flat_map(|s| s.groups.iter()) {
            if g.is_ours() && killpg(Pid::from_raw(g.pgid), Signal::SIGKILL).is_ok() {
                found += 1;
            }
        }
        for (pid, _) in marked(&markers) {
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                found += 1;
            }
        }
        signalled += found;
        if found == 0 {
            return Killed {
                signalled,
                clean: true,
            };
        }
        if std::time::Instant::now() >= deadline {
            return Killed {
                signalled,
                clean: false,
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_stat_line_is_read_from_the_last_parenthesis() {
        let line = "4242 (we) ird (name)) S 1 4242 4242 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 \
                    123456 1000 100 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            (s.ppid, s.pgrp, s.start, s.zombie),
            (1, 4242, 123456, false)
        );
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn old_state_files_name_bare_numbers_which_are_never_ours() {
        let g: Vec<ProcessGroup> = serde_json::from_str(r#"[7, {"pgid": 8, "start": 9}]"#).unwrap();
        assert_eq!(
            g[0],
            ProcessGroup {
                pgid: 7,
                start: None
            }
        );
        assert_eq!(
            g[1],
            ProcessGroup {
                pgid: 8,
                start: Some(9)
            }
        );
        assert!(!g[0].is_ours());
    }

    #[test]
    fn a_group_is_ours_only_with_its_leaders_start_time() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let ours = ProcessGroup::led_by(pid);
        assert!(ours.is_ours());
        let stranger = ProcessGroup {
            pgid: pid,
            start: ours.start.map(|s| s + 1),
        };
        assert!(!stranger.is_ours(), "same number, another start time");
        let k = kill_all(
            &[Processes {
                groups: std::slice::from_ref(&stranger),
                ..Processes::default()
            }],
            Duration::from_millis(100),
        );
        assert_eq!((k.signalled, k.clean), (0, true));
        assert!(child.try_wait().unwrap().is_none(), "a stranger was killed");
        let k = kill_all(
            &[Processes {
                groups: std::slice::from_ref(&ours),
                ..Processes::default()
            }],
            Duration::from_secs(1),
        );
        assert!(k.signalled >= 1);
        assert!(child.wait().unwrap().code().is_none());
    }

    #[test]
    fn marked_processes_are_found_and_killed_and_others_are_left() {
        let marker = new_marker();
        let other = new_marker();
        let spawn = |m: &str| {
            std::process::Command::new("sleep")
                .arg("30")
                .env(MARKER_VAR, m)
                .spawn()
                .unwrap()
        };
        let (mut mine, mut theirs) = (spawn(&marker), spawn(&other));
        let set = BTreeSet::from([marker.as_str()]);
        let found: Vec<i32> = marked(&set).into_iter().map(|(p, _)| p).collect();
        assert_eq!(found, vec![mine.id() as i32]);
        let sets = [Processes {
            marker: Some(&marker),
            ..Processes::default()
        }];
        assert_eq!(kill_all(&sets, Duration::from_secs(1)).signalled, 1);
        assert!(mine.wait().unwrap().code().is_none());
        assert!(theirs.try_wait().unwrap().is_none());
        let _ = theirs.kill();
        let _ = theirs.wait();
    }

    #[test]
    fn processes_recorded_on_another_boot_are_not_ours() {
        let marker = new_marker();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(MARKER_VAR, &marker)
            .spawn()
            .unwrap();
        let sets = [Processes {
            marker: Some(&marker),
            boot: Some("another-boot"),
            ..Processes::default()
        }];
        assert_eq!(kill_all(&sets, Duration::from_millis(100)).signalled, 0);
        assert!(child.try_wait().unwrap().is_none());
        let _ = child.kill();
        let _ = child.wait();
    }
}
