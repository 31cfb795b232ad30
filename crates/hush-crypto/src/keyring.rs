//! The keyring: numbered data-encryption keys ("terms").
//!
//! Terms start at 1 and only grow. The newest term is always the active one and is used for every
//! new encryption; older terms are kept so that values written under them can still be read.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{CryptoError, SecretKey, KEY_LEN};

/// Magic prefix of a serialized keyring, so that a wrong blob is recognised as such.
const MAGIC: &[u8; 4] = b"HKRG";
/// Version of the serialized keyring layout.
const FORMAT_VERSION: u8 = 1;
/// magic (4) || version (1) || active term (4) || entry count (4).
const HEADER_LEN: usize = 4 + 1 + 4 + 4;
/// term (4) || install time (8) || encryptions (8) || key (32).
const ENTRY_LEN: usize = 4 + 8 + 8 + KEY_LEN;

/// Public, non-secret facts about one key term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermInfo {
    /// The term number (1, 2, ...).
    pub term: u32,
    /// When the term was installed, in seconds since the Unix epoch.
    pub install_time_unix: i64,
    /// How many encryptions have been performed under this term.
    pub encryptions: u64,
}

/// One key term. The counter is atomic so the barrier can count encryptions under a read lock.
pub(crate) struct TermKey {
    pub(crate) key: SecretKey,
    /// `key`, prepared for AES-256-GCM.
    pub(crate) cipher: crate::aead::Cipher,
    pub(crate) install_time_unix: i64,
    pub(crate) encryptions: AtomicU64,
}

impl TermKey {
    fn new(key: SecretKey, install_time_unix: i64, encryptions: u64) -> Result<Self, CryptoError> {
        Ok(TermKey {
            cipher: crate::aead::Cipher::new(&key)?,
            key,
            install_time_unix,
            encryptions: AtomicU64::new(encryptions),
        })
    }

    fn info(&self, term: u32) -> TermInfo {
        TermInfo {
            term,
            install_time_unix: self.install_time_unix,
            encryptions: self.encryptions.load(Ordering::Relaxed),
        }
    }
}

/// Numbered key terms; the newest is active.
///
/// The active term is stored apart from the older ones so that "the active key" is available
/// without any lookup that could fail.
pub struct Keyring {
    active_term: u32,
    active: TermKey,
    older: BTreeMap<u32, TermKey>,
}

impl Keyring {
    /// Creates a keyring holding a single fresh key as term 1.
    pub fn generate(now_unix: i64) -> Result<Self, CryptoError> {
        Ok(Keyring {
            active_term: 1,
            active: TermKey::new(SecretKey::generate()?, now_unix, 0)?,
            older: BTreeMap::new(),
        })
    }

    /// The term used for new encryptions (always the highest term).
    pub fn active_term(&self) -> u32 {
        self.active_term
    }

    /// Facts about `term`, or `None` if the keyring does not hold it.
    pub fn term_info(&self, term: u32) -> Option<TermInfo> {
        self.get(term).map(|k| k.info(term))
    }

    /// Facts about every term, oldest first.
    pub fn terms(&self) -> Vec<TermInfo> {
        self.older
            .iter()
            .map(|(t, k)| k.info(*t))
            .chain(std::iter::once(self.active_info()))
            .collect()
    }

    /// Adds a fresh key as term `max + 1` and makes it active. Returns the new term.
    pub fn rotate(&mut self, now_unix: i64) -> Result<u32, CryptoError> {
        let new_term = self
            .active_term
            .checked_add(1)
            .ok_or(CryptoError::TermOverflow(self.active_term))?;
        // Generate before mutating anything so a failure leaves the keyring unchanged.
        let fresh = TermKey::new(SecretKey::generate()?, now_unix, 0)?;
        let previous = std::mem::replace(&mut self.active, fresh);
        self.older.insert(self.active_term, previous);
        self.active_term = new_term;
        Ok(new_term)
    }

