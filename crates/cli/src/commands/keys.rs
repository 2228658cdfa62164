//! `tollgate keys rotate|list`
use clap::Subcommand;
use serde_json::json;
use tollgate_authz::keys::rotate_key;
use tollgate_jose::Alg;
use tollgate_store::KeyStatus;

use super::assertion::parse_signing_alg;
use super::with_services;
use crate::config::Config;
use crate::output;

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Generate a new signing key and make it active; the previous key
    /// stays published in the JWKS so its signatures still verify.
    Rotate {
        /// ES256, EdDSA, RS256 or PS256 (default: keys.algorithm).
        #[arg(long, value_parser = parse_signing_alg)]
        alg: Option<Alg>,
        /// Only publish the new key in the JWKS now (status `next`); the
        /// server's schedule makes it sign once it has been published for
        /// keys.publish_ahead_secs, so verifiers that cache the JWKS know it
        /// before the first token signed with it arrives.
        #[arg(long)]
        staged: bool,
    },
    /// List signing keys.
    List,
}

pub async fn run(cfg: &Config, cmd: KeysCmd, as_json: bool) -> anyhow::Result<()> {
    with_services(cfg, async |svc| match cmd {
        KeysCmd::Rotate { alg, staged } => {
            let alg = alg.unwrap_or(svc.settings.keys.algorithm);
            let status = if staged {
                KeyStatus::Next
            } else {
                KeyStatus::Active
            };
            let kid = rotate_key(svc, alg, status).await?;
            if as_json {
                output::json(&json!({"kid": kid, "alg": alg.as_str(), "status": status.as_str()}))
            } else if staged {
                println!(
                    "new {alg} key {kid} published in the JWKS (status next); it signs after \
                     keys.publish_ahead_secs ({} s) once the server's schedule promotes it",
                    svc.settings.keys.publish_ahead_secs
                );
                Ok(())
            } else {
                println!("new active {alg} signing key: {kid}");
                Ok(())
            }
        }
        KeysCmd::List => {
            let keys = svc.store.list_keys().await?;
            if as_json {
                let v: Vec<_> = keys
                    .iter()
                    .map(|k| json!({"kid": k.kid, "alg": k.alg, "status": k.status.as_str(), "created_at": k.created_at, "retired_at": k.retired_at}))
                    .collect();
                output::json(&v)
            } else {
                let rows = keys
                    .iter()
                    .map(|k| vec![k.kid.clone(), k.alg.clone(), k.status.as_str().into(), tollgate_core::clock::format_utc(k.created_at)])
                    .collect::<Vec<_>>();
                output::table(&["KID", "ALG", "STATUS", "CREATED_AT"], &rows);
                Ok(())
            }
        }
    })
    .await
}
