use super::*;
use crate::{JwkSet, Verifier, verify};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;

fn master() -> MasterKey {
    MasterKey::from_bytes(&[5; 32]).unwrap()
}

#[test]
fn sealed_key_restores_with_same_kid_and_jwk() {
    let master = master();
    let k = SigningKey::generate_es256().unwrap();
    let sealed = k.seal(&master).unwrap();
    let back = SigningKey::unseal(k.kid(), ES256, &sealed, &master).unwrap();
    assert_eq!(back.public_jwk(), k.public_jwk());
    assert!(SigningKey::unseal("other-kid", ES256, &sealed, &master).is_err());
    let other = MasterKey::from_bytes(&[6; 32]).unwrap();
    assert!(SigningKey::unseal(k.kid(), ES256, &sealed, &other).is_err());
}

#[test]
fn every_generated_kind_seals_and_unseals() {
    let master = master();
    for alg in Alg::SIGNING {
        let k = SigningKey::generate(alg).unwrap();
        assert_eq!(k.algorithm(), alg);
        assert_eq!(k.alg(), alg.as_str());
        let sealed = k.seal(&master).unwrap();
        let back = SigningKey::unseal(k.kid(), k.alg(), &sealed, &master).unwrap();
        assert_eq!(back.public_jwk(), k.public_jwk(), "{alg}");
        assert_eq!(back.algorithm(), alg);
        // The restored key signs tokens the original's JWK verifies.
        let set = JwkSet::parse(&json!({"keys": [k.public_jwk()]})).unwrap();
        let t = back.sign_jwt("JWT", &json!({"n": 1})).unwrap();
        assert!(verify(&t, Verifier::Keys(&set), &[alg]).is_ok(), "{alg}");
        assert!(SigningKey::unseal("x", k.alg(), &sealed, &master).is_err());
    }
}

#[test]
fn unseal_refuses_an_alg_that_does_not_fit_the_key() {
    let master = master();
    let rsa = SigningKey::generate(Alg::RS256).unwrap();
    let sealed = rsa.seal(&master).unwrap();
    assert!(SigningKey::unseal(rsa.kid(), "ES256", &sealed, &master).is_err());
    assert!(SigningKey::unseal(rsa.kid(), "EdDSA", &sealed, &master).is_err());
    assert!(SigningKey::unseal(rsa.kid(), "HS256", &sealed, &master).is_err());
    assert!(SigningKey::unseal(rsa.kid(), "none", &sealed, &master).is_err());
    // Same RSA key, the other padding: allowed, the alg is the record's.
    let ps = SigningKey::unseal(rsa.kid(), "PS256", &sealed, &master).unwrap();
    assert_eq!(ps.algorithm(), Alg::PS256);
    let ed = SigningKey::generate(Alg::EdDSA).unwrap();
    let sealed = ed.seal(&master).unwrap();
    assert!(SigningKey::unseal(ed.kid(), "ES256", &sealed, &master).is_err());
}

#[test]
fn generate_refuses_algorithms_it_does_not_make_keys_for() {
    for alg in [Alg::HS256, Alg::RS512, Alg::ES384] {
        assert!(SigningKey::generate(alg).is_err(), "{alg}");
    }
}

#[test]
fn signature_verifies_with_the_published_jwk() {
    let k = SigningKey::generate_es256().unwrap();
    let jwt = k.sign_jwt("at+jwt", &json!({"sub": "x"})).unwrap();
    let jwk = k.public_jwk();
    let x = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
    let y = B64.decode(jwk["y"].as_str().unwrap()).unwrap();
    let mut point = vec![4u8];
    point.extend(x);
    point.extend(y);
    let (input, sig) = jwt.rsplit_once('.').unwrap();
    let sig = B64.decode(sig).unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(input.as_bytes(), &sig)
        .unwrap();
    let header: Value =
        serde_json::from_slice(&B64.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["kid"], k.kid());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
}

