//! `tollgate keys rotate|list`
use clap::Subcommand;
use serde_json::json;
use tollgate_authz::keys::rotate_key;
use tollgate_store::KeyStatus;

use super::with_services;
use crate::config::Config;
use crate::output;

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Generate a new ES256 signing key and make it active; the previous key
    /// stays published in the JWKS so its signatures still verify.
    Rotate,
    /// List signing keys.
    List,
}

pub async fn run(cfg: &Config, cmd: KeysCmd, as_json: bool) -> anyhow::Result<()> {
    with_services(cfg, async |svc| match cmd {
        KeysCmd::Rotate => {
            let alg = svc.settings.keys.algorithm;
            let kid = rotate_key(svc, alg, KeyStatus::Active).await?;
            if as_json {
                output::json(&json!({"kid": kid, "alg": alg.as_str(), "status": "active"}))
            } else {
                println!("new active signing key: {kid}");
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
                    .map(|k| vec![k.kid.clone(), k.alg.clone(), k.status.as_str().into(), k.created_at.to_string()])
                    .collect::<Vec<_>>();
                output::table(&["KID", "ALG", "STATUS", "CREATED_AT"], &rows);
                Ok(())
            }
        }
    })
    .await
}
