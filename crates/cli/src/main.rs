//! `tollgate`: serve the authorization server, or manage what it stores.
#![forbid(unsafe_code)]

mod commands;
mod config;
mod demo;
mod listeners;
mod metrics;
mod output;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's allocator: the request paths allocate many
/// small, short-lived objects across threads, where it is markedly faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use commands::{
    assertion::AssertionCmd, audit::AuditCmd, authserver::AuthServerCmd, client::ClientCmd,
    connection::ConnectionCmd, keys::KeysCmd, proxy::ProxyCmd, regtoken::RegTokenCmd,
    service::ServiceCmd, user::UserCmd,
};

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "OAuth 2.0 authorization server, API gateway and connection manager"
)]
struct Cli {
    /// TOML configuration file (every key can also be set with TOLLGATE_SECTION__KEY).
    #[arg(long, global = true, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Log format: text or json (overrides log.format).
    #[arg(long, global = true, value_parser = ["text", "json"])]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Create (idempotently) a demo client and print curl commands to try it.
        #[arg(long)]
        demo: bool,
    },
    /// Create or upgrade the database schema and exit.
    Migrate,
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Manage resource owners (local users).
    #[command(subcommand)]
    User(UserCmd),
    /// Manage initial access tokens for dynamic client registration (RFC 7591).
    #[command(subcommand, name = "registration-token")]
    RegistrationToken(RegTokenCmd),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Manage the gateway's virtual services and their consumers.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Manage third-party authorization servers whose tokens services accept.
    #[command(subcommand)]
    Authserver(AuthServerCmd),
    /// Manage connections: tokens Tollgate obtains and refreshes at other
    /// providers (authorization code, JWT bearer, client assertion, client
    /// credentials).
    #[command(subcommand)]
    Connection(ConnectionCmd),
    /// Manage proxy aliases: named forward proxies connections go through.
    #[command(subcommand)]
    Proxy(ProxyCmd),
    /// Make keys and signed JWTs for client assertions and the JWT bearer
    /// grant (local files only; the store is not opened).
    #[command(subcommand)]
    Assertion(AssertionCmd),
    /// Read the audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Delete expired and revoked tokens, expired codes and old audit events
    /// now (what the server's background purge does every purge.interval_secs).
    Purge,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut json_logs = cli.log_format.as_deref() == Some("json");
    let mut logging = false;
    let result = (|| -> anyhow::Result<()> {
        let mut cfg = config::Config::load(cli.config.as_deref())?;
        if let Some(f) = &cli.log_format {
            cfg.log.format = f.clone();
        }
        json_logs = cfg.log.format == "json";
        serve::init_logging(&cfg, matches!(cli.command, Command::Serve { .. }))?;
        logging = true;
        // Local files only: no runtime, no store.
        let command = match cli.command {
            Command::Assertion(c) => return commands::assertion::run(c, cli.json),
            other => other,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            match command {
                Command::Serve { demo } => serve::serve(cfg, demo).await,
                Command::Migrate => commands::migrate(&cfg, cli.json).await,
                Command::Client(c) => commands::client::run(&cfg, c, cli.json).await,
                Command::User(c) => commands::user::run(&cfg, c, cli.json).await,
                Command::RegistrationToken(c) => commands::regtoken::run(&cfg, c, cli.json).await,
                Command::Keys(c) => commands::keys::run(&cfg, c, cli.json).await,
                Command::Service(c) => commands::service::run(&cfg, c, cli.json).await,
                Command::Authserver(c) => commands::authserver::run(&cfg, c, cli.json).await,
                Command::Connection(c) => commands::connection::run(&cfg, c, cli.json).await,
                Command::Proxy(c) => commands::proxy::run(&cfg, c, cli.json).await,
                Command::Audit(c) => commands::audit::run(&cfg, c, cli.json).await,
                Command::Purge => commands::purge::run(&cfg, cli.json).await,
                Command::Assertion(c) => commands::assertion::run(c, cli.json),
            }
        })
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if cli.json => {
            // A script that asked for JSON gets its failure as JSON too, with a code
            // it can branch on (conflict, not_found, an RFC 6749 error code, ...).
            eprintln!(
                "{}",
                serde_json::json!({"error": error_code(&e), "error_description": format!("{e:#}")})
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            report(&e, json_logs, logging);
            ExitCode::FAILURE
        }
    }
}

/// The machine-readable code of a command's failure.
fn error_code(e: &anyhow::Error) -> &'static str {
    for cause in e.chain() {
        if let Some(err) = cause.downcast_ref::<tollgate_authz::Error>() {
            return match err {
                tollgate_authz::Error::Conflict(_) => "conflict",
                tollgate_authz::Error::NotFound(_) => "not_found",
                tollgate_authz::Error::OAuth(o) => o.code(),
            };
        }
    }
    "error"
}

/// The error that ends the process. With JSON logs, standard error is read
/// by a log shipper that expects one JSON object per line, so the last words
/// are JSON too (through the subscriber when it is up, by hand when the
/// configuration itself failed).
fn report(e: &anyhow::Error, json: bool, logging: bool) {
    let error = format!("{e:#}");
    if json && logging {
        tracing::error!(%error, "exiting");
    } else if json {
        eprintln!(
            "{}",
            serde_json::json!({"level": "ERROR", "message": "exiting", "error": error})
        );
    } else {
        eprintln!("error: {error}");
    }
}
