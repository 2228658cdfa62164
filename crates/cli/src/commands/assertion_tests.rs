use clap::Parser;
use tollgate_jose::jwt::{self, Verifier};
use tollgate_jose::{JwkSet, PublicKey};

use super::*;

#[derive(Parser)]
struct T {
    #[command(subcommand)]
    cmd: AssertionCmd,
}

fn parse(args: &[&str]) -> Result<AssertionCmd, clap::Error> {
    T::try_parse_from(std::iter::once("t").chain(args.iter().copied())).map(|t| t.cmd)
}

fn jwt_args(args: &[&str]) -> JwtArgs {
    match parse(&[&["jwt"][..], args].concat()).unwrap() {
        AssertionCmd::Jwt(a) => *a,
        AssertionCmd::Keygen(_) => unreachable!(),
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tollgate-assertion-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn key_file(dir: &Path, alg: Alg) -> (PathBuf, SigningKey) {
    let key = SigningKey::generate(alg).unwrap();
    let p = dir.join("key.pem");
    write_new(&p, key.to_pkcs8_pem().as_bytes(), true).unwrap();
    (p, key)
}

#[test]
fn jwt_verifies_with_the_public_key_and_carries_the_claims() {
    let dir = tmp("verify");
    let (p, key) = key_file(&dir, Alg::ES256);
    let k = p.to_str().unwrap();
    let a = jwt_args(&[
        "--key",
        k,
        "--iss",
        "me",
        "--sub",
        "alice",
        "--aud",
        "https://as/token",
        "--exp-minutes",
        "10",
        "--claim",
        "scope=read write",
        "--claim",
        "n=5",
    ]);
    let token = build_jwt(&a, None, 1_000_000).unwrap();
    let set = JwkSet::from_keys(vec![key.public_key()]);
    let (h, c) = jwt::verify(&token, Verifier::Keys(&set), &[Alg::ES256]).unwrap();
    assert_eq!(h.alg, Alg::ES256);
    assert_eq!(h.kid.as_deref(), Some(key.kid()));
    assert_eq!(h.typ.as_deref(), Some("JWT"));
    assert_eq!(c["iss"], "me");
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], "https://as/token", "one audience is a string");
    assert_eq!(c["iat"], 1_000_000);
    assert_eq!(c["exp"], 1_000_600);
    assert_eq!(c["scope"], "read write", "not JSON: a string");
    assert_eq!(c["n"], 5, "JSON: a number");
    let jti = c["jti"].as_str().unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.decode(jti).unwrap().len(),
        16,
        "128-bit jti"
    );
    let again = build_jwt(&a, None, 1_000_000).unwrap();
    let (_, c2) = jwt::verify(&again, Verifier::Keys(&set), &[Alg::ES256]).unwrap();
    assert_ne!(c2["jti"], c["jti"], "a fresh jti every time");
}

#[test]
fn client_shortcut_and_several_audiences() {
    let dir = tmp("client");
    let (p, key) = key_file(&dir, Alg::EdDSA);
    let k = p.to_str().unwrap();
    let a = jwt_args(&[
        "--key",
        k,
        "--client",
        "svc",
        "--token-endpoint",
        "http://h/oauth2/token",
    ]);
    let token = build_jwt(&a, None, 100).unwrap();
    let set = JwkSet::from_keys(vec![key.public_key()]);
    let (_, c) = jwt::verify(&token, Verifier::Keys(&set), &[Alg::EdDSA]).unwrap();
    assert_eq!(
        (c["iss"].as_str(), c["sub"].as_str()),
        (Some("svc"), Some("svc"))
    );
    assert_eq!(c["aud"], "http://h/oauth2/token");
    assert_eq!(c["exp"], 400, "5 minutes by default");

    let a = jwt_args(&[
        "--key", k, "--iss", "i", "--sub", "s", "--aud", "a", "--aud", "b",
    ]);
    let token = build_jwt(&a, None, 100).unwrap();
    let (_, c) = jwt::verify(&token, Verifier::Keys(&set), &[Alg::EdDSA]).unwrap();
    assert_eq!(c["aud"], serde_json::json!(["a", "b"]));

    // The shortcut needs both halves and excludes --iss/--sub.
    assert!(parse(&["jwt", "--key", k, "--client", "svc"]).is_err());
    assert!(
        parse(&["jwt", "--key", k, "--iss", "i", "--sub", "s"]).is_err(),
        "no aud"
    );
    assert!(
        parse(&[
            "jwt",
            "--key",
            k,
            "--client",
            "c",
            "--token-endpoint",
            "t",
            "--iss",
            "x"
        ])
        .is_err()
    );
    assert!(
        parse(&["jwt", "--iss", "i", "--sub", "s", "--aud", "a"]).is_err(),
        "no key"
    );
}

