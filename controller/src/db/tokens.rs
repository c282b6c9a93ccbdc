//! Bearer tokens, as the database keeps them: who a token is for, its role, until when, and a
//! hash of its secret (never the secret). Created and revoked by admins through commands, so
//! every member checks a token the same way and the audit log says who made it.

use serde::{Deserialize, Serialize};

use super::ClusterDb;
use super::apply_config::check_name;
use super::error::{Result, invalid, not_found, refused, subject};
use crate::time::Time;

/// The most tokens a cluster keeps (revoke old ones to make room).
pub const MAX_TOKENS: usize = 1000;
/// The roles a token may carry.
pub const TOKEN_ROLES: [&str; 3] = ["viewer", "operator", "admin"];

/// A bearer token: `nst_<id>_<secret>` is what its holder sends; the database keeps its id,
/// what it is for, and the SHA-256 of the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// The token's public part: 16 hex digits.
    pub id: String,
    /// What it is for (named like a user).
    pub name: String,
    /// viewer, operator or admin.
    pub role: String,
    /// SHA-256 of the secret, 64 hex digits.
    pub hash: String,
    /// When it was made.
    pub created_at: Time,
    /// When it stops working.
    pub expires_at: Time,
    /// Who made it (the audit log's words).
    pub created_by: String,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl ClusterDb {
    pub(super) fn put_token(&mut self, t: Token) -> Result<()> {
        let who = subject("token", &t.id);
        if !is_hex(&t.id, 16) {
            return Err(invalid(who, "id", "must be 16 lowercase hex digits"));
        }
        check_name("token", &t.name)?;
        if !TOKEN_ROLES.contains(&t.role.as_str()) {
            let why = format!("{:?}: use viewer, operator or admin", t.role);
            return Err(invalid(who, "role", why));
        }
        if !is_hex(&t.hash, 64) {
            return Err(invalid(
                who,
                "hash",
                "must be 64 lowercase hex digits (SHA-256)",
            ));
        }
        if t.expires_at <= t.created_at {
            return Err(invalid(who, "expires_at", "must be after created_at"));
        }
        if self.tokens.contains_key(&t.id) {
            return Err(refused(who, "exists already"));
        }
        if self.tokens.len() >= MAX_TOKENS {
            let why = format!("the cluster keeps at most {MAX_TOKENS} tokens: revoke some");
            return Err(refused(who, why));
        }
        self.tokens.insert(t.id.clone(), t);
        Ok(())
    }

    pub(super) fn revoke_token(&mut self, id: &str) -> Result<()> {
        match self.tokens.remove(id) {
            Some(_) => Ok(()),
            None => Err(not_found("token", id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str) -> Token {
        Token {
            id: id.into(),
            name: "dash".into(),
            role: "viewer".into(),
            hash: "a".repeat(64),
            created_at: Time(1000),
            expires_at: Time(2000),
            created_by: "user admin (admin)".into(),
        }
    }

    #[test]
    fn tokens_are_checked_added_once_and_revoked() {
        let mut db = ClusterDb::new();
        db.put_token(token("0123456789abcdef")).unwrap();
        let again = db.put_token(token("0123456789abcdef")).unwrap_err();
        assert!(again.to_string().contains("exists already"), "{again}");
        for (bad, field) in [
            (
                Token {
                    id: "xyz".into(),
                    ..token("")
                },
                "id",
            ),
            (
                Token {
                    role: "root".into(),
                    ..token("1123456789abcdef")
                },
                "role",
            ),
            (
                Token {
                    hash: "zz".into(),
                    ..token("2123456789abcdef")
                },
                "hash",
            ),
            (
                Token {
                    expires_at: Time(1000),
                    ..token("3123456789abcdef")
                },
                "expires_at",
            ),
        ] {
            let err = db.put_token(bad).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        assert_eq!(db.tokens.len(), 1);
        db.revoke_token("0123456789abcdef").unwrap();
        assert!(db.revoke_token("0123456789abcdef").is_err());
        assert!(db.tokens.is_empty());
    }
}
