//! Network namespaces for end-to-end tests of the virtual address: one per node, each with `lo`
//! and a dummy interface up (a veth pair where the kernel has no dummy driver), named uniquely for the run and removed on drop (also when the test
//! fails); and a watcher that asks every namespace, through netlink every 10 ms, whether it
//! holds an address, and keeps the most namespaces it saw holding it at once.
//!
//! Needs root and iproute2 (`ip`) to create the namespaces; the watcher itself uses netlink.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nonstop_resource_types::ip_address::netlink::{Netlink, in_netns};

/// The dummy interface every namespace has.
pub const DUMMY: &str = "vip0";

/// Namespaces created by a test; deleted on drop.
pub struct Namespaces {
    /// Their names, as `ip netns` shows them.
    pub names: Vec<String>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip (iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!("ip {}: {}", args.join(" "), err.trim()))
    }
}

impl Namespaces {
    /// One namespace per tag, named `nonstop-<test>-<pid>-<tag>`, with `lo` and [`DUMMY`] up.
    pub fn create(test: &str, tags: &[&str]) -> Result<Namespaces, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("network namespaces need root".into());
        }
        let mut ns = Namespaces { names: Vec::new() };
        for tag in tags {
            let name = format!("nonstop-{test}-{}-{tag}", std::process::id());
            ip(&["netns", "add", &name])?;
            // Pushed at once, so that a failure below still removes it.
            ns.names.push(name.clone());
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
            add_dummy(&name)?;
        }
        Ok(ns)
    }

    /// The namespaces, or `None` after a loud skip line when they cannot be made here. Under
    /// CI (`CI=true`) that is a failure instead.
    pub fn or_skip(test: &str, tags: &[&str]) -> Option<Namespaces> {
        match Namespaces::create(test, tags) {
            Ok(ns) => Some(ns),
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true: {test} needs network namespaces: {e}")
            }
            Err(e) => {
                eprintln!("!!! SKIPPED {test}: cannot create network namespaces here: {e}");
                None
            }
        }
    }

    /// Starts watching which namespaces hold `address` (with its prefix length).
    pub fn watch(&self, address: IpAddr, prefix: u8) -> VipWatch {
        VipWatch::start(self.names.clone(), address, prefix)
    }
}

/// Adds [`DUMMY`] to namespace `ns`, up: a dummy interface, or where the kernel has no dummy
/// driver (some containers) one end of a veth pair whose other end stays in the namespace too.
fn add_dummy(ns: &str) -> Result<(), String> {
    let peer = format!("{DUMMY}p");
    if ip(&["-n", ns, "link", "add", DUMMY, "type", "dummy"]).is_err() {
        ip(&[
            "-n", ns, "link", "add", DUMMY, "type", "veth", "peer", "name", &peer,
        ])?;
        ip(&["-n", ns, "link", "set", &peer, "up"])?;
    }
    ip(&["-n", ns, "link", "set", DUMMY, "up"])
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // The dummy interfaces and any address on them go with the namespaces.
        for name in &self.names {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Whether the chat server answers with its greeting at `addr` inside namespace `ns`, within
/// 5 s (a process resource is Online once its process runs, a moment before it has bound).
pub fn chat_answers_in(ns: &str, addr: SocketAddr) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for in_netns");
    let _entered = rt.enter();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let connect = move || TcpStream::connect_timeout(&addr, Duration::from_millis(500));
        if let Ok(s) = in_netns(Some(ns), connect) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = String::new();
            if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("WELCOME") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// What the watcher has seen so far.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Samples taken (each asks every namespace).
    pub samples: usize,
    /// The most namespaces holding the address in one sample.
    pub max_at_once: usize,
    /// The namespaces of the first sample with more than one holder.
    pub first_overlap: Option<Vec<String>>,
    /// The namespaces holding it in the last sample.
    pub last: Vec<String>,
    /// Every namespace that held it at some sample.
    pub ever: BTreeSet<String>,
    /// Failed netlink queries (the namespaces outlive the watch, so there should be none).
    pub errors: Vec<String>,
    /// Every change of holders, with the time of the sample that saw it.
    pub changes: Vec<(Instant, Vec<String>)>,
}

impl Seen {
    /// How long no namespace held the address each time it moved: from the first sample
    /// without a holder to the first with the new one (so give or take one sampling interval).
    pub fn handovers(&self) -> Vec<Duration> {
        self.changes
            .windows(2)
            .filter(|w| w[0].1.is_empty() && !w[1].1.is_empty())
            .map(|w| w[1].0 - w[0].0)
            .collect()
    }
}

/// A background thread sampling the namespaces every 10 ms.
pub struct VipWatch {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    thread: Option<JoinHandle<()>>,
}

impl VipWatch {
    fn start(names: Vec<String>, address: IpAddr, prefix: u8) -> VipWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (s, w) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the watcher");
            rt.block_on(sample_until(names, address, prefix, s, w));
        });
        VipWatch {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// A copy of what was seen so far.
    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until the last sample shows exactly `holders`; panics after `within`.
    pub fn wait_for(&self, holders: &[&str], within: Duration) {
        let start = Instant::now();
        loop {
            let seen = self.seen();
            if seen.samples > 0 && seen.last == holders {
                return;
            }
            assert!(
                start.elapsed() < within,
                "the address was never held by exactly {holders:?} within {within:?}: {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops watching; everything seen.
    pub fn stop(mut self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.seen()
    }
}

impl Drop for VipWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One netlink connection per namespace, kept open; each round asks all of them.
async fn sample_until(
    names: Vec<String>,
    address: IpAddr,
    prefix: u8,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let mut links = Vec::new();
    for name in &names {
        let link = async {
            let nl = Netlink::connect(Some(name))?;
            let index = nl.link(DUMMY).await?.index;
            Ok::<_, std::io::Error>((nl, index))
        };
        match link.await {
            Ok(l) => links.push((name.clone(), l)),
            Err(e) => seen.lock().unwrap().errors.push(format!("{name}: {e}")),
        }
    }
    while !stop.load(Ordering::SeqCst) {
        let mut holders = Vec::new();
        let mut errors = Vec::new();
        for (name, (nl, index)) in &links {
            match nl.find(*index, address, prefix).await {
                Ok(found) if !found.is_empty() => holders.push(name.clone()),
                Ok(_) => {}
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        record(&mut seen.lock().unwrap(), holders, errors);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn record(s: &mut Seen, holders: Vec<String>, errors: Vec<String>) {
    s.samples += 1;
    s.max_at_once = s.max_at_once.max(holders.len());
    if holders.len() > 1 && s.first_overlap.is_none() {
        s.first_overlap = Some(holders.clone());
    }
    s.ever.extend(holders.iter().cloned());
    s.errors.extend(errors);
    if s.changes.last().is_none_or(|(_, last)| *last != holders) {
        s.changes.push((Instant::now(), holders.clone()));
    }
    s.last = holders;
}
