//! `ip-address` (and OCF's IPaddr2, the same job by an unmodified agent) in network namespaces
//! the test creates: two namespaces joined by a veth pair, addresses from 198.18.0.0/15 only. The handler works through netlink; the test setup uses
//! `ip` (iproute2). Needs root: a loud skip without it, a failure under CI.

mod common;

use common::{assert_passed, context, props};
use nonstop_contract::{Properties, builtin};
use nonstop_resource_types::conformance::Suite;
use nonstop_resource_types::ip_address::{IpAddressHandler, netlink::in_netns};
use nonstop_resource_types::{Health, ResourceHandler};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// Two namespaces `<tag>a` and `<tag>b`, veth `<tag>va` (198.18.<n>.1) <-> `<tag>vb`
/// (198.18.<n>.2), removed on drop whatever happens.
struct Net {
    a: String,
    b: String,
    va: String,
    subnet: u8,
}

fn ip(args: &str) {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("runs ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Net {
    fn new(subnet: u8) -> Net {
        let tag = format!("ns{}x{subnet}", std::process::id() % 100_000);
        let net = Net {
            a: format!("{tag}a"),
            b: format!("{tag}b"),
            va: format!("{tag}va"),
            subnet,
        };
        let (a, b, va, vb) = (&net.a, &net.b, &net.va, format!("{tag}vb"));
        ip(&format!("netns add {a}"));
        ip(&format!("netns add {b}"));
        ip(&format!(
            "link add {va} netns {a} type veth peer name {vb} netns {b}"
        ));
        ip(&format!("-n {a} addr add 198.18.{subnet}.1/24 dev {va}"));
        ip(&format!("-n {b} addr add 198.18.{subnet}.2/24 dev {vb}"));
        for (ns, dev) in [(a, va.as_str()), (b, vb.as_str())] {
            ip(&format!("-n {ns} link set {dev} up"));
            ip(&format!("-n {ns} link set lo up"));
        }
        // Let B learn addresses from gratuitous ARP, so that the test can see the announcement.
        let sysctl = format!("netns exec {b} sysctl -qw net.ipv4.conf.{vb}.arp_accept=1");
        ip(&sysctl);
        net
    }

    fn vip(&self) -> String {
        format!("198.18.{}.10", self.subnet)
    }

    fn props(&self) -> Properties {
        props(&[
            ("address", &format!("{}/24", self.vip())),
            ("interface", &self.va),
            ("netns", &self.a),
        ])
    }

    /// Whether B's neighbour table maps the virtual address to a link-layer address.
    fn b_learned_vip(&self) -> bool {
        let out = Command::new("ip")
            .args(["-n", &self.b, "neigh", "show", &self.vip()])
            .output()
            .expect("runs ip");
        String::from_utf8_lossy(&out.stdout).contains("lladdr")
    }

    /// Whether a TCP connect from B to `addr` succeeds within a second.
    fn b_connects(&self, addr: SocketAddr) -> bool {
        let b = self.b.clone();
        let res = in_netns(Some(&b), move || {
            TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        });
        res.is_ok()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // The veth pair goes with the namespaces.
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Whether the namespace tests can run here (root and iproute2); a failure under CI.
fn can_run() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let has_ip = Command::new("ip").arg("-V").output().is_ok();
    if !(root && has_ip) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set: namespace tests need root and ip"
        );
        eprintln!("!!! SKIPPED: ip-address namespace tests need root and iproute2");
    }
    root && has_ip
}

#[tokio::test]
async fn ip_address_passes_the_conformance_suite() {
    if !can_run() {
        return;
    }
    let net = Net::new(1);
    let dir = tempfile::tempdir().unwrap();
    let h = IpAddressHandler::new(builtin::ip_address());
    let report = Suite::new(&h, net.props(), dir.path().into())
        .step_limit(Duration::from_secs(10))
        .test_all()
        .await;
    assert_passed(&report, 10);
}

