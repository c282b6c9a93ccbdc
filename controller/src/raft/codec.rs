//! What raft carries for nonstop: a command per log entry (with the id of the proposal that
//! waits for it), member addresses on membership changes, and the database in snapshots.
//!
//! Entry data is the `Command` as JSON; the entry context is `proposer (8 bytes) | seq (8 bytes)
//! | address (utf-8, membership changes only)`. Snapshot data is `members length (4 bytes) |
//! members as JSON | ClusterDb::to_bytes()`.

use crate::db::{ClusterDb, Command};

use super::error::LogError;
use super::types::Members;

/// Who proposed an entry, so that the proposing member can answer its caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryContext {
    /// The proposing member's raft id.
    pub proposer: u64,
    /// The proposal's number on that member.
    pub seq: u64,
    /// For a member being added: its transport address.
    pub address: Option<String>,
}

impl EntryContext {
    /// Encodes the context.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.proposer.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        if let Some(a) = &self.address {
            out.extend_from_slice(a.as_bytes());
        }
        out
    }

    /// Decodes a context; `None` for entries raft made itself (empty context).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let proposer = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let seq = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        let rest = &bytes[16..];
        let address = (!rest.is_empty()).then(|| String::from_utf8_lossy(rest).into_owned());
        Some(EntryContext {
            proposer,
            seq,
            address,
        })
    }
}

/// Encodes a command as entry data.
pub fn encode_command(cmd: &Command) -> Vec<u8> {
    // Commands are plain data with string keys: serialising cannot fail.
    serde_json::to_vec(cmd).expect("Command serialises")
}

/// Decodes entry data made by [`encode_command`].
pub fn decode_command(bytes: &[u8]) -> Result<Command, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Encodes a snapshot's data: the members' addresses and the database.
pub fn encode_snapshot(members: &Members, db: &ClusterDb) -> Vec<u8> {
    let m = serde_json::to_vec(members).expect("member map serialises");
    let mut out = Vec::with_capacity(4 + m.len());
    out.extend_from_slice(&(m.len() as u32).to_be_bytes());
    out.extend_from_slice(&m);
    out.extend_from_slice(&db.to_bytes());
    out
}

/// Decodes snapshot data made by [`encode_snapshot`].
pub fn decode_snapshot(index: u64, bytes: &[u8]) -> Result<(Members, ClusterDb), LogError> {
    let bad = |reason: String| LogError::BadSnapshot { index, reason };
    let len = bytes
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| bad("shorter than its header".into()))?;
    let members = bytes
        .get(4..4 + len)
        .ok_or_else(|| bad("member list cut short".into()))?;
    let members: Members =
        serde_json::from_slice(members).map_err(|e| bad(format!("members: {e}")))?;
    let db = ClusterDb::from_bytes(&bytes[4 + len..]).map_err(|e| bad(format!("db: {e}")))?;
    Ok((members, db))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_round_trips_with_and_without_address() {
        let c = EntryContext {
            proposer: 3,
            seq: 99,
            address: None,
        };
        assert_eq!(EntryContext::decode(&c.encode()), Some(c));
        let a = EntryContext {
            proposer: 1,
            seq: 2,
            address: Some("127.0.0.1:7004".into()),
        };
        assert_eq!(EntryContext::decode(&a.encode()), Some(a));
        assert_eq!(EntryContext::decode(b""), None);
    }

    #[test]
    fn snapshot_round_trips_and_rejects_garbage() {
        let members: Members = [(1, "a:1".to_string())].into();
        let db = ClusterDb::new();
        let bytes = encode_snapshot(&members, &db);
        assert_eq!(decode_snapshot(5, &bytes).unwrap(), (members, db));
        let err = decode_snapshot(5, &bytes[..10]).unwrap_err().to_string();
        assert!(err.contains("snapshot at index 5"), "{err}");
    }
}
