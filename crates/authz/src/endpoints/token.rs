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
    match issue(&app, &headers, &params, ip).await {
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
            telemetry::oauth_error("token", e.code());
            app.svc.audit(
                "token.rejected",
                claimed_client_id(&headers, &params).as_deref(),
                e.code(),
                addr,
                json!({
                    "grant_type": params.get("grant_type").map(|g| g.chars().take(100).collect::<String>()),
                    "reason": e.description(),
                }),
            );
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
