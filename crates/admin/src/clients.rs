//! `/admin/v1/clients`: create, list, read, update, delete, rotate and
//! revoke secrets. The rules are the ones the CLI and dynamic registration
//! use (`tollgate_authz::clients`); this module only maps JSON to them.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tollgate_authz::clients::{self, ClientPatch, ClientView, NewClient};
use tollgate_core::{
    AuthMethod, ClientType, GrantType, RateLimit, ScopeMatching, ScopeSet, TokenSettingsOverride,
};
use utoipa::{IntoParams, ToSchema};

use crate::Admin;
use crate::auth::{ADMIN_SCOPE, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, SecretString};

pub const TAG: &str = "clients";

/// A new client. Only `client_name` is required; the rest has defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    /// The client id; generated when absent.
    #[schema(pattern = "^[A-Za-z0-9._~-]{1,128}$", example = "billing-service")]
    pub client_id: Option<String>,
    /// Display name (at most 200 characters, no control characters).
    #[schema(
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$",
        example = "Billing service"
    )]
    pub client_name: String,
    /// `confidential` (default) or `public`.
    pub client_type: Option<ClientType>,
    /// How the client authenticates at the token endpoint (default:
    /// `client_secret_basic` for confidential clients, `none` for public ones).
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// Allowed grant types (default: `client_credentials`).
    pub grant_types: Option<Vec<GrantType>>,
    /// Registered redirect URIs (https, or http on a loopback address; no fragment).
    #[schema(max_items = 64)]
    pub redirect_uris: Option<Vec<String>>,
    /// Registered scopes, space-separated (RFC 6749 §3.3).
    #[schema(pattern = r"^[ !#-\[\]-~]*$", example = "orders.read orders.write")]
    pub scope: Option<String>,
    /// How requested scopes are matched against the registered ones (default `any`).
    pub scope_matching: Option<ScopeMatching>,
    /// Per-client overrides of the server's token settings.
    pub token_settings: Option<TokenSettingsOverride>,
    /// Name/value pairs stored with every token issued to this client and
    /// returned by introspection and token information.
    pub metadata: Option<BTreeMap<String, String>>,
    /// A secret chosen by a person (16-512 characters, stored with Argon2id).
    /// When absent a 256-bit secret is generated and returned once.
    #[schema(value_type = Option<String>, format = Password, min_length = 16, max_length = 512)]
    pub client_secret: Option<SecretString>,
    /// A request-rate limit on the token and introspection endpoints.
    pub rate_limit: Option<RateLimit>,
    /// Skip the consent page: the user's login is the approval (only for
    /// first-party clients).
    pub skip_consent: Option<bool>,
    /// The public keys of a `private_key_jwt` client, a JWK Set (RFC 7517 §5).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Or the https URL the client publishes them at.
    #[schema(max_length = 2000, pattern = "^https://")]
    pub jwks_uri: Option<String>,
}

/// A partial update: absent (or null) fields keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClient {
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub client_name: Option<String>,
    pub token_endpoint_auth_method: Option<AuthMethod>,
    pub grant_types: Option<Vec<GrantType>>,
    #[schema(max_items = 64)]
    pub redirect_uris: Option<Vec<String>>,
    /// Registered scopes, space-separated.
    #[schema(pattern = r"^[ !#-\[\]-~]*$")]
    pub scope: Option<String>,
    pub scope_matching: Option<ScopeMatching>,
    /// Replaces all overrides; `{}` returns the client to the server defaults.
    pub token_settings: Option<TokenSettingsOverride>,
    /// Replaces all metadata.
    pub metadata: Option<BTreeMap<String, String>>,
    /// A disabled client cannot authenticate and its tokens stop being active.
    pub enabled: Option<bool>,
    /// A request-rate limit on the token and introspection endpoints; `null`
    /// removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimit>)]
    pub rate_limit: Option<Option<RateLimit>>,
    /// Skip the consent page (first-party clients).
    pub skip_consent: Option<bool>,
    /// Replaces the client's public keys (and drops its `jwks_uri`).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Replaces the client's key URL (and drops its `jwks`).
    #[schema(max_length = 2000, pattern = "^https://")]
    pub jwks_uri: Option<String>,
}

