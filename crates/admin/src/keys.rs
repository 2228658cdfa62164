//! `/admin/v1/keys`: the signing keys (public halves only) and rotation.
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tollgate_jose::Alg;
use tollgate_store::{KeyStatus, SigningKeyRecord};
use utoipa::{IntoParams, ToSchema};

use crate::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;

pub const TAG: &str = "keys";

/// A signing key as published: never the private half.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    pub alg: String,
    /// `active` signs new tokens; `next` is published ahead of signing
    /// (scheduled rotation); `retired` keys stay in the JWKS for a while so
    /// earlier signatures still verify.
    #[schema(pattern = "^(next|active|retired)$")]
    pub status: String,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
    /// The public key as a JWK (RFC 7517).
    #[schema(value_type = Object)]
    pub public_jwk: serde_json::Value,
}

impl From<&SigningKeyRecord> for KeyView {
    fn from(k: &SigningKeyRecord) -> Self {
        Self {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            status: k.status.as_str().to_owned(),
            created_at: k.created_at,
            retired_at: k.retired_at,
            public_jwk: k.public_jwk.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Newest first.
    pub items: Vec<KeyView>,
}

#[utoipa::path(
    get, operation_id = "list_keys", path = "/admin/v1/keys", tag = TAG,
    responses(
        (status = 200, description = "Every signing key, newest first", body = KeyList),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn list(State(admin): State<Arc<Admin>>) -> Result<Json<KeyList>, ApiError> {
    let keys = admin.app.svc.store.list_keys().await?;
    Ok(Json(KeyList {
        items: keys.iter().map(KeyView::from).collect(),
    }))
}

/// How to rotate.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RotateQuery {
    /// Algorithm of the new key (default: `keys.algorithm`).
    #[param(value_type = Option<String>, pattern = "^(ES256|EdDSA|RS256|PS256)$")]
    pub alg: Option<String>,
    /// Publish the key as `next` only; the server's schedule makes it sign
    /// after `keys.publish_ahead_secs` (publish-before-sign).
    pub staged: Option<bool>,
}

#[utoipa::path(
    post, operation_id = "rotate_keys", path = "/admin/v1/keys/rotate", tag = TAG, params(RotateQuery),
    responses(
        (status = 201, description = "The new key: active at once (the previous one is retired), or `next` when staged", body = KeyView),
        (status = 400, description = "A query parameter is invalid", body = ErrorBody),
        (status = 409, description = "A staged key already waits to sign", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn rotate(
    State(admin): State<Arc<Admin>>,
    ApiQuery(q): ApiQuery<RotateQuery>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let svc = &admin.app.svc;
    let alg = match q.alg.as_deref() {
        None => svc.settings.keys.algorithm,
        Some(a) => Alg::parse(a)
            .filter(|a| Alg::SIGNING.contains(a))
            .ok_or_else(|| {
                ApiError::invalid_field("alg", "alg must be ES256, EdDSA, RS256 or PS256")
            })?,
    };
    let status = if q.staged.unwrap_or(false) {
        KeyStatus::Next
    } else {
        KeyStatus::Active
    };
    let kid = tollgate_authz::keys::rotate_key(svc, alg, status).await?;
    // This process signs with the new key at once; others pick it up on their
    // next refresh.
    svc.keys.reload(svc).await?;
    let keys = svc.store.list_keys().await?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| ApiError::not_found(format!("key '{kid}'")))?;
    Ok((StatusCode::CREATED, Json(KeyView::from(key))))
}
