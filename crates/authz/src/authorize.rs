//! Answering a validated authorization request for a signed-in user: the
//! consent decision, the code (RFC 6749 §4.1.2) or the implicit token
//! (§4.2.2), and the redirect that carries it, always with `iss`
//! (RFC 9207) and the client's `state`.
use std::collections::BTreeMap;

use tollgate_core::authorize::{AuthorizationRequest, ResponseType};
use tollgate_core::{Client, ClientType, GrantType, OAuthError, ScopeSet, User};
use tollgate_jose::secrets::{random_token, token_hash};
use tollgate_store::{CodeRecord, ConsentRecord, UserGrantRecord};
use url::Url;

use crate::Error;
use crate::clients::internal;
use crate::issue::{Grant, mint, new_grant_id, settings_for};
use crate::services::Services;

/// Whether the user must be asked: not for first-party clients, not when a
/// remembered consent already covers every requested scope — except for a
/// public client redirecting to a loopback or private-use URI, which any
/// app on the device can claim, so its identity is not assured and every
/// request is shown to the user (RFC 8252 §8.6, RFC 9700 §4.1.1).
pub async fn needs_consent(
    svc: &Services,
    client: &Client,
    user: &User,
    req: &AuthorizationRequest,
) -> Result<bool, Error> {
    if client.skip_consent {
        return Ok(false);
    }
    let scope = &req.scope;
    if client.client_type == ClientType::Public && !req.redirect_uri.starts_with("https://") {
        return Ok(true);
    }
    Ok(
        match svc.store.get_consent(&user.id, client.id.as_str()).await? {
            Some(c) => !scope.is_subset(&c.scope),
            None => true,
        },
    )
}

/// Remembers an approval: the union of what the user approved for this
/// client, so asking for a subset later needs no new consent.
pub async fn remember_consent(
    svc: &Services,
    client: &Client,
    user: &User,
    scope: &ScopeSet,
) -> Result<(), Error> {
    let now = svc.now();
    let previous = svc.store.get_consent(&user.id, client.id.as_str()).await?;
    let (scope, granted_at) = match previous {
        Some(p) => {
            let union = ScopeSet::from_tokens(p.scope.iter().chain(scope.iter()))?;
            (union, p.granted_at)
        }
        None => (scope.clone(), now),
    };
    svc.store
        .save_consent(&ConsentRecord {
            subject: user.id.clone(),
            client_id: client.id.to_string(),
            scope,
            granted_at,
            updated_at: now,
        })
        .await?;
    svc.audit(
        "consent.granted",
        Some(client.id.as_str()),
        "ok",
        None,
        serde_json::json!({"user_id": user.id}),
    );
    Ok(())
}

