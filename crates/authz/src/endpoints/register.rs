//! Dynamic client registration (RFC 7591) behind an initial access token, and
//! client configuration management (RFC 7592) with the registration access
//! token. All metadata is treated as hostile input.
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tollgate_core::{Client, OAuthError, Registration};
use tollgate_jose::secrets::{constant_time_eq, random_token, token_hash};

use super::{PeerAddr, no_store};
use crate::clients::{build_client, internal};
use crate::registration::{ParsedMetadata, client_metadata, parse_metadata};
use crate::services::Services;
use crate::{App, Error, telemetry};

const MAX_BODY: usize = 64 * 1024;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn invalid_token(d: &'static str) -> Error {
    OAuthError::InvalidToken(d.into()).into()
}

async fn json_body(req: Request) -> Result<Value, Error> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(OAuthError::invalid_client_metadata(
            "the request body must be application/json (RFC 7591 §3.1)",
        )
        .into());
    }
    let bytes = crate::form::read_limited(req.into_body(), MAX_BODY)
        .await
        .ok_or_else(|| {
            OAuthError::invalid_client_metadata(format!(
                "the request body is larger than {MAX_BODY} bytes"
            ))
        })?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|_| OAuthError::invalid_client_metadata("the request body is not valid JSON"))?;
    if !v.is_object() {
        return Err(
            OAuthError::invalid_client_metadata("client metadata must be a JSON object").into(),
        );
    }
    Ok(v)
}

fn respond(status: StatusCode, body: Value) -> Response {
    no_store((status, Json(body)))
}

/// `POST /oauth2/register`
pub async fn register(
    State(app): State<Arc<App>>,
    PeerAddr(addr): PeerAddr,
    req: Request,
) -> Response {
    match register_inner(&app.svc, req).await {
        Ok((client_id, body)) => {
            app.svc
                .audit("client.registered", Some(&client_id), "ok", addr, json!({}));
            respond(StatusCode::CREATED, body)
        }
        Err(e) => {
            let code = match &e {
                Error::OAuth(o) => o.code(),
                _ => "invalid_request",
            };
            telemetry::oauth_error("register", code);
            app.svc.audit(
                "register.rejected",
                None,
                code,
                addr,
                json!({"reason": e.to_string()}),
            );
            e.into_response()
        }
    }
}

async fn register_inner(svc: &Services, req: Request) -> Result<(String, Value), Error> {
    let Some(token) = bearer(req.headers()).map(str::to_owned) else {
        return Err(invalid_token(
            "an initial access token is required (RFC 7591 §3)",
        ));
    };
    let body = json_body(req).await?;
    let parsed = parse_metadata(&body, &svc.settings.registration)?;
    if svc
        .store
        .use_registration_token(&token_hash(&token), svc.now())
        .await?
        .is_none()
    {
        return Err(invalid_token(
            "the initial access token is invalid, expired or used up",
        ));
    }
    let ParsedMetadata { new, extra } = parsed;
    let (mut client, secret) = build_client(svc, new)?;
    let rat = random_token(48).map_err(internal)?;
    client.registration = Some(Registration {
        access_token_hash: token_hash(&rat).to_hex(),
        metadata: extra,
    });
    svc.store.create_client(&client).await?;
    let mut body = client_metadata(svc, &client);
    body["client_id_issued_at"] = json!(client.created_at);
    body["registration_access_token"] = json!(rat);
    if let Some(s) = secret {
        body["client_secret"] = json!(s);
        body["client_secret_expires_at"] = json!(0);
    }
    Ok((client.id.to_string(), body))
}

/// The client a registration access token manages (RFC 7592 §3: any
/// mismatch is 401 `invalid_token`, never a hint that the client exists).
async fn managed(svc: &Services, headers: &HeaderMap, id: &str) -> Result<Client, Error> {
    let token =
        bearer(headers).ok_or_else(|| invalid_token("a registration access token is required"))?;
    let bad = || invalid_token("the registration access token is invalid");
    let client = svc.store.get_client(id).await?.ok_or_else(bad)?;
    let reg = client.registration.as_ref().ok_or_else(bad)?;
    if !constant_time_eq(
        token_hash(token).to_hex().as_bytes(),
        reg.access_token_hash.as_bytes(),
    ) {
        return Err(bad());
    }
    Ok(client)
}

