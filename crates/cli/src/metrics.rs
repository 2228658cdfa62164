//! The Prometheus recorder behind the `metrics` facade the other crates
//! write to. It is installed without the exporter's own HTTP listener: the
//! text is rendered from the returned handle by whatever serves `/metrics`,
//! and `spawn_upkeep` does the housekeeping that listener would have done.
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets for durations in seconds: from half a millisecond (a
/// cached introspection) to five seconds (a store that is struggling).
pub const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn builder() -> anyhow::Result<PrometheusBuilder> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .context("metrics histogram buckets")
}

/// Installs the process-wide recorder and returns its handle. A process has
/// one global recorder, so a second call returns the first call's handle
/// instead of failing (tests in one process may each want it).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
    let mut slot = HANDLE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(h) = slot.as_ref() {
        return Ok(h.clone());
    }
    let handle = builder()?
        .install_recorder()
        .context("installing the metrics recorder")?;
    *slot = Some(handle.clone());
    Ok(handle)
}

/// Runs the recorder's upkeep (draining histogram samples, so memory stays
/// bounded between scrapes) every `every`, as the exporter's HTTP listener
/// would if it were used.
pub fn spawn_upkeep(handle: PrometheusHandle, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tollgate_authz::App;
    use tollgate_authz::clients::{self, NewClient};

    use super::*;
    use crate::config::Config;

    fn line_value<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
    }

    /// The whole path in one process: the installed recorder, the real
    /// router on a loopback port, a token issued over HTTP, the rendering.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rendering_shows_issued_tokens_errors_and_latency() {
        let handle = install().unwrap();
        assert!(
            install().is_ok(),
            "a second install returns the same handle"
        );
        let dir = std::env::temp_dir().join(format!("tollgate-metrics-{}", std::process::id()));
        let mut cfg = Config::default();
        cfg.server.data_dir = dir.join("data");
        std::fs::create_dir_all(&cfg.server.data_dir).unwrap();
        let svc = crate::commands::services(&cfg, "http://127.0.0.1")
            .await
            .unwrap();
        let view = clients::create_client(
            &svc,
            NewClient {
                id: Some("metrics-test".into()),
                name: "metrics test".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let secret = view.client_secret.unwrap();
        let app = App::start(svc).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = tollgate_authz::router(app);
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        let http = reqwest::Client::new();
        let token = |secret: String| {
            http.post(format!("{base}/oauth2/token"))
                .basic_auth("metrics-test", Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
        };
        assert_eq!(token(secret.clone()).await.unwrap().status(), 200);
        assert_eq!(token(secret).await.unwrap().status(), 200);
        assert_eq!(token("wrong".into()).await.unwrap().status(), 401);
        let missing = http.get(format!("{base}/no/such/path")).send().await;
        assert_eq!(missing.unwrap().status(), 404);

        handle.run_upkeep();
        let text = handle.render();
        assert_eq!(
            line_value(
                &text,
                r#"tollgate_tokens_issued_total{grant_type="client_credentials",client_id="metrics-test"}"#
            ),
            Some("2"),
            "{text}"
        );
        assert_eq!(
            line_value(
                &text,
                r#"tollgate_oauth_errors_total{endpoint="token",error="invalid_client"}"#
            ),
            Some("1"),
            "{text}"
        );
        assert_eq!(
            line_value(
                &text,
                r#"tollgate_http_request_duration_seconds_count{route="/oauth2/token",method="POST",status="2xx"}"#
            ),
            Some("2"),
            "{text}"
        );
        assert_eq!(
            line_value(
                &text,
                r#"tollgate_http_request_duration_seconds_count{route="unmatched",method="GET",status="4xx"}"#
            ),
            Some("1"),
            "{text}"
        );
        assert!(
            text.contains(r#"tollgate_http_request_duration_seconds_bucket{route="/oauth2/token",method="POST",status="2xx",le="0.0005"}"#),
            "histograms use the seconds buckets: {text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
