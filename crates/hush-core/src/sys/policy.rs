//! `sys/policy`, `sys/policies/acl` and the capabilities endpoints.

use serde_json::{json, Map};

use crate::ctx::Ctx;
use crate::error::{CoreError, Result};
use crate::fields::{str as str_field, strings as string_list};
use crate::logical::{map, Operation, Response};

/// Whose capabilities `sys/capabilities*` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Whose {
    /// `sys/capabilities`: the token in the body.
    Token,
    /// `sys/capabilities-self`: the request's token.
    Caller,
    /// `sys/capabilities-accessor`: the token with the accessor in the body.
    Accessor,
}

/// `sys/policy` (legacy: top-level `policies` and `keys`) and `sys/policies/acl`.
pub(super) async fn list(ctx: &Ctx<'_>, legacy: bool) -> Result<Response> {
    let names = ctx.un.policies.list().await?;
    if legacy {
        Ok(Response::data_top_level(map(
            json!({"policies": names, "keys": names}),
        )))
    } else {
        Ok(Response::data(map(json!({ "keys": names }))))
    }
}

/// `sys/policy/:name` (legacy shape) and `sys/policies/acl/:name`.
pub(super) async fn policy(ctx: &Ctx<'_>, name: &str, legacy: bool) -> Result<Response> {
    let data = &ctx.req.data;
    match ctx.req.operation {
        Operation::Read => match ctx.un.policies.get(name).await? {
            Some(p) if legacy => Ok(Response::data_top_level(map(
                json!({"name": p.name, "rules": p.policy}),
            ))),
            Some(p) => Ok(Response::data(map(
                json!({"name": p.name, "policy": p.policy}),
            ))),
            None => Err(CoreError::NotFound(String::new())),
        },
        Operation::Update | Operation::Create => {
            let text = match (str_field(data, "policy")?, str_field(data, "rules")?) {
                (Some(t), _) | (None, Some(t)) => t,
                (None, None) => {
                    return Err(CoreError::bad(
                        "'policy' is required: the policy text in HCL or JSON",
                    ))
                }
            };
            ctx.un.policies.put(name, text).await?;
            Ok(Response::no_content())
        }
        Operation::Delete => {
            ctx.un.policies.delete(name).await?;
            Ok(Response::no_content())
        }
        op => Err(crate::framework::unsupported(&ctx.req.path, op)),
    }
}

/// `sys/capabilities`, `sys/capabilities-self`, `sys/capabilities-accessor`.
pub(super) async fn capabilities(ctx: &Ctx<'_>, whose: Whose) -> Result<Response> {
    let data = &ctx.req.data;
    let paths = match string_list(data, "paths")? {
        Some(p) if !p.is_empty() => p,
        _ => match str_field(data, "path")? {
            Some(p) => vec![p.to_string()],
            None => {
                return Err(CoreError::bad(
                    "'paths' is required: the paths to report capabilities for",
                ))
            }
        },
    };
    let entry = match whose {
        Whose::Caller => ctx.caller()?.clone(),
        Whose::Token => {
            let token = crate::fields::required_str(data, "token")?;
            ctx.un
                .tokens
                .get(token)
                .await?
                .ok_or_else(|| CoreError::bad("invalid token"))?
        }
        Whose::Accessor => {
            let accessor = crate::fields::required_str(data, "accessor")?;
            ctx.un
                .tokens
                .get_by_accessor(accessor)
                .await?
                .ok_or_else(|| CoreError::bad("invalid accessor"))?
        }
    };
    // What the token could do now, identity included, as the pipeline would decide: nothing,
    // when its entity is disabled or gone.
    let acl = match crate::identity::token_acl(&ctx.un.identity, &ctx.un.policies, &entry).await {
        Ok(t) => t.acl,
        Err(CoreError::TokenRejected { .. }) => std::sync::Arc::new(hush_policy::Acl::new(&[])),
        Err(e) => return Err(e),
    };
    let mut out = Map::new();
    let mut last = Vec::new();
    for p in &paths {
        let caps = acl.capabilities(p.trim_start_matches('/'));
        out.insert(p.clone(), json!(caps));
        last = caps;
    }
    if paths.len() == 1 {
        out.insert("capabilities".into(), json!(last));
    }
    Ok(Response::data_top_level(out))
}
