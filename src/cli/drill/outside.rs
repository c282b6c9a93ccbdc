//! The drill's own eyes, apart from what the cluster says: a watcher that samples the machine
//! for the group's processes and addresses (are they ever in two places at once?), and a probe
//! that tries the service's TCP port (when does it answer again?).
//!
//! Processes are recognised by the environment the `process` type gives every program it starts
//! (`NONSTOP_RESOURCE`, and `NONSTOP_FOOTPRINT`, new for each start): two different footprints of
//! one resource alive at once are two copies. Addresses (`ip-address` resources) are looked for in
//! the host's network namespace and in every one under /run/netns. Both see this machine only:
//! on a cluster of several machines, run the drill on each or read `overlap_ms` as "on this one".

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nonstop_agent::clock::wall_ms as now_ms;

use super::measure::ProbeLog;

/// How often the watcher looks at the processes.
const EVERY: Duration = Duration::from_millis(10);
/// How often it looks at the addresses (each look runs `ip`).
const ADDRESSES_EVERY: Duration = Duration::from_millis(50);

/// What the watcher looks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Look {
    /// Resources whose programs carry `NONSTOP_RESOURCE`.
    pub resources: Vec<String>,
    /// Only programs whose `NONSTOP_PROPERTIES` file is under this folder (a local cluster's):
    /// another cluster on the same machine may run resources of the same names.
    pub scope: Option<PathBuf>,
    /// Addresses (without their prefix) the group's `ip-address` resources add.
    pub addresses: Vec<String>,
}

impl Look {
    /// In words, for the report.
    pub fn describe(&self) -> String {
        let mut what = Vec::new();
        if !self.resources.is_empty() {
            what.push(format!("the processes of {}", self.resources.join(", ")));
        }
        if !self.addresses.is_empty() {
            what.push(format!(
                "the address(es) {} in every network namespace",
                self.addresses.join(", ")
            ));
        }
        match what.is_empty() {
            true => "nothing (the group has no process and no address to look for)".into(),
            false => format!(
                "{} on this machine, every {} ms",
                what.join(" and "),
                EVERY.as_millis()
            ),
        }
    }

    /// Who runs what now: the distinct footprints of each resource, and the places of each
    /// address. `cache` remembers what each process is, by pid and start time.
    fn sample(&self, cache: &mut HashMap<(i32, u64), Option<(String, String)>>) -> Vec<String> {
        let mut copies: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let mut alive = BTreeSet::new();
        for pid in nonstop_resource_types::procs::pids() {
            let Some(stat) = nonstop_resource_types::procs::stat(pid) else {
                continue;
            };
            if stat.zombie {
                continue;
            }
            let key = (pid, stat.start);
            alive.insert(key);
            let what = cache.entry(key).or_insert_with(|| self.classify(pid));
            if let Some((resource, footprint)) = what
                && let Some(r) = self.resources.iter().find(|r| *r == resource)
            {
                copies.entry(r).or_default().insert(footprint.clone());
            }
        }
        cache.retain(|k, _| alive.contains(k));
        copies
            .into_iter()
            .filter(|(_, f)| f.len() > 1)
            .map(|(r, f)| format!("{r}: {} copies", f.len()))
            .collect()
    }

    /// The resource and footprint a process carries, if it is one of ours.
    fn classify(&self, pid: i32) -> Option<(String, String)> {
        let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let mut resource = None;
        let mut footprint = None;
        let mut properties = None;
        for var in env.split(|b| *b == 0) {
            let var = String::from_utf8_lossy(var);
            if let Some(v) = var.strip_prefix("NONSTOP_RESOURCE=") {
                resource = Some(v.to_string());
            } else if let Some(v) = var.strip_prefix("NONSTOP_FOOTPRINT=") {
                footprint = Some(v.to_string());
            } else if let Some(v) = var.strip_prefix("NONSTOP_PROPERTIES=") {
                properties = Some(PathBuf::from(v));
            }
        }
        if let Some(scope) = &self.scope
            && !properties.is_some_and(|p| p.starts_with(scope))
        {
            return None;
        }
        Some((resource?, footprint.unwrap_or_default()))
    }

