//! `auth/token/`, the token store's backend: creating, looking up, renewing and revoking
//! tokens, token roles, and the token issued at the end of every login. Mounted by the core at
//! `auth/token/`, on the path framework like any auth method.

use std::borrow::Cow;
use std::sync::OnceLock;

use async_trait::async_trait;

use serde_json::{json, Map, Value};

use crate::ctx::mount_ttls;
use crate::ctx::run;
use crate::ctx::Ctx;
use crate::engine::{EngineRequest, LogicalBackend, LoginRenewal};
use crate::error::{CoreError, Result};
use crate::fields::strings;
use crate::fields::ttl_field;
use crate::fields::{bool as bool_field, normalize_policies, str as str_field, u64 as uint_field};
use crate::framework::{Field, FieldType::Any, PathSpec, PathTable, Paths};
use crate::logical::{map, AuthResponse, Operation, Response};
use crate::mounts::Mounted;
use crate::time::now_unix;
use crate::time::rfc3339;
use crate::token::{NewToken, TokenEntry, TokenRole, TOKEN_STORE_ACCESSOR};

/// Token-store paths whose last part is a token or an accessor.
const CREDENTIAL_PATHS: &[&str] = &[
    "lookup/",
    "revoke/",
    "revoke-orphan/",
    "renew/",
    "lookup-accessor/",
    "revoke-accessor/",
    "renew-accessor/",
];

fn meta_field(data: &Map<String, Value>) -> Result<Map<String, Value>> {
    match data.get("meta") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if !v.is_string() {
                    return Err(CoreError::bad(format!(
                        "'meta' values must be strings; \"{k}\" is {v}"
                    )));
                }
            }
            Ok(m.clone())
        }
        Some(v) => Err(CoreError::bad(format!(
            "'meta' must be an object of strings, got {v}"
        ))),
    }
}

/// The `data` of a token lookup, with every field ESO and hvac read; `identity_policies`
/// (the token's entity's and its groups' policies) for a token with an entity.
pub fn lookup_data(
    e: &TokenEntry,
    token: Option<&str>,
    now: i64,
    identity_policies: Option<&[String]>,
) -> Map<String, Value> {
    let mut d = map(json!({
        "accessor": e.accessor,
        "creation_time": e.creation_time,
        "creation_ttl": e.creation_ttl,
        "display_name": e.display_name,
        "entity_id": e.entity_id,
        "expire_time": e.expire_time.map(rfc3339),
        "explicit_max_ttl": e.explicit_max_ttl,
        "id": token.unwrap_or(""),
        "issue_time": rfc3339(e.creation_time),
        "meta": if e.meta.is_empty() { Value::Null } else { Value::Object(e.meta.clone()) },
        "num_uses": e.num_uses,
        "orphan": e.orphan,
        "path": e.path,
        "policies": e.policies,
        "renewable": e.renewable,
        "ttl": e.ttl_left(now),
        "type": e.token_type,
    }));
    if e.period > 0 {
        d.insert("period".into(), json!(e.period));
    }
    if let Some(t) = e.last_renewal_time {
        d.insert("last_renewal_time".into(), json!(t));
        d.insert("last_renewal".into(), json!(rfc3339(t)));
    }
    if let Some(r) = &e.role {
        d.insert("role".into(), json!(r));
    }
    if !e.bound_cidrs.is_empty() {
        d.insert("bound_cidrs".into(), json!(e.bound_cidrs));
    }
    if let Some(p) = identity_policies {
        d.insert("identity_policies".into(), json!(p));
    }
    d
}

/// The identity policies of a token's entity, as of now (`None`: no entity, or one that is
/// gone).
fn identity_policies(ctx: &Ctx<'_>, e: &TokenEntry) -> Option<Vec<String>> {
    if e.entity_id.is_empty() {
        return None;
    }
    ctx.un
        .identity
        .resolve(&e.entity_id)
        .map(|who| who.policies.clone())
}

/// The `auth` block for a token: `policies` are its own and its identity's, as Vault answers.
fn auth_response(token: String, e: &TokenEntry, now: i64, identity: &[String]) -> AuthResponse {
    let mut policies = e.policies.clone();
    policies.extend(identity.iter().cloned());
    policies.sort();
    policies.dedup();
    AuthResponse {
        client_token: token,
        accessor: e.accessor.clone(),
        policies,
        token_policies: e.policies.clone(),
        identity_policies: identity.to_vec(),
        metadata: if e.meta.is_empty() {
            None
        } else {
            Some(e.meta.clone())
        },
        lease_duration: e.ttl_left(now),
        renewable: e.renewable && (e.expire_time.is_some()),
        entity_id: e.entity_id.clone(),
        token_type: e.token_type.clone(),
        orphan: e.orphan,
        mfa_requirement: None,
        num_uses: e.num_uses,
        issue: Default::default(),
        alias: None,
    }
}

