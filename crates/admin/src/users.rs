//! `/admin/v1/users`: local users (resource owners) and the seed's "overview
//! of access keys" (what each user granted to which client), with
//! revocation. The rules live in `tollgate_authz::users`; this module only
//! maps JSON to them.
//!
//! A password travels in the request body only. It is read into
//! [`SecretString`], which neither prints (`Debug`) nor echoes itself in a
//! parse error, and it is never part of a response or an audit detail.
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tollgate_authz::users::{self, UserGrantsView, UserPatch, UserView};
use tollgate_core::user::{MAX_ATTRIBUTE_LEN, MAX_ATTRIBUTES};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

use crate::Admin;
use crate::clients::{max_len, page_limit};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, SecretString};

pub const TAG: &str = "users";

/// The schema of `attributes`: what `User::validate` enforces, as far as
/// JSON Schema can say it (the limits are counted in UTF-8 bytes by the
/// server, so a long non-ASCII value may be refused below `maxLength`).
fn attributes_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(format!(
            "Name/value pairs stored with every code and token issued for this user and \
             returned by introspection and token information: at most {MAX_ATTRIBUTES}, \
             names 1-128 bytes, values up to {MAX_ATTRIBUTE_LEN} bytes (UTF-8)."
        )))
        .max_properties(Some(MAX_ATTRIBUTES))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(128)),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(MAX_ATTRIBUTE_LEN)),
        ))
        .build()
        .into()
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// The login name: 1-128 characters of `a-z 0-9 . _ @ + -`, case-insensitive
    /// (stored in lower case, so `Alice` and `alice` are one account).
    #[schema(
        max_length = 128,
        pattern = "^[A-Za-z0-9._@+-]{1,128}$",
        example = "alice@example.com"
    )]
    pub username: String,
    /// 8-256 characters, stored with Argon2id; never returned.
    #[schema(
        value_type = String,
        format = Password,
        min_length = 8,
        max_length = 256,
        example = "correct horse battery staple"
    )]
    pub password: SecretString,
    #[schema(schema_with = attributes_schema)]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// A partial update: absent (or null) fields keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// A new password (8-256 characters). Ends the user's login sessions.
    #[schema(value_type = Option<String>, format = Password, min_length = 8, max_length = 256)]
    pub password: Option<SecretString>,
    /// A disabled user cannot sign in or use the password grant; disabling
    /// also ends their sessions and revokes their tokens.
    pub enabled: Option<bool>,
    /// Replaces all attributes.
    #[schema(schema_with = attributes_schema)]
    pub attributes: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Return users whose username sorts after this one (the previous page's `next_after`).
    #[param(max_length = 128)]
    pub after: Option<String>,
    /// Page size (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One page of users, in username order.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// Pass as `after` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// What a revocation did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedGrants {
    /// How many live tokens (access and refresh) stopped working.
    pub tokens_revoked: u64,
}

#[utoipa::path(
    get, operation_id = "list_users", path = "/admin/v1/users", tag = TAG, params(ListQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "A query parameter is invalid", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    State(admin): State<Arc<Admin>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    max_len("after", q.after.as_deref(), 128)?;
    // Usernames are stored in lower case; fold the cursor the same way so a
    // hand-written `after=Bob` pages like `after=bob`.
    let after = q.after.map(|a| a.to_ascii_lowercase());
    let items = users::list_page(&admin.app.svc, after.as_deref(), limit).await?;
    let next_after = (items.len() == limit as usize)
        .then(|| items.last().map(|u| u.username.clone()))
        .flatten();
    Ok(Json(UserPage { items, next_after }))
}

#[utoipa::path(
    post, operation_id = "create_user", path = "/admin/v1/users", tag = TAG, request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserView,
            headers(("Location" = String, description = "The new user's URL (by id)"))),
        (status = 400, description = "A field is invalid (`field` names it)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 409, description = "The username is taken", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn create(
    State(admin): State<Arc<Admin>>,
    ApiJson(b): ApiJson<CreateUser>,
) -> Result<Response, ApiError> {
    let view = users::create_user(
        &admin.app.svc,
        &b.username,
        &b.password.0,
        b.attributes.unwrap_or_default(),
    )
    .await?;
    let location = format!("/admin/v1/users/{}", view.id);
    Ok(crate::created(&view, Some(&location)))
}

