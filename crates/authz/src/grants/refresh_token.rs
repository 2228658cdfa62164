//! RFC 6749 §6: refreshing an access token, with the seed's three refresh
//! modes (rotate, none, preserve).
use tollgate_core::{Client, GrantType, OAuthError, RefreshMode, ScopeSet, TokenKind};
use tollgate_jose::secrets::token_hash;

use crate::Error;
use crate::form::Params;
use crate::issue::{Grant, TokenResponse, build, settings_for};
use crate::services::Services;

pub async fn grant(
    svc: &Services,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, Error> {
    if !client.allows_grant(GrantType::RefreshToken) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the refresh_token grant".into(),
        )
        .into());
    }
    let presented = params.require("refresh_token")?;
    let hash = token_hash(presented);
    let invalid = || {
        Error::from(OAuthError::invalid_grant(
            "the refresh token is invalid, expired or revoked",
        ))
    };
    let old = svc.store.find_token(&hash).await?.ok_or_else(invalid)?;
    let now = svc.now();
    // RFC 6749 §10.4: a refresh token is bound to the client it was issued to.
    if old.kind != TokenKind::Refresh || old.client_id != client.id.as_str() {
        return Err(invalid());
    }
    if !old.is_active(now) {
        if old.revoked_at.is_some() {
            // RFC 9700 §4.14.2: a revoked (rotated-out) refresh token coming
            // back means it leaked; end the whole grant.
            svc.store.revoke_grant(&old.grant_id, now).await?;
            svc.forget_grant(&old.grant_id);
        }
        return Err(invalid());
    }
    // RFC 6749 §6: the new scope must not exceed the original grant.
    let scope = match params.get("scope").map(ScopeSet::parse).transpose()? {
        Some(req) if !req.is_empty() => {
            if !req.is_subset(&old.scope) {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds the scope originally granted",
                )
                .into());
            }
            req
        }
        _ => old.scope.clone(),
    };
    let settings = settings_for(svc, client);
    let mode = settings.refresh_mode;
    let g = Grant {
        client,
        settings,
        subject: old.subject.clone(),
        scope,
        grant_id: old.grant_id.clone(),
        with_refresh: mode == RefreshMode::Rotate,
        metadata: old.metadata.clone(),
    };
    let (mut resp, records) = build(svc, &g)?;
    match mode {
        RefreshMode::Preserve => {
            svc.store.insert_tokens(records.clone()).await?;
            resp.refresh_token = None;
        }
        // Rotate: a new pair, the old refresh token removed. None: a new
        // access token only, the old refresh token removed (seed).
        RefreshMode::Rotate | RefreshMode::None => {
            if !svc
                .store
                .rotate_refresh(&hash, now, records.clone())
                .await?
            {
                return Err(invalid());
            }
            svc.forget_token(&hash).await;
        }
    }
    for r in records {
        svc.remember_token(r).await;
    }
    Ok(resp)
}