/// The token store's backend.
#[derive(Debug, Default)]
pub struct TokenBackend;

type Spec = PathSpec<TokenBackend>;

const fn f(name: &'static str, description: &'static str) -> Field {
    Field::new(name, Any, description)
}

const CREATE_FIELDS: &[Field] = &[
    f("id", "The token's id (root tokens only)."),
    f("role_name", "A token role to create the token with."),
    f(
        "policies",
        "Policies of the token (a subset of the caller's).",
    ),
    f("meta", "Metadata: a map of strings."),
    f("no_parent", "Create an orphan (root or sudo)."),
    f("no_default_policy", "Leave out the default policy."),
    f("renewable", "Whether the token can be renewed."),
    f("lease", "The TTL (older name)."),
    f("ttl", "The TTL: a duration or seconds."),
    f("type", "\"service\" (batch tokens are not supported)."),
    f("explicit_max_ttl", "A hard limit no renewal passes."),
    f("display_name", "A name for logs."),
    f(
        "num_uses",
        "Uses before the token is revoked (0: unlimited).",
    ),
    f(
        "period",
        "Renewals reset the TTL to this period (root, sudo or a role).",
    ),
    f("entity_alias", "Accepted and ignored."),
];

const TOKEN: &[Field] = &[f("token", "The token.")];
const ACCESSOR: &[Field] = &[f("accessor", "The token's accessor.")];
const RENEW: &[Field] = &[
    f("token", "The token."),
    f("increment", "The TTL asked for: a duration or seconds."),
];
const RENEW_ACCESSOR: &[Field] = &[
    f("accessor", "The token's accessor."),
    f("increment", "The TTL asked for: a duration or seconds."),
];

const ROLE_FIELDS: &[Field] = &[
    f("allowed_policies", "Policies tokens of the role may have."),
    f(
        "disallowed_policies",
        "Policies tokens of the role may not have.",
    ),
    f("orphan", "Tokens of the role have no parent."),
    f("renewable", "Tokens of the role can be renewed."),
    f("path_suffix", "Appended to the tokens' creation path."),
    f("token_ttl", "TTL of the tokens."),
    f("token_max_ttl", "Maximum TTL of the tokens."),
    f("token_explicit_max_ttl", "Hard limit of the tokens."),
    f("explicit_max_ttl", "The same (older name)."),
    f("token_period", "Period of the tokens."),
    f("period", "The same (older name)."),
    f("token_num_uses", "Uses of the tokens."),
    f("token_no_default_policy", "Leave out the default policy."),
    f("token_bound_cidrs", "CIDRs the tokens may be used from."),
    f("bound_cidrs", "The same (older name)."),
    f("token_type", "\"service\"."),
    f("allowed_entity_aliases", "Accepted and ignored."),
];

