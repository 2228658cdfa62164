use super::*;
use crate::jwk::tests::certificate;
use crate::{MasterKey, SigningKey, sign_hmac};
use serde_json::json;

mod hostile;
mod interop;

fn set_of(keys: &[&SigningKey]) -> JwkSet {
    let jwks: Vec<Value> = keys.iter().map(|k| k.public_jwk()).collect();
    JwkSet::parse(&json!({ "keys": jwks })).unwrap()
}

fn b64j(v: &Value) -> String {
    B64.encode(v.to_string())
}

/// A token with an arbitrary header and an (invalid) signature.
fn forged(header: Value, claims: Value) -> String {
    format!(
        "{}.{}.{}",
        b64j(&header),
        b64j(&claims),
        B64.encode([1u8; 64])
    )
}

fn tamper_payload(t: &str, claims: &Value) -> String {
    let mut p: Vec<&str> = t.split('.').collect();
    let fresh = b64j(claims);
    p[1] = &fresh;
    p.join(".")
}

#[test]
fn every_algorithm_signs_and_verifies() {
    let claims =
        json!({"iss": "c1", "sub": "c1", "aud": "https://as.test/token", "exp": 2_000_000_000});
    for alg in Alg::SIGNING {
        let k = SigningKey::generate(alg).unwrap();
        let set = set_of(&[&k]);
        let t = k.sign_jwt("JWT", &claims).unwrap();
        let (h, c) = verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap();
        assert_eq!(h.alg, alg);
        assert_eq!(h.kid.as_deref(), Some(k.kid()));
        assert_eq!(Value::Object(c), claims);
        // Without a kid, every key that fits the alg is tried.
        let mut h = Map::new();
        h.insert("typ".into(), json!("JWT"));
        let t = k.sign_jwt_with(&h, &claims).unwrap();
        let no_kid = tamper_kid_away(&t, &k);
        let anon = JwkSet::from_keys(vec![
            PublicKey::from_jwk(&without_kid(k.public_jwk())).unwrap(),
        ]);
        assert!(
            verify(&no_kid, Verifier::Keys(&anon), &[alg]).is_ok(),
            "{alg}"
        );
    }
    let t = sign_hmac(
        Alg::HS256,
        b"0123456789abcdef0123456789abcdef",
        &Map::new(),
        &claims,
    )
    .unwrap();
    let (h, _) = verify(
        &t,
        Verifier::Secret(b"0123456789abcdef0123456789abcdef"),
        &Alg::HMAC,
    )
    .unwrap();
    assert_eq!(h.alg, Alg::HS256);
    assert_eq!(
        verify(
            &t,
            Verifier::Secret(b"another secret of the same length!"),
            &Alg::HMAC
        )
        .unwrap_err(),
        JwtError::BadSignature
    );
    for alg in [Alg::HS384, Alg::HS512] {
        let t = sign_hmac(alg, &[9; 64], &Map::new(), &claims).unwrap();
        assert!(verify(&t, Verifier::Secret(&[9; 64]), &[alg]).is_ok());
    }
}

fn without_kid(mut jwk: Value) -> Value {
    if let Some(o) = jwk.as_object_mut() {
        o.remove("kid");
    }
    jwk
}

/// The token's payload under a header without kid, signed with `k`
/// (`sign_jwt_with` always adds the kid, so this signs by hand).
fn tamper_kid_away(t: &str, k: &SigningKey) -> String {
    let header = json!({"alg": k.alg(), "typ": "JWT"});
    let payload = t.split('.').nth(1).unwrap();
    let input = format!("{}.{}", b64j(&header), payload);
    let sig = raw_sign(k, input.as_bytes());
    format!("{input}.{}", B64.encode(sig))
}

/// `k`'s signature over an arbitrary signing input, through aws-lc directly.
fn raw_sign(k: &SigningKey, input: &[u8]) -> Vec<u8> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
    let pem = crate::pem::decode_one(&k.to_pkcs8_pem()).unwrap().der;
    match k.algorithm() {
        Alg::ES256 => EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pem)
            .unwrap()
            .sign(&SystemRandom::new(), input)
            .unwrap()
            .as_ref()
            .to_vec(),
        Alg::EdDSA => Ed25519KeyPair::from_pkcs8(&pem)
            .unwrap()
            .sign(input)
            .as_ref()
            .to_vec(),
        alg => {
            let p = RsaKeyPair::from_pkcs8(&pem).unwrap();
            let enc: &'static dyn signature::RsaEncoding = if alg == Alg::PS256 {
                &signature::RSA_PSS_SHA256
            } else {
                &signature::RSA_PKCS1_SHA256
            };
            let mut sig = vec![0; p.public_modulus_len()];
            p.sign(enc, &SystemRandom::new(), input, &mut sig).unwrap();
            sig
        }
    }
}

