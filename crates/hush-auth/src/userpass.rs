//! The `userpass` auth method: people log in with a username and a password.
//!
//! | path | operations |
//! |---|---|
//! | `users` | list |
//! | `users/:name` | read, write (`password` + token fields), delete |
//! | `users/:name/password` | write `{password}` |
//! | `users/:name/policies` | write `{token_policies}` (or `policies`) |
//! | `login/:name` | write `{password}`, unauthenticated |
//!
//! Usernames are case-insensitive (stored lowercased), as in Vault. Passwords are stored only as
//! argon2id PHC strings (m=19456 KiB, t=2, p=1). A failed login says "invalid username or
//! password" whether or not the user exists, and an unknown user costs the same hashing work as
//! a wrong password (a dummy hash is verified), so neither the message nor the time tells which.
//!
//! Storage (inside the mount's encrypted view): `user/<name>` holds [`UserEntry`] as JSON.

use std::borrow::Cow;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use hush_core::canonical::name_after;
use hush_core::engine::{EngineRequest, LogicalBackend, LoginRenewal};
use hush_core::error::{CoreError, Result};
use hush_core::logical::{LoginAlias, Operation, Response, TokenParams};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use hush_core::framework::{Field, FieldType, PathSpec, PathTable, Paths};

use crate::fields::{
    check_login_cidrs, check_name, display_name, list_response, not_found, opt_str,
};
use crate::token_fields::{TokenFields, TOKEN_FIELDS};

/// The message of every failed userpass login.
pub const INVALID_CREDENTIALS: &str = "invalid username or password";

/// argon2id memory cost in KiB (OWASP's recommended minimum for argon2id).
pub const ARGON2_M_COST: u32 = 19_456;
/// argon2id passes.
pub const ARGON2_T_COST: u32 = 2;
/// argon2id lanes.
pub const ARGON2_P_COST: u32 = 1;

/// One user, as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct UserEntry {
    /// The argon2id PHC string of the password.
    pub password_hash: String,
    /// Token settings.
    #[serde(flatten)]
    pub token: TokenFields,
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("password_hash", &"[redacted]")
            .field("token", &self.token)
            .finish()
    }
}

