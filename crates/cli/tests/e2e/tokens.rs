//! Client credentials, introspection, tokeninfo, revocation, refresh, discovery.
use serde_json::Value;

use crate::harness::{Backend, Server};

crate::on_both_backends!(
    client_credentials_introspect_tokeninfo_revoke,
    scope_rules_any_all_and_defaults,
    client_secret_post_and_method_binding,
    revoking_a_refresh_token_revokes_its_access_tokens,
    refresh_token_rotation_and_reuse,
    rotated_secrets_overlap_then_expire,
    disabled_and_deleted_clients_lose_their_tokens,
    discovery_and_jwks,
);

async fn client_credentials_introspect_tokeninfo_revoke(b: Backend) {
    let s = Server::start(b).await;
    let (id, secret) = s.add_client(
        "svc-a",
        &[
            "--scope",
            "read write",
            "--metadata",
            "Department=Engineering",
        ],
    );
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let t: Value = r.json().await.unwrap();
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(at.len(), 54, "seed default access token length");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], "read");
    assert!(
        t.get("refresh_token").is_none(),
        "no refresh token for client credentials by default"
    );

    let i = s.introspect((&id, &secret), at).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], id);
    assert_eq!(i["scope"], "read");
    assert_eq!(i["token_type"], "Bearer");
    assert_eq!(i["sub"], id);
    assert_eq!(i["iss"], s.base);
    assert_eq!(i["Department"], "Engineering");
    assert_eq!(i["metadata"]["Department"], "Engineering");
    let (exp, iat) = (i["exp"].as_i64().unwrap(), i["iat"].as_i64().unwrap());
    assert_eq!(exp - iat, 3600);

    // Tokeninfo: query string and form body.
    let q = s
        .http
        .get(format!("{}?access_token={at}", s.url("/oauth2/tokeninfo")))
        .send()
        .await
        .unwrap();
    assert_eq!(q.status(), 200);
    let q: Value = q.json().await.unwrap();
    assert_eq!(q["Department"], "Engineering");
    assert_eq!(q["client_id"], id);
    assert!(q["expires_in"].as_i64().unwrap() > 3500);
    let f = s
        .http
        .post(s.url("/oauth2/tokeninfo"))
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(f.status(), 200);

    // Introspection needs an authenticated caller (RFC 7662 §2.1).
    let anon = s
        .post_form("/oauth2/introspect", None, &[("token", at)])
        .await;
    assert_eq!(anon.status(), 401);

    // Revocation: 200, then inactive everywhere; unknown tokens are 200 too.
    let r = s
        .post_form(
            "/oauth2/revoke",
            Some((&id, &secret)),
            &[("token", at), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.introspect((&id, &secret), at).await,
        serde_json::json!({"active": false})
    );
    let q = s
        .http
        .get(format!("{}?access_token={at}", s.url("/oauth2/tokeninfo")))
        .send()
        .await
        .unwrap();
    assert_eq!(q.status(), 401);
    assert_eq!(q.json::<Value>().await.unwrap()["error"], "invalid_token");
    let r = s
        .post_form(
            "/oauth2/revoke",
            Some((&id, &secret)),
            &[("token", "no-such-token")],
        )
        .await;
    assert_eq!(r.status(), 200);

    // Another client cannot revoke this client's token.
    let (other, other_secret) = s.add_client("svc-b", &["--scope", "read"]);
    let t2 = s.token(&id, &secret, None).await;
    let at2 = t2["access_token"].as_str().unwrap();
    assert_eq!(
        t2["scope"], "read write",
        "no scope requested: every registered scope"
    );
    let r = s
        .post_form(
            "/oauth2/revoke",
            Some((&other, &other_secret)),
            &[("token", at2)],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        s.introspect((&other, &other_secret), at2).await["active"],
        true
    );
}