#[tokio::test]
async fn the_address_is_announced_answers_from_the_other_namespace_and_goes() {
    if !can_run() {
        return;
    }
    let net = Net::new(2);
    let dir = tempfile::tempdir().unwrap();
    let h = IpAddressHandler::new(builtin::ip_address());
    let mut r = h
        .open(context("vip", net.props(), dir.path()).0)
        .await
        .unwrap();
    r.online().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !net.b_learned_vip() {
        assert!(
            Instant::now() < deadline,
            "B never learned the address from a gratuitous ARP"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bind: SocketAddr = format!("{}:0", net.vip()).parse().unwrap();
    let listener = in_netns(Some(&net.a), move || TcpListener::bind(bind)).unwrap();
    let addr = listener.local_addr().unwrap();
    assert!(net.b_connects(addr), "B cannot reach {addr} while online");
    assert_eq!(r.is_alive().await, Health::Alive);
    r.offline().await.unwrap();
    assert!(
        !net.b_connects(addr),
        "B still reaches {addr} after offline"
    );
    r.offline().await.expect("removed again is fine");
}

#[tokio::test]
async fn clean_up_removes_what_a_dead_agent_left_and_a_missing_interface_is_named() {
    if !can_run() {
        return;
    }
    let net = Net::new(3);
    let dir = tempfile::tempdir().unwrap();
    let h = IpAddressHandler::new(builtin::ip_address());
    let mut r = h
        .open(context("vip", net.props(), dir.path()).0)
        .await
        .unwrap();
    r.online().await.unwrap();
    let footprint = r.footprint();
    assert_eq!(footprint.addresses.len(), 1);
    drop(r);
    h.clean_up(&footprint).await;
    let mut fresh = h
        .open(context("vip", net.props(), dir.path()).0)
        .await
        .unwrap();
    assert!(matches!(fresh.looks_alive().await, Health::Dead(_)));
    let mut p = net.props();
    p.insert(
        "interface".into(),
        nonstop_contract::Value::Str("nosuchif0".into()),
    );
    let mut r = h.open(context("vip", p, dir.path()).0).await.unwrap();
    let err = r.online().await.unwrap_err().to_string();
    assert!(err.contains("no interface named \"nosuchif0\""), "{err}");
    r.terminate().await;
}

/// Needs neither root nor iproute2: nothing is added anywhere.
#[tokio::test]
async fn a_missing_or_misspelt_namespace_is_an_error_naming_the_property() {
    let dir = tempfile::tempdir().unwrap();
    let h = IpAddressHandler::new(builtin::ip_address());
    let missing = format!("nonstop-no-such-ns-{}", std::process::id());
    let p = props(&[
        ("address", "198.18.9.10/24"),
        ("interface", "dummy0"),
        ("netns", &missing),
    ]);
    let mut r = h.open(context("vip", p, dir.path()).0).await.unwrap();
    let err = r.online().await.unwrap_err().to_string();
    let named = format!("netns: no network namespace named {missing:?}");
    assert!(err.contains(&named), "{err}");
    match r.looks_alive().await {
        Health::Dead(why) => assert!(why.contains(&named), "{why}"),
        Health::Alive => panic!("alive in a namespace that does not exist"),
    }
    // Removing an address from a namespace that is gone is done, and terminate never fails.
    r.offline().await.expect("nothing to remove");
    r.terminate().await;
    let bad = props(&[
        ("address", "198.18.9.10/24"),
        ("interface", "dummy0"),
        ("netns", "../etc"),
    ]);
    let err = h.open(context("vip", bad, dir.path()).0).await.unwrap_err();
    let err = err.to_string();
    assert!(
        err.contains("property \"netns\": \"../etc\" is not a network namespace name"),
        "{err}"
    );
}

const IPADDR2: &str = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2";

/// The same job by an unmodified OCF agent, ocf:heartbeat:IPaddr2, with its meta-data as the
/// schema (no declaration anywhere): inside namespace A (the agent's processes are started
/// from a thread that entered it, so they run there, as they would on a node) it passes the
/// conformance suite; seen from outside, the address is on A's interface while the resource
/// is online, B learns it from the agent's gratuitous ARP, and it is gone after offline. A
/// parameter the meta-data does not list is refused at open, naming it.
#[test]
fn ocf_ipaddr2_runs_in_a_namespace_with_its_meta_data_as_the_schema() {
    use nonstop_resource_types::{Registry, RegistryConfig};
    if !can_run() {
        return;
    }
    if !std::path::Path::new(IPADDR2).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set: {IPADDR2} missing"
        );
        eprintln!("!!! SKIPPED: {IPADDR2} is absent (apt-get install resource-agents)");
        return;
    }
    let net = Net::new(4);
    let ns = net.a.clone();
    let p = props(&[("ip", &net.vip()), ("cidr_netmask", "24"), ("nic", &net.va)]);
    let on_a = |net: &Net| {
        let out = Command::new("ip")
            .args(["-n", &net.a, "-4", "-o", "addr", "show", "dev", &net.va])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&format!("{}/24", net.vip()))
    };
    // A thread in namespace A, with its own runtime: what it starts runs in A.
    let (to_a, from_test) = std::sync::mpsc::channel::<&'static str>();
    let (to_test, from_a) = std::sync::mpsc::channel::<Result<String, String>>();
    let worker = std::thread::spawn(move || {
        let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let dir = tempfile::tempdir().unwrap();
            let reg = Registry::new(RegistryConfig::default());
            let def = reg.type_def("ocf:heartbeat:IPaddr2").await.unwrap();
            assert!(def.schema.get("ip").unwrap().required, "{def:?}");
            let h = reg.handler_for(&def).unwrap();
            let report = Suite::new(h.as_ref(), p.clone(), dir.path().into())
                .step_limit(Duration::from_secs(20))
                .test_all()
                .await;
            assert_passed(&report, 10);
            let mut bogus = p.clone();
            bogus.insert("bogus".into(), nonstop_contract::Value::Str("x".into()));
            let err = h.open(context("vip", bogus, dir.path()).0).await;
            let err = err.err().map(|e| e.to_string()).unwrap_or_default();
            let mut r = h.open(context("vip", p, dir.path()).0).await.unwrap();
            let online = r.online().await.map_err(|e| e.to_string());
            to_test.send(online.map(|()| err)).unwrap();
            // The test looks from outside, then asks for offline.
            assert_eq!(from_test.recv().unwrap(), "offline");
            let offline = r.offline().await.map(|()| String::new());
            to_test.send(offline.map_err(|e| e.to_string())).unwrap();
            r.terminate().await;
        });
    });
    let refused = from_a.recv_timeout(Duration::from_secs(120));
    let refused = refused.expect("the agent answered").expect("online");
    assert!(
        refused.contains("property \"bogus\": unknown property (known: ip, nic,"),
        "{refused}"
    );
    assert!(on_a(&net), "the address is on A's {} while online", net.va);
    let start = Instant::now();
    while !net.b_learned_vip() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no gratuitous ARP reached B"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    to_a.send("offline").unwrap();
    from_a
        .recv_timeout(Duration::from_secs(60))
        .unwrap()
        .expect("offline");
    assert!(!on_a(&net), "the address is gone after offline");
    worker.join().unwrap();
}
