//! `hush rotate PATH` (rotate a KV v2 secret now: the "on compromise" trigger, or resume a
//! rotation that stopped) and `hush rotate status PATH` (its settings, state and last steps).
//! The rotation itself is configured with `hush write MOUNT/rotation/PATH ...`.

use std::process::ExitCode;

use clap::Args;
use hush_client::{Client, Method};
use serde_json::Value;

use super::kv::{resolve, Target};
use super::{print_secret, OutputArgs};

/// Options of `hush rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The secret (MOUNT/PATH, e.g. secret/app/db), or `status` and the secret
    #[arg(value_name = "[status] PATH", num_args = 1..=2, required = true)]
    pub args: Vec<String>,

    /// Mount of the KV engine; PATH is then relative to it [default: found from PATH]
    #[arg(long, value_name = "MOUNT")]
    pub mount: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `hush rotate`.
pub async fn run(client: Client, args: RotateArgs) -> anyhow::Result<ExitCode> {
    let (status, path) = match args.args.as_slice() {
        [path] => (false, path.clone()),
        [word, path] if word == "status" => (true, path.clone()),
        [word, _] => anyhow::bail!(
            "unexpected {word:?} before the path: use hush rotate PATH to rotate now, or hush \
             rotate status PATH to see the rotation"
        ),
        _ => anyhow::bail!("name the secret: hush rotate secret/app/db"),
    };
    let kv = resolve(
        &client,
        &Target {
            mount: args.mount.clone(),
            path,
        },
    )
    .await?;
    if !kv.v2 {
        anyhow::bail!(
            "{}/ is KV version 1: rotation needs the versions of KV version 2 (mount one with \
             hush secrets enable -version=2 kv)",
            kv.mount
        );
    }
    if kv.rel.is_empty() {
        anyhow::bail!(
            "name a secret below {}/, e.g. {}/app/db",
            kv.mount,
            kv.mount
        );
    }
    let answer = if status {
        client.read(&kv.v2_path("rotation")).await?
    } else {
        client
            .request(
                Method::PUT,
                &kv.v2_path("rotate"),
                Some(Value::Object(Default::default())),
            )
            .await?
    }
    .unwrap_or(Value::Null);
    print_secret(&answer, &args.output, false)
}
