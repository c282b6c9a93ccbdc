//! TLS on nonstop's links: an identity folder becomes the rustls settings a daemon serves with
//! and the tonic endpoints it (or the CLI) calls through.
//!
//! ```text
//!  identity folder ─ Tls::load (signed by ca.pem? key matches? valid now?) ─▶ Tls
//!     Tls::server_config ─▶ accept(listener): TLS handshakes, each in its own task ─▶ tonic
//!     Links::Tls(tls).endpoint("198.18.0.2:7701") ─▶ https, the CA as the only root, this cert
//!     Links::Plain.endpoint(..) ─▶ http (loopback-only clusters, `--insecure`)
//! ```
//!
//! A server asks every client for a certificate from the cluster CA but lets one without a
//! certificate finish the handshake: the service it calls then answers UNAUTHENTICATED, which a
//! person can read, where a refused handshake is only a broken connection (and a bearer token
//! needs a connection without a client certificate). A client certificate from another CA, or an
//! expired one, is refused in the handshake, and the server logs it with the peer's address.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::connect::Connector;
use crate::error::{PkiError, Result};
use crate::folder::Folder;
use crate::identity::Identity;
use crate::inspect::CertInfo;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// An identity folder, checked and ready for TLS.
#[derive(Clone)]
pub struct Tls {
    dir: PathBuf,
    folder: Folder,
    info: CertInfo,
    identity: Identity,
    server: Arc<rustls::ServerConfig>,
    web: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("dir", &self.dir)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the identity folder `dir` and checks it: the CA signed the certificate, the key is
    /// the certificate's, the certificate names a nonstop identity and is valid now.
    pub fn load(dir: &Path) -> Result<Tls> {
        let folder = Folder::read(dir)?;
        let cert_path = dir.join("cert.pem");
        let info = CertInfo::from_pem(&folder.cert_pem, &cert_path)?;
        CertInfo::from_pem(&folder.ca_pem, &dir.join("ca.pem"))?;
        if !info.signed_by(&folder.ca_pem) {
            return Err(PkiError::malformed(
                &cert_path,
                "is not signed by the CA in ca.pem: both must come from the same `nonstop cert init`",
            ));
        }
        let key = rcgen::KeyPair::from_pem(&folder.key_pem)
            .map_err(|e| PkiError::malformed(dir.join("key.pem"), format!("no usable key: {e}")))?;
        if !info.is_for_key(key.public_key_raw()) {
            return Err(PkiError::malformed(
                dir.join("key.pem"),
                "is not the key of cert.pem",
            ));
        }
        let Some(identity) = info.identity.clone() else {
            return Err(PkiError::malformed(
                &cert_path,
                "names no node or user (a CA certificate, or one nonstop did not make)",
            ));
        };
        let now = OffsetDateTime::now_utc();
        if now > info.not_after {
            return Err(PkiError::malformed(
                &cert_path,
                format!(
                    "expired on {}: make a new one with `nonstop cert node` or `nonstop cert user`",
                    info.not_after.date()
                ),
            ));
        }
        if now < info.not_before {
            return Err(PkiError::malformed(
                &cert_path,
                format!(
                    "is not valid before {} (is the clock right?)",
                    info.not_before
                ),
            ));
        }
        let server = server_config(dir, &folder)?;
        let web = web_server_config(dir, &folder)?;
        Ok(Tls {
            dir: dir.to_path_buf(),
            folder,
            info,
            identity,
            server,
            web,
        })
    }

    /// Whether `other` holds the same certificate, key and CA.
    pub fn same_files(&self, other: &Tls) -> bool {
        self.folder.ca_pem == other.folder.ca_pem
            && self.folder.cert_pem == other.folder.cert_pem
            && self.folder.key_pem == other.folder.key_pem
    }

    /// The folder it was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Who the certificate names.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The certificate, as read.
    pub fn info(&self) -> &CertInfo {
        &self.info
    }

    /// Whether the certificate covers `host` (an IP address or a DNS name).
    pub fn covers(&self, host: &str) -> bool {
        covers(&self.info.addresses, host)
    }

    /// The server side: this certificate, client certificates from the cluster CA (optional in
    /// the handshake, required by the services), HTTP/2.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }

    /// The server side for browsers (the web dashboard): this certificate, no client
    /// certificate asked for (a browser would offer its user a choice of them), HTTP/2 or
    /// HTTP/1.1. Who calls is proven by a token, at the application level.
    pub fn web_server_config(&self) -> Arc<rustls::ServerConfig> {
        self.web.clone()
    }

