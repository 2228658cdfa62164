//! End-to-end tests: assertions signed by the real `xmlsec1` command line with keys made
//! by the real `openssl` command line, verified by Tollgate (bergshamra).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/sign.rs"]
mod sign;

use std::time::{Duration, Instant};

use base64::Engine as _;
use sign::{AssertionSpec, KeyKind, Signer};
use tollgate_saml::{
    IdpTrust, SamlError, SamlPolicy, ValidatedAssertion, validate_base64url, validate_xml,
};

const ISSUER: &str = "https://idp.example.com/metadata";
const AUDIENCE: &str = "https://tollgate.example.com/oauth2/token";

fn policy(signer: &Signer) -> SamlPolicy {
    SamlPolicy {
        trust: IdpTrust::from_pem(&signer.cert_pem).expect("trust"),
        issuer: Some(ISSUER.to_owned()),
        audience: AUDIENCE.to_owned(),
        drift_secs: 60,
        max_bytes: 64 * 1024,
    }
}

fn spec(now: i64) -> AssertionSpec {
    AssertionSpec::valid(now, ISSUER, AUDIENCE)
}

fn check(xml: &str, policy: &SamlPolicy, now: i64) -> Result<ValidatedAssertion, SamlError> {
    validate_xml(xml.as_bytes(), policy, now)
}

/// The signed document without its XML declaration (to embed it in another one).
fn without_decl(xml: &str) -> &str {
    match xml.find("?>") {
        Some(i) if xml.starts_with("<?xml") => xml[i + 2..].trim_start(),
        _ => xml,
    }
}

/// Refused, and quickly (nothing was fetched, nothing hung).
fn refused_quickly(xml: &str, policy: &SamlPolicy, now: i64) -> SamlError {
    let start = Instant::now();
    let err = check(xml, policy, now).expect_err("must be refused");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    err
}

#[test]
fn valid_assertion_is_accepted_with_its_fields() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let s = spec(now);
    let xml = signer.sign(&s);
    let p = policy(&signer);
    let v = check(&xml, &p, now).expect("valid assertion");
    assert_eq!(v.id, s.id);
    assert_eq!(v.issuer, ISSUER);
    assert_eq!(v.subject, "alice@example.com");
    assert_eq!(
        v.name_id_format.as_deref(),
        Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
    );
    assert_eq!(v.not_on_or_after, now + 300);
    assert_eq!(
        v.attributes.get("email").unwrap(),
        &vec!["alice@example.com".to_owned()]
    );
    assert_eq!(
        v.attributes.get("groups").unwrap(),
        &vec!["admins".to_owned(), "staff".to_owned()]
    );

    // No issuer pin: any issuer the certificate signed for.
    let mut open = p.clone();
    open.issuer = None;
    assert_eq!(check(&xml, &open, now).unwrap().issuer, ISSUER);
}

#[test]
fn not_on_or_after_is_the_earliest_of_conditions_and_confirmation() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let mut s = spec(now);
    s.not_on_or_after = Some(now + 600);
    s.scd_not_on_or_after = Some(now + 120);
    let v = check(&signer.sign(&s), &policy(&signer), now).unwrap();
    assert_eq!(v.not_on_or_after, now + 120);

    let mut s = spec(now);
    s.not_on_or_after = Some(now + 90);
    s.scd_not_on_or_after = Some(now + 600);
    let v = check(&signer.sign(&s), &policy(&signer), now).unwrap();
    assert_eq!(v.not_on_or_after, now + 90);

    // Conditions@NotOnOrAfter is optional when the bearer confirmation has one.
    let mut s = spec(now);
    s.not_on_or_after = None;
    let v = check(&signer.sign(&s), &policy(&signer), now).unwrap();
    assert_eq!(v.not_on_or_after, now + 300);
}

#[test]
fn base64url_form_parameter_is_accepted_padded_and_unpadded() {
    let signer = Signer::new();
    let now = sign::unix_now();
    // Vary the ID length so that padding is really needed for one of them.
    let mut found_padded = false;
    for extra in ["", "a", "ab"] {
        let mut s = spec(now);
        s.id.push_str(extra);
        let xml = signer.sign(&s);
        let padded = base64::engine::general_purpose::URL_SAFE.encode(xml.as_bytes());
        let unpadded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml.as_bytes());
        found_padded |= padded.ends_with('=');
        let p = policy(&signer);
        assert_eq!(validate_base64url(&padded, &p, now).unwrap().id, s.id);
        assert_eq!(validate_base64url(&unpadded, &p, now).unwrap().id, s.id);
    }
    assert!(found_padded);
}