    /// Serializes the keyring, keys included. Callers must encrypt the result (with the root
    /// key) before it leaves memory.
    ///
    /// Layout (big-endian): `"HKRG" || version u8 || active term u32 || count u32 ||
    /// count * (term u32 || install time i64 || encryptions u64 || key [32])`, terms ascending.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let count = self.older.len() + 1;
        // Exact capacity so the buffer never reallocates and leaves key copies behind.
        let mut out = Zeroizing::new(Vec::with_capacity(HEADER_LEN + count * ENTRY_LEN));
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.active_term.to_be_bytes());
        // A keyring holds at most u32::MAX terms because term numbers are u32 and unique.
        out.extend_from_slice(&u32::try_from(count).unwrap_or(u32::MAX).to_be_bytes());
        let entries = self
            .older
            .iter()
            .chain(std::iter::once((&self.active_term, &self.active)));
        for (term, k) in entries {
            out.extend_from_slice(&term.to_be_bytes());
            out.extend_from_slice(&k.install_time_unix.to_be_bytes());
            out.extend_from_slice(&k.encryptions.load(Ordering::Relaxed).to_be_bytes());
            out.extend_from_slice(k.key.as_bytes());
        }
        out
    }

    /// Parses the output of [`Keyring::to_bytes`]. Rejects (never panics on) anything else.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        const HINT: &str =
            "the stored keyring is corrupt or not a hush keyring; restore it from a backup";
        let malformed = |what: &str| CryptoError::Malformed(format!("keyring: {what}; {HINT}"));

        if b.len() < HEADER_LEN {
            return Err(malformed(&format!(
                "{} bytes is shorter than the {HEADER_LEN}-byte header",
                b.len()
            )));
        }
        if &b[0..4] != MAGIC {
            return Err(malformed("missing the keyring magic prefix"));
        }
        if b[4] != FORMAT_VERSION {
            return Err(malformed(&format!(
                "format version {} is not supported (this build reads version {FORMAT_VERSION})",
                b[4]
            )));
        }
        let active_term = read_u32(b, 5);
        let count = read_u32(b, 9) as usize;
        if count == 0 {
            return Err(malformed("it contains no key terms"));
        }
        let expected = count
            .checked_mul(ENTRY_LEN)
            .and_then(|n| n.checked_add(HEADER_LEN));
        if expected != Some(b.len()) {
            return Err(malformed(&format!(
                "{count} terms need {} bytes but there are {} bytes",
                expected.map_or_else(|| "more than addressable".to_string(), |n| n.to_string()),
                b.len()
            )));
        }

        let mut terms: BTreeMap<u32, TermKey> = BTreeMap::new();
        let mut last: u32 = 0;
        for i in 0..count {
            let off = HEADER_LEN + i * ENTRY_LEN;
            let term = read_u32(b, off);
            if term <= last {
                return Err(malformed(&format!(
                    "term {term} is zero, duplicated or out of order"
                )));
            }
            last = term;
            let install = i64::from_be_bytes(read_array(b, off + 4));
            let encryptions = u64::from_be_bytes(read_array(b, off + 12));
            let key = SecretKey::from_slice(&b[off + 20..off + 20 + KEY_LEN])?;
            terms.insert(term, TermKey::new(key, install, encryptions)?);
        }
        if active_term != last {
            return Err(malformed(&format!(
                "active term {active_term} is not the highest term {last}"
            )));
        }
        // `last` was inserted in the loop above (count >= 1), so it is present.
        let active = terms
            .remove(&last)
            .ok_or_else(|| malformed("the active term is missing"))?;
        Ok(Keyring {
            active_term,
            active,
            older: terms,
        })
    }

    pub(crate) fn active_key(&self) -> &TermKey {
        &self.active
    }

    pub(crate) fn active_info(&self) -> TermInfo {
        self.active.info(self.active_term)
    }

    pub(crate) fn get(&self, term: u32) -> Option<&TermKey> {
        if term == self.active_term {
            Some(&self.active)
        } else {
            self.older.get(&term)
        }
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active_term", &self.active_term)
            .field("terms", &self.terms())
            .field("keys", &"..redacted..")
            .finish()
    }
}

/// Reads a big-endian u32 at `off`; callers have checked that `b` is long enough.
fn read_u32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(read_array(b, off))
}

