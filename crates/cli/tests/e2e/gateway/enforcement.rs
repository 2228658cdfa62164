//! RFC 6750 enforcement, forwarding and path normalisation, with this
//! Tollgate's own tokens.
use std::time::{Duration, Instant};

use super::upstream::{BIG_CHUNKS, CHUNK, Upstream, down_addr};
use super::{add_service, answer, consume, eventually, get, raw_get, server, token};
use crate::harness::{Backend, Server};

crate::on_both_backends!(
    bearer_enforcement_and_rfc6750_errors,
    revoked_and_expired_tokens_stop_at_once,
);

/// A service `orders` at the upstream's `/api`, consumed by `billing`.
async fn orders(s: &Server, up: &Upstream, args: &[&str]) -> (String, String) {
    add_service(s, "orders", &up.url("/api"), args);
    let (id, secret) = consume(s, "orders", "billing");
    (id, secret)
}

async fn bearer_enforcement_and_rfc6750_errors(b: Backend) {
    let s = server(b).await;
    let up = Upstream::start().await;
    let (id, secret) = orders(&s, &up, &[]).await;
    let t = token(&s, &id, &secret, "orders").await;
    eventually(&s, "/gateway/orders/x", Some(&t), 200).await;

    // No token: 401, a challenge without an error code (RFC 6750 §3.1),
    // the seed's message.
    let a = get(&s, "/gateway/orders/items", None).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.challenge(), "Bearer realm=\"tollgate\"");
    assert_eq!(a.error(), "unauthorized");
    assert!(
        a.description()
            .contains("Consumer could not be identified. Anonymous access is not allowed"),
        "{}",
        a.body
    );

    // Unknown token.
    let a = get(&s, "/gateway/orders/items", Some("not-a-token")).await;
    assert_eq!(a.status, 401);
    assert!(
        a.challenge()
            .starts_with("Bearer realm=\"tollgate\", error=\"invalid_token\"")
    );
    assert_eq!(a.error(), "invalid_token");

    // A valid token without the service's scope: 403 naming the scope.
    let (other, other_secret) = s.add_client("no-orders", &["--scope", "read"]);
    let wrong = token(&s, &other, &other_secret, "read").await;
    let a = get(&s, "/gateway/orders/items", Some(&wrong)).await;
    assert_eq!(a.status, 403);
    // A client registered with the scope but not a consumer of the service
    // (the seed: the mediator looks the client up among the consumers).
    let (outsider, outsider_secret) = s.add_client("outsider", &["--scope", "orders"]);
    let sneaky = token(&s, &outsider, &outsider_secret, "orders").await;
    let o = get(&s, "/gateway/orders/items", Some(&sneaky)).await;
    assert_eq!(o.status, 403, "{}", o.body);
    assert!(o.description().contains("not a consumer"), "{}", o.body);
    assert!(o.challenge().contains("insufficient_scope"));
    assert!(
        a.challenge().contains("error=\"insufficient_scope\""),
        "{}",
        a.challenge()
    );
    assert!(
        a.challenge().contains("scope=\"orders\""),
        "{}",
        a.challenge()
    );
    assert_eq!(a.body["scope"], "orders");

    // The scheme is case-insensitive; the upstream gets the call with the
    // identity headers and without the token.
    let before = up.hits();
    let r = s
        .http
        .post(s.url("/gateway/orders/items/7?expand=lines&x=%20"))
        .header("authorization", format!("bEaReR {t}"))
        .header("x-tollgate-client-id", "forged")
        .header("x-tollgate-subject", "admin")
        .header("x-tollgate-scope", "everything")
        .header("x-tollgate_subject", "admin")
        .header("x-forwarded-for", "203.0.113.1")
        .header("content-type", "application/json")
        .body(r#"{"qty":1}"#)
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(up.hits(), before + 1);
    let h = &a.body["headers"];
    assert_eq!(a.body["method"], "POST");
    assert_eq!(a.body["path"], "/api/items/7");
    assert_eq!(a.body["query"], "expand=lines&x=%20");
    assert_eq!(a.body["body_bytes"], 9);
    assert_eq!(h["x-tollgate-client-id"], id.as_str());
    assert_eq!(h["x-tollgate-subject"], id.as_str());
    assert_eq!(h["x-tollgate-scope"], "orders");
    assert_eq!(
        h["x-forwarded-for"], "127.0.0.1",
        "a caller's own X-Forwarded-For is replaced (gateway.trust_forwarded_for is off)"
    );
    assert_eq!(h["x-tollgate-issuer"], "local");
    assert!(
        h.get("x-tollgate_subject").is_none(),
        "the underscore spelling is ours too"
    );
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(
        h["x-forwarded-host"].as_str().unwrap(),
        s.base.trim_start_matches("http://")
    );
    assert!(
        h.get("authorization").is_none(),
        "the token is not passed upstream by default"
    );
    assert_eq!(h["host"].as_str().unwrap(), up.addr.to_string());
    assert!(
        a.headers.get("x-upstream-hop").is_none(),
        "hop-by-hop headers are dropped"
    );

    // A token in the query is not a credential (OAuth 2.1 §5.1).
    let a = get(&s, &format!("/gateway/orders/items?access_token={t}"), None).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error(), "unauthorized");

    // Two tokens: 400 invalid_request.
    let r = s
        .http
        .get(s.url("/gateway/orders/items"))
        .header("authorization", format!("Bearer {t}"))
        .header("authorization", format!("Bearer {wrong}"))
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 400);
    assert!(a.challenge().contains("error=\"invalid_request\""));
    assert_eq!(a.error(), "invalid_request");
    // A malformed header.
    let r = s
        .http
        .get(s.url("/gateway/orders/items"))
        .header("authorization", "Bearer a b")
        .send()
        .await
        .unwrap();
    assert_eq!(answer(r).await.status, 400);
    // A token in a form body is ignored where the service does not allow it.
    let r = s
        .http
        .post(s.url("/gateway/orders/items"))
        .form(&[("access_token", t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer(r).await.status, 401);

    // TRACE and CONNECT are no API call: 405 unless a service lists them.
    let before = up.hits();
    let r = s
        .http
        .request(reqwest::Method::TRACE, s.url("/gateway/orders/x"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers()["allow"].to_str().unwrap().contains("GET"));
    assert_eq!(up.hits(), before, "nothing reached the upstream");

    // Unknown service, and the bare prefix: 404 JSON.
    let a = get(&s, "/gateway/nope/x", Some(&t)).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.error(), "not_found");
    assert_eq!(get(&s, "/gateway/", Some(&t)).await.status, 404);

    // Normalised paths: what is routed and checked is what the upstream
    // gets (sent raw: an HTTP client would resolve dot segments itself).
    for (path, upstream_path) in [
        ("/gateway/orders/a/../b", "/api/b"),
        ("/gateway/orders//b/./c", "/api/b/c"),
        ("/gateway/orders/b;jsessionid=1/c", "/api/b/c"),
        ("/gateway/%6Frders/%7Eb", "/api/~b"),
        ("/gateway/x/../orders/b", "/api/b"),
        ("/gateway/orders/%2e%2e/orders/b", "/api/b"),
        ("/gateway/public/..;/orders/b", "/api/b"),
    ] {
        let (status, body) = raw_get(&s, path, Some(&t)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["path"], upstream_path, "{path}");
        // And without the token the same spelling is refused.
        let (status, body) = raw_get(&s, path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    for path in [
        "/gateway/orders/a%2F..%2F..%2Fadmin",
        "/gateway/orders/a%5cb",
    ] {
        let (status, body) = raw_get(&s, path, Some(&t)).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["error"], "invalid_request");
    }
    // Walking out of the gateway prefix reaches nothing else.
    let before = up.hits();
    let (status, body) = raw_get(&s, "/gateway/orders/../../admin/v1/clients", Some(&t)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "not_found");
    assert_eq!(up.hits(), before);
}

async fn revoked_and_expired_tokens_stop_at_once(b: Backend) {
    let s = server(b).await;
    let up = Upstream::start().await;
    let (id, secret) = orders(&s, &up, &[]).await;
    let t = token(&s, &id, &secret, "orders").await;
    eventually(&s, "/gateway/orders/x", Some(&t), 200).await;
    let r = s
        .post_form("/oauth2/revoke", Some((&id, &secret)), &[("token", &t)])
        .await;
    assert_eq!(r.status(), 200);
    let a = get(&s, "/gateway/orders/x", Some(&t)).await;
    assert_eq!(a.status, 401, "revoked at this server: refused at once");
    assert_eq!(a.error(), "invalid_token");
    assert!(a.description().contains("revoked"), "{}", a.body);

    // An expired token (lifetime 1 s).
    let (short, short_secret) = s.add_client(
        "short-lived",
        &["--scope", "orders", "--access-token-ttl", "1"],
    );
    s.cli_json(&[
        "service",
        "consume",
        "orders",
        "--app",
        "short",
        "--client-id",
        &short,
    ]);
    let t = token(&s, &short, &short_secret, "orders").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let a = get(&s, "/gateway/orders/x", Some(&t)).await;
    assert_eq!(a.status, 401);
    assert!(a.description().contains("expired"), "{}", a.body);
    // A refresh token is not an access token.
    let (r_id, r_secret) = s.add_client(
        "refresher",
        &[
            "--scope",
            "orders",
            "--grant",
            "client_credentials",
            "--grant",
            "refresh_token",
            "--client-credentials-refresh",
        ],
    );
    let pair = s.token(&r_id, &r_secret, Some("orders")).await;
    if let Some(rt) = pair["refresh_token"].as_str() {
        let a = get(&s, "/gateway/orders/x", Some(rt)).await;
        assert_eq!(a.status, 401);
        assert!(a.description().contains("refresh token"), "{}", a.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_access_tokens_are_checked_fully() {
    let s = server(Backend::Sqlite).await;
    let up = Upstream::start().await;
    add_service(&s, "orders", &up.url("/api"), &[]);
    let (id, secret) = s.add_client(
        "jwt-client",
        &["--scope", "orders", "--access-token-format", "jwt"],
    );
    s.cli_json(&[
        "service",
        "consume",
        "orders",
        "--app",
        "jwt",
        "--client-id",
        &id,
    ]);
    let t = token(&s, &id, &secret, "orders").await;
    assert_eq!(t.matches('.').count(), 2, "a JWT");
    let a = eventually(&s, "/gateway/orders/x", Some(&t), 200).await;
    assert_eq!(a.body["headers"]["x-tollgate-client-id"], id.as_str());
    // A forged signature.
    let mut parts: Vec<&str> = t.split('.').collect();
    let sig = parts[2].chars().rev().collect::<String>();
    parts[2] = &sig;
    let a = get(&s, "/gateway/orders/x", Some(&parts.join("."))).await;
    assert_eq!(a.status, 401);
    // With an audience on the service, a token without it is refused.
    s.cli_json(&[
        "service",
        "update",
        "orders",
        "--audience",
        "https://orders.example",
    ]);
    let a = eventually(&s, "/gateway/orders/x", Some(&t), 401).await;
    assert!(a.description().contains("aud"), "{}", a.body);
    // Revoked: refused at once even though the signature still verifies.
    s.cli_json(&["service", "update", "orders", "--audience", ""]);
    eventually(&s, "/gateway/orders/x", Some(&t), 200).await;
    let r = s
        .post_form("/oauth2/revoke", Some((&id, &secret)), &[("token", &t)])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(get(&s, "/gateway/orders/x", Some(&t)).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_policy_options_and_live_changes() {
    let s = server(Backend::Sqlite).await;
    let up = Upstream::start().await;
    add_service(
        &s,
        "orders",
        &up.url("/api"),
        &[
            "--method",
            "GET",
            "--method",
            "post",
            "--pass-authorization",
            "true",
        ],
    );
    let (id, secret) = consume(&s, "orders", "billing");
    let t = token(&s, &id, &secret, "orders").await;
    let a = eventually(&s, "/gateway/orders/x", Some(&t), 200).await;
    assert_eq!(
        a.body["headers"]["authorization"],
        format!("Bearer {t}"),
        "passed upstream when configured"
    );
    let r = s
        .http
        .delete(s.url("/gateway/orders/x"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "GET, POST");
    assert_eq!(a.error(), "method_not_allowed");

    // A form-body token where the service allows it (RFC 6750 §2.2), and
    // header plus body refused.
    s.cli_json(&["service", "update", "orders", "--body-token", "true"]);
    let start = Instant::now();
    loop {
        let r = s
            .http
            .post(s.url("/gateway/orders/form"))
            .form(&[("access_token", t.as_str()), ("q", "1")])
            .send()
            .await
            .unwrap();
        let a = answer(r).await;
        if a.status == 200 {
            assert_eq!(a.body["body_bytes"], format!("access_token={t}&q=1").len());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{}", a.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = s
        .http
        .post(s.url("/gateway/orders/form"))
        .bearer_auth(&t)
        .form(&[("access_token", t.as_str())])
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 400);
    assert!(a.description().contains("more than one"), "{}", a.body);

    // Case-insensitive matching sends the lower-cased path upstream.
    assert_eq!(get(&s, "/gateway/ORDERS/X", Some(&t)).await.status, 404);
    s.cli_json(&["service", "update", "orders", "--case-insensitive", "true"]);
    let a = eventually(&s, "/gateway/ORDERS/Items", Some(&t), 200).await;
    assert_eq!(a.body["path"], "/api/items");

    // Disabled: 503 without calling the upstream; enabled again: 200.
    s.cli_json(&["service", "disable", "orders"]);
    let a = eventually(&s, "/gateway/orders/x", Some(&t), 503).await;
    assert!(a.description().contains("disabled"));
    let before = up.hits();
    assert_eq!(get(&s, "/gateway/orders/x", Some(&t)).await.status, 503);
    assert_eq!(up.hits(), before);
    s.cli_json(&["service", "enable", "orders"]);
    eventually(&s, "/gateway/orders/x", Some(&t), 200).await;

    // Anonymous when the operator says so.
    add_service(&s, "public", &up.url("/pub"), &["--anonymous"]);
    let a = eventually(&s, "/gateway/public/x", None, 200).await;
    assert!(a.body["headers"].get("x-tollgate-client-id").is_none());

    // Listed and shown by the CLI; deleted: 404.
    let list = s.cli_json(&["service", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let shown = s.cli_json(&["service", "show", "orders"]);
    assert_eq!(shown["required_scopes"][0], "orders");
    assert_eq!(shown["path"], "/gateway/orders/");
    s.cli_json(&["service", "delete", "public"]);
    eventually(&s, "/gateway/public/x", None, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_slow_and_streaming() {
    let s = server(Backend::Sqlite).await;
    let up = Upstream::start().await;
    let down = down_addr().await;
    add_service(&s, "orders", &up.url("/api"), &["--timeout-ms", "700"]);
    add_service(
        &s,
        "gone",
        &format!("http://{down}/"),
        &["--scope", "orders"],
    );
    let (id, secret) = consume(&s, "orders", "billing");
    s.cli_json(&[
        "service",
        "consume",
        "gone",
        "--app",
        "billing",
        "--client-id",
        &id,
    ]);
    let t = token(&s, &id, &secret, "orders").await;
    eventually(&s, "/gateway/orders/x", Some(&t), 200).await;

    let a = eventually(&s, "/gateway/gone/x", Some(&t), 502).await;
    assert_eq!(a.error(), "bad_gateway");
    assert!(a.description().contains("cannot be reached"), "{}", a.body);

    let start = Instant::now();
    let a = get(&s, "/gateway/orders/hang", Some(&t)).await;
    assert_eq!(a.status, 504);
    assert_eq!(a.error(), "gateway_timeout");
    assert!(start.elapsed() < Duration::from_secs(5));

    // A large body streamed slowly arrives whole, and its first bytes
    // arrive long before its last (nothing buffers it).
    let start = Instant::now();
    let r = s
        .http
        .get(s.url("/gateway/orders/slow-big"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r;
    let mut first = None;
    let mut total = 0usize;
    while let Some(chunk) = body.chunk().await.unwrap() {
        first.get_or_insert_with(|| start.elapsed());
        total += chunk.len();
    }
    let all = start.elapsed();
    assert_eq!(total, BIG_CHUNKS * CHUNK);
    let first = first.unwrap();
    assert!(
        first * 4 < all,
        "first byte after {first:?}, last after {all:?}: the body was buffered"
    );

    // A large upload reaches the upstream whole, streamed.
    let upload = vec![7u8; 12 * 1024 * 1024];
    let r = s
        .http
        .put(s.url("/gateway/orders/upload"))
        .bearer_auth(&t)
        .body(upload)
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["body_bytes"], 12 * 1024 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_store_down_fails_closed() {
    let Some(pg) = crate::private_pg::PrivatePg::start("gateway_fails_closed") else {
        return;
    };
    let s = Server::start_on_postgres(&pg.url(), super::FAST).await;
    let up = Upstream::start().await;
    add_service(&s, "orders", &up.url("/api"), &[]);
    let (id, secret) = consume(&s, "orders", "billing");
    // Two tokens; only the first is used (and cached) before the outage.
    let t1 = token(&s, &id, &secret, "orders").await;
    let t2 = token(&s, &id, &secret, "orders").await;
    eventually(&s, "/gateway/orders/x", Some(&t1), 200).await;
    // Let the token cache forget what it saw at issuance.
    tokio::time::sleep(Duration::from_secs(6)).await;
    pg.crash();
    let before = up.hits();
    let a = get(&s, "/gateway/orders/x", Some(&t2)).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.error(), "temporarily_unavailable");
    assert_eq!(
        up.hits(),
        before,
        "no upstream call when the token cannot be checked"
    );
    pg.start_server();
    let start = Instant::now();
    loop {
        let a = get(&s, "/gateway/orders/x", Some(&t2)).await;
        if a.status == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{}", a.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
