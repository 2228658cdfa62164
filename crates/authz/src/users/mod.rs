//! Resource owners: user management shared by the CLI and the admin API,
//! and (in [`login`]) how a user signs in.
mod login;

pub use login::{Authenticator, LocalUsers, LoginError, LoginLimits, login};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tollgate_core::user::check_password_policy;
use tollgate_core::{User, Username};
use tollgate_jose::secrets::{argon2_hash, random_token};
use tollgate_store::{ConsentRecord, UserGrantRecord};

use crate::Error;
use crate::clients::internal;
use crate::services::Services;

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