#[test]
fn public_jwks_have_the_members_of_their_kty_and_kid_is_the_thumbprint() {
    let es = SigningKey::generate(Alg::ES256).unwrap().public_jwk();
    assert_eq!(
        (es["kty"].as_str(), es["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert_eq!(B64.decode(es["x"].as_str().unwrap()).unwrap().len(), 32);
    let ed = SigningKey::generate(Alg::EdDSA).unwrap().public_jwk();
    assert_eq!(
        (ed["kty"].as_str(), ed["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert_eq!(B64.decode(ed["x"].as_str().unwrap()).unwrap().len(), 32);
    assert!(ed.get("y").is_none());
    let rs = SigningKey::generate(Alg::PS256).unwrap().public_jwk();
    assert_eq!(rs["kty"], "RSA");
    assert_eq!(rs["alg"], "PS256");
    assert_eq!(rs["e"], "AQAB");
    let n = B64.decode(rs["n"].as_str().unwrap()).unwrap();
    assert_eq!(n.len(), 256);
    assert_ne!(n[0], 0, "no leading zero (RFC 7518 §6.3.1.1)");
    for jwk in [es, ed, rs] {
        assert_eq!(jwk["use"], "sig");
        // Recompute RFC 7638 from the required members only.
        let required: &[&str] = match jwk["kty"].as_str().unwrap() {
            "EC" => &["crv", "kty", "x", "y"],
            "RSA" => &["e", "kty", "n"],
            _ => &["crv", "kty", "x"],
        };
        let members: Vec<String> = required
            .iter()
            .map(|m| format!("\"{m}\":\"{}\"", jwk[*m].as_str().unwrap()))
            .collect();
        let canonical = format!("{{{}}}", members.join(","));
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        assert_eq!(jwk["kid"], B64.encode(d));
    }
}

#[test]
fn pkcs8_pem_round_trips_with_default_algs() {
    for alg in Alg::SIGNING {
        let k = SigningKey::generate(alg).unwrap();
        let pem = k.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let default = SigningKey::from_pem(&pem, None).unwrap();
        let expect = if alg == Alg::PS256 { Alg::RS256 } else { alg };
        assert_eq!(default.algorithm(), expect);
        assert_eq!(default.kid(), k.kid());
        let same = SigningKey::from_pem(&pem, Some(alg)).unwrap();
        assert_eq!(same.public_jwk(), k.public_jwk());
    }
}

#[test]
fn from_pem_refuses_an_alg_that_does_not_fit_the_key() {
    let rsa = SigningKey::generate(Alg::RS256).unwrap().to_pkcs8_pem();
    let ec = SigningKey::generate(Alg::ES256).unwrap().to_pkcs8_pem();
    let ed = SigningKey::generate(Alg::EdDSA).unwrap().to_pkcs8_pem();
    for (pem, bad) in [
        (&rsa, Alg::ES256),
        (&rsa, Alg::EdDSA),
        (&rsa, Alg::HS256),
        (&ec, Alg::RS256),
        (&ec, Alg::ES384),
        (&ec, Alg::EdDSA),
        (&ed, Alg::ES256),
        (&ed, Alg::PS256),
    ] {
        assert!(SigningKey::from_pem(pem, Some(bad)).is_err(), "{bad}");
    }
    assert!(SigningKey::from_pem(&rsa, Some(Alg::PS512)).is_ok());
    assert!(SigningKey::from_pem("nothing", None).is_err());
    assert!(SigningKey::from_pem(&rsa.replace("PRIVATE KEY", "PUBLIC KEY"), None).is_err());
    assert!(
        SigningKey::from_pem(&rsa.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"), None).is_err()
    );
    // Corrupted DER inside a valid PEM frame.
    let garbage = pem::encode("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
    assert!(SigningKey::from_pem(&garbage, None).is_err());
}

#[test]
fn sec1_ec_private_key_pem_loads() {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let sec1 =
        AsDer::<aws_lc_rs::encoding::EcPrivateKeyRfc5915Der<'_>>::as_der(&pair.private_key())
            .unwrap();
    let pem = pem::encode("EC PRIVATE KEY", sec1.as_ref());
    let k = SigningKey::from_pem(&pem, None).unwrap();
    assert_eq!(k.algorithm(), Alg::ES256);
    let point = pair.public_key().as_ref();
    assert_eq!(
        k.public_jwk()["x"],
        B64.encode(&point[1..33]),
        "the same key"
    );
    assert!(SigningKey::from_pem(&pem, Some(Alg::RS256)).is_err());
}

#[test]
fn with_kid_overrides_the_kid_and_survives_sealing() {
    let master = master();
    let k = SigningKey::generate(Alg::EdDSA)
        .unwrap()
        .with_kid("user-key-1");
    assert_eq!(k.kid(), "user-key-1");
    assert_eq!(k.public_jwk()["kid"], "user-key-1");
    assert_ne!(k.thumbprint(), "user-key-1");
    let sealed = k.seal(&master).unwrap();
    let back = SigningKey::unseal("user-key-1", "EdDSA", &sealed, &master).unwrap();
    assert_eq!(back.kid(), "user-key-1");
    assert!(SigningKey::unseal(&k.thumbprint(), "EdDSA", &sealed, &master).is_err());
    let t = k.sign_jwt("JWT", &json!({})).unwrap();
    assert_eq!(
        crate::decode_header(&t).unwrap().kid.as_deref(),
        Some("user-key-1")
    );
}

#[test]
fn sign_jwt_with_keeps_header_members_but_not_alg_or_kid() {
    let k = SigningKey::generate(Alg::ES256).unwrap();
    let mut h = Map::new();
    h.insert("alg".into(), json!("none"));
    h.insert("kid".into(), json!("forged"));
    h.insert("typ".into(), json!("JWT"));
    h.insert("x5t".into(), json!("abc"));
    h.insert("x5t#S256".into(), json!("def"));
    let t = k.sign_jwt_with(&h, &json!({"a": 1})).unwrap();
    let hdr = crate::decode_header(&t).unwrap();
    assert_eq!(hdr.alg, Alg::ES256);
    assert_eq!(hdr.kid.as_deref(), Some(k.kid()));
    assert_eq!(hdr.typ.as_deref(), Some("JWT"));
    assert_eq!(hdr.x5t.as_deref(), Some("abc"));
    assert_eq!(hdr.x5t_s256.as_deref(), Some("def"));
}

#[test]
fn sign_hmac_only_for_hmac_algorithms_and_non_empty_secrets() {
    let h = Map::new();
    assert!(sign_hmac(Alg::HS256, b"k", &h, &json!({})).is_ok());
    assert!(sign_hmac(Alg::RS256, b"k", &h, &json!({})).is_err());
    assert!(sign_hmac(Alg::HS512, b"", &h, &json!({})).is_err());
    let t = sign_hmac(Alg::HS384, &[7; 48], &h, &json!({})).unwrap();
    assert_eq!(crate::decode_header(&t).unwrap().alg, Alg::HS384);
}

#[test]
fn debug_does_not_show_key_material() {
    for alg in Alg::SIGNING {
        let k = SigningKey::generate(alg).unwrap();
        let d = format!("{k:?}");
        assert!(d.contains(k.kid()) && !d.contains("pkcs8") && d.contains(alg.as_str()));
        assert!(d.len() < 200);
    }
}

#[test]
fn p384_pem_keys_sign_es384() {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let pem = pem::encode("PRIVATE KEY", doc.as_ref());
    let k = SigningKey::from_pem(&pem, None).unwrap();
    assert_eq!(k.algorithm(), Alg::ES384);
    assert_eq!(k.public_jwk()["crv"], "P-384");
    let set = JwkSet::parse(&json!({"keys": [k.public_jwk()]})).unwrap();
    let t = k.sign_jwt("JWT", &json!({})).unwrap();
    assert!(verify(&t, Verifier::Keys(&set), &[Alg::ES384]).is_ok());
    assert!(SigningKey::from_pem(&pem, Some(Alg::ES256)).is_err());
}
