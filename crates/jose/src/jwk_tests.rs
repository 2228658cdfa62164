use super::*;
use crate::SigningKey;
use serde_json::json;

/// RFC 7638 §3.1.
fn rfc7638_key() -> Value {
    json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    })
}

pub(crate) fn certificate(k: &SigningKey) -> (Vec<u8>, String) {
    let kp = rcgen::KeyPair::from_pem(&k.to_pkcs8_pem()).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["client.tollgate.test".to_string()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    (cert.der().to_vec(), cert.pem())
}

fn with(mut v: Value, k: &str, x: Value) -> Value {
    v[k] = x;
    v
}

fn without(mut v: Value, k: &str) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove(k);
    }
    v
}

#[test]
fn rfc7638_example_thumbprint() {
    let k = PublicKey::from_jwk(&rfc7638_key()).unwrap();
    assert_eq!(
        k.thumbprint(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    assert_eq!(k.kid(), Some("2011-04-29"));
    assert_eq!(k.algorithms(), vec![Alg::RS256]);
    assert_eq!(k.kty(), "RSA");
}

#[test]
fn public_jwk_round_trips_for_every_kind() {
    for alg in Alg::SIGNING {
        let s = SigningKey::generate(alg).unwrap();
        let p = PublicKey::from_jwk(&s.public_jwk()).unwrap();
        assert_eq!(p.kid(), Some(s.kid()));
        assert_eq!(p.thumbprint(), s.kid());
        assert_eq!(p.algorithms(), vec![alg]);
        assert_eq!(p.to_jwk(), s.public_jwk());
    }
}

#[test]
fn algorithms_follow_the_key_type_unless_alg_narrows_them() {
    let rsa = without(rfc7638_key(), "alg");
    assert_eq!(
        PublicKey::from_jwk(&rsa).unwrap().algorithms(),
        vec![
            Alg::RS256,
            Alg::RS384,
            Alg::RS512,
            Alg::PS256,
            Alg::PS384,
            Alg::PS512
        ]
    );
    let ec = without(
        SigningKey::generate(Alg::ES256).unwrap().public_jwk(),
        "alg",
    );
    assert_eq!(
        PublicKey::from_jwk(&ec).unwrap().algorithms(),
        vec![Alg::ES256]
    );
    let ed = without(
        SigningKey::generate(Alg::EdDSA).unwrap().public_jwk(),
        "alg",
    );
    assert_eq!(
        PublicKey::from_jwk(&ed).unwrap().algorithms(),
        vec![Alg::EdDSA]
    );
}

#[test]
fn p384_keys_are_accepted() {
    let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
    )
    .unwrap();
    use aws_lc_rs::signature::KeyPair;
    let p = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-384",
        "x": URL_SAFE_NO_PAD.encode(&p[1..49]),
        "y": URL_SAFE_NO_PAD.encode(&p[49..97]),
    });
    let k = PublicKey::from_jwk(&jwk).unwrap();
    assert_eq!(k.algorithms(), vec![Alg::ES384]);
    // A P-256-sized coordinate on P-384 is refused.
    let short = with(jwk.clone(), "x", json!(URL_SAFE_NO_PAD.encode(&p[1..33])));
    assert!(PublicKey::from_jwk(&short).is_err());
    assert!(PublicKey::from_jwk(&with(jwk, "alg", json!("ES256"))).is_err());
}

#[test]
fn refuses_private_members_and_symmetric_keys() {
    for m in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
        let jwk = with(rfc7638_key(), m, json!("AQAB"));
        assert!(
            matches!(PublicKey::from_jwk(&jwk), Err(JoseError::InvalidJwk(_))),
            "{m}"
        );
    }
    let ec = with(
        SigningKey::generate(Alg::ES256).unwrap().public_jwk(),
        "d",
        json!("AAAA"),
    );
    assert!(PublicKey::from_jwk(&ec).is_err());
    let oct = json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"});
    assert!(matches!(
        PublicKey::from_jwk(&oct),
        Err(JoseError::InvalidJwk(_))
    ));
    let oct = json!({"kty": "oct"});
    assert!(matches!(
        PublicKey::from_jwk(&oct),
        Err(JoseError::InvalidJwk(_))
    ));
}

#[test]
fn refuses_rsa_below_2048_bits() {
    // A 1024-bit modulus (top bit set, odd): refused on size alone.
    let mut n = vec![0xC5u8; 128];
    n[127] = 0x01;
    let jwk = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&n), "e": "AQAB"});
    assert!(matches!(
        PublicKey::from_jwk(&jwk),
        Err(JoseError::WeakKey(_))
    ));
    // 2047 bits: still refused.
    let mut n = vec![0xFFu8; 256];
    n[0] = 0x7F;
    let jwk = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&n), "e": "AQAB"});
    assert!(matches!(
        PublicKey::from_jwk(&jwk),
        Err(JoseError::WeakKey(_))
    ));
}

