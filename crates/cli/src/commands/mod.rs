//! Sub-commands that manage what the server stores. Each reads the same
//! config and works on the same store as `serve`.
pub mod assertion;
pub mod audit;
pub mod authserver;
pub mod client;
pub mod connection;
pub mod keys;
pub mod proxy;
pub mod purge;
pub mod regtoken;
pub mod service;
pub mod user;

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use tollgate_authz::Services;
use tollgate_core::SystemClock;
use tollgate_jose::MasterKey;

use crate::config::Config;
use crate::output;

/// Opens the store (running migrations) and loads the master key.
pub async fn services(cfg: &Config, issuer: &str) -> anyhow::Result<Services> {
    let store = tollgate_store::open(&cfg.store_options()?)
        .await
        .context("cannot open the store")?;
    let (master, source) = MasterKey::load_or_create(&cfg.server.data_dir).context("master key")?;
    tracing::debug!(?source, "master key loaded");
    Services::new(
        store,
        Arc::new(master),
        Arc::new(SystemClock),
        cfg.authz_settings(issuer),
    )
    .map_err(|e| anyhow::anyhow!("configuration: {e}"))
}

/// Opens services for a one-shot command and flushes queued writes before exit.
pub async fn with_services<T, F>(cfg: &Config, f: F) -> anyhow::Result<T>
where
    F: AsyncFnOnce(&Services) -> anyhow::Result<T>,
{
    let svc = services(cfg, &cfg.issuer(None)).await?;
    let out = f(&svc).await;
    svc.store.flush().await.context("flushing the audit log")?;
    out
}

/// A secret (a password, a client secret) from standard input, so it never
/// appears in a command line, the shell history or `ps`. One trailing
/// newline is dropped.
pub fn read_stdin_secret(flag: &str) -> anyhow::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .with_context(|| format!("{flag}: reading standard input"))?;
    let s = s.trim_end_matches(['\r', '\n']).to_owned();
    if s.is_empty() {
        anyhow::bail!("{flag}: standard input was empty");
    }
    Ok(s)
}

/// A secret from the environment variable `var` (named by `flag`), so it
/// never appears in a command line.
pub fn env_secret(flag: &str, var: &str) -> anyhow::Result<String> {
    std::env::var(var).map_err(|_| anyhow::anyhow!("{flag}: the variable {var} is not set"))
}

pub async fn migrate(cfg: &Config, as_json: bool) -> anyhow::Result<()> {
    let store = tollgate_store::open(&cfg.store_options()?)
        .await
        .context("cannot open the store")?;
    if as_json {
        output::json(&json!({"migrated": true, "backend": store.backend()}))
    } else {
        println!("{} schema is up to date", store.backend());
        Ok(())
    }
}
