//! The token parameters every user and role of every auth method accepts (Vault's
//! "tokenutil" fields): `token_policies`, `token_ttl`, `token_max_ttl`, `token_period`,
//! `token_num_uses`, `token_type`, `token_bound_cidrs`, `token_no_default_policy`,
//! `token_explicit_max_ttl`, and the older names `policies`, `ttl`, `max_ttl`, `period` and
//! `bound_cidrs`.

use hush_core::engine::{same_policies, LoginRenewal};
use hush_core::error::{CoreError, Result};
use hush_core::logical::{AuthResponse, TokenParams};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::fields::{has, opt_bool, opt_cidrs, opt_list, opt_str, opt_ttl, opt_u64};

/// The token settings of a user or role, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenFields {
    /// Policies of issued tokens.
    pub token_policies: Vec<String>,
    /// TTL of issued tokens in seconds (0: the mount's default).
    pub token_ttl: u64,
    /// Maximum TTL of issued tokens in seconds (0: the mount's maximum).
    pub token_max_ttl: u64,
    /// Hard maximum lifetime in seconds (0: none).
    pub token_explicit_max_ttl: u64,
    /// Period of periodic tokens in seconds (0: not periodic).
    pub token_period: u64,
    /// Uses of issued tokens (0: unlimited).
    pub token_num_uses: u64,
    /// "default", "service" or "default-service" (hush issues service tokens only).
    pub token_type: String,
    /// CIDR blocks issued tokens may be used from (also checked at login).
    pub token_bound_cidrs: Vec<String>,
    /// Leave the `default` policy out of issued tokens.
    pub token_no_default_policy: bool,
}

impl Default for TokenFields {
    fn default() -> Self {
        TokenFields {
            token_policies: Vec::new(),
            token_ttl: 0,
            token_max_ttl: 0,
            token_explicit_max_ttl: 0,
            token_period: 0,
            token_num_uses: 0,
            token_type: "default".into(),
            token_bound_cidrs: Vec::new(),
            token_no_default_policy: false,
        }
    }
}

/// The request fields [`TokenFields::update`] reads, for path tables. The handler reads them
/// itself (legacy names included), so they are declared `Any`: their rules live in one place.
pub const TOKEN_FIELDS: &[hush_core::framework::Field] = {
    use hush_core::framework::{Field, FieldType::Any};
    &[
        Field::new(
            "token_policies",
            Any,
            "Policies of issued tokens (list or comma-separated).",
        ),
        Field::new("policies", Any, "Old name of token_policies."),
        Field::new(
            "token_ttl",
            Any,
            "Initial TTL of issued tokens (duration or seconds).",
        ),
        Field::new("ttl", Any, "Old name of token_ttl."),
        Field::new("token_max_ttl", Any, "Maximum TTL of issued tokens."),
        Field::new("max_ttl", Any, "Old name of token_max_ttl."),
        Field::new(
            "token_explicit_max_ttl",
            Any,
            "A hard TTL limit that renewals cannot pass.",
        ),
        Field::new(
            "token_period",
            Any,
            "Makes issued tokens periodic with this period.",
        ),
        Field::new("period", Any, "Old name of token_period."),
        Field::new(
            "token_num_uses",
            Any,
            "Uses of an issued token (0: unlimited).",
        ),
        Field::new("token_type", Any, "service, batch, or default."),
        Field::new(
            "token_bound_cidrs",
            Any,
            "CIDR blocks issued tokens may be used from.",
        ),
        Field::new("bound_cidrs", Any, "Old name of token_bound_cidrs."),
        Field::new(
            "token_no_default_policy",
            Any,
            "Leave the default policy out.",
        ),
    ]
};

/// Picks the value of a new-style field or its legacy alias; both at once is an error, as in
/// Vault.
fn either<'a>(data: &'a Map<String, Value>, new: &'a str, old: &'a str) -> Result<Option<&'a str>> {
    match (has(data, new), has(data, old)) {
        (true, true) => Err(CoreError::bad(format!(
            "'{new}' and its older name '{old}' were both given: send only '{new}'"
        ))),
        (true, false) => Ok(Some(new)),
        (false, true) => Ok(Some(old)),
        (false, false) => Ok(None),
    }
}