#[utoipa::path(
    get, operation_id = "get_user", path = "/admin/v1/users/{user}", tag = TAG,
    params(("user" = String, Path, description = "The user's id or username")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn get(
    State(admin): State<Arc<Admin>>,
    ApiPath(user): ApiPath<String>,
) -> Result<Json<UserView>, ApiError> {
    let u = users::find(&admin.app.svc, &user).await?;
    Ok(Json(UserView::from(&u)))
}

#[utoipa::path(
    patch, operation_id = "update_user", path = "/admin/v1/users/{user}", tag = TAG, request_body = UpdateUser,
    params(("user" = String, Path, description = "The user's id or username")),
    responses(
        (status = 200, description = "The updated user", body = UserView),
        (status = 400, description = "A field is invalid (`field` names it)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn update(
    State(admin): State<Arc<Admin>>,
    ApiPath(user): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateUser>,
) -> Result<Json<UserView>, ApiError> {
    let patch = UserPatch {
        password: b.password.map(|p| p.0),
        enabled: b.enabled,
        attributes: b.attributes,
    };
    Ok(Json(
        users::update_user(&admin.app.svc, &user, patch).await?,
    ))
}

#[utoipa::path(
    delete, operation_id = "delete_user", path = "/admin/v1/users/{user}", tag = TAG,
    params(("user" = String, Path, description = "The user's id or username")),
    responses(
        (status = 204, description = "Deleted, with their sessions and consents; their tokens are revoked"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    State(admin): State<Arc<Admin>>,
    ApiPath(user): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    users::delete_user(&admin.app.svc, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, operation_id = "get_user_grants", path = "/admin/v1/users/{user}/grants", tag = TAG,
    params(("user" = String, Path, description = "The user's id or username")),
    responses(
        (status = 200, description = "The user's consents, grants and tokens (never a token value)", body = UserGrantsView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn grants(
    State(admin): State<Arc<Admin>>,
    ApiPath(user): ApiPath<String>,
) -> Result<Json<UserGrantsView>, ApiError> {
    Ok(Json(users::grants_of(&admin.app.svc, &user).await?))
}

#[utoipa::path(
    delete, operation_id = "revoke_user_grants", path = "/admin/v1/users/{user}/grants", tag = TAG,
    params(("user" = String, Path, description = "The user's id or username")),
    responses(
        (status = 200, description = "Every consent withdrawn and every token of the user's grants revoked", body = RevokedGrants),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn revoke_all(
    State(admin): State<Arc<Admin>>,
    ApiPath(user): ApiPath<String>,
) -> Result<Json<RevokedGrants>, ApiError> {
    let tokens_revoked = users::revoke_grants(&admin.app.svc, &user, None).await?;
    Ok(Json(RevokedGrants { tokens_revoked }))
}

#[utoipa::path(
    delete, operation_id = "revoke_user_client_grants", path = "/admin/v1/users/{user}/grants/{client_id}", tag = TAG,
    params(
        ("user" = String, Path, description = "The user's id or username"),
        ("client_id" = String, Path, description = "The client whose grants end"),
    ),
    responses(
        (status = 200, description = "The consent to that client withdrawn and the tokens of the user's grants to it revoked", body = RevokedGrants),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn revoke_client(
    State(admin): State<Arc<Admin>>,
    ApiPath((user, client_id)): ApiPath<(String, String)>,
) -> Result<Json<RevokedGrants>, ApiError> {
    let tokens_revoked = users::revoke_grants(&admin.app.svc, &user, Some(&client_id)).await?;
    Ok(Json(RevokedGrants { tokens_revoked }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_neither_printed_nor_echoed() {
        let b: CreateUser =
            serde_json::from_str(r#"{"username":"a","password":"hunter2hunter2"}"#).unwrap();
        assert!(!format!("{b:?}").contains("hunter2"));
        let e = serde_json::from_str::<CreateUser>(r#"{"username":"a","password":987654321}"#)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("987654321"), "{e}");
        let p: UpdateUser = serde_json::from_str(r#"{"password":null}"#).unwrap();
        assert!(p.password.is_none());
    }
}
