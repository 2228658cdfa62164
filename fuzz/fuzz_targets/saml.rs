//! The SAML 2.0 bearer assertion pipeline, `tollgate_saml::validate_xml`: the
//! strict shape pass, then the pure-Rust XML-DSig verifier, then the reader of
//! the signed bytes, with a fixed IdP certificate (fixtures/saml-idp-cert.pem;
//! the seeds in corpus/saml are signed with its key by `seeds.sh`) and a fixed
//! clock.
//!
//! Must hold: no panic; an accepted assertion satisfies the policy (issuer,
//! non-empty subject, still valid at `NOW`), and the base64url entry point
//! gives the same verdict.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate_saml::{IdpTrust, SamlPolicy, validate_base64url, validate_xml};

/// The seeds' clock: 2027-01-15T08:00:00Z.
const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://idp.example.com/saml";
const AUDIENCE: &str = "https://tollgate.example.com/oauth2/token";

fn policy() -> &'static SamlPolicy {
    static POLICY: OnceLock<SamlPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let trust = match IdpTrust::from_pem(include_str!("../fixtures/saml-idp-cert.pem")) {
            Ok(t) => t,
            Err(e) => panic!("fixture certificate: {e}"),
        };
        let mut p = SamlPolicy::new(trust, AUDIENCE);
        p.issuer = Some(ISSUER.to_owned());
        p
    })
}

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let p = policy();
    let verdict = validate_xml(data, p, NOW);
    if let Ok(v) = &verdict {
        assert_eq!(v.issuer, ISSUER);
        assert!(!v.subject.is_empty() && v.subject.trim() == v.subject);
        assert!(!v.id.is_empty());
        assert!(NOW < v.not_on_or_after.saturating_add(p.drift_secs));
    }
    let again = validate_base64url(&b64url(data), p, NOW);
    assert_eq!(
        verdict.as_ref().map(|v| &v.id).map_err(|e| e.to_string()),
        again.as_ref().map(|v| &v.id).map_err(|e| e.to_string())
    );
});
