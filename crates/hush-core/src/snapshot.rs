//! Snapshots: an online, consistent, encrypted copy of the whole store, and its restore.
//!
//! A snapshot file is
//!
//! ```text
//! "HUSHSNAP" 0x01 | u32 header length | header (JSON) | u32 key length | wrapped data key | body
//! ```
//!
//! The header says what the snapshot is (cluster, time, entry count) and carries the two
//! entries a server needs before it can unseal: the seal configuration and the sealed root key,
//! both already protected by the unseal keys (or the static seal key). The body is every
//! storage entry, sealed with a fresh data key (AES-256-GCM, the header as associated data);
//! the data key is sealed with the root key. So a snapshot reveals nothing, not even the names
//! of secrets, without the unseal keys, and a header that was tampered with fails to open.
//!
//! Restoring never needs the keys: the target (a new server, or the storage of a stopped one)
//! takes the header's seal entries and keeps the sealed snapshot as one pending entry; the
//! first unseal with the original keys opens it and writes every entry (a restore cut short
//! by a crash is finished by the next unseal, since writing the same entries twice is
//! harmless), before anything else reads the store.

use base64::Engine as _;
use hush_crypto::{aead, SecretKey};
use hush_storage::{Backend, Op};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{CoreError, Result};
use crate::seal::{ROOT_KEY_PATH, SEAL_CONFIG_PATH};

const MAGIC: &[u8; 9] = b"HUSHSNAP\x01";
/// Where a restored snapshot waits for the first unseal.
pub(crate) const PENDING_PATH: &str = "core/restore-pending";
const DATA_KEY_AAD: &[u8] = b"hush snapshot data key";
/// Entries written per storage transaction when a snapshot is applied.
const APPLY_BATCH: usize = 512;

/// What a snapshot file says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    /// Always `hush-snapshot`.
    pub format: String,
    /// The format's version (1).
    pub version: u32,
    /// The cluster the snapshot was taken of.
    pub cluster_id: String,
    /// Its name.
    pub cluster_name: String,
    /// When it was taken (RFC 3339).
    pub created_time: String,
    /// How many storage entries the body holds.
    pub entries: usize,
    /// The seal configuration entry, base64.
    pub seal_config: String,
    /// The sealed root key entry, base64.
    pub root_key: String,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn corrupt(why: impl std::fmt::Display) -> CoreError {
    CoreError::bad(format!(
        "not a usable hush snapshot: {why}; give a file written by `hush operator snapshot save`"
    ))
}

fn put_chunk(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| CoreError::Internal("a snapshot part is larger than 4 GiB".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn take_chunk<'a>(input: &mut &'a [u8], what: &str) -> Result<&'a [u8]> {
    if input.len() < 4 {
        return Err(corrupt(format!("it ends before its {what}")));
    }
    let (len, rest) = input.split_at(4);
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if rest.len() < len {
        return Err(corrupt(format!("its {what} is cut short")));
    }
    let (chunk, rest) = rest.split_at(len);
    *input = rest;
    Ok(chunk)
}

/// The parts of a snapshot file.
struct Parts<'a> {
    header: Header,
    header_bytes: &'a [u8],
    wrapped_key: &'a [u8],
    body: &'a [u8],
}

fn parse(file: &[u8]) -> Result<Parts<'_>> {
    let mut rest = file
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| corrupt("it does not start with a hush snapshot's mark"))?;
    let header_bytes = take_chunk(&mut rest, "header")?;
    let header: Header =
        serde_json::from_slice(header_bytes).map_err(|e| corrupt(format!("its header: {e}")))?;
    if header.format != "hush-snapshot" || header.version != 1 {
        return Err(corrupt(format!(
            "format {} version {} is not one this server reads (hush-snapshot 1)",
            header.format, header.version
        )));
    }
    let wrapped_key = take_chunk(&mut rest, "data key")?;
    Ok(Parts {
        header,
        header_bytes,
        wrapped_key,
        body: rest,
    })
}

