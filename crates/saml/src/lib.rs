//! SAML 2.0 bearer assertion validation for the OAuth 2.0 SAML2 bearer grant (RFC 7522).
//!
//! The pipeline, in order:
//!
//! 1. size limit, then a strict structural pass with quick-xml ([`shape`]): no DOCTYPE,
//!    no processing instructions, no comments, no CDATA, one root `saml:Assertion` with
//!    an `ID`, exactly one enveloped exc-c14n RSA/ECDSA-SHA256 signature, a child of the
//!    root, whose only Reference points at that ID. Nothing else ever reaches the
//!    XML-DSig verifier, so it never fetches a URI, runs an XSLT transform or expands an
//!    entity.
//! 2. bergshamra (pure Rust XML-DSig, [`verify`]) verifies the signature with the
//!    configured certificates only (`trusted_keys_only`: keys in the document's KeyInfo
//!    are ignored), with `strict_verification` (the reference must be the root, an
//!    ancestor or a sibling of the signature) and key verification (the certificate must
//!    be valid now and chain to a configured self-signed certificate);
//! 3. the *signed bytes only* (the exclusive canonical form of the root without its
//!    signature, exactly what the digest covered) are read as a SAML Assertion
//!    ([`assertion`]), its ID must equal the root's, and the RFC 7522 §3 rules are
//!    applied: Issuer, Subject NameID, Audience, bearer SubjectConfirmation with
//!    Recipient and NotOnOrAfter, validity window with clock drift, IssueInstant not in
//!    the future.
//!
//! All functions are synchronous and CPU-bound (an RSA-2048 assertion takes well under a
//! millisecond): call them from `spawn_blocking` on a server.

#![forbid(unsafe_code)]

mod assertion;
mod shape;
mod time;
mod verify;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

pub use verify::IdpTrust;

/// Entry points for the fuzz targets under `fuzz/`; not an API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::{SamlError, SamlPolicy, ValidatedAssertion};

    /// What follows a verified signature, which a fuzzer cannot forge: the reader of
    /// the signed bytes and the RFC 7522 checks.
    pub fn check_signed(
        signed: &[u8],
        policy: &SamlPolicy,
        now: i64,
    ) -> Result<ValidatedAssertion, SamlError> {
        crate::check_assertion(crate::assertion::parse(signed)?, policy, now)
    }
}

/// `SubjectConfirmation@Method` of a bearer confirmation.
pub const BEARER_METHOD: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// Default for [`SamlPolicy::max_bytes`]: 64 KiB.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;

/// Why an assertion was refused. `Display` is safe to send as an `invalid_grant`
/// `error_description`: it never echoes the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SamlError {
    #[error("the identity provider certificate is not valid PEM with CERTIFICATE blocks")]
    InvalidCertificate,
    #[error("the assertion parameter is not base64url-encoded")]
    Base64,
    #[error("the SAML assertion is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("the SAML assertion is not UTF-8 encoded")]
    NotUtf8,
    #[error("the SAML assertion is not well-formed XML")]
    Malformed,
    #[error("DOCTYPE declarations are not allowed in SAML assertions")]
    DocType,
    #[error("processing instructions are not allowed in SAML assertions")]
    ProcessingInstruction,
    #[error("XML comments are not allowed in SAML assertions")]
    Comment,
    #[error("CDATA sections are not allowed in SAML assertions")]
    CData,
    #[error(
        "only the predefined XML entities and character references are allowed in SAML assertions"
    )]
    EntityReference,
    #[error("the SAML assertion is nested too deeply")]
    TooDeep,
    #[error("the document has more than one root element")]
    MultipleRoots,
    #[error("the document's root element is not a SAML 2.0 Assertion")]
    NotAnAssertion,
    #[error("the SAML assertion has no ID")]
    MissingId,
    #[error("the SAML assertion's ID is not unique in the document")]
    DuplicateId,
    #[error("the SAML assertion is not signed")]
    Unsigned,
    #[error("the SAML assertion's signature is not acceptable: {0}")]
    SignatureShape(&'static str),
    #[error(
        "the SAML assertion's signature uses an algorithm that is not allowed (RSA-SHA256 or ECDSA-SHA256 with SHA-256 digests only)"
    )]
    WeakAlgorithm,
    #[error("the SAML assertion is not signed by the configured identity provider")]
    NotSignedByIdp,
    #[error(
        "the identity provider's certificate is not valid at this time or does not chain to a configured self-signed certificate"
    )]
    IdpCertificateNotValid,
    #[error("the SAML assertion's signature could not be verified")]
    VerificationFailed,
    #[error("the signed SAML assertion does not follow the SAML 2.0 Assertion schema")]
    Schema,
    #[error("the signed content is not the root assertion")]
    SignedIdMismatch,
    #[error("the SAML assertion's Version is not 2.0")]
    Version,
    #[error("the SAML assertion has no Issuer")]
    MissingIssuer,
    #[error("the SAML assertion's Issuer is not {expected}")]
    WrongIssuer { expected: String },
    #[error("the SAML assertion has no Subject with a NameID")]
    MissingSubject,
    #[error("the SAML assertion has no Conditions with an AudienceRestriction")]
    MissingAudienceRestriction,
    #[error("the SAML assertion's Audience does not contain {expected}")]
    WrongAudience { expected: String },
    #[error("the SAML assertion has no bearer SubjectConfirmation")]
    NoBearerConfirmation,
    #[error("the SAML assertion's SubjectConfirmationData Recipient is not {expected}")]
    WrongRecipient { expected: String },
    #[error("the SAML assertion's bearer SubjectConfirmationData has no NotOnOrAfter")]
    MissingNotOnOrAfter,
    #[error("the SAML assertion has expired (NotOnOrAfter)")]
    Expired,
    #[error("the SAML assertion is not yet valid (NotBefore)")]
    NotYetValid,
    #[error("the SAML assertion's IssueInstant is in the future")]
    IssuedInFuture,
}

