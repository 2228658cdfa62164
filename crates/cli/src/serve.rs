//! `tollgate serve`: bind, compose the routers, run until SIGTERM/Ctrl-C,
//! finish in-flight requests, flush the store.
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tollgate_authz::clients::{self, NewClient};
use tollgate_authz::{App, Services, initial_tokens};
use tollgate_core::{GrantType, ScopeSet};
use tracing_subscriber::EnvFilter;

use crate::commands::services;
use crate::config::Config;

pub fn init_logging(cfg: &Config, serving: bool) -> anyhow::Result<()> {
    let default = if serving {
        cfg.log.level.as_str()
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default))
        .context("log.level is not a valid filter")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log.format.as_str() {
        "json" => builder.json().flatten_event(true).init(),
        "text" => builder.init(),
        other => bail!("log.format must be 'text' or 'json', not '{other}'"),
    }
    Ok(())
}

pub async fn serve(cfg: Config, demo: bool) -> anyhow::Result<()> {
    let addr = cfg.listen_addr()?;
    if !addr.ip().is_loopback() && !cfg.server.allow_plain_http {
        bail!(
            "refusing to serve plain HTTP on non-loopback address {addr}: put Tollgate behind a \
             TLS-terminating proxy and set server.allow_plain_http = true"
        );
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let issuer = cfg.issuer(Some(bound));
    let svc = services(&cfg, &issuer).await?;
    let app = App::start(svc)
        .await
        .map_err(|e| anyhow::anyhow!("starting: {e}"))?;
    let _keys = app.spawn_key_refresh(Duration::from_secs(30));
    let purge = cfg.purge.enabled.then(|| {
        tollgate_authz::purge::spawn_purge(
            app.svc.store.clone(),
            app.svc.clock.clone(),
            cfg.purge.clone(),
        )
    });

    if demo {
        print_demo(&app.svc, &cfg.server.data_dir, &issuer).await?;
    }
    tracing::info!(%bound, %issuer, backend = app.svc.store.backend(), "tollgate listening");
    // A stable line on stdout so scripts and tests can find the bound port.
    println!("tollgate listening on http://{bound}");

    let router = tollgate_authz::router(app.clone());
    let grace = Duration::from_secs(cfg.server.shutdown_grace_secs);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal(grace))
    .await
    .context("server error")?;
    // Stop purging before the final flush: a purge batch cut short is rolled
    // back and simply done again by the next run or node.
    if let Some(purge) = purge {
        purge.abort();
    }
    app.svc.store.flush().await.context("flushing the store")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C; a second signal, or the grace period
/// running out, ends the process without waiting further.
async fn shutdown_signal(grace: Duration) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: finishing in-flight requests"
    );
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        tracing::warn!("grace period over; exiting");
        std::process::exit(1);
    });
}

const DEMO_ID: &str = "demo";
const DEMO_FILE: &str = "demo-client.json";

#[derive(Serialize, Deserialize)]
struct DemoCredentials {
    client_id: String,
    client_secret: String,
}

/// The demo client's secret, kept in a 0600 file so restarts print working
/// commands; if the file is gone or stale the secret is rotated.
async fn demo_credentials(svc: &Services, data_dir: &Path) -> anyhow::Result<String> {
    let file = data_dir.join(DEMO_FILE);
    let existing = svc.store.get_client(DEMO_ID).await?;
    if let Some(client) = &existing {
        let saved: Option<DemoCredentials> = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(saved) = saved {
            let now = svc.now();
            if client.enabled
                && client.secrets.iter().any(|s| {
                    s.is_live(now)
                        && svc
                            .master
                            .verify_client_secret(&saved.client_secret, &s.hash)
                })
            {
                return Ok(saved.client_secret);
            }
        }
    }
    let view = match existing {
        Some(_) => {
            clients::set_enabled(svc, DEMO_ID, true).await?;
            clients::rotate_secret(svc, DEMO_ID, 0).await?
        }
        None => {
            let new = NewClient {
                id: Some(DEMO_ID.into()),
                name: "Demo client".into(),
                grant_types: Some([GrantType::ClientCredentials, GrantType::RefreshToken].into()),
                scopes: ScopeSet::parse("demo.read demo.write")
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                metadata: [("Department".to_owned(), "Engineering".to_owned())].into(),
                ..Default::default()
            };
            clients::create_client(svc, new).await?
        }
    };
    let secret = view
        .client_secret
        .context("the demo client has no secret")?;
    write_private(
        &file,
        &serde_json::to_vec_pretty(&DemoCredentials {
            client_id: DEMO_ID.into(),
            client_secret: secret.clone(),
        })?,
    )?;
    Ok(secret)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

async fn print_demo(svc: &Services, data_dir: &Path, issuer: &str) -> anyhow::Result<()> {
    let secret = demo_credentials(svc, data_dir).await?;
    let iat = initial_tokens::create(svc, "demo", Some(86400), Some(10)).await?;
    let auth = format!("'{DEMO_ID}:{secret}'");
    let token_cmd = format!(
        "curl -s -u {auth} -d grant_type=client_credentials -d scope=demo.read {issuer}/oauth2/token"
    );
    println!(
        r#"
Tollgate demo
=============
Demo client: {DEMO_ID} / {secret}
(saved in {file}; scopes "demo.read demo.write"; metadata Department=Engineering)

# 1. Get an access token (client credentials):
{token_cmd}

# 2. Keep one in a shell variable:
TOKEN=$({token_cmd} | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

# 3. Introspect it (RFC 7662):
curl -s -u {auth} -d "token=$TOKEN" {issuer}/oauth2/introspect

# 4. Token information:
curl -s "{issuer}/oauth2/tokeninfo?access_token=$TOKEN"

# 5. Revoke it (RFC 7009), then introspect again to see "active":false:
curl -s -o /dev/null -w '%{{http_code}}\n' -u {auth} -d "token=$TOKEN" {issuer}/oauth2/revoke
curl -s -u {auth} -d "token=$TOKEN" {issuer}/oauth2/introspect

# 6. Register a client dynamically (RFC 7591) with this initial access token (valid 24 h, 10 uses):
curl -s -H 'Authorization: Bearer {iat}' -H 'Content-Type: application/json' -d '{{"client_name":"my app","grant_types":["client_credentials"],"scope":"demo.read"}}' {issuer}/oauth2/register

# Discovery: {issuer}/.well-known/oauth-authorization-server
"#,
        file = data_dir.join(DEMO_FILE).display(),
        iat = iat.token,
    );
    Ok(())
}
