//! `nonstop up [CLUSTER.yaml] [--nodes N] [--dir DIR]`: a local cluster on loopback, one
//! `nonstop run` process per node, data under `DIR/<node>/` (node.yaml, the raft log, the
//! agent's state, `daemon.log`, `daemon.pid`). With no file it runs the paper's chat server
//! (examples/chat/cluster.yaml, built into the binary).
//!
//! A DIR that holds a cluster already is started again as it was: the nodes that are not
//! running start from their own node.yaml and keep their data, so that after a drill's
//! `kill -9` the same `nonstop up` brings the node back (and its groups fail back). A daemon
//! whose raft member answers that it has stopped counts as not running: it is stopped (it
//! should have exited by itself) and started again.

use crate::daemon::logging::LogFormat;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use nonstop_controller::config::{self, ClusterFile};
use nonstop_controller::db::model::NodeSpec;

use nonstop_pki::Links;

use super::local::{self, Probe};
use super::output::say;
use crate::daemon::config::NodeConfig;

const EXAMPLE: &str = include_str!("../../examples/chat/cluster.yaml");

/// Arguments of `nonstop up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The cluster to run (default: the chat example).
    cluster: Option<PathBuf>,
    /// How many nodes (only with the built-in example; a file lists its own nodes) [default: 3].
    #[arg(long)]
    nodes: Option<usize>,
    /// Where each node keeps its data.
    #[arg(long, default_value = ".nonstop")]
    dir: PathBuf,
    /// The first node's port; the others follow [default: 7701].
    #[arg(long)]
    base_port: Option<u16>,
    /// Raft timing profile of the daemons: default or fast [default: default].
    #[arg(long)]
    timing: Option<String>,
    /// How long to wait for every group to come online.
    #[arg(long, default_value = "60")]
    wait_secs: u64,
    /// Plain gRPC without certificates: nobody is authenticated, anyone who can reach the
    /// ports controls the cluster (loopback only). By default `up` makes a CA in DIR/ca, a
    /// certificate per node and an admin identity in DIR/admin, and every link uses mutual TLS.
    #[arg(long)]
    insecure: bool,
    /// How the daemons log into their daemon.log: text or JSON lines (node.yaml `log_format`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// A folder of `exec` plug-ins the nodes' agents load (node.yaml `agent.plugin_dirs`;
    /// repeat for more) instead of /usr/lib/nonstop/plugins. Their types need no `types:`
    /// entry once the nodes have reported their meta-data (docs/resource-types.md). Only for a
    /// new cluster: a restart keeps the node.yaml files.
    #[arg(long = "plugin-dir", env = "NONSTOP_PLUGIN_DIR")]
    plugin_dirs: Vec<PathBuf>,
}

/// Runs `nonstop up`.
pub fn run(args: UpArgs) -> ExitCode {
    match up(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&e),
    }
}

