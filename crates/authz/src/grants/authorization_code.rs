//! RFC 6749 §4.1.3: exchanging an authorization code, with PKCE (RFC 7636
//! §4.6) and replay detection (§4.1.2: a second use revokes every token
//! issued from the code).
use tollgate_core::{Client, ClientType, GrantType, OAuthError, PkceVerifier};
use tollgate_jose::secrets::{constant_time_eq, pkce_s256, token_hash};
use tollgate_store::CodeRecord;

use crate::Error;
use crate::form::Params;
use crate::issue::{Grant, TokenResponse, build, settings_for};
use crate::services::Services;

fn invalid(why: &'static str) -> Error {
    OAuthError::invalid_grant(why).into()
}

pub async fn grant(
    svc: &Services,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, Error> {
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the authorization_code grant".into(),
        )
        .into());
    }
    let code = params.require("code")?;
    if code.len() > 512 {
        return Err(invalid("the authorization code is invalid"));
    }
    let now = svc.now();
    let hash = token_hash(code);
    let Some(rec) = svc.store.find_code(&hash).await? else {
        return Err(invalid("the authorization code is invalid"));
    };
    if rec.used_at.is_some() {
        return Err(reused(svc, client, &rec, now).await);
    }
    if rec.expires_at <= now {
        return Err(invalid("the authorization code has expired"));
    }
    // A code presented with a wrong client, redirect URI or verifier may be
    // stolen, so it must not stay redeemable (RFC 9700 §4.5): such an
    // attempt spends it.
    let checks = if rec.client_id == client.id.as_str() {
        check_redirect_uri(client, &rec, params.get("redirect_uri"))
            .and_then(|()| check_pkce(client, &rec, params.get("code_verifier")))
    } else {
        Err(invalid(
            "the authorization code was issued to another client",
        ))
    };
    if let Err(e) = checks {
        svc.store.consume_code(&hash, now).await?;
        return Err(e);
    }
    let g = Grant {
        client,
        settings: settings_for(svc, client),
        subject: Some(rec.subject.clone()),
        scope: rec.scope.clone(),
        grant_id: rec.grant_id.clone(),
        with_refresh: client.allows_grant(GrantType::RefreshToken),
        // The parameters stored with the code carry through (seed).
        metadata: rec.params.clone(),
        derive_from: None,
    };
    let (resp, records) = build(svc, &g)?;
    // The code is marked used and the tokens stored in one transaction: a
    // concurrent second use either finds the code unused and loses the
    // redemption, or finds it used with these tokens already committed, so
    // its revocation of the grant reaches them.
    if !svc.store.redeem_code(&hash, now, records.clone()).await? {
        return Err(reused(svc, client, &rec, now).await);
    }
    for r in records {
        svc.remember_token(r).await;
    }
    Ok(resp)
}

/// RFC 6749 §4.1.2: a code used twice revokes every token issued from it.
async fn reused(svc: &Services, client: &Client, rec: &CodeRecord, now: i64) -> Error {
    let revoked = match svc.store.revoke_grant(&rec.grant_id, now).await {
        Ok(n) => n,
        Err(e) => return e.into(),
    };
    svc.forget_grant(&rec.grant_id);
    svc.audit(
        "code.reused",
        Some(client.id.as_str()),
        "invalid_grant",
        None,
        serde_json::json!({"grant_id": rec.grant_id, "tokens_revoked": revoked}),
    );
    invalid("the authorization code was already used; the tokens issued for it are revoked")
}

/// RFC 6749 §4.1.3: when the authorization request named a redirect URI,
/// the token request must repeat it, character for character. When it did
/// not, a redirect URI in the token request must still be one of the client's.
fn check_redirect_uri(client: &Client, rec: &CodeRecord, given: Option<&str>) -> Result<(), Error> {
    match (&rec.redirect_uri, given) {
        (Some(expected), Some(g)) if g == expected => Ok(()),
        (Some(_), Some(_)) => Err(invalid(
            "redirect_uri differs from the one in the authorization request",
        )),
        (Some(_), None) => Err(OAuthError::invalid_request(
            "redirect_uri is required: the authorization request included it (RFC 6749 §4.1.3)",
        )
        .into()),
        (None, Some(g)) if !client.redirect_uris.iter().any(|r| r.as_str() == g) => {
            Err(invalid("redirect_uri is not registered for this client"))
        }
        (None, _) => Ok(()),
    }
}

/// RFC 7636 §4.6, and the downgrade defence: a verifier for a code that was
/// issued without a challenge fails too (otherwise an attacker who strips
/// the challenge from the authorization request could pass any verifier).
fn check_pkce(client: &Client, rec: &CodeRecord, verifier: Option<&str>) -> Result<(), Error> {
    match (&rec.code_challenge, verifier) {
        (Some(challenge), Some(v)) => {
            let v = PkceVerifier::try_from(v)?;
            let computed = match rec.code_challenge_method.as_deref() {
                Some("S256") => pkce_s256(v.as_str()),
                _ => v.as_str().to_owned(),
            };
            if constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err(invalid("code_verifier does not match the code_challenge"))
            }
        }
        (Some(_), None) => Err(invalid(
            "code_verifier is required: the authorization request sent a code_challenge",
        )),
        (None, Some(_)) => Err(invalid(
            "code_verifier sent, but the authorization request had no code_challenge",
        )),
        (None, None) if client.client_type == ClientType::Public => {
            Err(invalid("a public client must use PKCE"))
        }
        (None, None) => Ok(()),
    }
}
