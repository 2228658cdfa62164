//! What the JWT bearer (RFC 7523 §2.1) and SAML 2.0 bearer (RFC 7522 §2.1)
//! grants share once their assertion is verified: which client the tokens
//! go to, which scopes they carry, and minting them.
use std::sync::Arc;

use tollgate_core::{Client, GrantType, OAuthError, ScopeSet, scope::resolve_scopes};

use crate::Error;
use crate::assertion::trust::Grantor;
use crate::assertion::{invalid_grant, refuse_replay};
use crate::form::Params;
use crate::issue::{Grant, TokenResponse, mint, new_grant_id, settings_for};
use crate::services::Services;

/// The client of an assertion grant: the authenticated one, or, for a
/// request without client authentication (RFC 7521 §4.2 makes it
/// optional), the one the trusted party's configuration names.
pub async fn client_for(
    svc: &Services,
    authenticated: Option<Arc<Client>>,
    grantor: &Grantor,
) -> Result<Arc<Client>, Error> {
    if let Some(c) = authenticated {
        return Ok(c);
    }
    let Some(id) = &grantor.client_id else {
        return Err(OAuthError::invalid_client(
            "client authentication is required: the assertion's issuer names no client_id in the server's configuration",
            false,
        )
        .into());
    };
    match svc.client(id).await? {
        Some(c) if c.enabled => {
            // The client's own request-rate limit, as for authenticated calls.
            svc.limits.admit(&c).await?;
            Ok(c)
        }
        _ => {
            tracing::error!(client_id = %id, "an assertion issuer names a client that does not exist or is disabled");
            Err(OAuthError::invalid_client(
                "the client configured for this assertion issuer does not exist or is disabled",
                false,
            )
            .into())
        }
    }
}

/// An assertion identifier to refuse the next time (see
/// [`crate::assertion::refuse_replay`]).
pub struct Replay<'a> {
    pub scope: String,
    pub id: &'a str,
    pub expires_at: i64,
}

/// Scopes (the seed's "Get scopes from a registered application": Any/All
/// of the client's registered scopes, all of them when none are asked),
/// narrowed to what the trusted party may grant, then the tokens. The
/// assertion is spent (`replay` recorded) only once every check passed,
/// just before the tokens: a request refused for its scope or client can be
/// corrected and sent again with the same assertion.
pub async fn issue(
    svc: &Services,
    client: &Client,
    grantor: &Grantor,
    grant_type: GrantType,
    subject: &str,
    params: &Params,
    replay: Option<Replay<'_>>,
) -> Result<TokenResponse, Error> {
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::UnauthorizedClient(
            format!("this client may not use the {} grant", grant_type.as_str()).into(),
        )
        .into());
    }
    let registered = match &grantor.scopes {
        Some(allowed) => client.scopes.intersection(allowed),
        None => client.scopes.clone(),
    };
    let requested = params.get("scope").map(ScopeSet::parse).transpose()?;
    let scope = resolve_scopes(requested.as_ref(), &registered, client.scope_matching)?;
    if let Some(r) = replay {
        refuse_replay(svc, &r.scope, r.id, r.expires_at, invalid_grant).await?;
    }
    let g = Grant {
        client,
        settings: settings_for(svc, client),
        subject: Some(subject.to_owned()),
        scope,
        grant_id: new_grant_id(svc.clock.now_millis())?,
        // The seed's "Refresh Token Details" for these filters: per client.
        with_refresh: client.allows_grant(GrantType::RefreshToken),
        metadata: Default::default(),
        derive_from: None,
    };
    mint(svc, &g).await
}