fn up(args: &UpArgs) -> Result<(), String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the nonstop binary: {e}"))?;
    let canonical = || {
        args.dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", args.dir.display()))
    };
    if args.dir.join("cluster.yaml").exists() {
        if !args.plugin_dirs.is_empty() {
            say!(
                "note: --plugin-dir (or NONSTOP_PLUGIN_DIR) is for a new cluster: the node.yaml \
                 files in {} keep their agent.plugin_dirs",
                args.dir.display()
            );
        }
        return start_again(args, &exe, &canonical()?);
    }
    let timing = args.timing.as_deref().unwrap_or("default");
    if !["default", "fast"].contains(&timing) {
        return Err(format!("--timing {timing}: default or fast"));
    }
    let mut plugin_dirs = Vec::new();
    for d in &args.plugin_dirs {
        let abs =
            std::fs::canonicalize(d).map_err(|e| format!("--plugin-dir: {}: {e}", d.display()))?;
        if !abs.is_dir() {
            return Err(format!("--plugin-dir: {} is not a folder", d.display()));
        }
        plugin_dirs.push(abs);
    }
    let mut file = cluster_file(args, &exe)?;
    std::fs::create_dir_all(&args.dir).map_err(|e| format!("{}: {e}", args.dir.display()))?;
    let dir = canonical()?;
    let names: Vec<String> = file.nodes.iter().map(|n| n.name.clone()).collect();
    let secure = !args.insecure;
    let is_witness = |n: &str| file.nodes.iter().any(|x| x.name == n && x.witness);
    let layout = local::Layout::new(&names, args.base_port.unwrap_or(7701), secure)
        .with_witnesses(is_witness)?
        .with_plugin_dirs(&plugin_dirs);
    // A witness's state is its controller member's: the leader finds the member at the
    // witness's address (docs/design.md).
    for (i, n) in file.nodes.iter_mut().enumerate() {
        if n.witness && n.address.is_none() {
            n.address = Some(layout.address(i));
        }
    }
    for i in 0..names.len() {
        port_free(
            &layout.address(i),
            "another local cluster? stop it with `nonstop down --dir DIR`, or pick other ports \
             with --base-port",
        )?;
    }
    let cluster_path = dir.join("cluster.yaml");
    let text = yaml_serde::to_string(&file).map_err(|e| e.to_string())?;
    let links = if secure {
        certificates(&dir, &names)?
    } else {
        say!(
            "INSECURE: plain gRPC on loopback, no certificates: anyone who can reach the ports \
             controls this cluster"
        );
        Links::Plain
    };
    write(&dir.join("endpoints"), &layout.endpoints())?;
    for (i, n) in names.iter().enumerate() {
        let node_dir = dir.join(n);
        std::fs::create_dir_all(&node_dir).map_err(|e| format!("{}: {e}", node_dir.display()))?;
        let mut yaml = layout.node_yaml(i, &cluster_path, timing);
        if args.log_format == LogFormat::Json {
            yaml.push_str("log_format: json\n");
        }
        write(&node_dir.join("node.yaml"), &yaml)?;
    }
    // Written last: it is what marks DIR as holding a cluster (see `start_again`).
    write(&cluster_path, &text)?;
    let mut started = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let pid = spawn(&exe, &dir.join(n))?;
        say!("started {n} (pid {pid}) on {}", layout.address(i));
        started.push(local::Started {
            node: n.clone(),
            pid: pid as i32,
            dir: dir.join(n),
            member: (i < layout.members()).then(|| layout.address(i)),
        });
    }
    let timeout = Duration::from_secs(args.wait_secs);
    local::wait_serving(&started, &links, timeout)?;
    list_metrics(&dir, &names)?;
    let settled = local::wait(&links, &layout.member_addresses(), &names, timeout)?;
    local::still_running(&started)?;
    say!("\n{}", settled.summary);
    print_next_steps(&args.dir, &layout, &file, args.cluster.is_none());
    failed(&settled)
}

/// `up` fails when a group it waited for is Failed, saying which and why (the cluster keeps
/// running: `nonstop events` and the daemon.log files tell more).
fn failed(settled: &local::Settled) -> Result<(), String> {
    if settled.failed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} (the daemons keep running; see `nonstop events` and the daemon.log files)",
        settled.failed.join("; ")
    ))
}

