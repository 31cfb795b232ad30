//! Initialization, seal and unseal: the root key, the keyring and the key shares.
//!
//! Layout outside the barrier (all of it useless without the seal's key):
//! - `core/seal-config`: the seal type, share counts, and salted digests of the shares, so that a
//!   share from another initialization is refused as soon as it is entered instead of after the
//!   threshold is reached.
//! - `core/root-key`: the root key, wrapped by the key-encryption key (KEK). With the Shamir seal
//!   the KEK is what the shares reconstruct; with the static seal it is the configured key.
//! - `core/keyring`: the barrier keyring, sealed by the root key.

use hush_crypto::seal::{self as cseal, StaticSeal, WrappedKey};
use hush_crypto::{aead, hash, shamir, Keyring, SecretKey};
use hush_storage::Backend;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{CoreError, Result};

/// Storage key of the seal configuration.
pub const SEAL_CONFIG_PATH: &str = "core/seal-config";
/// Storage key of the wrapped root key.
pub const ROOT_KEY_PATH: &str = "core/root-key";
/// Storage key of the keyring sealed by the root key.
pub const KEYRING_PATH: &str = "core/keyring";

/// What `core/seal-config` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealConfig {
    /// "shamir" or "static".
    #[serde(rename = "type")]
    pub kind: String,
    /// Number of unseal key shares (Shamir) — 0 for the static seal.
    pub secret_shares: u8,
    /// Shares needed to unseal.
    pub secret_threshold: u8,
    /// Salt of `share_digests`, hex.
    #[serde(default)]
    pub share_salt: String,
    /// HMAC-SHA256(salt, share) of every share, hex.
    #[serde(default)]
    pub share_digests: Vec<String>,
    /// Recovery shares (static seal).
    #[serde(default)]
    pub recovery_shares: u8,
    /// Recovery threshold (static seal).
    #[serde(default)]
    pub recovery_threshold: u8,
    /// Salt of `recovery_digests`, hex.
    #[serde(default)]
    pub recovery_salt: String,
    /// HMAC-SHA256(salt, share) of every recovery share, hex.
    #[serde(default)]
    pub recovery_digests: Vec<String>,
}

impl SealConfig {
    /// Whether `share` is one of the current unseal shares, or (`recovery`) recovery shares.
    pub fn knows_share(&self, share: &[u8], recovery: bool) -> bool {
        if recovery {
            recovery_share_is_known(self, share)
        } else {
            share_is_known(self, share)
        }
    }

    /// How many unseal shares, or (`recovery`) recovery shares, a quorum is.
    pub fn threshold(&self, recovery: bool) -> u8 {
        if recovery {
            self.recovery_threshold
        } else {
            self.secret_threshold
        }
    }
}

/// What `sys/init` is asked for, after validation.
#[derive(Debug, Clone, Copy)]
pub struct InitParams {
    /// Unseal key shares (Shamir seal).
    pub secret_shares: u8,
    /// Unseal threshold.
    pub secret_threshold: u8,
    /// Recovery key shares (static seal).
    pub recovery_shares: u8,
    /// Recovery threshold.
    pub recovery_threshold: u8,
}

/// The outcome of an initialization.
pub struct InitOutput {
    /// Unseal key shares (empty with the static seal).
    pub keys: Vec<Zeroizing<Vec<u8>>>,
    /// Recovery key shares (static seal only).
    pub recovery_keys: Vec<Zeroizing<Vec<u8>>>,
    /// The unsealed root key and keyring, to bring the barrier up immediately.
    pub root_key: SecretKey,
    /// The new keyring.
    pub keyring: Keyring,
}

fn digests(salt: &[u8], shares: &[Zeroizing<Vec<u8>>]) -> Vec<String> {
    shares
        .iter()
        .map(|s| hex::encode(hash::hmac_sha256(salt, s)))
        .collect()
}

/// Key shares, and what the seal configuration keeps of them.
struct SplitShares {
    shares: Vec<Zeroizing<Vec<u8>>>,
    /// A fresh salt, hex.
    salt: String,
    /// The salted digests of the shares, hex.
    digests: Vec<String>,
}

/// `secret` split into `n` Shamir shares, `t` needed.
fn split_with_digests(secret: &SecretKey, n: u8, t: u8) -> Result<SplitShares> {
    let shares = shamir::split(secret.as_bytes(), n, t)?;
    let salt = hush_crypto::random_bytes(32)?;
    let digests = digests(&salt, &shares);
    Ok(SplitShares {
        shares,
        salt: hex::encode(&salt),
        digests,
    })
}

/// Reads the seal configuration, if the server was initialized.
pub async fn read_seal_config(storage: &dyn Backend) -> Result<Option<SealConfig>> {
    match storage.get(SEAL_CONFIG_PATH).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            CoreError::Internal(format!(
                "the stored seal configuration ({SEAL_CONFIG_PATH}) is corrupt: {e}"
            ))
        }),
    }
}

