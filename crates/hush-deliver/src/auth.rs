//! Logging in as part of a delivery command, so that a container entrypoint can authenticate
//! and run in one step: `hush run --auth-method kubernetes --role app --path ... -- server`.
//!
//! Without `--auth-method`, the token comes from the client configuration (`HUSH_TOKEN`,
//! `VAULT_TOKEN` or the token helper file `~/.hush-token`). With it, hush sends
//! `POST auth/<mount>/login` and uses the `auth.client_token` of the answer for the rest of the
//! command. The token is kept in memory only.

use std::path::PathBuf;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::conn::{Conn, Lease};
use crate::error::DeliverError;

/// Where Kubernetes mounts a pod's service account token.
pub const DEFAULT_KUBERNETES_JWT: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// An auth method that can log in non-interactively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum AuthMethod {
    /// AppRole: `--role-id` and `--secret-id`.
    Approle,
    /// Kubernetes: `--role` and the pod's service account token.
    Kubernetes,
    /// JWT/OIDC: `--role` and a JWT read from `--jwt-file`.
    Jwt,
}

impl AuthMethod {
    fn name(self) -> &'static str {
        match self {
            AuthMethod::Approle => "approle",
            AuthMethod::Kubernetes => "kubernetes",
            AuthMethod::Jwt => "jwt",
        }
    }
}

/// Login options shared by the delivery commands.
#[derive(Clone, Default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(next_help_heading = "Authentication"))]
pub struct AuthArgs {
    /// Log in with this auth method instead of using HUSH_TOKEN / VAULT_TOKEN / ~/.hush-token
    #[cfg_attr(feature = "cli", arg(long, value_enum, value_name = "METHOD"))]
    pub auth_method: Option<AuthMethod>,

    /// Mount path of the auth method [default: the method's name, e.g. approle]
    #[cfg_attr(feature = "cli", arg(long, value_name = "PATH"))]
    pub auth_path: Option<String>,

    /// AppRole role ID
    #[cfg_attr(
        feature = "cli",
        arg(long, env = "HUSH_ROLE_ID", hide_env_values = true, value_name = "ID")
    )]
    pub role_id: Option<String>,

    /// AppRole secret ID (prefer the HUSH_SECRET_ID variable: arguments are visible to other
    /// users in the process list)
    #[cfg_attr(
        feature = "cli",
        arg(
            long,
            env = "HUSH_SECRET_ID",
            hide_env_values = true,
            value_name = "ID"
        )
    )]
    pub secret_id: Option<String>,

    /// Role to log in as (kubernetes, jwt)
    #[cfg_attr(feature = "cli", arg(long, value_name = "ROLE"))]
    pub role: Option<String>,

    /// File holding the JWT (kubernetes: the service account token, by default
    /// /var/run/secrets/kubernetes.io/serviceaccount/token; jwt: required)
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE"))]
    pub jwt_file: Option<PathBuf>,
}

impl std::fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthArgs")
            .field("auth_method", &self.auth_method)
            .field("auth_path", &self.auth_path)
            .field("role_id", &self.role_id.as_ref().map(|_| "<redacted>"))
            .field("secret_id", &self.secret_id.as_ref().map(|_| "<redacted>"))
            .field("role", &self.role)
            .field("jwt_file", &self.jwt_file)
            .finish()
    }
}

/// A login to send: `POST auth/<mount>/login` with `body`.
pub struct LoginRequest {
    /// The auth method.
    pub method: AuthMethod,
    /// Its mount path, without slashes (e.g. `approle`).
    pub mount: String,
    /// The request body; holds credentials.
    pub body: Value,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("method", &self.method)
            .field("mount", &self.mount)
            .field("body", &"<redacted>")
            .finish()
    }
}

/// The login request for `args`, or `None` when no method is set.
///
/// Checked before anything is sent, so a missing parameter is reported by name.
pub fn login_request(args: &AuthArgs) -> Result<Option<LoginRequest>, DeliverError> {
    let Some(method) = args.auth_method else {
        return Ok(None);
    };
    let mount = args
        .auth_path
        .as_deref()
        .map(|p| p.trim_matches('/').to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| method.name().to_owned());
    let fail = |reason: String| DeliverError::Login {
        method: method.name().to_owned(),
        mount: mount.clone(),
        reason,
    };
    let body: Value = match method {
        AuthMethod::Approle => {
            let role_id = args
                .role_id
                .as_deref()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| fail("no role ID: pass --role-id or set HUSH_ROLE_ID".to_owned()))?;
            let mut body = json!({ "role_id": role_id });
            // A role may be configured without `bind_secret_id`; then only the role ID is sent.
            if let Some(secret_id) = args.secret_id.as_deref().filter(|s| !s.is_empty()) {
                body["secret_id"] = Value::String(secret_id.to_owned());
            }
            body
        }
        AuthMethod::Kubernetes | AuthMethod::Jwt => {
            let role = args
                .role
                .as_deref()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| fail("no role: pass --role".to_owned()))?;
            let file = match (&args.jwt_file, method) {
                (Some(file), _) => file.clone(),
                (None, AuthMethod::Kubernetes) => PathBuf::from(DEFAULT_KUBERNETES_JWT),
                (None, _) => {
                    return Err(fail(
                        "no token: pass --jwt-file with the file holding the JWT".to_owned(),
                    ))
                }
            };
            let jwt = Zeroizing::new(std::fs::read_to_string(&file).map_err(|e| {
                fail(format!(
                    "could not read the JWT from {}: {e}; pass --jwt-file with a readable file",
                    file.display()
                ))
            })?);
            let jwt = jwt.trim();
            if jwt.is_empty() {
                return Err(fail(format!("the JWT file {} is empty", file.display())));
            }
            json!({ "role": role, "jwt": jwt })
        }
    };
    Ok(Some(LoginRequest {
        method,
        mount,
        body,
    }))
}