impl TokenFields {
    /// Applies the token fields present in `data` (absent fields keep their value) and checks
    /// the result. Errors are 400s naming the field.
    pub fn update(&mut self, data: &Map<String, Value>) -> Result<()> {
        if let Some(f) = either(data, "token_policies", "policies")? {
            self.token_policies =
                hush_core::fields::clean_policies(&opt_list(data, f)?.unwrap_or_default());
        }
        if let Some(f) = either(data, "token_ttl", "ttl")? {
            self.token_ttl = opt_ttl(data, f)?.unwrap_or(0);
        }
        if let Some(f) = either(data, "token_max_ttl", "max_ttl")? {
            self.token_max_ttl = opt_ttl(data, f)?.unwrap_or(0);
        }
        if let Some(v) = opt_ttl(data, "token_explicit_max_ttl")? {
            self.token_explicit_max_ttl = v;
        }
        if let Some(f) = either(data, "token_period", "period")? {
            self.token_period = opt_ttl(data, f)?.unwrap_or(0);
        }
        if let Some(v) = opt_u64(data, "token_num_uses")? {
            self.token_num_uses = v;
        }
        if let Some(t) = opt_str(data, "token_type")? {
            self.token_type = match t.trim() {
                "" | "default" => "default".into(),
                "service" => "service".into(),
                "default-service" => "default-service".into(),
                "batch" | "default-batch" => {
                    return Err(CoreError::bad(format!(
                        "'token_type' \"{t}\" is not supported yet: hush issues service tokens \
                         only; use \"service\" or \"default\""
                    )))
                }
                other => {
                    return Err(CoreError::bad(format!(
                        "'token_type' \"{other}\" is not valid: use \"service\", \"default\" or \
                         \"default-service\""
                    )))
                }
            };
        }
        if let Some(f) = either(data, "token_bound_cidrs", "bound_cidrs")? {
            self.token_bound_cidrs = opt_cidrs(data, f)?.unwrap_or_default();
        }
        if let Some(v) = opt_bool(data, "token_no_default_policy")? {
            self.token_no_default_policy = v;
        }
        self.check()
    }

    fn check(&self) -> Result<()> {
        if self.token_max_ttl > 0 && self.token_ttl > self.token_max_ttl {
            return Err(CoreError::bad(format!(
                "'token_ttl' ({}s) cannot be longer than 'token_max_ttl' ({}s): lower token_ttl \
                 or raise token_max_ttl",
                self.token_ttl, self.token_max_ttl
            )));
        }
        if self.token_explicit_max_ttl > 0
            && self.token_max_ttl > 0
            && self.token_max_ttl > self.token_explicit_max_ttl
        {
            return Err(CoreError::bad(format!(
                "'token_max_ttl' ({}s) cannot be longer than 'token_explicit_max_ttl' ({}s)",
                self.token_max_ttl, self.token_explicit_max_ttl
            )));
        }
        Ok(())
    }

    /// Writes the token fields into a read response. The older names are written too when
    /// their value is set (Vault returns them for backwards compatibility); the names in
    /// `always_legacy` are written even when empty.
    pub fn write_to(&self, out: &mut Map<String, Value>, always_legacy: &[&str]) {
        out.insert("token_policies".into(), json!(self.token_policies));
        out.insert("token_ttl".into(), json!(self.token_ttl));
        out.insert("token_max_ttl".into(), json!(self.token_max_ttl));
        out.insert(
            "token_explicit_max_ttl".into(),
            json!(self.token_explicit_max_ttl),
        );
        out.insert("token_period".into(), json!(self.token_period));
        out.insert("token_num_uses".into(), json!(self.token_num_uses));
        out.insert("token_type".into(), json!(self.token_type));
        out.insert("token_bound_cidrs".into(), json!(self.token_bound_cidrs));
        out.insert(
            "token_no_default_policy".into(),
            json!(self.token_no_default_policy),
        );
        let legacy: [(&str, Value, bool); 5] = [
            (
                "policies",
                json!(self.token_policies),
                !self.token_policies.is_empty(),
            ),
            ("ttl", json!(self.token_ttl), self.token_ttl > 0),
            ("max_ttl", json!(self.token_max_ttl), self.token_max_ttl > 0),
            ("period", json!(self.token_period), self.token_period > 0),
            (
                "bound_cidrs",
                json!(self.token_bound_cidrs),
                !self.token_bound_cidrs.is_empty(),
            ),
        ];
        for (name, value, set) in legacy {
            if set || always_legacy.contains(&name) {
                out.insert(name.into(), value);
            }
        }
    }

    /// The limits a renewal of a token issued with these settings gets now, once they are
    /// checked to still grant the token's policies. `who` names the user or role in the error.
    pub fn renewal(&self, token_policies: &[String], who: &str) -> Result<TokenParams> {
        if !same_policies(&self.token_policies, token_policies) {
            return Err(CoreError::bad(format!(
                "the policies of {who} changed after this token was issued, so it cannot be \
                 renewed; log in again for a token with the current policies"
            )));
        }
        Ok(TokenParams {
            ttl: self.token_ttl,
            max_ttl: self.token_max_ttl,
            period: self.token_period,
            ..TokenParams::default()
        })
    }

