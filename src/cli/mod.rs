//! The command line: one file per command, as mini-redis has one file per command; what the
//! commands share (connection, printing, reading files, the local layout) is in `common/`.

mod apply;
mod audit;
mod cert;
mod common;
mod completions;
mod config_cmd;
mod down;
pub(crate) mod drill;
mod events;
mod example;
mod group;
mod manpages;
mod member;
mod node;
mod resource;
mod run;
mod service;
mod simulate;
mod status;
mod tmax_cmd;
mod token;
mod type_cmd;
mod up;

// The helpers every command uses, by their short names.
pub(crate) use common::{client, fence_agents, follow, load, local, output, views, wait, wire};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

use nonstop_controller::config::Diagnostic;

/// nonstop: keeps applications, virtual IP addresses and TP-monitor nodes running across
/// machine failures.
#[derive(Debug, Parser)]
#[command(name = "nonstop", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// The exit codes of every command (docs/cli.md).
const EXIT_CODES: &str = "Exit codes: 0 ok; 1 bad input or refused by the cluster (its message \
names the field); 2 cannot reach any endpoint, or no leader; 3 timed out waiting; 4 a drill \
failed (a round missed --expect-under, overlapped or did not complete); 5 a later command took \
the group elsewhere; 130 a drill interrupted (after its restore).";

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The leader, every node and every group at a glance.
    Status(status::StatusArgs),
    /// Nodes: list, show, pause (drain), resume, evict.
    Node(node::NodeArgs),
    /// Controller members: list, add, remove, transfer (the raft leadership).
    Member(member::MemberArgs),
    /// Groups: list, show, move, online, offline, clear.
    Group(group::GroupArgs),
    /// Resources: list, show, online, offline.
    Resource(resource::ResourceArgs),
    /// The cluster's state transitions, with timestamps; --follow to keep watching.
    Events(events::EventsArgs),
    /// Make the cluster's configuration match a cluster.yaml; prints the difference.
    Apply(apply::ApplyArgs),
    /// Services: where one is served now (cousin sets and their LOAD rules).
    Service(service::ServiceArgs),
    /// The operator commands the cluster applied: when, who, what.
    Audit(audit::AuditArgs),
    /// Certificates: the cluster CA (init), a node's (node), a person's or a tool's (user), and
    /// what one says (show).
    Cert(cert::CertArgs),
    /// Bearer tokens for scripts and the dashboard: create, list, revoke (admins).
    Token(token::TokenArgs),
    /// Fail-over drills: list the scenarios, run one (measured, watched, restored).
    Drill(drill::DrillArgs),
    /// Write a man page per command into a folder.
    Manpages(manpages::ManpagesArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Check a cluster.yaml.
    Config(config_cmd::ConfigArgs),
    /// Show what the cluster would do when nodes and resources fail: the leader's own plan, run
    /// on a copy.
    Simulate(simulate::SimulateArgs),
    /// Check or import a Tmax environment file.
    Tmax(tmax_cmd::TmaxArgs),
    /// Resource types: list, show, and test them on this machine.
    Type(type_cmd::TypeArgs),
    /// Run this node's daemon (controller member, agent, or both) from its node.yaml.
    Run(run::RunArgs),
    /// Start a local cluster on loopback (default: three nodes running the chat example).
    Up(up::UpArgs),
    /// Stop the local cluster that `nonstop up` started.
    Down(down::DownArgs),
    /// The paper's chat server and client (used by the local cluster).
    Example(example::ExampleArgs),
    /// The node's watchdog, started by the daemon (docs/daemon.md).
    #[command(hide = true)]
    Watchdog(crate::watchdog::WatchdogArgs),
    /// Stops a daemon for a while, for a drill's node-freeze (started by the daemon).
    #[command(hide = true, name = "drill-freeze")]
    DrillFreeze(crate::daemon::drill::FreezeArgs),
}

/// Parses the command line and runs the command; the exit code says how it went.
pub fn main() -> ExitCode {
    let cli = match command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    match cli.cmd {
        Cmd::Status(args) => status::run(args),
        Cmd::Node(args) => node::run(args),
        Cmd::Member(args) => member::run(args),
        Cmd::Group(args) => group::run(args),
        Cmd::Resource(args) => resource::run(args),
        Cmd::Events(args) => events::run(args),
        Cmd::Apply(args) => apply::run(args),
        Cmd::Service(args) => service::run(args),
        Cmd::Audit(args) => audit::run(args),
        Cmd::Cert(args) => cert::run(args),
        Cmd::Token(args) => token::run(args),
        Cmd::Drill(args) => drill::run(args),
        Cmd::Completions(args) => completions::run(args, command()),
        Cmd::Manpages(args) => manpages::run(args, command()),
        Cmd::Config(args) => config_cmd::run(args),
        Cmd::Simulate(args) => simulate::run(args),
        Cmd::Tmax(args) => tmax_cmd::run(args),
        Cmd::Type(args) => type_cmd::run(args),
        Cmd::Run(args) => run::run(args),
        Cmd::Up(args) => up::run(args),
        Cmd::Down(args) => down::run(args),
        Cmd::Example(args) => example::run(args),
        Cmd::Watchdog(args) => crate::watchdog::run(args),
        Cmd::DrillFreeze(args) => crate::daemon::drill::freeze_helper(args),
    }
}

/// The command line's definition, with the exit codes under every command's help.
pub(crate) fn command() -> clap::Command {
    with_exit_codes(Cli::command())
}

fn with_exit_codes(mut cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for n in names {
        cmd = cmd.mut_subcommand(n, with_exit_codes);
    }
    // Keep a command's own notes (simulate's list of events) above the exit codes.
    let help = match cmd.get_after_help() {
        Some(own) => format!("{own}\n\n{EXIT_CODES}"),
        None => EXIT_CODES.to_string(),
    };
    cmd.after_help(help)
}

/// Prints clap's help or usage error; a usage error is bad input (exit 1, not clap's 2, which
/// means "cannot reach the cluster" here). A usage error echoes the arguments, so it is
/// printed as every other error is (control characters escaped, without clap's colours).
fn usage(e: &clap::Error) -> ExitCode {
    if e.use_stderr() {
        let text = e.render().to_string();
        output::tell_line(text.trim_end());
        ExitCode::FAILURE
    } else {
        let _ = e.print();
        ExitCode::SUCCESS
    }
}

/// Prints an error and returns exit code 1.
pub(crate) fn fail(message: &str) -> ExitCode {
    output::tell!("error: {message}");
    ExitCode::FAILURE
}

/// Prints every diagnostic, one per line, and returns exit code 1.
pub(crate) fn fail_all(errors: &[Diagnostic]) -> ExitCode {
    for e in errors {
        output::tell!("{e}");
    }
    ExitCode::FAILURE
}
