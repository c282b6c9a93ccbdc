//! `chat-server --listen ADDR [--max-user N] [--node NAME]`: the paper's chat server. Under
//! nonstop, MaxUser comes from the resource's private property (`NONSTOP_PROP_MaxUser`).

use clap::Parser;
use std::net::SocketAddr;
use std::process::ExitCode;

use nonstop_chat::server::{ServerConfig, run};

/// The paper's chat server.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7000")]
    listen: SocketAddr,
    /// Most users at once (1..=10).
    #[arg(long, env = "NONSTOP_PROP_MaxUser", default_value_t = 10)]
    max_user: i64,
    /// The node name shown to users.
    #[arg(long, env = "NONSTOP_NODE", default_value = "local")]
    node: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = Args::parse();
    let config = match ServerConfig::new(a.listen, a.max_user, a.node) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chat-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-server: {e}");
            ExitCode::FAILURE
        }
    }
}
