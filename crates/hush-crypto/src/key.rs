//! The zeroizing 256-bit key type and the system random source.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

/// Length in bytes of every symmetric key in hush (AES-256).
pub const KEY_LEN: usize = 32;

/// A 256-bit secret key.
///
/// The bytes live on the heap so that moving a `SecretKey` around moves only a pointer and
/// leaves no stray copies of the key on the stack; they are overwritten with zeros on drop.
/// `Debug` is redacted and there is deliberately no `Display`. Equality is constant time.
#[derive(Clone)]
pub struct SecretKey(Box<[u8; KEY_LEN]>);

impl SecretKey {
    /// Generates a fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = SecretKey(Box::new([0u8; KEY_LEN]));
        aws_lc_rs::rand::fill(&mut key.0[..]).map_err(|_| CryptoError::Random)?;
        Ok(key)
    }

    /// Builds a key from exactly 32 bytes. The caller stays responsible for zeroizing `b`.
    pub fn from_slice(b: &[u8]) -> Result<Self, CryptoError> {
        if b.len() != KEY_LEN {
            return Err(CryptoError::InvalidKey(format!(
                "a key must be exactly {KEY_LEN} bytes, got {} bytes",
                b.len()
            )));
        }
        let mut key = SecretKey(Box::new([0u8; KEY_LEN]));
        key.0.copy_from_slice(b);
        Ok(key)
    }

    /// The raw key bytes. Do not copy them into memory that is not zeroized.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretKey {}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.0[..].ct_eq(&other.0[..]).into()
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..redacted..)")
    }
}

/// Returns `n` bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, CryptoError> {
    let mut out = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// A uniform index below `n` (which must be at least 1) from the operating system's CSPRNG:
/// rejection sampling, so no value is likelier than another (generated passwords).
pub fn random_below(n: u32) -> Result<u32, CryptoError> {
    let n = n.max(1);
    let zone = u32::MAX - (u32::MAX % n);
    loop {
        let mut b = [0u8; 4];
        aws_lc_rs::rand::fill(&mut b).map_err(|_| CryptoError::Random)?;
        let v = u32::from_be_bytes(b);
        if v < zone {
            return Ok(v % n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_below_stays_below() {
        assert!((0..1000).all(|_| random_below(7).unwrap() < 7));
        assert_eq!(random_below(1).unwrap(), 0);
    }

    #[test]
    fn debug_is_redacted() {
        let key = SecretKey::from_slice(&[0xAB; 32]).unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "SecretKey(..redacted..)");
        assert!(!shown.to_lowercase().contains("ab"));
    }

    #[test]
    fn from_slice_rejects_wrong_lengths_and_names_them() {
        for len in [0usize, 16, 31, 33, 64] {
            let err = SecretKey::from_slice(&vec![1u8; len]).unwrap_err();
            match err {
                CryptoError::InvalidKey(msg) => {
                    assert!(msg.contains(&format!("got {len} bytes")), "{msg}")
                }
                other => panic!("unexpected error {other:?}"),
            }
        }
        let key = SecretKey::from_slice(&[7u8; 32]).unwrap();
        assert_eq!(key.as_bytes(), &[7u8; 32]);
    }

    #[test]
    fn generated_keys_differ_and_equality_works() {
        let a = SecretKey::generate().unwrap();
        let b = SecretKey::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.clone(), a);
    }

    #[test]
    fn random_bytes_has_requested_length() {
        assert!(random_bytes(0).unwrap().is_empty());
        let a = random_bytes(32).unwrap();
        let b = random_bytes(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
