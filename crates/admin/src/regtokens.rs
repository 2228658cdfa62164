//! `/admin/v1/registration-tokens`: RFC 7591 §3 initial access tokens.
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tollgate_authz::initial_tokens::{self, CreatedRegistrationToken};
use tollgate_store::RegistrationTokenRecord;
use utoipa::ToSchema;

use crate::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};

pub const TAG: &str = "registration-tokens";

/// Ten years: the longest lifetime an initial access token may have.
const MAX_EXPIRES_IN: u64 = 10 * 365 * 24 * 3600;
/// A larger use count is "unlimited" in all but name; refusing it keeps the
/// documented range honest.
const MAX_USES: u32 = 1_000_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRegistrationToken {
    /// What the token is for (shown in listings).
    #[schema(max_length = 200)]
    pub description: Option<String>,
    /// Lifetime in seconds (default 86400); absent or null with
    /// `never_expires: true` for a token that does not expire.
    #[schema(minimum = 1, maximum = 315360000)]
    pub expires_in: Option<u64>,
    /// A token without expiry (default false).
    pub never_expires: Option<bool>,
    /// How many registrations it allows (default unlimited).
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_uses: Option<u32>,
}

/// An initial access token as listed: never its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationTokenView {
    pub id: String,
    pub description: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub max_uses: Option<u32>,
    pub uses: u32,
    pub revoked: bool,
}

impl From<&RegistrationTokenRecord> for RegistrationTokenView {
    fn from(t: &RegistrationTokenRecord) -> Self {
        Self {
            id: t.id.clone(),
            description: t.description.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            max_uses: t.max_uses,
            uses: t.uses,
            revoked: t.revoked,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationTokenList {
    pub items: Vec<RegistrationTokenView>,
}

#[utoipa::path(
    get, operation_id = "list_registration_tokens", path = "/admin/v1/registration-tokens", tag = TAG,
    responses(
        (status = 200, description = "Every initial access token", body = RegistrationTokenList),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    State(admin): State<Arc<Admin>>,
) -> Result<Json<RegistrationTokenList>, ApiError> {
    let list = admin.app.svc.store.list_registration_tokens().await?;
    Ok(Json(RegistrationTokenList {
        items: list.iter().map(RegistrationTokenView::from).collect(),
    }))
}

#[utoipa::path(
    post, operation_id = "create_registration_token", path = "/admin/v1/registration-tokens", tag = TAG, request_body = CreateRegistrationToken,
    responses(
        (status = 201, description = "Created; `token` is shown this once", body = CreatedRegistrationToken),
        (status = 400, description = "A field is invalid (`field` names it)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn create(
    State(admin): State<Arc<Admin>>,
    ApiJson(b): ApiJson<CreateRegistrationToken>,
) -> Result<Response, ApiError> {
    let description = b.description.unwrap_or_default();
    if description.chars().count() > 200 || description.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "description",
            "description must be at most 200 characters without control characters",
        ));
    }
    let expires_in = match (b.expires_in, b.never_expires.unwrap_or(false)) {
        (Some(_), true) => {
            return Err(ApiError::invalid_field(
                "never_expires",
                "give either expires_in or never_expires, not both",
            ));
        }
        (None, true) => None,
        (None, false) => Some(86400),
        (Some(s @ 1..=MAX_EXPIRES_IN), false) => Some(s),
        (Some(_), false) => {
            return Err(ApiError::invalid_field(
                "expires_in",
                format!("expires_in must be between 1 and {MAX_EXPIRES_IN} seconds"),
            ));
        }
    };
    if b.max_uses.is_some_and(|m| !(1..=MAX_USES).contains(&m)) {
        return Err(ApiError::invalid_field(
            "max_uses",
            format!("max_uses must be between 1 and {MAX_USES}"),
        ));
    }
    let t = initial_tokens::create(&admin.app.svc, &description, expires_in, b.max_uses).await?;
    Ok(crate::created(&t, None))
}

#[utoipa::path(
    delete, operation_id = "revoke_registration_token", path = "/admin/v1/registration-tokens/{id}", tag = TAG,
    params(("id" = String, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked: it no longer allows registrations"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(admin): State<Arc<Admin>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if !admin.app.svc.store.revoke_registration_token(&id).await? {
        return Err(ApiError::not_found(format!("registration token '{id}'")));
    }
    admin.app.svc.audit(
        "registration_token.revoked",
        None,
        "ok",
        None,
        serde_json::json!({"id": id}),
    );
    Ok(StatusCode::NO_CONTENT)
}