/// Creates the root key and keyring, protects them with the seal and writes everything in one
/// transaction, so that a crash leaves the server either uninitialized or fully initialized.
pub async fn initialize(
    storage: &dyn Backend,
    static_seal: Option<&StaticSeal>,
    params: InitParams,
    now_unix: i64,
) -> Result<InitOutput> {
    let root_key = SecretKey::generate()?;
    let keyring = Keyring::generate(now_unix)?;
    let sealed_keyring = aead::seal(&root_key, &keyring.to_bytes(), KEYRING_PATH.as_bytes())?;

    let (config, wrapped, keys, recovery_keys) = match static_seal {
        None => {
            let kek = SecretKey::generate()?;
            let SplitShares {
                shares,
                salt: share_salt,
                digests: share_digests,
            } = split_with_digests(&kek, params.secret_shares, params.secret_threshold)?;
            let config = SealConfig {
                kind: "shamir".into(),
                secret_shares: params.secret_shares,
                secret_threshold: params.secret_threshold,
                share_salt,
                share_digests,
                recovery_shares: 0,
                recovery_threshold: 0,
                recovery_salt: String::new(),
                recovery_digests: Vec::new(),
            };
            let wrapped = cseal::wrap(&kek, "shamir", &root_key, ROOT_KEY_PATH.as_bytes())?;
            (config, wrapped, shares, Vec::new())
        }
        Some(seal) => {
            // Recovery keys authorize operations that need a quorum of people; they cannot
            // unseal. Only their digests are kept.
            let recovery_key = SecretKey::generate()?;
            let SplitShares {
                shares,
                salt: recovery_salt,
                digests: recovery_digests,
            } = split_with_digests(
                &recovery_key,
                params.recovery_shares,
                params.recovery_threshold,
            )?;
            let config = SealConfig {
                kind: "static".into(),
                secret_shares: 1,
                secret_threshold: 1,
                share_salt: String::new(),
                share_digests: Vec::new(),
                recovery_shares: params.recovery_shares,
                recovery_threshold: params.recovery_threshold,
                recovery_salt,
                recovery_digests,
            };
            let wrapped = seal.wrap(&root_key, ROOT_KEY_PATH.as_bytes())?;
            (config, wrapped, Vec::new(), shares)
        }
    };

    let ops = vec![
        hush_storage::Op::Put {
            key: SEAL_CONFIG_PATH.into(),
            value: json_bytes(&config)?,
        },
        hush_storage::Op::Put {
            key: ROOT_KEY_PATH.into(),
            value: json_bytes(&wrapped)?,
        },
        hush_storage::Op::Put {
            key: KEYRING_PATH.into(),
            value: sealed_keyring,
        },
    ];
    storage.transaction(ops).await?;
    Ok(InitOutput {
        keys,
        recovery_keys,
        root_key,
        keyring,
    })
}

fn json_bytes<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| CoreError::Internal(e.to_string()))
}

/// Decodes an unseal key as clients send it: hex (what `keys` holds) or base64 (`keys_base64`).
pub fn decode_share(text: &str, expected_len: usize) -> Result<Zeroizing<Vec<u8>>> {
    use base64::Engine as _;
    let text = text.trim();
    let decoded = if text.len() == expected_len * 2 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()
            .or_else(|| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(text)
                    .ok()
            })
    };
    match decoded {
        Some(bytes) if bytes.len() == expected_len => Ok(Zeroizing::new(bytes)),
        Some(bytes) => Err(CoreError::bad(format!(
            "the unseal key is {} bytes long, but this server's keys are {expected_len} bytes: \
             check that you copied the whole key",
            bytes.len()
        ))),
        None => Err(CoreError::bad(
            "the unseal key is neither hex nor base64: pass one of the keys printed by `hush init` \
             (`keys` or `keys_base64`)",
        )),
    }
}

/// Checks that a share is one of this initialization's, in constant time per digest.
pub fn share_is_known(config: &SealConfig, share: &[u8]) -> bool {
    digest_is_known(&config.share_salt, &config.share_digests, share)
}

/// Checks that a share is one of the current recovery shares.
pub fn recovery_share_is_known(config: &SealConfig, share: &[u8]) -> bool {
    digest_is_known(&config.recovery_salt, &config.recovery_digests, share)
}

fn digest_is_known(salt: &str, digests: &[String], share: &[u8]) -> bool {
    let Ok(salt) = hex::decode(salt) else {
        return false;
    };
    let digest = hash::hmac_sha256(&salt, share);
    let mut found = false;
    for d in digests {
        if let Ok(stored) = hex::decode(d) {
            // No early exit: the time taken must not depend on which share matched.
            found |= hash::ct_eq(&stored, &digest);
        }
    }
    found
}

