//! The operators' connection to the cluster: which endpoints to try, who is asking, how an
//! answer is printed, and how gRPC failures become exit codes.
//!
//! ```text
//!  --endpoint / NONSTOP_ENDPOINT / ./.nonstop/endpoints / http://127.0.0.1:7701
//!        │ tried in order until one answers (each gets ATTEMPT = 5 s to connect and answer)
//!        ▼
//!  member ──FAILED_PRECONDITION + nonstop-leader──▶ retried once on the leader
//!  member ──UNAVAILABLE (no leader yet, or nonstop-member-stopped)──▶ the next endpoint
//! ```

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nonstop_pki::Links;
use nonstop_proto::cluster::cluster_service_client::ClusterServiceClient;
use nonstop_proto::metadata;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use super::endpoints;
use super::output::Format;
use super::output::tell;

/// How long one endpoint may take to connect and answer (a stream: to send its headers)
/// before the next one is tried.
pub const ATTEMPT: Duration = Duration::from_secs(5);

/// How one try on one endpoint ended.
enum Attempt<T> {
    /// The cluster answered (a result or a refusal): done.
    Answered(Result<T, CliError>),
    /// This endpoint could not serve; why, for the final error.
    Next(String),
}

/// The options every operator command takes.
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// A controller member's URL; repeat or separate with commas to try several in order
    /// [default: $NONSTOP_ENDPOINT, else ./.nonstop/endpoints, else http://127.0.0.1:7701].
    #[arg(long, global = true, value_delimiter = ',')]
    pub endpoint: Vec<String>,
    /// How to print the answer.
    #[arg(long, short, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// The identity folder (ca.pem, cert.pem, key.pem from `nonstop cert user`) the CLI
    /// presents to a cluster with TLS [default: $NONSTOP_IDENTITY, else ./.nonstop/admin when
    /// it is there, beside the endpoints `nonstop up` wrote].
    #[arg(long, global = true, env = "NONSTOP_IDENTITY")]
    pub identity: Option<std::path::PathBuf>,
    /// The operator's name, written to the audit log of a cluster without TLS only (with TLS,
    /// the certificate says who asks) [default: $NONSTOP_USER, else $USER].
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// A bearer token (`nonstop token create`) to present instead of a certificate; over TLS
    /// only. Prefer the variable: a command line is visible to every local user.
    #[arg(long, global = true, env = "NONSTOP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The cluster CA's certificate to trust when presenting a token without an identity
    /// folder (an identity folder's ca.pem otherwise).
    #[arg(long, global = true, env = "NONSTOP_CA")]
    pub ca: Option<std::path::PathBuf>,
}

/// Where `nonstop up` puts the administrator's identity, beside the endpoints it writes.
const LOCAL_IDENTITY: &str = ".nonstop/admin";

impl ConnArgs {
    /// The links the options ask for: with a token and no identity folder, TLS trusting
    /// `--ca` and no client certificate; TLS with the identity folder given (or the local
    /// cluster's admin folder); else plain.
    pub fn links(&self) -> Result<Links, CliError> {
        if self.token.is_some() && self.identity.is_none() {
            // A token goes without a client certificate: trust the CA, present nothing else.
            let Some(ca) = &self.ca else {
                return Err(CliError::Refused(
                    "--token: give the cluster CA's certificate to trust (--ca FILE or \
                     NONSTOP_CA): a token works only over TLS"
                        .into(),
                ));
            };
            let pem = std::fs::read_to_string(ca)
                .map_err(|e| CliError::Refused(format!("--ca: {}: {e}", ca.display())))?;
            nonstop_pki::CertInfo::from_pem(&pem, ca)
                .map_err(|e| CliError::Refused(format!("--ca: {e}")))?;
            return Ok(Links::Anonymous(std::sync::Arc::new(pem)));
        }
        let (dir, source) = match &self.identity {
            Some(d) => (d.clone(), "--identity"),
            None if std::path::Path::new(LOCAL_IDENTITY)
                .join("cert.pem")
                .exists() =>
            {
                (LOCAL_IDENTITY.into(), LOCAL_IDENTITY)
            }
            None => return Ok(Links::Plain),
        };
        let tls = nonstop_pki::Tls::load(&dir)
            .map_err(|e| CliError::Refused(format!("{source}: {e}")))?;
        Ok(Links::from(tls))
    }
}

