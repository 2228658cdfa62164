//! RFC 6749 §4.3: the resource owner password credentials grant.
//!
//! Off unless a client has `password` among its grant types: RFC 9700
//! §2.4 says it MUST NOT be used, because it hands the user's password to
//! the client and cannot carry multi-factor or federated login. It exists
//! for migrations from servers that offered it (the seed's "Resource Owner
//! Credentials" filter).
use std::net::IpAddr;

use tollgate_core::{Client, GrantType, OAuthError, ScopeSet, scope::resolve_scopes};

use crate::Error;
use crate::authorize::{record_user_grant, user_metadata};
use crate::form::Params;
use crate::issue::{Grant, TokenResponse, mint, settings_for};
use crate::services::Services;
use crate::users;

pub async fn grant(
    svc: &Services,
    client: &Client,
    params: &Params,
    ip: Option<IpAddr>,
) -> Result<TokenResponse, Error> {
    if !client.allows_grant(GrantType::Password) {
        return Err(OAuthError::UnauthorizedClient(
            "the password grant is not enabled for this client (RFC 9700 §2.4 discourages it; \
             use the authorization code grant)"
                .into(),
        )
        .into());
    }
    let username = params.require("username")?;
    let password = params.require("password")?;
    let requested = params.get("scope").map(ScopeSet::parse).transpose()?;
    let scope = resolve_scopes(requested.as_ref(), &client.scopes, client.scope_matching)?;
    let user = users::login(svc, username, password, ip, "password_grant")
        .await
        .map_err(users::LoginError::into_oauth)?;
    let grant_id = record_user_grant(svc, client, &user, GrantType::Password, &scope).await?;
    let g = Grant {
        client,
        settings: settings_for(svc, client),
        subject: Some(user.id.clone()),
        scope,
        grant_id,
        with_refresh: client.allows_grant(GrantType::RefreshToken),
        metadata: user_metadata(svc, &user),
        derive_from: None,
    };
    mint(svc, &g).await
}
