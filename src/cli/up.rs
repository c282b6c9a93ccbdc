//! `nonstop up [CLUSTER.yaml] [--nodes N] [--dir DIR]`: a local cluster on loopback, one
//! `nonstop run` process per node, data under `DIR/<node>/` (node.yaml, the raft log, the
//! agent's state, `daemon.log`, `daemon.pid`). With no file it runs the paper's chat server
//! (examples/chat/cluster.yaml, built into the binary).

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use nonstop_controller::config::{self, ClusterFile};
use nonstop_controller::db::model::NodeSpec;

use super::local;

const EXAMPLE: &str = include_str!("../../examples/chat/cluster.yaml");

/// Arguments of `nonstop up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The cluster to run (default: the chat example).
    cluster: Option<PathBuf>,
    /// How many nodes (only with the built-in example; a file lists its own nodes).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Where each node keeps its data.
    #[arg(long, default_value = ".nonstop")]
    dir: PathBuf,
    /// The first node's port; the others follow.
    #[arg(long, default_value_t = 7701)]
    base_port: u16,
    /// Raft timing profile of the daemons: default or fast.
    #[arg(long, default_value = "default")]
    timing: String,
    /// How long to wait for every group to come online.
    #[arg(long, default_value = "60")]
    wait_secs: u64,
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
    let file = cluster_file(args, &exe)?;
    let names: Vec<String> = file.nodes.iter().map(|n| n.name.clone()).collect();
    std::fs::create_dir_all(&args.dir).map_err(|e| format!("{}: {e}", args.dir.display()))?;
    let dir = args
        .dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", args.dir.display()))?;
    for n in &names {
        if let Some(pid) = local::running_pid(&dir.join(n)) {
            return Err(format!(
                "node {n} is already running (pid {pid}): run `nonstop down` first"
            ));
        }
    }
    let layout = local::Layout::new(&names, args.base_port);
    for i in 0..names.len() {
        let addr = layout.address(i);
        if std::net::TcpListener::bind(&addr).is_err() {
            return Err(format!(
                "{addr} is in use (another local cluster? stop it with `nonstop down --dir DIR`, \
                 or pick other ports with --base-port)"
            ));
        }
    }
    let cluster_path = dir.join("cluster.yaml");
    let text = yaml_serde::to_string(&file).map_err(|e| e.to_string())?;
    write(&cluster_path, &text)?;
    write(&dir.join("endpoints"), &layout.endpoints())?;
    for (i, n) in names.iter().enumerate() {
        let node_dir = dir.join(n);
        std::fs::create_dir_all(&node_dir).map_err(|e| format!("{}: {e}", node_dir.display()))?;
        write(
            &node_dir.join("node.yaml"),
            &layout.node_yaml(i, &cluster_path, &args.timing),
        )?;
        let pid = spawn(&exe, &node_dir)?;
        println!("started {n} (pid {pid}) on {}", layout.address(i));
    }
    let summary = layout.wait(Duration::from_secs(args.wait_secs), Instant::now())?;
    println!("\n{summary}");
    print_next_steps(&args.dir);
    Ok(())
}

/// The cluster to run: the given file, or the chat example with `--nodes` nodes.
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
    let mut file = config::check(&name, &text)
        .map_err(|ds| {
            ds.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })?
        .file;
    if args.cluster.is_none() {
        if args.nodes == 0 || args.nodes > 9 {
            return Err(format!("--nodes {}: run 1 to 9 nodes", args.nodes));
        }
        file.nodes.truncate(args.nodes);
        for i in file.nodes.len()..args.nodes {
            file.nodes.push(NodeSpec {
                name: format!("node{}", i + 1),
                autobackup: true,
                ..Default::default()
            });
        }
        let known: Vec<String> = file.nodes.iter().map(|n| n.name.clone()).collect();
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

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
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

fn print_next_steps(dir: &Path) {
    let d = dir.display();
    println!(
        "Try:\n  nonstop status\n  nonstop example chat-client 127.0.0.1:7000      # in another terminal\n  \
         kill -9 $(cat {d}/osdb-serv/daemon.pid)           # fail the home node; watch the group move\n  \
         nonstop group move SOCKET_GROUP --to osdb-third --wait\n  nonstop events --follow\n  \
         nonstop down"
    );
}
