//! `POST /oauth2/token` (RFC 6749 §3.2).
use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_core::{Client, GrantType, OAuthError};

use super::{PeerAddr, PeerIp, no_store, params_or_reject};
use crate::client_auth::{authenticate, claimed_client_id, presented};
use crate::form::{Form, FormRejection, Params};
use crate::grants;
use crate::issue::TokenResponse;
use crate::services::Services;
use crate::{App, Error, telemetry};

pub async fn token(
    State(app): State<Arc<App>>,
    PeerAddr(addr): PeerAddr,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    form: Result<Form, FormRejection>,
) -> Response {
    let params = match params_or_reject(&app.svc, "token", &addr, form) {
        Ok(p) => p,
        Err(rejection) => return rejection.into_response(),
    };
    let result = issue(&app, &headers, &params, ip).await;
    let grant_type = params
        .get("grant_type")
        .map(|g| g.chars().take(100).collect::<String>());
    answer(
        &app,
        "token",
        result,
        claimed_client_id(&headers, &params).as_deref(),
        addr,
        json!({ "grant_type": grant_type }),
    )
}

/// What both token endpoints answer: the committed token response, or the
/// RFC 6749 §5.2 error, counted and audited (`detail` gains the reason).
fn answer(
    app: &App,
    endpoint: &'static str,
    result: Result<Issued, Error>,
    client_id: Option<&str>,
    addr: Option<String>,
    mut detail: serde_json::Value,
) -> Response {
    match result {
        Ok(Issued {
            response,
            grant_type,
            client,
        }) => {
            telemetry::token_issued(grant_type.as_str(), client.id.as_str());
            no_store(Json(response))
        }
        Err(e) => {
            let e = e.into_oauth();
            telemetry::oauth_error(endpoint, e.code());
            detail["reason"] = json!(e.description());
            app.svc
                .audit("token.rejected", client_id, e.code(), addr, detail);
            Error::OAuth(e).into_response()
        }
    }
}

/// A committed token response and what the metrics label it with.
struct Issued {
    response: TokenResponse,
    grant_type: GrantType,
    client: Arc<Client>,
}

async fn issue(
    app: &App,
    headers: &HeaderMap,
    params: &Params,
    ip: Option<IpAddr>,
) -> Result<Issued, Error> {
    let grant_type = params.require("grant_type")?;
    let parsed = GrantType::parse(grant_type);
    let svc = &app.svc;
    // RFC 7521 §4.2: with an assertion grant, client authentication is
    // optional; the trusted issuer's configuration then names the client.
    if let Some(g @ (GrantType::JwtBearer | GrantType::Saml2Bearer)) = parsed {
        let client = if presented(headers, params) {
            let c = authenticate(svc, headers, params, true, ip, &token_endpoint(svc)).await?;
            svc.limits.admit(&c).await?;
            Some(c)
        } else {
            None
        };
        let (client, response) = if g == GrantType::JwtBearer {
            grants::jwt_bearer::grant(svc, client, params).await?
        } else {
            grants::saml_bearer::grant(svc, client, params).await?
        };
        return Ok(Issued {
            response,
            grant_type: g,
            client,
        });
    }
    let client = authenticate(svc, headers, params, true, ip, &token_endpoint(svc)).await?;
    // The client's own request-rate limit, once it is known who is asking.
    svc.limits.admit(&client).await?;
    let (grant_type, response) = match parsed {
        Some(g @ GrantType::ClientCredentials) => (
            g,
            grants::client_credentials::grant(&app.svc, &client, params).await?,
        ),
        Some(g @ GrantType::RefreshToken) => (
            g,
            grants::refresh_token::grant(&app.svc, &client, params).await?,
        ),
        Some(g @ GrantType::AuthorizationCode) => (
            g,
            grants::authorization_code::grant(&app.svc, &client, params).await?,
        ),
        Some(g @ GrantType::Password) => (
            g,
            grants::password::grant(&app.svc, &client, params, ip).await?,
        ),
        _ => {
            return Err(OAuthError::UnsupportedGrantType(
                format!(
                    "grant type '{}' is not supported by this server (supported: authorization_code, client_credentials, password, refresh_token, urn:ietf:params:oauth:grant-type:jwt-bearer, urn:ietf:params:oauth:grant-type:saml2-bearer)",
                    grant_type.chars().take(100).collect::<String>()
                )
                .into(),
            )
            .into());
        }
    };
    Ok(Issued {
        response,
        grant_type,
        client,
    })
}

fn token_endpoint(svc: &Services) -> String {
    svc.settings.endpoint("/oauth2/token")
}

/// The seed's token service, `POST /rest/pub.mediator.oauth2.getOAuth2AccessToken`,
/// for clients migrating from the vendor's mediator: JSON
/// `{client_id, client_secret, scope?}` in, the same JSON as
/// `/oauth2/token`'s client credentials grant out (same checks, limits and
/// audit). The seed answers a wrong client with `invalid_request`; this
/// answers RFC 6749 §5.2 `invalid_client` (401), as `/oauth2/token` does.
pub async fn token_service(
    State(app): State<Arc<App>>,
    PeerAddr(addr): PeerAddr,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let (headers, params) = token_service_request(&app.svc, &headers, &body).await?;
        issue(&app, &headers, &params, ip).await
    }
    .await;
    answer(
        &app,
        "token_service",
        result,
        None,
        addr,
        json!({ "endpoint": "token_service" }),
    )
}

/// Turns the JSON body into the parameters of a client credentials request,
/// presenting the secret the way the client is registered to (HTTP Basic or
/// in the body), so the registered method is still enforced.
async fn token_service_request(
    svc: &Services,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(HeaderMap, Params), Error> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        client_id: String,
        client_secret: String,
        #[serde(default)]
        scope: Option<String>,
    }
    let json_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(OAuthError::invalid_request(
            "send a JSON body {\"client_id\", \"client_secret\", \"scope\"} with Content-Type: application/json",
        )
        .into());
    }
    if body.len() > 16 * 1024 {
        return Err(
            OAuthError::invalid_request("the request body is larger than 16384 bytes").into(),
        );
    }
    // serde's message would quote the offending value, which may be the
    // secret; the answer and the audit log get a fixed text instead.
    let b: Body = serde_json::from_slice(body).map_err(|_| {
        OAuthError::invalid_request(
            "the body must be a JSON object with the strings client_id and client_secret, and optionally scope",
        )
    })?;
    let basic = matches!(
        svc.client(&b.client_id).await,
        Ok(Some(c)) if c.auth_method == tollgate_core::AuthMethod::ClientSecretBasic
    );
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if let Some(s) = &b.scope {
        form.append_pair("scope", s);
    }
    let mut out = HeaderMap::new();
    if basic {
        let value = crate::client_auth::basic_authorization(&b.client_id, &b.client_secret);
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            out.insert(axum::http::header::AUTHORIZATION, v);
        }
    } else {
        form.append_pair("client_id", &b.client_id);
        form.append_pair("client_secret", &b.client_secret);
    }
    let params = Params::parse(form.finish().as_bytes())?;
    Ok((out, params))
}

/// Any other method on the token service: 405 with `Allow: POST` (the seed's
/// troubleshooting table lists it).
pub async fn token_service_method() -> Response {
    let mut r = crate::error::plain_error(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "the token service accepts only POST with a JSON body",
    );
    r.headers_mut().insert(
        axum::http::header::ALLOW,
        axum::http::HeaderValue::from_static("POST"),
    );
    r
}