#[test]
fn alg_none_and_unknown_algs_are_refused() {
    let k = SigningKey::generate(Alg::ES256).unwrap();
    let set = set_of(&[&k]);
    for none in ["none", "None", "NONE"] {
        let t = format!(
            "{}.{}.",
            b64j(&json!({"alg": none})),
            b64j(&json!({"sub": "x"}))
        );
        assert_eq!(decode_header(&t).unwrap_err(), JwtError::AlgNone);
        assert_eq!(
            verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
            JwtError::AlgNone
        );
        assert_eq!(JwtError::AlgNone.to_string(), "alg none is not accepted");
    }
    for unknown in ["HS1024", "es256", "RSA-OAEP", ""] {
        let t = forged(json!({"alg": unknown, "kid": k.kid()}), json!({}));
        assert_eq!(decode_header(&t).unwrap_err(), JwtError::UnsupportedAlg);
    }
    let t = forged(json!({"kid": k.kid()}), json!({}));
    assert!(matches!(decode_header(&t), Err(JwtError::Malformed(_))));
    let t = forged(json!({"alg": 256}), json!({}));
    assert!(matches!(decode_header(&t), Err(JwtError::Malformed(_))));
}

#[test]
fn hmac_with_the_public_key_as_secret_is_refused() {
    // The classic confusion attack: HS256 keyed with the server's public key.
    let k = SigningKey::generate(Alg::RS256).unwrap();
    let set = set_of(&[&k]);
    let jwk_json = k.public_jwk().to_string();
    let pem = rcgen::KeyPair::from_pem(&k.to_pkcs8_pem())
        .unwrap()
        .public_key_pem();
    for secret in [jwk_json.as_bytes(), pem.as_bytes()] {
        let mut h = Map::new();
        h.insert("kid".into(), json!(k.kid()));
        let t = sign_hmac(Alg::HS256, secret, &h, &json!({"sub": "admin"})).unwrap();
        // Even a caller that wrongly allows HS256 gets a refusal.
        let all = Alg::ALL;
        assert_eq!(
            verify(&t, Verifier::Keys(&set), &all).unwrap_err(),
            JwtError::HmacWithPublicKey
        );
        assert_eq!(
            verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
            JwtError::AlgNotAllowed(Alg::HS256)
        );
    }
}

#[test]
fn a_secret_verifies_only_hmac() {
    assert_eq!(
        format!("{:?}", Verifier::Secret(b"hunter2")),
        "Secret(<redacted>)"
    );
    let k = SigningKey::generate(Alg::RS256).unwrap();
    let t = k.sign_jwt("JWT", &json!({})).unwrap();
    assert_eq!(
        verify(&t, Verifier::Secret(b"secret"), &Alg::ALL).unwrap_err(),
        JwtError::SecretNeedsHmac
    );
    let t = sign_hmac(Alg::HS256, b"secret", &Map::new(), &json!({})).unwrap();
    assert_eq!(
        verify(&t, Verifier::Secret(b""), &Alg::HMAC).unwrap_err(),
        JwtError::BadSignature
    );
    assert_eq!(
        verify(&t, Verifier::Secret(b"secret"), &[Alg::HS512]).unwrap_err(),
        JwtError::AlgNotAllowed(Alg::HS256)
    );
}