/// `GET /oauth2/register/{client_id}` (RFC 7592 §2.1)
pub async fn read(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match managed(&app.svc, &headers, &id).await {
        Ok(c) => respond(StatusCode::OK, client_metadata(&app.svc, &c)),
        Err(e) => {
            telemetry::oauth_error("register", e.code());
            e.into_response()
        }
    }
}

/// `PUT /oauth2/register/{client_id}` (RFC 7592 §2.2): the body replaces the
/// client's metadata; id, secrets and registration token stay.
pub async fn update(
    State(app): State<Arc<App>>,
    PeerAddr(addr): PeerAddr,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let svc = &app.svc;
    let result = async {
        let old = managed(svc, req.headers(), &id).await?;
        let body = json_body(req).await?;
        if body.get("client_id").and_then(Value::as_str) != Some(old.id.as_str()) {
            return Err(OAuthError::invalid_client_metadata(
                "client_id must be present and equal to the registered client_id (RFC 7592 §2.2)",
            )
            .into());
        }
        if let Some(s) = body.get("client_secret") {
            let ok = s.as_str().is_some_and(|s| {
                old.secrets
                    .iter()
                    .any(|k| k.is_live(svc.now()) && svc.master.verify_client_secret(s, &k.hash))
            });
            if !ok {
                return Err(OAuthError::invalid_client_metadata(
                    "client_secret does not match the issued secret (RFC 7592 §2.2)",
                )
                .into());
            }
        }
        let ParsedMetadata { mut new, extra } = parse_metadata(&body, &svc.settings.registration)?;
        new.id = Some(old.id.to_string());
        if new.client_type != old.client_type {
            return Err(OAuthError::invalid_client_metadata(
                "token_endpoint_auth_method cannot change between confidential and public",
            )
            .into());
        }
        let (mut client, _) = build_client(svc, new)?;
        client.secrets = old.secrets.clone();
        client.created_at = old.created_at;
        client.enabled = old.enabled;
        let format = client.token_settings.access_token_format;
        client.token_settings = old.token_settings.clone();
        if format.is_some() {
            client.token_settings.access_token_format = format;
        }
        client.metadata = old.metadata.clone();
        // The rate limit is the operator's, not part of RFC 7591 metadata.
        client.rate_limit = old.rate_limit;
        let mut reg = old.registration.clone().unwrap_or_default();
        reg.metadata = extra;
        client.registration = Some(reg);
        client.validate()?;
        svc.store.update_client(&client).await?;
        svc.forget_client(&id).await;
        Ok::<_, Error>(client_metadata(svc, &client))
    }
    .await;
    match result {
        Ok(body) => {
            svc.audit(
                "client.updated",
                Some(&id),
                "ok",
                addr,
                json!({"via": "rfc7592"}),
            );
            respond(StatusCode::OK, body)
        }
        Err(e) => {
            telemetry::oauth_error("register", e.code());
            e.into_response()
        }
    }
}

/// `DELETE /oauth2/register/{client_id}` (RFC 7592 §2.3): the client and its tokens go.
pub async fn delete(
    State(app): State<Arc<App>>,
    PeerAddr(addr): PeerAddr,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let svc = &app.svc;
    let result = async {
        managed(svc, &headers, &id).await?;
        svc.store.delete_client(&id).await?;
        svc.forget_client(&id).await;
        Ok::<_, Error>(())
    }
    .await;
    match result {
        Ok(()) => {
            svc.audit(
                "client.deleted",
                Some(&id),
                "ok",
                addr,
                json!({"via": "rfc7592"}),
            );
            no_store(StatusCode::NO_CONTENT)
        }
        Err(e) => {
            telemetry::oauth_error("register", e.code());
            e.into_response()
        }
    }
}
