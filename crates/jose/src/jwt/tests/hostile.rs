//! Malformed, oversized and random tokens: refused with the right error, never a panic.
use proptest::prelude::*;

use super::*;

#[test]
fn malformed_and_oversized_tokens() {
    let k = SigningKey::generate(Alg::ES256).unwrap();
    let set = set_of(&[&k]);
    let t = k.sign_jwt("JWT", &json!({})).unwrap();
    let (h, rest) = t.split_once('.').unwrap();
    for bad in [
        String::new(),
        "a.b".to_string(),
        format!("{t}.extra"),
        format!("{h}=.{rest}"),
        format!("{h}.{rest}="),
        t.replace('.', ".."),
        format!("{}.{rest}", B64.encode("not json")),
        format!("{}.{rest}", b64j(&json!(["alg", "ES256"]))),
        format!(" {t}"),
    ] {
        assert!(
            matches!(
                verify(&bad, Verifier::Keys(&set), &Alg::ASYMMETRIC),
                Err(JwtError::Malformed(_) | JwtError::BadSignature)
            ),
            "{bad}"
        );
    }
    let big = k
        .sign_jwt("JWT", &json!({"pad": "x".repeat(MAX_TOKEN_LEN)}))
        .unwrap();
    assert_eq!(decode_header(&big).unwrap_err(), JwtError::TooLarge);
    assert_eq!(
        verify(&big, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
        JwtError::TooLarge
    );
    assert_eq!(
        verify(&"a".repeat(20_000), Verifier::Secret(b"s"), &Alg::HMAC).unwrap_err(),
        JwtError::TooLarge
    );
}

#[test]
fn error_texts_are_safe_for_error_description() {
    // RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
    let all = [
        JwtError::TooLarge,
        JwtError::Malformed("a compact JWS has three parts"),
        JwtError::AlgNone,
        JwtError::UnsupportedAlg,
        JwtError::AlgNotAllowed(Alg::HS256),
        JwtError::Crit,
        JwtError::B64,
        JwtError::UnknownKid,
        JwtError::NoKeyForAlg(Alg::ES256),
        JwtError::KeyAlgMismatch(Alg::ES256),
        JwtError::HmacWithPublicKey,
        JwtError::SecretNeedsHmac,
        JwtError::X5tMismatch,
        JwtError::BadSignature,
        JwtError::PayloadNotObject,
        JwtError::Expired,
        JwtError::NotYetValid,
        JwtError::IssuedInFuture,
        JwtError::LifetimeTooLong(300),
        JwtError::MissingClaim("jti".into()),
        JwtError::InvalidClaim("exp".into()),
        JwtError::WrongIssuer("client-1".into()),
        JwtError::WrongSubject("client-1".into()),
        JwtError::WrongAudience("https://as.test/token".into()),
    ];
    for e in all {
        let s = e.to_string();
        let ok = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E');
        assert!(s.chars().all(ok), "{s}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hostile_strings_never_panic(s in "\\PC{0,300}") {
        let set = JwkSet::from_keys(vec![]);
        let _ = decode_header(&s);
        let _ = verify(&s, Verifier::Keys(&set), &Alg::ALL);
        let _ = verify(&s, Verifier::Secret(b"k"), &Alg::ALL);
    }

    #[test]
    fn hostile_structured_tokens_never_panic(
        alg in prop_oneof![
            Just(json!("ES256")), Just(json!("RS256")), Just(json!("HS256")),
            Just(json!("EdDSA")), Just(json!("none")), Just(json!(null)), Just(json!(1)),
            "[A-Za-z0-9]{0,8}".prop_map(Value::from)
        ],
        kid in prop::option::of("[a-z0-9-]{0,12}"),
        x5t in prop::option::of("[A-Za-z0-9_-]{0,43}"),
        payload in prop_oneof![
            Just(json!({"exp": 1})), Just(json!([])), Just(json!({"exp": "x"})),
            Just(json!({"exp": 1e308, "nbf": -1e308, "iat": u64::MAX}))
        ],
        sig in prop::collection::vec(any::<u8>(), 0..300),
        raw_payload in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
    ) {
        let mut h = json!({"alg": alg});
        if let Some(k) = kid { h["kid"] = json!(k); }
        if let Some(t) = x5t { h["x5t"] = json!(t); }
        let p = match raw_payload {
            Some(raw) => B64.encode(raw),
            None => b64j(&payload),
        };
        let t = format!("{}.{}.{}", b64j(&h), p, B64.encode(&sig));
        let keys = JwkSet::parse(&json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "a",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "b",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]})).unwrap();
        let _ = decode_header(&t);
        if let Ok((_, c)) = verify(&t, Verifier::Keys(&keys), &Alg::ALL) {
            let _ = check_claims(&c, &ClaimRules { now: i64::MAX, skew: i64::MAX, ..Default::default() });
        }
        let _ = verify(&t, Verifier::Secret(b"k"), &Alg::ALL);
        let c: Claims = match payload { Value::Object(m) => m, _ => Claims::new() };
        for now in [i64::MIN, 0, i64::MAX] {
            let _ = check_claims(&c, &ClaimRules { now, skew: i64::MAX, max_lifetime: Some(i64::MIN), ..Default::default() });
        }
    }
}
