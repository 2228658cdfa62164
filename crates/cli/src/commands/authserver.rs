//! `tollgate authserver add|update|list|show|delete`: third-party
//! authorization servers whose tokens gateway services accept (seed 001's
//! "External Authorization Server").
use clap::{ArgGroup, Args, Subcommand};
use tollgate_gateway::manage::{self, AuthServerView};
use tollgate_gateway::spec::AuthServerSpec;

use super::{read_stdin_secret, with_services};
use crate::config::Config;
use crate::output;

#[derive(Subcommand)]
pub enum AuthServerCmd {
    /// Add a server: RFC 7662 introspection (--introspection-url with the
    /// gateway's --client-id and secret), or JWT access tokens verified
    /// against its keys (--jwks-uri with --issuer).
    #[command(group(ArgGroup::new("how").required(true).args(["introspection_url", "jwks_uri"])))]
    Add {
        name: String,
        #[command(flatten)]
        args: ServerArgs,
    },
    /// Replace a server's settings (the secret is kept unless a new one is given).
    Update {
        name: String,
        #[command(flatten)]
        args: ServerArgs,
    },
    List,
    Show {
        name: String,
    },
    /// Remove a server (refused while a service validates with it).
    Delete {
        name: String,
    },
}

#[derive(Args)]
pub struct ServerArgs {
    #[arg(long)]
    introspection_url: Option<url::Url>,
    /// The gateway's client id at the introspection endpoint.
    #[arg(long)]
    client_id: Option<String>,
    /// The client secret. Visible in `ps` and the shell history: prefer
    /// --client-secret-stdin or --client-secret-env.
    #[arg(long, conflicts_with_all = ["client_secret_stdin", "client_secret_env"])]
    client_secret: Option<String>,
    /// Read the client secret from standard input.
    #[arg(long, conflicts_with = "client_secret_env")]
    client_secret_stdin: bool,
    /// Read the client secret from this environment variable.
    #[arg(long)]
    client_secret_env: Option<String>,
    #[arg(long)]
    jwks_uri: Option<url::Url>,
    /// The server's issuer (`iss`).
    #[arg(long)]
    issuer: Option<String>,
    /// Longest reuse of an answer, in seconds (never past the token's exp).
    #[arg(long, default_value_t = 60)]
    cache_ttl: u64,
    /// How long an "inactive" answer is remembered, in seconds.
    #[arg(long, default_value_t = 5)]
    negative_ttl: u64,
    /// Introspection or key-fetch timeout in milliseconds.
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
}

impl ServerArgs {
    fn split(self) -> anyhow::Result<(AuthServerSpec, Option<String>)> {
        let secret = if let Some(s) = self.client_secret {
            eprintln!(
                "warning: a secret on the command line is visible to other users (ps) and kept in the shell history; use --client-secret-stdin or --client-secret-env"
            );
            Some(s)
        } else if self.client_secret_stdin {
            Some(read_stdin_secret("--client-secret-stdin")?)
        } else if let Some(var) = self.client_secret_env {
            Some(std::env::var(&var).map_err(|_| {
                anyhow::anyhow!("--client-secret-env: the variable {var} is not set")
            })?)
        } else {
            None
        };
        Ok((
            AuthServerSpec {
                introspection_url: self.introspection_url,
                client_id: self.client_id,
                jwks_uri: self.jwks_uri,
                issuer: self.issuer,
                cache_ttl_secs: self.cache_ttl,
                negative_ttl_secs: self.negative_ttl,
                timeout_ms: self.timeout_ms,
            },
            secret,
        ))
    }
}

pub async fn run(cfg: &Config, cmd: AuthServerCmd, as_json: bool) -> anyhow::Result<()> {
    with_services(cfg, async |svc| match cmd {
        AuthServerCmd::Add { name, args } => {
            let (spec, secret) = args.split()?;
            let v = manage::put_auth_server(svc, &name, spec, secret.as_deref(), false).await?;
            print(&v, as_json)
        }
        AuthServerCmd::Update { name, args } => {
            let (spec, secret) = args.split()?;
            let v = manage::put_auth_server(svc, &name, spec, secret.as_deref(), true).await?;
            print(&v, as_json)
        }
        AuthServerCmd::List => {
            let list = manage::list_auth_servers(svc).await?;
            if as_json {
                return output::json(&list);
            }
            let rows = list
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        if s.spec.introspection_url.is_some() {
                            "introspection".into()
                        } else {
                            "jwks".into()
                        },
                        s.spec
                            .introspection_url
                            .as_ref()
                            .or(s.spec.jwks_uri.as_ref())
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                    ]
                })
                .collect::<Vec<_>>();
            output::table(&["NAME", "KIND", "URL"], &rows);
            Ok(())
        }
        AuthServerCmd::Show { name } => print(&manage::get_auth_server(svc, &name).await?, as_json),
        AuthServerCmd::Delete { name } => {
            manage::delete_auth_server(svc, &name).await?;
            if as_json {
                output::json(&serde_json::json!({"deleted": name}))
            } else {
                println!("authorization server '{name}' deleted");
                Ok(())
            }
        }
    })
    .await
}

fn print(v: &AuthServerView, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return output::json(v);
    }
    println!("authorization server: {}", v.name);
    if let Some(u) = &v.spec.introspection_url {
        println!("  introspection: {u}");
        println!(
            "  client_id:     {}",
            v.spec.client_id.as_deref().unwrap_or("")
        );
        println!("  secret stored: {}", v.has_client_secret);
    }
    if let Some(u) = &v.spec.jwks_uri {
        println!("  jwks_uri:      {u}");
    }
    if let Some(i) = &v.spec.issuer {
        println!("  issuer:        {i}");
    }
    println!(
        "  cache:         {} s (inactive: {} s)",
        v.spec.cache_ttl_secs, v.spec.negative_ttl_secs
    );
    Ok(())
}