    /// The cluster CA's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.folder.ca_pem
    }

    /// The client side, for a server at `host`: the cluster CA as the only root, this
    /// certificate as the client's.
    pub fn client_config(&self, host: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.folder.ca_pem))
            .identity(tonic::transport::Identity::from_pem(
                &self.folder.cert_pem,
                &self.folder.key_pem,
            ))
            .domain_name(host)
    }
}

fn server_config(dir: &Path, folder: &Folder) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let bad = |why: String| PkiError::malformed(dir, why);
    let mut roots = RootCertStore::empty();
    for ca in pem_certs(&folder.ca_pem, &dir.join("ca.pem"))? {
        roots.add(ca).map_err(|e| bad(format!("ca.pem: {e}")))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| bad(format!("ca.pem: {e}")))?;
    let (chain, key) = chain_and_key(dir, folder)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| bad(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn web_server_config(dir: &Path, folder: &Folder) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let bad = |why: String| PkiError::malformed(dir, why);
    let (chain, key) = chain_and_key(dir, folder)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| bad(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The folder's certificate chain and private key.
fn chain_and_key(
    dir: &Path,
    folder: &Folder,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = pem_certs(&folder.cert_pem, &dir.join("cert.pem"))?;
    let key = PrivateKeyDer::from_pem_slice(folder.key_pem.as_bytes())
        .map_err(|e| PkiError::malformed(dir.join("key.pem"), e.to_string()))?;
    Ok((chain, key))
}

fn pem_certs(pem: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| PkiError::malformed(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(PkiError::malformed(path, "holds no certificate"));
    }
    Ok(certs)
}

/// Whether `addresses` (a certificate's) cover `host`: the same IP address (however written)
/// or the same DNS name, ignoring case.
pub fn covers(addresses: &[String], host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = host.parse::<std::net::IpAddr>().ok();
    addresses
        .iter()
        .any(|a| match (ip, a.parse::<std::net::IpAddr>()) {
            (Some(ip), Ok(b)) => ip == b,
            (None, Err(_)) => a.eq_ignore_ascii_case(host),
            _ => false,
        })
}

/// The host part of `host:port` (`[::1]:7701` gives `::1`).
pub fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// An identity that can be replaced while it is in use (a renewed certificate, on SIGHUP or
/// when its files change): connections made afterwards, and the server's next handshakes, use
/// the new one; connections open already keep theirs.
#[derive(Clone, Debug)]
pub struct TlsCell(Arc<RwLock<Arc<Tls>>>);

impl TlsCell {
    /// A cell holding `tls`.
    pub fn new(tls: Tls) -> TlsCell {
        TlsCell(Arc::new(RwLock::new(Arc::new(tls))))
    }

    /// The identity now.
    pub fn current(&self) -> Arc<Tls> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts `tls` in its place.
    pub fn replace(&self, tls: Tls) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tls);
    }
}

/// How a node or a tool reaches the members: plain gRPC (loopback-only clusters) or mutual TLS.
#[derive(Clone, Debug)]
pub enum Links {
    /// `http://`, no authentication.
    Plain,
    /// `https://` with this identity.
    Tls(TlsCell),
    /// `https://` trusting this CA certificate (PEM), without a client certificate: for a
    /// bearer token.
    Anonymous(Arc<String>),
}

impl From<Tls> for Links {
    fn from(tls: Tls) -> Links {
        Links::Tls(TlsCell::new(tls))
    }
}

impl Links {
    /// Whether links use TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Links::Plain)
    }

    /// The identity links use now, if any.
    pub fn tls(&self) -> Option<Arc<Tls>> {
        match self {
            Links::Plain | Links::Anonymous(_) => None,
            Links::Tls(t) => Some(t.current()),
        }
    }

    /// The endpoint for a member at `address` (`host:port`).
    pub fn endpoint(&self, address: &str) -> std::result::Result<Endpoint, String> {
        let at = |e: &dyn std::fmt::Display| format!("{address}: {e}");
        let tls = match self {
            Links::Plain => {
                return Endpoint::from_shared(format!("http://{address}")).map_err(|e| at(&e));
            }
            Links::Tls(cell) => cell.current().client_config(host_of(address)),
            Links::Anonymous(ca) => ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca.as_bytes()))
                .domain_name(host_of(address)),
        };
        Endpoint::from_shared(format!("https://{address}"))
            .map_err(|e| at(&e))?
            .tls_config(tls)
            .map_err(|e| at(&e))
    }

    /// The endpoint for a URL (`http://host:port` or `https://host:port`); an `https` URL
    /// needs an identity.
    pub fn endpoint_url(&self, url: &str) -> std::result::Result<Endpoint, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!("{url:?} is not a URL (http://HOST:PORT or https://HOST:PORT)")
        })?;
        let address = rest.trim_end_matches('/');
        match (scheme, self) {
            ("http", _) => Links::Plain.endpoint(address),
            ("https", Links::Tls(_) | Links::Anonymous(_)) => self.endpoint(address),
            ("https", Links::Plain) => Err(format!(
                "{url}: an https endpoint needs an identity folder (--identity DIR or \
                 NONSTOP_IDENTITY: ca.pem, cert.pem, key.pem from `nonstop cert user`)"
            )),
            (other, _) => Err(format!(
                "{url}: unknown scheme {other:?}: use http or https"
            )),
        }
    }
}