#[test]
fn bad_base64_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let xml = signer.sign(&spec(now));
    let p = policy(&signer);
    let good = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml.as_bytes());
    // Line-wrapped (as MIME base64 would be), or with a space.
    let wrapped: String = good
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");
    assert_eq!(
        validate_base64url(&wrapped, &p, now).unwrap_err(),
        SamlError::Base64
    );
    let spaced = format!("{} {}", &good[..40], &good[40..]);
    assert_eq!(
        validate_base64url(&spaced, &p, now).unwrap_err(),
        SamlError::Base64
    );
    // The standard alphabet is not base64url.
    let standard = base64::engine::general_purpose::STANDARD.encode(xml.as_bytes());
    assert!(
        standard.contains('+') || standard.contains('/'),
        "test data must use + or /"
    );
    assert_eq!(
        validate_base64url(&standard, &p, now).unwrap_err(),
        SamlError::Base64
    );
    for junk in ["%%%", "abc*def", "a", "PHNhbWw=="] {
        assert_eq!(
            validate_base64url(junk, &p, now).unwrap_err(),
            SamlError::Base64,
            "{junk}"
        );
    }
    // Valid base64url of something that is not XML.
    assert_eq!(
        validate_base64url("aGVsbG8gd29ybGQ", &p, now).unwrap_err(),
        SamlError::Malformed
    );
}

#[test]
fn ecdsa_p256_signature_is_accepted() {
    let signer = Signer::with_kind(KeyKind::EcP256);
    let now = sign::unix_now();
    let mut s = spec(now);
    s.signature_alg = signer.sha256_alg().to_owned();
    let v = check(&signer.sign(&s), &policy(&signer), now).expect("ecdsa-sha256");
    assert_eq!(v.subject, "alice@example.com");
}

#[test]
fn any_of_several_trusted_certificates_may_sign() {
    let a = Signer::new();
    let b = Signer::new();
    let now = sign::unix_now();
    let mut p = policy(&a);
    p.trust = IdpTrust::from_pem(&format!("{}\n{}", a.cert_pem, b.cert_pem)).unwrap();
    assert_eq!(p.trust.len(), 2);
    assert!(check(&a.sign(&spec(now)), &p, now).is_ok());
    assert!(check(&b.sign(&spec(now)), &p, now).is_ok());
}

#[test]
fn trust_pem_must_hold_certificates() {
    assert_eq!(
        IdpTrust::from_pem("").unwrap_err(),
        SamlError::InvalidCertificate
    );
    assert_eq!(
        IdpTrust::from_pem("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
            .unwrap_err(),
        SamlError::InvalidCertificate
    );
    assert_eq!(
        IdpTrust::from_pem("-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n")
            .unwrap_err(),
        SamlError::InvalidCertificate
    );
    assert_eq!(
        IdpTrust::from_pem("-----BEGIN CERTIFICATE-----\nMIIB").unwrap_err(),
        SamlError::InvalidCertificate
    );
}

#[test]
fn unsigned_assertion_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let template = spec(now).template();
    let start = template.find("  <ds:Signature").unwrap();
    let end = template.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let unsigned = format!("{}{}", &template[..start], &template[end..]);
    assert_eq!(
        check(&unsigned, &policy(&signer), now).unwrap_err(),
        SamlError::Unsigned
    );
    // The unsigned template (empty DigestValue and SignatureValue) is not a signature either.
    let err = check(&template, &policy(&signer), now).unwrap_err();
    assert!(
        matches!(
            err,
            SamlError::NotSignedByIdp | SamlError::VerificationFailed
        ),
        "{err:?}"
    );
}

#[test]
fn assertion_signed_by_another_key_is_refused() {
    let idp = Signer::new();
    let attacker = Signer::new();
    let now = sign::unix_now();
    let xml = attacker.sign(&spec(now));
    assert_eq!(
        check(&xml, &policy(&idp), now).unwrap_err(),
        SamlError::NotSignedByIdp
    );
    // ... even though it is a perfectly good signature for its own key.
    assert!(check(&xml, &policy(&attacker), now).is_ok());
}

