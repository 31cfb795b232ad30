//! The single error type of the crate.

/// Everything that can go wrong in `hush-crypto`.
///
/// Messages never contain secret material (keys, plaintexts, shares); at most they carry lengths,
/// storage paths, term numbers and key ids, which are not secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A barrier blob failed authentication: it was edited, truncated or copied from another path.
    #[error(
        "integrity check failed for stored value at \"{path}\": the value was modified, truncated \
         or moved from another path; restore it from a backup or delete it"
    )]
    Integrity {
        /// The storage path the value was read from.
        path: String,
    },

    /// A barrier blob names a key term the keyring does not hold.
    #[error(
        "stored value at \"{path}\" is encrypted under key term {term}, which this keyring does not \
         contain: the value was written with a newer keyring (restore the matching keyring) or its \
         header was tampered with"
    )]
    UnknownTerm {
        /// The storage path the value was read from.
        path: String,
        /// The term number found in the blob header.
        term: u32,
    },

    /// Key bytes have the wrong length or encoding. The message says what is accepted.
    #[error("invalid key: {0}")]
    InvalidKey(String),

    /// Shamir split or combine was given unusable parameters or shares.
    #[error("secret sharing failed: {0}")]
    Shamir(String),

    /// Serialized data (keyring, sealed blob) could not be parsed.
    #[error("malformed data: {0}")]
    Malformed(String),

    /// AEAD decryption without a storage path failed: wrong key, wrong associated data or
    /// modified ciphertext.
    #[error(
        "decryption failed: the data was modified or truncated, or it was sealed with a different \
         key or different associated data; check that the right key is used"
    )]
    Decrypt,

    /// AEAD encryption was refused by the cipher implementation (in practice: input too large).
    #[error(
        "encryption failed: AES-256-GCM refused the input ({len} bytes); split the value into \
         smaller pieces"
    )]
    Encrypt {
        /// Length of the plaintext that was refused.
        len: usize,
    },

    /// A key-encryption key does not open a wrapped key.
    #[error(
        "the key does not open the sealed root key: it belongs to another initialization or is \
         corrupt; configure the key that was used when the data was sealed"
    )]
    WrongKey,

    /// A wrapped key names a key-encryption key id that is not configured.
    #[error(
        "the sealed root key was wrapped with seal key id \"{stored}\", but the configured seal key \
         ids are {configured:?}; configure the key with id \"{stored}\" as the current or previous \
         seal key"
    )]
    UnknownKeyId {
        /// The key id recorded in the wrapped key.
        stored: String,
        /// The key ids that are configured.
        configured: Vec<String>,
    },

    /// The keyring has used every representable term number.
    #[error(
        "the keyring cannot be rotated: term number {0} is the largest representable term; \
         re-key the storage into a new keyring"
    )]
    TermOverflow(u32),

    /// The operating system's random number generator failed.
    #[error(
        "the system random number generator failed; check that the operating system's entropy \
         source (getrandom, /dev/urandom) is available"
    )]
    Random,
}