#[test]
fn kid_and_alg_flags() {
    let dir = tmp("kid");
    let (p, key) = key_file(&dir, Alg::RS256);
    let k = p.to_str().unwrap();
    let a = jwt_args(&[
        "--key", k, "--iss", "i", "--sub", "s", "--aud", "a", "--kid", "mine", "--alg", "PS256",
    ]);
    let token = build_jwt(&a, None, 100).unwrap();
    let h = jwt::decode_header(&token).unwrap();
    assert_eq!((h.alg, h.kid.as_deref()), (Alg::PS256, Some("mine")));
    // The public key without a declared alg (a JWK from keygen says RS256).
    let public = PublicKey::from_pem(&public_pem(&key).unwrap()).unwrap();
    let set = JwkSet::from_keys(vec![public.with_kid("mine")]);
    jwt::verify(&token, Verifier::Keys(&set), &[Alg::PS256]).unwrap();
    // An algorithm that does not fit the key is refused.
    let bad = jwt_args(&[
        "--key", k, "--iss", "i", "--sub", "s", "--aud", "a", "--alg", "ES256",
    ]);
    assert!(build_jwt(&bad, None, 100).is_err());
}

#[test]
fn x5t_headers_are_the_certificate_thumbprints() {
    let dir = tmp("x5t");
    let (p, key) = key_file(&dir, Alg::ES256);
    let cert = dir.join("cert.pem");
    let ok = std::process::Command::new("openssl")
        .args(["req", "-x509", "-key"])
        .arg(&p)
        .args(["-subj", "/CN=tollgate-test", "-days", "1", "-out"])
        .arg(&cert)
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl req -x509");
    let cert_text = std::fs::read_to_string(&cert).unwrap();
    let der = pem_blocks(&cert_text).unwrap().remove(0).1;
    let (k, c) = (p.to_str().unwrap(), cert.to_str().unwrap());
    let a = jwt_args(&[
        "--key",
        k,
        "--client",
        "x",
        "--token-endpoint",
        "t",
        "--x5t-cert",
        c,
    ]);
    let token = build_jwt(&a, None, 100).unwrap();
    let h = jwt::decode_header(&token).unwrap();
    assert_eq!(h.x5t.as_deref(), Some(tollgate_jose::x5t(&der).as_str()));
    assert_eq!(h.x5t_s256, None);
    let a = jwt_args(&[
        "--key",
        k,
        "--client",
        "x",
        "--token-endpoint",
        "t",
        "--x5t-cert",
        c,
        "--x5t-s256",
    ]);
    let token = build_jwt(&a, None, 100).unwrap();
    let h = jwt::decode_header(&token).unwrap();
    assert_eq!(
        h.x5t_s256.as_deref(),
        Some(tollgate_jose::x5t_s256(&der).as_str())
    );
    // It verifies against the certificate registered as the client's key
    // (converted the way `client add --jwks-file cert.pem` does).
    let set = JwkSet::parse(&pem_to_jwks(&cert_text).unwrap()).unwrap();
    jwt::verify(&token, Verifier::Keys(&set), &[Alg::ES256]).unwrap();
    // A certificate of another key is refused.
    let (other, _) = key_file(&tmp("x5t-other"), Alg::ES256);
    let a = jwt_args(&[
        "--key",
        other.to_str().unwrap(),
        "--client",
        "x",
        "--token-endpoint",
        "t",
        "--x5t-cert",
        c,
    ]);
    assert!(build_jwt(&a, None, 100).is_err());
    drop(key);
}