#[test]
fn tampered_assertion_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let xml = signer.sign(&spec(now));
    let p = policy(&signer);
    assert!(check(&xml, &p, now).is_ok());
    let tampered = xml.replace(
        "alice@example.com</saml:NameID>",
        "admin@example.com</saml:NameID>",
    );
    assert_ne!(tampered, xml);
    assert_eq!(
        check(&tampered, &p, now).unwrap_err(),
        SamlError::NotSignedByIdp
    );
    // An extended validity window is tampering too.
    let later = xml.replace(
        &format!("NotOnOrAfter=\"{}\"", sign::xs_date_time(now + 300)),
        &format!("NotOnOrAfter=\"{}\"", sign::xs_date_time(now + 86_400)),
    );
    assert_ne!(later, xml);
    assert_eq!(
        check(&later, &p, now).unwrap_err(),
        SamlError::NotSignedByIdp
    );
}

fn evil_assertion(id: &str, now: i64, inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{ii}">
  <saml:Issuer>{ISSUER}</saml:Issuer>
  {inner}
  <saml:Subject>
    <saml:NameID>admin@example.com</saml:NameID>
    <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
      <saml:SubjectConfirmationData Recipient="{AUDIENCE}" NotOnOrAfter="{noa}"/>
    </saml:SubjectConfirmation>
  </saml:Subject>
  <saml:Conditions NotOnOrAfter="{noa}">
    <saml:AudienceRestriction><saml:Audience>{AUDIENCE}</saml:Audience></saml:AudienceRestriction>
  </saml:Conditions>
</saml:Assertion>
"#,
        ii = sign::xs_date_time(now),
        noa = sign::xs_date_time(now + 300),
    )
}

#[test]
fn wrapped_assertions_are_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let s = spec(now);
    let signed = signer.sign(&s);
    let p = policy(&signer);
    let inner = without_decl(&signed);

    // 1. The signed assertion as a child of an unsigned evil root assertion.
    let child = evil_assertion("_evil", now, inner);
    assert!(matches!(
        check(&child, &p, now).unwrap_err(),
        SamlError::SignatureShape(_)
    ));

    // 2. ... inside an Advice element of the evil root.
    let advice = evil_assertion("_evil", now, &format!("<saml:Advice>{inner}</saml:Advice>"));
    assert!(matches!(
        check(&advice, &p, now).unwrap_err(),
        SamlError::SignatureShape(_)
    ));

    // 3. The signature moved up to the evil root (still pointing at the original ID),
    //    the original assertion (now without its signature) in Advice.
    let sig_start = inner.find("<ds:Signature").unwrap();
    let sig_end = inner.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &inner[sig_start..sig_end];
    let stripped = format!("{}{}", &inner[..sig_start], &inner[sig_end..]);
    let moved = evil_assertion(
        "_evil",
        now,
        &format!("{signature}<saml:Advice>{stripped}</saml:Advice>"),
    );
    assert!(matches!(
        check(&moved, &p, now).unwrap_err(),
        SamlError::SignatureShape(_)
    ));

    // 4. Same, with the evil root reusing the signed assertion's ID.
    let same_id = evil_assertion(
        &s.id,
        now,
        &format!("{signature}<saml:Advice>{stripped}</saml:Advice>"),
    );
    let err = check(&same_id, &p, now).unwrap_err();
    assert!(
        matches!(err, SamlError::DuplicateId | SamlError::SignatureShape(_)),
        "{err:?}"
    );

    // 5. The signed assertion as root with an evil assertion smuggled into it.
    let smuggled = signed.replace(
        "</saml:Assertion>",
        &format!(
            "{}</saml:Assertion>",
            without_decl(&evil_assertion("_evil2", now, ""))
        ),
    );
    let err = check(&smuggled, &p, now).unwrap_err();
    assert_eq!(err, SamlError::NotSignedByIdp);

    // 6. Wrapped in a protocol Response: the root must be the assertion.
    let response = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0" IssueInstant="{}">{inner}</samlp:Response>"#,
        sign::xs_date_time(now)
    );
    assert_eq!(
        check(&response, &p, now).unwrap_err(),
        SamlError::NotAnAssertion
    );

    // The original is fine.
    assert!(check(&signed, &p, now).is_ok());
}