#[test]
fn es256_token_against_an_rsa_key_is_refused() {
    let rsa = SigningKey::generate(Alg::RS256).unwrap();
    let es = SigningKey::generate(Alg::ES256).unwrap();
    let set = set_of(&[&rsa]);
    let t = es.sign_jwt("JWT", &json!({})).unwrap();
    assert_eq!(
        verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
        JwtError::UnknownKid
    );
    // Same token claiming the RSA key's kid.
    let t = es
        .clone_with_kid(rsa.kid())
        .sign_jwt("JWT", &json!({}))
        .unwrap();
    assert_eq!(
        verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
        JwtError::KeyAlgMismatch(Alg::ES256)
    );
    // And with no kid at all.
    let no_kid = tamper_kid_away(&t, &es);
    assert_eq!(
        verify(&no_kid, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
        JwtError::NoKeyForAlg(Alg::ES256)
    );
    // An RS256 key declared as such does not verify PS256.
    let ps = SigningKey::unseal(
        rsa.kid(),
        "PS256",
        &rsa.seal(&MasterKey::from_bytes(&[1; 32]).unwrap()).unwrap(),
        &MasterKey::from_bytes(&[1; 32]).unwrap(),
    )
    .unwrap();
    let t = ps.sign_jwt("JWT", &json!({})).unwrap();
    assert_eq!(
        verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
        JwtError::KeyAlgMismatch(Alg::PS256)
    );
}

trait CloneWithKid {
    fn clone_with_kid(&self, kid: &str) -> SigningKey;
}

impl CloneWithKid for SigningKey {
    fn clone_with_kid(&self, kid: &str) -> SigningKey {
        SigningKey::from_pem(&self.to_pkcs8_pem(), Some(self.algorithm()))
            .unwrap()
            .with_kid(kid)
    }
}

/// A key without a kid (a PEM file) is a candidate for a token naming any
/// kid; only its signature decides. Keys that do carry kids stay strict.
#[test]
fn a_key_without_kid_verifies_a_token_that_names_one() {
    let k = SigningKey::generate(Alg::ES256).unwrap();
    let pem_only = JwkSet::from_keys(vec![crate::PublicKey::from_pem(&public_pem(&k)).unwrap()]);
    assert_eq!(pem_only.keys()[0].kid(), None);
    let t = k.sign_jwt("JWT", &json!({"a": 1})).unwrap();
    assert!(verify(&t, Verifier::Keys(&pem_only), &Alg::ASYMMETRIC).is_ok());
    // Another key without a kid still fails on the signature.
    let other = SigningKey::generate(Alg::ES256).unwrap();
    let t = other.sign_jwt("JWT", &json!({"a": 1})).unwrap();
    assert_eq!(
        verify(&t, Verifier::Keys(&pem_only), &Alg::ASYMMETRIC).unwrap_err(),
        JwtError::BadSignature
    );
}

/// The SPKI PEM of a signing key's public half.
fn public_pem(k: &SigningKey) -> String {
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-pubout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(k.to_pkcs8_pem().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn unknown_kid_is_refused_with_a_useful_text() {
    let k = SigningKey::generate(Alg::EdDSA).unwrap();
    let set = set_of(&[&k]);
    let t = k
        .clone_with_kid("rotated-away")
        .sign_jwt("JWT", &json!({}))
        .unwrap();
    let e = verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err();
    assert_eq!(e, JwtError::UnknownKid);
    assert_eq!(
        e.to_string(),
        "the JWT's kid is not among the keys registered for the issuer"
    );
}

#[test]
fn tampering_breaks_the_signature() {
    for alg in Alg::SIGNING {
        let k = SigningKey::generate(alg).unwrap();
        let set = set_of(&[&k]);
        let t = k.sign_jwt("JWT", &json!({"sub": "alice"})).unwrap();
        let evil = tamper_payload(&t, &json!({"sub": "admin"}));
        assert_eq!(
            verify(&evil, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
            JwtError::BadSignature,
            "{alg}"
        );
        let (input, sig) = t.rsplit_once('.').unwrap();
        let mut s = B64.decode(sig).unwrap();
        s[5] ^= 0x20;
        let bad = format!("{input}.{}", B64.encode(&s));
        assert_eq!(
            verify(&bad, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
            JwtError::BadSignature
        );
        let empty = format!("{input}.");
        assert!(verify(&empty, Verifier::Keys(&set), &Alg::ASYMMETRIC).is_err());
        // Another key of the same kind with the same kid.
        let other = SigningKey::generate(alg).unwrap().with_kid(k.kid());
        let t = other.sign_jwt("JWT", &json!({})).unwrap();
        assert_eq!(
            verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
            JwtError::BadSignature
        );
    }
    let t = sign_hmac(Alg::HS256, b"s", &Map::new(), &json!({"a": 1})).unwrap();
    let evil = tamper_payload(&t, &json!({"a": 2}));
    assert_eq!(
        verify(&evil, Verifier::Secret(b"s"), &Alg::HMAC).unwrap_err(),
        JwtError::BadSignature
    );
}

#[test]
fn crit_and_b64_headers_are_refused() {
    let k = SigningKey::generate(Alg::ES256).unwrap();
    let set = set_of(&[&k]);
    let mut h = Map::new();
    h.insert("crit".into(), json!(["exp"]));
    h.insert("exp".into(), json!(1));
    let t = k.sign_jwt_with(&h, &json!({})).unwrap();
    assert_eq!(decode_header(&t).unwrap_err(), JwtError::Crit);
    assert_eq!(
        verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
        JwtError::Crit
    );
    let mut h = Map::new();
    h.insert("b64".into(), json!(false));
    let t = k.sign_jwt_with(&h, &json!({})).unwrap();
    assert_eq!(decode_header(&t).unwrap_err(), JwtError::B64);
}

#[test]
fn keys_are_never_taken_from_the_token() {
    let ours = SigningKey::generate(Alg::ES256).unwrap();
    let set = set_of(&[&ours]);
    let attacker = SigningKey::generate(Alg::ES256).unwrap();
    let (der, _) = certificate(&attacker);
    let mut h = Map::new();
    h.insert("jwk".into(), attacker.public_jwk());
    h.insert("jku".into(), json!("https://evil.test/jwks"));
    h.insert("x5u".into(), json!("https://evil.test/cert"));
    h.insert(
        "x5c".into(),
        json!([base64::engine::general_purpose::STANDARD.encode(&der)]),
    );
    let t = attacker.sign_jwt_with(&h, &json!({})).unwrap();
    assert!(decode_header(&t).is_ok());
    assert_eq!(
        verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
        JwtError::UnknownKid
    );
    let t = attacker
        .clone_with_kid(ours.kid())
        .sign_jwt_with(&h, &json!({}))
        .unwrap();
    assert_eq!(
        verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
        JwtError::BadSignature
    );
}

#[test]
fn x5t_headers_must_match_the_keys_certificate() {
    let k = SigningKey::generate(Alg::RS256).unwrap();
    let (der, cert_pem) = certificate(&k);
    let other = SigningKey::generate(Alg::RS256).unwrap();
    let (other_der, _) = certificate(&other);
    let key = PublicKey::from_pem(&cert_pem)
        .unwrap()
        .with_kid("client-cert");
    let set = JwkSet::from_keys(vec![key]);
    let signer = k.clone_with_kid("client-cert");
    let sign = |name: &str, value: String| {
        let mut h = Map::new();
        h.insert(name.into(), json!(value));
        signer.sign_jwt_with(&h, &json!({"iss": "c"})).unwrap()
    };
    for t in [
        sign("x5t", crate::x5t(&der)),
        sign("x5t#S256", crate::x5t_s256(&der)),
        signer.sign_jwt("JWT", &json!({})).unwrap(),
    ] {
        assert!(verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).is_ok());
    }
    for t in [
        sign("x5t", crate::x5t(&other_der)),
        sign("x5t#S256", crate::x5t_s256(&other_der)),
        sign("x5t", crate::x5t_s256(&der)),
    ] {
        let e = verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err();
        assert_eq!(e, JwtError::X5tMismatch);
        assert_eq!(
            e.to_string(),
            "the x5t header does not match the certificate of the key"
        );
    }
    // Both headers, one wrong.
    let mut h = Map::new();
    h.insert("x5t".into(), json!(crate::x5t(&der)));
    h.insert("x5t#S256".into(), json!(crate::x5t_s256(&other_der)));
    let t = signer.sign_jwt_with(&h, &json!({})).unwrap();
    assert_eq!(
        verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
        JwtError::X5tMismatch
    );
    // A key registered without a certificate matches no thumbprint.
    let bare = JwkSet::from_keys(vec![
        PublicKey::from_jwk(&k.public_jwk())
            .unwrap()
            .with_kid("client-cert"),
    ]);
    let t = sign("x5t", crate::x5t(&der));
    assert_eq!(
        verify(&t, Verifier::Keys(&bare), &Alg::ASYMMETRIC).unwrap_err(),
        JwtError::X5tMismatch
    );
    // Without a kid, x5t picks the key among several.
    let both = JwkSet::from_keys(vec![
        PublicKey::from_certificate_der(&other_der).unwrap(),
        PublicKey::from_certificate_der(&der).unwrap(),
    ]);
    let header = json!({"alg": "RS256", "x5t#S256": crate::x5t_s256(&der)});
    let input = format!("{}.{}", b64j(&header), b64j(&json!({"iss": "c"})));
    let t = format!("{input}.{}", B64.encode(raw_sign(&k, input.as_bytes())));
    assert!(verify(&t, Verifier::Keys(&both), &[Alg::RS256]).is_ok());
}

#[test]
fn alg_must_be_allowed_by_the_caller() {
    let k = SigningKey::generate(Alg::PS256).unwrap();
    let set = set_of(&[&k]);
    let t = k.sign_jwt("JWT", &json!({})).unwrap();
    assert_eq!(
        verify(&t, Verifier::Keys(&set), &[Alg::RS256, Alg::ES256]).unwrap_err(),
        JwtError::AlgNotAllowed(Alg::PS256)
    );
    assert!(verify(&t, Verifier::Keys(&set), &[]).is_err());
}

#[test]
fn payload_must_be_a_json_object() {
    let k = SigningKey::generate(Alg::ES256).unwrap();
    let set = set_of(&[&k]);
    for claims in [json!([1, 2]), json!("text"), json!(null)] {
        let t = k.sign_jwt("JWT", &claims).unwrap();
        assert_eq!(
            verify(&t, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
            JwtError::PayloadNotObject
        );
    }
}