/// What is stored with a user's code and tokens: the configured code
/// parameters, the user's attributes, and the username (introspection's
/// `username`, RFC 7662 §2.2).
pub fn user_metadata(svc: &Services, user: &User) -> BTreeMap<String, String> {
    let mut m = svc.settings.authorize.code_params.clone();
    m.extend(user.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
    m.insert("username".into(), user.username.to_string());
    m
}

/// A new user grant (not yet stored).
fn user_grant(
    svc: &Services,
    client: &Client,
    user: &User,
    grant_type: GrantType,
    scope: &ScopeSet,
) -> Result<UserGrantRecord, Error> {
    Ok(UserGrantRecord {
        grant_id: new_grant_id(svc.clock.now_millis())?,
        subject: user.id.clone(),
        client_id: client.id.to_string(),
        grant_type: grant_type.as_str().to_owned(),
        scope: scope.clone(),
        created_at: svc.now(),
    })
}

/// Records a new user grant and returns its id (for grants whose tokens
/// follow at once: implicit, password).
pub async fn record_user_grant(
    svc: &Services,
    client: &Client,
    user: &User,
    grant_type: GrantType,
    scope: &ScopeSet,
) -> Result<String, Error> {
    let grant = user_grant(svc, client, user, grant_type, scope)?;
    svc.store.record_grant(&grant).await?;
    Ok(grant.grant_id)
}

/// Issues the code or the implicit token and returns the URL to send the
/// user agent to.
pub async fn respond(
    svc: &Services,
    req: &AuthorizationRequest,
    client: &Client,
    user: &User,
) -> Result<String, Error> {
    let settings = settings_for(svc, client);
    let metadata = user_metadata(svc, user);
    match req.response_type {
        ResponseType::Code => {
            let grant = user_grant(svc, client, user, GrantType::AuthorizationCode, &req.scope)?;
            let code = random_token(settings.code_length).map_err(internal)?;
            let now = svc.now();
            let ttl = i64::try_from(settings.code_ttl).unwrap_or(600);
            let (challenge, method) = match &req.code_challenge {
                Some((c, m)) => (Some(c.as_str().to_owned()), Some(m.as_str().to_owned())),
                None => (None, None),
            };
            let record = CodeRecord {
                hash: token_hash(&code),
                client_id: client.id.to_string(),
                subject: user.id.clone(),
                redirect_uri: req
                    .redirect_uri_in_request
                    .then(|| req.redirect_uri.clone()),
                scope: req.scope.clone(),
                code_challenge: challenge,
                code_challenge_method: method,
                issued_at: now,
                expires_at: now.saturating_add(ttl),
                grant_id: grant.grant_id.clone(),
                params: metadata,
                used_at: None,
            };
            // The grant record and its code in one transaction.
            svc.store.insert_code_with_grant(&grant, &record).await?;
            Ok(redirect_url(
                svc,
                &req.redirect_uri,
                false,
                &[("code", code.as_str())],
                req.state.as_deref(),
            ))
        }
        ResponseType::Token => {
            let grant_id =
                record_user_grant(svc, client, user, GrantType::Implicit, &req.scope).await?;
            let g = Grant {
                client,
                settings,
                subject: Some(user.id.clone()),
                scope: req.scope.clone(),
                grant_id,
                // RFC 6749 §4.2.2: the implicit grant MUST NOT issue a refresh token.
                with_refresh: false,
                metadata,
                derive_from: None,
            };
            let t = mint(svc, &g).await?;
            let expires_in = t.expires_in.to_string();
            Ok(redirect_url(
                svc,
                &req.redirect_uri,
                true,
                &[
                    ("access_token", t.access_token.as_str()),
                    ("token_type", t.token_type.as_str()),
                    ("expires_in", expires_in.as_str()),
                    ("scope", t.scope.as_str()),
                ],
                req.state.as_deref(),
            ))
        }
    }
}

/// The redirect for an error that may go back to the client (RFC 6749
/// §4.1.2.1, §4.2.2.1).
pub fn error_url(
    svc: &Services,
    redirect_uri: &str,
    fragment: bool,
    error: &OAuthError,
    state: Option<&str>,
) -> String {
    redirect_url(
        svc,
        redirect_uri,
        fragment,
        &[
            ("error", error.code()),
            ("error_description", error.description()),
        ],
        state,
    )
}

/// `redirect_uri` with the response parameters, `state` and `iss` added to
/// its query (keeping any query it registered, RFC 6749 §3.1.2) or put in
/// its fragment.
fn redirect_url(
    svc: &Services,
    redirect_uri: &str,
    fragment: bool,
    params: &[(&str, &str)],
    state: Option<&str>,
) -> String {
    let mut pairs: Vec<(&str, &str)> = params.to_vec();
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", svc.settings.issuer.as_str()));
    let Ok(mut url) = Url::parse(redirect_uri) else {
        // Validation only lets registered, parsed URIs through; never reached.
        return redirect_uri.to_owned();
    };
    if fragment {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        url.set_fragment(Some(&encoded));
    } else {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    url.to_string()
}