/// Why an operator command failed; each kind has its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input, or the cluster refused the request (exit 1).
    #[error("{0}")]
    Refused(String),
    /// The caller's role may not do this (exit 1, like any refusal; the web dashboard tells
    /// it apart).
    #[error("{0}")]
    Denied(String),
    /// The cluster does not know who calls (no certificate or token, or a bad or revoked
    /// token; exit 1).
    #[error("{0}")]
    Unauthenticated(String),
    /// No endpoint answered, or the cluster has no leader (exit 2).
    #[error("{0}")]
    Unreachable(String),
    /// A wait ran out of time (exit 3).
    #[error("{0}")]
    TimedOut(String),
    /// What a wait waited for will not happen: a later command took the group elsewhere
    /// (exit 5).
    #[error("{0}")]
    Superseded(String),
    /// Whoever read the standard output went away (`nonstop events --follow | head`): not an
    /// error, nothing more to print (exit 0).
    #[error("standard output closed")]
    StdoutClosed,
}

impl CliError {
    /// The process exit code of this failure (see docs/cli.md).
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Refused(_) | CliError::Denied(_) | CliError::Unauthenticated(_) => 1,
            CliError::Unreachable(_) => 2,
            CliError::TimedOut(_) => 3,
            CliError::Superseded(_) => 5,
            CliError::StdoutClosed => 0,
        })
    }

    /// The error for a status the server answered with (its message printed as is).
    pub(crate) fn from_status(s: &Status) -> CliError {
        let message = s.message().to_string();
        match s.code() {
            Code::Unavailable => CliError::Unreachable(message),
            Code::DeadlineExceeded => CliError::TimedOut(message),
            Code::Unauthenticated => CliError::Unauthenticated(message),
            Code::PermissionDenied => CliError::Denied(message),
            _ => CliError::Refused(message),
        }
    }
}

/// Runs an operator command on a fresh runtime and turns its result into an exit code,
/// printing any error as `error: <message>` on stderr.
pub fn run_async<F: Future<Output = Result<(), CliError>>>(f: F) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return crate::cli::fail(&format!("cannot start the async runtime: {e}")),
    };
    match rt.block_on(f) {
        Ok(()) | Err(CliError::StdoutClosed) => ExitCode::SUCCESS,
        Err(e) => {
            tell!("error: {e}");
            e.exit_code()
        }
    }
}

/// Adds the operator's name, and the bearer token if there is one, to every request.
#[derive(Clone)]
pub struct User {
    name: Option<MetadataValue<tonic::metadata::Ascii>>,
    token: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Interceptor for User {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.name {
            req.metadata_mut().insert(metadata::USER, v.clone());
        }
        if let Some(t) = &self.token {
            req.metadata_mut().insert("authorization", t.clone());
        }
        Ok(req)
    }
}

/// The generated client, with the operator's name on every request.
pub type Api = ClusterServiceClient<InterceptedService<Channel, User>>;

/// A connection to the cluster that tries its endpoints in order and follows the leader.
#[derive(Debug)]
pub struct Client {
    endpoints: Vec<String>,
    links: Links,
    user: User,
    /// The member that answered last, and its URL.
    api: Option<(String, Api)>,
    /// How answers are printed.
    pub format: Format,
}

impl Client {
    /// A client for the endpoints and user the options name (or their defaults).
    pub fn new(args: &ConnArgs) -> Result<Client, CliError> {
        let name = args
            .user
            .clone()
            .or_else(|| std::env::var("NONSTOP_USER").ok())
            .or_else(|| std::env::var("USER").ok());
        let user = match name.filter(|n| !n.is_empty()) {
            Some(n) => Some(n.parse().map_err(|_| {
                CliError::Refused(format!("--user: {n:?} must be printable ASCII"))
            })?),
            None => None,
        };
        let endpoints = endpoints::resolve(&args.endpoint)?;
        let links = args.links()?;
        let token = match &args.token {
            Some(_) if endpoints.iter().any(|u| u.starts_with("http://")) => {
                return Err(CliError::Refused(
                    "--token: a token works only over TLS (https:// endpoints)".into(),
                ));
            }
            Some(t) => Some(
                format!("Bearer {}", t.trim())
                    .parse()
                    .map_err(|_| CliError::Refused("--token: must be printable ASCII".into()))?,
            ),
            None => None,
        };
        if !links.is_tls()
            && let Some(url) = endpoints.iter().find(|u| u.starts_with("https://"))
        {
            return Err(CliError::Refused(format!(
                "{url} uses TLS: give an identity folder (--identity DIR or NONSTOP_IDENTITY; \
                 ca.pem, cert.pem, key.pem from `nonstop cert user NAME --role R`)"
            )));
        }
        Ok(Client {
            endpoints,
            links,
            user: User { name: user, token },
            api: None,
            format: args.output,
        })
    }