    /// The addresses found in more than one place (namespace and interface).
    fn addresses_twice(&self) -> Vec<String> {
        if self.addresses.is_empty() {
            return vec![];
        }
        let mut spaces = vec![None];
        if let Ok(dir) = std::fs::read_dir("/run/netns") {
            spaces.extend(
                dir.flatten()
                    .map(|e| Some(e.file_name().to_string_lossy().into_owned())),
            );
        }
        let mut places: BTreeMap<&str, usize> = BTreeMap::new();
        for ns in spaces {
            let mut cmd = std::process::Command::new("ip");
            if let Some(ns) = &ns {
                cmd.args(["-n", ns]);
            }
            let Ok(out) = cmd.args(["-o", "addr", "show"]).output() else {
                continue;
            };
            let text = String::from_utf8_lossy(&out.stdout);
            for a in &self.addresses {
                let needle = format!(" {a}/");
                *places.entry(a).or_default() +=
                    text.lines().filter(|l| l.contains(&needle)).count();
            }
        }
        places
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(a, n)| format!("address {a}: in {n} places"))
            .collect()
    }
}

/// What the watcher saw over a round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// How long it saw something in two places (the sampling interval per look that did).
    pub overlap_ms: u64,
    /// How many looks it made.
    pub looks: u64,
    /// What it saw twice, once each.
    pub twice: Vec<String>,
}

/// A watcher running on its own thread until [`Watcher::stop`].
#[derive(Debug)]
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Seen>,
}

impl Watcher {
    /// Starts looking.
    pub fn start(look: Look) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Seen::default();
            let mut cache = HashMap::new();
            let mut last = Instant::now();
            let mut next_addresses = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                let mut twice = look.sample(&mut cache);
                if Instant::now() >= next_addresses {
                    twice.extend(look.addresses_twice());
                    next_addresses = Instant::now() + ADDRESSES_EVERY;
                }
                let now = Instant::now();
                if !twice.is_empty() {
                    // The time since the last look: the copies were there for about that long.
                    seen.overlap_ms += (now - last).as_millis().max(1) as u64;
                    for t in twice {
                        if !seen.twice.contains(&t) {
                            seen.twice.push(t);
                        }
                    }
                }
                last = now;
                seen.looks += 1;
                std::thread::sleep(EVERY);
            }
            seen
        });
        Watcher { stop, thread }
    }

    /// Stops looking; what it saw.
    pub fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Tries to connect to every address in `targets` every 5 ms, adding each try to `log` (a
/// try succeeds when all of them answer), until the task is aborted. Nothing with no targets.
pub async fn probe(targets: Vec<String>, log: Arc<Mutex<ProbeLog>>) {
    if targets.is_empty() {
        return;
    }
    loop {
        let at = now_ms();
        let mut ok = true;
        for t in &targets {
            let tried =
                tokio::time::timeout(Duration::from_millis(50), tokio::net::TcpStream::connect(t))
                    .await;
            ok &= matches!(tried, Ok(Ok(_)));
        }
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .tries
            .push((at, ok));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_starts_of_one_resource_are_two_copies_and_other_folders_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let spawn = |footprint: &str, props: &std::path::Path| {
            std::process::Command::new("sleep")
                .arg("30")
                .env("NONSTOP_RESOURCE", "drill-outside-test")
                .env("NONSTOP_FOOTPRINT", footprint)
                .env("NONSTOP_PROPERTIES", props)
                .spawn()
                .unwrap()
        };
        let ours = dir.path().join("a/props");
        let look = Look {
            resources: vec!["drill-outside-test".into()],
            scope: Some(dir.path().to_path_buf()),
            addresses: vec![],
        };
        let mut cache = HashMap::new();
        let mut first = spawn("f1", &ours);
        // Elsewhere (another cluster's folder): not counted.
        let mut stranger = spawn("f9", std::path::Path::new("/elsewhere/props"));
        std::thread::sleep(Duration::from_millis(50));
        assert!(look.sample(&mut cache).is_empty());
        let mut second = spawn("f2", &ours);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(look.sample(&mut cache), ["drill-outside-test: 2 copies"]);
        for c in [&mut first, &mut second, &mut stranger] {
            let _ = c.kill();
            let _ = c.wait();
        }
        assert!(look.sample(&mut cache).is_empty());
    }
}
