//! Tokens of a third-party authorization server, validated through RFC 7662
//! introspection against a real independent implementation (Authlib, in
//! `support/authlib_as.py`): caching keyed by token hash with the scope
//! re-checked on every hit, one call in flight per token, a short negative
//! cache, failing closed, and several issuers on one service.
use std::time::Duration;

use serde_json::{Value, json};

use super::authlib::AuthlibServer;
use super::upstream::Upstream;
use super::{add_service, consume, eventually, get, server, token};
use crate::admin::{Api, admin_token};
use crate::harness::{Backend, Server};

struct ThirdParty {
    authlib: AuthlibServer,
    http: reqwest::Client,
}

impl ThirdParty {
    fn start(s: &Server) -> Self {
        let authlib = AuthlibServer::start(
            &s.dir,
            &[
                ("gateway", "gateway-secret-1", ""),
                ("app", "app-secret-1", "orders reports"),
            ],
            &[],
        );
        Self {
            authlib,
            http: reqwest::Client::new(),
        }
    }

    /// A client-credentials token from Authlib's own token endpoint.
    async fn token(&self, scope: &str) -> String {
        let v: Value = self
            .http
            .post(format!("{}/token", self.authlib.url))
            .basic_auth("app", Some("app-secret-1"))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_owned()
    }

