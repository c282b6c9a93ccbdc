//! The outside checker: what the machine shows, sampled every 10 ms by a thread of the test,
//! with no code of nonstop's in the loop (it reads /proc and files, and at the end the
//! cluster's event history through the CLI). It asserts what a user would want from the
//! outside:
//!
//! - **never two copies**: at most one process tree whose command line holds a watched needle
//!   (a group's program: the chat server, a marker that can really run twice, a plug-in's
//!   daemon), and at most one of a set of files (an OCF Dummy's per-node state files). A
//!   matching process whose ancestor also matches is part of the same copy (a wrapper such as
//!   a pyenv shim forks subshells with the same command line); a second start by nonstop has
//!   the agent, not the first copy, above it;
//! - **no exit nobody caused**: a watched process that dies (its pid is gone, a zombie, or
//!   reused by a process started later; a process that only execs into another command line
//!   has not died) outside a window the test
//!   declared (a move, a kill, a restart: [`Checker::cause`]) is a violation, and so is a
//!   resource failure in the cluster's events outside such a window; in quiet periods pids do
//!   not change;
//! - **nothing killed that the cluster did not start**: decoy processes the checker starts (in
//!   process groups of their own, some with numbers written into nonstop's state files by tests)
//!   must live until the end.
//!
//! Violations are kept with the time they were seen; [`Checker::finish`] returns them all, and
//! a test fails on any.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the checker looks.
const PERIOD: Duration = Duration::from_millis(10);

/// What to watch.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// (label, needle): at most one live process whose command line contains the needle, and
    /// none of them may exit outside a declared cause.
    pub processes: Vec<(String, String)>,
    /// (label, paths): at most one of these files exists at any time.
    pub files: Vec<(String, Vec<PathBuf>)>,
    /// How many decoys to start.
    pub decoys: usize,
    /// (label, text): the watched process of that label counts only where its environment
    /// holds the text (a command line shared with other tests running at the same time).
    pub scopes: Vec<(String, String)>,
}

impl Rules {
    /// Adds a watched process.
    pub fn process(mut self, label: &str, needle: &str) -> Self {
        self.processes.push((label.into(), needle.into()));
        self
    }

    /// Counts the processes of `label` only where their environment holds `text` (such as the
    /// cluster's own folder, which reaches every process its daemons start).
    pub fn within(mut self, label: &str, text: &str) -> Self {
        self.scopes.push((label.into(), text.into()));
        self
    }

    /// Adds a set of files of which at most one may exist.
    pub fn files(mut self, label: &str, paths: Vec<PathBuf>) -> Self {
        self.files.push((label.into(), paths));
        self
    }

    /// Asks for `n` decoys.
    pub fn decoys(mut self, n: usize) -> Self {
        self.decoys = n;
        self
    }
}

/// Something that broke a rule.
#[derive(Clone, Debug)]
pub struct Violation {
    /// Milliseconds since the checker started.
    pub at_ms: u128,
    /// What.
    pub what: String,
}

/// A process exit the checker saw.
#[derive(Clone, Debug)]
pub struct Exit {
    /// The watch.
    pub label: String,
    /// The pid that went away.
    pub pid: i32,
    /// Milliseconds since the checker started.
    pub at_ms: u128,
    /// The cause it fell in, if any.
    pub cause: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    violations: Vec<Violation>,
    exits: Vec<Exit>,
    /// (from, until, what), on the checker's clock.
    causes: Vec<(Instant, Instant, String)>,
    /// label -> (pid, start time) of the watched processes seen alive so far and not yet dead.
    live: BTreeMap<String, BTreeSet<(i32, u64)>>,
    /// label -> the most copies seen at once.
    most: BTreeMap<String, usize>,
    samples: u64,
}