fn specs() -> Vec<Spec> {
    use Operation::{Delete, List, Read, Update};
    vec![
        Spec::new("create", "Create a token (a child of the caller's).")
            .op(Update, "Create a token.", |_, req, _| {
                run(req, |ctx| create(ctx, false, None))
            })
            .fields(CREATE_FIELDS),
        Spec::new("create-orphan", "Create a token without a parent.")
            .op(Update, "Create an orphan token.", |_, req, _| {
                run(req, |ctx| create(ctx, true, None))
            })
            .fields(CREATE_FIELDS),
        Spec::new("create/{role_name}", "Create a token with a token role.")
            .op(Update, "Create a token with a role.", |_, req, c| {
                run(req, move |ctx| create(ctx, false, Some(c.get("role_name"))))
            })
            .fields(CREATE_FIELDS),
        Spec::new("lookup-self", "The request token's properties.")
            .op(Read, "Look up the request token.", |_, req, _| {
                run(req, lookup_self)
            })
            .op(Update, "Look up the request token.", |_, req, _| {
                run(req, lookup_self)
            }),
        Spec::new("lookup", "A token's properties.")
            .op(Read, "Look up a token.", |_, req, _| {
                run(req, |ctx| lookup(ctx, None))
            })
            .op(Update, "Look up a token.", |_, req, _| {
                run(req, |ctx| lookup(ctx, None))
            })
            .fields(TOKEN),
        Spec::new(
            "lookup/{token*}",
            "A token's properties (the token in the path).",
        )
        .op(Read, "Look up a token.", |_, req, c| {
            run(req, move |ctx| lookup(ctx, Some(c.get("token"))))
        })
        .credential("token"),
        Spec::new(
            "lookup-accessor",
            "The properties of the token with an accessor.",
        )
        .op(Update, "Look up by accessor.", |_, req, _| {
            run(req, lookup_accessor)
        })
        .fields(ACCESSOR),
        Spec::new("renew-self", "Renew the request token.")
            .op(Update, "Renew the request token.", |_, req, _| {
                run(req, renew_self)
            })
            .fields(&RENEW[1..]),
        Spec::new("renew", "Renew a token.")
            .op(Update, "Renew a token.", |_, req, _| run(req, renew_token))
            .fields(RENEW),
        Spec::new("renew-accessor", "Renew the token with an accessor.")
            .op(Update, "Renew by accessor.", |_, req, _| {
                run(req, renew_accessor)
            })
            .fields(RENEW_ACCESSOR),
        Spec::new("revoke-self", "Revoke the request token and its children.").op(
            Update,
            "Revoke the request token.",
            |_, req, _| run(req, revoke_self),
        ),
        Spec::new("revoke", "Revoke a token and its children.")
            .op(Update, "Revoke a token.", |_, req, _| {
                run(req, |ctx| revoke(ctx, false))
            })
            .fields(TOKEN),
        Spec::new(
            "revoke-orphan",
            "Revoke a token; its children become orphans.",
        )
        .op(
            Update,
            "Revoke a token, keeping its children.",
            |_, req, _| run(req, |ctx| revoke(ctx, true)),
        )
        .fields(TOKEN)
        .sudo(),
        Spec::new(
            "revoke-accessor",
            "Revoke the token with an accessor, and its children.",
        )
        .op(Update, "Revoke by accessor.", |_, req, _| {
            run(req, revoke_accessor)
        })
        .fields(ACCESSOR),
        Spec::new("accessors", "The accessors of every token.")
            .op(List, "List accessors.", |_, req, _| run(req, accessors))
            .sudo(),
        Spec::new(
            "tidy",
            "Remove expired tokens and the leftovers of revoked ones.",
        )
        .op(Update, "Tidy.", |_, req, _| run(req, tidy))
        .sudo(),
        Spec::new("roles", "The token roles.")
            .op(List, "List token roles.", |_, req, _| run(req, roles)),
        Spec::new("roles/{role_name}", "A token role.")
            .op(Read, "Read a role.", |_, req, c| {
                run(req, move |ctx| role(ctx, c.get("role_name")))
            })
            .op(Update, "Write a role.", |_, req, c| {
                run(req, move |ctx| role(ctx, c.get("role_name")))
            })
            .op(Delete, "Delete a role.", |_, req, c| {
                run(req, move |ctx| role(ctx, c.get("role_name")))
            })
            .fields(ROLE_FIELDS),
    ]
}

fn paths() -> &'static Paths<TokenBackend> {
    static PATHS: OnceLock<Paths<TokenBackend>> = OnceLock::new();
    PATHS.get_or_init(|| Paths::new("the token store", "auth/", specs()))
}

#[async_trait]
impl LogicalBackend for TokenBackend {
    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response> {
        paths().handle(self, req).await
    }

    /// Token role names follow the one naming rule (case-sensitive, as in Vault).
    fn canonical_path<'a>(&self, rel: Cow<'a, str>) -> Result<Cow<'a, str>> {
        let rel = crate::canonical::name_after(rel, "roles/", "token role", false)?;
        crate::canonical::name_after(rel, "create/", "token role", false)
    }

    fn paths(&self) -> Option<&dyn PathTable> {
        Some(paths())
    }

    /// A token or accessor in a path segment is HMAC'd even on paths the store does not
    /// serve (Vault's older `revoke/:token` and the like).
    fn credential_in_path(&self, rel: &str) -> Option<usize> {
        crate::canonical::credential_after(rel, CREDENTIAL_PATHS)
    }

    /// Every request's audit entry is written before it runs.
    fn changes_nothing(&self, _path: &str, _operation: Operation) -> bool {
        false
    }
}

async fn lookup_self(ctx: &Ctx<'_>) -> Result<Response> {
    let caller = ctx.caller()?;
    Ok(Response::data(lookup_data(
        caller,
        ctx.req.token.as_deref(),
        now_unix(),
        identity_policies(ctx, caller).as_deref(),
    )))
}

