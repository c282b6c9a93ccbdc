//! The chat client: sends what it reads from standard input, prints what the server sends, and
//! when the connection drops (the server's group is failing over) reconnects with backoff to the
//! same address, which the cluster moves with the group.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Connects to `server` and relays lines until standard input closes. Prints how long each
/// outage lasted, which is the fail-over time a user sees. A server that refuses the user
/// (full: MaxUser reached) ends the client with that message as the error.
pub async fn run(server: String) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<String>(64);
    // A plain thread, not tokio's stdin: tokio reads stdin on its blocking pool, and a runtime
    // waits for that read before it shuts down, so a refused client would hang until its
    // user pressed Enter.
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let mut lost_at: Option<Instant> = None;
    loop {
        let socket = connect(&server).await;
        if let Some(t) = lost_at.take() {
            println!("-- reconnected after {} ms", t.elapsed().as_millis());
        }
        match session(socket, &mut rx).await {
            Ok(Ended::InputClosed) => return Ok(()),
            Ok(Ended::Refused(why)) => return Err(std::io::Error::other(why)),
            Ok(Ended::HungUp) | Err(_) => {
                println!("-- connection to {server} lost, reconnecting");
                lost_at = Some(Instant::now());
            }
        }
    }
}

/// How a session ended.
enum Ended {
    /// Standard input closed: the user is done.
    InputClosed,
    /// The server closed the connection (it stopped, or its node failed).
    HungUp,
    /// The server refused the user, saying why (`ERR server full: MaxUser is 10`).
    Refused(String),
}

/// Connects, retrying every 100 ms up to every 1 s.
async fn connect(server: &str) -> TcpStream {
    let mut wait = Duration::from_millis(100);
    loop {
        if let Ok(s) = TcpStream::connect(server).await {
            return s;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}

/// Relays until the server hangs up, refuses the user, or standard input ends.
async fn session(socket: TcpStream, input: &mut mpsc::Receiver<String>) -> std::io::Result<Ended> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(text) if text.starts_with("ERR ") => {
                    return Ok(Ended::Refused(text["ERR ".len()..].to_string()));
                }
                Some(text) => println!("{text}"),
                None => return Ok(Ended::HungUp),
            },
            msg = input.recv() => match msg {
                Some(text) => write.write_all(format!("{text}\n").as_bytes()).await?,
                None => return Ok(Ended::InputClosed),
            },
        }
    }
}
