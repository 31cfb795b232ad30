//! The barrier: every value written to storage is encrypted under the keyring's active term, with
//! the storage path bound in as associated data.
//!
//! Blob layout: `term u32 (big-endian) || format version u8 || nonce (12) || ciphertext || tag (16)`.
//! The associated data is `header (5 bytes) || path`, so editing the header, moving a value to
//! another path or changing any ciphertext byte makes decryption fail.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use zeroize::Zeroizing;

use crate::aead;
use crate::{CryptoError, Keyring, TermInfo};

/// Format version written into every barrier blob.
pub const BARRIER_FORMAT_VERSION: u8 = 1;
/// Length of the blob header: term (4) + format version (1).
pub const BARRIER_HEADER_LEN: usize = 5;
/// Bytes a barrier blob adds to its plaintext: header, nonce and tag.
pub const BARRIER_OVERHEAD: usize = BARRIER_HEADER_LEN + aead::OVERHEAD;

/// Encrypts and decrypts stored values; shared by the whole server (`Send + Sync`, `&self` API).
///
/// Encryption takes only a read lock and bumps an atomic counter, so concurrent writers do not
/// serialize on each other; only [`Barrier::rotate`] takes the write lock.
pub struct Barrier {
    keyring: RwLock<Keyring>,
    rotation_limit: u64,
}

impl Barrier {
    /// Wraps `keyring`. Once the active term has performed `rotation_limit` encryptions,
    /// [`Barrier::rotation_due`] turns true (random 96-bit nonces stay safe well below 2^32
    /// messages per key; production passes about `(1 << 32) - (1 << 26)`).
    pub fn new(keyring: Keyring, rotation_limit: u64) -> Self {
        Barrier {
            keyring: RwLock::new(keyring),
            rotation_limit,
        }
    }

    fn ring(&self) -> RwLockReadGuard<'_, Keyring> {
        // Keyring::rotate mutates only after every fallible step, so a panic while the lock was
        // held cannot leave a half-rotated keyring; recovering from poisoning is sound.
        self.keyring.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Encrypts `plaintext` for storage at `path` under the active term.
    pub fn encrypt(&self, path: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let ring = self.ring();
        let term = ring.active_term();
        let tk = ring.active_key();
        // Counted before sealing: a failed attempt may still have consumed a nonce, and
        // over-counting only brings rotation forward.
        tk.encryptions.fetch_add(1, Ordering::Relaxed);

        let mut blob = Vec::with_capacity(BARRIER_OVERHEAD + plaintext.len());
        blob.extend_from_slice(&term.to_be_bytes());
        blob.push(BARRIER_FORMAT_VERSION);
        let aad = associated_data(&blob, path);
        tk.cipher.seal_append(&mut blob, plaintext, &aad)?;
        Ok(blob)
    }

    /// Decrypts a blob read from `path`.
    ///
    /// Any modification, truncation or path mismatch gives [`CryptoError::Integrity`]; a term the
    /// keyring does not hold gives [`CryptoError::UnknownTerm`].
    pub fn decrypt(&self, path: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let integrity = || CryptoError::Integrity {
            path: path.to_string(),
        };
        if blob.len() < BARRIER_OVERHEAD || blob[4] != BARRIER_FORMAT_VERSION {
            return Err(integrity());
        }
        let (header, sealed) = blob.split_at(BARRIER_HEADER_LEN);
        let term = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let ring = self.ring();
        let tk = ring.get(term).ok_or_else(|| CryptoError::UnknownTerm {
            path: path.to_string(),
            term,
        })?;
        tk.cipher
            .open_parts(sealed, &associated_data(header, path))
            .ok_or_else(integrity)
    }

    /// Adds a new key term and makes it active for all later encryptions. Earlier terms stay
    /// readable. Returns the new term's info; persist [`Barrier::keyring_bytes`] afterwards.
    pub fn rotate(&self, now_unix: i64) -> Result<TermInfo, CryptoError> {
        let mut ring = self.keyring.write().unwrap_or_else(PoisonError::into_inner);
        ring.rotate(now_unix)?;
        Ok(ring.active_info())
    }

    /// True once the active term has reached the rotation limit.
    pub fn rotation_due(&self) -> bool {
        self.ring().active_key().encryptions.load(Ordering::Relaxed) >= self.rotation_limit
    }

    /// The encryption count after which [`Barrier::rotation_due`] becomes true.
    pub fn rotation_limit(&self) -> u64 {
        self.rotation_limit
    }

    /// The active term's info, including its live encryption count.
    pub fn key_status(&self) -> TermInfo {
        self.ring().active_info()
    }

    /// Info about every term, oldest first.
    pub fn terms(&self) -> Vec<TermInfo> {
        self.ring().terms()
    }

    /// Serialized keyring with the current encryption counts, for persisting (seal it first).
    pub fn keyring_bytes(&self) -> Zeroizing<Vec<u8>> {
        self.ring().to_bytes()
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("keyring", &*self.ring())
            .field("rotation_limit", &self.rotation_limit)
            .finish()
    }
}

/// `header || path`. The header is fixed-length, so the concatenation is unambiguous.
fn associated_data(header: &[u8], path: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(BARRIER_HEADER_LEN + path.len());
    aad.extend_from_slice(&header[..BARRIER_HEADER_LEN]);
    aad.extend_from_slice(path.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barrier_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Barrier>();
    }

    #[test]
    fn header_layout() {
        let barrier = Barrier::new(Keyring::generate(0).unwrap(), 100);
        let blob = barrier.encrypt("p", b"abc").unwrap();
        assert_eq!(&blob[..4], &1u32.to_be_bytes());
        assert_eq!(blob[4], BARRIER_FORMAT_VERSION);
        assert_eq!(blob.len(), 3 + BARRIER_OVERHEAD);
    }

    #[test]
    fn unknown_term_is_reported_with_term_and_path() {
        let barrier = Barrier::new(Keyring::generate(0).unwrap(), 100);
        let mut blob = barrier.encrypt("p", b"abc").unwrap();
        blob[..4].copy_from_slice(&9u32.to_be_bytes());
        match barrier.decrypt("p", &blob) {
            Err(CryptoError::UnknownTerm { path, term }) => {
                assert_eq!(path, "p");
                assert_eq!(term, 9);
            }
            other => panic!("expected UnknownTerm, got {other:?}"),
        }
    }

    #[test]
    fn debug_is_redacted() {
        let barrier = Barrier::new(Keyring::generate(0).unwrap(), 100);
        assert!(format!("{barrier:?}").contains("redacted"));
    }
}
