//! `nonstop member`: the controller members (raft voters): list them, add or remove one, hand
//! the leadership to one.
//!
//! ```text
//!  list ──ListMembers──▶ leader (replication progress)
//!       └─ListMembers{local}──▶ every member (its node name, its own commit and applied)
//!  transfer --to NODE|ID ── resolve the name as above ──TransferLeader──▶ wait until it leads
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use nonstop_contract::Millis;
use nonstop_pki::Links;
use nonstop_proto::cluster as pb;
use nonstop_proto::cluster::cluster_service_client::ClusterServiceClient;
use serde::Serialize;

use super::client::{CliError, Client, ConnArgs, call, run_async};
use super::output::{emit, rows};
use super::wire;

/// The options of `nonstop member`.
#[derive(Debug, Args)]
pub struct MemberArgs {
    #[command(subcommand)]
    cmd: MemberCmd,
    #[command(flatten)]
    conn: ConnArgs,
}

#[derive(Debug, Subcommand)]
enum MemberCmd {
    /// Every controller member: node, address, role, and how far its log is.
    List,
    /// Add a voting member (its daemon runs with `bootstrap: false` and waits to be added).
    Add {
        /// The new member's raft id.
        #[arg(long)]
        id: u64,
        /// Its gRPC address (host:port).
        #[arg(long)]
        address: String,
    },
    /// Remove a member (the leader hands leadership over first; the last voter stays).
    Remove {
        /// The member: its node name or its id.
        member: String,
    },
    /// Hand the leadership to a member and wait until it leads.
    Transfer {
        /// The member to lead: its node name or its id.
        #[arg(long)]
        to: String,
        /// How long to wait (500ms, 10s, 2m); exit code 3 after that.
        #[arg(long, default_value = "10s")]
        timeout: Millis,
    },
}

/// Runs `nonstop member ...`.
pub fn run(args: MemberArgs) -> ExitCode {
    run_async(async move {
        let mut c = Client::new(&args.conn)?;
        match args.cmd {
            MemberCmd::List => {
                let view = members(&mut c).await?;
                emit(c.format, &view, member_table)
            }
            MemberCmd::Add { id, address } => {
                // The server refuses it too; checked here so nothing is asked of the cluster.
                nonstop_controller::server::member_address(&address, c.is_tls())
                    .map_err(|why| CliError::Refused(format!("--address: {why}")))?;
                let req = pb::AddMemberRequest { id, address };
                let reply = call!(c, add_member, req)?;
                print_change(&c, reply).await
            }
            MemberCmd::Remove { member } => {
                let id = resolve(&mut c, "member", &member).await?;
                let reply = call!(c, remove_member, pb::RemoveMemberRequest { id })?;
                print_change(&c, reply).await
            }
            MemberCmd::Transfer { to, timeout } => transfer(&mut c, &to, timeout).await,
        }
    })
}

/// One member as `member list` prints it.
#[derive(Debug, Serialize)]
pub struct MemberView {
    pub id: u64,
    /// The node whose daemon runs it (null when it did not answer).
    pub node: Option<String>,
    pub address: String,
    /// leader, voter or learner.
    pub role: String,
    /// The leader's view: the highest index known to match its log (null if not known).
    pub matched: Option<u64>,
    /// probe, replicate or snapshot (the leader's view).
    pub progress: Option<String>,
    /// Answered the leader within the last election timeout (the leader's view).
    pub active: Option<bool>,
    /// The member's own view: the highest index it knows committed, and applied.
    pub commit: Option<u64>,
    pub applied: Option<u64>,
}

/// The members and who leads.
#[derive(Debug, Serialize)]
pub struct MembersView {
    /// The leader's member id (null when none is known).
    pub leader: Option<u64>,
    pub term: u64,
    /// The node of the member that answered.
    pub answered_by: String,
    pub members: Vec<MemberView>,
}

/// The members from the leader (or any member when none leads), each completed with its own
/// answer.
async fn members(c: &mut Client) -> Result<MembersView, CliError> {
    let list = call!(c, list_members, pb::ListMembersRequest { local: false })?;
    let links = c.links().clone();
    let own =
        futures::future::join_all(list.members.iter().map(|m| ask_member(&links, &m.address)))
            .await;
    let members = list.members.iter().zip(own).map(|(m, own)| MemberView {
        id: m.id,
        node: own.as_ref().map(|o| o.answered_by.clone()),
        address: m.address.clone(),
        role: wire::member_role(m.role),
        matched: m.has_progress.then_some(m.matched),
        progress: m
            .has_progress
            .then(|| wire::progress_state(m.progress_state)),
        active: m.has_progress.then_some(m.active),
        commit: own.as_ref().map(|o| o.commit),
        applied: own.as_ref().map(|o| o.applied),
    });
    Ok(MembersView {
        leader: (list.leader_id != 0).then_some(list.leader_id),
        term: list.term,
        answered_by: list.answered_by,
        members: members.collect(),
    })
}