#[test]
fn expiry_is_enforced_with_drift() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let p = policy(&signer);

    // Conditions@NotOnOrAfter passed, beyond drift.
    let mut s = spec(now);
    s.issue_instant = now - 600;
    s.not_before = Some(now - 600);
    s.not_on_or_after = Some(now - 61);
    assert_eq!(
        check(&signer.sign(&s), &p, now).unwrap_err(),
        SamlError::Expired
    );
    // Within drift: accepted.
    s.not_on_or_after = Some(now - 30);
    assert!(check(&signer.sign(&s), &p, now).is_ok());
    // Exactly at NotOnOrAfter + drift: refused (now < NotOnOrAfter + drift is required).
    s.not_on_or_after = Some(now - 60);
    assert_eq!(
        check(&signer.sign(&s), &p, now).unwrap_err(),
        SamlError::Expired
    );

    // The bearer confirmation expired while Conditions did not.
    let mut s = spec(now);
    s.scd_not_on_or_after = Some(now - 120);
    assert_eq!(
        check(&signer.sign(&s), &p, now).unwrap_err(),
        SamlError::Expired
    );

    // The same valid assertion, checked later.
    let xml = signer.sign(&spec(now));
    assert!(check(&xml, &p, now + 350).is_ok());
    assert_eq!(check(&xml, &p, now + 400).unwrap_err(), SamlError::Expired);
}

#[test]
fn not_before_is_enforced_with_drift() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let p = policy(&signer);
    let mut s = spec(now);
    s.not_before = Some(now + 120);
    assert_eq!(
        check(&signer.sign(&s), &p, now).unwrap_err(),
        SamlError::NotYetValid
    );
    s.not_before = Some(now + 30);
    assert!(check(&signer.sign(&s), &p, now).is_ok());
    let mut strict = p.clone();
    strict.drift_secs = 0;
    assert_eq!(
        check(&signer.sign(&s), &strict, now).unwrap_err(),
        SamlError::NotYetValid
    );
}

#[test]
fn issue_instant_in_the_future_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let p = policy(&signer);
    let mut s = spec(now);
    s.issue_instant = now + 120;
    assert_eq!(
        check(&signer.sign(&s), &p, now).unwrap_err(),
        SamlError::IssuedInFuture
    );
    s.issue_instant = now + 30;
    assert!(check(&signer.sign(&s), &p, now).is_ok());
}

#[test]
fn wrong_audience_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let p = policy(&signer);
    let mut s = spec(now);
    s.audiences = vec!["https://other.example.com/token".to_owned()];
    let err = check(&signer.sign(&s), &p, now).unwrap_err();
    assert_eq!(
        err,
        SamlError::WrongAudience {
            expected: AUDIENCE.to_owned()
        }
    );
    assert_eq!(
        err.to_string(),
        format!("the SAML assertion's Audience does not contain {AUDIENCE}")
    );
    // Several audiences, one of them ours: accepted.
    s.audiences = vec![
        "https://other.example.com/token".to_owned(),
        AUDIENCE.to_owned(),
    ];
    assert!(check(&signer.sign(&s), &p, now).is_ok());
    // A prefix of ours is not ours.
    s.audiences = vec!["https://tollgate.example.com/oauth2".to_owned()];
    assert!(matches!(
        check(&signer.sign(&s), &p, now).unwrap_err(),
        SamlError::WrongAudience { .. }
    ));
}

#[test]
fn wrong_recipient_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let mut s = spec(now);
    s.recipient = "https://other.example.com/token".to_owned();
    assert_eq!(
        check(&signer.sign(&s), &policy(&signer), now).unwrap_err(),
        SamlError::WrongRecipient {
            expected: AUDIENCE.to_owned()
        }
    );
}

#[test]
fn bearer_confirmation_is_required() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let p = policy(&signer);
    let mut s = spec(now);
    s.method = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key".to_owned();
    assert_eq!(
        check(&signer.sign(&s), &p, now).unwrap_err(),
        SamlError::NoBearerConfirmation
    );
    // A bearer confirmation without NotOnOrAfter.
    let mut s = spec(now);
    s.scd_not_on_or_after = None;
    assert_eq!(
        check(&signer.sign(&s), &p, now).unwrap_err(),
        SamlError::MissingNotOnOrAfter
    );
}

