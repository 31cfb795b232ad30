//! Seals: wrapping a key (the root key) under a key-encryption key (KEK), and the static
//! auto-unseal seal built on that.
//!
//! A wrapped key is AES-256-GCM over the 32 key bytes. The associated data is
//! `len(key_id) u32 big-endian || key_id || caller aad`, so a wrapped key cannot be relabelled
//! with another key id, and the length prefix keeps id and caller aad from running together.

use std::fmt;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, Engine, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::aead;
use crate::{CryptoError, SecretKey, KEY_LEN};

/// Length of a wrapped key's ciphertext: nonce, encrypted key, tag.
pub const WRAPPED_KEY_LEN: usize = aead::OVERHEAD + KEY_LEN;

/// A key sealed by a key-encryption key, tagged with the id of that KEK.
///
/// In JSON the ciphertext is a standard base64 string. The ciphertext is not secret, but
/// `Debug` shows only its length to keep logs short.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// Id of the key-encryption key that wrapped this key.
    pub key_id: String,
    /// `nonce || encrypted key || tag`.
    #[serde(with = "base64_bytes")]
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text.as_bytes()).map_err(|e| {
            D::Error::custom(format!(
                "wrapped key ciphertext is not valid standard base64 ({e})"
            ))
        })
    }
}

fn wrap_aad(key_id: &str, aad: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(4 + key_id.len() + aad.len());
    // Key ids are short operator-chosen labels; anything over 4 GiB is clamped, which only
    // weakens the framing for ids that cannot occur.
    let id_len = u32::try_from(key_id.len()).unwrap_or(u32::MAX);
    full.extend_from_slice(&id_len.to_be_bytes());
    full.extend_from_slice(key_id.as_bytes());
    full.extend_from_slice(aad);
    full
}

/// Wraps `key` under `kek`, recording `key_id` (the KEK's id) and binding `aad`.
pub fn wrap(
    kek: &SecretKey,
    key_id: &str,
    key: &SecretKey,
    aad: &[u8],
) -> Result<WrappedKey, CryptoError> {
    let ciphertext = aead::seal(kek, key.as_bytes(), &wrap_aad(key_id, aad))?;
    Ok(WrappedKey {
        key_id: key_id.to_string(),
        ciphertext,
    })
}

/// Unwraps a key wrapped by [`wrap`] with the same `kek` and `aad`.
///
/// A KEK that does not open it gives [`CryptoError::WrongKey`].
pub fn unwrap(kek: &SecretKey, wrapped: &WrappedKey, aad: &[u8]) -> Result<SecretKey, CryptoError> {
    if wrapped.ciphertext.len() != WRAPPED_KEY_LEN {
        return Err(CryptoError::Malformed(format!(
            "the sealed key is {} bytes but a sealed key is {WRAPPED_KEY_LEN} bytes; it is \
             corrupt or truncated, restore it from a backup",
            wrapped.ciphertext.len()
        )));
    }
    let plain = aead::open_parts(kek, &wrapped.ciphertext, &wrap_aad(&wrapped.key_id, aad))
        .ok_or(CryptoError::WrongKey)?;
    SecretKey::from_slice(&plain)
}

/// The static auto-unseal seal: a configured key with an id, plus optionally the previous key so
/// that rotating the seal key does not strand data wrapped under the old one.
pub struct StaticSeal {
    current_id: String,
    current: SecretKey,
    previous: Option<(String, SecretKey)>,
}

impl StaticSeal {
    /// Builds the seal. New wraps always use the current key.
    pub fn new(
        current_key_id: String,
        current_key: SecretKey,
        previous: Option<(String, SecretKey)>,
    ) -> Self {
        StaticSeal {
            current_id: current_key_id,
            current: current_key,
            previous,
        }
    }

    /// Id of the key used for new wraps.
    pub fn current_key_id(&self) -> &str {
        &self.current_id
    }

    /// Id of the previous key, if one is configured.
    pub fn previous_key_id(&self) -> Option<&str> {
        self.previous.as_ref().map(|(id, _)| id.as_str())
    }

