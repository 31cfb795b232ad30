//! Property tests for Shamir split/combine.

use hush_crypto::shamir::{combine, split};
use proptest::prelude::*;
use proptest::sample::{subsequence, Index};

/// (secret, shares n, threshold t, a shuffled t-subset of share positions, which share of the
/// subset to corrupt, which y byte to corrupt, the xor mask).
fn case() -> impl Strategy<Value = (Vec<u8>, u8, u8, Vec<usize>, Index, Index, u8)> {
    (1u8..=10)
        .prop_flat_map(|n| (Just(n), 1u8..=n))
        .prop_flat_map(|(n, t)| {
            (
                proptest::collection::vec(any::<u8>(), 1..=64),
                Just(n),
                Just(t),
                subsequence((0..usize::from(n)).collect::<Vec<_>>(), usize::from(t)).prop_shuffle(),
                any::<Index>(),
                any::<Index>(),
                1u8..=255,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_threshold_subset_reconstructs((secret, n, t, subset, _, _, _) in case()) {
        let shares = split(&secret, n, t).unwrap();
        prop_assert_eq!(shares.len(), usize::from(n));
        for (i, s) in shares.iter().enumerate() {
            prop_assert_eq!(s.len(), secret.len() + 1);
            prop_assert_eq!(usize::from(s[0]), i + 1);
        }
        let chosen: Vec<&[u8]> = subset.iter().map(|&i| shares[i].as_slice()).collect();
        let recovered = combine(&chosen, t).unwrap();
        prop_assert_eq!(&recovered[..], &secret[..]);
    }

    #[test]
    fn fewer_than_threshold_shares_do_not_yield_secret((secret, n, t, subset, _, _, _) in case()) {
        prop_assume!(t > 1);
        let shares = split(&secret, n, t).unwrap();
        let chosen: Vec<&[u8]> = subset[..usize::from(t) - 1]
            .iter()
            .map(|&i| shares[i].as_slice())
            .collect();
        prop_assert!(combine(&chosen, t).is_err());
        // Interpolating the t-1 points anyway gives an unrelated value. For short secrets a
        // chance collision (2^-8 per byte) is possible, so only assert it for 16+ bytes.
        if secret.len() >= 16 {
            let guess = combine(&chosen, t - 1).unwrap();
            prop_assert_ne!(&guess[..], &secret[..]);
        }
    }

    #[test]
    fn one_corrupted_y_byte_does_not_yield_secret((secret, n, t, subset, which, byte, mask) in case()) {
        let shares = split(&secret, n, t).unwrap();
        let mut chosen: Vec<Vec<u8>> = subset.iter().map(|&i| shares[i].to_vec()).collect();
        let victim = which.index(chosen.len());
        // Skip index 0 (the x coordinate): only y bytes are corrupted.
        let pos = 1 + byte.index(secret.len());
        chosen[victim][pos] ^= mask;
        let refs: Vec<&[u8]> = chosen.iter().map(|s| s.as_slice()).collect();
        // A y-byte change is structurally invisible, so combine succeeds; every Lagrange
        // coefficient at x = 0 is non-zero, so the matching secret byte always changes.
        let recovered = combine(&refs, t).unwrap();
        prop_assert_ne!(&recovered[..], &secret[..]);
    }
}
