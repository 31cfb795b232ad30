//! Where the client connects and with which credentials, from flags and the environment.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::ClientError;

/// The address used when neither a flag nor the environment names one (Vault's default too).
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:8200";

/// The request timeout used when `HUSH_CLIENT_TIMEOUT`/`VAULT_CLIENT_TIMEOUT` are unset
/// (Vault's default too).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The token helper file, relative to the home directory.
pub const TOKEN_FILE_NAME: &str = ".hush-token";

/// How to reach the server.
///
/// `Debug` redacts the token.
#[derive(Clone)]
pub struct ClientConfig {
    /// Base URL of the server, e.g. `https://hush.example.com:8200` (no `/v1`).
    pub address: String,
    /// Token sent as `X-Vault-Token`, if any.
    pub token: Option<String>,
    /// PEM file with the CA certificate(s) to trust instead of the system roots.
    pub ca_cert: Option<PathBuf>,
    /// Accept any server certificate. Only for testing.
    pub skip_verify: bool,
    /// Limit for a whole request, connection included.
    pub timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            address: DEFAULT_ADDRESS.to_owned(),
            token: None,
            ca_cert: None,
            skip_verify: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_cert", &self.ca_cert)
            .field("skip_verify", &self.skip_verify)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ClientConfig {
    /// Builds the configuration from a command-line address (if given) and the process
    /// environment, reading the token helper file `~/.hush-token` when no token variable is set.
    ///
    /// Precedence: address from the flag, `HUSH_ADDR`, `VAULT_ADDR`, then
    /// [`DEFAULT_ADDRESS`]; CA file from `HUSH_CACERT`, then `VAULT_CACERT`; verification is
    /// skipped when `HUSH_SKIP_VERIFY` (or else `VAULT_SKIP_VERIFY`) is truthy; token from
    /// `HUSH_TOKEN`, `VAULT_TOKEN`, then the token file; timeout from `HUSH_CLIENT_TIMEOUT`, then
    /// `VAULT_CLIENT_TIMEOUT` (seconds, or a number with `ms`, `s`, `m` or `h`).
    pub fn from_env(address_flag: Option<String>) -> Result<ClientConfig, ClientError> {
        let token_file = home_dir().map(|home| home.join(TOKEN_FILE_NAME));
        Self::from_lookup(
            address_flag,
            |name| std::env::var(name).ok(),
            token_file.as_deref(),
        )
    }

    /// Like [`ClientConfig::from_env`], but with the environment given as a lookup function and
    /// the token file path given explicitly, so it can be used (and tested) without touching
    /// the process environment.
    ///
    /// Empty variables count as unset, as with Vault. A missing token file is not an error; an
    /// unreadable one is.
    pub fn from_lookup<F>(
        address_flag: Option<String>,
        env: F,
        token_file: Option<&Path>,
    ) -> Result<ClientConfig, ClientError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let first = |names: &[&'static str]| {
            names
                .iter()
                .find_map(|name| get(name).map(|value| (*name, value)))
        };

        let address = address_flag
            .filter(|a| !a.trim().is_empty())
            .or_else(|| first(&["HUSH_ADDR", "VAULT_ADDR"]).map(|(_, v)| v))
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_owned())
            .trim()
            .to_owned();

        let ca_cert = first(&["HUSH_CACERT", "VAULT_CACERT"]).map(|(_, v)| PathBuf::from(v));

        let skip_verify = match first(&["HUSH_SKIP_VERIFY", "VAULT_SKIP_VERIFY"]) {
            Some((name, value)) => parse_bool(name, &value)?,
            None => false,
        };

        let timeout = match first(&["HUSH_CLIENT_TIMEOUT", "VAULT_CLIENT_TIMEOUT"]) {
            Some((name, value)) => parse_timeout(name, &value)?,
            None => DEFAULT_TIMEOUT,
        };

        let token = match first(&["HUSH_TOKEN", "VAULT_TOKEN"]) {
            Some((_, value)) => Some(value.trim().to_owned()),
            None => match token_file {
                Some(path) => read_token_file(path)?,
                None => None,
            },
        };

        Ok(ClientConfig {
            address,
            token,
            ca_cert,
            skip_verify,
            timeout,
        })
    }
}

/// The user's home directory, where the token helper file lives.
pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Reads the token helper file: absent or blank means "no token".
fn read_token_file(path: &Path) -> Result<Option<String>, ClientError> {
    match std::fs::read_to_string(path) {
        Ok(mut contents) => {
            let token = contents.trim().to_owned();
            zeroize::Zeroize::zeroize(&mut contents);
            Ok(Some(token).filter(|t| !t.is_empty()))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ClientError::TokenFile {
            path: path.to_owned(),
            source,
        }),
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ClientError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "y" | "yes" | "on" => Ok(true),
        "0" | "f" | "false" | "n" | "no" | "off" => Ok(false),
        _ => Err(ClientError::InvalidEnv {
            name: name.to_owned(),
            value: value.to_owned(),
            expected: "true or false (also 1/0, yes/no, on/off)".to_owned(),
        }),
    }
}

/// Parses `30`, `30s`, `500ms`, `2m` or `1h`; zero is rejected because it would make every
/// request fail at once.
fn parse_timeout(name: &str, value: &str) -> Result<Duration, ClientError> {
    parse_positive_duration(value).ok_or_else(|| ClientError::InvalidEnv {
        name: name.to_owned(),
        value: value.to_owned(),
        expected: "a positive duration such as 60, 60s, 500ms, 2m or 1h".to_owned(),
    })
}