    /// [`LogicalBackend::renew_login`] for a method whose token settings live in a stored user
    /// or role: reads the record named by the token's metadata `meta_key` (stored as `T` under
    /// `storage_key(name)`), refuses if it is gone or grants other policies now, and returns
    /// its current limits. `what` is "user" or "role", for the errors.
    ///
    /// [`LogicalBackend::renew_login`]: hush_core::engine::LogicalBackend::renew_login
    pub async fn renew_stored<T: DeserializeOwned>(
        req: &LoginRenewal<'_>,
        meta_key: &str,
        storage_key: impl Fn(&str) -> String,
        what: &str,
        fields: impl Fn(&T) -> &TokenFields,
    ) -> Result<Option<TokenParams>> {
        let name = req
            .metadata
            .get(meta_key)
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(stored) = req.view.get_json::<T>(&storage_key(name)).await? else {
            return Err(CoreError::bad(format!(
                "the {what} \"{name}\" this token was issued for no longer exists, so it \
                 cannot be renewed"
            )));
        };
        fields(&stored)
            .renewal(req.policies, &format!("the {what} \"{name}\""))
            .map(Some)
    }

    /// The `auth` block of a successful login: the core issues a token with these settings.
    pub fn auth(&self, metadata: Map<String, Value>, display_name: String) -> AuthResponse {
        AuthResponse {
            policies: self.token_policies.clone(),
            token_policies: self.token_policies.clone(),
            metadata: Some(metadata),
            renewable: true,
            num_uses: self.token_num_uses,
            token_type: "service".into(),
            issue: TokenParams {
                ttl: self.token_ttl,
                max_ttl: self.token_max_ttl,
                explicit_max_ttl: self.token_explicit_max_ttl,
                period: self.token_period,
                bound_cidrs: self.token_bound_cidrs.clone(),
                no_default_policy: self.token_no_default_policy,
                display_name,
            },
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_core::logical::map;

    #[test]
    fn new_and_legacy_names() {
        let mut t = TokenFields::default();
        t.update(&map(json!({
            "policies": "b,A, a", "ttl": "1h", "max_ttl": 7200, "period": "0",
            "bound_cidrs": ["10.0.0.0/8"], "token_num_uses": "3", "token_type": "service",
            "token_no_default_policy": "true", "token_explicit_max_ttl": "3h"
        })))
        .unwrap();
        assert_eq!(t.token_policies, ["a", "b"]);
        assert_eq!(
            (t.token_ttl, t.token_max_ttl, t.token_period),
            (3600, 7200, 0)
        );
        assert_eq!(t.token_bound_cidrs, ["10.0.0.0/8"]);
        assert_eq!(t.token_num_uses, 3);
        assert!(t.token_no_default_policy);
        let mut out = Map::new();
        t.write_to(&mut out, &["period"]);
        assert_eq!(out["policies"], json!(["a", "b"]));
        assert_eq!(out["ttl"], 3600);
        assert_eq!(out["period"], 0);
        assert_eq!(out["token_type"], "service");
        // Absent fields keep their values.
        t.update(&map(json!({"token_ttl": 60}))).unwrap();
        assert_eq!(t.token_policies, ["a", "b"]);
        assert_eq!(t.token_ttl, 60);
    }

    #[test]
    fn bad_values_name_the_field() {
        let cases = [
            (json!({"token_ttl": "soon"}), "token_ttl"),
            (json!({"token_type": "batch"}), "not supported"),
            (json!({"token_type": "weird"}), "token_type"),
            (
                json!({"token_bound_cidrs": "10.0.0.0/99"}),
                "token_bound_cidrs",
            ),
            (json!({"token_num_uses": -1}), "token_num_uses"),
            (
                json!({"token_ttl": 100, "token_max_ttl": 10}),
                "token_max_ttl",
            ),
            (json!({"policies": "a", "token_policies": "b"}), "both"),
        ];
        for (data, needle) in cases {
            let e = TokenFields::default().update(&map(data)).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(
                e.to_string().contains(needle),
                "{e} should mention {needle}"
            );
        }
    }

    #[test]
    fn auth_block_carries_the_settings() {
        let mut t = TokenFields::default();
        t.update(&map(
            json!({"token_policies": ["p"], "token_period": 60, "token_num_uses": 2}),
        ))
        .unwrap();
        let a = t.auth(Map::new(), "userpass-bob".into());
        assert_eq!(a.policies, ["p"]);
        assert_eq!(a.issue.period, 60);
        assert_eq!(a.num_uses, 2);
        assert!(a.client_token.is_empty());
        assert_eq!(a.issue.display_name, "userpass-bob");
    }
}
