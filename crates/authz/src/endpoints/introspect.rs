//! `POST /oauth2/introspect` (RFC 7662).
use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tollgate_core::{TokenKind, TokenRecord};

use super::{PeerAddr, PeerIp, no_store, params_or_reject};
use crate::client_auth::{authenticate, claimed_client_id};
use crate::form::{Form, FormRejection, Params};
use crate::services::Services;
use crate::{App, Error, telemetry};

/// Members RFC 7662 §2.2 defines; stored metadata with these names appears
/// only under `metadata`, never over a standard member.
const RESERVED: &[&str] = &[
    "active",
    "scope",
    "client_id",
    "username",
    "token_type",
    "exp",
    "iat",
    "nbf",
    "sub",
    "aud",
    "iss",
    "jti",
    "metadata",
    "token_use",
    "expires_in",
    "error",
];

pub async fn introspect(
    State(app): State<Arc<App>>,
    PeerAddr(addr): PeerAddr,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    form: Result<Form, FormRejection>,
) -> Response {
    let params = match params_or_reject(&app.svc, "introspect", &addr, form) {
        Ok(p) => p,
        Err(rejection) => return rejection.into_response(),
    };
    match run(&app.svc, &headers, &params, ip).await {
        Ok(body) => {
            telemetry::introspected(body.get("active") == Some(&Value::Bool(true)));
            no_store(Json(body))
        }
        Err(e) => {
            let e = e.into_oauth();
            telemetry::oauth_error("introspect", e.code());
            app.svc.audit(
                "introspect.rejected",
                claimed_client_id(&headers, &params).as_deref(),
                e.code(),
                addr,
                json!({"reason": e.description()}),
            );
            Error::OAuth(e).into_response()
        }
    }
}

async fn run(
    svc: &Services,
    headers: &HeaderMap,
    params: &Params,
    ip: Option<IpAddr>,
) -> Result<Value, Error> {
    // RFC 7662 §2.1: the endpoint requires authorization of the caller.
    let client = authenticate(
        svc,
        headers,
        params,
        false,
        ip,
        &svc.settings.endpoint("/oauth2/introspect"),
    )
    .await?;
    // The caller's own request-rate limit (a resource server introspecting
    // every request it serves is the usual way to exceed one).
    svc.limits.admit(&client).await?;
    let token = params.require("token")?;
    // RFC 7662 §2.1: token_type_hint is only a hint; one lookup covers both kinds.
    let Some(record) = active_token(svc, token).await? else {
        return Ok(json!({"active": false}));
    };
    let mut body = describe(svc, &record);
    body.insert("active".into(), Value::Bool(true));
    Ok(Value::Object(body))
}

/// The token behind a value if it is active now: not expired, not revoked,
/// and its client still exists and is enabled.
pub async fn active_token(svc: &Services, value: &str) -> Result<Option<Arc<TokenRecord>>, Error> {
    if value.len() > 4096 {
        return Ok(None);
    }
    let Some(hash) = crate::issue::lookup_hash(svc, value) else {
        return Ok(None);
    };
    let Some(record) = svc.token(&hash).await? else {
        return Ok(None);
    };
    if !record.is_active(svc.now()) {
        return Ok(None);
    }
    match svc.client(&record.client_id).await? {
        Some(c) if c.enabled => Ok(Some(record)),
        _ => Ok(None),
    }
}

/// RFC 7662 §2.2 members for an active token, plus its stored metadata both
/// as top-level extension members (as the seed's token information returns
/// them) and, complete, under `metadata`.
pub fn describe(svc: &Services, t: &TokenRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("scope".into(), json!(t.scope.to_string()));
    m.insert("client_id".into(), json!(t.client_id));
    if t.kind == TokenKind::Access {
        m.insert("token_type".into(), json!(t.token_type));
    }
    m.insert("token_use".into(), json!(t.kind.as_str()));
    m.insert("exp".into(), json!(t.expires_at));
    m.insert("iat".into(), json!(t.issued_at));
    m.insert("nbf".into(), json!(t.issued_at));
    if let Some(sub) = &t.subject {
        m.insert("sub".into(), json!(sub));
    }
    if !t.audience.is_empty() {
        m.insert("aud".into(), json!(t.audience));
    }
    m.insert("iss".into(), json!(svc.settings.issuer));
    for (k, v) in &t.metadata {
        if !RESERVED.contains(&k.as_str()) {
            m.insert(k.clone(), json!(v));
        }
    }
    // A user's tokens carry the username (stored with the grant).
    if let Some(u) = t.metadata.get("username") {
        m.insert("username".into(), json!(u));
    }
    m.insert("metadata".into(), json!(t.metadata));
    m
}
