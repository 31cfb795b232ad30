//! AES-256-GCM with a random 96-bit nonce per message.
//!
//! Sealed format: `nonce (12) || ciphertext || tag (16)`. Random nonces are safe for up to about
//! 2^32 messages per key; the barrier tracks encryptions per key term so callers can rotate
//! long before that bound.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use crate::{CryptoError, SecretKey};

/// Length of the random nonce prefixed to every sealed message.
pub const NONCE_SIZE: usize = NONCE_LEN;
/// Length of the authentication tag appended to every sealed message.
pub const TAG_SIZE: usize = 16;
/// Bytes a sealed message adds to its plaintext.
pub const OVERHEAD: usize = NONCE_SIZE + TAG_SIZE;

/// An AES-256-GCM key with its key schedule expanded once, for a key used many times (the
/// barrier's terms): expanding it on every message was a visible share of a secret read.
pub(crate) struct Cipher(LessSafeKey);

impl Cipher {
    pub(crate) fn new(key: &SecretKey) -> Result<Self, CryptoError> {
        // SecretKey is always 32 bytes, exactly what AES-256-GCM takes, so this cannot fail in
        // practice; it is still mapped to an error rather than a panic.
        UnboundKey::new(&AES_256_GCM, key.as_bytes())
            .map(|k| Cipher(LessSafeKey::new(k)))
            .map_err(|_| {
                CryptoError::InvalidKey(
                    "AES-256-GCM rejected the key; a key must be exactly 32 bytes".to_string(),
                )
            })
    }

    /// Appends `nonce || ciphertext || tag` for `plaintext` to `out`.
    ///
    /// The plaintext is copied into `out` and encrypted in place; capacity is reserved up front
    /// so that no reallocation leaves a plaintext copy behind in freed memory.
    pub(crate) fn seal_append(
        &self,
        out: &mut Vec<u8>,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<(), CryptoError> {
        let mut nonce = [0u8; NONCE_SIZE];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        out.reserve_exact(NONCE_SIZE + plaintext.len() + TAG_SIZE);
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[start..],
            )
            .map_err(|_| {
                // Do not leave the plaintext in the caller's buffer if the cipher refused it.
                zeroize::Zeroize::zeroize(&mut out[start..]);
                CryptoError::Encrypt {
                    len: plaintext.len(),
                }
            })?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Opens `nonce || ciphertext || tag`; `None` on any failure (too short, forged, wrong
    /// key/aad).
    pub(crate) fn open_parts(&self, sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < OVERHEAD {
            return None;
        }
        let (nonce_bytes, body) = sealed.split_at(NONCE_SIZE);
        let mut nonce = [0u8; NONCE_SIZE];
        nonce.copy_from_slice(nonce_bytes);
        // The buffer is zeroizing from the start: a failed open may leave partial plaintext in
        // it.
        let mut buf = Zeroizing::new(body.to_vec());
        let plain_len = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf[..],
            )
            .ok()?
            .len();
        buf.truncate(plain_len);
        Some(buf)
    }
}

/// [`Cipher::seal_append`] with a one-off key.
pub(crate) fn seal_append(
    key: &SecretKey,
    out: &mut Vec<u8>,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<(), CryptoError> {
    Cipher::new(key)?.seal_append(out, plaintext, aad)
}

/// [`Cipher::open_parts`] with a one-off key.
pub(crate) fn open_parts(key: &SecretKey, sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    Cipher::new(key).ok()?.open_parts(sealed, aad)
}

/// Encrypts and authenticates `plaintext`, binding `aad` (authenticated, not encrypted).
///
/// Returns `nonce (12) || ciphertext || tag (16)`.
pub fn seal(key: &SecretKey, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    seal_append(key, &mut out, plaintext, aad)?;
    Ok(out)
}

/// Verifies and decrypts the output of [`seal`] with the same key and `aad`.
///
/// Any modification, truncation, wrong key or wrong `aad` gives [`CryptoError::Decrypt`].
pub fn open(key: &SecretKey, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    open_parts(key, sealed, aad).ok_or(CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let key = SecretKey::generate().unwrap();
        let sealed = seal(&key, b"hello world", b"ctx").unwrap();
        assert_eq!(sealed.len(), 11 + OVERHEAD);
        assert_eq!(&open(&key, &sealed, b"ctx").unwrap()[..], b"hello world");
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let key = SecretKey::generate().unwrap();
        let sealed = seal(&key, b"", b"").unwrap();
        assert_eq!(sealed.len(), OVERHEAD);
        assert!(open(&key, &sealed, b"").unwrap().is_empty());
    }

    #[test]
    fn nonces_are_fresh() {
        let key = SecretKey::generate().unwrap();
        let a = seal(&key, b"same", b"").unwrap();
        let b = seal(&key, b"same", b"").unwrap();
        assert_ne!(a[..NONCE_SIZE], b[..NONCE_SIZE]);
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_aad_fails() {
        let key = SecretKey::generate().unwrap();
        let sealed = seal(&key, b"secret", b"aad-1").unwrap();
        assert!(matches!(
            open(&key, &sealed, b"aad-2"),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn wrong_key_fails() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let sealed = seal(&key, b"secret", b"").unwrap();
        assert!(matches!(
            open(&other, &sealed, b""),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn tampering_and_truncation_fail() {
        let key = SecretKey::generate().unwrap();
        let sealed = seal(&key, b"secret", b"").unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open(&key, &bad, b"").is_err(), "flip at {i} accepted");
        }
        for len in 0..sealed.len() {
            assert!(
                open(&key, &sealed[..len], b"").is_err(),
                "truncation to {len} accepted"
            );
        }
    }
}
