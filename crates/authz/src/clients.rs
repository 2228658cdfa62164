//! Client management shared by the CLI, dynamic registration and the admin
//! API: creation with a generated secret, rotation with several live
//! secrets, enable/disable, deletion.
use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use tollgate_core::{
    AuthMethod, Client, ClientId, ClientSecret, ClientType, GrantType, OAuthError, RateLimit,
    RedirectUri, ScopeMatching, ScopeSet, SecretHashKind, TokenSettingsOverride,
};
use tollgate_jose::secrets::{argon2_hash, random_bytes, random_token};

use crate::Error;
use crate::services::Services;

/// What a caller supplies to create a client; everything else is defaulted.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub id: Option<String>,
    pub name: String,
    pub client_type: ClientType,
    pub auth_method: Option<AuthMethod>,
    pub grant_types: Option<BTreeSet<GrantType>>,
    pub redirect_uris: Vec<String>,
    pub scopes: ScopeSet,
    pub scope_matching: ScopeMatching,
    pub token_settings: TokenSettingsOverride,
    pub metadata: BTreeMap<String, String>,
    /// A secret chosen by a person (stored with Argon2id); `None` generates a
    /// 256-bit one (stored as a keyed hash).
    pub secret: Option<String>,
    /// Request-rate limit at the token and introspection endpoints.
    pub rate_limit: Option<RateLimit>,
    /// Skip the consent page (first-party clients).
    pub skip_consent: bool,
    /// The public keys of a `private_key_jwt` client: a JWK Set, or the
    /// https URL it is published at (RFC 7591 §2).
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
}

/// A client as shown to operators: everything but secret hashes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientView {
    pub client_id: String,
    pub client_name: String,
    pub client_type: ClientType,
    pub token_endpoint_auth_method: AuthMethod,
    pub grant_types: Vec<GrantType>,
    pub redirect_uris: Vec<String>,
    pub scope: String,
    pub scope_matching: ScopeMatching,
    pub token_settings: TokenSettingsOverride,
    pub metadata: BTreeMap<String, String>,
    pub enabled: bool,
    /// Request-rate limit (token bucket); absent means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// The user's login counts as consent (first-party clients).
    pub skip_consent: bool,
    /// The public keys of a `private_key_jwt` client (RFC 7517 JWK Set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub jwks: Option<serde_json::Value>,
    /// Where a `private_key_jwt` client publishes its keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    pub secrets: Vec<SecretView>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Present only in the answer that created or rotated the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretView {
    pub id: String,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl ClientView {
    pub fn new(c: &Client, secret: Option<String>) -> Self {
        Self {
            client_id: c.id.to_string(),
            client_name: c.name.clone(),
            client_type: c.client_type,
            token_endpoint_auth_method: c.auth_method,
            grant_types: c.grant_types.iter().copied().collect(),
            redirect_uris: c.redirect_uris.iter().map(|r| r.to_string()).collect(),
            scope: c.scopes.to_string(),
            scope_matching: c.scope_matching,
            token_settings: c.token_settings.clone(),
            metadata: c.metadata.clone(),
            enabled: c.enabled,
            rate_limit: c.rate_limit,
            skip_consent: c.skip_consent,
            jwks: c.jwks.clone(),
            jwks_uri: c.jwks_uri.clone(),
            secrets: c
                .secrets
                .iter()
                .map(|s| SecretView {
                    id: s.id.clone(),
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                })
                .collect(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            client_secret: secret,
        }
    }
}

/// A fresh 256-bit secret (base64url) and its stored form.
pub fn generate_secret(svc: &Services, client: &Client) -> Result<(String, ClientSecret), Error> {
    let bytes: [u8; 32] = random_bytes().map_err(internal)?;
    let value = URL_SAFE_NO_PAD.encode(bytes);
    let stored = if client.auth_method == AuthMethod::ClientSecretJwt {
        sealed_secret(svc, client, &value)?
    } else {
        ClientSecret {
            id: random_token(12).map_err(internal)?,
            kind: SecretHashKind::Hmac,
            hash: svc.master.hash_client_secret(&value),
            created_at: svc.now(),
            expires_at: None,
        }
    };
    Ok((value, stored))
}

fn chosen_secret(svc: &Services, client: &Client, value: &str) -> Result<ClientSecret, Error> {
    check_chosen_secret_length(client.auth_method, value.len())
        .map_err(OAuthError::invalid_client_metadata)?;
    if client.auth_method == AuthMethod::ClientSecretJwt {
        return sealed_secret(svc, client, value);
    }
    Ok(ClientSecret {
        id: random_token(12).map_err(internal)?,
        kind: SecretHashKind::Argon2,
        hash: argon2_hash(value).map_err(internal)?,
        created_at: svc.now(),
        expires_at: None,
    })
}

/// The length rule for a secret a user chooses, stated whole in one message so
/// nobody meets it in two steps: 16–512 characters, and for `client_secret_jwt`
/// 32–512 (RFC 7518 §3.2: an HMAC key at least as long as the SHA-256 output).
fn check_chosen_secret_length(method: AuthMethod, len: usize) -> Result<(), &'static str> {
    if method == AuthMethod::ClientSecretJwt {
        if !(32..=512).contains(&len) {
            return Err(
                "client_secret must be 32-512 characters for client_secret_jwt (an HMAC key at least as long as the hash, RFC 7518 §3.2)",
            );
        }
    } else if !(16..=512).contains(&len) {
        return Err("client_secret must be 16-512 characters");
    }
    Ok(())
}

