//! A stand-in for the `hush` binary's `run`, `export`, `import` and `template` subcommands:
//! it wires the clap argument structs and entry points of `hush-deliver` exactly as the binary
//! does (one call each), so the integration tests can run them as real processes before and
//! independently of the binary.
//!
//! ```text
//! cargo run -p hush-deliver --example hush-deliver -- run --path secret/app -- env
//! ```

use clap::{Parser, Subcommand};
use hush_client::ClientConfig;
use hush_deliver::{export, import, run, template};

#[derive(Parser)]
#[command(name = "hush", about = "hush delivery commands (development driver)")]
struct Cli {
    /// Address of the hush server [default: $HUSH_ADDR, else $VAULT_ADDR]
    #[arg(long, global = true)]
    address: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program with secrets in its environment
    Run(run::RunArgs),
    /// Write secrets as .env, JSON, YAML, tfvars or a Kubernetes Secret
    Export(export::ExportArgs),
    /// Import .env, JSON or YAML files into a secret
    Import(import::ImportArgs),
    /// Render a template with secrets into a file
    Template(template::TemplateArgs),
}

async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let cfg = ClientConfig::from_env(cli.address)?;
    match cli.command {
        Command::Run(args) => Ok(run::run(args, cfg).await?),
        Command::Export(args) => Ok(export::export(args, cfg).await.map(|()| 0)?),
        Command::Import(args) => Ok(import::import(args, cfg).await.map(|()| 0)?),
        Command::Template(args) => Ok(template::template(args, cfg).await.map(|()| 0)?),
    }
}

/// The error and those of its causes whose text it does not already contain, down to the
/// first client error (as the `hush` binary prints them).
fn render_error(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
        // A client error explains its cause; what lies below is transport detail.
        if cause.is::<hush_client::ClientError>() {
            break;
        }
    }
    message
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("Error: could not start the async runtime: {err}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {}", render_error(&err));
            1
        }
    };
    // Exiting here rather than dropping the runtime: an output copy blocked on a pipe that a
    // background grandchild still holds must not keep hush alive.
    std::process::exit(code);
}