/// Tells a field that is absent (outer `None`) from one that is `null`
/// (`Some(None)`), for fields where `null` means "remove".
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn scopes(field: &str, s: Option<String>) -> Result<Option<ScopeSet>, ApiError> {
    s.map(|s| {
        ScopeSet::parse(&s)
            .map_err(|e| ApiError::invalid_field(field, format!("{field}: {}", e.description())))
    })
    .transpose()
}

/// An admin cannot lock itself out by deleting or disabling the client its
/// own token belongs to (another admin client can).
fn self_lockout(action: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        format!(
            "cannot {action} the client this request is authenticated as; use another admin client"
        ),
    )
}

fn grant_set(g: Option<Vec<GrantType>>) -> Option<BTreeSet<GrantType>> {
    g.map(|g| g.into_iter().collect())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Return clients whose id sorts after this one (the previous page's `next_after`).
    #[param(max_length = 128)]
    pub after: Option<String>,
    /// Page size (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One page of clients, in id order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientPage {
    pub items: Vec<ClientView>,
    /// Pass as `after` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Enforces a documented `maxLength` on a query parameter.
pub(crate) fn max_len(field: &str, v: Option<&str>, max: usize) -> Result<(), ApiError> {
    match v {
        Some(v) if v.chars().count() > max => Err(ApiError::invalid_field(
            field,
            format!("{field} must be at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n),
        Some(_) => Err(ApiError::invalid_field(
            "limit",
            "limit must be between 1 and 1000",
        )),
    }
}

#[utoipa::path(
    get, operation_id = "list_clients", path = "/admin/v1/clients", tag = TAG, params(ListQuery),
    responses(
        (status = 200, description = "A page of clients", body = ClientPage),
        (status = 400, description = "A query parameter is invalid", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    State(admin): State<Arc<Admin>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ClientPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    max_len("after", q.after.as_deref(), 128)?;
    let items = clients::list_page(&admin.app.svc, q.after.as_deref(), limit).await?;
    let next_after = (items.len() == limit as usize)
        .then(|| items.last().map(|c| c.client_id.clone()))
        .flatten();
    Ok(Json(ClientPage { items, next_after }))
}

#[utoipa::path(
    post, operation_id = "create_client", path = "/admin/v1/clients", tag = TAG, request_body = CreateClient,
    responses(
        (status = 201, description = "Created; `client_secret` is shown this once", body = ClientView,
            headers(("Location" = String, description = "The new client's URL"))),
        (status = 400, description = "A field is invalid (`field` names it)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 409, description = "The client id is taken", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn create(
    State(admin): State<Arc<Admin>>,
    ApiJson(b): ApiJson<CreateClient>,
) -> Result<Response, ApiError> {
    let client_type = b.client_type.unwrap_or_default();
    let n = NewClient {
        id: b.client_id,
        name: b.client_name,
        client_type,
        auth_method: b.token_endpoint_auth_method,
        grant_types: grant_set(b.grant_types),
        redirect_uris: b.redirect_uris.unwrap_or_default(),
        scopes: scopes("scope", b.scope)?.unwrap_or_default(),
        scope_matching: b.scope_matching.unwrap_or_default(),
        token_settings: b.token_settings.unwrap_or_default(),
        metadata: b.metadata.unwrap_or_default(),
        secret: b.client_secret.map(|s| s.0),
        rate_limit: b.rate_limit,
        skip_consent: b.skip_consent.unwrap_or(false),
        jwks: b.jwks,
        jwks_uri: b.jwks_uri,
    };
    let view = clients::create_client(&admin.app.svc, n).await?;
    let location = format!("/admin/v1/clients/{}", view.client_id);
    Ok(crate::created(&view, Some(&location)))
}

#[utoipa::path(
    get, operation_id = "get_client", path = "/admin/v1/clients/{client_id}", tag = TAG,
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The client", body = ClientView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn get(
    State(admin): State<Arc<Admin>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClientView>, ApiError> {
    Ok(Json(clients::get_client(&admin.app.svc, &id).await?))
}

#[utoipa::path(
    patch, operation_id = "update_client", path = "/admin/v1/clients/{client_id}", tag = TAG, request_body = UpdateClient,
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The updated client", body = ClientView),
        (status = 400, description = "A field is invalid (`field` names it)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "It would lock the caller out (disabling its own client, or removing its admin scope)", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn update(
    State(admin): State<Arc<Admin>>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateClient>,
) -> Result<Json<ClientView>, ApiError> {
    if caller.client_id == id {
        if b.enabled == Some(false) {
            return Err(self_lockout("disable"));
        }
        if let Some(scope) = &b.scope
            && !scope.split(' ').any(|s| s == ADMIN_SCOPE)
        {
            return Err(self_lockout("remove tollgate:admin from"));
        }
    }
    let patch = ClientPatch {
        name: b.client_name,
        auth_method: b.token_endpoint_auth_method,
        grant_types: grant_set(b.grant_types),
        redirect_uris: b.redirect_uris,
        scopes: scopes("scope", b.scope)?,
        scope_matching: b.scope_matching,
        token_settings: b.token_settings,
        metadata: b.metadata,
        enabled: b.enabled,
        rate_limit: b.rate_limit,
        skip_consent: b.skip_consent,
        jwks: b.jwks,
        jwks_uri: b.jwks_uri,
    };
    Ok(Json(
        clients::update_client(&admin.app.svc, &id, patch).await?,
    ))
}

#[utoipa::path(
    delete, operation_id = "delete_client", path = "/admin/v1/clients/{client_id}", tag = TAG,
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 204, description = "Deleted, with every token issued to it"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "It is the client this request is authenticated as", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    State(admin): State<Arc<Admin>>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if caller.client_id == id {
        return Err(self_lockout("delete"));
    }
    clients::delete_client(&admin.app.svc, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RotateQuery {
    /// Seconds the earlier secrets stay valid (default 86400; 0 ends them now).
    #[param(minimum = 0, maximum = 31536000)]
    pub grace_secs: Option<u64>,
}

/// The longest grace period a rotation may leave the old secrets.
const MAX_GRACE: u64 = 365 * 24 * 3600;

#[utoipa::path(
    post, operation_id = "rotate_client_secret", path = "/admin/v1/clients/{client_id}/secrets", tag = TAG,
    params(("client_id" = String, Path, description = "The client id"), RotateQuery),
    responses(
        (status = 201, description = "A new secret; `client_secret` is shown this once", body = ClientView),
        (status = 400, description = "A public client, or an invalid grace period", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    State(admin): State<Arc<Admin>>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RotateQuery>,
) -> Result<Response, ApiError> {
    let grace = q.grace_secs.unwrap_or(86400);
    if grace > MAX_GRACE {
        return Err(ApiError::invalid_field(
            "grace_secs",
            format!("grace_secs must be at most {MAX_GRACE}"),
        ));
    }
    let view = clients::rotate_secret(&admin.app.svc, &id, grace).await?;
    Ok(crate::created(&view, None))
}

#[utoipa::path(
    delete, operation_id = "revoke_client_secret", path = "/admin/v1/clients/{client_id}/secrets/{secret_id}", tag = TAG,
    params(
        ("client_id" = String, Path, description = "The client id"),
        ("secret_id" = String, Path, description = "The secret's id (from `secrets[].id`)"),
    ),
    responses(
        (status = 204, description = "The secret no longer works"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such client or live secret", body = ErrorBody),
        (status = 409, description = "It is the client's only live secret", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn revoke_secret(
    State(admin): State<Arc<Admin>>,
    ApiPath((id, secret_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    clients::revoke_secret(&admin.app.svc, &id, &secret_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_client_secret_is_never_printed() {
        let b: CreateClient =
            serde_json::from_str(r#"{"client_name":"a","client_secret":"hunter2hunter2hunter2"}"#)
                .unwrap();
        assert!(!format!("{b:?}").contains("hunter2"));
        let e = serde_json::from_str::<CreateClient>(
            r#"{"client_name":"a","client_secret":12345678901234567}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("12345678901234567"), "{e}");
    }
}
