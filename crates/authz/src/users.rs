//! Resource owners: the authenticator behind the login page and the password
//! grant, its lockout, and user management shared by the CLI and admin API.
//!
//! The authenticator is a trait so a directory (LDAP / Active Directory, the
//! seed's "Simple Active Directory Repository") can take the local store's
//! place without touching the login page or the grants.
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tollgate_core::user::check_password_policy;
use tollgate_core::{Clock, OAuthError, User, Username};
use tollgate_jose::secrets::{argon2_hash, argon2_verify, random_token};
use tollgate_store::{ConsentRecord, Store, UserGrantRecord};

use crate::Error;
use crate::clients::internal;
use crate::ratelimit::{FailureCounter, address_key};
use crate::services::Services;
use crate::settings::LoginSettings;

/// Checks a username and password; `Ok(None)` for a wrong pair (unknown
/// user or wrong password alike).
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<User>, Error>;
}

/// The local user store, with Argon2id password hashes.
pub struct LocalUsers {
    store: Arc<dyn Store>,
}

impl LocalUsers {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

/// A valid Argon2id hash of nothing anyone knows, verified when the username
/// does not exist so that the answer takes as long as for a wrong password
/// (no user enumeration by timing).
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let pick = random_token(32).unwrap_or_else(|_| "tollgate-decoy-password".into());
        argon2_hash(&pick).unwrap_or_default()
    })
}

/// Argon2 off the async runtime's worker threads.
async fn verify_password(password: &str, phc: &str) -> bool {
    let (p, h) = (password.to_owned(), phc.to_owned());
    tokio::task::spawn_blocking(move || argon2_verify(&p, &h))
        .await
        .unwrap_or(false)
}

#[async_trait]
impl Authenticator for LocalUsers {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<User>, Error> {
        if password.len() > 1024 {
            return Ok(None);
        }
        let user = match Username::try_from(username) {
            Ok(name) => self.store.find_user_by_name(name.as_str()).await?,
            Err(_) => None,
        };
        let hash = user
            .as_ref()
            .map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
        let ok = verify_password(password, &hash).await;
        Ok(user.filter(|_| ok))
    }
}

/// Lockout after failed logins: per username and per source address, in a
/// window opened by the first failure. Checked before the password is
/// looked at, so a guess made while locked learns nothing.
pub struct LoginLimits {
    by_user: FailureCounter<String>,
    by_address: FailureCounter<IpAddr>,
}

impl LoginLimits {
    pub fn new(s: &LoginSettings, clock: Arc<dyn Clock>, capacity: u64) -> Self {
        Self {
            by_user: FailureCounter::new(
                clock.clone(),
                s.max_failures_per_user,
                s.lockout_window_secs,
                capacity,
            ),
            by_address: FailureCounter::new(
                clock,
                s.max_failures_per_address,
                s.lockout_window_secs,
                capacity,
            ),
        }
    }
}

/// Why a login failed, in words the page and the password grant can show.
#[derive(Debug)]
pub enum LoginError {
    /// Wrong username or password (never says which).
    Invalid,
    /// The account is disabled. Only said after the right password.
    Disabled,
    /// Too many failures; seconds until the next attempt.
    Locked(u64),
    /// The store failed.
    Failed(Error),
}

impl LoginError {
    /// The message for a person at the login page.
    pub fn message(&self) -> String {
        match self {
            Self::Invalid => "Wrong username or password.".into(),
            Self::Disabled => "This account is disabled.".into(),
            Self::Locked(secs) => format!(
                "Too many failed sign-in attempts. Try again in {} minute(s).",
                secs.div_ceil(60).max(1)
            ),
            Self::Failed(_) => "Sign-in is unavailable right now; try again shortly.".into(),
        }
    }

    /// The OAuth error for the password grant (RFC 6749 §5.2: a bad
    /// resource-owner credential is `invalid_grant`).
    pub fn into_oauth(self) -> Error {
        match self {
            Self::Invalid => OAuthError::invalid_grant("wrong username or password").into(),
            Self::Disabled => OAuthError::invalid_grant("the user account is disabled").into(),
            Self::Locked(retry_after) => OAuthError::TooManyRequests {
                description: "too many failed logins for this user or address; retry later".into(),
                retry_after,
            }
            .into(),
            Self::Failed(e) => e,
        }
    }
}