/// Logs in with the method in `args` (if any), makes the connection use the new token and
/// returns its lease (`None`: no method, nothing done).
pub(crate) async fn login(conn: &mut Conn, args: &AuthArgs) -> Result<Option<Lease>, DeliverError> {
    let Some(LoginRequest {
        method,
        mount,
        body,
    }) = login_request(args)?
    else {
        return Ok(None);
    };
    let fail = |reason: String| DeliverError::Login {
        method: method.name().to_owned(),
        mount: mount.clone(),
        reason,
    };
    // A login must not carry an old token: a server could attribute the login to it.
    conn.client_mut().set_token(None);
    let path = format!("auth/{mount}/login");
    // A role made with bind_secret_id=false takes a login without one, so a missing secret ID
    // is only named once the server refused the login.
    let no_secret_id = method == AuthMethod::Approle && body.get("secret_id").is_none();
    let answer = conn.write(&path, body).await.map_err(|source| {
        if source.status() == Some(403) {
            // Logins need no token: a 403 means no auth method is mounted there.
            return fail(format!(
                "nothing at auth/{mount} accepts a login (403): enable the method there \
                 (hush auth enable {}) or give its mount with --auth-path",
                method.name()
            ));
        }
        match conn.error(&path, &path, "update", source) {
            DeliverError::Server { error, .. } if no_secret_id => fail(format!(
                "{error}. HUSH_SECRET_ID is not set (nor --secret-id): give the role's secret \
                 ID, unless the role was created with bind_secret_id=false"
            )),
            DeliverError::Server { error, .. } => fail(format!(
                "{error}. Check the role, the credentials and that the method is enabled \
                 at auth/{mount}"
            )),
            other => other,
        }
    })?;
    let token = answer
        .as_ref()
        .and_then(|a| a.pointer("/auth/client_token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| fail("the answer has no auth.client_token".to_owned()))?;
    conn.client_mut().set_token(Some(token.to_owned()));
    Ok(Some(Lease::of_auth(answer.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(method: AuthMethod) -> AuthArgs {
        AuthArgs {
            auth_method: Some(method),
            ..AuthArgs::default()
        }
    }

    #[test]
    fn no_method_means_no_login() {
        assert!(login_request(&AuthArgs::default()).unwrap().is_none());
    }

    #[test]
    fn approle_body_and_default_mount() {
        let mut a = args(AuthMethod::Approle);
        a.role_id = Some("rid".into());
        a.secret_id = Some("sid".into());
        let req = login_request(&a).unwrap().unwrap();
        assert_eq!(req.mount, "approle");
        assert_eq!(req.body, json!({"role_id": "rid", "secret_id": "sid"}));
        assert!(!format!("{req:?}").contains("sid"));

        a.auth_path = Some("/ci-approle/".into());
        let req = login_request(&a).unwrap().unwrap();
        assert_eq!(req.mount, "ci-approle");
    }

    #[test]
    fn missing_parameters_are_named() {
        let err = login_request(&args(AuthMethod::Approle)).unwrap_err();
        assert!(err.to_string().contains("--role-id"), "{err}");
        let err = login_request(&args(AuthMethod::Jwt)).unwrap_err();
        assert!(err.to_string().contains("--role"), "{err}");
        let mut a = args(AuthMethod::Jwt);
        a.role = Some("r".into());
        let err = login_request(&a).unwrap_err();
        assert!(err.to_string().contains("--jwt-file"), "{err}");
    }

    #[test]
    fn kubernetes_reads_the_token_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "eyJ.payload.sig\n").unwrap();
        let mut a = args(AuthMethod::Kubernetes);
        a.role = Some("app".into());
        a.jwt_file = Some(file);
        let req = login_request(&a).unwrap().unwrap();
        assert_eq!(req.mount, "kubernetes");
        assert_eq!(req.body, json!({"role": "app", "jwt": "eyJ.payload.sig"}));

        a.jwt_file = Some(dir.path().join("missing"));
        let err = login_request(&a).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn debug_redacts_credentials() {
        let mut a = args(AuthMethod::Approle);
        a.secret_id = Some("s3cr3t-id".into());
        a.role_id = Some("r0le-id".into());
        let text = format!("{a:?}");
        assert!(!text.contains("s3cr3t") && !text.contains("r0le"), "{text}");
    }
}
