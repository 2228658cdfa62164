//! `POST /oauth2/revoke` (RFC 7009).
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_core::{OAuthError, TokenKind};

use super::{PeerAddr, PeerIp, no_store, params_or_reject};
use crate::client_auth::{authenticate, claimed_client_id};
use crate::form::{Form, FormRejection, Params};
use crate::services::Services;
use crate::{App, Error, telemetry};

pub async fn revoke(
    State(app): State<Arc<App>>,
    PeerAddr(addr): PeerAddr,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    form: Result<Form, FormRejection>,
) -> Response {
    let params = match params_or_reject(&app.svc, "revoke", &addr, form) {
        Ok(p) => p,
        Err(rejection) => return rejection.into_response(),
    };
    let client_id = claimed_client_id(&headers, &params);
    match run(&app.svc, &headers, &params, ip).await {
        Ok(revoked) => {
            if let Some(kind) = revoked {
                telemetry::revoked();
                app.svc.audit(
                    "token.revoked",
                    client_id.as_deref(),
                    "ok",
                    addr,
                    json!({"token_use": kind.as_str()}),
                );
            }
            // RFC 7009 §2.2: 200 with an empty body, also for unknown tokens.
            no_store(StatusCode::OK)
        }
        Err(e) => {
            let e = e.into_oauth();
            telemetry::oauth_error("revoke", e.code());
            app.svc.audit(
                "revoke.rejected",
                client_id.as_deref(),
                e.code(),
                addr,
                json!({"reason": e.description()}),
            );
            Error::OAuth(e).into_response()
        }
    }
}

/// Revokes the token if it belongs to the calling client; returns its kind
/// when something was revoked.
async fn run(
    svc: &Services,
    headers: &HeaderMap,
    params: &Params,
    ip: Option<IpAddr>,
) -> Result<Option<TokenKind>, Error> {
    // Public clients may revoke their own tokens (RFC 7009 §2.1, §5).
    let client = authenticate(
        svc,
        headers,
        params,
        true,
        ip,
        &svc.settings.endpoint("/oauth2/revoke"),
    )
    .await?;
    let token = params.require("token")?;
    // The hint is honoured only as a hint: one lookup finds either kind, so a
    // wrong or unknown hint changes nothing (RFC 7009 §2.1).
    // A JWT that does not verify as ours is simply unknown (RFC 7009 §2.2).
    let Some(hash) = crate::issue::lookup_hash(svc, token) else {
        return Ok(None);
    };
    let Some(record) = svc.store.find_token(&hash).await? else {
        return Ok(None);
    };
    if record.client_id != client.id.as_str() {
        // RFC 7009 §2.1: the token must have been issued to the caller.
        return Err(OAuthError::UnauthorizedClient(
            "the token was not issued to this client".into(),
        )
        .into());
    }
    let now = svc.now();
    match record.kind {
        TokenKind::Refresh => {
            // RFC 7009 §2.1: revoking a refresh token also invalidates the
            // access tokens of the same grant.
            svc.store.revoke_grant(&record.grant_id, now).await?;
            svc.forget_grant(&record.grant_id);
        }
        TokenKind::Access => {
            svc.store.revoke_token(&hash, now).await?;
        }
    }
    svc.forget_token(&hash).await;
    Ok(Some(record.kind))
}
