//! XML-DSig verification with bergshamra (pure Rust; exclusive C14N and the
//! enveloped-signature transform), and the signed bytes it vouches for.
//!
//! The shape pass has already made sure there is exactly one enveloped exc-c14n
//! signature, a child of the root, with one Reference to the root's ID. bergshamra then
//! verifies it with its secure defaults on — `trusted_keys_only` (only the configured
//! certificates' keys; the document's KeyInfo is never used to pick a key),
//! `strict_verification` (XSW positions) — plus `verify_keys` (the signing certificate
//! must be valid at `now` and chain to a configured self-signed certificate). Its
//! result is checked once more here: the one verified reference must resolve to the
//! document element and the signature must be that element's child.

use bergshamra::dsig::verify::verify_document_with_source;
use bergshamra::keys::loader::load_x509_cert_der;
use bergshamra::xml::NodeSet;
use bergshamra::xml::uppsala;
use bergshamra::{DsigContext, KeysManager, VerifyResult};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::SamlError;

/// The certificates of one identity provider.
///
/// Every certificate that does not issue another one in the set (a "leaf": one IdP
/// signing certificate, or several during a rollover) may sign. Self-signed
/// certificates are the trust anchors; the others must chain to one of them through
/// the set, so a CA-issued IdP certificate is configured together with its CA.
#[derive(Clone)]
pub struct IdpTrust {
    keys: KeysManager,
    certs: usize,
}

impl std::fmt::Debug for IdpTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpTrust")
            .field("certificates", &self.certs)
            .finish()
    }
}

impl IdpTrust {
    /// PEM text with one or more CERTIFICATE blocks (other blocks are ignored).
    pub fn from_pem(pem: &str) -> Result<Self, SamlError> {
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let mut certs = Vec::new();
        let mut rest = pem;
        while let Some(start) = rest.find(BEGIN) {
            let tail = rest.get(start + BEGIN.len()..).unwrap_or_default();
            let end = tail.find(END).ok_or(SamlError::InvalidCertificate)?;
            let body: String = tail
                .get(..end)
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            use base64::Engine as _;
            let der = base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|_| SamlError::InvalidCertificate)?;
            certs.push(der);
            rest = tail.get(end + END.len()..).unwrap_or_default();
        }
        Self::from_der(certs)
    }

    /// DER certificates, one or more.
    pub fn from_der(certs: Vec<Vec<u8>>) -> Result<Self, SamlError> {
        if certs.is_empty() {
            return Err(SamlError::InvalidCertificate);
        }
        // (subject, issuer) of each certificate, raw DER names.
        let mut names = Vec::with_capacity(certs.len());
        for der in &certs {
            let (rest, cert) =
                X509Certificate::from_der(der).map_err(|_| SamlError::InvalidCertificate)?;
            if !rest.is_empty() {
                return Err(SamlError::InvalidCertificate);
            }
            names.push((
                cert.subject().as_raw().to_vec(),
                cert.issuer().as_raw().to_vec(),
            ));
        }
        let mut keys = KeysManager::new();
        for (i, der) in certs.iter().enumerate() {
            let (subject, issuer) = &names[i];
            if subject == issuer {
                keys.add_trusted_cert(der.clone());
            } else {
                keys.add_untrusted_cert(der.clone());
            }
            let issues_another = names
                .iter()
                .enumerate()
                .any(|(j, (s, iss))| j != i && iss == subject && s != iss);
            if !issues_another {
                let key = load_x509_cert_der(der).map_err(|_| SamlError::InvalidCertificate)?;
                keys.add_key(key);
            }
        }
        Ok(Self {
            keys,
            certs: certs.len(),
        })
    }

    /// How many certificates this IdP has.
    pub fn len(&self) -> usize {
        self.certs
    }

    /// Never true for a constructed value.
    pub fn is_empty(&self) -> bool {
        self.certs == 0
    }
}

/// Verifies the document's one signature with `trust` at `now` (Unix seconds) and
/// returns the bytes its digest covers: the exclusive canonical form of the document
/// element without the signature.
pub(crate) fn signed_bytes(xml: &str, trust: &IdpTrust, now: i64) -> Result<Vec<u8>, SamlError> {
    let doc = uppsala::parse(xml).map_err(|_| SamlError::Malformed)?;
    let mut ctx = DsigContext::new(trust.keys.clone());
    ctx.trusted_keys_only = true;
    ctx.strict_verification = true;
    ctx.verify_keys = true;
    ctx.verification_time = Some(verification_time(now)?);
    let result = verify_document_with_source(&ctx, &doc, Some(xml)).map_err(|e| match e {
        bergshamra::Error::Certificate(_) => SamlError::IdpCertificateNotValid,
        bergshamra::Error::DigestMismatch(_) | bergshamra::Error::SignatureInvalid(_) => {
            SamlError::NotSignedByIdp
        }
        _ => SamlError::VerificationFailed,
    })?;
    let VerifyResult::Valid {
        signature_node,
        references,
        ..
    } = result
    else {
        return Err(SamlError::NotSignedByIdp);
    };
    let root = doc.document_element().ok_or(SamlError::Malformed)?;
    let [reference] = references.as_slice() else {
        return Err(SamlError::VerificationFailed);
    };
    if reference.resolved_node != Some(root)
        || !reference.digest_verified
        || doc.parent(signature_node) != Some(root)
    {
        return Err(SamlError::SignedIdMismatch);
    }
    let signed = NodeSet::tree_without_comments(root, &doc)
        .subtract(&NodeSet::tree_with_comments(signature_node, &doc));
    let no_prefixes: [&str; 0] = [];
    bergshamra::c14n::exclusive::canonicalize(&doc, false, Some(&signed), &no_prefixes)
        .map_err(|_| SamlError::VerificationFailed)
}

/// bergshamra's verification-time format, `YYYY-MM-DD+HH:MM:SS` (UTC).
fn verification_time(now: i64) -> Result<String, SamlError> {
    let (year, month, day, secs) =
        crate::time::civil_from_unix(now).ok_or(SamlError::VerificationFailed)?;
    Ok(format!(
        "{year:04}-{month:02}-{day:02}+{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    ))
}

#[cfg(test)]
mod tests {

    #[test]
    fn verification_time_is_utc_calendar_time() {
        assert_eq!(super::verification_time(0).unwrap(), "1970-01-01+00:00:00");
        assert_eq!(
            super::verification_time(1_796_676_561).unwrap(),
            "2026-12-07+20:49:21"
        );
        assert_eq!(
            super::verification_time(1_709_164_800).unwrap(),
            "2024-02-29+00:00:00"
        );
    }
}