/// The master-key context a sealed secret is bound to: the client's id, so
/// a sealed value copied to another client does not open.
pub fn secret_context(client_id: &str) -> Vec<u8> {
    format!("client-secret\0{client_id}").into_bytes()
}

fn sealed_secret(svc: &Services, client: &Client, value: &str) -> Result<ClientSecret, Error> {
    let sealed = svc
        .master
        .seal(&secret_context(client.id.as_str()), value.as_bytes())
        .map_err(internal)?;
    Ok(ClientSecret {
        id: random_token(12).map_err(internal)?,
        kind: SecretHashKind::Sealed,
        hash: URL_SAFE_NO_PAD.encode(sealed),
        created_at: svc.now(),
        expires_at: None,
    })
}

/// The client's public keys, checked: a JWK Set that parses (RFC 7517) or
/// an https `jwks_uri`.
fn checked_keys(
    svc: &Services,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
) -> Result<(Option<serde_json::Value>, Option<String>), Error> {
    if let Some(j) = &jwks {
        tollgate_jose::JwkSet::parse(j)
            .map_err(|e| OAuthError::invalid_client_metadata(format!("jwks: {e}")))?;
    }
    if let Some(u) = &jwks_uri {
        crate::registration::check_jwks_uri(u, svc.settings.registration.allow_private_jwks_uri)?;
    }
    Ok((jwks, jwks_uri))
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Error {
    tracing::error!(error = %e, "internal error");
    Error::OAuth(OAuthError::ServerError("internal error".into()))
}

/// Builds and validates a client without storing it. Returns the client and,
/// for confidential clients, the secret in clear (shown once).
pub fn build_client(svc: &Services, n: NewClient) -> Result<(Client, Option<String>), Error> {
    let id = match n.id {
        Some(id) => ClientId::try_from(id).map_err(|e| {
            OAuthError::invalid_client_metadata(format!("client_id: {}", e.description()))
        })?,
        None => ClientId::try_from(random_token(24).map_err(internal)?)?,
    };
    let now = svc.now();
    let mut c = Client::new(id, n.name, now);
    c.client_type = n.client_type;
    c.auth_method = n.auth_method.unwrap_or(match n.client_type {
        ClientType::Confidential => AuthMethod::ClientSecretBasic,
        ClientType::Public => AuthMethod::None,
    });
    if let Some(g) = n.grant_types {
        c.grant_types = g;
    }
    c.redirect_uris = redirect_uris(n.redirect_uris)?;
    c.scopes = n.scopes;
    c.scope_matching = n.scope_matching;
    c.token_settings = checked_token_settings(svc, n.token_settings)?;
    c.metadata = n.metadata;
    c.rate_limit = n.rate_limit;
    c.skip_consent = n.skip_consent;
    (c.jwks, c.jwks_uri) = checked_keys(svc, n.jwks, n.jwks_uri)?;
    let secret = match (c.client_type, n.secret) {
        (ClientType::Public, Some(_)) => {
            return Err(
                OAuthError::invalid_client_metadata("a public client has no secret").into(),
            );
        }
        (ClientType::Public, None) => None,
        // It proves itself with its private key: a secret would be a
        // second, weaker way in.
        (ClientType::Confidential, Some(_)) if c.auth_method == AuthMethod::PrivateKeyJwt => {
            return Err(OAuthError::invalid_client_metadata(
                "a private_key_jwt client has no secret: it authenticates with its key",
            )
            .into());
        }
        (ClientType::Confidential, None) if c.auth_method == AuthMethod::PrivateKeyJwt => None,
        (ClientType::Confidential, Some(v)) => {
            let stored = chosen_secret(svc, &c, &v)?;
            c.secrets.push(stored);
            None
        }
        (ClientType::Confidential, None) => {
            let (value, stored) = generate_secret(svc, &c)?;
            c.secrets.push(stored);
            Some(value)
        }
    };
    c.validate()?;
    Ok((c, secret))
}

fn redirect_uris(uris: Vec<String>) -> Result<Vec<RedirectUri>, Error> {
    Ok(uris
        .into_iter()
        .map(RedirectUri::try_from)
        .collect::<Result<_, _>>()?)
}

/// A client's token-setting overrides, checked against the server defaults
/// they will be combined with.
fn checked_token_settings(
    svc: &Services,
    o: TokenSettingsOverride,
) -> Result<TokenSettingsOverride, Error> {
    let effective = svc.settings.tokens.with_override(&o);
    effective
        .validate()
        .map_err(|e| OAuthError::invalid_client_metadata(format!("token_settings.{e}")))?;
    Ok(o)
}

pub async fn create_client(svc: &Services, n: NewClient) -> Result<ClientView, Error> {
    let (c, secret) = build_client(svc, n)?;
    match svc.store.create_client(&c).await {
        Ok(()) => {}
        Err(tollgate_store::StoreError::Conflict) => {
            return Err(Error::Conflict(format!("client '{}' already exists", c.id)));
        }
        Err(e) => return Err(e.into()),
    }
    svc.audit(
        "client.created",
        Some(c.id.as_str()),
        "ok",
        None,
        serde_json::json!({}),
    );
    Ok(ClientView::new(&c, secret))
}

async fn load(svc: &Services, id: &str) -> Result<Client, Error> {
    svc.store
        .get_client(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("client '{id}'")))
}

