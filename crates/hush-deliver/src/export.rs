//! `hush export`: secrets as a `.env` file, JSON, YAML, OpenTofu/Terraform variables or a
//! Kubernetes Secret manifest.
//!
//! The output goes to standard output, or with `-o FILE` to a new file created with mode 0600.
//! An existing file is only replaced with `--force` (atomically: a reader sees the old file or
//! the new one). The quoting of each format is described in [`crate::formats`].

use std::io::Write;
use std::path::PathBuf;

use hush_client::ClientConfig;

use crate::auth::AuthArgs;
use crate::conn::Conn;
use crate::error::DeliverError;
use crate::formats::{self, Entry, K8sMeta};
use crate::names::{self, NameRules};
use crate::outfile;
use crate::source::{self, SecretSet, SourceArgs};

/// Output formats of `hush export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Format {
    /// `KEY='value'` lines for dotenv readers (python-dotenv, docker compose, node)
    Dotenv,
    /// `export KEY='value'` lines, also for `source` in a shell
    DotenvExport,
    /// A JSON object; values keep their JSON type
    Json,
    /// A YAML mapping; values keep their type
    Yaml,
    /// `name = "value"` lines in HCL for `tofu/terraform -var-file`
    Tfvars,
    /// A Kubernetes v1 Secret manifest (values base64 in `data`)
    K8sSecret,
}

/// Arguments of `hush export`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct ExportArgs {
    /// Which secrets to export.
    #[cfg_attr(feature = "cli", command(flatten))]
    pub source: SourceArgs,

    /// Output format
    #[cfg_attr(
        feature = "cli",
        arg(
            help_heading = "Output",
            long,
            short = 'f',
            value_enum,
            value_name = "FORMAT"
        )
    )]
    pub format: Format,

    /// Write to FILE (created with mode 0600) instead of standard output
    #[cfg_attr(
        feature = "cli",
        arg(help_heading = "Output", long, short = 'o', value_name = "FILE")
    )]
    pub output: Option<PathBuf>,

    /// Replace FILE if it exists (atomically)
    #[cfg_attr(feature = "cli", arg(help_heading = "Output", long))]
    pub force: bool,

    /// Map keys that are not valid names in the format (dotenv, tfvars) to valid ones:
    /// characters other than letters, digits and _ become _, and a leading digit gets a _
    #[cfg_attr(feature = "cli", arg(help_heading = "Output", long))]
    pub sanitize_names: bool,

    /// k8s-secret: metadata.name [default: the last segment of the first --path]
    #[cfg_attr(
        feature = "cli",
        arg(help_heading = "Output", long, value_name = "NAME")
    )]
    pub name: Option<String>,

    /// k8s-secret: metadata.namespace [default: none, i.e. the namespace kubectl uses]
    #[cfg_attr(
        feature = "cli",
        arg(help_heading = "Output", long, value_name = "NAMESPACE")
    )]
    pub namespace: Option<String>,

    /// k8s-secret: the Secret type (Opaque, kubernetes.io/tls, kubernetes.io/dockerconfigjson,
    /// kubernetes.io/basic-auth, kubernetes.io/ssh-auth, ...)
    #[cfg_attr(
        feature = "cli",
        arg(
            help_heading = "Output",
            long = "type",
            value_name = "TYPE",
            default_value = "Opaque"
        )
    )]
    pub secret_type: String,

    /// How to log in.
    #[cfg_attr(feature = "cli", command(flatten))]
    pub auth: AuthArgs,
}

/// Runs `hush export`.
pub async fn export(args: ExportArgs, client_cfg: ClientConfig) -> Result<(), DeliverError> {
    source::validate(&args.source)?;
    let meta = match args.format {
        Format::K8sSecret => Some(k8s_meta(&args)?),
        _ => None,
    };
    let conn = Conn::connect(client_cfg, &args.auth).await?;
    let set = source::load(&conn, &args.source).await?;
    let text = render(&set, args.format, args.sanitize_names, meta.as_ref())?;
    match &args.output {
        Some(path) => outfile::write_output(path, text.as_bytes(), args.force)?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| DeliverError::io("write", "standard output", e))?;
        }
    }
    Ok(())
}

