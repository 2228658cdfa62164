//! `/admin/v1/keys`: the signing keys (public halves only) and rotation.
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use tollgate_store::SigningKeyRecord;
use utoipa::ToSchema;

use crate::Admin;
use crate::error::{ApiError, ErrorBody};

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

#[utoipa::path(
    post, operation_id = "rotate_keys", path = "/admin/v1/keys/rotate", tag = TAG,
    responses(
        (status = 201, description = "The new active key; the previous one is retired", body = KeyView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn rotate(
    State(admin): State<Arc<Admin>>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let svc = &admin.app.svc;
    let kid = tollgate_authz::keys::rotate_key(
        svc,
        svc.settings.keys.algorithm,
        tollgate_store::KeyStatus::Active,
    )
    .await?;
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