#[test]
fn issuer_pin_is_enforced() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let mut s = spec(now);
    s.issuer = "https://evil.example.com".to_owned();
    assert_eq!(
        check(&signer.sign(&s), &policy(&signer), now).unwrap_err(),
        SamlError::WrongIssuer {
            expected: ISSUER.to_owned()
        }
    );
}

#[test]
fn empty_name_id_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let mut s = spec(now);
    // An empty element does not even fit the schema (NameID has required text) ...
    s.subject = String::new();
    let err = check(&signer.sign(&s), &policy(&signer), now).unwrap_err();
    assert!(
        matches!(err, SamlError::Schema | SamlError::MissingSubject),
        "{err:?}"
    );
    // ... and blank text is no subject either.
    s.subject = "   ".to_owned();
    let err = check(&signer.sign(&s), &policy(&signer), now).unwrap_err();
    assert!(
        matches!(err, SamlError::Schema | SamlError::MissingSubject),
        "{err:?}"
    );
}

#[test]
fn any_namespace_prefix_is_accepted() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let p = policy(&signer);
    let s = spec(now);
    let template = s.template();
    // Default namespace, no prefix.
    let unprefixed = template
        .replace("xmlns:saml=", "xmlns=")
        .replace("<saml:", "<")
        .replace("</saml:", "</");
    let v = check(&signer.sign_template(&unprefixed), &p, now).expect("default namespace");
    assert_eq!(v.subject, "alice@example.com");
    // Another prefix.
    let saml2 = template
        .replace("saml:", "saml2:")
        .replace("xmlns:saml=", "xmlns:saml2=");
    let v = check(&signer.sign_template(&saml2), &p, now).expect("saml2 prefix");
    assert_eq!(v.attributes.len(), 2);
    // The right local name in the wrong namespace is not an assertion.
    let signed = signer.sign_template(&template);
    let wrong_ns = signed.replacen(
        "urn:oasis:names:tc:SAML:2.0:assertion",
        "urn:example:not-saml",
        1,
    );
    assert_ne!(wrong_ns, signed);
    assert_eq!(
        check(&wrong_ns, &p, now).unwrap_err(),
        SamlError::NotAnAssertion
    );
}

#[test]
fn doctype_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let p = policy(&signer);
    let xml = signer.sign(&spec(now));
    let body = without_decl(&xml);

    // External entity (XXE).
    let xxe = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE saml:Assertion [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{}",
        body.replace("alice@example.com</saml:NameID>", "&xxe;</saml:NameID>")
    );
    assert_eq!(refused_quickly(&xxe, &p, now), SamlError::DocType);

    // Billion laughs.
    let mut lol = String::from("<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    lol.push_str("<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
    for i in 2..10 {
        let prev = i - 1;
        lol.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&lol{prev};").repeat(10)
        ));
    }
    lol.push_str("]>\n");
    let laughs = format!(
        "{lol}{}",
        body.replace("alice@example.com</saml:NameID>", "&lol9;</saml:NameID>")
    );
    assert_eq!(refused_quickly(&laughs, &p, now), SamlError::DocType);

    // A harmless-looking DOCTYPE is still refused.
    let plain = format!("<!DOCTYPE saml:Assertion>\n{body}");
    assert_eq!(refused_quickly(&plain, &p, now), SamlError::DocType);
}

#[test]
fn undeclared_entity_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let xml = signer.sign(&spec(now));
    let ent = xml.replace("alice@example.com</saml:NameID>", "&xxe;</saml:NameID>");
    assert_eq!(
        check(&ent, &policy(&signer), now).unwrap_err(),
        SamlError::EntityReference
    );
}

#[test]
fn comment_split_name_id_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let mut s = spec(now);
    s.subject = "admin@example.com.evil.com".to_owned();
    let xml = signer.sign(&s);
    let p = policy(&signer);
    let split = xml.replace(
        "admin@example.com.evil.com</saml:NameID>",
        "admin@example.com<!---->.evil.com</saml:NameID>",
    );
    assert_ne!(split, xml);

    // The attack is real: exc-c14n drops the comment, so xmlsec1 (the reference
    // implementation) still verifies the signature on the split document ...
    assert!(
        signer.xmlsec1_verifies(&split),
        "xmlsec1 should accept the comment-split document (that is the attack)"
    );
    // ... so the structural pass must refuse it.
    assert_eq!(check(&split, &p, now).unwrap_err(), SamlError::Comment);

    // Comments anywhere else are refused too.
    let elsewhere = xml.replacen("<saml:Subject>", "<!-- hello --><saml:Subject>", 1);
    assert_eq!(check(&elsewhere, &p, now).unwrap_err(), SamlError::Comment);
    let trailing = format!("{xml}<!-- after -->");
    assert_eq!(check(&trailing, &p, now).unwrap_err(), SamlError::Comment);
}

