//! RFC 7522 §2.1: a SAML 2.0 assertion as an authorization grant (the
//! seed's "Access token using SAML assertion" filter). The assertion
//! (base64url) must be signed by a configured identity provider; Audience
//! and Recipient must contain the configured URI; NotOnOrAfter/NotBefore
//! are checked with the configured drift; its ID is refused the second
//! time. The XML checks themselves (signature wrapping, entities, comments)
//! are `tollgate_saml`'s.
use std::sync::Arc;

use tollgate_core::{Client, GrantType, OAuthError};
use tollgate_saml::{SamlError, ValidatedAssertion};

use super::assertion::Replay;
use crate::Error;
use crate::assertion::invalid_grant;
use crate::form::Params;
use crate::issue::TokenResponse;
use crate::services::Services;

pub async fn grant(
    svc: &Services,
    authenticated: Option<Arc<Client>>,
    params: &Params,
) -> Result<(Arc<Client>, TokenResponse), Error> {
    let assertion = params.require("assertion")?;
    if svc.trust.idps.is_empty() {
        return Err(
            invalid_grant("no SAML identity provider is trusted by this server".into()).into(),
        );
    }
    // base64url grows the document by a third.
    let limit = svc.settings.saml_bearer.max_bytes.saturating_mul(4) / 3 + 4;
    if assertion.len() > limit {
        return Err(invalid_grant(format!(
            "the SAML assertion is larger than {} bytes",
            svc.settings.saml_bearer.max_bytes
        ))
        .into());
    }
    let (idx, validated) = validate(svc, assertion.to_owned()).await?;
    let Some(idp) = svc.trust.idps.get(idx) else {
        return Err(OAuthError::ServerError("identity provider list changed".into()).into());
    };
    if !idp.grantor.allows_subject(&validated.subject) {
        return Err(
            invalid_grant("the identity provider may not assert this subject".into()).into(),
        );
    }
    let replay = Replay {
        scope: format!("saml:{}", validated.issuer),
        id: &validated.id,
        expires_at: validated
            .not_on_or_after
            .saturating_add(idp.policy.drift_secs),
    };
    let client = super::assertion::client_for(svc, authenticated, &idp.grantor).await?;
    let resp = super::assertion::issue(
        svc,
        &client,
        &idp.grantor,
        GrantType::Saml2Bearer,
        &validated.subject,
        params,
        Some(replay),
    )
    .await?;
    Ok((client, resp))
}

/// Validates against each trusted IdP in turn (signature verification is
/// CPU-bound, so on a blocking thread); the first that accepts wins. With several IdPs the
/// error shown is the most telling one: a problem found after the
/// signature verified beats "not signed by a trusted IdP".
async fn validate(svc: &Services, assertion: String) -> Result<(usize, ValidatedAssertion), Error> {
    let now = svc.now();
    let policies: Vec<_> = svc.trust.idps.iter().map(|i| i.policy.clone()).collect();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut best: Option<SamlError> = None;
        for (i, p) in policies.iter().enumerate() {
            match tollgate_saml::validate_base64url(&assertion, p, now) {
                Ok(v) => return Ok((i, v)),
                Err(e) => {
                    let signature_level = matches!(
                        e,
                        SamlError::NotSignedByIdp
                            | SamlError::IdpCertificateNotValid
                            | SamlError::WrongIssuer { .. }
                    );
                    if best.is_none() || !signature_level {
                        best = Some(e);
                    }
                }
            }
        }
        Err(best)
    })
    .await
    .map_err(|_| OAuthError::ServerError("SAML validation failed".into()))?;
    outcome.map_err(|e| {
        invalid_grant(e.map_or_else(
            || "the SAML assertion was not accepted".into(),
            |e| e.to_string(),
        ))
        .into()
    })
}