fn hasher() -> Result<Argon2<'static>> {
    let params = Params::new(ARGON2_M_COST, ARGON2_T_COST, ARGON2_P_COST, None)
        .map_err(|e| CoreError::Internal(format!("argon2 parameters rejected: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password into an argon2id PHC string (blocking: call from a blocking thread).
pub fn hash_password(password: &[u8]) -> Result<String> {
    let salt_bytes = Zeroizing::new(hush_crypto::random_bytes(16)?);
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| CoreError::Internal(format!("could not encode a password salt: {e}")))?;
    let hash = hasher()?
        .hash_password(password, &salt)
        .map_err(|e| CoreError::Internal(format!("could not hash the password: {e}")))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string (blocking). The final comparison of hash outputs
/// is constant-time (the `password-hash` crate compares `Output`s with `subtle`). A malformed
/// stored hash never matches.
pub fn verify_password(password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // Verification takes the algorithm and costs from the PHC string itself, so hashes made
    // with other parameters keep working.
    Argon2::default().verify_password(password, &parsed).is_ok()
}

/// A hash of a random password with the same parameters as real ones, verified when the user
/// does not exist so that unknown users take as long as wrong passwords.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = hush_crypto::random_bytes(32).unwrap_or_else(|_| vec![0x5a; 32]);
        // Hashing cannot fail with fixed valid parameters and a freshly encoded salt; if it ever
        // did, a PHC string with the same costs still makes verification do the same work.
        hash_password(&random).unwrap_or_else(|_| {
            format!(
                "$argon2id$v=19$m={ARGON2_M_COST},t={ARGON2_T_COST},p={ARGON2_P_COST}$\
                 c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            )
        })
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CoreError::Internal(format!("password hashing task failed: {e}")))
}

/// The userpass auth method. It keeps no state: everything lives in the mount's storage.
#[derive(Debug, Default)]
pub struct UserpassBackend {
    _private: (),
}

impl UserpassBackend {
    /// A new backend. Computes the dummy hash once per process up front, so that the first
    /// login of an unknown user is not slower than the others.
    pub fn new() -> Self {
        let _ = dummy_hash();
        UserpassBackend { _private: () }
    }
}

fn user_key(name: &str) -> String {
    format!("user/{name}")
}

fn password_field(data: &Map<String, Value>) -> Result<Option<Zeroizing<String>>> {
    Ok(opt_str(data, "password")?.map(Zeroizing::new))
}

async fn load(req: &EngineRequest<'_>, name: &str) -> Result<Option<UserEntry>> {
    req.view.get_json::<UserEntry>(&user_key(name)).await
}

async fn write_user(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    check_name("user", name)?;
    let existing = load(req, name).await?;
    let password = password_field(req.data)?;
    let mut token = existing
        .as_ref()
        .map(|e| e.token.clone())
        .unwrap_or_default();
    token.update(req.data)?;
    let password_hash = match (password, existing) {
        (Some(p), _) if p.is_empty() => {
            return Err(CoreError::bad(
                "'password' may not be empty: give the user a password",
            ))
        }
        (Some(p), _) => blocking(move || hash_password(p.as_bytes())).await??,
        (None, Some(e)) => e.password_hash,
        (None, None) => {
            return Err(CoreError::bad(format!(
                "missing 'password': creating user \"{name}\" needs one"
            )))
        }
    };
    req.view
        .put_json(
            &user_key(name),
            &UserEntry {
                password_hash,
                token,
            },
        )
        .await?;
    Ok(Response::no_content())
}

async fn read_user(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    check_name("user", name)?;
    let Some(entry) = load(req, name).await? else {
        return Ok(not_found());
    };
    let mut data = Map::new();
    entry.token.write_to(&mut data, &[]);
    Ok(Response::data(data))
}

async fn set_password(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    let Some(mut entry) = load(req, name).await? else {
        return Err(CoreError::bad(format!(
            "user \"{name}\" does not exist: create it with a write to users/{name}"
        )));
    };
    let password = match password_field(req.data)? {
        Some(p) if !p.is_empty() => p,
        _ => return Err(CoreError::bad("missing 'password': give the new password")),
    };
    entry.password_hash = blocking(move || hash_password(password.as_bytes())).await??;
    req.view.put_json(&user_key(name), &entry).await?;
    Ok(Response::no_content())
}

async fn set_policies(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    let Some(mut entry) = load(req, name).await? else {
        return Err(CoreError::bad(format!(
            "user \"{name}\" does not exist: create it with a write to users/{name}"
        )));
    };
    if !crate::fields::has(req.data, "token_policies") && !crate::fields::has(req.data, "policies")
    {
        return Err(CoreError::bad(
            "missing 'token_policies': give the list of policies for the user",
        ));
    }
    let mut only = Map::new();
    for f in ["token_policies", "policies"] {
        if let Some(v) = req.data.get(f) {
            only.insert(f.into(), v.clone());
        }
    }
    entry.token.update(&only)?;
    req.view.put_json(&user_key(name), &entry).await?;
    Ok(Response::no_content())
}

async fn login(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    let password = match password_field(req.data)? {
        Some(p) if !p.is_empty() => p,
        _ => return Err(CoreError::bad("missing 'password'")),
    };
    let entry = if name.is_empty() {
        None
    } else {
        load(req, name).await?
    };
    let phc = entry
        .as_ref()
        .map_or_else(|| dummy_hash().to_string(), |e| e.password_hash.clone());
    let matched = blocking(move || verify_password(password.as_bytes(), &phc)).await?;
    let entry = match entry {
        Some(e) if matched => e,
        _ => return Err(CoreError::InvalidCredentials(INVALID_CREDENTIALS.into())),
    };
    check_login_cidrs(
        &entry.token.token_bound_cidrs,
        req.client_addr,
        "the user's token_bound_cidrs",
    )?;
    let mut metadata = Map::new();
    metadata.insert("username".into(), json!(name));
    // The username is the alias, as in Vault.
    let auth = entry
        .token
        .auth(metadata, display_name(req.mount, name))
        .with_alias(LoginAlias::named(name));
    Ok(Response {
        auth: Some(auth),
        ..Default::default()
    })
}

/// Paths and handlers.
fn paths() -> &'static Paths<UserpassBackend> {
    static PATHS: OnceLock<Paths<UserpassBackend>> = OnceLock::new();
    PATHS.get_or_init(|| {
        let mut user_fields = vec![Field::new(
            "password",
            FieldType::String,
            "The user's password (stored only as an argon2id hash).",
        )];
        user_fields.extend_from_slice(TOKEN_FIELDS);
        Paths::new(
            "this auth method",
            "auth/",
            vec![
                PathSpec::new("users", "The users of this method.").op(
                    Operation::List,
                    "List the users.",
                    |_, req, _| Box::pin(list_users(req)),
                ),
                PathSpec::new("users/{name}", "A user: its password and token settings.")
                    .op(
                        Operation::Read,
                        "Read a user's token settings.",
                        |_, req, c| Box::pin(read_user(req, c.get("name"))),
                    )
                    .op(
                        Operation::Update,
                        "Create or update a user.",
                        |_, req, c| Box::pin(write_user(req, c.get("name"))),
                    )
                    .op(Operation::Delete, "Delete a user.", |_, req, c| {
                        Box::pin(delete_user(req, c.get("name")))
                    })
                    .fields(&user_fields),
                PathSpec::new("users/{name}/password", "Change a user's password.")
                    .op(Operation::Update, "Set the password.", |_, req, c| {
                        Box::pin(set_password(req, c.get("name")))
                    })
                    .fields(&user_fields[..1]),
                PathSpec::new("users/{name}/policies", "Change a user's policies.")
                    .op(Operation::Update, "Set the policies.", |_, req, c| {
                        Box::pin(set_policies(req, c.get("name")))
                    })
                    .fields(&[
                        Field::new(
                            "token_policies",
                            FieldType::Strings,
                            "Policies of the user's tokens.",
                        ),
                        Field::new(
                            "policies",
                            FieldType::Strings,
                            "Old name of token_policies.",
                        ),
                    ]),
                PathSpec::new("login/{name}", "Log in with a username and password.")
                    .op(Operation::Update, "Log in.", |_, req, c| {
                        Box::pin(login(req, c.get("name")))
                    })
                    .fields(&user_fields[..1])
                    .unauthenticated(),
            ],
        )
    })
}

async fn list_users(req: &EngineRequest<'_>) -> Result<Response> {
    let keys = req.view.list("user/").await?;
    Ok(list_response(keys))
}

async fn delete_user(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    check_name("user", name)?;
    req.view.delete(&user_key(name)).await?;
    Ok(Response::no_content())
}

#[async_trait]
impl LogicalBackend for UserpassBackend {
    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response> {
        paths().handle(self, req).await
    }

    async fn exists(&self, req: &EngineRequest<'_>) -> Result<bool> {
        let path = req.path.trim_end_matches('/');
        match path.strip_prefix("users/") {
            Some(name) if !name.contains('/') => Ok(req.view.get(&user_key(name)).await?.is_some()),
            _ => Ok(true),
        }
    }

    fn canonical_path<'a>(&self, path: Cow<'a, str>) -> Result<Cow<'a, str>> {
        // Vault's usernames are case-insensitive: one lower-case form for the ACL and the store.
        let path = name_after(path, "users/", "user", true)?;
        name_after(path, "login/", "user", true)
    }

    fn paths(&self) -> Option<&dyn PathTable> {
        Some(paths())
    }

    async fn renew_login(&self, req: &LoginRenewal<'_>) -> Result<Option<TokenParams>> {
        TokenFields::renew_stored(req, "username", user_key, "user", |u: &UserEntry| &u.token).await
    }

    fn lockout_key(&self, req: &EngineRequest<'_>) -> Option<String> {
        req.path
            .strip_prefix("login/")
            .filter(|n| !n.is_empty())
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let phc = hash_password(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password(b"correct horse", &phc));
        assert!(!verify_password(b"wrong", &phc));
        assert!(!verify_password(b"correct horse", "not a phc string"));
        // Two hashes of the same password differ by salt.
        assert_ne!(phc, hash_password(b"correct horse").unwrap());
        assert!(dummy_hash().starts_with("$argon2id$"));
    }

    #[test]
    fn debug_redacts_the_hash() {
        let e = UserEntry {
            password_hash: "$argon2id$secret".into(),
            token: TokenFields::default(),
        };
        assert!(!format!("{e:?}").contains("secret"));
    }
}
