//! `nonstop example chat-server|chat-client`: the paper's application, shipped inside the
//! binary so that the local cluster (`nonstop up`) runs on a fresh machine with nothing else
//! built. The code is in examples/chat/.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Subcommand;

/// Arguments of `nonstop example`.
#[derive(Debug, clap::Args)]
pub struct ExampleArgs {
    #[command(subcommand)]
    what: Example,
}

#[derive(Debug, Subcommand)]
enum Example {
    /// The chat server (MaxUser from NONSTOP_PROP_MaxUser under nonstop).
    ChatServer {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7000")]
        listen: SocketAddr,
        /// Most users at once (1..=10).
        #[arg(long, env = "NONSTOP_PROP_MaxUser", default_value_t = 10)]
        max_user: i64,
        /// The node name shown to users.
        #[arg(long, env = "NONSTOP_NODE", default_value = "local")]
        node: String,
    },
    /// The chat client: reconnects when the server moves.
    ChatClient {
        /// The server's address.
        #[arg(default_value = "127.0.0.1:7000")]
        server: String,
    },
}

/// Runs the example program.
pub fn run(args: ExampleArgs) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return super::fail(&format!("cannot start the runtime: {e}")),
    };
    let result = rt.block_on(async move {
        match args.what {
            Example::ChatServer {
                listen,
                max_user,
                node,
            } => {
                let config = nonstop_chat::server::ServerConfig::new(listen, max_user, node)
                    .map_err(|e| e.to_string())?;
                nonstop_chat::server::run(config)
                    .await
                    .map_err(|e| e.to_string())
            }
            Example::ChatClient { server } => nonstop_chat::client::run(server)
                .await
                .map_err(|e| e.to_string()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&e),
    }
}