#[test]
fn refuses_alg_or_use_that_do_not_fit() {
    let rsa = rfc7638_key();
    for bad in ["ES256", "EdDSA", "HS256"] {
        assert!(
            matches!(
                PublicKey::from_jwk(&with(rsa.clone(), "alg", json!(bad))),
                Err(JoseError::InvalidJwk(_))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        PublicKey::from_jwk(&with(rsa.clone(), "alg", json!("RSA-OAEP"))),
        Err(JoseError::UnsupportedKey(_))
    ));
    assert!(matches!(
        PublicKey::from_jwk(&with(rsa.clone(), "use", json!("enc"))),
        Err(JoseError::UnsupportedKey(_))
    ));
    assert!(PublicKey::from_jwk(&with(rsa.clone(), "use", json!("sig"))).is_ok());
    assert!(PublicKey::from_jwk(&with(rsa.clone(), "key_ops", json!(["encrypt"]))).is_err());
    assert!(PublicKey::from_jwk(&with(rsa.clone(), "key_ops", json!(["verify"]))).is_ok());
    let es = SigningKey::generate(Alg::ES256).unwrap().public_jwk();
    assert!(PublicKey::from_jwk(&with(es.clone(), "alg", json!("ES384"))).is_err());
    assert!(PublicKey::from_jwk(&with(es, "alg", json!("RS256"))).is_err());
}

#[test]
fn refuses_malformed_members() {
    let es = SigningKey::generate(Alg::ES256).unwrap().public_jwk();
    // A point that is not on the curve.
    let off = with(es.clone(), "y", json!(URL_SAFE_NO_PAD.encode([1u8; 32])));
    assert!(PublicKey::from_jwk(&off).is_err());
    assert!(PublicKey::from_jwk(&with(es.clone(), "x", json!("*not base64*"))).is_err());
    assert!(PublicKey::from_jwk(&with(es.clone(), "x", json!(5))).is_err());
    assert!(PublicKey::from_jwk(&without(es.clone(), "y")).is_err());
    assert!(PublicKey::from_jwk(&with(es.clone(), "kid", json!(7))).is_err());
    assert!(PublicKey::from_jwk(&with(es.clone(), "crv", json!("P-521"))).is_err());
    assert!(PublicKey::from_jwk(&without(es, "kty")).is_err());
    let ed = SigningKey::generate(Alg::EdDSA).unwrap().public_jwk();
    assert!(PublicKey::from_jwk(&with(ed.clone(), "x", json!("AAAA"))).is_err());
    assert!(PublicKey::from_jwk(&with(ed, "crv", json!("X25519"))).is_err());
    assert!(PublicKey::from_jwk(&json!("a string")).is_err());
    assert!(PublicKey::from_jwk(&json!({"kty": "RSA", "n": "", "e": "AQAB"})).is_err());
    assert!(
        PublicKey::from_jwk(&with(rfc7638_key(), "e", json!("Ag"))).is_err(),
        "even exponent"
    );
}

#[test]
fn x5c_sets_the_thumbprints_and_must_hold_the_same_key() {
    let k = SigningKey::generate(Alg::ES256).unwrap();
    let (der, _) = certificate(&k);
    let jwk = with(k.public_jwk(), "x5c", json!([STANDARD.encode(&der)]));
    let p = PublicKey::from_jwk(&jwk).unwrap();
    assert_eq!(p.x5t(), Some(x509::x5t(&der).as_str()));
    assert_eq!(p.x5t_s256(), Some(x509::x5t_s256(&der).as_str()));
    // x5t given and agreeing is fine; disagreeing is refused.
    assert!(PublicKey::from_jwk(&with(jwk.clone(), "x5t", json!(x509::x5t(&der)))).is_ok());
    assert!(PublicKey::from_jwk(&with(jwk.clone(), "x5t#S256", json!("AAAA"))).is_err());
    // Another key's certificate.
    let other = SigningKey::generate(Alg::ES256).unwrap();
    let (other_der, _) = certificate(&other);
    let wrong = with(k.public_jwk(), "x5c", json!([STANDARD.encode(&other_der)]));
    assert!(PublicKey::from_jwk(&wrong).is_err());
    assert!(PublicKey::from_jwk(&with(k.public_jwk(), "x5c", json!([]))).is_err());
    assert!(PublicKey::from_jwk(&with(k.public_jwk(), "x5c", json!(["%%%"]))).is_err());
    // Without x5c, the JWK's own x5t members are taken as given.
    let own = with(k.public_jwk(), "x5t#S256", json!("abc"));
    assert_eq!(PublicKey::from_jwk(&own).unwrap().x5t_s256(), Some("abc"));
}

#[test]
fn pem_public_keys_and_certificates() {
    for alg in Alg::SIGNING {
        let k = SigningKey::generate(alg).unwrap();
        let kp = rcgen::KeyPair::from_pem(&k.to_pkcs8_pem()).unwrap();
        let p = PublicKey::from_pem(&kp.public_key_pem()).unwrap();
        assert_eq!(p.thumbprint(), k.kid(), "{alg}");
        assert_eq!(p.kid(), None);
        assert_eq!(p.x5t(), None);
        let (der, cert_pem) = certificate(&k);
        let c = PublicKey::from_pem(&cert_pem).unwrap();
        assert_eq!(c.thumbprint(), k.kid());
        assert_eq!(c.x5t(), Some(x509::x5t(&der).as_str()));
        assert_eq!(c.x5t_s256(), Some(x509::x5t_s256(&der).as_str()));
        let d = PublicKey::from_certificate_der(&der).unwrap();
        assert_eq!(d.x5t_s256(), c.x5t_s256());
    }
    let k = SigningKey::generate(Alg::ES256).unwrap();
    assert!(
        PublicKey::from_pem(&k.to_pkcs8_pem()).is_err(),
        "a private key"
    );
    assert!(PublicKey::from_pem("").is_err());
    assert!(PublicKey::from_spki_der(&[1, 2, 3]).is_err());
}

#[test]
fn with_alg_narrows_and_checks() {
    let k = SigningKey::generate(Alg::RS256).unwrap();
    let p = PublicKey::from_pem(
        &rcgen::KeyPair::from_pem(&k.to_pkcs8_pem())
            .unwrap()
            .public_key_pem(),
    )
    .unwrap();
    assert_eq!(p.algorithms().len(), 6);
    assert_eq!(
        p.clone().with_alg(Alg::PS256).unwrap().algorithms(),
        vec![Alg::PS256]
    );
    assert!(p.clone().with_alg(Alg::ES256).is_err());
    assert!(p.with_alg(Alg::HS256).is_err());
}

#[test]
fn jwk_set_skips_unusable_keys_and_refuses_bad_ones() {
    let es = SigningKey::generate(Alg::ES256).unwrap().public_jwk();
    let enc = with(rfc7638_key(), "use", json!("enc"));
    let unknown = json!({"kty": "PQC", "pub": "AAAA"});
    let x25519 = json!({"kty": "OKP", "crv": "X25519", "x": "AAAA"});
    let set = JwkSet::parse(&json!({"keys": [enc, es, unknown, x25519]})).unwrap();
    assert_eq!(set.keys().len(), 1);
    assert!(set.has_kid(es["kid"].as_str().unwrap()));
    assert!(!set.has_kid("2011-04-29"));
    // Nothing usable left.
    let enc = with(rfc7638_key(), "use", json!("enc"));
    assert!(JwkSet::parse(&json!({"keys": [enc]})).is_err());
    assert!(JwkSet::parse(&json!({"keys": []})).is_err());
    // Malformed shapes.
    assert!(JwkSet::parse(&json!({"keys": {}})).is_err());
    assert!(JwkSet::parse(&json!([es])).is_err());
    assert!(JwkSet::parse(&json!({})).is_err());
    // A private or symmetric key fails the whole set.
    let private = with(rfc7638_key(), "d", json!("AQAB"));
    assert!(JwkSet::parse(&json!({"keys": [es, private]})).is_err());
    let oct = json!({"kty": "oct", "k": "AAAA"});
    assert!(JwkSet::parse(&json!({"keys": [es, oct]})).is_err());
    // At most 100 keys.
    let many: Vec<Value> = (0..101).map(|_| es.clone()).collect();
    assert!(JwkSet::parse(&json!({ "keys": many })).is_err());
    let hundred: Vec<Value> = (0..100).map(|_| es.clone()).collect();
    assert_eq!(
        JwkSet::parse(&json!({ "keys": hundred }))
            .unwrap()
            .keys()
            .len(),
        100
    );
    let back = JwkSet::parse(&set.to_value()).unwrap();
    assert_eq!(back.keys().len(), 1);
}

#[test]
fn debug_shows_no_key_material() {
    let p = PublicKey::from_jwk(&rfc7638_key()).unwrap();
    let d = format!("{p:?}");
    assert!(d.contains("2011-04-29") && !d.contains("0vx7"));
}
