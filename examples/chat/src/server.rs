//! The chat server: every line a user sends goes to every other user. The `MaxUser`+1-th user is
//! told the server is full and disconnected. Under nonstop, `MaxUser` changes without a restart:
//! on SIGHUP the server reads it again from its properties file (`NONSTOP_PROPERTIES`, lines
//! `NONSTOP_PROP_MaxUser=N`), as the paper's resource DLL took a new private property value.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

use crate::{ChatError, MAX_USER_LIMIT};

// The server's command-line arguments: one definition for the `chat-server` binary and for
// `nonstop example chat-server` (which adds `--properties`). The doc comment is the binary's
// help text (one paragraph, or clap shows the rest under --help).
/// The paper's chat server.
#[derive(Debug, clap::Parser)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7000")]
    pub listen: SocketAddr,
    /// Most users at once (1..=10).
    #[arg(long, env = "NONSTOP_PROP_MaxUser", default_value_t = 10)]
    pub max_user: i64,
    /// The node name shown to users.
    #[arg(long, env = "NONSTOP_NODE", default_value = "local")]
    pub node: String,
}

impl ServerArgs {
    /// The server they describe (MaxUser checked).
    pub fn config(self) -> Result<ServerConfig, ChatError> {
        ServerConfig::new(self.listen, self.max_user, self.node)
    }
}

/// How a server runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// How many users at once (1..=10); shared, so that a reload changes it for every user.
    pub max_user: Arc<AtomicU32>,
    /// The node it runs on, shown to users so that a fail-over is visible.
    pub node: String,
    /// Where to read MaxUser again on SIGHUP.
    pub properties: Option<std::path::PathBuf>,
}

impl ServerConfig {
    /// Checks MaxUser against the paper's limit.
    pub fn new(listen: SocketAddr, max_user: i64, node: String) -> Result<Self, ChatError> {
        Ok(ServerConfig {
            listen,
            max_user: Arc::new(AtomicU32::new(checked(max_user)?)),
            node,
            properties: None,
        })
    }

    /// The same, reading MaxUser again from `file` on SIGHUP.
    pub fn with_properties(mut self, file: Option<std::path::PathBuf>) -> Self {
        self.properties = file;
        self
    }

    fn max_user(&self) -> u32 {
        self.max_user.load(Ordering::SeqCst)
    }
}

fn checked(max_user: i64) -> Result<u32, ChatError> {
    if !(1..=MAX_USER_LIMIT as i64).contains(&max_user) {
        return Err(ChatError::MaxUser(max_user));
    }
    Ok(max_user as u32)
}

/// MaxUser as a properties file gives it (`NONSTOP_PROP_MaxUser=N`).
pub fn max_user_in(text: &str) -> Result<u32, ChatError> {
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("NONSTOP_PROP_MaxUser="))
        .ok_or(ChatError::MaxUser(0))?;
    let n: i64 = value.trim().parse().map_err(|_| ChatError::MaxUser(0))?;
    checked(n)
}

/// Reads MaxUser again from `file` on every SIGHUP; a bad file keeps the value in force.
async fn reload_on_hup(
    mut hup: tokio::signal::unix::Signal,
    file: std::path::PathBuf,
    max_user: Arc<AtomicU32>,
) {
    while hup.recv().await.is_some() {
        match std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|t| max_user_in(&t).map_err(|e| e.to_string()))
        {
            Ok(n) => {
                max_user.store(n, Ordering::SeqCst);
                eprintln!("chat server: MaxUser is now {n}");
            }
            Err(e) => eprintln!("chat server: {}: {e}; MaxUser unchanged", file.display()),
        }
    }
}

/// Binds and serves until the task is dropped. The reload signal is handled from before the
/// port answers (nonstop counts the server online then, and may signal it at once).
pub async fn run(config: ServerConfig) -> Result<(), ChatError> {
    if let Some(file) = config.properties.clone() {
        use tokio::signal::unix::{SignalKind, signal};
        let hup = signal(SignalKind::hangup()).map_err(|source| ChatError::Io {
            context: "cannot handle SIGHUP".into(),
            source,
        })?;
        tokio::spawn(reload_on_hup(hup, file, config.max_user.clone()));
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ChatError::Io {
            context: format!("cannot listen on {}", config.listen),
            source,
        })?;
    serve(listener, config).await
}

/// Serves on a bound listener (tests bind port 0 first).
pub async fn serve(listener: TcpListener, config: ServerConfig) -> Result<(), ChatError> {
    let (tx, _) = broadcast::channel::<(u64, String)>(256);
    let users = Arc::new(AtomicU32::new(0));
    let mut next_id = 0u64;
    loop {
        let (socket, _) = listener.accept().await.map_err(|source| ChatError::Io {
            context: "accept".into(),
            source,
        })?;
        next_id += 1;
        let (tx, users, config) = (tx.clone(), users.clone(), config.clone());
        tokio::spawn(async move {
            // A user that cannot be written to is gone: nothing else to do.
            let _ = user(socket, next_id, tx, users, &config).await;
        });
    }
}

async fn user(
    mut socket: TcpStream,
    id: u64,
    tx: broadcast::Sender<(u64, String)>,
    users: Arc<AtomicU32>,
    config: &ServerConfig,
) -> std::io::Result<()> {
    let max_user = config.max_user();
    if users.fetch_add(1, Ordering::SeqCst) >= max_user {
        users.fetch_sub(1, Ordering::SeqCst);
        let msg = format!("ERR server full: MaxUser is {max_user}\n");
        return socket.write_all(msg.as_bytes()).await;
    }
    let result = converse(socket, id, &tx, config).await;
    users.fetch_sub(1, Ordering::SeqCst);
    let _ = tx.send((id, format!("* user{id} left")));
    result
}

async fn converse(
    socket: TcpStream,
    id: u64,
    tx: &broadcast::Sender<(u64, String)>,
    config: &ServerConfig,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut rx = tx.subscribe();
    let hello = format!(
        "WELCOME user{id} on {} (MaxUser {})\n",
        config.node,
        config.max_user()
    );
    write.write_all(hello.as_bytes()).await?;
    let _ = tx.send((id, format!("* user{id} joined")));
    let mut lines = BufReader::new(read).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(text) => { let _ = tx.send((id, format!("user{id}: {text}"))); }
                None => return Ok(()),
            },
            msg = rx.recv() => match msg {
                Ok((from, text)) if from != id => write.write_all(format!("{text}\n").as_bytes()).await?,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
    }
}
