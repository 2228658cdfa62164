//! Client authentication by assertion (RFC 7523 §2.2 and §3, OpenID
//! Connect Core §9): `private_key_jwt` (signed with the client's private
//! key, verified with its registered `jwks` or `jwks_uri`) and
//! `client_secret_jwt` (an HMAC keyed with its secret).
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tollgate_core::{AuthMethod, Client, OAuthError, SecretHashKind};
use tollgate_jose::jwt::{self, ClaimRules, Header, JwtError, Verifier};
use tollgate_jose::{Alg, JwkSet};

use super::{exp_claim, peek_claims, refuse_replay, string_claim};
use crate::clients::secret_context;
use crate::services::Services;

fn invalid(d: String) -> OAuthError {
    OAuthError::invalid_client(d, false)
}

/// The client an assertion claims to come from (its `sub`, which RFC 7523
/// §3 item 2 makes the client id), before anything is verified.
pub fn claimed_client(assertion: &str) -> Result<String, OAuthError> {
    let claims = peek_claims(assertion)
        .ok_or_else(|| invalid("the client assertion is not a JWT (RFC 7523 §2.2)".into()))?;
    string_claim(&claims, "sub")
        .map(str::to_owned)
        .ok_or_else(|| invalid("the client assertion has no sub claim (the client id)".into()))
}

/// What a caller learns while its assertion's signature has not verified:
/// the same as for an unknown client or a wrong secret, so an assertion
/// naming someone else's client id tells nothing about that client (its
/// existence, its method, its keys). The reason goes to the log.
const FAILED: &str = "client authentication failed";

/// Verifies the assertion of `client`: signature, then the claims of RFC
/// 7523 §3, then replay. `endpoint` is the URL of the endpoint called,
/// accepted as `aud` besides the token endpoint and the issuer. Claim
/// failures are explained to the caller (they come after the signature,
/// so only the key's holder sees them); earlier failures are not.
pub async fn verify(
    svc: &Services,
    client: &Client,
    assertion: &str,
    endpoint: &str,
) -> Result<(), OAuthError> {
    let s = &svc.settings.assertions;
    let claims = match signed_claims(svc, client, assertion).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(client_id = %client.id, reason = %e.description(), "client assertion refused");
            return Err(invalid(FAILED.into()));
        }
    };
    let id = client.id.as_str();
    let token_endpoint = svc.settings.endpoint("/oauth2/token");
    let audiences = [
        token_endpoint.as_str(),
        svc.settings.issuer.as_str(),
        endpoint,
    ];
    jwt::check_claims(
        &claims,
        &ClaimRules {
            now: svc.now(),
            skew: s.skew(),
            issuer: Some(id),
            subject: Some(id),
            audiences: &audiences,
            require: &["exp", "jti"],
            max_lifetime: Some(s.max_lifetime()),
        },
    )
    .map_err(|e| invalid(e.to_string()))?;
    let jti = string_claim(&claims, "jti").unwrap_or_default();
    let exp = exp_claim(&claims);
    refuse_replay(svc, &format!("client:{id}"), jti, exp, invalid)
        .await
        .map_err(crate::Error::into_oauth)
}

/// The assertion's claims once its signature verified with the client's
/// registered keys (or secret).
async fn signed_claims(
    svc: &Services,
    client: &Client,
    assertion: &str,
) -> Result<jwt::Claims, OAuthError> {
    let s = &svc.settings.assertions;
    if assertion.len() > s.max_bytes {
        return Err(invalid(format!(
            "the client assertion is larger than {} bytes",
            s.max_bytes
        )));
    }
    let header = jwt::decode_header(assertion).map_err(|e| invalid(e.to_string()))?;
    match client.auth_method {
        AuthMethod::PrivateKeyJwt => {
            if header.alg.is_hmac() {
                return Err(invalid(JwtError::HmacWithPublicKey.to_string()));
            }
            let keys = client_keys(svc, client, &header).await?;
            Ok(
                jwt::verify(assertion, Verifier::Keys(&keys), &Alg::ASYMMETRIC)
                    .map_err(|e| invalid(e.to_string()))?
                    .1,
            )
        }
        AuthMethod::ClientSecretJwt => verify_hmac(svc, client, assertion, &header),
        m => Err(invalid(format!(
            "this client is registered for {} authentication, but the request used a client assertion",
            m.as_str()
        ))),
    }
}

async fn client_keys(
    svc: &Services,
    client: &Client,
    header: &Header,
) -> Result<Arc<JwkSet>, OAuthError> {
    match (&client.jwks, &client.jwks_uri) {
        (Some(j), _) => svc.remote_keys.registered(j).await.map_err(|e| {
            tracing::warn!(client_id = %client.id, error = %e, "a client's registered jwks does not parse");
            invalid("the client's registered jwks holds no usable key".into())
        }),
        (None, Some(uri)) => svc
            .remote_keys
            .get(uri, header.kid.as_deref())
            .await
            .map_err(|e| invalid(format!("the client's jwks_uri: {e}"))),
        (None, None) => Err(invalid(
            "the client has no registered keys (jwks or jwks_uri)".into(),
        )),
    }
}

/// `client_secret_jwt`: tries every live sealed secret of the client.
fn verify_hmac(
    svc: &Services,
    client: &Client,
    assertion: &str,
    header: &Header,
) -> Result<jwt::Claims, OAuthError> {
    if !header.alg.is_hmac() {
        return Err(invalid(JwtError::SecretNeedsHmac.to_string()));
    }
    let now = svc.now();
    let mut sealed_any = false;
    let mut last = JwtError::BadSignature;
    for s in client.secrets.iter().filter(|s| s.is_live(now)) {
        if s.kind != SecretHashKind::Sealed {
            continue;
        }
        sealed_any = true;
        let Some(secret) = URL_SAFE_NO_PAD.decode(&s.hash).ok().and_then(|b| {
            svc.master
                .open(&secret_context(client.id.as_str()), &b)
                .ok()
        }) else {
            tracing::error!(client_id = %client.id, "a sealed client secret does not open");
            continue;
        };
        match jwt::verify(assertion, Verifier::Secret(&secret), &Alg::HMAC) {
            Ok((_, claims)) => return Ok(claims),
            Err(e) => last = e,
        }
    }
    if !sealed_any {
        return Err(invalid(
            "this client's secret is stored as a hash, which cannot verify client_secret_jwt; rotate its secret"
                .into(),
        ));
    }
    Err(invalid(last.to_string()))
}
