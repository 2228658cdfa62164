//! Request tracing that cannot leak a secret into the log.
//!
//! tower-http's default span records the full URI, and a query string can
//! carry a token (`/oauth2/tokeninfo?access_token=…` is the seed's own
//! example), so the span here names the method and the path only. Headers are
//! never recorded (`Authorization` and `Cookie` are also marked sensitive in
//! the router), and bodies, where secrets travel in form fields, are never
//! logged at all.
use axum::http::Request;
use tracing::Span;

/// The span every request runs in (level DEBUG, like tower-http's default).
pub fn request_span<B>(req: &Request<B>) -> Span {
    tracing::debug_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        version = ?req.version(),
    )
}