    /// Wraps `key` with the current key.
    pub fn wrap(&self, key: &SecretKey, aad: &[u8]) -> Result<WrappedKey, CryptoError> {
        wrap(&self.current, &self.current_id, key, aad)
    }

    /// Unwraps with whichever configured key has the id recorded in `wrapped`.
    ///
    /// An id that matches no configured key gives [`CryptoError::UnknownKeyId`]; a matching id
    /// whose key does not open it gives [`CryptoError::WrongKey`].
    pub fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<SecretKey, CryptoError> {
        let candidates = std::iter::once((self.current_id.as_str(), &self.current))
            .chain(self.previous.as_ref().map(|(id, key)| (id.as_str(), key)));
        let mut last_err = None;
        // Both keys may carry the same id (an operator reusing a label); try each in turn.
        for (_, kek) in candidates.filter(|(id, _)| *id == wrapped.key_id) {
            match unwrap(kek, wrapped, aad) {
                Ok(key) => return Ok(key),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| CryptoError::UnknownKeyId {
            stored: wrapped.key_id.clone(),
            configured: std::iter::once(self.current_id.clone())
                .chain(self.previous.as_ref().map(|(id, _)| id.clone()))
                .collect(),
        }))
    }
}

impl fmt::Debug for StaticSeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticSeal")
            .field("current_key_id", &self.current_id)
            .field("previous_key_id", &self.previous_key_id())
            .field("keys", &"..redacted..")
            .finish()
    }
}

/// Parses key material as an operator supplies it (file contents or an environment value).
///
/// Accepted: exactly 32 raw bytes; or, after trimming ASCII whitespace, 64 hexadecimal
/// characters, or standard base64 (with or without `=` padding) of 32 bytes. The error never
/// echoes the material, only its length.
pub fn parse_key_material(b: &[u8]) -> Result<SecretKey, CryptoError> {
    if b.len() == KEY_LEN {
        return SecretKey::from_slice(b);
    }
    let text = b.trim_ascii();
    if text.len() == 2 * KEY_LEN {
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        if hex::decode_to_slice(text, &mut raw[..]).is_ok() {
            return SecretKey::from_slice(&raw[..]);
        }
    }
    // 32 bytes are 43 base64 characters unpadded, 44 padded. The scratch buffer exceeds the
    // decoder's worst-case estimate for 44 characters (33 bytes) so it is never too small.
    if text.len() == 43 || text.len() == 44 {
        let engine = GeneralPurpose::new(
            &alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let mut raw = Zeroizing::new([0u8; 48]);
        if let Ok(KEY_LEN) = engine.decode_slice(text, &mut raw[..]) {
            return SecretKey::from_slice(&raw[..KEY_LEN]);
        }
    }
    Err(CryptoError::InvalidKey(format!(
        "key material of {} bytes ({} after trimming whitespace) is not accepted; provide exactly \
         32 raw bytes, 64 hexadecimal characters, or standard base64 (with or without padding) \
         encoding 32 bytes",
        b.len(),
        text.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_aad_frames_key_id() {
        assert_ne!(wrap_aad("ab", b"c"), wrap_aad("a", b"bc"));
    }

    #[test]
    fn relabelled_key_id_fails() {
        let kek = SecretKey::generate().unwrap();
        let root = SecretKey::generate().unwrap();
        let mut w = wrap(&kek, "a", &root, b"").unwrap();
        w.key_id = "b".to_string();
        assert!(matches!(unwrap(&kek, &w, b""), Err(CryptoError::WrongKey)));
    }

    #[test]
    fn wrong_length_is_malformed() {
        let kek = SecretKey::generate().unwrap();
        let w = WrappedKey {
            key_id: "a".to_string(),
            ciphertext: vec![0u8; 10],
        };
        assert!(matches!(
            unwrap(&kek, &w, b""),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn debug_output_is_redacted() {
        let seal = StaticSeal::new(
            "k1".to_string(),
            SecretKey::from_slice(&[0x5A; 32]).unwrap(),
            None,
        );
        let shown = format!("{seal:?}");
        assert!(shown.contains("k1") && shown.contains("redacted"));
        assert!(!shown.contains("5a") && !shown.contains("90"));
    }
}
