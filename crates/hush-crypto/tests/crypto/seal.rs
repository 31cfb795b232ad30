//! Seal wrap/unwrap, the static seal and key-material parsing.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use hush_crypto::seal::{parse_key_material, unwrap, wrap, StaticSeal, WrappedKey};
use hush_crypto::{CryptoError, SecretKey};

#[test]
fn wrap_unwrap_round_trip() {
    let kek = SecretKey::generate().unwrap();
    let root = SecretKey::generate().unwrap();
    let w = wrap(&kek, "shamir", &root, b"core/seal").unwrap();
    assert_eq!(w.key_id, "shamir");
    assert_eq!(w.ciphertext.len(), hush_crypto::seal::WRAPPED_KEY_LEN);
    assert_eq!(unwrap(&kek, &w, b"core/seal").unwrap(), root);
}

#[test]
fn wrong_kek_is_wrong_key_error() {
    let kek = SecretKey::generate().unwrap();
    let other = SecretKey::generate().unwrap();
    let root = SecretKey::generate().unwrap();
    let w = wrap(&kek, "k", &root, b"").unwrap();
    let err = unwrap(&other, &w, b"").unwrap_err();
    assert!(matches!(err, CryptoError::WrongKey));
    assert!(err
        .to_string()
        .contains("the key does not open the sealed root key"));
}

#[test]
fn wrong_aad_or_tampered_ciphertext_is_wrong_key() {
    let kek = SecretKey::generate().unwrap();
    let root = SecretKey::generate().unwrap();
    let w = wrap(&kek, "k", &root, b"cluster-1").unwrap();
    assert!(matches!(
        unwrap(&kek, &w, b"cluster-2"),
        Err(CryptoError::WrongKey)
    ));
    let mut bad = w.clone();
    bad.ciphertext[20] ^= 1;
    assert!(matches!(
        unwrap(&kek, &bad, b"cluster-1"),
        Err(CryptoError::WrongKey)
    ));
}

#[test]
fn wrapped_key_json_uses_base64() {
    let kek = SecretKey::generate().unwrap();
    let root = SecretKey::generate().unwrap();
    let w = wrap(&kek, "k1", &root, b"").unwrap();
    let json = serde_json::to_value(&w).unwrap();
    assert_eq!(json["key_id"], "k1");
    let text = json["ciphertext"].as_str().unwrap();
    assert_eq!(STANDARD.decode(text).unwrap(), w.ciphertext);

    let back: WrappedKey = serde_json::from_value(json).unwrap();
    assert_eq!(back, w);
    assert_eq!(unwrap(&kek, &back, b"").unwrap(), root);

    let bad = serde_json::json!({"key_id": "k1", "ciphertext": "not base64 !"});
    assert!(serde_json::from_value::<WrappedKey>(bad).is_err());
}

#[test]
fn static_seal_uses_current_and_falls_back_to_previous_by_id() {
    let old_key = SecretKey::generate().unwrap();
    let new_key = SecretKey::generate().unwrap();
    let root = SecretKey::generate().unwrap();

    let old_seal = StaticSeal::new("2024".to_string(), old_key.clone(), None);
    let old_blob = old_seal.wrap(&root, b"aad").unwrap();
    assert_eq!(old_blob.key_id, "2024");

    let rotated = StaticSeal::new(
        "2025".to_string(),
        new_key,
        Some(("2024".to_string(), old_key)),
    );
    assert_eq!(rotated.current_key_id(), "2025");
    assert_eq!(rotated.previous_key_id(), Some("2024"));
    assert_eq!(rotated.unwrap(&old_blob, b"aad").unwrap(), root);

    let new_blob = rotated.wrap(&root, b"aad").unwrap();
    assert_eq!(new_blob.key_id, "2025");
    assert_eq!(rotated.unwrap(&new_blob, b"aad").unwrap(), root);
}

