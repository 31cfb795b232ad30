//! Barrier behaviour: round trips, tamper and truncation detection, path binding, rotation and
//! keyring persistence.

use std::sync::Arc;

use hush_crypto::{Barrier, CryptoError, Keyring, TermInfo, BARRIER_OVERHEAD};
use proptest::prelude::*;

fn barrier(limit: u64) -> Barrier {
    Barrier::new(Keyring::generate(1_700_000_000).unwrap(), limit)
}

fn assert_integrity(res: Result<zeroize::Zeroizing<Vec<u8>>, CryptoError>, path: &str, what: &str) {
    match res {
        Err(CryptoError::Integrity { path: p }) => assert_eq!(p, path, "{what}"),
        Err(other) => panic!("{what}: expected Integrity, got {other:?}"),
        Ok(_) => panic!("{what}: tampered blob was accepted"),
    }
}

#[test]
fn round_trip_various_sizes() {
    let b = barrier(1000);
    for len in [0usize, 1, 15, 16, 17, 1000, 65_536] {
        let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let blob = b.encrypt("logical/abc/secret", &plain).unwrap();
        assert_eq!(blob.len(), plain.len() + BARRIER_OVERHEAD);
        if len >= 16 {
            assert!(
                !blob.windows(16).any(|w| w == &plain[..16]),
                "plaintext visible in blob"
            );
        }
        assert_eq!(
            &b.decrypt("logical/abc/secret", &blob).unwrap()[..],
            &plain[..]
        );
    }
}

#[test]
fn integrity_error_message_names_path_and_cause() {
    let b = barrier(1000);
    let mut blob = b.encrypt("core/mounts", b"v").unwrap();
    let last = blob.len() - 1;
    blob[last] ^= 1;
    let msg = b.decrypt("core/mounts", &blob).unwrap_err().to_string();
    assert!(msg.contains("integrity check failed for stored value at \"core/mounts\""));
    assert!(msg.contains("modified, truncated or moved from another path"));
}

#[test]
fn flipping_any_byte_is_detected() {
    let mut ring = Keyring::generate(0).unwrap();
    // Terms 1..=3 exist, so some flips of the term bytes land on a real term (must be Integrity)
    // and others on a missing one (must be UnknownTerm naming it).
    ring.rotate(1).unwrap();
    ring.rotate(2).unwrap();
    let b = Barrier::new(ring, 1000);
    let blob = b.encrypt("sys/policy/default", b"small value").unwrap();
    assert_eq!(&blob[..4], &3u32.to_be_bytes());

    for pos in 0..blob.len() {
        for mask in [0x01u8, 0x02, 0x80, 0xFF] {
            let mut bad = blob.clone();
            bad[pos] ^= mask;
            let what = format!("flip {mask:#04x} at byte {pos}");
            let res = b.decrypt("sys/policy/default", &bad);
            if pos < 4 {
                let term = u32::from_be_bytes([bad[0], bad[1], bad[2], bad[3]]);
                if (1..=3).contains(&term) {
                    assert_integrity(res, "sys/policy/default", &what);
                } else {
                    match res {
                        Err(CryptoError::UnknownTerm { path, term: t }) => {
                            assert_eq!(path, "sys/policy/default");
                            assert_eq!(t, term, "{what}");
                        }
                        other => panic!("{what}: expected UnknownTerm, got {other:?}"),
                    }
                }
            } else {
                assert_integrity(res, "sys/policy/default", &what);
            }
        }
    }
}

#[test]
fn truncation_at_every_length_is_integrity() {
    let b = barrier(1000);
    let blob = b.encrypt("a", b"some value").unwrap();
    for len in 0..blob.len() {
        assert_integrity(
            b.decrypt("a", &blob[..len]),
            "a",
            &format!("truncated to {len}"),
        );
    }
    let mut longer = blob.clone();
    longer.push(0);
    assert_integrity(b.decrypt("a", &longer), "a", "extended by one byte");
}

#[test]
fn value_moved_to_another_path_is_integrity() {
    let b = barrier(1000);
    let blob = b.encrypt("a", b"value").unwrap();
    assert_integrity(b.decrypt("b", &blob), "b", "moved from a to b");
    assert_integrity(b.decrypt("a/", &blob), "a/", "moved from a to a/");
    assert_integrity(b.decrypt("", &blob), "", "moved from a to the empty path");
    assert_eq!(&b.decrypt("a", &blob).unwrap()[..], b"value");
}