/// Writes a snapshot of `entries` (every storage entry, as stored), sealing it with
/// `root_key`.
pub(crate) fn encode(
    entries: &[(String, Vec<u8>)],
    root_key: &SecretKey,
    cluster_id: &str,
    cluster_name: &str,
    now_unix: i64,
) -> Result<Vec<u8>> {
    let find = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| b64().encode(v))
            .ok_or_else(|| CoreError::Internal(format!("{key} is missing from storage")))
    };
    let header = Header {
        format: "hush-snapshot".into(),
        version: 1,
        cluster_id: cluster_id.into(),
        cluster_name: cluster_name.into(),
        created_time: crate::time::rfc3339(now_unix),
        entries: entries.len(),
        seal_config: find(SEAL_CONFIG_PATH)?,
        root_key: find(ROOT_KEY_PATH)?,
    };
    let header_bytes =
        serde_json::to_vec(&header).map_err(|e| CoreError::Internal(e.to_string()))?;
    let mut body = Zeroizing::new(Vec::new());
    for (k, v) in entries {
        put_chunk(&mut body, k.as_bytes())?;
        put_chunk(&mut body, v)?;
    }
    let data_key = SecretKey::generate()?;
    let sealed_body = aead::seal(&data_key, &body, &header_bytes)?;
    let mut key_aad = DATA_KEY_AAD.to_vec();
    key_aad.extend_from_slice(&header_bytes);
    let wrapped_key = aead::seal(root_key, data_key.as_bytes(), &key_aad)?;
    let mut out = Vec::with_capacity(sealed_body.len() + header_bytes.len() + 128);
    out.extend_from_slice(MAGIC);
    put_chunk(&mut out, &header_bytes)?;
    put_chunk(&mut out, &wrapped_key)?;
    out.extend_from_slice(&sealed_body);
    Ok(out)
}

/// Makes `storage` hold `file` for its next unseal: every existing entry goes, the snapshot's
/// seal entries and the sealed snapshot take their place, in one transaction. `force` allows an
/// initialized target; otherwise only an empty storage is accepted.
pub async fn stage(storage: &dyn Backend, file: &[u8], force: bool) -> Result<Header> {
    let parts = parse(file)?;
    let seal_config = b64()
        .decode(&parts.header.seal_config)
        .map_err(|e| corrupt(format!("its seal configuration: {e}")))?;
    let root_key = b64()
        .decode(&parts.header.root_key)
        .map_err(|e| corrupt(format!("its sealed root key: {e}")))?;
    let existing = storage.entries().await?;
    if !existing.is_empty() && !force {
        return Err(CoreError::bad(
            "this storage already holds data: restore into a new server, or stop the server and \
             run `hush operator snapshot restore -config FILE -force SNAPSHOT` to replace its \
             data",
        ));
    }
    let mut ops: Vec<Op> = existing
        .into_iter()
        .map(|(key, _)| Op::Delete { key })
        .collect();
    ops.push(Op::Put {
        key: SEAL_CONFIG_PATH.into(),
        value: seal_config,
    });
    ops.push(Op::Put {
        key: ROOT_KEY_PATH.into(),
        value: root_key,
    });
    ops.push(Op::Put {
        key: PENDING_PATH.into(),
        value: file.to_vec(),
    });
    storage.transaction(ops).await?;
    Ok(parts.header)
}