/// A live token by its id, or the 403 Vault gives for a bad one.
async fn live_token(ctx: &Ctx<'_>, token: &str) -> Result<std::sync::Arc<TokenEntry>> {
    ctx.un
        .tokens
        .get(token)
        .await?
        .filter(|e| !e.expired(now_unix()))
        .ok_or_else(|| CoreError::Forbidden("bad token".into()))
}

/// The `token` field, required.
fn token_field<'a>(ctx: &Ctx<'a>, what: &str) -> Result<&'a str> {
    str_field(&ctx.req.data, "token")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CoreError::bad(format!("'token' is required: the token to {what}")))
}

async fn lookup(ctx: &Ctx<'_>, in_path: Option<&str>) -> Result<Response> {
    let token = match in_path {
        Some(t) => t,
        None => token_field(ctx, "look up")?,
    };
    let e = live_token(ctx, token).await?;
    let identity = identity_policies(ctx, &e);
    Ok(Response::data(lookup_data(
        &e,
        Some(token),
        now_unix(),
        identity.as_deref(),
    )))
}

async fn lookup_accessor(ctx: &Ctx<'_>) -> Result<Response> {
    let e = by_accessor(ctx).await?;
    let identity = identity_policies(ctx, &e);
    Ok(Response::data(lookup_data(
        &e,
        None,
        now_unix(),
        identity.as_deref(),
    )))
}

async fn renew_self(ctx: &Ctx<'_>) -> Result<Response> {
    let caller = ctx.caller()?.clone();
    let token = ctx.req.token.clone().unwrap_or_default();
    renew(ctx, &caller, Some(token)).await
}

async fn renew_token(ctx: &Ctx<'_>) -> Result<Response> {
    let token = token_field(ctx, "renew")?;
    let e = live_token(ctx, token).await?;
    renew(ctx, &e, Some(token.to_string())).await
}

async fn renew_accessor(ctx: &Ctx<'_>) -> Result<Response> {
    let e = by_accessor(ctx).await?;
    renew(ctx, &e, None).await
}

async fn revoke_self(ctx: &Ctx<'_>) -> Result<Response> {
    let caller = ctx.caller()?;
    ctx.un.tokens.revoke_tree(&caller.id_hash).await?;
    Ok(Response::no_content())
}

/// `revoke` (with children) and `revoke-orphan` (children kept, as orphans).
async fn revoke(ctx: &Ctx<'_>, orphan: bool) -> Result<Response> {
    let token = token_field(ctx, "revoke")?;
    if let Some(e) = ctx.un.tokens.get(token).await? {
        if orphan {
            ctx.un.tokens.revoke_orphan(&e.id_hash).await?;
        } else {
            ctx.un.tokens.revoke_tree(&e.id_hash).await?;
        }
    }
    Ok(Response::no_content())
}

async fn revoke_accessor(ctx: &Ctx<'_>) -> Result<Response> {
    let e = by_accessor(ctx).await?;
    ctx.un.tokens.revoke_tree(&e.id_hash).await?;
    Ok(Response::no_content())
}

async fn accessors(ctx: &Ctx<'_>) -> Result<Response> {
    let keys = ctx.un.tokens.accessors().await?;
    Ok(Response::data(map(json!({ "keys": keys }))))
}

async fn tidy(ctx: &Ctx<'_>) -> Result<Response> {
    let revoked = ctx.un.tokens.tidy(now_unix()).await?;
    let mut r = Response::data(map(json!({ "revoked_tokens": revoked })));
    r.warnings.push(format!(
        "Tidy operation successfully started. Any information from the operation will be \
         printed to hush's server logs. ({revoked} expired or orphaned tokens removed)"
    ));
    r.status = Some(202);
    Ok(r)
}

async fn roles(ctx: &Ctx<'_>) -> Result<Response> {
    let keys = ctx.un.tokens.roles().await?;
    if keys.is_empty() {
        return Err(CoreError::NotFound(String::new()));
    }
    Ok(Response::data(map(json!({ "keys": keys }))))
}

async fn by_accessor(ctx: &Ctx<'_>) -> Result<std::sync::Arc<TokenEntry>> {
    let accessor = crate::fields::required_str(&ctx.req.data, "accessor")?;
    ctx.un
        .tokens
        .get_by_accessor(accessor)
        .await?
        .filter(|e| !e.expired(now_unix()))
        .ok_or_else(|| CoreError::bad("invalid accessor: no such token"))
}

