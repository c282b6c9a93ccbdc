//! The certificates `nonstop cert` makes work with the gRPC stack the members use (tonic over
//! rustls) for mutual TLS, and the identity a server reads off the peer's certificate is the
//! one the certificate names: a user with its role, or a node. A client without a certificate,
//! or with one from another CA, does not get through the handshake.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nonstop_pki::{Ca, CertInfo, Folder, Identity, Role, write_folder};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity as TlsIdentity};
use tonic::transport::{Server, ServerTlsConfig};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

fn folder(dir: &Path, ca: &Ca, name: &str, node: bool) -> Folder {
    let out = dir.join(name);
    let issued = if node {
        ca.issue_node(name, &["127.0.0.1".into()], 1).unwrap()
    } else {
        ca.issue_user(name, Role::Operator, 1).unwrap()
    };
    write_folder(&out, ca.cert_pem(), &issued).unwrap();
    Folder::read(&out).unwrap()
}

fn new_ca(dir: &Path, name: &str) -> Ca {
    let issued = Ca::create(1).unwrap();
    write_folder(&dir.join(name), &issued.cert_pem, &issued).unwrap();
    Ca::load(&dir.join(name)).unwrap()
}

/// Serves the health service with mutual TLS as node `server`; records the identity of each
/// caller, read from its certificate.
async fn serve(server: &Folder, seen: Arc<Mutex<Vec<Identity>>>) -> SocketAddr {
    let tls = ServerTlsConfig::new()
        .identity(TlsIdentity::from_pem(&server.cert_pem, &server.key_pem))
        .client_ca_root(Certificate::from_pem(&server.ca_pem));
    let (_, health) = tonic_health::server::health_reporter();
    let record = move |req: tonic::Request<()>| {
        let certs = req
            .peer_certs()
            .ok_or_else(|| tonic::Status::unauthenticated("no certificate"))?;
        let info = CertInfo::from_der(certs[0].as_ref()).map_err(tonic::Status::unauthenticated)?;
        let who = info
            .identity
            .ok_or_else(|| tonic::Status::unauthenticated("no identity"))?;
        seen.lock().unwrap().push(who);
        Ok(req)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Server::builder().tls_config(tls).unwrap().add_service(
        tonic::service::interceptor::InterceptedService::new(health, record),
    );
    let incoming = nonstop_controller::raft::grpc::incoming(listener);
    tokio::spawn(router.serve_with_incoming(incoming));
    addr
}

async fn call(addr: SocketAddr, ca_pem: &str, client: Option<&Folder>) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("127.0.0.1");
    if let Some(c) = client {
        tls = tls.identity(TlsIdentity::from_pem(&c.cert_pem, &c.key_pem));
    }
    let channel: Channel = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|_| ())
        .map_err(|s| format!("{}: {}", s.code(), s.message()))
}

#[tokio::test]
async fn a_caller_is_who_its_certificate_says_and_strangers_do_not_get_in() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path(), "ca");
    let server = folder(tmp.path(), &ca, "n1", true);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = serve(&server, seen.clone()).await;

    let alice = folder(tmp.path(), &ca, "alice", false);
    call(addr, ca.cert_pem(), Some(&alice)).await.unwrap();
    let n2 = folder(tmp.path(), &ca, "n2", true);
    call(addr, ca.cert_pem(), Some(&n2)).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            Identity::User {
                name: "alice".into(),
                role: Role::Operator
            },
            Identity::Node("n2".into())
        ]
    );

    // No certificate, or one from another CA: refused before any call reaches the service.
    assert!(call(addr, ca.cert_pem(), None).await.is_err());
    let other = new_ca(tmp.path(), "other");
    let mallory = folder(tmp.path(), &other, "mallory", false);
    assert!(call(addr, ca.cert_pem(), Some(&mallory)).await.is_err());
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "a stranger's call got through"
    );
}
