//! Prometheus metrics through the `metrics` facade: a request-latency layer
//! for every route and the OAuth-level counters the endpoints bump. Nothing
//! here knows the exporter; the binary installs the recorder (and without
//! one every call is a no-op). Label values come from bounded sets (route
//! templates, known methods, status classes, error codes, registered client
//! ids), never from raw request data, so the series count stays bounded.
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

pub const HTTP_REQUEST_DURATION: &str = "tollgate_http_request_duration_seconds";
pub const TOKENS_ISSUED: &str = "tollgate_tokens_issued_total";
pub const OAUTH_ERRORS: &str = "tollgate_oauth_errors_total";
pub const INTROSPECTIONS: &str = "tollgate_introspections_total";
pub const REVOCATIONS: &str = "tollgate_revocations_total";
pub const RATE_LIMIT_REJECTIONS: &str = "tollgate_rate_limit_rejections_total";
/// Failed authentications answered late because their address failed often.
pub const AUTH_FAILURE_DELAYS: &str = "tollgate_auth_failure_delays_total";

/// Route label for requests no route matched (404s of scanners would
/// otherwise create one series per probed path).
pub const UNMATCHED: &str = "unmatched";

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        // Extension methods are arbitrary tokens chosen by the caller.
        _ => "other",
    }
}

/// `2xx`, `4xx`, …: the status label of every latency and request metric.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Middleware (`axum::middleware::from_fn`) that records how long each
/// request took, labelled with the matched route template (`/oauth2/token`,
/// `/oauth2/register/{client_id}`), the method and the status class. Added
/// with `Router::layer`, it runs inside routing, where `MatchedPath` is known.
pub async fn track_requests(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    metrics::histogram!(
        HTTP_REQUEST_DURATION,
        "route" => route,
        "method" => method,
        "status" => status_class(response.status().as_u16()),
    )
    .record(start.elapsed().as_secs_f64());
    response
}

/// An OAuth error answered by `endpoint` (`token`, `introspect`, `revoke`,
/// `tokeninfo`, `register`), by its RFC 6749 §5.2 (or extension) code.
pub fn oauth_error(endpoint: &'static str, error: &'static str) {
    metrics::counter!(OAUTH_ERRORS, "endpoint" => endpoint, "error" => error).increment(1);
}

/// A token response handed out (after the store committed it).
pub fn token_issued(grant_type: &'static str, client_id: &str) {
    metrics::counter!(
        TOKENS_ISSUED,
        "grant_type" => grant_type,
        "client_id" => client_id.to_owned(),
    )
    .increment(1);
}

/// An answered introspection request (RFC 7662), by the `active` it answered.
pub fn introspected(active: bool) {
    let active = if active { "true" } else { "false" };
    metrics::counter!(INTROSPECTIONS, "active" => active).increment(1);
}

/// A token that was found and revoked (RFC 7009); requests for unknown
/// tokens, which RFC 7009 §2.2 also answers 200, are not counted.
pub fn revoked() {
    metrics::counter!(REVOCATIONS).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use tower::ServiceExt;

    /// The recorder is installed only for this thread (`with_local_recorder`)
    /// and the requests run on a current-thread runtime inside it, so the
    /// test needs no global state.
    #[test]
    fn latency_is_labelled_by_route_template_method_and_status_class() {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.001, 0.01, 1.0])
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        let app = Router::new()
            .route("/things/{id}", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(track_requests));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                for (method, path) in [
                    ("GET", "/things/1"),
                    ("GET", "/things/2"),
                    ("GET", "/nothing/here"),
                    ("POST", "/things/3"),
                    ("BREW", "/things/4"),
                ] {
                    let req = Request::builder()
                        .method(method)
                        .uri(path)
                        .body(Body::empty())
                        .unwrap();
                    app.clone().oneshot(req).await.unwrap();
                }
            });
        });
        let text = handle.render();
        let count = |labels: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with(&format!("{HTTP_REQUEST_DURATION}_count{{")) && l.contains(labels)
                })
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_owned)
        };
        assert_eq!(
            count(r#"route="/things/{id}",method="GET",status="2xx""#).as_deref(),
            Some("2"),
            "{text}"
        );
        assert_eq!(
            count(r#"route="unmatched",method="GET",status="4xx""#).as_deref(),
            Some("1"),
            "{text}"
        );
        assert_eq!(
            count(r#"route="/things/{id}",method="POST",status="4xx""#).as_deref(),
            Some("1"),
            "405 on a matched route: {text}"
        );
        assert!(
            count(r#"method="other""#).is_some(),
            "extension methods are folded: {text}"
        );
        assert!(
            !text.contains("/things/1"),
            "raw paths never appear: {text}"
        );
    }

    #[test]
    fn counters_carry_their_labels() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            token_issued("client_credentials", "svc-a");
            token_issued("client_credentials", "svc-a");
            oauth_error("token", "invalid_client");
            introspected(true);
            introspected(false);
            revoked();
        });
        let text = handle.render();
        for line in [
            r#"tollgate_tokens_issued_total{grant_type="client_credentials",client_id="svc-a"} 2"#,
            r#"tollgate_oauth_errors_total{endpoint="token",error="invalid_client"} 1"#,
            r#"tollgate_introspections_total{active="true"} 1"#,
            r#"tollgate_introspections_total{active="false"} 1"#,
            "tollgate_revocations_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