#[test]
fn processing_instructions_cdata_and_extra_roots_are_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let p = policy(&signer);
    let xml = signer.sign(&spec(now));
    let body = without_decl(&xml);

    let pi =
        format!("<?xml-stylesheet type=\"text/xsl\" href=\"http://127.0.0.1:1/x.xsl\"?>\n{body}");
    assert_eq!(
        check(&pi, &p, now).unwrap_err(),
        SamlError::ProcessingInstruction
    );
    let inner_pi = xml.replacen("<saml:Subject>", "<?foo bar?><saml:Subject>", 1);
    assert_eq!(
        check(&inner_pi, &p, now).unwrap_err(),
        SamlError::ProcessingInstruction
    );

    let cdata = xml.replace(
        "alice@example.com</saml:NameID>",
        "alice@example.com<![CDATA[]]></saml:NameID>",
    );
    assert_eq!(check(&cdata, &p, now).unwrap_err(), SamlError::CData);

    let two_roots = format!("{xml}{body}");
    assert_eq!(
        check(&two_roots, &p, now).unwrap_err(),
        SamlError::MultipleRoots
    );

    let truncated = &xml[..xml.len() / 2];
    assert_eq!(check(truncated, &p, now).unwrap_err(), SamlError::Malformed);

    let latin1 = xml.replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1);
    assert_ne!(latin1, xml);
    assert_eq!(check(&latin1, &p, now).unwrap_err(), SamlError::NotUtf8);
    assert_eq!(
        validate_xml(b"<a>\xff</a>", &p, now).unwrap_err(),
        SamlError::NotUtf8
    );
}

#[test]
fn oversized_document_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let xml = signer.sign(&spec(now));
    let mut p = policy(&signer);
    assert!(check(&xml, &p, now).is_ok());
    p.max_bytes = xml.len() - 1;
    assert_eq!(
        check(&xml, &p, now).unwrap_err(),
        SamlError::TooLarge { max: xml.len() - 1 }
    );
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml.as_bytes());
    assert_eq!(
        validate_base64url(&b64, &p, now).unwrap_err(),
        SamlError::TooLarge { max: xml.len() - 1 }
    );
    // A huge parameter is refused before it is decoded.
    p.max_bytes = 64 * 1024;
    let huge = "A".repeat(10 * 1024 * 1024);
    let start = Instant::now();
    assert!(matches!(
        validate_base64url(&huge, &p, now).unwrap_err(),
        SamlError::TooLarge { .. }
    ));
    assert!(start.elapsed() < Duration::from_millis(100));
    // A padded signed document just over the default limit.
    let mut s = spec(now);
    s.attributes
        .push(("blob".to_owned(), vec!["x".repeat(65 * 1024)]));
    let big = signer.sign(&s);
    assert!(matches!(
        check(&big, &p, now).unwrap_err(),
        SamlError::TooLarge { .. }
    ));
    p.max_bytes = 128 * 1024;
    assert!(check(&big, &p, now).is_ok());
}

#[test]
fn remote_reference_uri_is_refused_without_fetching() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let s = spec(now);
    let xml = signer.sign(&s);
    let p = policy(&signer);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let reference = format!("URI=\"#{}\"", s.id);
    assert!(xml.contains(&reference));

    let http = xml.replace(
        &reference,
        &format!("URI=\"http://127.0.0.1:{port}/assertion.xml\""),
    );
    assert!(matches!(
        refused_quickly(&http, &p, now),
        SamlError::SignatureShape(_)
    ));

    // A second Reference to a remote URI next to the good one.
    let extra = xml.replace(
        "</ds:SignedInfo>",
        &format!(
            "<ds:Reference URI=\"http://127.0.0.1:{port}/x\"><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        ),
    );
    assert!(matches!(
        refused_quickly(&extra, &p, now),
        SamlError::SignatureShape(_)
    ));

    // RetrievalMethod in KeyInfo.
    let retrieval = xml.replace(
        "<ds:KeyInfo>",
        &format!("<ds:KeyInfo><ds:RetrievalMethod URI=\"http://127.0.0.1:{port}/key\"/>"),
    );
    assert!(matches!(
        refused_quickly(&retrieval, &p, now),
        SamlError::SignatureShape(_)
    ));

    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("something connected to the reference URI: {other:?}"),
    }
}