async fn create(ctx: &Ctx<'_>, orphan_path: bool, role_name: Option<&str>) -> Result<Response> {
    let data = &ctx.req.data;
    let caller = ctx.caller()?.clone();
    let privileged = caller.is_root() || ctx.has_sudo("auth/token/create");
    let now = now_unix();

    let role = match role_name {
        None => None,
        Some(name) => Some(ctx.un.tokens.role(name).await?.ok_or_else(|| {
            CoreError::bad(format!(
                "unknown role \"{name}\": create it at auth/token/roles/{name}"
            ))
        })?),
    };

    let id = str_field(data, "id")?.filter(|s| !s.is_empty());
    if id.is_some() && !caller.is_root() {
        return Err(CoreError::bad(
            "only a root token may choose the token id ('id')",
        ));
    }
    let no_parent = bool_field(data, "no_parent")?.unwrap_or(false);
    if no_parent && !privileged {
        return Err(CoreError::bad(
            "'no_parent' needs a root token or sudo; use auth/token/create-orphan instead",
        ));
    }
    match str_field(data, "type")?.unwrap_or("service") {
        "" | "service" | "default" | "default-service" => {}
        "batch" | "default-batch" => {
            return Err(CoreError::bad(
                "batch tokens are not supported by hush yet: create a service token",
            ))
        }
        other => {
            return Err(CoreError::bad(format!(
                "unknown token type \"{other}\": use \"service\""
            )))
        }
    }
    let no_default = bool_field(data, "no_default_policy")?.unwrap_or(false)
        || role.as_ref().is_some_and(|r| r.token_no_default_policy);
    let requested = strings(data, "policies")?;

    let policies = match (&role, requested) {
        (Some(r), req) => {
            let req = req.unwrap_or_default();
            let req_norm = normalize_policies(&req, false);
            let allowed = normalize_policies(&r.allowed_policies, false);
            let chosen = if req_norm.is_empty() {
                if allowed.is_empty() {
                    caller.policies.clone()
                } else {
                    allowed.clone()
                }
            } else {
                if !allowed.is_empty() {
                    if let Some(bad) = req_norm
                        .iter()
                        .find(|p| *p != "default" && !allowed.contains(p))
                    {
                        return Err(CoreError::bad(format!(
                            "policy \"{bad}\" is not in the role's allowed_policies ({})",
                            allowed.join(", ")
                        )));
                    }
                }
                req_norm
            };
            let disallowed = normalize_policies(&r.disallowed_policies, false);
            if let Some(bad) = chosen.iter().find(|p| disallowed.contains(p)) {
                return Err(CoreError::bad(format!(
                    "policy \"{bad}\" is in the role's disallowed_policies"
                )));
            }
            if allowed.is_empty() && !privileged {
                check_subset(&chosen, &caller.policies)?;
            }
            chosen
        }
        (None, Some(req)) => {
            let req = normalize_policies(&req, false);
            if !privileged {
                check_subset(&req, &caller.policies)?;
            }
            req
        }
        (None, None) => caller.policies.clone(),
    };
    let policies = normalize_policies(&policies, !no_default);
    if policies.iter().any(|p| p == "root") && !caller.is_root() {
        return Err(CoreError::bad("only a root token can create a root token"));
    }

    let (sys_default, sys_max) = mount_ttls(ctx, None);
    let explicit_max = ttl_field(data, "explicit_max_ttl")?
        .unwrap_or(0)
        .max(role.as_ref().map(|r| r.token_explicit_max_ttl).unwrap_or(0));
    let period = ttl_field(data, "period")?
        .or(role.as_ref().map(|r| r.token_period))
        .unwrap_or(0);
    if period > 0 && !privileged && role.is_none() {
        return Err(CoreError::bad(
            "'period' needs a root token, sudo, or a role that sets token_period",
        ));
    }
    let requested_ttl = ttl_field(data, "ttl")?.or(ttl_field(data, "lease")?);
    let role_ttl = role.as_ref().map(|r| r.token_ttl).filter(|t| *t > 0);
    let role_max = role.as_ref().map(|r| r.token_max_ttl).filter(|t| *t > 0);
    let ttl = crate::ttl::creation_ttl(&crate::ttl::CreationTtl {
        period,
        requested: requested_ttl,
        role_ttl,
        role_max,
        sys_default: sys_default.as_secs(),
        sys_max: sys_max.as_secs(),
        explicit_max,
        root: policies == ["root"],
    });
    let num_uses = uint_field(data, "num_uses")?
        .or(role.as_ref().map(|r| r.token_num_uses))
        .unwrap_or(0);
    // A role that forbids renewal wins over the request (hvac always sends renewable=true).
    let renewable = bool_field(data, "renewable")?.unwrap_or(true)
        && role.as_ref().map(|r| r.renewable).unwrap_or(true);
    let display = str_field(data, "display_name")?.unwrap_or("");
    let display_name = if display.is_empty() {
        "token".to_string()
    } else {
        format!(
            "token-{}",
            display
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                })
                .collect::<String>()
        )
    };
    let orphan = orphan_path || no_parent || role.as_ref().is_some_and(|r| r.orphan);
    let mut path = match &role {
        Some(r) => format!("auth/token/create/{}", r.name),
        None if orphan_path => "auth/token/create-orphan".into(),
        None => "auth/token/create".into(),
    };
    if let Some(r) = &role {
        if !r.path_suffix.is_empty() {
            path = format!("{path}/{}", r.path_suffix);
        }
    }
    let bound_cidrs = role
        .as_ref()
        .map(|r| r.token_bound_cidrs.clone())
        .unwrap_or_default();
    let (token, entry) = ctx
        .un
        .tokens
        .create(
            NewToken {
                id: id.map(str::to_string),
                policies,
                path,
                display_name,
                meta: meta_field(data)?,
                ttl,
                explicit_max_ttl: explicit_max,
                period,
                max_ttl: role_max.unwrap_or(0),
                num_uses,
                renewable,
                parent: if orphan {
                    None
                } else {
                    Some(caller.id_hash.clone())
                },
                role: role.as_ref().map(|r| r.name.clone()),
                bound_cidrs,
                mount_accessor: TOKEN_STORE_ACCESSOR.into(),
                // A child acts for the same entity as its creator, as in Vault.
                entity_id: caller.entity_id.clone(),
            },
            now,
        )
        .await?;
    let identity = identity_policies(ctx, &entry).unwrap_or_default();
    let mut resp = Response::no_content();
    resp.auth = Some(auth_response(token, &entry, now, &identity));
    Ok(resp)
}