#[test]
fn hmac_with_a_secret() {
    let a = jwt_args(&["--secret-stdin", "--client", "c", "--token-endpoint", "t"]);
    let secret = "0123456789abcdef0123456789abcdef";
    let token = build_jwt(&a, Some(secret), 100).unwrap();
    let (h, c) = jwt::verify(&token, Verifier::Secret(secret.as_bytes()), &Alg::HMAC).unwrap();
    assert_eq!((h.alg, c["iss"].as_str()), (Alg::HS256, Some("c")));
    let a = jwt_args(&[
        "--secret-stdin",
        "--client",
        "c",
        "--token-endpoint",
        "t",
        "--alg",
        "ES256",
    ]);
    assert!(build_jwt(&a, Some(secret), 100).is_err());
}

#[test]
fn public_pem_and_jwks_files_round_trip() {
    let dir = tmp("pem");
    for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256] {
        let key = SigningKey::generate(alg).unwrap();
        let pem = public_pem(&key).unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        let jwks = pem_to_jwks(&pem).unwrap();
        assert_eq!(jwks["keys"][0]["kid"], key.kid(), "kid = thumbprint");
        let p = dir.join(format!("{alg}.pem"));
        write_new(&p, pem.as_bytes(), false).unwrap();
        assert_eq!(read_jwks_file(&p).unwrap(), jwks);
        // Signed with the default kid, verified against the converted PEM.
        let token = key.sign_jwt("JWT", &serde_json::json!({"a": 1})).unwrap();
        let set = JwkSet::parse(&jwks).unwrap();
        jwt::verify(&token, Verifier::Keys(&set), &[alg]).unwrap();
        assert_eq!(
            PublicKey::from_pem(&pem).unwrap().thumbprint(),
            key.thumbprint()
        );
    }
    // A JWK Set file, and a single JWK, are read as JSON.
    let key = SigningKey::generate(Alg::ES256).unwrap();
    let set = dir.join("set.json");
    write_new(
        &set,
        serde_json::json!({"keys": [key.public_jwk()]})
            .to_string()
            .as_bytes(),
        false,
    )
    .unwrap();
    assert_eq!(read_jwks_file(&set).unwrap()["keys"][0]["kid"], key.kid());
    let one = dir.join("one.json");
    write_new(&one, key.public_jwk().to_string().as_bytes(), false).unwrap();
    assert_eq!(read_jwks_file(&one).unwrap()["keys"][0]["kid"], key.kid());
    // A private key is never registered.
    let private = dir.join("private.pem");
    write_new(&private, key.to_pkcs8_pem().as_bytes(), true).unwrap();
    let e = read_jwks_file(&private).unwrap_err();
    assert!(format!("{e:#}").contains("private key"), "{e:#}");
    assert!(
        !format!("{e:#}").contains("MII"),
        "no key material in errors"
    );
}

#[test]
fn keygen_writes_0600_and_refuses_to_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp("keygen");
    let key_out = dir.join("k.pem");
    let jwks_out = dir.join("k.jwks.json");
    let pub_out = dir.join("k.pub.pem");
    let (k, j, pp) = (
        key_out.to_str().unwrap(),
        jwks_out.to_str().unwrap(),
        pub_out.to_str().unwrap(),
    );
    let args = [
        "keygen",
        "--alg",
        "EdDSA",
        "--key-out",
        k,
        "--jwks-out",
        j,
        "--public-pem-out",
        pp,
    ];
    let AssertionCmd::Keygen(a) = parse(&args).unwrap() else {
        unreachable!()
    };
    keygen(a, true).unwrap();
    let mode = std::fs::metadata(&key_out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = SigningKey::from_pem(&std::fs::read_to_string(&key_out).unwrap(), None).unwrap();
    assert_eq!(key.algorithm(), Alg::EdDSA);
    let jwks = read_jwks_file(&jwks_out).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], key.kid());
    assert_eq!(
        read_jwks_file(&pub_out).unwrap()["keys"][0]["kid"],
        key.kid()
    );
    let before = std::fs::read(&key_out).unwrap();
    let AssertionCmd::Keygen(a) = parse(&args).unwrap() else {
        unreachable!()
    };
    let e = keygen(a, true).unwrap_err();
    assert!(format!("{e}").contains("already exists"), "{e}");
    assert_eq!(
        std::fs::read(&key_out).unwrap(),
        before,
        "the key is untouched"
    );
    assert!(parse(&["keygen", "--alg", "HS256", "--key-out", k]).is_err());
}
