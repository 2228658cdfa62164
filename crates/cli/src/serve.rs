//! `tollgate serve`: bind, compose the routers, run until SIGTERM/Ctrl-C,
//! finish in-flight requests, flush the store.
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tollgate_admin::Admin;
use tollgate_admin::bootstrap::{ADMIN_CLIENT_ID, ensure_admin_client};
use tollgate_authz::App;
use tracing_subscriber::EnvFilter;

use tollgate_gateway::Gateway;

use crate::commands::services;
use crate::config::Config;
use crate::listeners::{self, Bound, Surface};

pub fn init_logging(cfg: &Config, serving: bool) -> anyhow::Result<()> {
    let default = if serving {
        cfg.log.level.as_str()
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default))
        .context("log.level is not a valid filter")?;
    // Colours only for a person at a terminal: a log file, journald or a pipe gets
    // plain text (ANSI escapes there are noise, and break grep).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match cfg.log.format.as_str() {
        "json" => builder.json().flatten_event(true).init(),
        "text" => builder.init(),
        other => bail!("log.format must be 'text' or 'json', not '{other}'"),
    }
    Ok(())
}

pub async fn serve(mut cfg: Config, demo: bool) -> anyhow::Result<()> {
    // Installed before anything records, so no early sample is lost. The
    // handle renders the Prometheus text for `/metrics`.
    let metrics_handle = crate::metrics::install()?;
    let _metrics_upkeep =
        crate::metrics::spawn_upkeep(metrics_handle.clone(), Duration::from_secs(5));
    let mut bound = Vec::new();
    for l in cfg.listener_configs() {
        bound.push(l.bind(cfg.server.allow_plain_http).await?);
    }
    let primary = bound
        .first()
        .map(Bound::local_addr)
        .transpose()?
        .context("no listener")?;
    let issuer = cfg.issuer(Some(primary));
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
    // One token manager per node: the admin API and the gateway share its
    // cache and its one request in flight per connection.
    let connections = Arc::new(tollgate_connect::Connections::new(
        app.svc.store.clone(),
        app.svc.master.clone(),
        app.svc.clock.clone(),
    ));
    let gateway = Gateway::start(app.clone(), cfg.gateway.clone(), connections.clone())
        .await
        .map_err(|e| anyhow::anyhow!("starting the gateway: {e}"))?;
    let _reload = gateway.spawn_reload();
    if demo {
        // The demo client must exist before the echo service's consumer.
        crate::demo::print(
            &app.svc,
            &cfg.server.data_dir,
            &issuer,
            cfg.admin.enabled,
            cfg.gateway.enabled.then_some(cfg.gateway.prefix.as_str()),
        )
        .await?;
    }
    let _echo = if demo && cfg.gateway.enabled {
        Some(crate::demo::start_echo(&gateway).await?)
    } else {
        None
    };
    let admin = Arc::new(Admin {
        app: app.clone(),
        metrics: Some({
            let render = metrics_handle.clone();
            Arc::new(move || render.render())
        }),
        gateway: Some(gateway.clone()),
        connections: connections.clone(),
    });

    // One stop signal, shared by every listener; the grace period bounds
    // the wait for requests in flight.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let grace = Duration::from_secs(cfg.server.shutdown_grace_secs);
    let signal_tx = stop_tx.clone();
    tokio::spawn(async move {
        with_deadline(stop_requested(), grace).await;
        let _ = signal_tx.send(true);
    });
    let proxies = Arc::new(cfg.trusted_proxies());
    let mut servers = tokio::task::JoinSet::new();
    for (i, l) in bound.into_iter().enumerate() {
        let addr = l.local_addr()?;
        let mut routes = axum::Router::new();
        if l.serves(Surface::Oauth) {
            routes = routes.merge(tollgate_authz::routes(app.clone()));
        }
        if l.serves(Surface::Admin) {
            routes = routes.merge(tollgate_admin::router(admin.clone()));
        }
        let router = tollgate_authz::edge(routes);
        // The listener hands gateway calls to the gateway before routing.
        let gateway = l.serves(Surface::Gateway).then(|| gateway.clone());
        let surfaces: Vec<&str> = l
            .config
            .serves
            .iter()
            .map(|s| match s {
                Surface::Oauth => "oauth",
                Surface::Gateway => "gateway",
                Surface::Admin => "admin",
            })
            .collect();
        tracing::info!(%addr, scheme = l.scheme(), serves = ?surfaces, "listening");
        if i > 0 {
            println!(
                "tollgate {} listening on {}://{addr}",
                surfaces.join("+"),
                l.scheme()
            );
        }
        let mut rx = stop_rx.clone();
        servers.spawn(listeners::run(
            l,
            listeners::Shared {
                router,
                gateway,
                proxies: proxies.clone(),
                max_connections: cfg.server.max_connections,
            },
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            },
        ));
    }

    tracing::info!(%primary, %issuer, backend = app.svc.store.backend(), "tollgate listening");
    // A stable line on stdout so scripts and tests can find the bound port;
    // it comes last, once everything else is up.
    println!(
        "tollgate listening on {}://{primary}",
        if cfg.server.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    );
    // A listener that fails stops the others (they finish what is in
    // flight), and the process still purges and flushes before it exits
    // with that error.
    let mut failure: Option<anyhow::Error> = None;
    while let Some(done) = servers.join_next().await {
        let result = done.context("listener task").and_then(|r| r);
        if let Err(e) = result
            && failure.is_none()
        {
            tracing::error!(error = %e, "a listener failed; stopping");
            let _ = stop_tx.send(true);
            failure = Some(e);
        }
    }
    // Stop purging before the final flush: a purge batch cut short is rolled
    // back and simply done again by the next run or node.
    if let Some(purge) = purge {
        purge.abort();
    }
    app.svc.store.flush().await.context("flushing the store")?;
    if let Some(e) = failure {
        return Err(e);
    }
    tracing::info!("stopped");
    Ok(())
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