/// The node name of the member at `address`, or `None` when it does not answer within 2 s.
pub async fn node_of(links: &Links, address: &str) -> Option<String> {
    let own = ask_member(links, address).await?;
    Some(own.answered_by).filter(|n| !n.is_empty())
}

/// Member `address`'s own view, or `None` when it does not answer within 2 s.
async fn ask_member(links: &Links, address: &str) -> Option<pb::MemberList> {
    let endpoint = links
        .endpoint(address)
        .ok()?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(2));
    let mut api = ClusterServiceClient::new(endpoint.connect().await.ok()?);
    let reply = api.list_members(pb::ListMembersRequest { local: true });
    reply.await.ok().map(|r| r.into_inner())
}

/// The member id `what` names: an id, or the node name of a member that answers.
async fn resolve(c: &mut Client, field: &str, what: &str) -> Result<u64, CliError> {
    if let Ok(id) = what.parse::<u64>() {
        return Ok(id);
    }
    let view = members(c).await?;
    let found = view
        .members
        .iter()
        .find(|m| m.node.as_deref() == Some(what));
    found.map(|m| m.id).ok_or_else(|| {
        let known: Vec<String> = (view.members.iter())
            .map(|m| format!("{} {}", m.id, m.node.as_deref().unwrap_or("(no answer)")))
            .collect();
        let known = known.join(", ");
        CliError::Refused(format!(
            "{field}: no controller member runs on node {what:?} (members: {known})"
        ))
    })
}

async fn transfer(c: &mut Client, to: &str, timeout: Millis) -> Result<(), CliError> {
    let id = resolve(c, "--to", to).await?;
    let timeout_ms = u32::try_from(timeout.as_duration().as_millis())
        .map_err(|_| CliError::Refused(format!("--timeout: {timeout} is too long")))?;
    let req = pb::TransferLeaderRequest { to: id, timeout_ms };
    let reply = call!(c, transfer_leader, req)?;
    #[derive(Serialize)]
    struct Transferred {
        leader: u64,
        term: u64,
        took_ms: u32,
    }
    let t = Transferred {
        leader: reply.leader_id,
        term: reply.term,
        took_ms: reply.took_ms,
    };
    emit(c.format, &t, |t| {
        format!(
            "member {} ({to}) leads now (term {}), after {} ms",
            t.leader, t.term, t.took_ms
        )
    })
}

async fn print_change(c: &Client, reply: pb::MemberChangeReply) -> Result<(), CliError> {
    let list = reply.members.unwrap_or_default();
    let view = MembersView {
        leader: (list.leader_id != 0).then_some(list.leader_id),
        term: list.term,
        answered_by: list.answered_by,
        members: (list.members.into_iter())
            .map(|m| MemberView {
                id: m.id,
                node: None,
                address: m.address,
                role: wire::member_role(m.role),
                matched: None,
                progress: None,
                active: None,
                commit: None,
                applied: None,
            })
            .collect(),
    };
    emit(c.format, &view, |v| {
        let ids: Vec<String> = v.members.iter().map(|m| m.id.to_string()).collect();
        format!("members now: {}", ids.join(", "))
    })
}

fn member_table(v: &MembersView) -> String {
    let opt = |o: Option<u64>| o.map_or("-".to_string(), |n| n.to_string());
    let header = [
        "ID", "NODE", "ADDRESS", "ROLE", "MATCHED", "PROGRESS", "COMMIT", "APPLIED",
    ];
    let table = rows(
        &header,
        v.members.iter().map(|m| {
            let progress = match (&m.progress, m.active) {
                (Some(p), Some(false)) => format!("{p} (inactive)"),
                (Some(p), _) => p.clone(),
                (None, _) => "-".into(),
            };
            vec![
                m.id.to_string(),
                m.node.clone().unwrap_or_else(|| "(no answer)".into()),
                m.address.clone(),
                m.role.clone(),
                opt(m.matched),
                progress,
                opt(m.commit),
                opt(m.applied),
            ]
        }),
    );
    match v.leader {
        Some(l) => format!("{table}\nleader: member {l}, term {}", v.term),
        None => format!("{table}\nno leader known (term {})", v.term),
    }
}
