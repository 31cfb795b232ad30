//! Shamir secret sharing over GF(256), via the `blahaj` crate.
//!
//! A share is `x || y`: one byte of x coordinate (1..=255) followed by one y byte per secret byte,
//! so each share is `secret.len() + 1` bytes.
//!
//! Randomness: `blahaj::Sharks::dealer` draws the polynomial coefficients from `rand::rng()`, a
//! ChaCha12 CSPRNG seeded and periodically reseeded from the operating system. Using it avoids a
//! direct dependency on `rand` just to adapt aws-lc-rs's generator to blahaj's RNG trait.

use std::collections::HashSet;

use blahaj::{Share, Sharks};
use zeroize::Zeroizing;

use crate::CryptoError;

/// Splits `secret` into `shares` shares, any `threshold` of which reconstruct it.
///
/// Requires a non-empty secret and `1 <= threshold <= shares` (`shares` is at most 255 by type).
/// `threshold == 1` makes every share a copy of the secret; it is allowed for single-operator
/// setups.
pub fn split(
    secret: &[u8],
    shares: u8,
    threshold: u8,
) -> Result<Vec<Zeroizing<Vec<u8>>>, CryptoError> {
    if secret.is_empty() {
        return Err(CryptoError::Shamir(
            "cannot split an empty secret; pass at least one byte".to_string(),
        ));
    }
    if threshold == 0 {
        return Err(CryptoError::Shamir(
            "threshold 0 is invalid; the threshold must be at least 1".to_string(),
        ));
    }
    if shares < threshold {
        return Err(CryptoError::Shamir(format!(
            "{shares} shares cannot satisfy a threshold of {threshold}; use at least as many \
             shares as the threshold"
        )));
    }
    // The dealer yields x = 1, 2, ..., 255, so `shares <= 255` distinct non-zero indexes exist.
    let out: Vec<Zeroizing<Vec<u8>>> = Sharks(threshold)
        .dealer(secret)
        .take(usize::from(shares))
        .map(|s| Zeroizing::new(Vec::from(&s)))
        .collect();
    Ok(out)
}

/// Reconstructs the secret from at least `threshold` shares (order does not matter).
///
/// Rejects an empty list, shares shorter than 2 bytes, shares of different lengths, share index
/// 0, duplicate share indexes and fewer than `threshold` shares. A wrong-but-well-formed share is
/// not detectable here: it yields a wrong secret, which the caller detects when the result fails
/// to open the sealed root key.
pub fn combine(shares: &[&[u8]], threshold: u8) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if threshold == 0 {
        return Err(CryptoError::Shamir(
            "threshold 0 is invalid; the threshold must be at least 1".to_string(),
        ));
    }
    let first = shares.first().ok_or_else(|| {
        CryptoError::Shamir(format!(
            "no shares given; provide at least {threshold} shares"
        ))
    })?;
    let len = first.len();
    if len < 2 {
        return Err(CryptoError::Shamir(format!(
            "share 1 is {len} bytes; a share is at least 2 bytes (index byte plus data)"
        )));
    }
    let mut seen = HashSet::with_capacity(shares.len());
    let mut parsed: Vec<Share> = Vec::with_capacity(shares.len());
    for (i, s) in shares.iter().enumerate() {
        let pos = i + 1;
        if s.len() != len {
            return Err(CryptoError::Shamir(format!(
                "share {pos} is {} bytes but share 1 is {len} bytes; all shares of one secret \
                 have the same length, so a share from another split was mixed in or one was \
                 mistyped",
                s.len()
            )));
        }
        let x = s[0];
        if x == 0 {
            return Err(CryptoError::Shamir(format!(
                "share {pos} has index 0, which no valid share has; the share is corrupt or \
                 mistyped"
            )));
        }
        if !seen.insert(x) {
            return Err(CryptoError::Shamir(format!(
                "share {pos} has index {x}, the same as an earlier share; the same share was \
                 given twice, provide distinct shares"
            )));
        }
        let share = Share::try_from(&s[..])
            .map_err(|e| CryptoError::Shamir(format!("share {pos} could not be parsed ({e})")))?;
        parsed.push(share);
    }
    if parsed.len() < usize::from(threshold) {
        return Err(CryptoError::Shamir(format!(
            "{} distinct shares given but the threshold is {threshold}; provide {} more",
            parsed.len(),
            usize::from(threshold) - parsed.len()
        )));
    }
    let secret = Sharks(threshold)
        .recover(&parsed)
        .map_err(|e| CryptoError::Shamir(format!("recovery failed ({e})")))?;
    Ok(Zeroizing::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &[Zeroizing<Vec<u8>>]) -> Vec<&[u8]> {
        v.iter().map(|s| s.as_slice()).collect()
    }

    #[test]
    fn split_shape() {
        let shares = split(b"0123456789abcdef", 5, 3).unwrap();
        assert_eq!(shares.len(), 5);
        for (i, s) in shares.iter().enumerate() {
            assert_eq!(s.len(), 17);
            assert_eq!(usize::from(s[0]), i + 1);
        }
        assert_eq!(
            &combine(&refs(&shares[2..]), 3).unwrap()[..],
            b"0123456789abcdef"
        );
    }

    #[test]
    fn split_accepts_edge_parameters() {
        let one = split(b"k", 1, 1).unwrap();
        assert_eq!(&combine(&refs(&one), 1).unwrap()[..], b"k");
        let many = split(b"k", 255, 255).unwrap();
        assert_eq!(many.len(), 255);
        assert_eq!(&combine(&refs(&many), 255).unwrap()[..], b"k");
        let t1 = split(b"key", 4, 1).unwrap();
        for s in &t1 {
            assert_eq!(&combine(&[s.as_slice()], 1).unwrap()[..], b"key");
        }
    }

    #[test]
    fn split_rejects_bad_parameters() {
        assert!(matches!(split(b"", 3, 2), Err(CryptoError::Shamir(_))));
        assert!(matches!(split(b"k", 3, 0), Err(CryptoError::Shamir(_))));
        assert!(matches!(split(b"k", 2, 3), Err(CryptoError::Shamir(_))));
        assert!(matches!(split(b"k", 0, 0), Err(CryptoError::Shamir(_))));
    }

    #[test]
    fn combine_rejects_bad_shares_with_clear_messages() {
        let shares = split(b"secret", 5, 3).unwrap();
        let r = refs(&shares);
        let msg = |res: Result<Zeroizing<Vec<u8>>, CryptoError>| match res {
            Err(CryptoError::Shamir(m)) => m,
            other => panic!("expected Shamir error, got {other:?}"),
        };

        assert!(msg(combine(&[], 3)).contains("no shares"));
        assert!(msg(combine(&r[..2], 3)).contains("threshold is 3"));
        assert!(msg(combine(&[r[0], r[1], r[0]], 3)).contains("same as an earlier share"));
        let short = &r[2][..4];
        assert!(msg(combine(&[r[0], r[1], short], 3)).contains("same length"));
        let mut zero = r[2].to_vec();
        zero[0] = 0;
        assert!(msg(combine(&[r[0], r[1], &zero], 3)).contains("index 0"));
        assert!(msg(combine(&[&[1u8][..]], 1)).contains("at least 2 bytes"));
        assert!(msg(combine(&r[..3], 0)).contains("threshold 0"));
    }

    #[test]
    fn more_than_threshold_shares_work() {
        let shares = split(b"secret", 5, 3).unwrap();
        assert_eq!(&combine(&refs(&shares), 3).unwrap()[..], b"secret");
    }
}
