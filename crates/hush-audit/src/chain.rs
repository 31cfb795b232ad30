//! The hash chain: the `hush_chain` field, the genesis value and line hashing.

use std::fmt;
use std::str::FromStr;

use hush_crypto::hash::sha256;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Name of the top-level field carrying the chain in every line.
pub const CHAIN_FIELD: &str = "hush_chain";

/// The `prev` of the first line of a new device: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The end of a device's chain: the sequence number and hash of the last written line.
///
/// `hash` is the lowercase hex SHA-256 of that line's exact bytes, without the trailing newline.
/// A device that has written nothing has the head `{seq: 0, hash: GENESIS_HASH}`
/// ([`ChainHead::genesis`]). The text form (`Display` / `FromStr`) is `SEQ:HASH`, which is what
/// `hush audit verify --head` accepts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainHead {
    /// Sequence number of the last line (0 when nothing was written).
    pub seq: u64,
    /// Lowercase hex SHA-256 of the last line (without its newline).
    pub hash: String,
}

impl ChainHead {
    /// The head of a device that has not written anything yet.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// Why a `SEQ:HASH` string is not a chain head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid chain head \"{input}\": {reason}; expected SEQ:HASH, e.g. \
     1234:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)]
pub struct ParseHeadError {
    input: String,
    reason: &'static str,
}

impl FromStr for ChainHead {
    type Err = ParseHeadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseHeadError {
            input: s.to_owned(),
            reason,
        };
        let (seq, hash) = s.trim().split_once(':').ok_or_else(|| err("missing ':'"))?;
        let seq = seq
            .parse::<u64>()
            .map_err(|_| err("SEQ is not a non-negative integer"))?;
        if !is_hex_hash(&hash.to_ascii_lowercase()) {
            return Err(err("HASH is not 64 hex digits"));
        }
        Ok(Self {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// True for exactly 64 lowercase hex digits.
pub(crate) fn is_hex_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lowercase hex SHA-256 of one line (without its newline).
pub(crate) fn line_hash(line: &[u8]) -> String {
    hush_crypto::hash::to_hex(&sha256(line))
}

/// Builds one line from the compact serialization of an entry object by inserting the chain
/// field right after the opening brace.
///
/// Splicing bytes instead of inserting into the `Value` lets callers serialize their entries
/// concurrently; the single writer thread only does this copy and the SHA-256. `entry` must be
/// the `serde_json::to_vec` output of an object without a `hush_chain` key (checked by the
/// caller), so it starts with `{` and ends with `}`.
pub(crate) fn build_line(out: &mut Vec<u8>, entry: &[u8], seq: u64, prev: &str, device_json: &str) {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(CHAIN_FIELD.as_bytes());
    out.extend_from_slice(b"\":{\"seq\":");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.extend_from_slice(b",\"prev\":\"");
    out.extend_from_slice(prev.as_bytes());
    out.extend_from_slice(b"\",\"device\":");
    out.extend_from_slice(device_json.as_bytes());
    out.push(b'}');
    let rest = entry.get(1..).unwrap_or_default();
    if rest != b"}" {
        out.push(b',');
    }
    out.extend_from_slice(rest);
}

/// The chain field of one parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainField {
    pub seq: u64,
    pub prev: String,
    pub device: String,
}

/// Extracts and validates the chain field of a parsed line; the error says what is wrong.
pub(crate) fn chain_field(line: &Value) -> Result<ChainField, &'static str> {
    let obj = line.as_object().ok_or("line is not a JSON object")?;
    let chain = obj
        .get(CHAIN_FIELD)
        .ok_or("line has no \"hush_chain\" field")?
        .as_object()
        .ok_or("\"hush_chain\" is not an object")?;
    let seq = chain
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or("\"hush_chain.seq\" is missing or not a non-negative integer")?;
    if seq == 0 {
        return Err("\"hush_chain.seq\" is 0; sequence numbers start at 1");
    }
    let prev = chain
        .get("prev")
        .and_then(Value::as_str)
        .filter(|p| is_hex_hash(p))
        .ok_or("\"hush_chain.prev\" is missing or not 64 lowercase hex digits")?;
    let device = chain
        .get("device")
        .and_then(Value::as_str)
        .ok_or("\"hush_chain.device\" is missing or not a string")?;
    Ok(ChainField {
        seq,
        prev: prev.to_owned(),
        device: device.to_owned(),
    })
}

/// Parses a raw line and extracts its chain field.
pub(crate) fn parse_line(line: &[u8]) -> Result<ChainField, String> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| format!("line is not valid JSON ({e})"))?;
    chain_field(&value).map_err(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_for(entry: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        let bytes = serde_json::to_vec(entry).unwrap();
        build_line(&mut out, &bytes, 7, GENESIS_HASH, "\"dev\\\"1\"");
        out
    }

    #[test]
    fn build_line_produces_valid_json_with_entry_intact() {
        let entry = serde_json::json!({"type": "request", "request": {"path": "a"}});
        let line = line_for(&entry);
        let mut parsed: Value = serde_json::from_slice(&line).unwrap();
        let chain = chain_field(&parsed).unwrap();
        assert_eq!(
            chain,
            ChainField {
                seq: 7,
                prev: GENESIS_HASH.into(),
                device: "dev\"1".into()
            }
        );
        parsed.as_object_mut().unwrap().remove(CHAIN_FIELD);
        assert_eq!(parsed, entry);
    }

    #[test]
    fn build_line_handles_empty_object() {
        let line = line_for(&serde_json::json!({}));
        let parsed: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed.as_object().unwrap().len(), 1);
        assert_eq!(chain_field(&parsed).unwrap().seq, 7);
    }

    #[test]
    fn head_text_round_trips_and_rejects_garbage() {
        let head = ChainHead {
            seq: 42,
            hash: line_hash(b"x"),
        };
        assert_eq!(head.to_string().parse::<ChainHead>().unwrap(), head);
        let upper = format!("42:{}", head.hash.to_uppercase());
        assert_eq!(upper.parse::<ChainHead>().unwrap(), head);
        assert!("42".parse::<ChainHead>().is_err());
        assert!("x:00".parse::<ChainHead>().is_err());
        assert!(format!("-1:{}", head.hash).parse::<ChainHead>().is_err());
        assert!("1:abc".parse::<ChainHead>().is_err());
    }
}
