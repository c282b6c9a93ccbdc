//! `nonstop token`: bearer tokens for scripts and the web dashboard (admins only). `create`
//! prints the token alone on standard output, once: the cluster keeps only a hash of it.
//! A token works only over TLS, presented without a client certificate (`--token` or
//! `NONSTOP_TOKEN`, with `--ca` to trust the cluster's CA).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use nonstop_contract::Millis;
use nonstop_proto::cluster as pb;
use serde::Serialize;

use super::client::{CliError, Client, ConnArgs, call, run_async};
use super::output::{emit, print_line, rows, timestamp};

/// The options of `nonstop token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    cmd: TokenCmd,
    #[command(flatten)]
    conn: ConnArgs,
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Make a token; it is printed alone on standard output, once.
    Create {
        /// What it may do: viewer, operator or admin.
        #[arg(long)]
        role: String,
        /// How long it works (30s, 15m, 24h, 30d; at most 366 days).
        #[arg(long)]
        ttl: Millis,
        /// What it is for, as the audit log names it [default: the role].
        #[arg(long)]
        name: Option<String>,
    },
    /// The tokens the cluster knows: id, name, role, when made and by whom, when they expire.
    List,
    /// Make a token stop working, by its id (the part after `nst_`, before the next `_`).
    Revoke {
        /// The token's id.
        id: String,
    },
}

/// A token as `token list` shows it (never its secret).
#[derive(Debug, Serialize)]
struct TokenView {
    id: String,
    name: String,
    role: String,
    created_at_ms: u64,
    expires_at_ms: u64,
    created_by: String,
    expired: bool,
}

/// Runs `nonstop token ...`.
pub fn run(args: TokenArgs) -> ExitCode {
    run_async(async move {
        let mut c = Client::new(&args.conn)?;
        match args.cmd {
            TokenCmd::Create { role, ttl, name } => {
                let req = pb::CreateTokenRequest {
                    name: name.unwrap_or_else(|| role.clone()),
                    role,
                    ttl_ms: ttl.0,
                };
                let reply = call!(c, create_token, req)?;
                print_line(&reply.token)
            }
            TokenCmd::List => {
                let reply = call!(c, list_tokens, pb::ListTokensRequest {})?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let tokens: Vec<TokenView> = reply
                    .tokens
                    .into_iter()
                    .map(|t| TokenView {
                        expired: t.expires_at_ms <= now,
                        id: t.id,
                        name: t.name,
                        role: t.role,
                        created_at_ms: t.created_at_ms,
                        expires_at_ms: t.expires_at_ms,
                        created_by: t.created_by,
                    })
                    .collect();
                emit(c.format, &tokens, |t| table(t))
            }
            TokenCmd::Revoke { id } => {
                if id.starts_with(nonstop_controller::server::TOKEN_PREFIX) {
                    return Err(CliError::Refused(
                        "ID: give the token's id, not the token (never pass a token on a \
                         command line)"
                            .into(),
                    ));
                }
                call!(c, revoke_token, pb::RevokeTokenRequest { id: id.clone() })?;
                print_line(&format!("revoked token {id}"))
            }
        }
    })
}

fn table(tokens: &[TokenView]) -> String {
    let r = tokens.iter().map(|t| {
        let expires = if t.expired {
            format!("{} (expired)", timestamp(t.expires_at_ms))
        } else {
            timestamp(t.expires_at_ms)
        };
        [
            t.id.clone(),
            t.name.clone(),
            t.role.clone(),
            timestamp(t.created_at_ms),
            expires,
            t.created_by.clone(),
        ]
    });
    rows(
        &["ID", "NAME", "ROLE", "CREATED (UTC)", "EXPIRES (UTC)", "BY"],
        r,
    )
}
