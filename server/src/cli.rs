//! The command line: `serve` (default), `migrate`, `admin create-org`.

use crate::config::Config;
use crate::{shutdown_signal, telemetry, Application};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "partner-ledger",
    about = "Partner Ledger: credit partners for the revenue they bring"
)]
pub struct Cli {
    /// Configuration file (TOML); environment variables override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the web server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Operator tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an organization and its owner; the password is read from standard input.
    /// Prints {"org_id", "webhook_url", "api_key"} as JSON.
    CreateOrg {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    telemetry::init(&config.log_level);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Admin {
            command: AdminCommand::CreateOrg { name, email },
        } => create_org(config, &name, &email).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("{e:#}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("partner-ledger: {message}");
    ExitCode::from(2)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    println!(
        "Partner Ledger is running: open {} in your browser (Ctrl-C stops it)",
        app.state().settings.public_url
    );
    app.run_until(shutdown_signal()).await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let v = config.validate().map_err(anyhow::Error::msg)?;
    crate::build_state(
        &config,
        v.public_url,
        std::sync::Arc::new(backend::clock::SystemClock),
    )
    .await?;
    println!("migrations applied");
    Ok(())
}

async fn create_org(config: Config, name: &str, email: &str) -> anyhow::Result<()> {
    let v = config.validate().map_err(anyhow::Error::msg)?;
    let state = crate::build_state(
        &config,
        v.public_url,
        std::sync::Arc::new(backend::clock::SystemClock),
    )
    .await?;
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']);
    let org = backend::service::create_org(&state, name, email, password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (_, api_key) = backend::service::create_api_key(
        &state,
        &org.org_id,
        "created by admin create-org",
        shared::model::ApiScope::Full,
        None,
        &backend::audit::Actor::system("partner-ledger admin create-org"),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{}",
        serde_json::json!({
            "org_id": org.org_id.as_str(),
            "webhook_url": org.webhook_url,
            "api_key": api_key,
        })
    );
    Ok(())
}