/// A client-side duration: `250ms`, `30s`, `5m`, `1h`, or a bare number of seconds. `None` for
/// anything else, for zero (a zero timeout or interval is never what was meant) and on
/// overflow; callers word the error for where the value came from.
pub fn parse_positive_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: u64 = number.parse().ok()?;
    let duration = match unit {
        "" | "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" => Duration::from_secs(number.checked_mul(60)?),
        "h" => Duration::from_secs(number.checked_mul(3600)?),
        _ => return None,
    };
    (!duration.is_zero()).then_some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let cfg = ClientConfig::from_lookup(None, env_of(&[]), None).unwrap();
        assert_eq!(cfg.address, DEFAULT_ADDRESS);
        assert_eq!(cfg.token, None);
        assert_eq!(cfg.ca_cert, None);
        assert!(!cfg.skip_verify);
        assert_eq!(cfg.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn address_precedence_flag_then_hush_then_vault() {
        let env = env_of(&[
            ("HUSH_ADDR", "http://hush:1"),
            ("VAULT_ADDR", "http://vault:2"),
        ]);
        let cfg = ClientConfig::from_lookup(Some("http://flag:3".into()), &env, None).unwrap();
        assert_eq!(cfg.address, "http://flag:3");
        let cfg = ClientConfig::from_lookup(None, &env, None).unwrap();
        assert_eq!(cfg.address, "http://hush:1");
        let env = env_of(&[("HUSH_ADDR", ""), ("VAULT_ADDR", "http://vault:2")]);
        let cfg = ClientConfig::from_lookup(None, &env, None).unwrap();
        assert_eq!(
            cfg.address, "http://vault:2",
            "empty HUSH_ADDR counts as unset"
        );
    }

    #[test]
    fn ca_cert_and_skip_verify_from_either_prefix() {
        let env = env_of(&[
            ("VAULT_CACERT", "/vault/ca.pem"),
            ("VAULT_SKIP_VERIFY", "1"),
        ]);
        let cfg = ClientConfig::from_lookup(None, env, None).unwrap();
        assert_eq!(cfg.ca_cert, Some(PathBuf::from("/vault/ca.pem")));
        assert!(cfg.skip_verify);

        let env = env_of(&[
            ("HUSH_CACERT", "/hush/ca.pem"),
            ("VAULT_CACERT", "/vault/ca.pem"),
            ("HUSH_SKIP_VERIFY", "false"),
            ("VAULT_SKIP_VERIFY", "true"),
        ]);
        let cfg = ClientConfig::from_lookup(None, env, None).unwrap();
        assert_eq!(cfg.ca_cert, Some(PathBuf::from("/hush/ca.pem")));
        assert!(
            !cfg.skip_verify,
            "HUSH_SKIP_VERIFY wins over VAULT_SKIP_VERIFY"
        );
    }

    #[test]
    fn invalid_skip_verify_names_the_variable() {
        let err = ClientConfig::from_lookup(None, env_of(&[("HUSH_SKIP_VERIFY", "maybe")]), None)
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("HUSH_SKIP_VERIFY"), "{text}");
        assert!(text.contains("maybe"), "{text}");
    }

    #[test]
    fn timeouts_parse_with_units() {
        let cases = [
            ("30", 30_000),
            ("30s", 30_000),
            ("250ms", 250),
            ("2m", 120_000),
            ("1h", 3_600_000),
        ];
        for (text, millis) in cases {
            let cfg =
                ClientConfig::from_lookup(None, env_of(&[("VAULT_CLIENT_TIMEOUT", text)]), None)
                    .unwrap();
            assert_eq!(cfg.timeout, Duration::from_millis(millis), "{text}");
        }
        for bad in ["0", "-1", "ten", "5d", "s"] {
            let err =
                ClientConfig::from_lookup(None, env_of(&[("HUSH_CLIENT_TIMEOUT", bad)]), None)
                    .unwrap_err();
            assert!(err.to_string().contains("HUSH_CLIENT_TIMEOUT"), "{bad}");
        }
    }

    #[test]
    fn token_precedence_env_then_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(TOKEN_FILE_NAME);
        std::fs::write(&file, "file-token\n").unwrap();

        let env = env_of(&[("HUSH_TOKEN", "hush-token"), ("VAULT_TOKEN", "vault-token")]);
        let cfg = ClientConfig::from_lookup(None, env, Some(&file)).unwrap();
        assert_eq!(cfg.token.as_deref(), Some("hush-token"));

        let env = env_of(&[("VAULT_TOKEN", "vault-token")]);
        let cfg = ClientConfig::from_lookup(None, env, Some(&file)).unwrap();
        assert_eq!(cfg.token.as_deref(), Some("vault-token"));

        let cfg = ClientConfig::from_lookup(None, env_of(&[]), Some(&file)).unwrap();
        assert_eq!(cfg.token.as_deref(), Some("file-token"), "file is trimmed");

        let missing = dir.path().join("nope");
        let cfg = ClientConfig::from_lookup(None, env_of(&[]), Some(&missing)).unwrap();
        assert_eq!(cfg.token, None);

        std::fs::write(&file, "  \n").unwrap();
        let cfg = ClientConfig::from_lookup(None, env_of(&[]), Some(&file)).unwrap();
        assert_eq!(cfg.token, None, "a blank token file means no token");
    }

    #[test]
    fn unreadable_token_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        // A directory cannot be read as a file, whoever runs the test (root ignores modes).
        let err = ClientConfig::from_lookup(None, env_of(&[]), Some(dir.path())).unwrap_err();
        assert!(matches!(err, ClientError::TokenFile { .. }));
        assert!(err.to_string().contains(&dir.path().display().to_string()));
    }

    #[test]
    fn debug_redacts_the_token() {
        let cfg = ClientConfig {
            token: Some("s.supersecret".into()),
            ..ClientConfig::default()
        };
        let text = format!("{cfg:?}");
        assert!(!text.contains("supersecret"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
