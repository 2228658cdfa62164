//! `/admin/v1/connections`: the tokens Tollgate obtains at other providers
//! (the same operations as `tollgate connection …`, through
//! `tollgate_connect::Connections`, which this node shares with its gateway).
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use tollgate_connect::{ConnectError, ConnectionSecrets, ConnectionSpec, ConnectionView};
use tollgate_jose::KeyWithChain;
use utoipa::{IntoParams, ToSchema};

use crate::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, SecretString};

pub const TAG: &str = "connections";

impl From<ConnectError> for ApiError {
    fn from(e: ConnectError) -> Self {
        let text = e.to_string();
        match e {
            ConnectError::NotFound(n) => ApiError::not_found(format!("connection '{n}'")),
            ConnectError::Config(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", text)
            }
            ConnectError::NeedsAuthorization(_) => {
                ApiError::new(StatusCode::CONFLICT, "needs_authorization", text)
            }
            ConnectError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", text),
            // The provider failed, not this server: 424 (the request
            // depended on another that failed), with the provider's words.
            ConnectError::Provider { .. } | ConnectError::Protocol(_) => {
                ApiError::new(StatusCode::FAILED_DEPENDENCY, "provider_error", text)
            }
            ConnectError::Unreachable(_) | ConnectError::Interrupted(_) => {
                ApiError::new(StatusCode::FAILED_DEPENDENCY, "provider_unreachable", text)
            }
            ConnectError::Store(e) => e.into(),
            ConnectError::Secrets(_) => {
                tracing::error!(error = %text, "a connection's secrets cannot be opened");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the connection's secrets cannot be opened (wrong master key?)",
                )
            }
        }
    }
}

/// A signing key from a PKCS#12 keystore, instead of `signing_key_pem`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeystoreUpload {
    /// The `.p12` / `.pfx` file, base64.
    pub pkcs12: String,
    #[schema(value_type = String)]
    pub password: SecretString,
    /// The key entry (needed when the keystore holds several).
    pub alias: Option<String>,
}

/// The secret half of a connection; write-only (never shown again).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SecretsInput {
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    /// The assertion signing key, PEM (with its certificate in
    /// `spec.assertion.certificate_pem` for x5t).
    #[schema(value_type = Option<String>)]
    pub signing_key_pem: Option<SecretString>,
    /// Or the signing key and certificate from a PKCS#12 keystore.
    pub keystore: Option<KeystoreUpload>,
    /// The mutual-TLS client key, PEM.
    #[schema(value_type = Option<String>)]
    pub client_key_pem: Option<SecretString>,
    #[schema(value_type = Option<String>)]
    pub proxy_password: Option<SecretString>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", example = "graph")]
    pub name: String,
    pub spec: ConnectionSpec,
    pub secrets: Option<SecretsInput>,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionList {
    /// In name order.
    pub items: Vec<ConnectionView>,
}

/// An access token of a connection.
#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub access_token: String,
    pub token_type: String,
    /// Unix seconds.
    pub expires_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct TokenQuery {
    /// Get a new token whatever the age of the current one.
    #[serde(default)]
    pub refresh: bool,
}

fn secrets(
    mut spec: ConnectionSpec,
    input: SecretsInput,
) -> Result<(ConnectionSpec, ConnectionSecrets), ApiError> {
    let mut signing_key_pem = input.signing_key_pem.map(|s| s.0);
    if let Some(ks) = input.keystore {
        if signing_key_pem.is_some() {
            return Err(ApiError::invalid_field(
                "secrets.keystore",
                "give the signing key either as signing_key_pem or as a keystore, not both",
            ));
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(ks.pkcs12.trim())
            .map_err(|_| ApiError::invalid_field("secrets.keystore.pkcs12", "not base64"))?;
        let alg = spec
            .assertion
            .as_ref()
            .and_then(|a| a.alg.as_deref())
            .and_then(tollgate_jose::Alg::parse);
        let key = KeyWithChain::from_pkcs12(&data, &ks.password.0, ks.alias.as_deref(), alg)
            .map_err(|e| ApiError::invalid_field("secrets.keystore", e.to_string()))?;
        let (key_pem, chain_pem) = key.to_pem();
        signing_key_pem = Some(key_pem);
        if let Some(a) = spec.assertion.as_mut()
            && a.certificate_pem.is_none()
        {
            a.certificate_pem = chain_pem;
        }
    }
    Ok((
        spec,
        ConnectionSecrets {
            client_secret: input.client_secret.map(|s| s.0),
            signing_key_pem,
            client_key_pem: input.client_key_pem.map(|s| s.0),
            proxy_password: input.proxy_password.map(|s| s.0),
        },
    ))
}

#[utoipa::path(
    get, operation_id = "list_connections", path = "/admin/v1/connections", tag = TAG,
    responses(
        (status = 200, description = "Every connection (secrets and tokens never shown)", body = ConnectionList),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn list(State(admin): State<Arc<Admin>>) -> Result<Json<ConnectionList>, ApiError> {
    let items = admin
        .connections
        .list()
        .await?
        .iter()
        .map(ConnectionView::from)
        .collect();
    Ok(Json(ConnectionList { items }))
}

#[utoipa::path(
    post, operation_id = "create_connection", path = "/admin/v1/connections", tag = TAG,
    request_body = CreateConnection,
    responses(
        (status = 201, description = "Added", body = ConnectionView),
        (status = 400, description = "The configuration cannot work (the field named)", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn create(
    State(admin): State<Arc<Admin>>,
    ApiJson(body): ApiJson<CreateConnection>,
) -> Result<Response, ApiError> {
    let (spec, secrets) = secrets(body.spec, body.secrets.unwrap_or_default())?;
    admin
        .connections
        .create(&body.name, &spec, &secrets)
        .await?;
    let view = ConnectionView::from(&admin.connections.open(&body.name).await?);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(
    get, operation_id = "get_connection", path = "/admin/v1/connections/{name}", tag = TAG,
    params(("name" = String, Path, description = "The connection's name")),
    responses(
        (status = 200, description = "The connection and its token's state", body = ConnectionView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn get(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    Ok(Json(ConnectionView::from(
        &admin.connections.open(&name).await?,
    )))
}

#[utoipa::path(
    delete, operation_id = "delete_connection", path = "/admin/v1/connections/{name}", tag = TAG,
    params(("name" = String, Path, description = "The connection's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if admin.connections.delete(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("connection '{name}'")))
    }
}

#[utoipa::path(
    post, operation_id = "connection_token", path = "/admin/v1/connections/{name}/token", tag = TAG,
    params(("name" = String, Path, description = "The connection's name"), TokenQuery),
    responses(
        (status = 200, description = "A valid access token (refreshed first when close to expiry)", body = TokenOut),
        (status = 400, description = "An invalid query parameter, or a configuration that cannot work", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks the scope tollgate:admin", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 409, description = "The connection needs a person to authorize it (needs_authorization)", body = ErrorBody),
        (status = 424, description = "The provider refused (provider_error, its error and description quoted) or could not be reached (provider_unreachable)", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn token(
    State(admin): State<Arc<Admin>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> Result<Json<TokenOut>, ApiError> {
    let t = if q.refresh {
        admin.connections.refresh(&name).await?
    } else {
        admin.connections.token(&name).await?
    };
    Ok(Json(TokenOut {
        access_token: t.value,
        token_type: t.token_type,
        expires_at: t.expires_at,
        scope: t.scope,
    }))
}
