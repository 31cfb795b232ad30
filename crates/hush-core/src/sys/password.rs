//! `sys/policies/password/*`: password policies (Vault's language, `hush_policy::password`),
//! stored inside the barrier, and passwords generated from them with the CSPRNG.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::{CoreError, Result};
use crate::logical::{map, Operation, Response};
use crate::view::View;

const PREFIX: &str = "sys/password-policy/";

#[derive(Serialize, Deserialize)]
struct Stored {
    policy: String,
}

fn view(ctx: &Ctx<'_>) -> View {
    ctx.un.view.sub(PREFIX)
}

/// A password from `policy`, drawn from the CSPRNG.
pub(crate) fn generate(policy: &hush_policy::PasswordPolicy) -> Result<String> {
    Ok(crate::engine::generate_password(policy)?.to_string())
}

/// The stored policy `name`, parsed (`None`: no such policy). `root` is the whole barrier.
pub(crate) async fn load(root: &View, name: &str) -> Result<Option<hush_policy::PasswordPolicy>> {
    match root.sub(PREFIX).get_json::<Stored>(name).await? {
        Some(s) => Ok(Some(parse(&s.policy)?)),
        None => Ok(None),
    }
}

fn parse(text: &str) -> Result<hush_policy::PasswordPolicy> {
    hush_policy::parse_password_policy(text).map_err(|e| CoreError::bad(e.to_string()))
}

/// `LIST sys/policies/password`.
pub(super) async fn list(ctx: &Ctx<'_>) -> Result<Response> {
    let keys: Vec<String> = view(ctx)
        .list("")
        .await?
        .into_iter()
        .filter(|k| !k.ends_with('/'))
        .collect();
    if keys.is_empty() {
        return Ok(Response::raw(404, json!({ "errors": [] })));
    }
    Ok(Response::data(map(json!({ "keys": keys }))))
}

/// `sys/policies/password/:name`: read, write, delete.
pub(super) async fn policy(ctx: &Ctx<'_>, name: &str) -> Result<Response> {
    let v = view(ctx);
    match ctx.req.operation {
        Operation::Read => match v.get_json::<Stored>(name).await? {
            Some(s) => Ok(Response::data(map(json!({ "policy": s.policy })))),
            None => Err(CoreError::NotFound(format!(
                "no password policy named \"{name}\""
            ))),
        },
        Operation::Create | Operation::Update => {
            let text = match ctx.req.data.get("policy") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                _ => {
                    return Err(CoreError::bad(
                        "'policy' is required: the password policy in HCL, e.g. length = 20 \
                         with rule \"charset\" { charset = \"abc...\" min-chars = 1 }",
                    ))
                }
            };
            let parsed = parse(&text)?;
            // As Vault does: a policy that cannot yield a password is not saved.
            let sample = generate(&parsed)?;
            if !parsed.accepts(&sample) {
                return Err(CoreError::bad(
                    "unable to generate a password from the provided policy",
                ));
            }
            v.put_json(name, &Stored { policy: text }).await?;
            Ok(Response::no_content())
        }
        Operation::Delete => {
            v.delete(name).await?;
            Ok(Response::no_content())
        }
        _ => Err(CoreError::UnsupportedOperation(
            "password policies are read, written and deleted".into(),
        )),
    }
}

/// `GET sys/policies/password/:name/generate`.
pub(super) async fn generate_from(ctx: &Ctx<'_>, name: &str) -> Result<Response> {
    let stored = view(ctx).get_json::<Stored>(name).await?.ok_or_else(|| {
        CoreError::NotFound(format!(
            "no password policy named \"{name}\": write one to sys/policies/password/{name} \
                 first"
        ))
    })?;
    let password = generate(&parse(&stored.policy)?)?;
    Ok(Response::data(map(json!({ "password": password }))))
}
