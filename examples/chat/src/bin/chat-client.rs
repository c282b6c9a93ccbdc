//! `chat-client ADDR`: the chat client that reconnects when the server fails over.

use clap::Parser;
use std::process::ExitCode;

/// The chat client.
#[derive(Debug, Parser)]
struct Args {
    /// The server's address (the group's virtual address).
    server: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    match nonstop_chat::client::run(Args::parse().server).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-client: {e}");
            ExitCode::FAILURE
        }
    }
}