fn check_subset(child: &[String], parent: &[String]) -> Result<()> {
    if parent.iter().any(|p| p == "root") {
        return Ok(());
    }
    if let Some(bad) = child
        .iter()
        .find(|p| *p != "default" && !parent.contains(p))
    {
        return Err(CoreError::bad(format!(
            "child policies must be a subset of the parent's: the creating token does not have \
             policy \"{bad}\""
        )));
    }
    Ok(())
}

async fn renew(ctx: &Ctx<'_>, e: &TokenEntry, token: Option<String>) -> Result<Response> {
    let now = now_unix();
    let increment = ttl_field(&ctx.req.data, "increment")?.unwrap_or(0);
    let mut entry = e.clone();
    if entry.expire_time.is_none() {
        return Err(CoreError::bad(
            "invalid lease ID: this token never expires, so there is nothing to renew",
        ));
    }
    if !entry.renewable {
        return Err(CoreError::bad("this token is not renewable"));
    }
    let limits = renewal_limits(ctx, &entry).await?;
    let new_ttl = crate::ttl::renewed_ttl(&crate::ttl::Renewal {
        now,
        creation_time: entry.creation_time,
        increment,
        ttl: limits.ttl,
        max_ttl: limits.max_ttl,
        period: limits.period,
        explicit_max: entry.explicit_max_ttl,
    });
    entry.period = limits.period;
    entry.expire_time = Some(now + new_ttl as i64);
    entry.last_renewal_time = Some(now);
    ctx.un.tokens.update(entry.clone()).await?;
    let identity = identity_policies(ctx, &entry).unwrap_or_default();
    let mut resp = Response::no_content();
    let mut auth = auth_response(token.unwrap_or_default(), &entry, now, &identity);
    auth.renewable = entry.renewable && entry.expire_time.is_some();
    resp.auth = Some(auth);
    Ok(resp)
}

/// What a renewal may give a token: its TTL when no increment is asked, the maximum from
/// creation, and the period.
struct RenewalLimits {
    ttl: u64,
    max_ttl: u64,
    period: u64,
}