    /// A client for a program rather than a person (the web dashboard): these endpoints over
    /// these links, presenting `token` (over TLS) or claiming `name` (without TLS), and nothing
    /// else: no default endpoint or identity folder is looked for.
    pub fn for_program(
        endpoints: Vec<String>,
        links: Links,
        name: &str,
        token: Option<&str>,
    ) -> Result<Client, CliError> {
        let bad = |what: &str| CliError::Denied(format!("{what} must be printable ASCII"));
        let token = match token {
            Some(t) => Some(
                format!("Bearer {}", t.trim())
                    .parse()
                    .map_err(|_| bad("the token"))?,
            ),
            None => None,
        };
        Ok(Client {
            endpoints,
            links,
            user: User {
                name: Some(name.parse().map_err(|_| bad("the name"))?),
                token,
            },
            api: None,
            format: Format::Json,
        })
    }

    /// Whether the links use TLS (the cluster then takes any member address, not only
    /// loopback).
    pub fn is_tls(&self) -> bool {
        self.links.is_tls()
    }

    /// The links it calls over.
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// Tries the member at `address` (`host:port`, as a node registers it) last, and leaves it
    /// if it is the one answering now: for a drill whose fault silences that member (a
    /// partition, a freeze), whose calls and event stream would otherwise hang on it until the
    /// fault ends. An endpoint written otherwise (a DNS name) is not recognised, and stays.
    pub fn try_last(&mut self, address: &str) {
        let names = |url: &str| {
            url.split_once("://")
                .map_or(url, |(_, a)| a)
                .trim_end_matches('/')
                == address
        };
        let (last, first): (Vec<String>, Vec<String>) =
            self.endpoints.drain(..).partition(|u| names(u));
        self.endpoints = first.into_iter().chain(last).collect();
        if self.api.as_ref().is_some_and(|(url, _)| names(url)) {
            self.api = None;
        }
    }

    /// Who calls: the operator's name and token, for a client of another service.
    pub fn user(&self) -> User {
        self.user.clone()
    }

    /// Calls the cluster: on the current member, else each endpoint in order, and once more on
    /// the leader when a member names it. Each attempt (connect and first answer) is bounded by
    /// [`ATTEMPT`], so a hung or stopped member is skipped rather than waited for; a stream
    /// counts as answered once its headers arrive.
    pub async fn call<T, F, Fut>(&mut self, mut f: F) -> Result<T, CliError>
    where
        F: FnMut(Api) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let mut last = String::new();
        let mut candidates: Vec<(String, Option<Api>)> = self
            .api
            .take()
            .map(|(url, api)| (url, Some(api)))
            .into_iter()
            .collect();
        candidates.extend(self.endpoints.iter().map(|url| (url.clone(), None)));
        for (url, open) in candidates {
            let tried = tokio::time::timeout(ATTEMPT, self.attempt(&url, open, &mut f)).await;
            match tried {
                Ok(Attempt::Answered(r)) => return r,
                Ok(Attempt::Next(why)) => last = why,
                Err(_) => {
                    last = format!(
                        "{url}: no answer within {} s (is that member stopped or hung?)",
                        ATTEMPT.as_secs()
                    );
                    tell!("warning: {last}; trying the next endpoint");
                }
            }
        }
        Err(CliError::Unreachable(format!(
            "cannot reach any endpoint ({}): {last}",
            self.endpoints.join(", ")
        )))
    }

    /// One try on `url` (with its open connection, if any): an answer, or why to try the next.
    async fn attempt<T, F, Fut>(&mut self, url: &str, open: Option<Api>, f: &mut F) -> Attempt<T>
    where
        F: FnMut(Api) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let api = match open {
            Some(api) => api,
            None => match self.connect(url).await {
                Ok(api) => api,
                Err(e) => return Attempt::Next(e),
            },
        };
        match f(api.clone()).await {
            Ok(r) => {
                self.api = Some((url.to_string(), api));
                Attempt::Answered(Ok(r.into_inner()))
            }
            Err(s) => match self.redirect(url, &s).await {
                Ok(Some(leader)) => Attempt::Answered(self.on_leader(leader, f).await),
                Ok(None) if member_stopped(&s) => {
                    tell!("warning: {url}: its raft member is stopped; trying the next endpoint");
                    Attempt::Next(format!("{url}: {}", s.message()))
                }
                Ok(None) if is_unreachable(&s) => Attempt::Next(format!("{url}: {}", s.message())),
                Ok(None) => Attempt::Answered(Err(CliError::from_status(&s))),
                // The leader it names does not answer: another member may know better.
                Err(e) => Attempt::Next(format!("{url}: {}; {e}", s.message())),
            },
        }
    }

    /// Retries a refused write on the leader.
    async fn on_leader<T, F, Fut>(
        &mut self,
        (url, api): (String, Api),
        f: &mut F,
    ) -> Result<T, CliError>
    where
        F: FnMut(Api) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let reply = f(api.clone()).await;
        self.api = Some((url, api));
        reply
            .map(Response::into_inner)
            .map_err(|s| CliError::from_status(&s))
    }

    /// The leader's client when `s` is a member's "not the leader" naming the leader (`None`
    /// for any other status); an error when that leader cannot be reached.
    async fn redirect(&self, from: &str, s: &Status) -> Result<Option<(String, Api)>, String> {
        let leader = s
            .metadata()
            .get(metadata::LEADER)
            .and_then(|v| v.to_str().ok());
        let Some(leader) = leader.filter(|_| s.code() == Code::FailedPrecondition) else {
            return Ok(None);
        };
        // The leader is reached the way the member that named it was.
        let scheme = from.split_once("://").map_or("http", |(s, _)| s);
        let url = if leader.contains("://") {
            leader.to_string()
        } else {
            format!("{scheme}://{leader}")
        };
        let api = self.connect(&url).await?;
        Ok(Some((url, api)))
    }

    async fn connect(&self, url: &str) -> Result<Api, String> {
        let endpoint = self
            .links
            .endpoint_url(url)
            .map_err(|e| format!("--endpoint {url:?}: {e}"))?
            .connect_timeout(Duration::from_secs(2));
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| format!("{url}: {}", source_chain(&e)))?;
        Ok(ClusterServiceClient::with_interceptor(
            channel,
            self.user.clone(),
        ))
    }
}

