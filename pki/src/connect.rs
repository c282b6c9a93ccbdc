//! The TCP connector a node dials the members with ([`crate::Dial`]): a socket marked with
//! `SO_MARK` (so that a drill's nftables rules can cut this daemon's own connections:
//! src/daemon/drill.rs), bound to the node's own address, `TCP_NODELAY`. tonic puts its TLS
//! layer over it when the endpoint is `https` (its `Connector` wraps every custom connector),
//! and applies the endpoint's connect timeout to the whole (TCP and TLS).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};
use tonic::codegen::Service;
use tonic::transport::Uri;

/// Dials TCP from `local` (when set, for targets of its family), marking each socket with
/// `mark` (when set and allowed).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Connector {
    pub local: Option<IpAddr>,
    pub mark: Option<u32>,
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<TokioIo<TcpStream>>> + Send>>;

impl Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        let me = *self;
        Box::pin(async move { me.connect(&uri).await.map(TokioIo::new) })
    }
}

impl Connector {
    /// Connects to the URI's host and port: each address it resolves to in turn, until one
    /// answers.
    async fn connect(self, uri: &Uri) -> io::Result<TcpStream> {
        let host = uri
            .host()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{uri}: no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let mut last = None;
        for addr in tokio::net::lookup_host((host, port)).await? {
            match self.connect_to(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host}: no address to connect to"),
            )
        }))
    }

    async fn connect_to(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(mark) = self.mark {
            set_mark(&socket, mark);
        }
        if let Some(ip) = self.local.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Whether a refused mark was logged already: once is enough.
static MARK_REFUSED: AtomicBool = AtomicBool::new(false);

/// Marks the socket's packets with `mark`; without the right to (CAP_NET_ADMIN) it stays
/// unmarked, which only a drill's partition notices (said once, at debug).
fn set_mark(socket: &TcpSocket, mark: u32) {
    if let Err(e) = nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::Mark, &mark)
        && !MARK_REFUSED.swap(true, Ordering::Relaxed)
    {
        tracing::debug!(
            "connections are not marked {mark:#x} (SO_MARK: {e}): a drill's partition cannot \
             cut this process's own connections"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_connects_from_the_local_address_with_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        let mut c = Connector {
            local: Some("127.0.0.1".parse().unwrap()),
            mark: Some(0x6e73_0001),
        };
        let uri: Uri = format!("http://{at}").parse().unwrap();
        let io = c.call(uri).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        let stream = io.into_inner();
        assert_eq!(stream.local_addr().unwrap(), peer);
        assert!(stream.nodelay().unwrap());
        if nix::unistd::geteuid().is_root() {
            let mark = nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::Mark);
            assert_eq!(mark.unwrap(), 0x6e73_0001);
        }
        // Nobody listens there: the error is the connect's.
        drop(listener);
        let uri: Uri = format!("http://{at}").parse().unwrap();
        let e = c.call(uri).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }
}
