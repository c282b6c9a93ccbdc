//! Bearer tokens on `ClusterService`: CreateToken, ListTokens, RevokeToken (admins; the guard
//! sees to that), and the check of a token a caller presents instead of a client certificate.
//!
//! ```text
//!  CreateToken ─ id (8 random bytes), secret (32) ─▶ Op::PutToken{hash = SHA-256(secret)}
//!              ◀─ "nst_<id>_<secret>", shown once
//!  a call over TLS without a client certificate, `authorization: Bearer nst_<id>_<secret>`
//!     ─▶ the guard ─ TokenCheck: db.tokens[id], SHA-256(secret) == hash, not expired ─▶ Caller::Token
//! ```
//!
//! The check reads this member's copy of the database: a token revoked a moment ago may work on
//! a member that has not applied the revocation yet, for as long as it lags.

use std::time::Duration;

use futures::future::BoxFuture;
use nonstop_pki::Role;
use nonstop_proto::cluster as pb;
use ring::rand::SecureRandom;
use tonic::{Request, Response, Status};

use super::auth::{Caller, caller};
use super::cluster::ClusterApi;
use super::status::{bad_field, from_apply, from_store};
use crate::db::{Command, NAME_RULE, Op, TOKEN_ROLES, Token, is_safe_name};
use crate::store::Store;
use crate::time::Time;

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "nst_";
/// The longest a token may live.
const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(text: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

fn random_hex(n: usize) -> Result<String, Status> {
    let mut bytes = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Status::internal("no random numbers from the system"))?;
    Ok(hex(&bytes))
}

fn info(t: &Token) -> pb::TokenInfo {
    pb::TokenInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        role: t.role.clone(),
        created_at_ms: t.created_at.0,
        expires_at_ms: t.expires_at.0,
        created_by: t.created_by.clone(),
    }
}

pub(super) async fn create<S: Store>(
    api: &ClusterApi<S>,
    r: Request<pb::CreateTokenRequest>,
) -> Result<Response<pb::CreateTokenReply>, Status> {
    let who = caller(&r)?;
    let req = r.into_inner();
    if !is_safe_name(&req.name) {
        return Err(bad_field("name", format!("{:?}: {NAME_RULE}", req.name)));
    }
    if !TOKEN_ROLES.contains(&req.role.as_str()) {
        let why = format!("{:?}: use viewer, operator or admin", req.role);
        return Err(bad_field("role", why));
    }
    let ttl = Duration::from_millis(req.ttl_ms);
    if ttl < Duration::from_secs(1) || ttl > MAX_TTL {
        return Err(bad_field("ttl_ms", "from 1 s to 366 days"));
    }
    let (id, secret) = (random_hex(8)?, random_hex(32)?);
    let now = Time::now();
    let token = Token {
        id: id.clone(),
        name: req.name,
        role: req.role,
        hash: sha256_hex(&secret),
        created_at: now,
        expires_at: Time(now.0 + req.ttl_ms),
        created_by: who.to_string(),
    };
    let cmd = Command::operator(now, &who.to_string(), Op::PutToken(token.clone()));
    let c = api.store().propose(cmd).await.map_err(|e| from_store(&e))?;
    c.result.map_err(|e| from_apply(&e))?;
    Ok(Response::new(pb::CreateTokenReply {
        token: format!("{TOKEN_PREFIX}{id}_{secret}"),
        info: Some(info(&token)),
        revision: c.revision,
    }))
}

pub(super) async fn list<S: Store>(api: &ClusterApi<S>) -> Result<Response<pb::TokenList>, Status> {
    let tokens = api
        .store()
        .read(|db| db.tokens.values().map(info).collect())
        .await
        .map_err(|e| from_store(&e))?;
    Ok(Response::new(pb::TokenList { tokens }))
}

/// Checks bearer tokens against a member's database.
pub trait TokenCheck: Send + Sync + 'static {
    /// The caller a bearer token (`nst_<id>_<secret>`) stands for, or why it does not count.
    fn check(
        &self,
        bearer: String,
        peer: Option<std::net::SocketAddr>,
    ) -> BoxFuture<'static, Result<Caller, Status>>;
}

/// [`TokenCheck`] over a store.
#[derive(Clone, Debug)]
pub struct StoreTokens<S>(pub S);

impl<S: Store> TokenCheck for StoreTokens<S> {
    fn check(
        &self,
        bearer: String,
        peer: Option<std::net::SocketAddr>,
    ) -> BoxFuture<'static, Result<Caller, Status>> {
        let store = self.0.clone();
        Box::pin(async move {
            let unknown = || Status::unauthenticated("unknown or revoked token");
            let (id, secret) = bearer
                .strip_prefix(TOKEN_PREFIX)
                .and_then(|rest| rest.split_once('_'))
                .ok_or_else(|| {
                    Status::unauthenticated("malformed bearer token (nst_<id>_<secret>)")
                })?;
            let key = id.to_string();
            let token = store
                .read_local(move |db| db.tokens.get(&key).cloned())
                .await
                .map_err(|e| from_store(&e))?
                .ok_or_else(unknown)?;
            if !same(&sha256_hex(secret), &token.hash) {
                return Err(unknown());
            }
            if Time::now() >= token.expires_at {
                return Err(Status::unauthenticated(format!(
                    "token {} ({}) has expired: make a new one with `nonstop token create`",
                    token.id, token.name
                )));
            }
            let role = token.role.parse::<Role>().map_err(|_| unknown())?;
            Ok(Caller::Token {
                name: token.name,
                id: token.id,
                role,
                peer,
            })
        })
    }
}

/// Equal strings, compared in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_in_lowercase_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(same("ab", "ab") && !same("ab", "ac") && !same("ab", "abc"));
        let r = random_hex(8).unwrap();
        assert_eq!(r.len(), 16);
        assert_ne!(r, random_hex(8).unwrap());
    }
}