async fn scope_rules_any_all_and_defaults(b: Backend) {
    let s = Server::start(b).await;
    let (any, any_s) = s.add_client("any-client", &["--scope", "read write"]);
    let (all, all_s) = s.add_client(
        "all-client",
        &["--scope", "read write", "--scope-matching", "all"],
    );
    let ask = |id: &str, sec: &str, scope: &str| {
        let (id, sec, scope) = (id.to_owned(), sec.to_owned(), scope.to_owned());
        let s = &s;
        async move {
            let r = s
                .post_form(
                    "/oauth2/token",
                    Some((&id, &sec)),
                    &[("grant_type", "client_credentials"), ("scope", &scope)],
                )
                .await;
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, v) = ask(&any, &any_s, "read admin").await;
    assert_eq!(
        (st, v["scope"].as_str()),
        (200, Some("read")),
        "any: the registered part is granted"
    );
    let (st, v) = ask(&all, &all_s, "read admin").await;
    assert_eq!((st, v["error"].as_str()), (400, Some("invalid_scope")));
    let (st, v) = ask(&any, &any_s, "admin").await;
    assert_eq!((st, v["error"].as_str()), (400, Some("invalid_scope")));
    let (st, v) = ask(&all, &all_s, "write read").await;
    assert_eq!((st, v["scope"].as_str()), (200, Some("read write")));
    let (st, v) = ask(&any, &any_s, "bad\"scope").await;
    assert_eq!((st, v["error"].as_str()), (400, Some("invalid_scope")));
}

async fn client_secret_post_and_method_binding(b: Backend) {
    let s = Server::start(b).await;
    let (id, secret) = s.add_client(
        "poster",
        &["--auth-method", "client_secret_post", "--scope", "read"],
    );
    let r = s
        .post_form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    // The same client over Basic is refused: it registered client_secret_post.
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("client_secret_post")
    );
    // Both methods at once is invalid_request (RFC 6749 §2.3).
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // Basic credentials are form-urlencoded before Base64 (RFC 6749 §2.3.1).
    let (bid, bsecret) = s.add_client("basic.client~1", &[]);
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&bid, &bsecret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), 200);
}