async fn save(svc: &Services, c: &mut Client) -> Result<(), Error> {
    c.updated_at = svc.now();
    match svc.store.update_client(c).await {
        Ok(()) => {}
        Err(tollgate_store::StoreError::NotFound) => {
            return Err(Error::NotFound(format!("client '{}'", c.id)));
        }
        Err(e) => return Err(e.into()),
    }
    svc.forget_client(c.id.as_str()).await;
    Ok(())
}

/// Adds a new generated secret. Earlier secrets stay valid for `grace_secs`
/// (0 = they stop at once), so deployed callers can switch without downtime.
pub async fn rotate_secret(svc: &Services, id: &str, grace_secs: u64) -> Result<ClientView, Error> {
    let mut c = load(svc, id).await?;
    if c.client_type == ClientType::Public {
        return Err(OAuthError::invalid_request("a public client has no secret").into());
    }
    let now = svc.now();
    let until = now.saturating_add(i64::try_from(grace_secs).unwrap_or(i64::MAX));
    c.secrets.retain(|s| s.is_live(now));
    for s in &mut c.secrets {
        s.expires_at = Some(s.expires_at.map_or(until, |e| e.min(until)));
    }
    if grace_secs == 0 {
        c.secrets.clear();
    }
    if c.auth_method == AuthMethod::PrivateKeyJwt {
        return Err(OAuthError::invalid_request(
            "a private_key_jwt client has no secret: register new keys instead",
        )
        .into());
    }
    let (value, stored) = generate_secret(svc, &c)?;
    c.secrets.push(stored);
    save(svc, &mut c).await?;
    svc.audit(
        "client.secret_rotated",
        Some(id),
        "ok",
        None,
        serde_json::json!({"grace_secs": grace_secs}),
    );
    Ok(ClientView::new(&c, Some(value)))
}