/// A running checker; stop it with [`Checker::finish`].
pub struct Checker {
    started: Instant,
    started_wall_ms: u64,
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<State>>,
    thread: Option<JoinHandle<()>>,
    decoys: Vec<Child>,
    decoy_tag: String,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Checker {
    /// Starts watching by `rules`.
    pub fn start(rules: Rules) -> Checker {
        let started = Instant::now();
        let decoy_tag = format!("nonstop-decoy-{}-{}", std::process::id(), wall_ms());
        let decoys = (0..rules.decoys).map(|_| decoy(&decoy_tag)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(State::default()));
        let (s, st) = (stop.clone(), state.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                sample(&rules, &st, started);
                std::thread::sleep(PERIOD);
            }
        });
        Checker {
            started,
            started_wall_ms: wall_ms(),
            stop,
            state,
            thread: Some(thread),
            decoys,
            decoy_tag,
        }
    }

    /// The decoys' pids (their process groups too).
    pub fn decoy_pids(&self) -> Vec<i32> {
        self.decoys.iter().map(|c| c.id() as i32).collect()
    }

    /// Declares that the test is about to disturb the cluster (`what`): exits and resource
    /// failures within `window` from now are explained by it.
    pub fn cause(&self, what: &str, window: Duration) {
        let now = Instant::now();
        let mut st = self.state.lock().unwrap();
        st.causes.push((now, now + window, what.to_string()));
    }

    /// Ends every open cause window `grace` from now: the test has seen the cluster settle, and
    /// from then on nothing may exit without a new cause.
    pub fn calm(&self, grace: Duration) {
        let end = Instant::now() + grace;
        let mut st = self.state.lock().unwrap();
        for (_, until, _) in &mut st.causes {
            if *until > end {
                *until = end;
            }
        }
    }

    /// The violations so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.state.lock().unwrap().violations.clone()
    }

    /// The exits seen so far.
    pub fn exits(&self) -> Vec<Exit> {
        self.state.lock().unwrap().exits.clone()
    }

    /// The most copies of `label` seen at once.
    pub fn most(&self, label: &str) -> usize {
        let st = self.state.lock().unwrap();
        st.most.get(label).copied().unwrap_or(0)
    }

    /// How many samples were taken.
    pub fn samples(&self) -> u64 {
        self.state.lock().unwrap().samples
    }

    /// Checks the cluster's event history (`events`, as `nonstop events -o json` prints it):
    /// every resource failure must fall in a declared cause's window.
    pub fn check_events(&self, events: &serde_json::Value) {
        let Some(list) = events.as_array() else {
            return;
        };
        let st = &mut *self.state.lock().unwrap();
        for e in list {
            let ev = &e["event"];
            let failed = ev["event"] == "resource-state"
                && (ev["to"] == "Failing" || ev["to"] == "Failed")
                && ev["from"] != "Failing";
            let Some(at) = e["at_ms"].as_u64() else {
                continue;
            };
            if !failed || at < self.started_wall_ms {
                continue;
            }
            let when = self.started + Duration::from_millis(at - self.started_wall_ms);
            if cause_at(&st.causes, when).is_none() {
                st.violations.push(Violation {
                    at_ms: (at - self.started_wall_ms) as u128,
                    what: format!("a resource failed with no cause: {}", e["summary"]),
                });
            }
        }
    }

    /// Stops watching; kills the decoys (a dead decoy is a violation); returns every
    /// violation.
    pub fn finish(mut self) -> Vec<Violation> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut st = self.state.lock().unwrap();
        for d in &mut self.decoys {
            match d.try_wait() {
                Ok(None) => {
                    let _ = d.kill();
                    let _ = d.wait();
                }
                other => st.violations.push(Violation {
                    at_ms: self.started.elapsed().as_millis(),
                    what: format!("decoy {} was killed ({other:?})", d.id()),
                }),
            }
        }
        std::mem::take(&mut st.violations)
    }

    /// The exits and violations, for a failure message.
    pub fn report(&self) -> String {
        let st = self.state.lock().unwrap();
        let mut out = format!("{} samples; exits:\n", st.samples);
        for e in &st.exits {
            out += &format!(
                "  {:>7} ms {} pid {} ({})\n",
                e.at_ms,
                e.label,
                e.pid,
                e.cause.as_deref().unwrap_or("NO CAUSE")
            );
        }
        for v in &st.violations {
            out += &format!("  VIOLATION {:>7} ms {}\n", v.at_ms, v.what);
        }
        out
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for d in &mut self.decoys {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

/// A decoy: a `sleep` in a process group of its own, as nonstop starts resources; nothing of
/// nonstop's should ever kill it. Its output goes nowhere, so that it never holds the test's.
fn decoy(tag: &str) -> Child {
    use std::os::unix::process::CommandExt;
    Command::new("sleep")
        .arg("100000")
        .env("NONSTOP_DECOY", tag)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("a decoy")
}

fn cause_at(causes: &[(Instant, Instant, String)], at: Instant) -> Option<String> {
    causes
        .iter()
        .find(|(from, until, _)| *from <= at && at <= *until)
        .map(|(_, _, what)| what.clone())
}

/// One look at the machine.
fn sample(rules: &Rules, state: &Mutex<State>, started: Instant) {
    let procs = processes();
    let now = Instant::now();
    let at_ms = now.duration_since(started).as_millis();
    let mut st = state.lock().unwrap();
    st.samples += 1;
    for (label, needle) in &rules.processes {
        let matching: BTreeSet<i32> = procs
            .values()
            .filter(|p| p.cmd.contains(needle.as_str()))
            .filter(|p| {
                rules
                    .scopes
                    .iter()
                    .filter(|(l, _)| l == label)
                    .all(|(_, text)| environment_holds(p.pid, text))
            })
            .map(|p| p.pid)
            .collect();
        // One copy per tree: the matching processes with no matching ancestor.
        let tops: Vec<&Proc> = matching
            .iter()
            .filter(|pid| !has_ancestor_in(&procs, **pid, &matching))
            .map(|pid| &procs[pid])
            .collect();
        if tops.len() > 1 {
            let who: Vec<String> = tops
                .iter()
                .map(|p| {
                    format!(
                        "{} (parent {}): {}",
                        p.pid,
                        p.ppid,
                        p.cmd.replace('\n', " ")
                    )
                })
                .collect();
            st.violations.push(Violation {
                at_ms,
                what: format!(
                    "{} copies of {label} at once: {}",
                    tops.len(),
                    who.join(" | ")
                ),
            });
        }
        let most = st.most.entry(label.clone()).or_default();
        *most = (*most).max(tops.len());
        // Deaths: a process seen before that no longer lives (gone, a zombie, or its pid now
        // names a process started later). One that still lives under another command line
        // (an exec in flight, a wrapper that became the program) is still tracked.
        let before = st.live.remove(label).unwrap_or_default();
        // Only the top of each copy is tracked: a wrapper's short-lived subshells are not copies.
        let mut live: BTreeSet<(i32, u64)> = tops.iter().map(|p| (p.pid, p.start)).collect();
        for &(pid, start) in &before {
            if procs.get(&pid).is_some_and(|p| p.start == start) {
                live.insert((pid, start));
                continue;
            }
            let cause = cause_at(&st.causes, now);
            if cause.is_none() {
                st.violations.push(Violation {
                    at_ms,
                    what: format!("{label} pid {pid} exited with no cause"),
                });
            }
            st.exits.push(Exit {
                label: label.clone(),
                pid,
                at_ms,
                cause,
            });
        }
        st.live.insert(label.clone(), live);
    }
    for (label, paths) in &rules.files {
        let there: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
        if there.len() > 1 {
            st.violations.push(Violation {
                at_ms,
                what: format!("{label} held in {} places at once: {there:?}", there.len()),
            });
        }
    }
}

/// Whether some ancestor of `pid` is in `set`.
fn has_ancestor_in(procs: &BTreeMap<i32, Proc>, pid: i32, set: &BTreeSet<i32>) -> bool {
    let mut at = procs.get(&pid).map_or(0, |p| p.ppid);
    // A bounded walk: pid chains are short, and a racing reuse cannot make it loop forever.
    for _ in 0..64 {
        if at <= 1 {
            return false;
        }
        if set.contains(&at) {
            return true;
        }
        at = procs.get(&at).map_or(0, |p| p.ppid);
    }
    false
}

/// A live process as /proc shows it.
struct Proc {
    pid: i32,
    ppid: i32,
    /// Start time in clock ticks since boot: with the pid, the process's identity.
    start: u64,
    cmd: String,
}

/// Whether process `pid`'s environment holds `text` (false once it is gone).
fn environment_holds(pid: i32, text: &str) -> bool {
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    String::from_utf8_lossy(&env).contains(text)
}

/// Every live process (not zombies), by pid.
fn processes() -> BTreeMap<i32, Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the command name: state, ppid, ... starttime is field 22 overall,
            // the 20th after the closing parenthesis.
            let (_, rest) = stat.rsplit_once(')')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.first() == Some(&"Z") {
                return None;
            }
            let ppid = fields.get(1)?.parse().ok()?;
            let start = fields.get(19)?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            Some((
                pid,
                Proc {
                    pid,
                    ppid,
                    start,
                    cmd,
                },
            ))
        })
        .collect()
}
