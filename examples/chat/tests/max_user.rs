//! The chat server enforces MaxUser and relays lines between users.

use std::time::Duration;

use nonstop_chat::server::{ServerConfig, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

async fn server(max_user: i64) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let cfg = ServerConfig::new(addr, max_user, "n1".into()).unwrap();
    tokio::spawn(serve(l, cfg));
    addr.to_string()
}

async fn line(r: &mut (impl AsyncBufReadExt + Unpin)) -> String {
    let mut s = String::new();
    tokio::time::timeout(Duration::from_secs(5), r.read_line(&mut s))
        .await
        .expect("a line in time")
        .unwrap();
    s.trim_end().to_string()
}

#[tokio::test]
async fn the_user_past_max_user_is_refused() {
    let addr = server(2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut r = BufReader::new(TcpStream::connect(&addr).await.unwrap());
        assert!(line(&mut r).await.starts_with("WELCOME user"));
        held.push(r);
    }
    let mut third = BufReader::new(TcpStream::connect(&addr).await.unwrap());
    assert_eq!(line(&mut third).await, "ERR server full: MaxUser is 2");
    // When one leaves, there is room again.
    held.pop();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut r = BufReader::new(TcpStream::connect(&addr).await.unwrap());
        if line(&mut r).await.starts_with("WELCOME") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the freed slot never opened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn lines_go_to_the_other_users() {
    let addr = server(10).await;
    let mut a = BufReader::new(TcpStream::connect(&addr).await.unwrap());
    assert!(line(&mut a).await.starts_with("WELCOME user1 on n1"));
    let mut b = BufReader::new(TcpStream::connect(&addr).await.unwrap());
    line(&mut b).await;
    assert_eq!(line(&mut a).await, "* user2 joined");
    b.get_mut().write_all(b"hello\n").await.unwrap();
    assert_eq!(line(&mut a).await, "user2: hello");
}

#[test]
fn max_user_outside_the_papers_limit_is_rejected() {
    let addr = "127.0.0.1:1".parse().unwrap();
    for bad in [0, 11, -1] {
        let e = ServerConfig::new(addr, bad, "n".into()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("MaxUser {bad} is out of range: use 1 to 10")
        );
    }
}
