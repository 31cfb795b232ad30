//! Hashing, HMAC and constant-time comparison helpers.

use aws_lc_rs::{digest, hmac};
use subtle::ConstantTimeEq;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    // SHA-256 output is always 32 bytes, so this copy cannot panic on a length mismatch.
    out.copy_from_slice(d.as_ref());
    out
}

/// HMAC-SHA-256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&k, data);
    let mut out = [0u8; 32];
    // An HMAC-SHA-256 tag is always 32 bytes, so this copy cannot panic on a length mismatch.
    out.copy_from_slice(tag.as_ref());
    out
}

/// An HMAC-SHA-256 key prepared once (its padded inner and outer states), for callers that sign
/// many short messages under the same key, such as an audit device HMAC'ing every token it logs.
pub struct HmacKey(hmac::Key);

impl HmacKey {
    /// Prepares `key`. The caller keeps (and wipes) its own copy of the bytes.
    pub fn new(key: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// HMAC-SHA-256 of `data`: the same tag as [`hmac_sha256`] with this key.
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.0, data);
        let mut out = [0u8; 32];
        // An HMAC-SHA-256 tag is always 32 bytes, so this copy cannot panic on a length mismatch.
        out.copy_from_slice(tag.as_ref());
        out
    }
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(<redacted>)")
    }
}

/// Appends the lowercase hex form of `bytes` to `out`.
///
/// Every audit line and HMAC'd field goes through this; the `hex` crate's `encode` collects
/// `char`s one by one, which showed up in read-path profiles.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// The lowercase hex form of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Compares two byte strings in time independent of their contents.
///
/// Only the lengths may leak (a length mismatch returns `false` early); use this for tokens,
/// MACs and hashes of secrets, whose lengths are public.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_the_hex_crate() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(to_hex(&all), hex::encode(&all));
        let mut s = String::from("hmac-sha256:");
        push_hex(&mut s, &[0x00, 0xab, 0xff]);
        assert_eq!(s, "hmac-sha256:00abff");
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_sha256_known_answer() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"same", b"same"));
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"same", b"sane"));
        assert!(!ct_eq(b"same", b"same!"));
    }
}