#[test]
fn rotation_keeps_old_values_readable_and_switches_new_writes() {
    let b = barrier(1000);
    let old = b.encrypt("x", b"written under term 1").unwrap();
    assert_eq!(&old[..4], &1u32.to_be_bytes());

    let info = b.rotate(1_800_000_000).unwrap();
    assert_eq!(
        info,
        TermInfo {
            term: 2,
            install_time_unix: 1_800_000_000,
            encryptions: 0
        }
    );
    let new = b.encrypt("y", b"written under term 2").unwrap();
    assert_eq!(&new[..4], &2u32.to_be_bytes());

    assert_eq!(&b.decrypt("x", &old).unwrap()[..], b"written under term 1");
    assert_eq!(&b.decrypt("y", &new).unwrap()[..], b"written under term 2");
    assert_eq!(b.key_status().term, 2);
    assert_eq!(b.key_status().encryptions, 1);
    let terms: Vec<(u32, u64)> = b.terms().iter().map(|t| (t.term, t.encryptions)).collect();
    assert_eq!(terms, vec![(1, 1), (2, 1)]);
}

#[test]
fn rotation_due_after_limit_and_reset_by_rotation() {
    let b = barrier(3);
    assert!(!b.rotation_due());
    for i in 1..=3u64 {
        b.encrypt("p", b"v").unwrap();
        assert_eq!(b.key_status().encryptions, i);
        assert_eq!(b.rotation_due(), i >= 3, "after {i} encryptions");
    }
    b.rotate(10).unwrap();
    assert!(!b.rotation_due());
    assert_eq!(b.key_status().encryptions, 0);
}

#[test]
fn decryption_does_not_count() {
    let b = barrier(1);
    let blob = b.encrypt("p", b"v").unwrap();
    b.rotate(5).unwrap();
    for _ in 0..5 {
        b.decrypt("p", &blob).unwrap();
    }
    assert!(!b.rotation_due());
}

#[test]
fn concurrent_encryptions_are_all_counted() {
    let b = Arc::new(barrier(u64::MAX));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let b = Arc::clone(&b);
            std::thread::spawn(move || {
                for i in 0..250 {
                    let path = format!("t{t}/{i}");
                    let blob = b.encrypt(&path, path.as_bytes()).unwrap();
                    assert_eq!(&b.decrypt(&path, &blob).unwrap()[..], path.as_bytes());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(b.key_status().encryptions, 1000);
}

#[test]
fn keyring_round_trip_preserves_terms_times_counts_and_keys() {
    let b = barrier(1000);
    let v1 = b.encrypt("a", b"one").unwrap();
    b.encrypt("a", b"one again").unwrap();
    b.rotate(1_750_000_000).unwrap();
    let v2 = b.encrypt("b", b"two").unwrap();

    let bytes = b.keyring_bytes();
    let restored = Keyring::from_bytes(&bytes).unwrap();
    assert_eq!(restored.active_term(), 2);
    assert_eq!(restored.terms(), b.terms());
    assert_eq!(
        restored.term_info(1),
        Some(TermInfo {
            term: 1,
            install_time_unix: 1_700_000_000,
            encryptions: 2
        })
    );
    assert_eq!(restored.term_info(2).unwrap().encryptions, 1);
    assert_eq!(&restored.to_bytes()[..], &bytes[..]);

    let b2 = Barrier::new(restored, 1000);
    assert_eq!(&b2.decrypt("a", &v1).unwrap()[..], b"one");
    assert_eq!(&b2.decrypt("b", &v2).unwrap()[..], b"two");
    // Counting continues from the persisted value.
    b2.encrypt("c", b"three").unwrap();
    assert_eq!(b2.key_status().encryptions, 2);
}

#[test]
fn keyring_from_garbage_is_an_error() {
    let samples: Vec<Vec<u8>> = vec![
        vec![],
        b"not a keyring".to_vec(),
        vec![0u8; 13],
        vec![0xFF; 65],
        b"HKRG".to_vec(),
        [b"HKRG".as_slice(), &[1, 0, 0, 0, 1, 0, 0, 0, 1]].concat(),
        serde_json::to_vec(&serde_json::json!({"keys": [1, 2, 3]})).unwrap(),
    ];
    for s in samples {
        match Keyring::from_bytes(&s) {
            Err(CryptoError::Malformed(msg)) => assert!(msg.contains("keyring"), "{msg}"),
            other => panic!(
                "garbage of {} bytes: expected Malformed, got {other:?}",
                s.len()
            ),
        }
    }
}

proptest! {
    #[test]
    fn keyring_from_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Keyring::from_bytes(&bytes);
    }

    #[test]
    fn keyring_from_corrupted_valid_bytes_never_panics(pos in any::<proptest::sample::Index>(), mask in 1u8..=255) {
        let mut ring = Keyring::generate(3).unwrap();
        ring.rotate(4).unwrap();
        let mut bytes = ring.to_bytes().to_vec();
        let i = pos.index(bytes.len());
        bytes[i] ^= mask;
        // Key bytes and counters carry no redundancy, so corruption there parses; the point is
        // that structural corruption is an error and nothing panics.
        let _ = Keyring::from_bytes(&bytes);
    }

    #[test]
    fn barrier_decrypt_of_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let b = barrier(10);
        prop_assert!(b.decrypt("p", &bytes).is_err());
    }
}