#[test]
fn static_seal_unknown_id_names_stored_and_configured_ids() {
    let seal_a = StaticSeal::new("a".to_string(), SecretKey::generate().unwrap(), None);
    let blob = seal_a.wrap(&SecretKey::generate().unwrap(), b"").unwrap();
    let seal_b = StaticSeal::new(
        "b".to_string(),
        SecretKey::generate().unwrap(),
        Some(("c".to_string(), SecretKey::generate().unwrap())),
    );
    let err = seal_b.unwrap(&blob, b"").unwrap_err();
    match &err {
        CryptoError::UnknownKeyId { stored, configured } => {
            assert_eq!(stored, "a");
            assert_eq!(configured, &vec!["b".to_string(), "c".to_string()]);
        }
        other => panic!("expected UnknownKeyId, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("\"a\"") && msg.contains("\"b\"") && msg.contains("\"c\""),
        "{msg}"
    );
}

#[test]
fn static_seal_matching_id_with_wrong_key_is_wrong_key() {
    let blob = StaticSeal::new("same".to_string(), SecretKey::generate().unwrap(), None)
        .wrap(&SecretKey::generate().unwrap(), b"")
        .unwrap();
    let imposter = StaticSeal::new("same".to_string(), SecretKey::generate().unwrap(), None);
    assert!(matches!(
        imposter.unwrap(&blob, b""),
        Err(CryptoError::WrongKey)
    ));
}

#[test]
fn parse_raw_hex_and_base64() {
    let bytes: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(0x0A));
    let expected = SecretKey::from_slice(&bytes).unwrap();

    // Raw bytes are taken as-is even if they contain whitespace at the edges (0x0A is '\n').
    assert_eq!(bytes[0], b'\n');
    assert_eq!(parse_key_material(&bytes).unwrap(), expected);

    let hex_lower = hex::encode(bytes);
    let hex_upper = hex_lower.to_uppercase();
    assert_eq!(parse_key_material(hex_lower.as_bytes()).unwrap(), expected);
    assert_eq!(parse_key_material(hex_upper.as_bytes()).unwrap(), expected);
    assert_eq!(
        parse_key_material(format!("  {hex_lower}\n").as_bytes()).unwrap(),
        expected
    );

    let b64 = STANDARD.encode(bytes);
    let b64_nopad = STANDARD_NO_PAD.encode(bytes);
    assert_eq!(b64.len(), 44);
    assert_eq!(b64_nopad.len(), 43);
    assert_eq!(parse_key_material(b64.as_bytes()).unwrap(), expected);
    assert_eq!(parse_key_material(b64_nopad.as_bytes()).unwrap(), expected);
    assert_eq!(
        parse_key_material(format!("{b64}\r\n").as_bytes()).unwrap(),
        expected
    );
}

#[test]
fn parse_rejects_garbage_without_echoing_it() {
    let secretish = "correct-horse-battery-staple";
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![1u8; 31],
        vec![1u8; 33],
        secretish.as_bytes().to_vec(),
        "zz".repeat(32).into_bytes(),            // 64 chars, not hex
        hex::encode([9u8; 31]).into_bytes(),     // hex of 31 bytes
        STANDARD.encode([9u8; 31]).into_bytes(), // base64 of 31 bytes
        STANDARD.encode([9u8; 33]).into_bytes(), // base64 of 33 bytes
        "!".repeat(44).into_bytes(),             // 44 chars, not base64
        format!("{}-_", STANDARD_NO_PAD.encode([0xFBu8; 31])).into_bytes(), // url-safe chars
    ];
    for c in cases {
        match parse_key_material(&c) {
            Err(CryptoError::InvalidKey(msg)) => {
                assert!(msg.contains("32 raw bytes"), "{msg}");
                assert!(msg.contains("64 hexadecimal"), "{msg}");
                assert!(msg.contains("base64"), "{msg}");
                assert!(!msg.contains(secretish));
                if let Ok(text) = std::str::from_utf8(&c) {
                    if text.len() > 4 {
                        assert!(!msg.contains(text), "material echoed in {msg}");
                    }
                }
            }
            other => panic!("{} bytes: expected InvalidKey, got {other:?}", c.len()),
        }
    }
}