/// `up` on a DIR that holds a cluster: starts the nodes that are not running from their own
/// node.yaml, with their data. The database keeps its configuration, so the options that
/// describe a new cluster are refused rather than silently ignored.
fn start_again(args: &UpArgs, exe: &Path, dir: &Path) -> Result<(), String> {
    let d = args.dir.display();
    if args.cluster.is_some()
        || args.nodes.is_some()
        || args.base_port.is_some()
        || args.timing.is_some()
    {
        return Err(format!(
            "{d} holds a cluster already: `nonstop up --dir {d}` starts its stopped nodes as they \
             were, and `nonstop apply FILE` changes its configuration; CLUSTER.yaml, --nodes, \
             --base-port and --timing describe a new cluster: `nonstop down --dir {d}` and \
             remove {d} first"
        ));
    }
    let recorded = dir.join("cluster.yaml");
    let text =
        std::fs::read_to_string(&recorded).map_err(|e| format!("{}: {e}", recorded.display()))?;
    let file = config::check(&recorded.display().to_string(), &text)
        .map_err(|ds| lines(&ds))?
        .file;
    let links = links_of(dir)?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let mut running = Vec::new();
    let mut configs = Vec::new();
    let mut stuck = Vec::new();
    for n in file.nodes.iter().map(|n| &n.name) {
        let node_yaml = dir.join(n).join("node.yaml");
        let config = NodeConfig::load(&node_yaml).map_err(|e| e.to_string())?;
        let pid = local::running_pid(&dir.join(n));
        let probe = match (pid, &config.controller) {
            (Some(_), Some(_)) => {
                rt.block_on(local::probe(&links, &config.listen.to_string(), PROBE))
            }
            _ => Probe::NoAnswer,
        };
        match plan(pid, probe) {
            Plan::Running(pid) => running.push(format!("{n} (pid {pid})")),
            Plan::Start => configs.push(config),
            Plan::Restart { pid, why } => {
                if !local::is_daemon_of(pid, &node_yaml) {
                    return Err(format!(
                        "{n}: its address answers that its raft member is stopped, but pid {pid} \
                         (its daemon.pid) is not `nonstop run --config {}`: stop what serves {} \
                         and run `nonstop up --dir {d}` again",
                        node_yaml.display(),
                        config.listen
                    ));
                }
                stuck.push((n.clone(), pid, why));
                configs.push(config);
            }
        }
    }
    drop(rt);
    if configs.is_empty() {
        return Err(format!(
            "every node of {d} is already running: {}; `nonstop down --dir {d}` stops them",
            running.join(", ")
        ));
    }
    for (n, pid, why) in &stuck {
        say!("{n} (pid {pid}) runs, but {why}: stopping it to start it again");
        let how = if local::stop(*pid, Duration::from_secs(10)) {
            "killed after 10 s"
        } else {
            "it exited"
        };
        say!("stopped {n} (pid {pid}, {how})");
    }
    let stopped: Vec<String> = configs.iter().map(|c| c.node.clone()).collect();
    for c in &configs {
        port_free(
            &c.listen.to_string(),
            &format!(
                "{}'s address in its node.yaml: another process holds it",
                c.node
            ),
        )?;
    }
    // Each daemon runs in the folder of the checked name it was found under, never in one its
    // node.yaml names.
    let mut started = Vec::new();
    for (n, c) in stopped.iter().zip(&configs) {
        let pid = spawn(exe, &dir.join(n))?;
        say!("started {} again (pid {pid}) on {}", c.node, c.listen);
        started.push(local::Started {
            node: n.clone(),
            pid: pid as i32,
            dir: dir.join(n),
            member: c.controller.as_ref().map(|_| c.listen.to_string()),
        });
    }
    let timeout = Duration::from_secs(args.wait_secs);
    // A node the cluster still shows Up from before its stop proves nothing: wait for the new
    // daemons themselves first.
    local::wait_serving(&started, &links, timeout)?;
    let names: Vec<String> = file.nodes.iter().map(|n| n.name.clone()).collect();
    list_metrics(dir, &names)?;
    let endpoints = std::fs::read_to_string(dir.join("endpoints"))
        .map_err(|e| format!("{}/endpoints: {e}", dir.display()))?;
    let members: Vec<String> = endpoints
        .lines()
        .map(|l| l.split_once("://").map_or(l, |(_, a)| a).to_string())
        .collect();
    let settled = local::wait(&links, &members, &stopped, timeout)?;
    local::still_running(&started)?;
    say!("\n{}", settled.summary);
    failed(&settled)
}

/// Writes `DIR/metrics` and `DIR/dashboard`: each serving node's URLs, one per line, as its
/// daemon wrote them when it bound its `metrics_listen` and `dashboard_listen` (any free port)
/// this run.
fn list_metrics(dir: &Path, names: &[String]) -> Result<(), String> {
    use crate::daemon::{dashboard, metrics};
    for (list, file) in [
        ("metrics", metrics::URL_FILE),
        ("dashboard", dashboard::URL_FILE),
    ] {
        let urls: Vec<String> = names
            .iter()
            .filter_map(|n| {
                let text = std::fs::read_to_string(dir.join(n).join(file)).ok()?;
                Some(text.trim().to_string())
            })
            .collect();
        write(&dir.join(list), &(urls.join("\n") + "\n"))?;
    }
    Ok(())
}

/// How long `up` waits for a running member's answer about its raft member.
const PROBE: Duration = Duration::from_secs(3);

/// What `up` on a cluster's folder does with a node.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Its daemon runs (and its member, if it has one, answered or could not be asked).
    Running(i32),
    /// No daemon runs: start one.
    Start,
    /// Its daemon runs but says its raft member has stopped: a daemon exits then (to be
    /// restarted), so this one is stuck on its way out. Stop it, then start it again.
    Restart {
        /// The daemon's pid.
        pid: i32,
        /// What it answered.
        why: String,
    },
}

/// The plan for a node whose daemon is `pid` (if alive) and whose member answered `probe`.
fn plan(pid: Option<i32>, probe: Probe) -> Plan {
    match (pid, probe) {
        (None, _) => Plan::Start,
        (Some(pid), Probe::MemberStopped(why)) => Plan::Restart { pid, why },
        (Some(pid), Probe::Serving | Probe::NoAnswer) => Plan::Running(pid),
    }
}

/// Refuses an address another process listens on, before any daemon starts; `hint` says what
/// to do about it.
fn port_free(addr: &str, hint: &str) -> Result<(), String> {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{addr}: {e} ({hint})")),
    }
}