/// Calls `$method` with `$req` (cloned for each try) through [`Client::call`].
macro_rules! call {
    ($client:expr, $method:ident, $req:expr) => {{
        let req = $req;
        $client
            .call(move |mut api| {
                let r = req.clone();
                async move { api.$method(r).await }
            })
            .await
    }};
}
pub(crate) use call;

/// Whether another endpoint may do better: the transport failed or this member has no leader.
/// A connection that breaks during the call (the member was killed a moment ago) comes back
/// as UNKNOWN with the transport's error as its source, not as UNAVAILABLE.
fn is_unreachable(s: &Status) -> bool {
    let broken = || {
        let mut cause = std::error::Error::source(s);
        while let Some(c) = cause {
            if c.is::<tonic::transport::Error>() || c.is::<std::io::Error>() {
                return true;
            }
            cause = c.source();
        }
        false
    };
    // tonic words a broken transport "transport error" whatever the cause's type.
    let broken = || broken() || s.message().starts_with("transport error");
    s.code() == Code::Unavailable || (s.code() == Code::Unknown && broken())
}

/// Whether a member answered that its raft member has stopped (its daemon exits to be
/// restarted): another member can answer.
pub(crate) fn member_stopped(s: &Status) -> bool {
    s.code() == Code::Unavailable && s.metadata().contains_key(metadata::MEMBER_STOPPED)
}

/// An error with its causes, on one line ("transport error: Connection refused").
pub(crate) fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_a_drill_silences_is_tried_last() {
        let conn = ConnArgs {
            endpoint: [
                "http://127.0.0.1:7701",
                "http://127.0.0.1:7702/",
                "http://127.0.0.1:7703",
            ]
            .map(String::from)
            .into(),
            output: Format::Json,
            identity: None,
            user: Some("op".into()),
            token: None,
            ca: None,
        };
        let mut c = Client::new(&conn).unwrap();
        c.try_last("127.0.0.1:7702");
        assert_eq!(
            c.endpoints,
            [
                "http://127.0.0.1:7701",
                "http://127.0.0.1:7703",
                "http://127.0.0.1:7702/"
            ]
        );
        c.try_last("198.18.0.1:7701");
        assert_eq!(c.endpoints.len(), 3);
    }

    #[test]
    fn a_broken_connection_sends_the_call_to_the_next_endpoint() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let mut broken = Status::unknown("transport error");
        broken.set_source(std::sync::Arc::new(io));
        assert!(is_unreachable(&broken));
        assert!(!is_unreachable(&Status::unknown("the handler failed")));
        assert!(is_unreachable(&Status::unavailable("no leader")));
    }

    #[test]
    fn i10_5_a_stopped_member_is_told_apart() {
        use nonstop_controller::server::status::from_store;
        use nonstop_controller::store::StoreError;
        let stopped = from_store(&StoreError::Stopped("raft member is stopped".into()));
        assert!(member_stopped(&stopped) && is_unreachable(&stopped));
        assert!(!member_stopped(&Status::unavailable("no leader yet")));
        assert!(!member_stopped(&from_store(&StoreError::Fatal(
            "disk".into()
        ))));
    }

    #[test]
    fn server_codes_map_to_exit_codes() {
        let code = |s: Status| CliError::from_status(&s).exit_code();
        assert_eq!(code(Status::not_found("x")), ExitCode::from(1));
        assert_eq!(code(Status::unavailable("x")), ExitCode::from(2));
        assert_eq!(code(Status::deadline_exceeded("x")), ExitCode::from(3));
    }
}