/// Replaces the key shares: the unseal shares of the Shamir seal, or (`recovery`) the recovery
/// shares of the static seal. `shares`, a threshold of the current ones, must combine: for the
/// Shamir seal into the key-encryption key that opens the root key, which is then wrapped again
/// with a new one split into `new_shares` shares, `new_threshold` needed; the seal configuration
/// and the wrapped root key are written in one transaction, so after a crash either the old or
/// the new shares unseal, never neither. Recovery shares only authorize, so a new recovery key
/// is split and the configuration's digests replaced. Returns the new configuration and shares.
pub async fn rekey(
    storage: &dyn Backend,
    config: &SealConfig,
    shares: &[Zeroizing<Vec<u8>>],
    recovery: bool,
    new_shares: u8,
    new_threshold: u8,
) -> Result<(SealConfig, Vec<Zeroizing<Vec<u8>>>)> {
    let refs: Vec<&[u8]> = shares.iter().map(|s| s.as_slice()).collect();
    let secret = shamir::combine(&refs, config.threshold(recovery))?;
    let new_secret = SecretKey::generate()?;
    let SplitShares {
        shares: split,
        salt,
        digests,
    } = split_with_digests(&new_secret, new_shares, new_threshold)?;
    if recovery {
        let new_config = SealConfig {
            recovery_shares: new_shares,
            recovery_threshold: new_threshold,
            recovery_salt: salt,
            recovery_digests: digests,
            ..config.clone()
        };
        storage
            .put(SEAL_CONFIG_PATH, json_bytes(&new_config)?)
            .await?;
        return Ok((new_config, split));
    }
    let root_key = open_root_key(storage, &secret).await?.ok_or_else(|| {
        CoreError::bad(
            "the key shares combine to a key that does not open this server's root key: at \
             least one share is corrupt; the rekey was cancelled, start it again",
        )
    })?;
    let new_config = SealConfig {
        secret_shares: new_shares,
        secret_threshold: new_threshold,
        share_salt: salt,
        share_digests: digests,
        ..config.clone()
    };
    let rewrapped = cseal::wrap(&new_secret, "shamir", &root_key, ROOT_KEY_PATH.as_bytes())?;
    storage
        .transaction(vec![
            hush_storage::Op::Put {
                key: SEAL_CONFIG_PATH.into(),
                value: json_bytes(&new_config)?,
            },
            hush_storage::Op::Put {
                key: ROOT_KEY_PATH.into(),
                value: json_bytes(&rewrapped)?,
            },
        ])
        .await?;
    Ok((new_config, split))
}

/// The root key, opened with the key-encryption key the Shamir shares combined into; `None` if
/// that key does not open it (a corrupt share).
pub async fn open_root_key(storage: &dyn Backend, kek_bytes: &[u8]) -> Result<Option<SecretKey>> {
    let kek = SecretKey::from_slice(kek_bytes)?;
    let wrapped = read_wrapped_root_key(storage).await?;
    Ok(cseal::unwrap(&kek, &wrapped, ROOT_KEY_PATH.as_bytes()).ok())
}

/// Recovers the root key with a key-encryption key (from the shares or the static seal).
pub async fn read_wrapped_root_key(storage: &dyn Backend) -> Result<WrappedKey> {
    let bytes = storage.get(ROOT_KEY_PATH).await?.ok_or_else(|| {
        CoreError::Internal(format!(
            "the sealed root key ({ROOT_KEY_PATH}) is missing from storage although the server is \
             initialized: the storage was damaged or tampered with"
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        CoreError::Internal(format!(
            "the sealed root key ({ROOT_KEY_PATH}) is corrupt: {e}"
        ))
    })
}

/// Opens the keyring with the root key.
pub async fn read_keyring(storage: &dyn Backend, root_key: &SecretKey) -> Result<Keyring> {
    let blob = storage.get(KEYRING_PATH).await?.ok_or_else(|| {
        CoreError::Internal(format!(
            "the keyring ({KEYRING_PATH}) is missing from storage: the storage was damaged or \
             tampered with"
        ))
    })?;
    let bytes = aead::open(root_key, &blob, KEYRING_PATH.as_bytes())?;
    Ok(Keyring::from_bytes(&bytes)?)
}

/// Seals the keyring with the root key and writes it (after a rotation, or to save counters).
pub async fn write_keyring(
    storage: &dyn Backend,
    root_key: &SecretKey,
    keyring_bytes: &[u8],
) -> Result<()> {
    let blob = aead::seal(root_key, keyring_bytes, KEYRING_PATH.as_bytes())?;
    storage.put(KEYRING_PATH, blob).await?;
    Ok(())
}