/// Reads the limits of a renewal where they are set now, as Vault does: a token from a login
/// asks its auth method (which also refuses if the user or role is gone or its policies
/// changed) under the auth mount's current maximum; a token from a token role reads the
/// role. Anything else keeps its own settings under the system maximum.
async fn renewal_limits(ctx: &Ctx<'_>, entry: &TokenEntry) -> Result<RenewalLimits> {
    let mut limits = RenewalLimits {
        ttl: entry.creation_ttl,
        max_ttl: entry.max_ttl,
        period: entry.period,
    };
    let mount_max = if let Some(accessor) = entry.issuing_method() {
        let Some(m) = ctx.un.auth.by_accessor(accessor) else {
            return Err(CoreError::bad(
                "the auth method that issued this token is no longer enabled; log in again",
            ));
        };
        let (default, max) = mount_ttls(ctx, Some(&m.entry));
        let renewal = LoginRenewal {
            view: &m.view,
            mount: &m.entry,
            policies: &entry.policies,
            metadata: &entry.meta,
        };
        if let Some(p) = m.backend.renew_login(&renewal).await? {
            limits = RenewalLimits {
                ttl: if p.ttl > 0 { p.ttl } else { default.as_secs() },
                max_ttl: p.max_ttl,
                period: p.period,
            };
        }
        max
    } else {
        if let Some(name) = &entry.role {
            let Some(role) = ctx.un.tokens.role(name).await? else {
                return Err(CoreError::bad(format!(
                    "the token role \"{name}\" this token was created with no longer exists, \
                     so it cannot be renewed"
                )));
            };
            limits.max_ttl = role.token_max_ttl;
            limits.period = role.token_period;
            if role.token_ttl > 0 {
                limits.ttl = role.token_ttl;
            }
        }
        mount_ttls(ctx, None).1
    };
    let mount_max = mount_max.as_secs();
    limits.max_ttl = if limits.max_ttl > 0 {
        limits.max_ttl.min(mount_max)
    } else {
        mount_max
    };
    Ok(limits)
}

fn role_json(r: &TokenRole) -> Value {
    json!({
        "name": r.name,
        "allowed_policies": r.allowed_policies,
        "disallowed_policies": r.disallowed_policies,
        "orphan": r.orphan,
        "renewable": r.renewable,
        "path_suffix": r.path_suffix,
        "token_ttl": r.token_ttl,
        "token_max_ttl": r.token_max_ttl,
        "token_explicit_max_ttl": r.token_explicit_max_ttl,
        "explicit_max_ttl": r.token_explicit_max_ttl,
        "token_period": r.token_period,
        "period": r.token_period,
        "token_num_uses": r.token_num_uses,
        "token_no_default_policy": r.token_no_default_policy,
        "token_type": if r.token_type.is_empty() { "default-service" } else { r.token_type.as_str() },
        "token_bound_cidrs": r.token_bound_cidrs,
        "allowed_entity_aliases": Value::Null,
    })
}

async fn role(ctx: &Ctx<'_>, name: &str) -> Result<Response> {
    if name.is_empty() || name.contains('/') {
        return Err(CoreError::bad(
            "a role name may not be empty or contain '/'",
        ));
    }
    let data = &ctx.req.data;
    match ctx.req.operation {
        Operation::Read => match ctx.un.tokens.role(name).await? {
            Some(r) => Ok(Response::data(map(role_json(&r)))),
            None => Err(CoreError::NotFound(String::new())),
        },
        Operation::Delete => {
            ctx.un.tokens.delete_role(name).await?;
            Ok(Response::no_content())
        }
        Operation::Update | Operation::Create => {
            let mut r = ctx.un.tokens.role(name).await?.unwrap_or(TokenRole {
                name: name.to_string(),
                renewable: true,
                ..Default::default()
            });
            if let Some(v) = strings(data, "allowed_policies")? {
                r.allowed_policies = v;
            }
            if let Some(v) = strings(data, "disallowed_policies")? {
                r.disallowed_policies = v;
            }
            if let Some(v) = bool_field(data, "orphan")? {
                r.orphan = v;
            }
            if let Some(v) = bool_field(data, "renewable")? {
                r.renewable = v;
            }
            if let Some(v) = str_field(data, "path_suffix")? {
                if v.contains("..") {
                    return Err(CoreError::bad("'path_suffix' may not contain \"..\""));
                }
                r.path_suffix = v.to_string();
            }
            if let Some(v) = ttl_field(data, "token_ttl")? {
                r.token_ttl = v;
            }
            if let Some(v) = ttl_field(data, "token_max_ttl")? {
                r.token_max_ttl = v;
            }
            if let Some(v) =
                ttl_field(data, "token_explicit_max_ttl")?.or(ttl_field(data, "explicit_max_ttl")?)
            {
                r.token_explicit_max_ttl = v;
            }
            if let Some(v) = ttl_field(data, "token_period")?.or(ttl_field(data, "period")?) {
                r.token_period = v;
            }
            if let Some(v) = uint_field(data, "token_num_uses")? {
                r.token_num_uses = v;
            }
            if let Some(v) = bool_field(data, "token_no_default_policy")? {
                r.token_no_default_policy = v;
            }
            if let Some(v) = strings(data, "token_bound_cidrs")?.or(strings(data, "bound_cidrs")?) {
                crate::cidr::parse_list(&v)?;
                r.token_bound_cidrs = v;
            }
            if let Some(v) = str_field(data, "token_type")? {
                match v {
                    "" | "service" | "default-service" | "default" => r.token_type = v.to_string(),
                    other => {
                        return Err(CoreError::bad(format!(
                            "token_type \"{other}\" is not supported: use \"service\""
                        )))
                    }
                }
            }
            if r.token_max_ttl > 0 && r.token_ttl > r.token_max_ttl {
                return Err(CoreError::bad(
                    "token_ttl cannot be longer than token_max_ttl",
                ));
            }
            ctx.un.tokens.put_role(&r).await?;
            Ok(Response::no_content())
        }
        op => Err(crate::framework::unsupported(&ctx.req.path, op)),
    }
}

