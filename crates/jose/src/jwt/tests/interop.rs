//! An outside implementation (PyJWT 2 with pyca/cryptography, Debian's
//! python3-jwt) must accept our tokens and we must accept its tokens.
use std::process::Command;

use super::*;

const PYTHON: &str = "/usr/bin/python3";

const VERIFY: &str = r#"
import json, sys, jwt
jwk, token, alg = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
key = jwt.PyJWK(jwk).key
claims = jwt.decode(token, key=key, algorithms=[alg], audience="https://as.test/token",
                    issuer="client-1")
print(json.dumps(claims, sort_keys=True))
"#;

const SIGN: &str = r#"
import json, sys, jwt
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519
alg = sys.argv[1]
if alg in ("RS256", "PS256", "RS512"):
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = k.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption())
elif alg == "ES256":
    k = ec.generate_private_key(ec.SECP256R1())
    priv = k.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption())
else:
    k = ed25519.Ed25519PrivateKey.generate()
    priv = k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
pub = k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)
token = jwt.encode({"iss": "py", "n": 7}, k, algorithm=alg, headers={"kid": "py-1"})
print(json.dumps({"private": priv.decode(), "public": pub.decode(), "token": token}))
"#;

fn python(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(PYTHON)
        .arg("-c")
        .args(args)
        .output()
        .expect("python3 runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn pyjwt_verifies_our_rs256_eddsa_ps256_and_es256_tokens() {
    let claims = json!({
        "iss": "client-1", "sub": "client-1", "aud": "https://as.test/token",
        "exp": 4_000_000_000u64, "jti": "j-1"
    });
    for alg in [Alg::RS256, Alg::EdDSA, Alg::PS256, Alg::ES256] {
        let k = SigningKey::generate(alg).unwrap();
        let jwk = k.public_jwk().to_string();
        let t = k.sign_jwt("JWT", &claims).unwrap();
        let (ok, out, err) = python(&[VERIFY, &jwk, &t, alg.as_str()]);
        assert!(ok, "PyJWT refused our {alg} token: {err}");
        let back: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(back, claims);
        // The check is real: PyJWT refuses a tampered token.
        let evil = tamper_payload(
            &t,
            &json!({"iss": "client-1", "aud": "https://as.test/token", "sub": "admin"}),
        );
        let (ok, _, err) = python(&[VERIFY, &jwk, &evil, alg.as_str()]);
        assert!(
            !ok && err.contains("Signature verification failed"),
            "{err}"
        );
    }
}

#[test]
fn we_verify_pyjwt_tokens_and_load_its_private_keys() {
    for (alg, private_label) in [
        (Alg::RS256, "RSA PRIVATE KEY"),
        (Alg::PS256, "RSA PRIVATE KEY"),
        (Alg::RS512, "RSA PRIVATE KEY"),
        (Alg::ES256, "EC PRIVATE KEY"),
        (Alg::EdDSA, "PRIVATE KEY"),
    ] {
        let (ok, out, err) = python(&[SIGN, alg.as_str()]);
        assert!(ok, "{err}");
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        let token = v["token"].as_str().unwrap();
        let public = PublicKey::from_pem(v["public"].as_str().unwrap())
            .unwrap()
            .with_kid("py-1");
        let set = JwkSet::from_keys(vec![public]);
        let (h, c) = verify(token, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap();
        assert_eq!(h.alg, alg);
        assert_eq!(c["n"], 7);
        let evil = tamper_payload(token, &json!({"iss": "py", "n": 8}));
        assert_eq!(
            verify(&evil, Verifier::Keys(&set), &Alg::ASYMMETRIC).unwrap_err(),
            JwtError::BadSignature
        );
        // Its private key (PKCS#1 / SEC1 / PKCS#8) loads, and signs tokens
        // that the public key verifies.
        let private = v["private"].as_str().unwrap();
        assert!(private.contains(private_label), "{private}");
        let k = SigningKey::from_pem(private, Some(alg))
            .unwrap()
            .with_kid("py-1");
        let ours = k.sign_jwt("JWT", &json!({"x": 1})).unwrap();
        assert!(verify(&ours, Verifier::Keys(&set), &[alg]).is_ok());
        assert_eq!(k.thumbprint(), set.keys()[0].thumbprint());
    }
}