/// Copies `N` bytes at `off`; callers have checked that `b` is long enough.
fn read_array<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[off..off + N]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_starts_at_term_one() {
        let ring = Keyring::generate(100).unwrap();
        assert_eq!(ring.active_term(), 1);
        assert_eq!(
            ring.term_info(1),
            Some(TermInfo {
                term: 1,
                install_time_unix: 100,
                encryptions: 0
            })
        );
        assert_eq!(ring.term_info(0), None);
        assert_eq!(ring.term_info(2), None);
    }

    #[test]
    fn rotate_adds_next_term_and_keeps_old() {
        let mut ring = Keyring::generate(100).unwrap();
        let old_key = ring.active_key().key.clone();
        assert_eq!(ring.rotate(200).unwrap(), 2);
        assert_eq!(ring.rotate(300).unwrap(), 3);
        assert_eq!(ring.active_term(), 3);
        let terms: Vec<u32> = ring.terms().iter().map(|t| t.term).collect();
        assert_eq!(terms, vec![1, 2, 3]);
        assert_eq!(ring.term_info(2).unwrap().install_time_unix, 200);
        assert_eq!(ring.get(1).unwrap().key, old_key);
        assert_ne!(ring.get(3).unwrap().key, old_key);
    }

    #[test]
    fn debug_does_not_show_keys() {
        let ring = Keyring::generate(1).unwrap();
        let bytes = ring.to_bytes();
        let key_hex = hex::encode(&bytes[HEADER_LEN + 20..HEADER_LEN + 20 + KEY_LEN]);
        let shown = format!("{ring:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&key_hex));
    }

    #[test]
    fn serialized_layout_is_exact() {
        let mut ring = Keyring::generate(5).unwrap();
        ring.rotate(6).unwrap();
        let bytes = ring.to_bytes();
        assert_eq!(bytes.len(), HEADER_LEN + 2 * ENTRY_LEN);
        assert_eq!(&bytes[0..4], MAGIC);
        assert_eq!(read_u32(&bytes, 5), 2);
        assert_eq!(read_u32(&bytes, 9), 2);
    }

    #[test]
    fn from_bytes_rejects_inconsistent_contents() {
        let mut ring = Keyring::generate(5).unwrap();
        ring.rotate(6).unwrap();
        let good = ring.to_bytes().to_vec();

        // Active term not the highest.
        let mut bad = good.clone();
        bad[5..9].copy_from_slice(&1u32.to_be_bytes());
        assert!(matches!(
            Keyring::from_bytes(&bad),
            Err(CryptoError::Malformed(_))
        ));

        // Duplicate term numbers.
        let mut bad = good.clone();
        bad[HEADER_LEN + ENTRY_LEN..HEADER_LEN + ENTRY_LEN + 4]
            .copy_from_slice(&1u32.to_be_bytes());
        assert!(matches!(
            Keyring::from_bytes(&bad),
            Err(CryptoError::Malformed(_))
        ));

        // Term zero.
        let mut bad = good.clone();
        bad[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(
            Keyring::from_bytes(&bad),
            Err(CryptoError::Malformed(_))
        ));

        // Count larger than the data.
        let mut bad = good.clone();
        bad[9..13].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Keyring::from_bytes(&bad),
            Err(CryptoError::Malformed(_))
        ));

        // Count zero.
        let mut bad = good.clone();
        bad[9..13].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(
            Keyring::from_bytes(&bad),
            Err(CryptoError::Malformed(_))
        ));

        // Unknown version and wrong magic.
        let mut bad = good.clone();
        bad[4] = 2;
        assert!(matches!(
            Keyring::from_bytes(&bad),
            Err(CryptoError::Malformed(_))
        ));
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(matches!(
            Keyring::from_bytes(&bad),
            Err(CryptoError::Malformed(_))
        ));

        assert!(Keyring::from_bytes(&good).is_ok());
    }

    #[test]
    fn from_bytes_never_panics_on_truncation() {
        let mut ring = Keyring::generate(5).unwrap();
        ring.rotate(6).unwrap();
        let good = ring.to_bytes();
        for len in 0..good.len() {
            assert!(
                Keyring::from_bytes(&good[..len]).is_err(),
                "truncated keyring of {len} bytes accepted"
            );
        }
    }
}
