//! `tollgate registration-token create|list|revoke`
use clap::Subcommand;
use serde_json::json;
use tollgate_authz::initial_tokens;

use super::with_services;
use crate::config::Config;
use crate::output;

#[derive(Subcommand)]
pub enum RegTokenCmd {
    /// Create an initial access token; it is printed once.
    Create {
        #[arg(long, default_value = "")]
        description: String,
        /// Lifetime in seconds; 0 = never expires.
        #[arg(long, default_value_t = 86400)]
        expires_in: u64,
        /// How many registrations it allows (default: unlimited until it expires).
        #[arg(long)]
        max_uses: Option<u32>,
    },
    /// List initial access tokens (never their values).
    List,
    /// Revoke an initial access token by id.
    Revoke { id: String },
}

pub async fn run(cfg: &Config, cmd: RegTokenCmd, as_json: bool) -> anyhow::Result<()> {
    with_services(cfg, async |svc| match cmd {
        RegTokenCmd::Create { description, expires_in, max_uses } => {
            let expires = (expires_in > 0).then_some(expires_in);
            let t = initial_tokens::create(svc, &description, expires, max_uses).await?;
            if as_json {
                output::json(&t)
            } else {
                println!("initial access token (shown once): {}", t.token);
                println!("id: {}", t.id);
                Ok(())
            }
        }
        RegTokenCmd::List => {
            let list = svc.store.list_registration_tokens().await?;
            if as_json {
                let v: Vec<_> = list
                    .iter()
                    .map(|t| json!({"id": t.id, "description": t.description, "created_at": t.created_at, "expires_at": t.expires_at, "max_uses": t.max_uses, "uses": t.uses, "revoked": t.revoked}))
                    .collect();
                output::json(&v)
            } else {
                let rows = list
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            t.uses.to_string(),
                            t.max_uses.map_or("-".into(), |m| m.to_string()),
                            t.expires_at.map_or("never".into(), tollgate_core::clock::format_utc),
                            t.revoked.to_string(),
                            t.description.clone(),
                        ]
                    })
                    .collect::<Vec<_>>();
                output::table(&["ID", "USES", "MAX_USES", "EXPIRES_AT", "REVOKED", "DESCRIPTION"], &rows);
                Ok(())
            }
        }
        RegTokenCmd::Revoke { id } => {
            if !svc.store.revoke_registration_token(&id).await? {
                anyhow::bail!("no registration token with id '{id}'");
            }
            if as_json {
                output::json(&json!({"id": id, "revoked": true}))
            } else {
                println!("revoked {id}");
                Ok(())
            }
        }
    })
    .await
}