/// One login attempt: lockout check, password check, failure counting and
/// the audit record. `via` names the path (`page`, `password_grant`).
pub async fn login(
    svc: &Services,
    username: &str,
    password: &str,
    ip: Option<IpAddr>,
    via: &str,
) -> Result<User, LoginError> {
    let limits = &svc.login_limits;
    let name = username.to_ascii_lowercase();
    let addr = ip.map(address_key);
    let locked = match addr {
        Some(a) => limits.by_address.blocked(&a).await,
        None => None,
    }
    .or(limits.by_user.blocked(name.as_str()).await);
    let audit = |outcome: &str, reason: &str| {
        svc.audit(
            "user.login",
            None,
            outcome,
            ip.map(|i| i.to_string()),
            serde_json::json!({"username": name.chars().take(128).collect::<String>(), "via": via, "reason": reason}),
        );
    };
    if let Some(secs) = locked {
        audit("too_many_requests", "locked out after repeated failures");
        return Err(LoginError::Locked(secs));
    }
    let user = svc
        .authenticator
        .authenticate(&name, password)
        .await
        .map_err(LoginError::Failed)?;
    let Some(user) = user else {
        if limits.by_user.enabled() && Username::try_from(name.as_str()).is_ok() {
            limits.by_user.record(name.as_str()).await;
        }
        if let Some(a) = addr {
            limits.by_address.record(&a).await;
        }
        audit("access_denied", "wrong username or password");
        return Err(LoginError::Invalid);
    };
    if !user.enabled {
        audit("access_denied", "account disabled");
        return Err(LoginError::Disabled);
    }
    audit("ok", "");
    Ok(user)
}

/// A user as operators see it: everything but the password hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    /// The subject (`sub`) of the user's tokens: random and immutable.
    pub id: String,
    pub username: String,
    pub enabled: bool,
    pub attributes: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.to_string(),
            enabled: u.enabled,
            attributes: u.attributes.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A user by id or, failing that, by username (CLI and API accept either).
pub async fn find(svc: &Services, id_or_name: &str) -> Result<User, Error> {
    if let Some(u) = svc.store.get_user(id_or_name).await? {
        return Ok(u);
    }
    if let Ok(name) = Username::try_from(id_or_name)
        && let Some(u) = svc.store.find_user_by_name(name.as_str()).await?
    {
        return Ok(u);
    }
    Err(Error::NotFound(format!("user '{id_or_name}'")))
}

fn hash_password(password: &str) -> Result<String, Error> {
    check_password_policy(password)?;
    argon2_hash(password).map_err(internal)
}

pub async fn create_user(
    svc: &Services,
    username: &str,
    password: &str,
    attributes: BTreeMap<String, String>,
) -> Result<UserView, Error> {
    let username = Username::try_from(username)?;
    let p = password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&p))
        .await
        .map_err(internal)??;
    let now = svc.now();
    let user = User {
        id: random_token(20).map_err(internal)?,
        username,
        password_hash,
        enabled: true,
        attributes,
        created_at: now,
        updated_at: now,
    };
    user.validate()?;
    svc.store.create_user(&user).await.map_err(|e| match e {
        tollgate_store::StoreError::Conflict => {
            Error::Conflict(format!("username '{}' is taken", user.username))
        }
        e => e.into(),
    })?;
    svc.audit(
        "user.created",
        None,
        "ok",
        None,
        serde_json::json!({"user_id": user.id, "username": user.username}),
    );
    Ok(UserView::from(&user))
}

/// A partial update: absent fields keep their value.
#[derive(Default)]
pub struct UserPatch {
    pub password: Option<String>,
    pub enabled: Option<bool>,
    pub attributes: Option<BTreeMap<String, String>>,
}

/// Says whether a password is set, never what it is.
impl std::fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPatch")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("enabled", &self.enabled)
            .field("attributes", &self.attributes)
            .finish()
    }
}