/// Finishes a staged restore with the root key the unseal recovered: writes every entry of the
/// snapshot, then drops the pending copy. Returns the snapshot's header if there was one.
pub(crate) async fn apply_pending(
    storage: &dyn Backend,
    root_key: &SecretKey,
) -> Result<Option<Header>> {
    let Some(file) = storage.get(PENDING_PATH).await? else {
        return Ok(None);
    };
    let parts = parse(&file)?;
    let mut key_aad = DATA_KEY_AAD.to_vec();
    key_aad.extend_from_slice(parts.header_bytes);
    let data_key = aead::open(root_key, parts.wrapped_key, &key_aad).map_err(|_| {
        CoreError::Internal(
            "the restored snapshot cannot be opened with this root key: it was altered after it \
             was taken"
                .into(),
        )
    })?;
    let data_key = SecretKey::from_slice(&data_key)?;
    let body = aead::open(&data_key, parts.body, parts.header_bytes).map_err(|_| {
        CoreError::Internal("the restored snapshot's body was altered after it was taken".into())
    })?;
    let mut rest: &[u8] = &body;
    let mut batch = Vec::with_capacity(APPLY_BATCH);
    let mut written = 0usize;
    while !rest.is_empty() {
        let key = take_chunk(&mut rest, "entry key")?;
        let value = take_chunk(&mut rest, "entry value")?;
        let key = std::str::from_utf8(key)
            .map_err(|_| corrupt("an entry key is not UTF-8"))?
            .to_string();
        if key == PENDING_PATH {
            continue;
        }
        batch.push(Op::Put {
            key,
            value: value.to_vec(),
        });
        written += 1;
        if batch.len() == APPLY_BATCH {
            storage.transaction(std::mem::take(&mut batch)).await?;
        }
    }
    // The last batch and the end of the pending restore land together.
    batch.push(Op::Delete {
        key: PENDING_PATH.into(),
    });
    storage.transaction(batch).await?;
    if written != parts.header.entries {
        tracing::warn!(
            expected = parts.header.entries,
            written,
            "the restored snapshot held a different number of entries than its header says"
        );
    }
    tracing::info!(
        entries = written,
        cluster_id = %parts.header.cluster_id,
        taken = %parts.header.created_time,
        "restored a snapshot"
    );
    Ok(Some(parts.header))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_storage::MemoryBackend;

    fn sample() -> Vec<(String, Vec<u8>)> {
        vec![
            (ROOT_KEY_PATH.to_string(), b"rk".to_vec()),
            (SEAL_CONFIG_PATH.to_string(), b"{}".to_vec()),
            ("logical/a/secret".to_string(), vec![0u8; 10]),
        ]
    }

    #[tokio::test]
    async fn round_trip_through_staging_and_apply() {
        let root = SecretKey::generate().unwrap();
        let file = encode(&sample(), &root, "c1", "n", 0).unwrap();
        assert!(
            !file.windows(6).any(|w| w == b"logical"),
            "entry keys are sealed"
        );
        let target = MemoryBackend::new();
        target.put("stale", b"x".to_vec()).await.unwrap();
        assert!(stage(&target, &file, false).await.is_err());
        let header = stage(&target, &file, true).await.unwrap();
        assert_eq!(header.entries, 3);
        assert!(target.get("stale").await.unwrap().is_none());
        // Another root key opens nothing, and leaves the restore pending.
        let other = SecretKey::generate().unwrap();
        assert!(apply_pending(&target, &other).await.is_err());
        assert!(target.get(PENDING_PATH).await.unwrap().is_some());
        apply_pending(&target, &root).await.unwrap().unwrap();
        assert_eq!(target.entries().await.unwrap(), sample());
        assert!(apply_pending(&target, &root).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn damaged_files_are_refused_before_anything_changes() {
        let root = SecretKey::generate().unwrap();
        let file = encode(&sample(), &root, "c1", "n", 0).unwrap();
        let target = MemoryBackend::new();
        for bad in [&file[..5], &file[..20], b"not a snapshot at all".as_slice()] {
            assert!(stage(&target, bad, true).await.is_err());
        }
        assert!(target.entries().await.unwrap().is_empty());
        let mut flipped = file.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        stage(&target, &flipped, false).await.unwrap();
        assert!(apply_pending(&target, &root).await.is_err());
    }
}
