//! What follows a verified SAML signature, which a fuzzer cannot forge: the
//! reader of the signed bytes (the exclusive canonical form of the assertion)
//! and the RFC 7522 §3 checks, `tollgate_saml::fuzzing::check_signed`.
//! The seeds are the canonical signed bytes of valid assertions.
//!
//! Must hold: no panic; an accepted assertion satisfies the policy.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate_saml::{IdpTrust, SamlPolicy};

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

fuzz_target!(|data: &[u8]| {
    let p = policy();
    if let Ok(v) = tollgate_saml::fuzzing::check_signed(data, p, NOW) {
        assert_eq!(v.issuer, ISSUER);
        assert!(!v.subject.is_empty() && v.subject.trim() == v.subject);
        assert!(NOW < v.not_on_or_after.saturating_add(p.drift_secs));
        for (name, values) in &v.attributes {
            let _ = (name.len(), values.len());
        }
    }
});