/// How a node dials the members: over which links, from which of its addresses (its own listen
/// address, so that peers and firewalls see its connections come from where it serves), with
/// which mark on its sockets.
///
/// ```text
///  dial.endpoint("198.18.0.2:7701")? ─ the caller's timeouts, keep-alive ─▶ Endpoint
///     dial.connect(&endpoint).await / dial.connect_lazy(&endpoint) ─▶ Channel: TCP from
///     `local`, SO_MARK `mark`, TCP_NODELAY (connect.rs), TLS over it when the links say so
/// ```
#[derive(Clone, Debug)]
pub struct Dial {
    /// Plain or TLS.
    pub links: Links,
    /// The address connections are made from (`None`: the kernel's choice).
    pub local: Option<std::net::IpAddr>,
    /// The mark (`SO_MARK`) on every socket dialled (`None`: unmarked), so that a firewall
    /// rule can tell this process's connections from others on the same host: a drill's
    /// partition (src/daemon/drill.rs). Setting it needs CAP_NET_ADMIN; without it sockets go
    /// unmarked.
    pub mark: Option<u32>,
}

impl Default for Dial {
    fn default() -> Self {
        Dial {
            links: Links::Plain,
            local: None,
            mark: None,
        }
    }
}

impl Dial {
    /// The endpoint for a member at `address` (`host:port`), for the caller to set its
    /// timeouts on, then to connect with [`Dial::connect`] or [`Dial::connect_lazy`].
    pub fn endpoint(&self, address: &str) -> std::result::Result<Endpoint, String> {
        // The local address is bound by the connector (connect.rs), not by tonic's own.
        self.links.endpoint(address)
    }

    /// A channel to `endpoint` (from [`Dial::endpoint`]), connected now, as this dial says.
    pub async fn connect(
        &self,
        endpoint: &Endpoint,
    ) -> std::result::Result<Channel, tonic::transport::Error> {
        endpoint.connect_with_connector(self.connector()).await
    }

    /// A channel to `endpoint` (from [`Dial::endpoint`]) that connects when first used, and
    /// again after a failure, as this dial says.
    pub fn connect_lazy(&self, endpoint: &Endpoint) -> Channel {
        endpoint.connect_with_connector_lazy(self.connector())
    }

    fn connector(&self) -> Connector {
        Connector {
            local: self.local,
            mark: self.mark,
        }
    }
}

/// The TLS connections `listener` accepts, with `TCP_NODELAY` set, each handshake in its own
/// task (a slow or silent client holds up no other), with the identity `cell` holds at that
/// moment. A failed handshake is logged with the peer's address and the reason (an unknown CA,
/// an expired certificate, not TLS at all). The accepting task ends when the stream is dropped.
pub fn accept(
    listener: TcpListener,
    cell: TlsCell,
) -> ReceiverStream<std::io::Result<tokio_rustls::server::TlsStream<TcpStream>>> {
    accept_with(listener, cell, Tls::server_config)
}

/// [`accept`] with the server settings `config` picks from the identity (the web dashboard's:
/// [`Tls::web_server_config`]).
pub fn accept_with(
    listener: TcpListener,
    cell: TlsCell,
    config: fn(&Tls) -> Arc<rustls::ServerConfig>,
) -> ReceiverStream<std::io::Result<tokio_rustls::server::TlsStream<TcpStream>>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = tx.closed() => return,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(%e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = TlsAcceptor::from(config(&cell.current()));
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => tracing::warn!(%peer, "TLS handshake refused: {e}"),
                    Err(_) => tracing::warn!(%peer, "TLS handshake not finished within 10 s"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
