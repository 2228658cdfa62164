//! Who may call the admin API: a bearer token (RFC 6750 §2.1) that Tollgate
//! itself issued, active, carrying the scope `tollgate:admin`. Every change
//! made through the API is written to the audit log with the caller's id.
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tollgate_authz::endpoints::PeerAddr;
use tollgate_authz::endpoints::introspect::active_token;
use tollgate_core::TokenKind;

use crate::Admin;
use crate::error::ApiError;

/// The scope that grants the whole admin API.
pub const ADMIN_SCOPE: &str = "tollgate:admin";
/// A narrower scope that grants only `GET /metrics`, for scrapers.
pub const METRICS_SCOPE: &str = "tollgate:metrics";

const REALM: &str = "tollgate-admin";

/// The authenticated caller, for handlers that record who acted.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
}

fn challenge(status: StatusCode, error: Option<&str>, description: &str, scope: &str) -> ApiError {
    // RFC 6750 §3.1: a request without a token gets no error code in the challenge,
    // so the body does not claim one either (`unauthorized`, like other APIs say).
    let code = error.unwrap_or("unauthorized");
    let mut e = ApiError::new(status, code, description);
    // RFC 6750 §3: no error attribute when the request carried no token at all.
    e.challenge = Some(match error {
        None => format!("Bearer realm=\"{REALM}\", scope=\"{scope}\""),
        Some(err) => format!(
            "Bearer realm=\"{REALM}\", error=\"{err}\", error_description=\"{description}\", scope=\"{scope}\""
        ),
    });
    e
}

/// Checks the bearer token for `scope` (or the admin scope, which implies every other).
async fn authorize(
    admin: &Admin,
    authorization: Option<HeaderValue>,
    scope: &str,
) -> Result<Caller, ApiError> {
    let Some(value) = authorization else {
        let needs = if scope == ADMIN_SCOPE {
            format!("this API needs a bearer token with the scope {ADMIN_SCOPE}")
        } else {
            format!("this endpoint needs a bearer token with the scope {scope} (or {ADMIN_SCOPE})")
        };
        return Err(challenge(StatusCode::UNAUTHORIZED, None, &needs, scope));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(challenge(
            StatusCode::UNAUTHORIZED,
            Some("invalid_request"),
            "use the Authorization: Bearer scheme",
            scope,
        ));
    };
    let invalid = || {
        challenge(
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            "the access token is unknown, expired or revoked",
            scope,
        )
    };
    let record = active_token(&admin.app.svc, token)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(invalid)?;
    if record.kind != TokenKind::Access {
        return Err(invalid());
    }
    if !(record.scope.contains(ADMIN_SCOPE) || record.scope.contains(scope)) {
        return Err(challenge(
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            "the access token lacks the required scope",
            scope,
        ));
    }
    Ok(Caller {
        client_id: record.client_id.clone(),
    })
}

/// Middleware for `/admin/v1`: admits admin callers and audits their changes.
pub async fn require_admin(
    State(admin): State<Arc<Admin>>,
    PeerAddr(addr): PeerAddr,
    mut req: Request,
    next: Next,
) -> Response {
    let caller = match authorize(
        &admin,
        req.headers().get(header::AUTHORIZATION).cloned(),
        ADMIN_SCOPE,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    req.extensions_mut().insert(caller.clone());
    let resp = next.run(req).await;
    if method != Method::GET && method != Method::HEAD {
        let status = resp.status();
        admin.app.svc.audit(
            "admin.request",
            Some(&caller.client_id),
            if status.is_success() {
                "ok"
            } else {
                status.as_str()
            },
            addr,
            serde_json::json!({"method": method.as_str(), "path": path, "status": status.as_u16()}),
        );
    }
    resp
}

/// Middleware for `/metrics`: the metrics or the admin scope.
pub async fn require_metrics(
    State(admin): State<Arc<Admin>>,
    req: Request,
    next: Next,
) -> Response {
    match authorize(
        &admin,
        req.headers().get(header::AUTHORIZATION).cloned(),
        METRICS_SCOPE,
    )
    .await
    {
        Ok(_) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}