/// The name of the witness `up --nodes 2` adds to the example's two nodes.
pub const WITNESS: &str = "witness";

/// The cluster to run: the given file, or the chat example with `--nodes` nodes. Two nodes get
/// a third controller member, the witness [`WITNESS`] (it votes and runs nothing), so that
/// either node can be lost: a majority of two members is both.
fn cluster_file(args: &UpArgs, exe: &Path) -> Result<ClusterFile, String> {
    let (name, text) = match &args.cluster {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        ),
        None => (
            "examples/chat/cluster.yaml".to_string(),
            EXAMPLE.to_string(),
        ),
    };
    let text = text.replace("${NONSTOP}", &exe.display().to_string());
    let mut file = config::check(&name, &text).map_err(|ds| lines(&ds))?.file;
    if args.cluster.is_some() {
        if let Some(n) = args.nodes {
            return Err(format!(
                "--nodes {n}: only with the built-in example; a cluster file lists its own nodes"
            ));
        }
    } else {
        let nodes = args.nodes.unwrap_or(3);
        if nodes == 0 || nodes > 9 {
            return Err(format!("--nodes {nodes}: run 1 to 9 nodes"));
        }
        file.nodes.truncate(nodes);
        for i in file.nodes.len()..nodes {
            file.nodes.push(NodeSpec {
                name: format!("node{}", i + 1),
                autobackup: true,
                ..Default::default()
            });
        }
        if nodes == 2 {
            file.nodes.push(NodeSpec {
                name: WITNESS.into(),
                autobackup: true,
                witness: true,
                ..Default::default()
            });
        }
        let known: Vec<String> = (file.nodes.iter())
            .filter(|n| !n.witness)
            .map(|n| n.name.clone())
            .collect();
        for g in &mut file.groups {
            g.owners.retain(|o| known.contains(o));
            let extra: Vec<String> = known
                .iter()
                .filter(|n| !g.owners.contains(n))
                .cloned()
                .collect();
            g.owners.extend(extra);
        }
    }
    Ok(file)
}

