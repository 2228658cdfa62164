//! Differential test: every SAML vector goes through `xmlsec1 --verify` (libxmlsec1, the
//! reference implementation, as the oracle) and through Tollgate, and the verdicts must
//! agree: a validly signed vector is accepted by both, a tampered one is refused by
//! both. Tollgate may refuse more only where its shape pass says why (comments, DOCTYPE,
//! processing instructions, CDATA, SHA-1, wrapped or moved signatures, ...): those
//! vectors are listed with the shape error they get.
//!
//! The vectors are the attack cases of `validate.rs` plus generated mutations of freshly
//! signed assertions (re-ordered attributes, moved namespace declarations, whitespace,
//! character references, line endings, changed text, digests and signature values,
//! wrapped and duplicated IDs, other algorithms), from a fixed seed so a failure can be
//! reproduced. Run with `--nocapture` to see the table and the counts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/sign.rs"]
mod sign;

use sign::{AssertionSpec, KeyKind, Signer};
use tollgate_saml::{IdpTrust, SamlError, SamlPolicy, validate_xml};

const ISSUER: &str = "https://idp.example.com/metadata";
const AUDIENCE: &str = "https://tollgate.example.com/oauth2/token";
const RSA_SHA1: &str = sign::RSA_SHA1;
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";

/// What a vector is, and so what both verifiers must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Validly signed, in a shape Tollgate takes: both accept.
    Valid,
    /// The signed content or the signature was changed: both refuse.
    Tampered,
    /// The signature itself may be valid (xmlsec1 may accept), but the document is
    /// outside what Tollgate takes; Tollgate refuses with a shape error.
    ShapeOnly,
}

struct Vector {
    name: String,
    xml: String,
    class: Class,
}

/// A small deterministic generator (xorshift64*), so the mutations are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }
}

fn without_decl(xml: &str) -> &str {
    match xml.find("?>") {
        Some(i) if xml.starts_with("<?xml") => xml[i + 2..].trim_start(),
        _ => xml,
    }
}

fn signature_of(xml: &str) -> (usize, usize) {
    let start = xml.find("<ds:Signature").unwrap();
    let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    (start, end)
}

/// Replaces the first occurrence of `from`, asserting that there is one.
fn replace_once(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "{from} not in the document");
    xml.replacen(from, to, 1)
}

/// Changes one character of the base64 text of `element` (DigestValue, SignatureValue).
fn flip_base64(xml: &str, element: &str, rng: &mut Rng) -> String {
    let open = format!("<ds:{element}>");
    let start = xml.find(&open).unwrap() + open.len();
    let len = xml[start..].find('<').unwrap();
    // Skip line breaks that xmlsec1 puts into long values.
    let candidates: Vec<usize> = (start..start + len)
        .filter(|&i| xml.as_bytes()[i].is_ascii_alphanumeric())
        .collect();
    let at = candidates[rng.below(candidates.len())];
    let old = xml.as_bytes()[at];
    let new = if old == b'A' { 'B' } else { 'A' };
    format!("{}{new}{}", &xml[..at], &xml[at + 1..])
}

