//! `nonstop example chat-server|chat-client|hold`: the paper's application, shipped inside the
//! binary so that the local cluster (`nonstop up`) runs on a fresh machine with nothing else
//! built (the code is in examples/chat/); and `hold`, a stand-in service for drills and tests.

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
        // --listen, --max-user, --node: the `chat-server` binary's arguments.
        #[command(flatten)]
        server: nonstop_chat::server::ServerArgs,
        /// A properties file to read MaxUser from again on SIGHUP (nonstop's process type
        /// writes one and sets NONSTOP_PROPERTIES).
        #[arg(long, env = "NONSTOP_PROPERTIES")]
        properties: Option<std::path::PathBuf>,
    },
    /// The chat client: reconnects when the server moves.
    ChatClient {
        /// The server's address.
        #[arg(default_value = "127.0.0.1:7000")]
        server: String,
    },
    /// A stand-in service that runs until it is stopped, and takes its time to stop: unlike a
    /// server bound to a port, two copies of it can run at once, which is what a check for
    /// "never on two nodes" must be able to see. Its name is on its command line.
    Hold {
        /// A name to find it by (in `ps`, /proc/PID/cmdline).
        name: String,
        /// How long it takes to stop after SIGTERM (a slow service); SIGKILL is at once.
        #[arg(long, default_value = "0s")]
        term_delay: String,
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
            Example::ChatServer { server, properties } => {
                let config = server
                    .config()
                    .map_err(|e| e.to_string())?
                    .with_properties(properties);
                nonstop_chat::server::run(config)
                    .await
                    .map_err(|e| e.to_string())
            }
            Example::ChatClient { server } => nonstop_chat::client::run(server)
                .await
                .map_err(|e| e.to_string()),
            Example::Hold { name, term_delay } => hold(&name, &term_delay).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&e),
    }
}

/// `nonstop example hold`: waits for SIGTERM (or SIGINT), then for `term_delay`, then exits.
async fn hold(name: &str, term_delay: &str) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let delay = term_delay
        .parse::<nonstop_contract::Millis>()
        .map_err(|e| format!("--term-delay: {e}"))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    super::output::tell!("{name}: stopping in {delay}");
    tokio::time::sleep(delay.as_duration()).await;
    Ok(())
}
