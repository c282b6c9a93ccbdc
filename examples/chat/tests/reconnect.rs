//! The chat client and server as real processes on loopback: the client reconnects by itself
//! when its server dies and another starts on the same address (what a fail-over looks like
//! to it), and its next message is delivered there; the user past MaxUser is refused with a
//! clear message and the client stops instead of retrying.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_chat-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_chat-client");
const WAIT: Duration = Duration::from_secs(10);

/// A chat server process, killed when dropped.
struct Server(Child);

impl Server {
    fn start(addr: &str, node: &str, max_user: u32) -> Server {
        let child = Command::new(SERVER)
            .args(["--listen", addr, "--node", node])
            .args(["--max-user", &max_user.to_string()])
            .env_remove("NONSTOP_PROP_MaxUser")
            .spawn()
            .unwrap();
        Server(child)
    }

    /// Kills the server, as a failed node would lose it.
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A chat client process: what it prints arrives line by line on `out`.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<String>,
}

impl Client {
    fn start(addr: &str) -> Client {
        let mut child = Command::new(CLIENT)
            .arg(addr)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, out) = channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Client { child, stdin, out }
    }

    fn say(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for a printed line that satisfies `want`; returns it.
    fn expect(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.out.recv_timeout(left) {
                Ok(line) if want(&line) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("the client never printed {what}; it printed {seen:?}");
    }

    /// Waits for the client to exit (after closing its input, with `close_input`); its status
    /// and standard error.
    fn exit(mut self, close_input: bool) -> (std::process::ExitStatus, String) {
        if close_input {
            drop(self.stdin.take());
        }
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                let _ =
                    std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err);
                return (status, err);
            }
            assert!(Instant::now() < deadline, "the client did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A user connected with a plain socket, reading what the server sends.
struct User(BufReader<TcpStream>);

impl User {
    /// Connects, retrying until the server listens; the first line is the server's greeting.
    fn join(addr: &str) -> (User, String) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(s) = TcpStream::connect(addr) {
                s.set_read_timeout(Some(WAIT)).unwrap();
                let mut u = User(BufReader::new(s));
                let hello = u.line();
                return (u, hello);
            }
            assert!(Instant::now() < deadline, "no server on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        self.0.read_line(&mut s).unwrap();
        s.trim_end().to_string()
    }

    /// Reads lines until one ends with `text`; panics on a timeout or a hang-up.
    fn until(&mut self, text: &str) -> String {
        loop {
            let l = self.line();
            assert!(!l.is_empty(), "the server hung up before {text:?}");
            if l.ends_with(text) {
                return l;
            }
        }
    }
}

/// A loopback address free now and not handed to another test of this binary: the kernel may
/// give a port just released to the next bind, and the two tests run at once (a user of one
/// test once joined the other's server and was reset).
fn free_addr() -> String {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        if !given.contains(&addr.port()) {
            given.push(addr.port());
            return addr.to_string();
        }
    }
}

#[test]
fn the_client_reconnects_to_the_next_server_and_its_next_message_is_delivered() {
    let addr = free_addr();
    let first = Server::start(&addr, "first", 10);
    let (mut peer, _) = User::join(&addr);
    let mut client = Client::start(&addr);
    client.expect("the first greeting", |l| {
        l.starts_with("WELCOME") && l.contains("on first")
    });
    client.say("before");
    peer.until(": before");

    // The server dies with its node; another starts on the same address (the group's
    // address moved with it).
    first.kill();
    client.expect("that it lost the server", |l| {
        l.contains("lost, reconnecting")
    });
    let _second = Server::start(&addr, "second", 10);
    client.expect("that it reconnected", |l| {
        l.starts_with("-- reconnected after")
    });
    client.expect("the new server's greeting", |l| {
        l.starts_with("WELCOME") && l.contains("on second")
    });
    let (mut peer, hello) = User::join(&addr);
    assert!(hello.contains("on second"), "{hello}");
    client.say("after the fail-over");
    peer.until(": after the fail-over");

    let (status, err) = client.exit(true);
    assert!(
        status.success(),
        "the client ends when its input does: {err}"
    );
}

#[test]
fn the_user_past_max_user_is_refused_with_a_clear_message() {
    let addr = free_addr();
    let _server = Server::start(&addr, "n1", 10);
    let mut users = Vec::new();
    for _ in 0..10 {
        let (u, hello) = User::join(&addr);
        assert!(hello.starts_with("WELCOME"), "{hello}");
        users.push(u);
    }
    // Its input stays open: it stops because the server refused it.
    let eleventh = Client::start(&addr);
    let (status, err) = eleventh.exit(false);
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(err.trim(), "chat-client: server full: MaxUser is 10");

    // A seat freed is a seat taken: the next client gets in.
    drop(users.pop());
    let deadline = Instant::now() + WAIT;
    loop {
        let c = Client::start(&addr);
        let first = c.out.recv_timeout(WAIT).unwrap_or_default();
        if first.starts_with("WELCOME") {
            break;
        }
        let _ = c.exit(false);
        assert!(Instant::now() < deadline, "the freed seat never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
}
