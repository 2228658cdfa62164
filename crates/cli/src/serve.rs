//! `tollgate serve`: bind, compose the routers, run until SIGTERM/Ctrl-C,
//! finish in-flight requests, flush the store.
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tollgate_admin::Admin;
use tollgate_admin::bootstrap::{ADMIN_CLIENT_ID, ensure_admin_client, write_private};
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

/// Refuses plain HTTP on a non-loopback address unless allowed.
fn check_plain_http(cfg: &Config, addr: SocketAddr, key: &str) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && !cfg.server.allow_plain_http {
        bail!(
            "refusing to serve plain HTTP on non-loopback address {addr} ({key}): put Tollgate \
             behind a TLS-terminating proxy and set server.allow_plain_http = true"
        );
    }
    Ok(())
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

pub async fn serve(cfg: Config, demo: bool) -> anyhow::Result<()> {
    // Installed before anything records, so no early sample is lost. The
    // handle renders the Prometheus text for `/metrics`.
    let metrics_handle = crate::metrics::install()?;
    let _metrics_upkeep =
        crate::metrics::spawn_upkeep(metrics_handle.clone(), Duration::from_secs(5));
    let addr = cfg.listen_addr()?;
    check_plain_http(&cfg, addr, "server.listen")?;
    let admin_addr = cfg.admin_listen_addr()?;
    if let Some(a) = admin_addr {
        check_plain_http(&cfg, a, "admin.listen")?;
    }
    let listener = bind(addr).await?;
    let bound = listener.local_addr()?;
    let admin_listener = match admin_addr.filter(|_| cfg.admin.enabled) {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
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

    if cfg.admin.enabled
        && let Some(path) = ensure_admin_client(&app.svc, &cfg.server.data_dir).await?
    {
        println!(
            "created the admin client '{ADMIN_CLIENT_ID}'; its credentials are in {}",
            path.display()
        );
    }
    if demo {
        print_demo(&app.svc, &cfg.server.data_dir, &issuer, cfg.admin.enabled).await?;
    }
    let admin = cfg.admin.enabled.then(|| {
        let render = metrics_handle.clone();
        tollgate_admin::router(Arc::new(Admin {
            app: app.clone(),
            metrics: Some(Arc::new(move || render.render())),
        }))
    });
    let mut main_routes = tollgate_authz::routes(app.clone());
    let mut admin_server = None;
    match (admin, admin_listener) {
        (Some(admin), Some(l)) => {
            let admin_bound = l.local_addr()?;
            tracing::info!(%admin_bound, "admin API listening");
            println!("tollgate admin listening on http://{admin_bound}");
            admin_server = Some(tokio::spawn(run_listener(
                l,
                tollgate_authz::edge(admin),
                stop_requested(),
            )));
        }
        (Some(admin), None) => main_routes = main_routes.merge(admin),
        (None, _) => {}
    }

    tracing::info!(%bound, %issuer, backend = app.svc.store.backend(), "tollgate listening");
    // A stable line on stdout so scripts and tests can find the bound port;
    // it comes last, once everything else is up.
    println!("tollgate listening on http://{bound}");

    let grace = Duration::from_secs(cfg.server.shutdown_grace_secs);
    run_listener(
        listener,
        tollgate_authz::edge(main_routes),
        with_deadline(stop_requested(), grace),
    )
    .await?;
    if let Some(s) = admin_server {
        s.await.context("admin listener")??;
    }
    // Stop purging before the final flush: a purge batch cut short is rolled
    // back and simply done again by the next run or node.
    if let Some(purge) = purge {
        purge.abort();
    }
    app.svc.store.flush().await.context("flushing the store")?;
    tracing::info!("stopped");
    Ok(())
}

async fn run_listener(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("server error")
}

/// After the stop signal the server stops accepting and finishes the requests
/// in flight. An orchestrator waits a while after SIGTERM before it kills, so
/// the grace period bounds the wait from our side; an operator who does not
/// want to wait sends a second signal. Either ends the process with status 1
/// (requests were cut off).
async fn with_deadline(signal: impl Future<Output = ()>, grace: Duration) {
    signal.await;
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: finishing in-flight requests"
    );
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(grace) => {
                tracing::warn!("grace period over; exiting");
            }
            _ = stop_requested() => {
                tracing::warn!("second stop signal; exiting");
            }
        }
        std::process::exit(1);
    });
}

/// SIGTERM or Ctrl-C (SIGINT).
async fn stop_requested() {
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

async fn print_demo(
    svc: &Services,
    data_dir: &Path,
    issuer: &str,
    admin: bool,
) -> anyhow::Result<()> {
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
    if admin {
        let creds = data_dir.join(tollgate_admin::bootstrap::CREDENTIALS_FILE);
        println!(
            r#"# 7. The admin API (OpenAPI document: {issuer}/admin/openapi.json), with the admin
#    client whose credentials the first start wrote to {creds}:
ADMIN=$(curl -s -u "{ADMIN_CLIENT_ID}:$(sed -E 's/.*"client_secret": "([^"]+)".*/\1/;t;d' '{creds}')" -d grant_type=client_credentials -d scope=tollgate:admin {issuer}/oauth2/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
curl -s -H "Authorization: Bearer $ADMIN" {issuer}/admin/v1/clients/{DEMO_ID}
"#,
            creds = creds.display(),
        );
    }
    Ok(())
}
