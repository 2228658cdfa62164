//! JWS/JWT parsing and verification, `tollgate_jose::{decode_header, verify,
//! check_claims}`, with fixed keys (fixtures/jwt-*.pem: RS256, ES256, EdDSA)
//! and a fixed HMAC secret; the seeds in corpus/jwt are signed with them.
//!
//! The first byte picks the mode.
//! - even: the rest is a compact token. No panic; a key set never verifies an
//!   HMAC token and a secret only an HMAC one; a verified token's header is
//!   what `decode_header` says; claim checks never panic.
//! - odd: the rest describes claims. They are signed (ES256, EdDSA or HS256)
//!   and verified: the verified claims equal what was signed, and any change
//!   to one character of the signing input or the signature is refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tollgate_jose::{
    Alg, ClaimRules, JwkSet, SigningKey, Verifier, check_claims, decode_header, sign_hmac, verify,
};

const SECRET: &[u8] = b"tollgate-fuzz-hmac-secret-0123456789abcdef";
const NOW: i64 = 1_800_000_000;

struct Keys {
    set: JwkSet,
    es: SigningKey,
    ed: SigningKey,
}

fn key(pem: &str, alg: Alg, kid: &str) -> SigningKey {
    match SigningKey::from_pem(pem, Some(alg)) {
        Ok(k) => k.with_kid(kid),
        Err(e) => panic!("fixture key {kid}: {e}"),
    }
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rs = key(include_str!("../fixtures/jwt-rs.pem"), Alg::RS256, "rs");
        let es = key(include_str!("../fixtures/jwt-es.pem"), Alg::ES256, "es");
        let ed = key(include_str!("../fixtures/jwt-ed.pem"), Alg::EdDSA, "ed");
        let set = JwkSet::from_keys(vec![rs.public_key(), es.public_key(), ed.public_key()]);
        Keys { set, es, ed }
    })
}

fn value(u: &mut Unstructured<'_>, depth: u32) -> AResult<Value> {
    let pick = if depth == 0 {
        u.int_in_range(0..=4)?
    } else {
        u.int_in_range(0..=6)?
    };
    Ok(match pick {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => Value::from(u.arbitrary::<u64>()?),
        4 => Value::from(u.arbitrary::<String>()?),
        5 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array(
                (0..n)
                    .map(|_| value(u, depth - 1))
                    .collect::<AResult<_>>()?,
            )
        }
        _ => Value::Object(object(u, depth - 1)?),
    })
}

fn object(u: &mut Unstructured<'_>, depth: u32) -> AResult<Map<String, Value>> {
    let n = u.int_in_range(0..=6)?;
    let mut m = Map::new();
    for _ in 0..n {
        let k = match u.int_in_range(0..=7)? {
            0 => "iss".to_owned(),
            1 => "sub".to_owned(),
            2 => "aud".to_owned(),
            3 => "exp".to_owned(),
            4 => "iat".to_owned(),
            5 => "nbf".to_owned(),
            6 => "jti".to_owned(),
            _ => u.arbitrary()?,
        };
        m.insert(k, value(u, depth)?);
    }
    Ok(m)
}

fn token_mode(token: &str) {
    let k = keys();
    let header = decode_header(token);
    let rules = ClaimRules {
        now: NOW,
        skew: 60,
        issuer: Some("https://issuer.example.com"),
        subject: None,
        audiences: &["https://tollgate.example.com/oauth2/token"],
        require: &["exp", "jti"],
        max_lifetime: Some(3600),
    };
    for (verifier, hmac) in [
        (Verifier::Keys(&k.set), false),
        (Verifier::Secret(SECRET), true),
    ] {
        if let Ok((h, claims)) = verify(token, verifier, &Alg::ALL) {
            assert_eq!(
                h.alg.is_hmac(),
                hmac,
                "{:?} verified by the wrong kind of key",
                h.alg
            );
            assert_eq!(header.as_ref().ok(), Some(&h));
            let _ = check_claims(&claims, &rules);
            let _ = check_claims(&claims, &ClaimRules::default());
        }
    }
    // With only the asymmetric algorithms allowed, nothing HMAC gets through.
    if let Ok((h, _)) = verify(token, Verifier::Secret(SECRET), &Alg::ASYMMETRIC) {
        panic!(
            "{:?} verified with a secret though only asymmetric algorithms were allowed",
            h.alg
        );
    }
}

fn roundtrip_mode(data: &[u8]) -> AResult<()> {
    let mut u = Unstructured::new(data);
    let claims = object(&mut u, 3)?;
    let mut header = Map::new();
    if u.arbitrary()? {
        header.insert("typ".into(), Value::from(u.arbitrary::<String>()?));
    }
    let k = keys();
    let which = u.int_in_range(0..=2)?;
    let signed = match which {
        0 => k.es.sign_jwt_with(&header, &Value::Object(claims.clone())),
        1 => k.ed.sign_jwt_with(&header, &Value::Object(claims.clone())),
        _ => sign_hmac(Alg::HS256, SECRET, &header, &Value::Object(claims.clone())),
    };
    let token = match signed {
        Ok(t) => t,
        Err(e) => panic!("signing failed: {e}"),
    };
    let verifier = if which == 2 {
        Verifier::Secret(SECRET)
    } else {
        Verifier::Keys(&k.set)
    };
    let verified = verify(&token, verifier, &Alg::ALL);
    if token.len() > tollgate_jose::jwt::MAX_TOKEN_LEN {
        assert!(verified.is_err());
        return Ok(());
    }
    match verified {
        Ok((_, got)) => assert_eq!(got, claims),
        Err(e) => panic!("a token just signed was refused: {e}"),
    }
    // One character changed anywhere (except the separators): refused.
    let at = u.choose_index(token.len())?;
    let b = token.as_bytes()[at];
    if b != b'.' {
        let replacement =
            u.choose(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. ")?;
        if *replacement != b {
            let mut t = token.clone().into_bytes();
            t[at] = *replacement;
            if let Ok(t) = String::from_utf8(t) {
                assert!(
                    verify(&t, verifier, &Alg::ALL).is_err(),
                    "a changed token verified: {t}"
                );
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(token) = std::str::from_utf8(rest) {
            token_mode(token);
        }
    } else {
        let _ = roundtrip_mode(rest);
    }
});
