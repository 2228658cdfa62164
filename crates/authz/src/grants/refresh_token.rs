//! RFC 6749 §6: refreshing an access token, with the seed's three refresh
//! modes (rotate, none, preserve), reuse detection (RFC 9700 §4.14.2) and a
//! grace period for retries.
//!
//! Rotation is a compare-and-set in the store (`rotate_refresh`): of two
//! concurrent refreshes with one token exactly one flips it to revoked and
//! stores its new pair; the other sees it lost. Neither gets a 500 or a
//! serialization failure: PostgreSQL runs the update at READ COMMITTED (the
//! loser waits on the row lock and then matches nothing), SQLite has one
//! writer. The new values are derived from the presented token
//! (`issue::derived_values`), so the loser — or a client retrying after a
//! lost response — recomputes the winner's pair and, within the grace
//! period, gets it back instead of tripping reuse detection. After the grace
//! period a rotated-out token coming back means it leaked, and the whole
//! grant is revoked.
use tollgate_core::{
    AccessTokenFormat, Client, GrantType, OAuthError, RefreshMode, ScopeSet, TokenKind,
    TokenRecord, TokenSettings,
};
use tollgate_jose::secrets::token_hash;

use crate::Error;
use crate::form::Params;
use crate::issue::{
    Grant, TokenResponse, build, derived_values, jwt_record_hash, settings_for, sign_access_jwt,
};
use crate::services::Services;

fn invalid() -> Error {
    Error::from(OAuthError::invalid_grant(
        "the refresh token is invalid, expired or revoked",
    ))
}

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
    if presented.len() > 4096 {
        return Err(invalid());
    }
    let hash = token_hash(presented);
    let old = svc.store.find_token(&hash).await?.ok_or_else(invalid)?;
    let now = svc.now();
    // RFC 6749 §10.4: a refresh token is bound to the client it was issued to.
    if old.kind != TokenKind::Refresh || old.client_id != client.id.as_str() {
        return Err(invalid());
    }
    let settings = settings_for(svc, client);
    if old.revoked_at.is_some() {
        return retry_or_reuse(svc, client, &settings, &old, presented).await;
    }
    if !old.is_active(now) {
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
    let mode = settings.refresh_mode;
    let g = Grant {
        client,
        settings: settings.clone(),
        subject: old.subject.clone(),
        scope,
        grant_id: old.grant_id.clone(),
        with_refresh: mode == RefreshMode::Rotate,
        metadata: old.metadata.clone(),
        // Preserve issues a new access token per refresh, so its values
        // cannot be a function of the (unchanging) refresh token.
        derive_from: (mode != RefreshMode::Preserve).then_some(presented),
    };
    let (mut resp, records) = build(svc, &g)?;
    match mode {
        RefreshMode::Preserve => {
            svc.store.insert_tokens(records.clone()).await?;
            // Seed: "The refresh token passed in the request is sent back
            // with the access token response."
            resp.refresh_token = Some(presented.to_owned());
        }
        // Rotate: a new pair, the old refresh token removed. None: a new
        // access token only, the old refresh token removed (seed).
        RefreshMode::Rotate | RefreshMode::None => {
            if !svc
                .store
                .rotate_refresh(&hash, now, records.clone())
                .await?
            {
                // Another request rotated it first (or it expired or was
                // revoked in between): answer as its retry would be answered.
                let Some(now_old) = svc.store.find_token(&hash).await? else {
                    return Err(invalid());
                };
                return retry_or_reuse(svc, client, &settings, &now_old, presented).await;
            }
            svc.forget_token(&hash).await;
        }
    }
    for r in records {
        svc.remember_token(r).await;
    }
    Ok(resp)
}

/// A revoked refresh token was presented. Within the grace period after its
/// rotation, the pair that rotation stored is returned again; otherwise —
/// or when that pair is no longer active — it is reuse, and the grant ends.
async fn retry_or_reuse(
    svc: &Services,
    client: &Client,
    settings: &TokenSettings,
    old: &TokenRecord,
    presented: &str,
) -> Result<TokenResponse, Error> {
    let now = svc.now();
    let revoked_at = old.revoked_at.unwrap_or(now);
    let grace = i64::try_from(settings.refresh_reuse_grace_secs).unwrap_or(0);
    // Times are whole seconds, so `<` keeps a retry within `grace` real
    // seconds of the rotation (`<=` would stretch it by up to one more), and
    // a grace of 0 admits no retry at all, not even in the same second: every
    // replay is reuse (RFC 9700 §4.14.2).
    if now.saturating_sub(revoked_at) < grace
        && let Some(resp) = rotated_pair(svc, settings, old, presented).await?
    {
        svc.audit(
            "token.refresh_retried",
            Some(client.id.as_str()),
            "ok",
            None,
            serde_json::json!({"grant_id": old.grant_id}),
        );
        return Ok(resp);
    }
    // RFC 9700 §4.14.2: a rotated-out (or revoked) refresh token coming back
    // means it leaked; end the whole grant.
    let revoked = svc.store.revoke_grant(&old.grant_id, now).await?;
    svc.forget_grant(&old.grant_id);
    svc.audit(
        "token.refresh_reused",
        Some(client.id.as_str()),
        "invalid_grant",
        None,
        serde_json::json!({"grant_id": old.grant_id, "tokens_revoked": revoked}),
    );
    Err(invalid())
}

/// The pair the rotation of `old` stored, if it is still active: recomputed
/// from the presented value and looked up by hash.
async fn rotated_pair(
    svc: &Services,
    settings: &TokenSettings,
    old: &TokenRecord,
    presented: &str,
) -> Result<Option<TokenResponse>, Error> {
    let now = svc.now();
    let (access, refresh) = derived_values(svc, settings, presented);
    let access_hash = match settings.access_token_format {
        AccessTokenFormat::Opaque => token_hash(&access),
        AccessTokenFormat::Jwt => jwt_record_hash(&access),
    };
    let Some(access_rec) = svc.store.find_token(&access_hash).await? else {
        return Ok(None);
    };
    if !access_rec.is_active(now) || access_rec.grant_id != old.grant_id {
        return Ok(None);
    }
    // In rotate mode the pair includes a refresh token, which must still be
    // the live one (not itself rotated out since).
    let refresh = match svc.store.find_token(&token_hash(&refresh)).await? {
        Some(r) if r.grant_id == old.grant_id => {
            if !r.is_active(now) {
                return Ok(None);
            }
            Some(refresh)
        }
        _ => None,
    };
    let access = match settings.access_token_format {
        AccessTokenFormat::Opaque => access,
        AccessTokenFormat::Jwt => sign_access_jwt(svc, &access_rec, &access)?,
    };
    Ok(Some(TokenResponse {
        access_token: access,
        token_type: access_rec.token_type.clone(),
        expires_in: u64::try_from(access_rec.expires_at.saturating_sub(now)).unwrap_or(0),
        scope: access_rec.scope.to_string(),
        refresh_token: refresh,
    }))
}