pub async fn set_enabled(svc: &Services, id: &str, enabled: bool) -> Result<ClientView, Error> {
    let mut c = load(svc, id).await?;
    c.enabled = enabled;
    save(svc, &mut c).await?;
    let event = if enabled {
        "client.enabled"
    } else {
        "client.disabled"
    };
    svc.audit(event, Some(id), "ok", None, serde_json::json!({}));
    Ok(ClientView::new(&c, None))
}

/// Sets or (with `None`) removes a client's request-rate limit. This
/// process applies it at once; other processes (a running server when the
/// CLI made the change) within the client cache TTL.
pub async fn set_rate_limit(
    svc: &Services,
    id: &str,
    limit: Option<RateLimit>,
) -> Result<ClientView, Error> {
    let patch = ClientPatch {
        rate_limit: Some(limit),
        ..Default::default()
    };
    update_client(svc, id, patch).await
}

pub async fn delete_client(svc: &Services, id: &str) -> Result<(), Error> {
    if !svc.store.delete_client(id).await? {
        return Err(Error::NotFound(format!("client '{id}'")));
    }
    svc.forget_client(id).await;
    svc.audit(
        "client.deleted",
        Some(id),
        "ok",
        None,
        serde_json::json!({}),
    );
    Ok(())
}

pub async fn get_client(svc: &Services, id: &str) -> Result<ClientView, Error> {
    Ok(ClientView::new(&load(svc, id).await?, None))
}

/// Every client, in id order (pages through the store).
pub async fn list_clients(svc: &Services) -> Result<Vec<ClientView>, Error> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = svc.store.list_clients(after.as_deref(), 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.to_string());
        let n = page.len();
        out.extend(page.iter().map(|c| ClientView::new(c, None)));
        if n < 500 {
            break;
        }
    }
    Ok(out)
}

/// A partial update: absent fields keep their value. The client type and
/// secrets change only through their own operations.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub auth_method: Option<AuthMethod>,
    pub grant_types: Option<BTreeSet<GrantType>>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<ScopeSet>,
    pub scope_matching: Option<ScopeMatching>,
    /// Replaces every override (an empty object returns to the server defaults).
    pub token_settings: Option<TokenSettingsOverride>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
    /// `Some(None)` removes the limit.
    pub rate_limit: Option<Option<RateLimit>>,
    pub skip_consent: Option<bool>,
    /// New public keys (replacing `jwks_uri`).
    pub jwks: Option<serde_json::Value>,
    /// A new key URL (replacing `jwks`).
    pub jwks_uri: Option<String>,
}

