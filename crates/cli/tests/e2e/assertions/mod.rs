//! Assertions end to end (RFC 7521, 7522, 7523, 9068): private_key_jwt and
//! client_secret_jwt client authentication, the JWT bearer and SAML 2.0
//! bearer grants, and JWT access tokens checked by an independent verifier.
//! Every assertion Tollgate accepts here was made by another implementation
//! (PyJWT, the xmlsec1 command line), and every check has a refused case.
pub(crate) mod support;

#[path = "../../../../saml/tests/support/sign.rs"]
mod saml_sign;

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::harness::{Backend, Server};
use support::{JwksServer, Key, Kind, claims, hmac, now, tamper, unique, unsecured};

crate::on_both_backends!(jwt_access_tokens_verify_introspect_revoke_and_rotate);

/// A config file in a fresh temp dir (the server's own dir does not exist yet).
fn config(toml: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(unique("tollgate-assert"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tollgate.toml");
    std::fs::write(&path, toml).unwrap();
    (dir, path)
}

const REGISTRATION: &str = r#"
[registration]
allow_private_jwks_uri = true
allowed_grant_types = ["client_credentials", "refresh_token", "password", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
"#;

/// A SQLite server with the config file at `cfg`.
async fn server_with(cfg: &std::path::Path) -> Server {
    Server::start_with(
        Backend::Sqlite,
        &[("TOLLGATE_CONFIG", &cfg.display().to_string())],
        &[],
    )
    .await
}

/// A bearer-assertion grant (`grant_type` with `assertion`), no client
/// authentication.
async fn bearer_grant(s: &Server, grant_type: &str, assertion: &str) -> (u16, Value) {
    post(
        s,
        "/oauth2/token",
        &[("grant_type", grant_type), ("assertion", assertion)],
    )
    .await
}

async fn register(s: &Server, body: Value) -> Value {
    let iat = s.cli_json(&["registration-token", "create"]);
    let r = s
        .http
        .post(s.url("/oauth2/register"))
        .bearer_auth(iat["token"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    v
}

/// client_credentials authenticated by `client_assertion`.
async fn cc(s: &Server, assertion: &str) -> (u16, Value) {
    post(
        s,
        "/oauth2/token",
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
    )
    .await
}

async fn post(s: &Server, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = s.post_form(path, None, form).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Asserts an OAuth error and that its description mentions `needle`.
fn refused(got: (u16, Value), status: u16, error: &str, needle: &str, what: &str) {
    let (st, v) = got;
    assert_eq!(
        (st, v["error"].as_str()),
        (status, Some(error)),
        "{what}: {v}"
    );
    let d = v["error_description"].as_str().unwrap_or_default();
    assert!(
        d.to_lowercase().contains(&needle.to_lowercase()),
        "{what}: description {d:?} should mention {needle:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_and_client_secret_jwt_authenticate_clients() {
    // Many refusals in a row from one address: the failed-authentication
    // throttle (tested elsewhere) is off here.
    const LIMITS: &str = "[rate_limit]\nfailed_auth_per_client = 0\nfailed_auth_per_address = 0\n";
    let (dir, cfg) = config(REGISTRATION);
    let remote_key = Key::new(&dir, Kind::Ec);
    let jwks_server = JwksServer::start(&dir, &json!({"keys": [remote_key.jwk("r1", None)]}));
    std::fs::write(
        &cfg,
        format!(
            "{REGISTRATION}\n{LIMITS}\n[assertions]\njwks_min_refetch_secs = 0\njwks_ca_file = {:?}\n",
            jwks_server.ca.display().to_string()
        ),
    )
    .unwrap();
    let s = server_with(&cfg).await;
    let token_ep = s.url("/oauth2/token");

    // One client, three key types (EC P-256, RSA 2048 with its certificate,
    // Ed25519), registered through RFC 7591 with its JWK Set.
    let ec = Key::new(&dir, Kind::Ec);
    let rsa = Key::new(&dir, Kind::Rsa);
    let rsa_cert = rsa.cert(&dir);
    let ed = Key::new(&dir, Kind::Ed25519);
    let reg = register(
        &s,
        json!({
            "client_name": "keyed",
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials"],
            "scope": "read",
            "jwks": {"keys": [ec.jwk("ec1", None), rsa.jwk("rsa1", Some(&rsa_cert)), ed.jwk("ed1", None)]},
        }),
    )
    .await;
    let id = reg["client_id"].as_str().unwrap().to_owned();
    assert!(
        reg.get("client_secret").is_none(),
        "a key client has no secret: {reg}"
    );
    assert_eq!(reg["token_endpoint_auth_method"], "private_key_jwt");

    for (key, alg, kid) in [
        (&ec, "ES256", "ec1"),
        (&rsa, "RS256", "rsa1"),
        (&rsa, "PS256", "rsa1"),
        (&ed, "EdDSA", "ed1"),
    ] {
        let a = key.sign(alg, &json!({"kid": kid}), &claims(&id, &id, &token_ep));
        let (st, t) = cc(&s, &a).await;
        assert_eq!(st, 200, "{alg}: {t}");
        assert_eq!(t["scope"], "read");
    }
    // The issuer URL is an accepted audience too (RFC 7523 §3 item 3).
    let a = ec.sign("ES256", &json!({"kid": "ec1"}), &claims(&id, &id, &s.base));
    assert_eq!(cc(&s, &a).await.0, 200);
    // x5t / x5t#S256 that match the registered certificate are accepted.
    let der = {
        use base64::Engine;
        let pem = std::fs::read_to_string(&rsa_cert).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    };
    let thumb = |alg: &str| {
        let out = std::process::Command::new("/usr/bin/python3")
            .args([
                "-c",
                &format!(
                    "import hashlib,base64,sys;print(base64.urlsafe_b64encode(hashlib.{alg}(bytes.fromhex(sys.argv[1])).digest()).rstrip(b'=').decode())"
                ),
                &der.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let a = rsa.sign(
        "RS256",
        &json!({"kid": "rsa1", "x5t": thumb("sha1"), "x5t#S256": thumb("sha256")}),
        &claims(&id, &id, &token_ep),
    );
    assert_eq!(cc(&s, &a).await.0, 200, "matching x5t");

    // Every check has its refusal (401 invalid_client). Until the signature
    // verifies the answer is the uniform one (the reason is in the log), so
    // an assertion naming another client's id learns nothing about it;
    // claim failures after it are explained.
    let t = now();
    let mut c = claims(&id, &id, "https://elsewhere.example/token");
    let wrong_aud = ec.sign("ES256", &json!({"kid": "ec1"}), &c);
    refused(
        cc(&s, &wrong_aud).await,
        401,
        "invalid_client",
        "aud",
        "wrong aud",
    );
    c = claims(&id, &id, &token_ep);
    c["exp"] = json!(t - 120);
    c["iat"] = json!(t - 300);
    let expired = ec.sign("ES256", &json!({"kid": "ec1"}), &c);
    refused(
        cc(&s, &expired).await,
        401,
        "invalid_client",
        "expired",
        "expired",
    );
    c = claims(&id, &id, &token_ep);
    c["nbf"] = json!(t + 300);
    c["exp"] = json!(t + 600);
    let early = ec.sign("ES256", &json!({"kid": "ec1"}), &c);
    refused(
        cc(&s, &early).await,
        401,
        "invalid_client",
        "not valid yet",
        "nbf in the future",
    );
    // nbf within the 60 s skew is fine.
    c = claims(&id, &id, &token_ep);
    c["nbf"] = json!(t + 30);
    let within = ec.sign("ES256", &json!({"kid": "ec1"}), &c);
    assert_eq!(cc(&s, &within).await.0, 200, "nbf within the skew");
    // Replay: the same assertion a second time.
    refused(
        cc(&s, &within).await,
        401,
        "invalid_client",
        "already used",
        "replayed jti",
    );
    // An exp written as a fraction: its replay record lives as long as the
    // assertion does (it once expired at once, letting the replay through).
    c = claims(&id, &id, &token_ep);
    c["exp"] = json!(t as f64 + 120.5);
    let fractional = ec.sign("ES256", &json!({"kid": "ec1"}), &c);
    assert_eq!(cc(&s, &fractional).await.0, 200, "a fractional exp");
    refused(
        cc(&s, &fractional).await,
        401,
        "invalid_client",
        "already used",
        "replayed, fractional exp",
    );
    c = claims(&id, &id, &token_ep);
    c.as_object_mut().unwrap().remove("jti");
    let no_jti = ec.sign("ES256", &json!({"kid": "ec1"}), &c);
    refused(
        cc(&s, &no_jti).await,
        401,
        "invalid_client",
        "jti",
        "no jti",
    );
    c = claims(&id, &id, &token_ep);
    c["exp"] = json!(t + 30 * 86_400);
    let forever = ec.sign("ES256", &json!({"kid": "ec1"}), &c);
    refused(
        cc(&s, &forever).await,
        401,
        "invalid_client",
        "",
        "exp far ahead",
    );
    let none = unsecured(&json!({"kid": "ec1"}), &claims(&id, &id, &token_ep));
    refused(
        cc(&s, &none).await,
        401,
        "invalid_client",
        "client authentication failed",
        "alg none",
    );
    // HS256 keyed with the public key (the algorithm-confusion attack),
    // once with the PEM and once with the JWK text.
    let public_pem = std::fs::read(rsa.public_pem(&dir)).unwrap();
    let confused = hmac(
        &dir,
        &public_pem,
        &json!({"kid": "rsa1"}),
        &claims(&id, &id, &token_ep),
    );
    refused(
        cc(&s, &confused).await,
        401,
        "invalid_client",
        "",
        "HS256 with the public key",
    );
    let confused = hmac(
        &dir,
        rsa.jwk("rsa1", None).to_string().as_bytes(),
        &json!({}),
        &claims(&id, &id, &token_ep),
    );
    refused(
        cc(&s, &confused).await,
        401,
        "invalid_client",
        "",
        "HS256 with the JWK",
    );
    let unknown = ec.sign(
        "ES256",
        &json!({"kid": "nope"}),
        &claims(&id, &id, &token_ep),
    );
    refused(
        cc(&s, &unknown).await,
        401,
        "invalid_client",
        "client authentication failed",
        "unknown kid",
    );
    let good = ec.sign(
        "ES256",
        &json!({"kid": "ec1"}),
        &claims(&id, &id, &token_ep),
    );
    let tampered = tamper(&good, &claims(&id, &id, &token_ep));
    refused(
        cc(&s, &tampered).await,
        401,
        "invalid_client",
        "client authentication failed",
        "tampered payload",
    );
    let other_cert = Key::new(&dir, Kind::Rsa).cert(&dir);
    let other_der_thumb = {
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
            .arg(&other_cert)
            .output()
            .unwrap();
        let hex: String = String::from_utf8(out.stdout)
            .unwrap()
            .split('=')
            .nth(1)
            .unwrap()
            .trim()
            .replace(':', "");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let wrong_x5t = rsa.sign(
        "RS256",
        &json!({"kid": "rsa1", "x5t": other_der_thumb}),
        &claims(&id, &id, &token_ep),
    );
    refused(
        cc(&s, &wrong_x5t).await,
        401,
        "invalid_client",
        "client authentication failed",
        "wrong x5t",
    );
    let mut c = claims(&id, &id, &token_ep);
    c["iss"] = json!("someone-else");
    let wrong_iss = ec.sign("ES256", &json!({"kid": "ec1"}), &c);
    refused(
        cc(&s, &wrong_iss).await,
        401,
        "invalid_client",
        "iss",
        "iss differs from sub",
    );
    let mut c = claims(&id, &id, &token_ep);
    c["pad"] = json!("x".repeat(9000));
    let huge = ec.sign("ES256", &json!({"kid": "ec1"}), &c);
    refused(
        cc(&s, &huge).await,
        401,
        "invalid_client",
        "client authentication failed",
        "oversized assertion",
    );
    // Two methods at once.
    let a = ec.sign(
        "ES256",
        &json!({"kid": "ec1"}),
        &claims(&id, &id, &token_ep),
    );
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&id, "secret")),
            &[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &a),
            ],
        )
        .await;
    assert_eq!(r.status(), 400, "two authentication methods");

    // Introspection and revocation authenticate the same way, with their
    // own URL as an accepted audience.
    let a = ec.sign(
        "ES256",
        &json!({"kid": "ec1"}),
        &claims(&id, &id, &token_ep),
    );
    let (_, t) = cc(&s, &a).await;
    let at = t["access_token"].as_str().unwrap();
    let intro = s.url("/oauth2/introspect");
    let a = ed.sign("EdDSA", &json!({"kid": "ed1"}), &claims(&id, &id, &intro));
    let (st, i) = post(
        &s,
        "/oauth2/introspect",
        &[
            ("token", at),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_eq!((st, &i["active"]), (200, &json!(true)), "{i}");
    let rev = s.url("/oauth2/revoke");
    let a = ed.sign("EdDSA", &json!({"kid": "ed1"}), &claims(&id, &id, &rev));
    let r = s
        .post_form(
            "/oauth2/revoke",
            None,
            &[
                ("token", at),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &a),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);

    // jwks_uri: fetched over HTTPS, and fetched again when a new kid appears.
    let reg = register(
        &s,
        json!({
            "client_name": "remote",
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials"],
            "scope": "read",
            "jwks_uri": jwks_server.url,
        }),
    )
    .await;
    let rid = reg["client_id"].as_str().unwrap().to_owned();
    let a = remote_key.sign(
        "ES256",
        &json!({"kid": "r1"}),
        &claims(&rid, &rid, &token_ep),
    );
    let (st, v) = cc(&s, &a).await;
    assert_eq!(st, 200, "key from the jwks_uri: {v}\n{}", s.log());
    let rotated = Key::new(&dir, Kind::Rsa);
    let a = rotated.sign(
        "RS256",
        &json!({"kid": "r2"}),
        &claims(&rid, &rid, &token_ep),
    );
    refused(
        cc(&s, &a).await,
        401,
        "invalid_client",
        "client authentication failed",
        "not published yet",
    );
    jwks_server.replace(&json!({"keys": [remote_key.jwk("r1", None), rotated.jwk("r2", None)]}));
    let a = rotated.sign(
        "RS256",
        &json!({"kid": "r2"}),
        &claims(&rid, &rid, &token_ep),
    );
    assert_eq!(
        cc(&s, &a).await.0,
        200,
        "an unknown kid fetches the set again"
    );

    // client_secret_jwt: an HMAC keyed with the client's secret.
    let reg = register(
        &s,
        json!({
            "client_name": "hmac",
            "token_endpoint_auth_method": "client_secret_jwt",
            "grant_types": ["client_credentials"],
            "scope": "read",
        }),
    )
    .await;
    let hid = reg["client_id"].as_str().unwrap().to_owned();
    let secret = reg["client_secret"].as_str().unwrap().to_owned();
    let a = hmac(
        &dir,
        secret.as_bytes(),
        &json!({}),
        &claims(&hid, &hid, &token_ep),
    );
    assert_eq!(cc(&s, &a).await.0, 200, "client_secret_jwt");
    let a = hmac(
        &dir,
        b"not-the-secret-not-the-secret-xx",
        &json!({}),
        &claims(&hid, &hid, &token_ep),
    );
    refused(
        cc(&s, &a).await,
        401,
        "invalid_client",
        "client authentication failed",
        "wrong HMAC key",
    );
    let a = ec.sign("ES256", &json!({}), &claims(&hid, &hid, &token_ep));
    refused(
        cc(&s, &a).await,
        401,
        "invalid_client",
        "client authentication failed",
        "asymmetric for a secret client",
    );
    // The secret itself is not accepted from a client_secret_jwt client.
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&hid, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        r.status(),
        401,
        "client_secret_basic for a client_secret_jwt client"
    );

    // Discovery lists what works.
    let d = s.get_json("/.well-known/oauth-authorization-server").await;
    for m in ["private_key_jwt", "client_secret_jwt"] {
        assert!(
            d["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(m))
        );
        assert!(
            d["introspection_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(m))
        );
    }
    let algs = d["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    for a in ["ES256", "RS256", "PS256", "EdDSA", "HS256"] {
        assert!(algs.contains(&json!(a)), "{a}");
    }
    assert!(!algs.contains(&json!("none")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_grant_from_a_trusted_issuer() {
    let dir = std::env::temp_dir().join(unique("tollgate-jwtb"));
    std::fs::create_dir_all(&dir).unwrap();
    let idp = Key::new(&dir, Kind::Ec);
    let idp_pub = idp.public_pem(&dir);
    let (_, cfg) = config(&format!(
        r#"
[[jwt_bearer.issuers]]
issuer = "https://idp.example"
keys_file = {pub_pem:?}
subjects = ["alice", "bob"]
scopes = ["read"]
client_id = "svc-jb"
"#,
        pub_pem = idp_pub.display().to_string()
    ));
    let s = server_with(&cfg).await;
    let (id, secret) = s.add_client(
        "svc-jb",
        &[
            "--id",
            "svc-jb",
            "--grant",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "--grant",
            "refresh_token",
            "--scope",
            "read write",
        ],
    );
    let token_ep = s.url("/oauth2/token");
    let grant = |assertion: String| {
        let s = &s;
        async move { bearer_grant(s, "urn:ietf:params:oauth:grant-type:jwt-bearer", &assertion).await }
    };
    let iss = "https://idp.example";
    let a = idp.sign("ES256", &json!({}), &claims(iss, "alice", &token_ep));
    let (st, t) = grant(a.clone()).await;
    assert_eq!(st, 200, "{t}");
    // The issuer may grant only `read`, whatever the client holds.
    assert_eq!(t["scope"], "read");
    assert!(
        t["refresh_token"].is_string(),
        "refresh tokens per the client"
    );
    let i = s
        .introspect((&id, &secret), t["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        (i["active"].as_bool(), i["sub"].as_str()),
        (Some(true), Some("alice"))
    );
    assert_eq!(i["client_id"], "svc-jb");
    // A kid in the header still finds the PEM key (which has none).
    let named = idp.sign(
        "ES256",
        &json!({"kid": "idp-2026"}),
        &claims(iss, "alice", &token_ep),
    );
    assert_eq!(grant(named).await.0, 200, "a kid with a keys_file key");
    // With client authentication too.
    let a2 = idp.sign("ES256", &json!({}), &claims(iss, "bob", &token_ep));
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&id, &secret)),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &a2),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);

    let t0 = now();
    refused(
        grant(a).await,
        400,
        "invalid_grant",
        "already used",
        "replayed jti",
    );
    let mut c = claims(iss, "alice", &token_ep);
    let scoped = idp.sign("ES256", &json!({}), &c);
    let (st, v) = post(
        &s,
        "/oauth2/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &scoped),
            ("scope", "write"),
        ],
    )
    .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_scope")),
        "{v}"
    );
    // A request refused for its scope does not spend the assertion.
    assert_eq!(grant(scoped).await.0, 200, "the corrected request");
    c = claims(iss, "alice", "https://other.example/token");
    refused(
        grant(idp.sign("ES256", &json!({}), &c)).await,
        400,
        "invalid_grant",
        "aud",
        "wrong aud",
    );
    c = claims(iss, "alice", &token_ep);
    c["exp"] = json!(t0 - 61);
    refused(
        grant(idp.sign("ES256", &json!({}), &c)).await,
        400,
        "invalid_grant",
        "expired",
        "expired",
    );
    // exp within the skew still passes (the seed's "plus skew seconds").
    c = claims(iss, "alice", &token_ep);
    c["exp"] = json!(t0 - 30);
    assert_eq!(
        grant(idp.sign("ES256", &json!({}), &c)).await.0,
        200,
        "exp within skew"
    );
    c = claims(iss, "alice", &token_ep);
    c["nbf"] = json!(t0 + 120);
    refused(
        grant(idp.sign("ES256", &json!({}), &c)).await,
        400,
        "invalid_grant",
        "not valid yet",
        "nbf ahead",
    );
    c = claims(iss, "alice", &token_ep);
    c["iat"] = json!(t0 + 600);
    refused(
        grant(idp.sign("ES256", &json!({}), &c)).await,
        400,
        "invalid_grant",
        "future",
        "iat ahead",
    );
    c = claims(iss, "mallory", &token_ep);
    refused(
        grant(idp.sign("ES256", &json!({}), &c)).await,
        400,
        "invalid_grant",
        "subject",
        "subject not allowed",
    );
    c = claims("https://evil.example", "alice", &token_ep);
    refused(
        grant(idp.sign("ES256", &json!({}), &c)).await,
        400,
        "invalid_grant",
        "not trusted",
        "unknown issuer",
    );
    let other = Key::new(&dir, Kind::Ec);
    refused(
        grant(other.sign("ES256", &json!({}), &claims(iss, "alice", &token_ep))).await,
        400,
        "invalid_grant",
        "signature",
        "signed by another key",
    );
    refused(
        grant(unsecured(&json!({}), &claims(iss, "alice", &token_ep))).await,
        400,
        "invalid_grant",
        "none",
        "alg none",
    );
    let pem = std::fs::read(&idp_pub).unwrap();
    refused(
        grant(hmac(
            &dir,
            &pem,
            &json!({}),
            &claims(iss, "alice", &token_ep),
        ))
        .await,
        400,
        "invalid_grant",
        "",
        "HS256 keyed with the public key",
    );
    let good = idp.sign("ES256", &json!({}), &claims(iss, "alice", &token_ep));
    let mut evil = claims(iss, "alice", &token_ep);
    evil["sub"] = json!("bob");
    refused(
        grant(tamper(&good, &evil)).await,
        400,
        "invalid_grant",
        "signature",
        "tampered",
    );
    c = claims(iss, "alice", &token_ep);
    c.as_object_mut().unwrap().remove("exp");
    refused(
        grant(idp.sign("ES256", &json!({}), &c)).await,
        400,
        "invalid_grant",
        "exp",
        "no exp",
    );
    let d = s.get_json("/.well-known/oauth-authorization-server").await;
    assert!(
        d["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("urn:ietf:params:oauth:grant-type:jwt-bearer"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml2_bearer_grant_from_a_trusted_idp() {
    let dir = std::env::temp_dir().join(unique("tollgate-saml"));
    std::fs::create_dir_all(&dir).unwrap();
    let signer = saml_sign::Signer::new();
    let cert = dir.join("idp.crt");
    std::fs::write(&cert, &signer.cert_pem).unwrap();
    const IDP: &str = "https://idp.example/saml";
    let (_, cfg) = config(&format!(
        r#"
[saml_bearer]
drift_secs = 60
max_bytes = 16384

[[saml_bearer.idps]]
issuer = "{IDP}"
certificate_file = {cert:?}
subjects = ["*"]
client_id = "svc-saml"
"#,
        cert = cert.display().to_string()
    ));
    let s = server_with(&cfg).await;
    let (id, secret) = s.add_client(
        "svc-saml",
        &[
            "--id",
            "svc-saml",
            "--grant",
            "urn:ietf:params:oauth:grant-type:saml2-bearer",
            "--scope",
            "read",
        ],
    );
    let token_ep = s.url("/oauth2/token");
    let b64 = |xml: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml)
    };
    let grant = |xml: String| {
        let s = &s;
        async move {
            post(
                s,
                "/oauth2/token",
                &[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:saml2-bearer",
                    ),
                    ("assertion", &b64(&xml)),
                ],
            )
            .await
        }
    };
    let t = now();
    let spec = saml_sign::AssertionSpec::valid(t, IDP, &token_ep);
    let signed = signer.sign(&spec);
    let (st, tok) = grant(signed.clone()).await;
    assert_eq!(st, 200, "{tok}");
    let i = s
        .introspect((&id, &secret), tok["access_token"].as_str().unwrap())
        .await;
    assert_eq!(i["sub"], "alice@example.com");
    assert_eq!(i["client_id"], "svc-saml");
    refused(
        grant(signed.clone()).await,
        400,
        "invalid_grant",
        "already used",
        "replayed ID",
    );

    // Unsigned: the signature template left empty.
    let fresh = |f: &dyn Fn(&mut saml_sign::AssertionSpec)| {
        let mut s = saml_sign::AssertionSpec::valid(t, IDP, &token_ep);
        f(&mut s);
        s
    };
    let unsigned = fresh(&|_| {}).template();
    let start = unsigned.find("<ds:Signature").unwrap();
    let end = unsigned.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let unsigned = format!("{}{}", &unsigned[..start], &unsigned[end..]);
    refused(
        grant(unsigned).await,
        400,
        "invalid_grant",
        "sign",
        "unsigned",
    );
    let other = saml_sign::Signer::new();
    refused(
        grant(other.sign(&fresh(&|_| {}))).await,
        400,
        "invalid_grant",
        "identity provider",
        "other key",
    );
    // Wrapped: the signed assertion inside an unsigned evil one that names admin.
    let signed_inner = signer.sign(&fresh(&|_| {}));
    let inner = signed_inner
        .split_once("?>")
        .map_or(signed_inner.as_str(), |(_, b)| b);
    let wrapped = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_evil" Version="2.0" IssueInstant="{ii}">
  <saml:Issuer>{IDP}</saml:Issuer>
  <saml:Advice>{inner}</saml:Advice>
  <saml:Subject>
    <saml:NameID>admin@example.com</saml:NameID>
    <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
      <saml:SubjectConfirmationData Recipient="{token_ep}" NotOnOrAfter="{noa}"/>
    </saml:SubjectConfirmation>
  </saml:Subject>
  <saml:Conditions NotOnOrAfter="{noa}">
    <saml:AudienceRestriction><saml:Audience>{token_ep}</saml:Audience></saml:AudienceRestriction>
  </saml:Conditions>
</saml:Assertion>
"#,
        ii = saml_sign::xs_date_time(t),
        noa = saml_sign::xs_date_time(t + 300),
    );
    let (st, v) = grant(wrapped).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "wrapped: {v}"
    );
    refused(
        grant(signer.sign(&fresh(&|s| {
            s.issue_instant = t - 900;
            s.not_before = Some(t - 900);
            s.not_on_or_after = Some(t - 120);
            s.scd_not_on_or_after = Some(t - 120);
        })))
        .await,
        400,
        "invalid_grant",
        "expired",
        "expired",
    );
    refused(
        grant(signer.sign(&fresh(&|s| {
            s.audiences = vec!["https://other.example".into()]
        })))
        .await,
        400,
        "invalid_grant",
        "audience",
        "wrong audience",
    );
    refused(
        grant(signer.sign(&fresh(&|s| {
            s.recipient = "https://other.example/token".into()
        })))
        .await,
        400,
        "invalid_grant",
        "recipient",
        "wrong recipient",
    );
    let body = signer.sign(&fresh(&|_| {}));
    let body = body.split_once("?>").map_or(body.as_str(), |(_, b)| b);
    let doctype = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE saml:Assertion [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{}",
        body.replace("alice@example.com</saml:NameID>", "&xxe;</saml:NameID>")
    );
    refused(
        grant(doctype).await,
        400,
        "invalid_grant",
        "doctype",
        "DOCTYPE",
    );
    let split = signer
        .sign(&fresh(&|s| s.subject = "admin@example.com.evil.com".into()))
        .replace(
            "admin@example.com.evil.com</saml:NameID>",
            "admin@example.com<!---->.evil.com</saml:NameID>",
        );
    refused(
        grant(split).await,
        400,
        "invalid_grant",
        "comment",
        "comment-split NameID",
    );
    let (st, v) = post(
        &s,
        "/oauth2/token",
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:saml2-bearer",
            ),
            ("assertion", &"A".repeat(30_000)),
        ],
    )
    .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "oversized: {v}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn jwt_access_tokens_verify_introspect_revoke_and_rotate(b: Backend) {
    let (dir, cfg) = config(REGISTRATION);
    let s = Server::start_with(b, &[("TOLLGATE_CONFIG", &cfg.display().to_string())], &[]).await;
    let reg = register(
        &s,
        json!({
            "client_name": "jwt-app",
            "grant_types": ["client_credentials", "password", "refresh_token"],
            "scope": "read write",
            "access_token_format": "jwt",
        }),
    )
    .await;
    assert_eq!(reg["access_token_format"], "jwt");
    let id = reg["client_id"].as_str().unwrap().to_owned();
    let secret = reg["client_secret"].as_str().unwrap().to_owned();
    let t = s.token(&id, &secret, Some("read")).await;
    let at = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(at.split('.').count(), 3, "a JWS: {at}");

    // PyJWT verifies it against the published JWKS.
    let jwks = s.get_json("/oauth2/jwks").await;
    let v: Value =
        serde_json::from_str(&support::py(&["verify", &at, &jwks.to_string(), &s.base])).unwrap();
    assert_eq!(v["header"]["typ"], "at+jwt");
    assert_eq!(v["header"]["alg"], "ES256");
    let c = &v["claims"];
    assert_eq!(c["iss"], s.base);
    assert_eq!(c["sub"], id.as_str());
    assert_eq!(c["client_id"], id.as_str());
    assert_eq!(c["scope"], "read");
    assert!(c["jti"].is_string());
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );

    // Introspection and revocation work on it; its jti (clear text in the
    // payload) is not a token by itself.
    assert_eq!(s.introspect((&id, &secret), &at).await["active"], true);
    let bare_jti = c["jti"].as_str().unwrap();
    assert_eq!(
        s.introspect((&id, &secret), bare_jti).await["active"],
        false
    );
    let mut forged = at.clone();
    forged.pop();
    forged.push(if at.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(s.introspect((&id, &secret), &forged).await["active"], false);
    let r = s
        .post_form("/oauth2/revoke", Some((&id, &secret)), &[("token", &at)])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.introspect((&id, &secret), &at).await["active"], false);

    // Refresh with JWT access tokens, and the grace retry gets the same jti.
    let pw = "correct horse battery";
    let out = s.cli_with_stdin(&["user", "add", "dana", "--password-stdin"], pw.as_bytes());
    assert!(out.status.success());
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&id, &secret)),
            &[
                ("grant_type", "password"),
                ("username", "dana"),
                ("password", pw),
            ],
        )
        .await;
    let t: Value = r.json().await.unwrap();
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let refresh = || async {
        let r = s
            .post_form(
                "/oauth2/token",
                Some((&id, &secret)),
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await;
        r.json::<Value>().await.unwrap()
    };
    let (first, retry) = (refresh().await, refresh().await);
    let jti = |t: &Value| {
        let v: Value = serde_json::from_str(&support::py(&[
            "verify",
            t["access_token"].as_str().unwrap(),
            &jwks.to_string(),
            &s.base,
        ]))
        .unwrap();
        v["claims"]["jti"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        jti(&first),
        jti(&retry),
        "the grace retry repeats the same token"
    );
    assert_eq!(first["refresh_token"], retry["refresh_token"]);

    // Rotation (admin API, so this process reloads at once): the old token
    // keeps verifying, new tokens carry the new kid, the JWKS has both.
    let old = s.token(&id, &secret, Some("read")).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = crate::admin::Api {
        s: &s,
        token: crate::admin::admin_token(&s).await,
    };
    let rotate = |query: &'static str| {
        let api = &api;
        async move {
            api.call(
                reqwest::Method::POST,
                &format!("/admin/v1/keys/rotate{query}"),
                None,
            )
            .await
        }
    };
    let (st, rotated) = rotate("").await;
    assert_eq!(st, 201);
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    let jwks = s.get_json("/oauth2/jwks").await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert_eq!(s.introspect((&id, &secret), &old).await["active"], true);
    support::py(&["verify", &old, &jwks.to_string(), &s.base]);
    let new = s.token(&id, &secret, Some("read")).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let v: Value =
        serde_json::from_str(&support::py(&["verify", &new, &jwks.to_string(), &s.base])).unwrap();
    assert_eq!(v["header"]["kid"], new_kid.as_str());

    // Publish-before-sign: a staged RS256 key is in the JWKS at once but
    // does not sign yet.
    let (st, staged) = rotate("?alg=RS256&staged=true").await;
    assert_eq!(st, 201);
    assert_eq!(
        (staged["status"].as_str(), staged["alg"].as_str()),
        (Some("next"), Some("RS256"))
    );
    let jwks = s.get_json("/oauth2/jwks").await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&staged["kid"].as_str().unwrap()), "{kids:?}");
    let after = s.token(&id, &secret, Some("read")).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let v: Value = serde_json::from_str(&support::py(&[
        "verify",
        &after,
        &jwks.to_string(),
        &s.base,
    ]))
    .unwrap();
    assert_eq!(
        v["header"]["kid"],
        new_kid.as_str(),
        "the staged key does not sign yet"
    );
    // A second staged key while one waits, or an HMAC algorithm, is refused.
    for (q, status) in [("?staged=true", 409), ("?alg=HS256", 400)] {
        assert_eq!(rotate(q).await.0, status, "{q}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