async fn revoking_a_refresh_token_revokes_its_access_tokens(b: Backend) {
    let s = Server::start(b).await;
    let (id, secret) = s.add_client(
        "with-refresh",
        &[
            "--scope",
            "read",
            "--grant",
            "client_credentials",
            "--grant",
            "refresh_token",
            "--client-credentials-refresh",
        ],
    );
    let t = s.token(&id, &secret, None).await;
    let (at, rt) = (
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(rt.len(), 46, "seed default refresh token length");
    let i = s.introspect((&id, &secret), rt).await;
    assert_eq!(
        (i["active"].as_bool(), i["token_use"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    let r = s
        .post_form(
            "/oauth2/revoke",
            Some((&id, &secret)),
            &[("token", rt), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.introspect((&id, &secret), rt).await["active"], false);
    assert_eq!(
        s.introspect((&id, &secret), at).await["active"],
        false,
        "RFC 7009 §2.1"
    );
}

async fn refresh_token_rotation_and_reuse(b: Backend) {
    // No retry grace: the reuse below comes a second after the rotation.
    let s = Server::start_with(
        b,
        &[("TOLLGATE_TOKENS__REFRESH_REUSE_GRACE_SECS", "0")],
        &[],
    )
    .await;
    let (id, secret) = s.add_client(
        "rotator",
        &[
            "--scope",
            "read write",
            "--grant",
            "client_credentials",
            "--grant",
            "refresh_token",
            "--client-credentials-refresh",
        ],
    );
    let t = s.token(&id, &secret, None).await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String, scope: Option<&'static str>| {
        let (id, secret) = (id.clone(), secret.clone());
        let s = &s;
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", token),
            ];
            if let Some(sc) = scope {
                form.push(("scope", sc.to_owned()));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = s
                .post_form("/oauth2/token", Some((&id, &secret)), &form)
                .await;
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, v) = refresh(rt.clone(), Some("admin")).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_scope")),
        "cannot widen the scope"
    );
    let (st, v) = refresh(rt.clone(), Some("read")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["scope"], "read");
    let rt2 = v["refresh_token"].as_str().unwrap().to_owned();
    let at2 = v["access_token"].as_str().unwrap().to_owned();
    assert_ne!(rt2, rt);
    // A purge once the rotation is in the past keeps the revoked refresh
    // token (it has not expired), so its reuse is still recognised below.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(s.cli_json(&["purge"])["tokens"], 0);
    // The old refresh token is gone; presenting it again ends the grant (RFC 9700 §4.14.2).
    let (st, v) = refresh(rt.clone(), None).await;
    assert_eq!((st, v["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(s.introspect((&id, &secret), &rt2).await["active"], false);
    assert_eq!(s.introspect((&id, &secret), &at2).await["active"], false);
    // Refresh tokens are bound to their client.
    let t = s.token(&id, &secret, None).await;
    let (other, other_secret) = s.add_client(
        "thief",
        &[
            "--scope",
            "read",
            "--grant",
            "refresh_token",
            "--grant",
            "client_credentials",
        ],
    );
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&other, &other_secret)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

async fn rotated_secrets_overlap_then_expire(b: Backend) {
    let s = Server::start(b).await;
    let (id, old) = s.add_client("rotating", &["--scope", "read"]);
    let v = s.cli_json(&["client", "rotate-secret", &id]);
    let new = v["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(v["secrets"].as_array().unwrap().len(), 2);
    s.token(&id, &old, None).await;
    s.token(&id, &new, None).await;
    let v = s.cli_json(&["client", "rotate-secret", &id, "--grace", "0"]);
    let newest = v["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(v["secrets"].as_array().unwrap().len(), 1);
    // Caches are per process; the CLI changed the store, so wait out the client cache TTL.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    s.token(&id, &newest, None).await;
    for stale in [&old, &new] {
        let r = s
            .post_form(
                "/oauth2/token",
                Some((&id, stale)),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(r.status(), 401);
    }
}

async fn disabled_and_deleted_clients_lose_their_tokens(b: Backend) {
    let s = Server::start(b).await;
    let (id, secret) = s.add_client("short-lived", &["--scope", "read"]);
    let (rs, rs_secret) = s.add_client("resource-server", &[]);
    let at = s.token(&id, &secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    s.cli_json(&["client", "disable", &id]);
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), 401);
    assert!(
        r.json::<Value>().await.unwrap()["error_description"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    assert_eq!(s.introspect((&rs, &rs_secret), &at).await["active"], false);
    s.cli_json(&["client", "enable", &id]);
    s.cli_json(&["client", "delete", &id]);
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(s.introspect((&rs, &rs_secret), &at).await["active"], false);
    let out = s.cli(&["client", "show", &id]);
    assert!(!out.status.success());
}

async fn discovery_and_jwks(b: Backend) {
    let s = Server::start(b).await;
    let a: Value = s.get_json("/.well-known/oauth-authorization-server").await;
    let o: Value = s.get_json("/.well-known/openid-configuration").await;
    assert_eq!(a, o);
    assert_eq!(a["issuer"], s.base);
    for (k, path) in [
        ("token_endpoint", "/oauth2/token"),
        ("introspection_endpoint", "/oauth2/introspect"),
        ("revocation_endpoint", "/oauth2/revoke"),
        ("registration_endpoint", "/oauth2/register"),
        ("jwks_uri", "/oauth2/jwks"),
    ] {
        assert_eq!(a[k], s.url(path), "{k}");
    }
    assert!(
        a["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"client_credentials".into())
    );
    assert!(
        a["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&"client_secret_basic".into())
    );
    let jwks: Value = s.get_json("/oauth2/jwks").await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (
            keys[0]["kty"].as_str(),
            keys[0]["crv"].as_str(),
            keys[0]["alg"].as_str()
        ),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert!(keys[0].get("d").is_none(), "never the private key");
}