/// The Secret's metadata from the arguments, checked against Kubernetes' naming rules.
fn k8s_meta(args: &ExportArgs) -> Result<K8sMeta, DeliverError> {
    let name = match &args.name {
        Some(name) => name.clone(),
        None => {
            let first = args.source.paths.first().map(String::as_str).unwrap_or("");
            let last = first.trim_matches('/').rsplit('/').next().unwrap_or("");
            if !formats::is_dns_subdomain(last) {
                return Err(DeliverError::Usage(format!(
                    "the Secret needs a name and \"{last}\" (the last segment of the path) is \
                     not a valid one: pass --name with lowercase letters, digits, - and ."
                )));
            }
            last.to_owned()
        }
    };
    if !formats::is_dns_subdomain(&name) {
        return Err(DeliverError::Usage(format!(
            "--name \"{name}\" is not a valid Kubernetes name: use lowercase letters, digits, - \
             and ., starting and ending with a letter or digit (at most 253 characters)"
        )));
    }
    if let Some(ns) = &args.namespace {
        if !formats::is_dns_label(ns) {
            return Err(DeliverError::Usage(format!(
                "--namespace \"{ns}\" is not a valid namespace: use lowercase letters, digits and \
                 -, starting and ending with a letter or digit (at most 63 characters)"
            )));
        }
    }
    let secret_type = args.secret_type.trim();
    if secret_type.is_empty() || secret_type.chars().any(char::is_control) {
        return Err(DeliverError::Usage(
            "--type is empty or malformed: use e.g. Opaque or kubernetes.io/tls".to_owned(),
        ));
    }
    Ok(K8sMeta {
        name,
        namespace: args.namespace.clone(),
        secret_type: secret_type.to_owned(),
    })
}

/// Renders `set` in `format`, checking that every key is a valid name there.
pub fn render(
    set: &SecretSet,
    format: Format,
    sanitize: bool,
    meta: Option<&K8sMeta>,
) -> Result<zeroize::Zeroizing<String>, DeliverError> {
    match format {
        Format::Dotenv | Format::DotenvExport => {
            let rules = NameRules {
                sanitize,
                ..NameRules::default()
            };
            let vars = names::env_vars(set, &rules)?;
            let entries: Vec<Entry<'_>> = vars.iter().map(|v| (v.name.as_str(), v.value)).collect();
            Ok(formats::dotenv(&entries, format == Format::DotenvExport))
        }
        Format::Json => Ok(formats::json(&plain_entries(set))),
        Format::Yaml => Ok(formats::yaml(&plain_entries(set))),
        Format::Tfvars => {
            let names = checked_names(set, sanitize, formats::is_hcl_identifier, |raw| {
                format!(
                    "is not a valid OpenTofu/Terraform variable name as \"{raw}\": use letters, \
                     digits, _ and -, not starting with a digit, or pass --sanitize-names"
                )
            })?;
            let entries: Vec<Entry<'_>> = names
                .iter()
                .map(|(name, key)| (name.as_str(), &set.entries[*key].value))
                .collect();
            Ok(formats::tfvars(&entries))
        }
        Format::K8sSecret => {
            let meta = meta.ok_or_else(|| {
                DeliverError::Usage("k8s-secret needs a Secret name (--name)".to_owned())
            })?;
            for key in set.entries.keys() {
                if !formats::is_k8s_data_key(key) {
                    let secret = &set.entries[key];
                    return Err(DeliverError::InvalidName {
                        key: key.clone(),
                        path: secret.origin.clone(),
                        reason: "is not a valid key of a Kubernetes Secret (letters, digits, -, \
                                 _ and . only): rename it or leave it out with --except"
                            .to_owned(),
                    });
                }
            }
            for required in formats::k8s_required_keys(&meta.secret_type) {
                if !set.entries.contains_key(*required) {
                    return Err(DeliverError::Usage(format!(
                        "a Secret of type {} must have the key \"{required}\", and the secrets \
                         read have none: add it, or use --type Opaque",
                        meta.secret_type
                    )));
                }
            }
            Ok(formats::k8s_secret(&plain_entries(set), meta))
        }
    }
}

fn plain_entries(set: &SecretSet) -> Vec<Entry<'_>> {
    set.entries
        .iter()
        .map(|(k, s)| (k.as_str(), &s.value))
        .collect()
}

/// Names for a format whose names must pass `valid`; `--sanitize-names` maps invalid ones.
/// Returns (name, key) pairs in name order.
fn checked_names<'a>(
    set: &'a SecretSet,
    sanitize: bool,
    valid: fn(&str) -> bool,
    reason: impl Fn(&str) -> String,
) -> Result<Vec<(String, &'a String)>, DeliverError> {
    let mut out: std::collections::BTreeMap<String, &'a String> = Default::default();
    for (key, secret) in &set.entries {
        let name = if valid(key) {
            key.clone()
        } else if sanitize {
            names::sanitize(key)
        } else {
            return Err(DeliverError::InvalidName {
                key: key.clone(),
                path: secret.origin.clone(),
                reason: reason(key),
            });
        };
        if let Some(first) = out.get(&name) {
            return Err(DeliverError::NameClash {
                name,
                first_key: (*first).clone(),
                first_path: set.entries[*first].origin.clone(),
                second_key: key.clone(),
                second_path: secret.origin.clone(),
            });
        }
        out.insert(name, key);
    }
    Ok(out.into_iter().collect())
}
