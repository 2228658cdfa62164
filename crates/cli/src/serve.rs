//! `tollgate serve`: bind, compose the routers, run until SIGTERM/Ctrl-C,
//! finish in-flight requests, flush the store.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tollgate_admin::Admin;
use tollgate_admin::bootstrap::{ADMIN_CLIENT_ID, ensure_admin_client};
use tollgate_authz::App;
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

pub async fn serve(mut cfg: Config, demo: bool) -> anyhow::Result<()> {
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
    if demo {
        // Trusted issuers are read when the services are built.
        crate::demo::add_demo_issuer(&mut cfg)?;
    }
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
        crate::demo::print(&app.svc, &cfg.server.data_dir, &issuer, cfg.admin.enabled).await?;
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