/// The entity of a login: the alias the method named is found or created (see
/// [`crate::identity::IdentityStore::login`]). A disabled entity may not log in, as in Vault.
async fn login_entity(ctx: &Ctx<'_>, mounted: &Mounted, auth: &AuthResponse) -> Result<String> {
    let Some(alias) = &auth.alias else {
        return Ok(String::new());
    };
    if alias.name.is_empty() {
        return Err(CoreError::Internal(format!(
            "the auth method at {} named an empty identity alias",
            mounted.route
        )));
    }
    crate::identity::check_alias_name(&alias.name)?;
    let who = crate::identity::LoginIdentity {
        accessor: &mounted.entry.accessor,
        name: &alias.name,
        metadata: &alias.metadata,
        groups: alias.groups.as_deref(),
    };
    let entity_id = ctx.un.identity.login(&who).await?;
    if ctx
        .un
        .identity
        .read(|st| st.entity(&entity_id).is_some_and(|e| e.disabled))
    {
        return Err(CoreError::TokenRejected {
            reason: "the identity entity of this login is disabled: an operator enables it \
                     again with identity/entity/id/<id> and disabled=false",
            detail: format!("login refused: entity {entity_id} is disabled"),
        });
    }
    Ok(entity_id)
}

/// Issues the token at the end of a login through an auth method: the method decided the
/// policies and limits and named the alias; the core ties the token to the alias's entity and
/// creates it.
pub async fn issue_login_token(
    ctx: &Ctx<'_>,
    mounted: &Mounted,
    auth: &mut AuthResponse,
) -> Result<()> {
    let now = now_unix();
    let entity_id = login_entity(ctx, mounted, auth).await?;
    let p = auth.issue.clone();
    let policies = normalize_policies(&auth.policies, !p.no_default_policy);
    let (default, max) = mount_ttls(ctx, Some(&mounted.entry));
    let max = if p.max_ttl > 0 {
        p.max_ttl.min(max.as_secs())
    } else {
        max.as_secs()
    };
    let mut ttl = if p.period > 0 {
        p.period
    } else if p.ttl > 0 {
        p.ttl.min(max)
    } else {
        default.as_secs().min(max)
    };
    if p.explicit_max_ttl > 0 && ttl > p.explicit_max_ttl {
        ttl = p.explicit_max_ttl;
    }
    let display_name = if p.display_name.is_empty() {
        mounted.entry.path.trim_end_matches('/').to_string()
    } else {
        p.display_name.clone()
    };
    let (token, entry) = ctx
        .un
        .tokens
        .create(
            NewToken {
                id: None,
                policies,
                path: ctx.req.path.clone(),
                display_name,
                meta: auth.metadata.clone().unwrap_or_default(),
                ttl,
                explicit_max_ttl: p.explicit_max_ttl,
                period: p.period,
                max_ttl: p.max_ttl,
                num_uses: auth.num_uses,
                renewable: auth.renewable,
                parent: None,
                role: None,
                bound_cidrs: p.bound_cidrs.clone(),
                mount_accessor: mounted.entry.accessor.clone(),
                entity_id,
            },
            now,
        )
        .await?;
    let issue = std::mem::take(&mut auth.issue);
    let identity = identity_policies(ctx, &entry).unwrap_or_default();
    *auth = auth_response(token, &entry, now, &identity);
    auth.metadata = entry
        .meta
        .is_empty()
        .then_some(())
        .map_or(Some(entry.meta.clone()), |_| None);
    let _ = issue;
    Ok(())
}
