//! RFC 7523 §2.1: a JWT as an authorization grant (the seed's "Access token
//! using JWT" filter). The JWT comes from a configured trusted issuer
//! (`[[jwt_bearer.issuers]]`), signed with one of its keys; `aud` must
//! contain the configured audience (the token endpoint URL by default);
//! `exp` is required and `iat`/`nbf` are checked with the clock skew; a
//! `jti`, when present, is refused the second time.
use std::sync::Arc;

use tollgate_core::{Client, GrantType};
use tollgate_jose::jwt::{self, ClaimRules, Verifier};

use super::assertion::Replay;
use crate::Error;
use crate::assertion::invalid_grant;
use crate::assertion::trust::KeySource;
use crate::assertion::{exp_claim, peek_claims, string_claim};
use crate::form::Params;
use crate::issue::TokenResponse;
use crate::services::Services;

pub async fn grant(
    svc: &Services,
    authenticated: Option<Arc<Client>>,
    params: &Params,
) -> Result<(Arc<Client>, TokenResponse), Error> {
    let s = &svc.settings.assertions;
    let assertion = params.require("assertion")?;
    if assertion.len() > s.max_bytes {
        return Err(invalid_grant(format!(
            "the assertion is larger than {} bytes",
            s.max_bytes
        ))
        .into());
    }
    let header = jwt::decode_header(assertion).map_err(|e| invalid_grant(e.to_string()))?;
    let claimed = peek_claims(assertion)
        .ok_or_else(|| invalid_grant("the assertion is not a JWT (RFC 7523 §2.1)".into()))?;
    let iss = string_claim(&claimed, "iss")
        .ok_or_else(|| invalid_grant("the JWT has no iss claim (RFC 7523 §3 item 1)".into()))?;
    let Some(issuer) = svc.trust.issuers.get(iss) else {
        return Err(invalid_grant("the JWT's issuer is not trusted by this server".into()).into());
    };
    let keys = match &issuer.keys {
        KeySource::Static(k) => k.clone(),
        KeySource::Remote(uri) => svc
            .remote_keys
            .get(uri, header.kid.as_deref())
            .await
            .map_err(|e| invalid_grant(format!("the issuer's jwks_uri: {e}")))?,
    };
    let (_, claims) = jwt::verify(assertion, Verifier::Keys(&keys), &issuer.algorithms)
        .map_err(|e| invalid_grant(e.to_string()))?;
    let audiences: Vec<&str> = svc.trust.jwt_audience.iter().map(String::as_str).collect();
    jwt::check_claims(
        &claims,
        &ClaimRules {
            now: svc.now(),
            skew: s.skew(),
            issuer: Some(&issuer.issuer),
            subject: None,
            audiences: &audiences,
            require: &["exp", "sub"],
            max_lifetime: Some(s.max_lifetime()),
        },
    )
    .map_err(|e| invalid_grant(e.to_string()))?;
    let sub = string_claim(&claims, "sub").unwrap_or_default();
    if !issuer.grantor.allows_subject(sub) {
        return Err(invalid_grant("the issuer may not assert this subject".into()).into());
    }
    let replay = string_claim(&claims, "jti").map(|jti| Replay {
        scope: format!("jwt:{}", issuer.issuer),
        id: jti,
        expires_at: exp_claim(&claims),
    });
    let client = super::assertion::client_for(svc, authenticated, &issuer.grantor).await?;
    let resp = super::assertion::issue(
        svc,
        &client,
        &issuer.grantor,
        GrantType::JwtBearer,
        sub,
        params,
        replay,
    )
    .await?;
    Ok((client, resp))
}
