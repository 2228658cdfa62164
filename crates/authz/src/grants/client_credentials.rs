//! RFC 6749 §4.4: the client credentials grant.
use tollgate_core::{Client, GrantType, OAuthError, ScopeSet, scope::resolve_scopes};

use crate::Error;
use crate::form::Params;
use crate::issue::{Grant, TokenResponse, mint, new_grant_id, settings_for};
use crate::services::Services;

pub async fn grant(
    svc: &Services,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, Error> {
    if !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the client_credentials grant".into(),
        )
        .into());
    }
    let requested = params.get("scope").map(ScopeSet::parse).transpose()?;
    let scope = resolve_scopes(requested.as_ref(), &client.scopes, client.scope_matching)?;
    let settings = settings_for(svc, client);
    // RFC 6749 §4.4.3: a refresh token SHOULD NOT be included; the seed lets
    // a client opt in.
    let with_refresh =
        settings.client_credentials_refresh && client.allows_grant(GrantType::RefreshToken);
    let g = Grant {
        client,
        settings,
        // The client acts on its own behalf: it is the subject (as in Hydra and Spring).
        subject: Some(client.id.to_string()),
        scope,
        grant_id: new_grant_id(svc.clock.now_millis())?,
        with_refresh,
        metadata: Default::default(),
        derive_from: None,
    };
    mint(svc, &g).await
}