/// The benign rewrites: each keeps the canonical form (so the signature) intact.
fn benign(xml: &str, which: usize, spec: &AssertionSpec) -> (String, &'static str) {
    match which {
        0 => (
            replace_once(
                xml,
                &format!(r#"ID="{}" Version="2.0""#, spec.id),
                &format!(r#"Version="2.0"   ID="{}""#, spec.id),
            ),
            "root attributes re-ordered and spaced",
        ),
        1 => (
            replace_once(
                xml,
                r#"<saml:Attribute Name="email">"#,
                "<saml:Attribute Name='email' >",
            ),
            "single-quoted attribute, space before >",
        ),
        2 => (
            replace_once(
                xml,
                "<saml:Subject>",
                r#"<saml:Subject xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">"#,
            ),
            "redundant namespace declaration",
        ),
        3 => (
            replace_once(
                xml,
                &format!(r#"<ds:Signature xmlns:ds="{}">"#, sign::DSIG_NS),
                "<ds:Signature>",
            )
            .replacen(
                "<saml:Assertion ",
                &format!(r#"<saml:Assertion xmlns:ds="{}" "#, sign::DSIG_NS),
                1,
            ),
            "dsig namespace declaration moved to the root",
        ),
        4 => (
            replace_once(
                xml,
                &format!(">{}</saml:NameID>", spec.subject),
                &format!(">&#97;{}</saml:NameID>", &spec.subject[1..]),
            ),
            "character reference in the NameID",
        ),
        5 => (xml.replace("\n", "\r\n"), "CRLF line endings"),
        6 => (without_decl(xml).to_owned(), "no XML declaration"),
        7 => (
            replace_once(
                xml,
                "<saml:AuthnContextClassRef>",
                "<saml:AuthnContextClassRef >",
            ),
            "space inside a start tag",
        ),
        _ => (
            xml.replacen("<ds:SignedInfo>", "<ds:SignedInfo  >", 1),
            "space inside the SignedInfo start tag",
        ),
    }
}

const BENIGN_KINDS: usize = 9;

/// The tampering rewrites: each changes what the digest or the signature covers.
fn tampered(xml: &str, which: usize, spec: &AssertionSpec, rng: &mut Rng) -> (String, String) {
    // One character of a value the assertion carries, chosen at random.
    let values = [
        spec.subject.as_str(),
        spec.issuer.as_str(),
        AUDIENCE,
        "admins",
        "staff",
        "PasswordProtectedTransport",
    ];
    let present: Vec<&str> = values
        .into_iter()
        .filter(|v| xml.contains(&format!(">{v}<")) || xml.contains(&format!("\"{v}\"")))
        .collect();
    match which {
        0 => {
            let v = present[rng.below(present.len())];
            let at = rng.below(v.len());
            let c = v.as_bytes()[at];
            let new_char = if c == b'x' { 'y' } else { 'x' };
            let changed = format!("{}{new_char}{}", &v[..at], &v[at + 1..]);
            let from = format!(">{v}<");
            let to = format!(">{changed}<");
            let target = if xml.contains(&from) {
                (from, to)
            } else {
                (format!("\"{v}\""), format!("\"{changed}\""))
            };
            (
                replace_once(xml, &target.0, &target.1),
                format!("one character of {v:?} changed"),
            )
        }
        1 => (
            flip_base64(xml, "DigestValue", rng),
            "DigestValue changed".into(),
        ),
        2 => (
            flip_base64(xml, "SignatureValue", rng),
            "SignatureValue changed".into(),
        ),
        3 => (
            replace_once(
                xml,
                &format!(
                    r#"NotOnOrAfter="{}""#,
                    sign::xs_date_time(spec.not_on_or_after.unwrap())
                ),
                &format!(
                    r#"NotOnOrAfter="{}""#,
                    sign::xs_date_time(spec.not_on_or_after.unwrap() + 86_400)
                ),
            ),
            "validity extended".into(),
        ),
        4 => (
            replace_once(xml, "</saml:NameID>", " </saml:NameID>"),
            "whitespace added to the NameID".into(),
        ),
        5 => (
            replace_once(xml, r#"Version="2.0""#, r#"Version="2.0" Consent="x""#),
            "attribute added to the root".into(),
        ),
        6 => (
            xml.replace("saml:", "s2:")
                .replace("xmlns:saml=", "xmlns:s2="),
            "assertion namespace prefix renamed".into(),
        ),
        7 => (
            replace_once(xml, "<ds:SignedInfo>", "<ds:SignedInfo>\n "),
            "whitespace added inside SignedInfo".into(),
        ),
        8 => {
            let (start, end) = signature_of(xml);
            (
                format!("{}{}", &xml[..start], &xml[end..]),
                "signature removed".into(),
            )
        }
        9 => (
            replace_once(
                xml,
                "</saml:Subject>",
                "</saml:Subject><saml:Advice><saml:AssertionIDRef>_x</saml:AssertionIDRef></saml:Advice>",
            ),
            "element added to the signed content".into(),
        ),
        _ => (
            replace_once(
                xml,
                &format!(r##"URI="#{}""##, spec.id),
                r##"URI="#_other""##,
            ),
            "Reference pointed at another ID".into(),
        ),
    }
}

const TAMPER_KINDS: usize = 11;

fn spec(now: i64) -> AssertionSpec {
    AssertionSpec::valid(now, ISSUER, AUDIENCE)
}

fn evil_root(id: &str, now: i64, inner: &str) -> String {
    format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{ii}"><saml:Issuer>{ISSUER}</saml:Issuer>{inner}<saml:Subject><saml:NameID>admin@example.com</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData Recipient="{AUDIENCE}" NotOnOrAfter="{noa}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{AUDIENCE}</saml:Audience></saml:AudienceRestriction></saml:Conditions></saml:Assertion>"#,
        ii = sign::xs_date_time(now),
        noa = sign::xs_date_time(now + 300),
    )
}

/// Attack cases whose signature may well be valid: the shape pass refuses them.
fn shape_only(signer: &Signer, now: i64) -> Vec<Vector> {
    let s = spec(now);
    let signed = signer.sign(&s);
    let inner = without_decl(&signed);
    let (start, end) = signature_of(inner);
    let signature = &inner[start..end];
    let stripped = format!("{}{}", &inner[..start], &inner[end..]);
    let mut out = vec![
        (
            "comment splitting the NameID".to_owned(),
            replace_once(
                &signed,
                "alice@example.com</saml:NameID>",
                "alice@example.com<!---->.evil.com</saml:NameID>",
            ),
        ),
        (
            "comment before the Subject".to_owned(),
            replace_once(&signed, "<saml:Subject>", "<!-- hi --><saml:Subject>"),
        ),
        (
            "processing instruction".to_owned(),
            replace_once(&signed, "<saml:Subject>", "<?pi x?><saml:Subject>"),
        ),
        (
            "CDATA with the same text".to_owned(),
            replace_once(
                &signed,
                ">alice@example.com</saml:NameID>",
                "><![CDATA[alice@example.com]]></saml:NameID>",
            ),
        ),
        (
            "DOCTYPE with an internal subset".to_owned(),
            format!("<!DOCTYPE saml:Assertion [<!ELEMENT x ANY>]>{inner}"),
        ),
        (
            "signed assertion inside an evil root".to_owned(),
            evil_root("_evil", now, inner),
        ),
        (
            "signed assertion inside the evil root's Advice".to_owned(),
            evil_root("_evil", now, &format!("<saml:Advice>{inner}</saml:Advice>")),
        ),
        (
            "signature moved to an evil root, original in Advice".to_owned(),
            evil_root(
                "_evil",
                now,
                &format!("{signature}<saml:Advice>{stripped}</saml:Advice>"),
            ),
        ),
        (
            "evil root reusing the signed ID (duplicated ID)".to_owned(),
            evil_root(
                &s.id,
                now,
                &format!("{signature}<saml:Advice>{stripped}</saml:Advice>"),
            ),
        ),
        (
            "signed assertion inside a protocol Response".to_owned(),
            format!(
                r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0" IssueInstant="{}">{inner}</samlp:Response>"#,
                sign::xs_date_time(now)
            ),
        ),
        (
            "a second copy of the signature in Advice".to_owned(),
            replace_once(
                &signed,
                "</saml:Subject>",
                &format!("</saml:Subject><saml:Advice>{signature}</saml:Advice>"),
            ),
        ),
    ];
    // The enveloped-signature transform without exc-c14n (the shape pass wants
    // exactly [enveloped-signature, exc-c14n]; xmlsec1 cannot sign exc-c14n
    // before enveloped-signature, so that order has no vector).
    let enveloped =
        r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#;
    let exc = r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#;
    let both = format!("{enveloped}\n          {exc}");
    let template = spec(now).template();
    assert!(template.contains(&both));
    out.push((
        "the enveloped-signature transform alone".to_owned(),
        signer.sign_template(&template.replace(&both, enveloped)),
    ));
    for (name, sig_alg, digest_alg) in [
        ("RSA-SHA1 signature, SHA-1 digest", RSA_SHA1, sign::SHA1),
        (
            "RSA-SHA256 signature, SHA-1 digest",
            sign::RSA_SHA256,
            sign::SHA1,
        ),
        ("RSA-SHA512 signature, SHA-512 digest", RSA_SHA512, SHA512),
    ] {
        let mut s = spec(now);
        s.signature_alg = sig_alg.to_owned();
        s.digest_alg = digest_alg.to_owned();
        out.push((name.to_owned(), signer.sign(&s)));
    }
    out.into_iter()
        .map(|(name, xml)| Vector {
            name,
            xml,
            class: Class::ShapeOnly,
        })
        .collect()
}

fn is_shape_error(e: &SamlError) -> bool {
    matches!(
        e,
        SamlError::DocType
            | SamlError::ProcessingInstruction
            | SamlError::Comment
            | SamlError::CData
            | SamlError::EntityReference
            | SamlError::TooDeep
            | SamlError::MultipleRoots
            | SamlError::NotAnAssertion
            | SamlError::DuplicateId
            | SamlError::SignatureShape(_)
            | SamlError::WeakAlgorithm
    )
}

fn policy(signer: &Signer) -> SamlPolicy {
    SamlPolicy {
        trust: IdpTrust::from_pem(&signer.cert_pem).unwrap(),
        issuer: Some(ISSUER.to_owned()),
        audience: AUDIENCE.to_owned(),
        drift_secs: 60,
        max_bytes: 64 * 1024,
    }
}

#[test]
fn tollgate_and_xmlsec1_agree_on_every_vector() {
    let mut rng = Rng(0x7011_6a7e_5a31_0001);
    let signers = [Signer::new(), Signer::with_kind(KeyKind::EcP256)];
    let attacker = Signer::new();
    // After the certificates are made: they are valid from the second they were made.
    let now = sign::unix_now();
    let mut vectors: Vec<(usize, Vector)> = Vec::new();

    for (k, signer) in signers.iter().enumerate() {
        let kind = if k == 0 { "RSA" } else { "EC P-256" };
        // Each round signs a fresh assertion, then derives vectors from it.
        for round in 0..6 {
            let mut s = spec(now);
            s.signature_alg = signer.sha256_alg().to_owned();
            let xml = signer.sign(&s);
            vectors.push((
                k,
                Vector {
                    name: format!("{kind} #{round}: as signed"),
                    xml: xml.clone(),
                    class: Class::Valid,
                },
            ));
            // One benign rewrite of each kind, then random combinations of two and three.
            let mut singles: Vec<Vec<usize>> = if round == 0 {
                (0..BENIGN_KINDS).map(|b| vec![b]).collect()
            } else {
                Vec::new()
            };
            for n in [2, 3] {
                let mut combo: Vec<usize> = (0..n).map(|_| rng.below(BENIGN_KINDS)).collect();
                combo.sort_unstable();
                combo.dedup();
                singles.push(combo);
            }
            for combo in singles {
                let mut doc = xml.clone();
                let mut names = Vec::new();
                // CRLF (5) last, so the other rewrites still find their text.
                let mut order = combo.clone();
                order.sort_by_key(|b| usize::from(*b == 5));
                for b in order {
                    let (next, name) = benign(&doc, b, &s);
                    doc = next;
                    names.push(name);
                }
                vectors.push((
                    k,
                    Vector {
                        name: format!("{kind} #{round}: {}", names.join(" + ")),
                        xml: doc.clone(),
                        class: Class::Valid,
                    },
                ));
                // The same benign document with one tampering on top.
                let t = rng.below(TAMPER_KINDS);
                if !(names.contains(&"CRLF line endings") && t == 7) {
                    let (bad, what) = tampered(&doc, t, &s, &mut rng);
                    vectors.push((
                        k,
                        Vector {
                            name: format!("{kind} #{round}: {} + {what}", names.join(" + ")),
                            xml: bad,
                            class: Class::Tampered,
                        },
                    ));
                }
            }
            // Every tampering kind on the first round, random ones after.
            let kinds: Vec<usize> = if round == 0 {
                (0..TAMPER_KINDS).collect()
            } else {
                (0..2).map(|_| rng.below(TAMPER_KINDS)).collect()
            };
            for t in kinds {
                let (bad, what) = tampered(&xml, t, &s, &mut rng);
                vectors.push((
                    k,
                    Vector {
                        name: format!("{kind} #{round}: {what}"),
                        xml: bad,
                        class: Class::Tampered,
                    },
                ));
            }
        }
        // Signed by a key the IdP does not have.
        let mut s = spec(now);
        s.signature_alg = attacker.sha256_alg().to_owned();
        vectors.push((
            k,
            Vector {
                name: format!("{kind}: signed by another key"),
                xml: attacker.sign(&s),
                class: Class::Tampered,
            },
        ));
    }
    for v in shape_only(&signers[0], now) {
        vectors.push((0, v));
    }

    let policies = [policy(&signers[0]), policy(&signers[1])];
    let mut failures = Vec::new();
    let (mut both_accepted, mut both_refused, mut shape_refused) = (0, 0, 0);
    let mut shape_list = Vec::new();
    for (k, v) in &vectors {
        let oracle = signers[*k].xmlsec1_verifies(&v.xml);
        let ours = validate_xml(v.xml.as_bytes(), &policies[*k], now);
        let verdict = match (v.class, oracle, &ours) {
            (Class::Valid, true, Ok(_)) => {
                both_accepted += 1;
                None
            }
            (Class::Tampered, false, Err(_)) => {
                both_refused += 1;
                None
            }
            (Class::ShapeOnly, _, Err(e)) if is_shape_error(e) => {
                shape_refused += 1;
                shape_list.push(format!(
                    "  {} (xmlsec1: {}) -> {e}",
                    v.name,
                    if oracle { "accepts" } else { "refuses" }
                ));
                None
            }
            _ => Some(format!(
                "{}: expected {:?}, xmlsec1 {}, Tollgate {:?}",
                v.name,
                v.class,
                if oracle { "accepts" } else { "refuses" },
                ours.as_ref().map(|_| "accepts").map_err(|e| e.clone())
            )),
        };
        if let Some(f) = verdict {
            failures.push(f);
        }
    }
    println!(
        "{} vectors: {both_accepted} accepted by both, {both_refused} refused by both, {shape_refused} refused by Tollgate's shape pass:",
        vectors.len()
    );
    for line in &shape_list {
        println!("{line}");
    }
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
    // The suite is meaningful only if both classes are well represented.
    assert!(both_accepted >= 20 && both_refused >= 20, "too few vectors");
}
