//! RFC 7591 registration behind an initial access token, RFC 7592 management.
use serde_json::{Value, json};

use crate::harness::{Backend, Server};

crate::on_both_backends!(
    register_read_update_delete,
    registration_refuses_hostile_metadata
);

async fn register(s: &Server, iat: Option<&str>, body: &Value) -> (u16, Value) {
    let mut r = s.http.post(s.url("/oauth2/register")).json(body);
    if let Some(t) = iat {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn register_read_update_delete(b: Backend) {
    let s = Server::start(b).await;
    let iat = s.cli_json(&["registration-token", "create", "--max-uses", "2"]);
    let iat = iat["token"].as_str().unwrap().to_owned();
    let body = json!({
        "client_name": "Registered app",
        "grant_types": ["client_credentials"],
        "scope": "read",
        "contacts": ["ops@example.com"],
        "client_uri": "https://app.example.com",
        "something_unknown": {"ignored": true},
    });
    let (st, _) = register(&s, None, &body).await;
    assert_eq!(st, 401, "an initial access token is required");
    let (st, v) = register(&s, Some("wrong"), &body).await;
    assert_eq!((st, v["error"].as_str()), (401, Some("invalid_token")));
    let (st, reg) = register(&s, Some(&iat), &body).await;
    assert_eq!(st, 201, "{reg}");
    let id = reg["client_id"].as_str().unwrap();
    let secret = reg["client_secret"].as_str().unwrap();
    assert_eq!(reg["client_secret_expires_at"], 0);
    assert_eq!(reg["contacts"], json!(["ops@example.com"]));
    assert!(reg.get("something_unknown").is_none());
    // The registered client works.
    let t = s.token(id, secret, None).await;
    assert_eq!(t["scope"], "read");

    // RFC 7592 read, update, delete with the registration access token.
    let rat = reg["registration_access_token"].as_str().unwrap();
    let uri = reg["registration_client_uri"].as_str().unwrap();
    assert_eq!(uri, s.url(&format!("/oauth2/register/{id}")));
    let r = s.http.get(uri).bearer_auth(rat).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["client_name"],
        "Registered app"
    );
    let r = s.http.get(uri).bearer_auth("not-it").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .http
        .put(uri)
        .bearer_auth(rat)
        .json(&json!({"client_id": id, "client_name": "Renamed", "grant_types": ["client_credentials"], "scope": "read write"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["client_name"].as_str(), v["scope"].as_str()),
        (Some("Renamed"), Some("read write"))
    );
    let r = s
        .http
        .put(uri)
        .bearer_auth(rat)
        .json(&json!({"client_id": "other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );
    let t = s.token(id, secret, Some("write")).await;
    assert_eq!(t["scope"], "write", "the secret survives an update");
    let r = s.http.delete(uri).bearer_auth(rat).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = s.http.get(uri).bearer_auth(rat).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // max_uses=2: one use left, then refused.
    let (st, _) = register(
        &s,
        Some(&iat),
        &json!({"grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(st, 201);
    let (st, v) = register(
        &s,
        Some(&iat),
        &json!({"grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!((st, v["error"].as_str()), (401, Some("invalid_token")));
}

async fn registration_refuses_hostile_metadata(b: Backend) {
    let s = Server::start(b).await;
    let iat = s.cli_json(&["registration-token", "create"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["data:text/html,x"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://evil.example.com/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example.com/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://*.example.com/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["/relative"]}),
            "invalid_redirect_uri",
        ),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"grant_types": ["client_credentials"], "jwks_uri": "https://127.0.0.1/jwks"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "jwks_uri": "https://169.254.169.254/latest/meta-data"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "jwks_uri": "https://192.168.1.1/jwks"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "jwks_uri": "http://keys.example.com/jwks"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "scope": "tollgate:admin"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["password"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": "client_credentials"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "client_name": ["x"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "tls_client_auth"}),
            "invalid_client_metadata",
        ),
        (json!([1, 2]), "invalid_client_metadata"),
    ];
    for (body, error) in cases {
        let (st, v) = register(&s, Some(&iat), &body).await;
        assert_eq!((st, v["error"].as_str()), (400, Some(error)), "{body}: {v}");
    }
    // Native-app redirect URIs are allowed: loopback http and private-use schemes.
    let ok = json!({"redirect_uris": ["http://127.0.0.1:8765/cb", "com.example.app:/oauth2redirect"], "token_endpoint_auth_method": "none"});
    let (st, v) = register(&s, Some(&iat), &ok).await;
    assert_eq!(st, 201, "{v}");
    assert!(
        v.get("client_secret").is_none(),
        "public clients get no secret"
    );
    // Not JSON at all.
    let r = s
        .http
        .post(s.url("/oauth2/register"))
        .bearer_auth(&iat)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );
}