/// Applies a patch. A new password or a disabled account ends every login
/// session of the user; disabling also revokes the user's tokens.
pub async fn update_user(
    svc: &Services,
    id_or_name: &str,
    p: UserPatch,
) -> Result<UserView, Error> {
    let mut user = find(svc, id_or_name).await?;
    let mut fields = Vec::new();
    if let Some(pw) = p.password {
        user.password_hash = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(internal)??;
        fields.push("password");
    }
    if let Some(a) = p.attributes {
        user.attributes = a;
        fields.push("attributes");
    }
    let disabling = p.enabled == Some(false) && user.enabled;
    if let Some(e) = p.enabled {
        user.enabled = e;
        fields.push("enabled");
    }
    user.validate()?;
    user.updated_at = svc.now();
    svc.store.update_user(&user).await?;
    if fields.contains(&"password") || disabling {
        svc.store.delete_user_sessions(&user.id).await?;
    }
    if disabling {
        svc.store
            .revoke_user_tokens(&user.id, None, svc.now())
            .await?;
        svc.forget_subject(&user.id);
    }
    svc.audit(
        "user.updated",
        None,
        "ok",
        None,
        serde_json::json!({"user_id": user.id, "fields": fields}),
    );
    Ok(UserView::from(&user))
}

pub async fn delete_user(svc: &Services, id_or_name: &str) -> Result<(), Error> {
    let user = find(svc, id_or_name).await?;
    if !svc.store.delete_user(&user.id, svc.now()).await? {
        return Err(Error::NotFound(format!("user '{id_or_name}'")));
    }
    svc.forget_subject(&user.id);
    svc.audit(
        "user.deleted",
        None,
        "ok",
        None,
        serde_json::json!({"user_id": user.id, "username": user.username}),
    );
    Ok(())
}

/// One page of users in username order, after `after` (keyset paging).
pub async fn list_page(
    svc: &Services,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<UserView>, Error> {
    Ok(svc
        .store
        .list_users(after, limit)
        .await?
        .iter()
        .map(UserView::from)
        .collect())
}

/// One of a user's tokens, as the overview shows it (never the value).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserTokenView {
    /// The first 12 hex digits of the token's SHA-256, to tell tokens apart.
    pub hash_prefix: String,
    pub token_use: String,
    pub client_id: String,
    pub scope: String,
    pub grant_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub active: bool,
}

/// The seed's "overview of access keys": what a user granted to which client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserGrantsView {
    pub user: UserView,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub consents: Vec<ConsentRecord>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub grants: Vec<UserGrantRecord>,
    pub tokens: Vec<UserTokenView>,
}

pub async fn grants_of(svc: &Services, id_or_name: &str) -> Result<UserGrantsView, Error> {
    let user = find(svc, id_or_name).await?;
    let now = svc.now();
    let tokens = svc
        .store
        .list_user_tokens(&user.id)
        .await?
        .into_iter()
        .map(|t| UserTokenView {
            hash_prefix: t.hash.to_hex()[..12].to_owned(),
            token_use: t.kind.as_str().to_owned(),
            client_id: t.client_id.clone(),
            scope: t.scope.to_string(),
            grant_id: t.grant_id.clone(),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            active: t.is_active(now),
        })
        .collect();
    Ok(UserGrantsView {
        consents: svc.store.list_consents(&user.id).await?,
        grants: svc.store.list_user_grants(&user.id).await?,
        tokens,
        user: UserView::from(&user),
    })
}

/// Revokes a user's grants: to one client (its consent withdrawn too) or
/// to every client. Returns how many tokens were revoked.
pub async fn revoke_grants(
    svc: &Services,
    id_or_name: &str,
    client_id: Option<&str>,
) -> Result<u64, Error> {
    let user = find(svc, id_or_name).await?;
    let now = svc.now();
    let revoked = svc
        .store
        .revoke_user_tokens(&user.id, client_id, now)
        .await?;
    match client_id {
        Some(c) => {
            svc.store.revoke_consent(&user.id, c, now).await?;
        }
        None => {
            for c in svc.store.list_consents(&user.id).await? {
                svc.store
                    .revoke_consent(&user.id, &c.client_id, now)
                    .await?;
            }
        }
    }
    svc.forget_subject(&user.id);
    svc.audit(
        "user.grants_revoked",
        client_id,
        "ok",
        None,
        serde_json::json!({"user_id": user.id, "tokens_revoked": revoked}),
    );
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_does_not_print_its_password() {
        let p = UserPatch {
            password: Some("hunter2hunter2".into()),
            ..UserPatch::default()
        };
        let shown = format!("{p:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