/// What an assertion must satisfy.
#[derive(Debug, Clone)]
pub struct SamlPolicy {
    pub trust: IdpTrust,
    /// Issuer (IdP entity id) the assertion must name; None accepts any issuer the certificate signed for.
    pub issuer: Option<String>,
    /// The URI Audience and SubjectConfirmationData@Recipient must contain (Tollgate's
    /// token endpoint URL by default).
    pub audience: String,
    /// Clock drift allowance in seconds.
    pub drift_secs: i64,
    /// Largest decoded document accepted, bytes.
    pub max_bytes: usize,
}

impl SamlPolicy {
    /// A policy with no issuer pin, 60 s drift and the default size limit.
    pub fn new(trust: IdpTrust, audience: impl Into<String>) -> Self {
        Self {
            trust,
            issuer: None,
            audience: audience.into(),
            drift_secs: 60,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// An assertion that passed every check.
#[derive(Debug, Clone)]
pub struct ValidatedAssertion {
    /// The assertion ID (record it to refuse replays until `not_on_or_after` + drift).
    pub id: String,
    pub issuer: String,
    /// NameID text.
    pub subject: String,
    pub name_id_format: Option<String>,
    /// Unix seconds: the earliest of Conditions@NotOnOrAfter and the accepted bearer
    /// SubjectConfirmationData@NotOnOrAfter.
    pub not_on_or_after: i64,
    /// Attribute Name → values, from every AttributeStatement.
    pub attributes: BTreeMap<String, Vec<String>>,
}

const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(false),
);

/// RFC 7522 §2.1: the `assertion` form parameter, base64url with or without `=` padding
/// (no whitespace, no line wrapping, not the standard alphabet).
pub fn validate_base64url(
    assertion: &str,
    policy: &SamlPolicy,
    now: i64,
) -> Result<ValidatedAssertion, SamlError> {
    // 4 characters per 3 bytes, plus padding: refuse before decoding anything huge.
    let max_encoded = policy.max_bytes.saturating_add(2) / 3 * 4 + 4;
    if assertion.len() > max_encoded {
        return Err(SamlError::TooLarge {
            max: policy.max_bytes,
        });
    }
    let xml = B64URL
        .decode(assertion.as_bytes())
        .map_err(|_| SamlError::Base64)?;
    validate_xml(&xml, policy, now)
}

/// Validates a SAML 2.0 assertion document (the root element must be the assertion).
pub fn validate_xml(
    xml: &[u8],
    policy: &SamlPolicy,
    now: i64,
) -> Result<ValidatedAssertion, SamlError> {
    if xml.len() > policy.max_bytes {
        return Err(SamlError::TooLarge {
            max: policy.max_bytes,
        });
    }
    let shape = shape::check(xml)?;
    let text = std::str::from_utf8(xml).map_err(|_| SamlError::NotUtf8)?;
    let signed = verify::signed_bytes(text, &policy.trust, now)?;
    // Only the signed bytes are read from here on: wrapped or unsigned content never is.
    let assertion = assertion::parse(&signed)?;
    if assertion.id != shape.root_id {
        return Err(SamlError::SignedIdMismatch);
    }
    check_assertion(assertion, policy, now)
}

fn check_assertion(
    a: assertion::Assertion,
    policy: &SamlPolicy,
    now: i64,
) -> Result<ValidatedAssertion, SamlError> {
    let drift = policy.drift_secs.max(0);
    if a.version != "2.0" {
        return Err(SamlError::Version);
    }
    if a.issue_instant > now.saturating_add(drift) {
        return Err(SamlError::IssuedInFuture);
    }

    let issuer = a
        .issuer
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(SamlError::MissingIssuer)?;
    if let Some(expected) = &policy.issuer
        && expected != issuer
    {
        return Err(SamlError::WrongIssuer {
            expected: expected.clone(),
        });
    }

    let subject = a.subject.as_ref().ok_or(SamlError::MissingSubject)?;
    let name_id = subject.name_id.as_ref().ok_or(SamlError::MissingSubject)?;
    let subject_value = name_id.value.trim();
    if subject_value.is_empty() {
        return Err(SamlError::MissingSubject);
    }

    // Conditions: every AudienceRestriction must name us (SAML core §2.5.1.4), and
    // there must be at least one; then the validity window.
    let conditions = a
        .conditions
        .as_ref()
        .ok_or(SamlError::MissingAudienceRestriction)?;
    if conditions.audience_restrictions.is_empty() {
        return Err(SamlError::MissingAudienceRestriction);
    }
    if !conditions
        .audience_restrictions
        .iter()
        .all(|r| r.iter().any(|aud| aud.trim() == policy.audience))
    {
        return Err(SamlError::WrongAudience {
            expected: policy.audience.clone(),
        });
    }
    if let Some(nb) = conditions.not_before
        && now < nb.saturating_sub(drift)
    {
        return Err(SamlError::NotYetValid);
    }
    if let Some(noa) = conditions.not_on_or_after
        && now >= noa.saturating_add(drift)
    {
        return Err(SamlError::Expired);
    }

    // At least one bearer confirmation that fully checks out; otherwise report why the
    // first bearer confirmation failed.
    let mut first_error: Option<SamlError> = None;
    let mut accepted: Option<i64> = None;
    for sc in &subject.confirmations {
        if sc.method.as_deref().map(str::trim) != Some(BEARER_METHOD) {
            continue;
        }
        match check_bearer(sc, policy, now, drift) {
            Ok(noa) => {
                accepted = Some(noa);
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let bearer_noa = match (accepted, first_error) {
        (Some(noa), _) => noa,
        (None, Some(e)) => return Err(e),
        (None, None) => return Err(SamlError::NoBearerConfirmation),
    };
    let not_on_or_after = conditions
        .not_on_or_after
        .map_or(bearer_noa, |c| c.min(bearer_noa));

    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, values) in a.attributes {
        attributes.entry(name).or_default().extend(values);
    }

    Ok(ValidatedAssertion {
        issuer: issuer.to_owned(),
        subject: subject_value.to_owned(),
        name_id_format: name_id.format.clone(),
        not_on_or_after,
        attributes,
        id: a.id,
    })
}

/// One bearer SubjectConfirmation: Recipient, NotOnOrAfter (required), NotBefore.
/// Returns its NotOnOrAfter.
fn check_bearer(
    sc: &assertion::Confirmation,
    policy: &SamlPolicy,
    now: i64,
    drift: i64,
) -> Result<i64, SamlError> {
    let wrong_recipient = || SamlError::WrongRecipient {
        expected: policy.audience.clone(),
    };
    let data = sc.data.as_ref().ok_or_else(wrong_recipient)?;
    if data.recipient.as_deref().map(str::trim) != Some(policy.audience.as_str()) {
        return Err(wrong_recipient());
    }
    let noa = data.not_on_or_after.ok_or(SamlError::MissingNotOnOrAfter)?;
    if now >= noa.saturating_add(drift) {
        return Err(SamlError::Expired);
    }
    if let Some(nb) = data.not_before
        && now < nb.saturating_sub(drift)
    {
        return Err(SamlError::NotYetValid);
    }
    Ok(noa)
}