    async fn introspections(&self) -> u64 {
        let v: Value = self
            .http
            .get(format!("{}/stats", self.authlib.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["introspections"].as_u64().unwrap()
    }

    async fn control(&self, body: Value) {
        let r = self
            .http
            .post(format!("{}/control", self.authlib.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    async fn revoke(&self, token: &str) {
        let r = self
            .http
            .post(format!("{}/revoke", self.authlib.url))
            .basic_auth("app", Some("app-secret-1"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// Registers the server with the CLI, the secret on standard input.
    fn register(&self, s: &Server, extra: &[&str]) {
        let url = format!("{}/introspect", self.authlib.url);
        let mut args = vec![
            "authserver",
            "add",
            "authlib",
            "--introspection-url",
            url.as_str(),
            "--client-id",
            "gateway",
            "--client-secret-stdin",
            "--issuer",
            self.authlib.url.as_str(),
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = s.cli_with_stdin(&args, b"gateway-secret-1\n");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["has_client_secret"], true);
        assert!(!String::from_utf8_lossy(&out.stdout).contains("gateway-secret-1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_cache_scope_recheck_and_single_flight() {
    let s = server(Backend::Sqlite).await;
    let up = Upstream::start().await;
    let tp = ThirdParty::start(&s);
    tp.register(&s, &["--cache-ttl", "3", "--negative-ttl", "2"]);
    add_service(
        &s,
        "orders",
        &up.url("/orders"),
        &["--validator", "authlib"],
    );
    add_service(
        &s,
        "reports",
        &up.url("/reports"),
        &["--validator", "authlib"],
    );

    // A token for `reports` only.
    let t = tp.token("reports").await;
    let a = eventually(&s, "/gateway/reports/x", Some(&t), 200).await;
    assert_eq!(a.body["headers"]["x-tollgate-client-id"], "app");
    assert_eq!(a.body["headers"]["x-tollgate-scope"], "reports");
    let n = tp.introspections().await;
    // Cached: a second call does not introspect again...
    assert_eq!(get(&s, "/gateway/reports/y", Some(&t)).await.status, 200);
    // ...and the cached answer does not let the token into a service whose
    // scope it lacks (CVE-2021-32701).
    let a = get(&s, "/gateway/orders/x", Some(&t)).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.challenge().contains("scope=\"orders\""));
    assert_eq!(tp.introspections().await, n, "both answered from the cache");

    // Revoked at the third party: honoured once the cache entry (3 s) ends.
    tp.revoke(&t).await;
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let a = get(&s, "/gateway/reports/x", Some(&t)).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error(), "invalid_token");

    // An unknown token: refused, and remembered briefly.
    let n = tp.introspections().await;
    assert_eq!(
        get(&s, "/gateway/reports/x", Some("unknown-token"))
            .await
            .status,
        401
    );
    assert_eq!(
        get(&s, "/gateway/reports/x", Some("unknown-token"))
            .await
            .status,
        401
    );
    assert_eq!(
        tp.introspections().await,
        n + 1,
        "negative answers are cached"
    );

    // Many requests waiting for one token: one introspection call.
    tp.control(json!({"introspect_delay_ms": 400})).await;
    let fresh = tp.token("orders reports").await;
    let n = tp.introspections().await;
    let calls = (0..20).map(|_| {
        let http = s.http.clone();
        let url = s.url("/gateway/orders/x");
        let fresh = fresh.clone();
        tokio::spawn(async move {
            http.get(url)
                .bearer_auth(fresh)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    for c in calls.collect::<Vec<_>>() {
        assert_eq!(c.await.unwrap(), 200);
    }
    assert_eq!(
        tp.introspections().await,
        n + 1,
        "exactly one call in flight"
    );
    tp.control(json!({"introspect_delay_ms": 0})).await;

    // The introspection endpoint failing: 503, nothing reaches the upstream.
    tp.control(json!({"introspect_status": 500})).await;
    let other = tp.token("orders").await;
    let before = up.hits();
    let a = get(&s, "/gateway/orders/x", Some(&other)).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.error(), "temporarily_unavailable");
    assert_eq!(up.hits(), before);
    // Not cached as a refusal: once it recovers, the token works.
    tp.control(json!({"introspect_status": null})).await;
    assert_eq!(get(&s, "/gateway/orders/x", Some(&other)).await.status, 200);

    // The server gone altogether: still 503 for a token not yet cached.
    let last = tp.token("orders").await;
    drop(tp);
    let a = get(&s, "/gateway/orders/x", Some(&last)).await;
    assert_eq!(a.status, 503);
    assert_eq!(up.hits(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_issuers_on_one_service() {
    let s = server(Backend::Sqlite).await;
    let up = Upstream::start().await;
    let tp = ThirdParty::start(&s);
    tp.register(&s, &[]);
    add_service(
        &s,
        "orders",
        &up.url("/orders"),
        &["--validator", "local", "--validator", "authlib"],
    );
    let (id, secret) = consume(&s, "orders", "billing");
    let ours = token(&s, &id, &secret, "orders").await;
    let theirs = tp.token("orders").await;
    let a = eventually(&s, "/gateway/orders/x", Some(&ours), 200).await;
    assert_eq!(a.body["headers"]["x-tollgate-client-id"], id.as_str());
    let n = tp.introspections().await;
    assert_eq!(n, 0, "our own tokens are never sent to the third party");
    let a = get(&s, "/gateway/orders/x", Some(&theirs)).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["headers"]["x-tollgate-client-id"], "app");
    // Our revoked token stays refused; it is not asked about elsewhere.
    let r = s
        .post_form("/oauth2/revoke", Some((&id, &secret)), &[("token", &ours)])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(get(&s, "/gateway/orders/x", Some(&ours)).await.status, 401);
    assert_eq!(tp.introspections().await, 1);

    // The admin API shows the server without its secret, and refuses to
    // delete it while a service uses it.
    let api = Api {
        s: &s,
        token: admin_token(&s).await,
    };
    let (status, v) = api.get("/admin/v1/authservers/authlib").await;
    assert_eq!(status, 200);
    assert_eq!(v["has_client_secret"], true);
    assert!(!v.to_string().contains("gateway-secret-1"));
    let (status, v) = api.delete("/admin/v1/authservers/authlib").await;
    assert_eq!(status, 409, "{v}");
    // A service naming a server that does not exist is refused.
    let (status, v) = api
        .post(
            "/admin/v1/services",
            json!({"name": "x", "spec": {"upstream": up.url("/"), "validators": ["nope"]}}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    // An introspection server needs its credentials.
    let (status, v) = api
        .post(
            "/admin/v1/authservers",
            json!({"name": "okta", "spec": {"introspection_url": "https://okta.example/introspect", "client_id": "gw"}}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    // Errors name their field and speak JSON, not Rust.
    let (status, v) = api
        .post(
            "/admin/v1/authservers",
            json!({"name": "slow", "spec": {"jwks_uri": "https://as.example/jwks", "issuer": "x", "timeout_ms": 0}}),
        )
        .await;
    assert_eq!(
        (status, v["field"].as_str()),
        (400, Some("timeout_ms")),
        "{v}"
    );
    let (status, v) = api
        .post(
            "/admin/v1/authservers",
            json!({"name": "slow", "spec": {"jwks_uri": "https://as.example/jwks", "issuer": "x", "timeout_ms": "soon"}}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["field"], "spec.timeout_ms", "{v}");
    let d = v["error_description"].as_str().unwrap();
    assert!(
        d.contains("expected a whole number") && !d.contains("u64"),
        "{d}"
    );
    let (status, v) = api.post("/admin/v1/services", json!(["x"])).await;
    assert_eq!(status, 400, "{v}");
    let d = v["error_description"].as_str().unwrap();
    assert!(
        d.contains("expected a JSON object") && !d.contains("struct"),
        "{d}"
    );
}

/// JWT access tokens of a third party (RFC 9068), signed by PyJWT and
/// verified against the party's JWKS served over HTTPS: every check the
/// issue names is on without configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_jwts_checked_against_its_jwks() {
    use crate::assertions::support::{JwksServer, Key, Kind, now, tamper, unique, unsecured};

    let dir = std::env::temp_dir().join(unique("gw-jwks"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = Key::new(&dir, Kind::Ec);
    let jwks = JwksServer::start(&dir, &json!({"keys": [key.jwk("k1", None)]}));
    let ca = jwks.ca.display().to_string();
    let mut env: Vec<(&str, &str)> = super::FAST.to_vec();
    env.push(("TOLLGATE_ASSERTIONS__JWKS_CA_FILE", ca.as_str()));
    let s = Server::start_with(Backend::Sqlite, &env, &[]).await;
    let up = Upstream::start().await;
    s.cli_json(&[
        "authserver",
        "add",
        "idp",
        "--jwks-uri",
        &jwks.url,
        "--issuer",
        "https://idp.example",
    ]);
    add_service(
        &s,
        "orders",
        &up.url("/orders"),
        &["--validator", "idp", "--audience", "https://orders.example"],
    );
    let header = json!({"typ": "at+jwt", "kid": "k1"});
    let claims = |f: &dyn Fn(&mut Value)| {
        let t = now();
        let mut c = json!({
            "iss": "https://idp.example", "sub": "alice", "aud": "https://orders.example",
            "client_id": "partner-app", "scope": "orders", "iat": t, "exp": t + 300,
            "jti": unique("jti"),
        });
        f(&mut c);
        c
    };
    let good = key.sign("ES256", &header, &claims(&|_| {}));
    let a = eventually(&s, "/gateway/orders/x", Some(&good), 200).await;
    assert_eq!(a.body["headers"]["x-tollgate-client-id"], "partner-app");
    assert_eq!(a.body["headers"]["x-tollgate-subject"], "alice");

    let refused: Vec<(&str, String, u16)> = vec![
        (
            "typ JWT",
            key.sign(
                "ES256",
                &json!({"typ": "JWT", "kid": "k1"}),
                &claims(&|_| {}),
            ),
            401,
        ),
        (
            "expired",
            key.sign(
                "ES256",
                &header,
                &claims(&|c| c["exp"] = json!(now() - 120)),
            ),
            401,
        ),
        (
            "not yet valid",
            key.sign(
                "ES256",
                &header,
                &claims(&|c| c["nbf"] = json!(now() + 600)),
            ),
            401,
        ),
        (
            "another audience",
            key.sign(
                "ES256",
                &header,
                &claims(&|c| c["aud"] = json!("https://x.example")),
            ),
            401,
        ),
        (
            "another issuer",
            key.sign(
                "ES256",
                &header,
                &claims(&|c| c["iss"] = json!("https://evil.example")),
            ),
            401,
        ),
        (
            "no exp",
            key.sign(
                "ES256",
                &header,
                &claims(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
            401,
        ),
        (
            "tampered",
            tamper(&good, &claims(&|c| c["scope"] = json!("orders admin"))),
            401,
        ),
        ("alg none", unsecured(&header, &claims(&|_| {})), 401),
        (
            "without the scope",
            key.sign(
                "ES256",
                &header,
                &claims(&|c| c["scope"] = json!("reports")),
            ),
            403,
        ),
    ];
    for (what, token, status) in refused {
        let a = get(&s, "/gateway/orders/x", Some(&token)).await;
        assert_eq!(a.status, status, "{what}: {}", a.body);
        let code = if status == 401 {
            "invalid_token"
        } else {
            "insufficient_scope"
        };
        assert_eq!(a.error(), code, "{what}");
        assert!(a.challenge().contains(code), "{what}: {}", a.challenge());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A JWKS server follows the same rule as an introspection server: https, or plain
/// http to loopback (a local issuer); and when the keys cannot be fetched, the
/// gateway's warning says why (here the TLS cause, `UnknownIssuer`), not only
/// "error sending request".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_over_loopback_http_and_the_cause_of_a_failed_fetch() {
    use crate::assertions::support::{JwksServer, Key, Kind, now, unique};

    let dir = std::env::temp_dir().join(unique("gw-jwks-plain"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = Key::new(&dir, Kind::Ec);
    let jwks = json!({"keys": [key.jwk("k1", None)]});
    let plain = JwksServer::start_plain(&dir, &jwks);
    // No jwks_ca_file: the https server's private CA is not trusted.
    let untrusted = JwksServer::start(&dir, &jwks);
    let s = Server::start_with(Backend::Sqlite, super::FAST, &[]).await;
    let up = Upstream::start().await;
    for (name, url, issuer) in [
        ("nearby", plain.url.as_str(), "http://local.example"),
        ("private", untrusted.url.as_str(), "https://private.example"),
    ] {
        s.cli_json(&[
            "authserver",
            "add",
            name,
            "--jwks-uri",
            url,
            "--issuer",
            issuer,
        ]);
        add_service(
            &s,
            name,
            &up.url("/x"),
            &["--validator", name, "--scope", "orders"],
        );
    }
    // Plain http elsewhere is refused with the rule.
    let refused = s.cli(&[
        "authserver",
        "add",
        "remote",
        "--jwks-uri",
        "http://idp.example/jwks",
        "--issuer",
        "https://idp.example",
    ]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("https"), "{why}");

    let token = |iss: &str| {
        let t = now();
        key.sign(
            "ES256",
            &json!({"typ": "at+jwt", "kid": "k1"}),
            &json!({"iss": iss, "sub": "alice", "client_id": "app", "scope": "orders",
                    "iat": t, "exp": t + 300, "jti": unique("jti")}),
        )
    };
    let a = eventually(
        &s,
        "/gateway/nearby/y",
        Some(&token("http://local.example")),
        200,
    )
    .await;
    assert_eq!(a.body["headers"]["x-tollgate-subject"], "alice");

    let a = get(
        &s,
        "/gateway/private/y",
        Some(&token("https://private.example")),
    )
    .await;
    assert_eq!(a.status, 503, "{}", a.body);
    let log = s.log();
    assert!(
        log.lines()
            .any(|l| l.contains("fetching the JWKS failed") && l.contains("UnknownIssuer")),
        "the warning names the cause:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