/// Every error of a cluster file, one per line.
fn lines(errors: &[impl std::fmt::Display]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The certificates of a new local cluster: a CA in `DIR/ca`, each node's identity in
/// `DIR/<node>/tls` (for 127.0.0.1), an administrator's in `DIR/admin`. The links `up` itself
/// uses are the administrator's.
fn certificates(dir: &Path, names: &[String]) -> Result<Links, String> {
    use nonstop_pki::{CA_DAYS, Ca, NODE_DAYS, Role, USER_DAYS, write_folder};
    let ca_issued = Ca::create(CA_DAYS).map_err(|e| e.to_string())?;
    let ca_dir = dir.join("ca");
    write_folder(&ca_dir, &ca_issued.cert_pem, &ca_issued).map_err(|e| e.to_string())?;
    let ca = Ca::load(&ca_dir).map_err(|e| e.to_string())?;
    for n in names {
        let issued = ca
            .issue_node(n, &["127.0.0.1".into()], NODE_DAYS)
            .map_err(|e| e.to_string())?;
        write_folder(&dir.join(n).join("tls"), ca.cert_pem(), &issued)
            .map_err(|e| e.to_string())?;
    }
    let admin = ca
        .issue_user("admin", Role::Admin, USER_DAYS)
        .map_err(|e| e.to_string())?;
    write_folder(&dir.join("admin"), ca.cert_pem(), &admin).map_err(|e| e.to_string())?;
    say!(
        "made a CA in {}/ca, a certificate per node, and an admin identity in {}/admin",
        dir.display(),
        dir.display()
    );
    links_of(dir)
}

/// The links of the local cluster in `dir`: TLS with `dir/admin` when it is there.
fn links_of(dir: &Path) -> Result<Links, String> {
    let admin = dir.join("admin");
    if !admin.join("cert.pem").exists() {
        return Ok(Links::Plain);
    }
    let tls = nonstop_pki::Tls::load(&admin).map_err(|e| e.to_string())?;
    Ok(Links::from(tls))
}

/// Starts `nonstop run` for one node, detached in its own process group (a Ctrl-C at the
/// terminal does not reach it), logging to `daemon.log`; writes `daemon.pid`.
fn spawn(exe: &Path, node_dir: &Path) -> Result<u32, String> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(node_dir.join("daemon.log"))
        .map_err(|e| format!("{}: {e}", node_dir.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let child = std::process::Command::new(exe)
        .args(["run", "--config"])
        .arg(node_dir.join("node.yaml"))
        .current_dir(node_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    write(&node_dir.join("daemon.pid"), &format!("{}\n", child.id()))?;
    Ok(child.id())
}

/// What to try next, named after the cluster's first group and its owners. Run from the folder
/// that holds `.nonstop`, the commands find the cluster by themselves; with another `--dir`,
/// the first line points them at it (or they would ask whatever listens on 127.0.0.1:7701).
fn print_next_steps(dir: &Path, layout: &local::Layout, file: &ClusterFile, example: bool) {
    let default = dir == Path::new(".nonstop");
    let flag = if default {
        String::new()
    } else {
        format!(" --dir {}", dir.display())
    };
    let mut lines = Vec::new();
    if !default {
        let urls = layout.endpoints().lines().collect::<Vec<_>>().join(",");
        lines.push((
            format!("export NONSTOP_ENDPOINT={urls}"),
            "so that the commands below reach this cluster".to_string(),
        ));
        if dir.join("admin").exists() {
            lines.push((
                format!("export NONSTOP_IDENTITY={}/admin", dir.display()),
                "and are made as its administrator".to_string(),
            ));
        }
    }
    lines.push(("nonstop status".to_string(), String::new()));
    lines.push((
        format!(
            "echo \"$(head -1 {}/dashboard)#token=$(nonstop token create --role operator --ttl 8h)\"",
            dir.display()
        ),
        "the web dashboard's URL, logged in (open it in a browser)".to_string(),
    ));
    lines.push((
        format!("curl -s $(head -1 {}/metrics)", dir.display()),
        "Prometheus metrics (every node's URL is in that file)".to_string(),
    ));
    if example {
        lines.push((
            "nonstop example chat-client 127.0.0.1:7000".into(),
            "in another terminal".into(),
        ));
        lines.push((
            "nonstop service resolve CHAT".into(),
            "where it is served now".into(),
        ));
    }
    if let Some(g) = file.groups.iter().find(|g| g.owners.len() > 1) {
        let (home, last) = (&g.owners[0], &g.owners[g.owners.len() - 1]);
        lines.push((
            format!("kill -9 $(cat {}/{home}/daemon.pid)", dir.display()),
            format!("fail the home node; {} moves", g.name),
        ));
        lines.push((
            format!("nonstop up{flag}"),
            format!("start {home} again; {} fails back", g.name),
        ));
        lines.push((
            format!("nonstop group move {} --to {last} --wait", g.name),
            String::new(),
        ));
    }
    lines.push(("nonstop events --follow".into(), String::new()));
    lines.push((format!("nonstop down{flag}"), String::new()));
    let width = lines.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    say!("Try:");
    for (command, why) in lines {
        if why.is_empty() {
            say!("  {command}");
        } else {
            say!("  {command:<width$}   # {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(nodes: usize) -> ClusterFile {
        let args = UpArgs {
            cluster: None,
            nodes: Some(nodes),
            dir: ".nonstop".into(),
            base_port: None,
            timing: None,
            wait_secs: 60,
            insecure: false,
            log_format: LogFormat::Text,
            plugin_dirs: Vec::new(),
        };
        cluster_file(&args, Path::new("/bin/nonstop")).unwrap()
    }

    #[test]
    fn two_nodes_get_a_witness_that_owns_nothing() {
        let f = example(2);
        let nodes: Vec<(&str, bool)> = (f.nodes.iter())
            .map(|n| (n.name.as_str(), n.witness))
            .collect();
        assert_eq!(
            nodes,
            [("osdb-serv", false), ("osdb-back", false), (WITNESS, true)]
        );
        for g in &f.groups {
            assert_eq!(g.owners, ["osdb-serv", "osdb-back"], "{}", g.name);
        }
        let f = example(3);
        assert!(f.nodes.iter().all(|n| !n.witness) && f.nodes.len() == 3);
        let f = example(1);
        assert!(f.nodes.iter().all(|n| !n.witness) && f.nodes.len() == 1);
    }

    #[test]
    fn i10_5_a_daemon_whose_member_stopped_counts_as_not_running() {
        let stopped = Probe::MemberStopped("this controller member is stopped".into());
        assert_eq!(
            plan(Some(42), stopped.clone()),
            Plan::Restart {
                pid: 42,
                why: "this controller member is stopped".into()
            }
        );
        assert_eq!(plan(Some(42), Probe::Serving), Plan::Running(42));
        assert_eq!(plan(Some(42), Probe::NoAnswer), Plan::Running(42));
        assert_eq!(plan(None, stopped), Plan::Start);
    }
}