#[test]
fn file_reference_uri_is_refused_quickly() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let s = spec(now);
    let xml = signer.sign(&s);
    let p = policy(&signer);
    let reference = format!("URI=\"#{}\"", s.id);
    for uri in [
        "file:///dev/zero",
        "/dev/zero",
        "",
        "#xpointer(/)",
        "#_other",
    ] {
        let doc = xml.replace(&reference, &format!("URI=\"{uri}\""));
        assert!(
            matches!(refused_quickly(&doc, &p, now), SamlError::SignatureShape(_)),
            "{uri}"
        );
    }
    // No URI attribute at all.
    let none = xml.replace(&reference, "");
    assert!(matches!(
        refused_quickly(&none, &p, now),
        SamlError::SignatureShape(_)
    ));
}

#[test]
fn xslt_and_xpath_transforms_are_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let xml = signer.sign(&spec(now));
    let p = policy(&signer);
    let xslt = xml.replace(
        "<ds:Transforms>",
        r#"<ds:Transforms><ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template match="/"><xsl:value-of select="document('http://127.0.0.1:1/x')"/></xsl:template></xsl:stylesheet></ds:Transform>"#,
    );
    assert_ne!(xslt, xml);
    assert!(matches!(
        refused_quickly(&xslt, &p, now),
        SamlError::SignatureShape(_)
    ));

    let xpath = xml.replace(
        "<ds:Transforms>",
        r#"<ds:Transforms><ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>count(//. | //@* | //namespace::*)</ds:XPath></ds:Transform>"#,
    );
    assert!(matches!(
        refused_quickly(&xpath, &p, now),
        SamlError::SignatureShape(_)
    ));

    // Inclusive c14n with comments as the canonicalization method.
    let with_comments = xml.replace(
        r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
        r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"/>"#,
    );
    assert_ne!(with_comments, xml);
    assert!(matches!(
        refused_quickly(&with_comments, &p, now),
        SamlError::SignatureShape(_)
    ));

    // An Object element in the Signature.
    let object = xml.replace("</ds:Signature>", "<ds:Object>x</ds:Object></ds:Signature>");
    assert!(matches!(
        refused_quickly(&object, &p, now),
        SamlError::SignatureShape(_)
    ));
}

#[test]
fn sha1_signature_is_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let mut s = spec(now);
    s.signature_alg = sign::RSA_SHA1.to_owned();
    s.digest_alg = sign::SHA1.to_owned();
    let xml = signer.sign(&s);
    assert_eq!(
        check(&xml, &policy(&signer), now).unwrap_err(),
        SamlError::WeakAlgorithm
    );
    // SHA-256 signature over a SHA-1 digest.
    let mut s = spec(now);
    s.digest_alg = sign::SHA1.to_owned();
    let xml = signer.sign(&s);
    assert_eq!(
        check(&xml, &policy(&signer), now).unwrap_err(),
        SamlError::WeakAlgorithm
    );
}

#[test]
fn two_signatures_are_refused() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let xml = signer.sign(&spec(now));
    let body = without_decl(&xml);
    let start = body.find("<ds:Signature").unwrap();
    let end = body.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &body[start..end];
    let doubled = xml.replacen(sig, &format!("{sig}{sig}"), 1);
    assert!(matches!(
        check(&doubled, &policy(&signer), now).unwrap_err(),
        SamlError::SignatureShape(_)
    ));
}

#[test]
fn error_texts_do_not_echo_the_document() {
    let signer = Signer::new();
    let now = sign::unix_now();
    let mut s = spec(now);
    s.subject = "secret-subject@example.com".to_owned();
    s.audiences = vec!["https://secret-audience.example.com".to_owned()];
    let err = check(&signer.sign(&s), &policy(&signer), now).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("secret"), "{text}");
    assert!(text.contains(AUDIENCE));
}