impl ClientPatch {
    /// The names of the fields this patch sets, for the audit log.
    fn field_names(&self) -> Vec<&'static str> {
        [
            ("client_name", self.name.is_some()),
            ("token_endpoint_auth_method", self.auth_method.is_some()),
            ("grant_types", self.grant_types.is_some()),
            ("redirect_uris", self.redirect_uris.is_some()),
            ("scope", self.scopes.is_some()),
            ("scope_matching", self.scope_matching.is_some()),
            ("token_settings", self.token_settings.is_some()),
            ("metadata", self.metadata.is_some()),
            ("enabled", self.enabled.is_some()),
            ("rate_limit", self.rate_limit.is_some()),
            ("skip_consent", self.skip_consent.is_some()),
            ("jwks", self.jwks.is_some()),
            ("jwks_uri", self.jwks_uri.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// Applies a patch after checking the result with the same rules as creation.
pub async fn update_client(svc: &Services, id: &str, p: ClientPatch) -> Result<ClientView, Error> {
    let changed = p.field_names();
    let mut c = load(svc, id).await?;
    if let Some(name) = p.name {
        c.name = name;
    }
    if let Some(m) = p.auth_method {
        c.auth_method = m;
    }
    if let Some(g) = p.grant_types {
        c.grant_types = g;
    }
    if let Some(uris) = p.redirect_uris {
        c.redirect_uris = redirect_uris(uris)?;
    }
    if let Some(s) = p.scopes {
        c.scopes = s;
    }
    if let Some(m) = p.scope_matching {
        c.scope_matching = m;
    }
    if let Some(t) = p.token_settings {
        c.token_settings = checked_token_settings(svc, t)?;
    }
    if let Some(m) = p.metadata {
        c.metadata = m;
    }
    if let Some(e) = p.enabled {
        c.enabled = e;
    }
    if let Some(l) = p.rate_limit {
        c.rate_limit = l;
    }
    if let Some(s) = p.skip_consent {
        c.skip_consent = s;
    }
    if p.jwks.is_some() || p.jwks_uri.is_some() {
        (c.jwks, c.jwks_uri) = checked_keys(svc, p.jwks, p.jwks_uri)?;
    }
    c.validate()?;
    save(svc, &mut c).await?;
    svc.audit(
        "client.updated",
        Some(id),
        "ok",
        None,
        serde_json::json!({"fields": changed, "rate_limit": c.rate_limit}),
    );
    Ok(ClientView::new(&c, None))
}

/// Ends one secret at once (a leaked secret must stop working now, not after
/// a grace period). The last live secret of a confidential client cannot be
/// removed: rotate instead, so the client is never left unable to authenticate.
pub async fn revoke_secret(svc: &Services, id: &str, secret_id: &str) -> Result<ClientView, Error> {
    let mut c = load(svc, id).await?;
    let now = svc.now();
    c.secrets.retain(|s| s.is_live(now));
    let Some(pos) = c.secrets.iter().position(|s| s.id == secret_id) else {
        return Err(Error::NotFound(format!(
            "secret '{secret_id}' of client '{id}'"
        )));
    };
    if c.secrets.len() == 1 {
        return Err(Error::Conflict(
            "this is the client's only live secret; rotate the secret instead of removing it"
                .into(),
        ));
    }
    c.secrets.remove(pos);
    save(svc, &mut c).await?;
    svc.audit(
        "client.secret_revoked",
        Some(id),
        "ok",
        None,
        serde_json::json!({"secret_id": secret_id}),
    );
    Ok(ClientView::new(&c, None))
}

/// One page of clients in id order, after `after` (keyset paging).
pub async fn list_page(
    svc: &Services,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<ClientView>, Error> {
    Ok(svc
        .store
        .list_clients(after, limit)
        .await?
        .iter()
        .map(|c| ClientView::new(c, None))
        .collect())
}

#[cfg(test)]
mod secret_length_tests {
    use super::{AuthMethod, check_chosen_secret_length as check};

    #[test]
    fn the_whole_rule_is_said_at_the_first_refusal() {
        let jwt = AuthMethod::ClientSecretJwt;
        // 12 and 20 characters get the same message, which names the real bounds.
        let short = check(jwt, 12).unwrap_err();
        assert_eq!(check(jwt, 20).unwrap_err(), short);
        assert!(short.contains("32-512"), "{short}");
        assert!(check(jwt, 32).is_ok() && check(jwt, 512).is_ok());
        assert!(check(jwt, 513).is_err());
        let basic = AuthMethod::ClientSecretBasic;
        assert!(check(basic, 15).unwrap_err().contains("16-512"));
        assert!(check(basic, 16).is_ok() && check(basic, 512).is_ok());
        assert!(check(basic, 513).is_err());
    }
}
