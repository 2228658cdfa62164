//! `POST /oauth2/token` (RFC 6749 §3.2).
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_core::{GrantType, OAuthError};

use super::{PeerAddr, no_store, params_or_reject};
use crate::client_auth::{authenticate, claimed_client_id};
use crate::form::{Form, FormRejection, Params};
use crate::grants;
use crate::issue::TokenResponse;
use crate::{App, Error};

pub async fn token(
    State(app): State<Arc<App>>,
    PeerAddr(addr): PeerAddr,
    headers: HeaderMap,
    form: Result<Form, FormRejection>,
) -> Response {
    let params = match params_or_reject(&app.svc, "token.rejected", &addr, form) {
        Ok(p) => p,
        Err(rejection) => return rejection.into_response(),
    };
    match issue(&app, &headers, &params).await {
        Ok(resp) => no_store(Json(resp)),
        Err(e) => {
            let e = e.into_oauth();
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

async fn issue(app: &App, headers: &HeaderMap, params: &Params) -> Result<TokenResponse, Error> {
    let grant_type = params.require("grant_type")?;
    let client = authenticate(&app.svc, headers, params, true).await?;
    match GrantType::parse(grant_type) {
        Some(GrantType::ClientCredentials) => {
            grants::client_credentials::grant(&app.svc, &client, params).await
        }
        Some(GrantType::RefreshToken) => grants::refresh_token::grant(&app.svc, &client, params).await,
        _ => Err(OAuthError::UnsupportedGrantType(
            format!(
                "grant type '{}' is not supported by this server (supported: client_credentials, refresh_token)",
                grant_type.chars().take(100).collect::<String>()
            )
            .into(),
        )
        .into()),
    }
}
