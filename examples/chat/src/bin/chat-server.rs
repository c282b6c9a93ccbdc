//! `chat-server --listen ADDR [--max-user N] [--node NAME]`: the paper's chat server. Under
//! nonstop, MaxUser comes from the resource's private property (`NONSTOP_PROP_MaxUser`).

use clap::Parser;
use std::process::ExitCode;

use nonstop_chat::server::{ServerArgs, run};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match ServerArgs::parse().config() {
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
