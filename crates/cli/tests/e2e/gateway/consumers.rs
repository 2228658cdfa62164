//! Consumers: the OAuth2 identification details, approval, per-consumer
//! token lifetime and budgets, the seed's JSON token service, metrics.
use std::time::Duration;

use serde_json::{Value, json};

use super::upstream::Upstream;
use super::{add_service, answer, consume, eventually, get, server, token};
use crate::admin::{Api, admin_token};
use crate::harness::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_flow_through_the_admin_api() {
    let s = server(Backend::Sqlite).await;
    let up = Upstream::start().await;
    let api = Api {
        s: &s,
        token: admin_token(&s).await,
    };
    let (status, v) = api
        .post(
            "/admin/v1/services",
            json!({"name": "orders", "spec": {"upstream": up.url("/api"), "require_approval": true}}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["required_scopes"], json!(["orders"]));
    let (status, v) = api
        .post(
            "/admin/v1/services",
            json!({"name": "orders2", "alias": "orders", "spec": {"upstream": up.url("/")}}),
        )
        .await;
    assert_eq!(status, 409, "alias taken: {v}");
    let (status, v) = api
        .post(
            "/admin/v1/services",
            json!({"name": "bad", "spec": {"upstream": "ftp://x/"}}),
        )
        .await;
    assert_eq!(status, 400, "{v}");

    // The application asks; it is pending and gets no token for the scope.
    let (status, c) = api
        .post(
            "/admin/v1/services/orders/consumers",
            json!({"application": "billing", "settings": {"reason": "invoices"}}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["status"], "pending");
    assert_eq!(c["scope"], "orders");
    assert_eq!(c["token_endpoint"], s.url("/oauth2/token"));
    assert_eq!(
        c["token_service"],
        s.url("/rest/pub.mediator.oauth2.getOAuth2AccessToken")
    );
    let id = c["client_id"].as_str().unwrap().to_owned();
    let secret = c["client_secret"].as_str().unwrap().to_owned();
    let r = s
        .post_form(
            "/oauth2/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials"), ("scope", "orders")],
        )
        .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_scope");

    // Approved: a token, and calls go through.
    let path = format!("/admin/v1/services/orders/consumers/{id}");
    let (status, v) = api.patch(&path, json!({"status": "approved"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "approved");
    let t = token(&s, &id, &secret, "orders").await;
    let a = get(&s, "/gateway/orders/x", Some(&t)).await;
    assert_eq!(
        a.status, 200,
        "approval through the admin API is in effect at once"
    );

    // Revoked: the token still exists but the gateway refuses it (403).
    let (status, _) = api.patch(&path, json!({"status": "revoked"})).await;
    assert_eq!(status, 200);
    let a = get(&s, "/gateway/orders/x", Some(&t)).await;
    assert_eq!(a.status, 403);
    assert!(a.challenge().contains("insufficient_scope"));
    assert!(a.description().contains("revoked"), "{}", a.body);
    // Revoked cannot be rejected; pending is not a decision.
    let (status, _) = api.patch(&path, json!({"status": "rejected"})).await;
    assert_eq!(status, 400);
    let (status, _) = api.patch(&path, json!({"status": "pending"})).await;
    assert_eq!(status, 400);

    // A second application, rejected.
    let (_, c2) = api
        .post(
            "/admin/v1/services/orders/consumers",
            json!({"application": "spam"}),
        )
        .await;
    let id2 = c2["client_id"].as_str().unwrap();
    let (status, v) = api
        .patch(
            &format!("/admin/v1/services/orders/consumers/{id2}"),
            json!({"status": "rejected"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, list) = api.get("/admin/v1/services/orders/consumers").await;
    let statuses: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&"revoked") && statuses.contains(&"rejected"));

    // The CLI sees the same.
    let cli = s.cli_json(&["service", "consumers", "orders"]);
    assert_eq!(cli.as_array().unwrap().len(), 2);
    // Deleting the service removes it and its consumers.
    let (status, _) = api.delete("/admin/v1/services/orders").await;
    assert_eq!(status, 204);
    assert_eq!(get(&s, "/gateway/orders/x", Some(&t)).await.status, 404);
    let (status, _) = api.get("/admin/v1/services/orders").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_lifetime_and_budgets_per_consumer() {
    let s = server(Backend::Sqlite).await;
    let up = Upstream::start().await;
    add_service(
        &s,
        "orders",
        &up.url("/api"),
        &["--token-lifetime", "120", "--rate", "1/2"],
    );
    // "Refresh Token After": the new client's tokens live that long.
    let (id, secret) = consume(&s, "orders", "billing");
    let t = s.token(&id, &secret, Some("orders")).await;
    assert_eq!(t["expires_in"], 120);
    let t = t["access_token"].as_str().unwrap().to_owned();
    eventually(&s, "/gateway/orders/x", Some(&t), 200).await;
    // The burst of 2 is used up by now (the eventual call and maybe more);
    // the next calls within the second are refused with Retry-After.
    let mut limited = None;
    for _ in 0..4 {
        let a = get(&s, "/gateway/orders/x", Some(&t)).await;
        if a.status == 429 {
            limited = Some(a);
            break;
        }
    }
    let a = limited.expect("a 429 within the burst");
    assert_eq!(a.error(), "too_many_requests");
    assert!(a.headers.contains_key("retry-after"));
    // Another consumer has its own budget, and a daily quota of 2 (through
    // the admin API, which this node applies at once).
    let api = Api {
        s: &s,
        token: admin_token(&s).await,
    };
    let (status, v) = api
        .post(
            "/admin/v1/services/orders/consumers",
            json!({"application": "reports", "settings": {"limits": {"rate": {"per_second": 100, "burst": 100}, "per_day": 2}}}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (id2, secret2) = (
        v["client_id"].as_str().unwrap().to_owned(),
        v["client_secret"].as_str().unwrap().to_owned(),
    );
    let t2 = token(&s, &id2, &secret2, "orders").await;
    eventually(&s, "/gateway/orders/x", Some(&t2), 200).await;
    assert_eq!(get(&s, "/gateway/orders/x", Some(&t2)).await.status, 200);
    let a = get(&s, "/gateway/orders/x", Some(&t2)).await;
    assert_eq!(a.status, 429);
    assert!(a.description().contains("daily quota"), "{}", a.body);
    let wait: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&wait));

    // A consumer's token lifetime shorter than its tokens: older tokens are
    // refused by the gateway (the lifetime is checked against iat).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.cli_json(&[
        "service",
        "set-consumer",
        "orders",
        &id2,
        "--token-lifetime",
        "1",
    ]);
    let a = eventually(&s, "/gateway/orders/x", Some(&t2), 401).await;
    assert!(a.description().contains("older than"), "{}", a.body);

    // Per service and consumer metrics on the admin listener's /metrics.
    let admin = api.token.clone();
    let m = s
        .http
        .get(s.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.lines()
            .any(|l| l.starts_with("tollgate_gateway_requests_total")
                && l.contains("service=\"orders\"")
                && l.contains(&format!("consumer=\"{id}\""))
                && l.contains("status=\"2xx\"")),
        "{m}"
    );
    assert!(m.contains("tollgate_gateway_request_duration_seconds_bucket"));
    assert!(m.contains("status=\"4xx\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_json_token_service() {
    let s = server(Backend::Sqlite).await;
    let up = Upstream::start().await;
    add_service(&s, "orders", &up.url("/api"), &[]);
    let (id, secret) = consume(&s, "orders", "billing");
    let path = "/rest/pub.mediator.oauth2.getOAuth2AccessToken";
    let r = s
        .http
        .post(s.url(path))
        .header("accept", "application/json")
        .json(&json!({"client_id": id, "client_secret": secret, "scope": "orders"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "orders");
    let at = t["access_token"].as_str().unwrap();
    eventually(&s, "/gateway/orders/x", Some(at), 200).await;
    // Without a scope: the client's registered scopes.
    let r = s
        .http
        .post(s.url(path))
        .json(&json!({"client_id": id, "client_secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Wrong secret: RFC 6749 invalid_client (the seed said invalid_request).
    let r = s
        .http
        .post(s.url(path))
        .json(&json!({"client_id": id, "client_secret": "wrong"}))
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error(), "invalid_client");
    // Not JSON, bad JSON, wrong method.
    let r = s
        .http
        .post(s.url(path))
        .form(&[("client_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer(r).await.status, 400);
    let r = s
        .http
        .post(s.url(path))
        .header("content-type", "application/json")
        .body("{\"client_id\": 1}")
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error(), "invalid_request");
    let r = s.http.get(s.url(path)).send().await.unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "POST");
}
