//! The admin REST API: bootstrap credentials, bearer protection, client
//! management end to end, registration tokens, keys, audit, the OpenAPI
//! document, and schemathesis run against that document.
use serde_json::{Value, json};

use crate::harness::{Backend, Server};

crate::on_both_backends!(
    admin_manages_clients_end_to_end,
    admin_manages_tokens_keys_and_audit
);

/// The bootstrap credentials file, checked to be private.
fn admin_credentials(s: &Server) -> (String, String) {
    let path = s.dir.join("data").join("admin-client.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the credentials file must be private");
    }
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["scope"], "tollgate:admin");
    (
        v["client_id"].as_str().unwrap().to_owned(),
        v["client_secret"].as_str().unwrap().to_owned(),
    )
}

pub async fn admin_token(s: &Server) -> String {
    let (id, secret) = admin_credentials(s);
    let t = s.token(&id, &secret, Some("tollgate:admin")).await;
    t["access_token"].as_str().unwrap().to_owned()
}

pub(crate) struct Api<'a> {
    pub s: &'a Server,
    pub token: String,
}

impl Api<'_> {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .s
            .http
            .request(method, self.s.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, v)
    }
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

async fn token_status(s: &Server, id: &str, secret: &str) -> u16 {
    s.post_form(
        "/oauth2/token",
        Some((id, secret)),
        &[("grant_type", "client_credentials")],
    )
    .await
    .status()
    .as_u16()
}

async fn admin_manages_clients_end_to_end(b: Backend) {
    let s = Server::start(b).await;
    assert!(
        s.stdout.iter().any(|l| l.contains("admin-client.json")),
        "the first start says where the admin credentials are: {:?}",
        s.stdout
    );

    // Without a token, with a bad one, and with one lacking the scope.
    let r = s.http.get(s.url("/admin/v1/clients")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        !challenge.contains("error="),
        "RFC 6750 §3: no error without a token"
    );
    let r = s
        .http
        .get(s.url("/admin/v1/clients"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let (id, secret) = s.add_client("plain", &["--scope", "read"]);
    let plain = s.token(&id, &secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .http
        .get(s.url("/admin/v1/clients"))
        .bearer_auth(&plain)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "insufficient_scope"
    );

    let api = Api {
        token: admin_token(&s).await,
        s: &s,
    };

    // Create.
    let (st, c) = api
        .post(
            "/admin/v1/clients",
            json!({
                "client_id": "billing",
                "client_name": "Billing",
                "scope": "orders.read orders.write",
                "metadata": {"Department": "Finance"},
                "token_settings": {"access_token_ttl": 600},
            }),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["client_id"], "billing");
    assert_eq!(c["token_settings"]["access_token_ttl"], 600);
    let secret1 = c["client_secret"].as_str().unwrap().to_owned();
    let t = s.token("billing", &secret1, Some("orders.read")).await;
    assert_eq!(t["expires_in"], 600);
    assert_eq!(
        s.introspect(("billing", &secret1), t["access_token"].as_str().unwrap())
            .await["Department"],
        "Finance"
    );

    // A taken id, invalid fields (each named), bad bodies.
    let (st, e) = api
        .post(
            "/admin/v1/clients",
            json!({"client_id": "billing", "client_name": "x"}),
        )
        .await;
    assert_eq!((st, e["error"].as_str()), (409, Some("conflict")));
    for (body, field) in [
        (
            json!({"client_name": "x", "token_settings": {"access_token_ttl": 0}}),
            Some("token_settings.access_token_ttl"),
        ),
        (
            json!({"client_name": "x", "client_type": "weird"}),
            Some("client_type"),
        ),
        (
            json!({"client_name": "x", "redirect_uris": ["http://example.com/cb#frag"]}),
            Some("redirect_uris"),
        ),
        (
            json!({"client_name": "x", "scope": "bad\"scope"}),
            Some("scope"),
        ),
        // Unknown fields are refused (serde names no path for them).
        (json!({"client_name": "x", "colour": "red"}), None),
    ] {
        let (st, e) = api.post("/admin/v1/clients", body.clone()).await;
        assert_eq!(st, 400, "{body} -> {e}");
        if field.is_some() {
            assert_eq!(e["field"].as_str(), field, "{body} -> {e}");
        }
    }
    let (st, _) = api.post("/admin/v1/clients", json!({})).await;
    assert_eq!(st, 400, "client_name is required");
    let r = s
        .http
        .post(s.url("/admin/v1/clients"))
        .bearer_auth(&api.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = s
        .http
        .post(s.url("/admin/v1/clients"))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("{\"client_name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let big = json!({"client_name": "x", "metadata": {"k": "v".repeat(70 * 1024)}});
    let (st, e) = api.post("/admin/v1/clients", big).await;
    assert_eq!(
        (st, e["error"].as_str()),
        (413, Some("invalid_request")),
        "{e}"
    );

    // Read and list with paging.
    let (st, c) = api.get("/admin/v1/clients/billing").await;
    assert_eq!(st, 200);
    assert!(
        c.get("client_secret").is_none(),
        "the secret is shown only once"
    );
    assert_eq!(api.get("/admin/v1/clients/nobody").await.0, 404);
    let (st, page) = api.get("/admin/v1/clients?limit=1").await;
    assert_eq!(st, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let after = page["next_after"].as_str().unwrap().to_owned();
    let (_, page2) = api
        .get(&format!("/admin/v1/clients?limit=1&after={after}"))
        .await;
    assert_ne!(
        page2["items"][0]["client_id"],
        page["items"][0]["client_id"]
    );
    let (_, all) = api.get("/admin/v1/clients").await;
    let ids: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"billing") && ids.contains(&"tollgate-admin"),
        "{ids:?}"
    );
    let (st, e) = api.get("/admin/v1/clients?limit=0").await;
    assert_eq!((st, e["field"].as_str()), (400, Some("limit")));
    let (st, e) = api.get("/admin/v1/clients?limit=abc").await;
    assert_eq!((st, e["field"].as_str()), (400, Some("limit")));

    // Update: scopes and metadata replaced, other fields kept.
    let (st, c) = api
        .patch(
            "/admin/v1/clients/billing",
            json!({"scope": "orders.read", "metadata": {}}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["scope"], "orders.read");
    assert_eq!(c["client_name"], "Billing");
    let t = s.token("billing", &secret1, None).await;
    assert_eq!(t["scope"], "orders.read");
    let (st, e) = api
        .patch("/admin/v1/clients/billing", json!({"grant_types": []}))
        .await;
    assert_eq!((st, e["field"].as_str()), (400, Some("grant_types")), "{e}");
    assert_eq!(
        api.patch("/admin/v1/clients/nobody", json!({"enabled": false}))
            .await
            .0,
        404
    );

    // Disable and enable.
    let (st, _) = api
        .patch("/admin/v1/clients/billing", json!({"enabled": false}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(token_status(&s, "billing", &secret1).await, 401);
    api.patch("/admin/v1/clients/billing", json!({"enabled": true}))
        .await;
    assert_eq!(token_status(&s, "billing", &secret1).await, 200);

    // Rotation keeps the old secret for the grace period; revoking it ends it now.
    let (st, c) = api
        .post(
            "/admin/v1/clients/billing/secrets?grace_secs=3600",
            json!(null),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    let secret2 = c["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(c["secrets"].as_array().unwrap().len(), 2);
    assert_eq!(token_status(&s, "billing", &secret1).await, 200);
    assert_eq!(token_status(&s, "billing", &secret2).await, 200);
    let old_id = c["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x.get("expires_at").is_some())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_id = c["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x.get("expires_at").is_none())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.delete(&format!("/admin/v1/clients/billing/secrets/{old_id}"))
            .await
            .0,
        204
    );
    assert_eq!(token_status(&s, "billing", &secret1).await, 401);
    assert_eq!(token_status(&s, "billing", &secret2).await, 200);
    let (st, e) = api
        .delete(&format!("/admin/v1/clients/billing/secrets/{new_id}"))
        .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (409, Some("conflict")),
        "the last secret stays"
    );
    assert_eq!(
        api.delete("/admin/v1/clients/billing/secrets/nope").await.0,
        404
    );
    let (st, e) = api
        .post(
            "/admin/v1/clients/billing/secrets?grace_secs=-1",
            json!(null),
        )
        .await;
    assert_eq!((st, e["field"].as_str()), (400, Some("grace_secs")));

    // An admin cannot lock itself out.
    for body in [json!({"enabled": false}), json!({"scope": "read"})] {
        let (st, e) = api.patch("/admin/v1/clients/tollgate-admin", body).await;
        assert_eq!((st, e["error"].as_str()), (409, Some("conflict")), "{e}");
    }
    assert_eq!(api.delete("/admin/v1/clients/tollgate-admin").await.0, 409);

    // Delete: its tokens stop working.
    assert_eq!(api.delete("/admin/v1/clients/billing").await.0, 204);
    assert_eq!(api.get("/admin/v1/clients/billing").await.0, 404);
    assert_eq!(api.delete("/admin/v1/clients/billing").await.0, 404);
    assert_eq!(token_status(&s, "billing", &secret2).await, 401);

    // A restart does not create a second admin client or rotate its secret.
    let mut s = s;
    s.restart();
    assert!(!s.stdout.iter().any(|l| l.contains("admin-client.json")));
    admin_token(&s).await;
}

async fn admin_manages_tokens_keys_and_audit(b: Backend) {
    let s = Server::start(b).await;
    let api = Api {
        token: admin_token(&s).await,
        s: &s,
    };

    // Initial access tokens.
    let (st, t) = api
        .post(
            "/admin/v1/registration-tokens",
            json!({"description": "ci", "max_uses": 1}),
        )
        .await;
    assert_eq!(st, 201, "{t}");
    let iat = t["token"].as_str().unwrap().to_owned();
    let id = t["id"].as_str().unwrap().to_owned();
    let (_, list) = api.get("/admin/v1/registration-tokens").await;
    let listed = &list["items"][0];
    assert_eq!(
        (listed["id"].as_str(), listed["uses"].as_u64()),
        (Some(id.as_str()), Some(0))
    );
    assert!(
        listed.get("token").is_none(),
        "listings never show the value"
    );
    let (st, e) = api
        .post("/admin/v1/registration-tokens", json!({"max_uses": 0}))
        .await;
    assert_eq!((st, e["field"].as_str()), (400, Some("max_uses")));
    let (st, e) = api
        .post(
            "/admin/v1/registration-tokens",
            json!({"expires_in": 60, "never_expires": true}),
        )
        .await;
    assert_eq!((st, e["field"].as_str()), (400, Some("never_expires")));
    assert_eq!(
        api.delete(&format!("/admin/v1/registration-tokens/{id}"))
            .await
            .0,
        204
    );
    assert_eq!(
        api.delete("/admin/v1/registration-tokens/nope").await.0,
        404
    );
    let r = s
        .http
        .post(s.url("/oauth2/register"))
        .bearer_auth(&iat)
        .json(&json!({"client_name": "x", "grant_types": ["client_credentials"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "a revoked initial access token registers nothing"
    );

    // Keys: rotation publishes the new key at once and keeps the old one.
    let (_, keys) = api.get("/admin/v1/keys").await;
    assert_eq!(keys["items"].as_array().unwrap().len(), 1);
    let old = keys["items"][0]["kid"].as_str().unwrap().to_owned();
    assert!(
        keys["items"][0]["public_jwk"].get("d").is_none(),
        "never the private key"
    );
    let (st, k) = api.post("/admin/v1/keys/rotate", json!(null)).await;
    assert_eq!((st, k["status"].as_str()), (201, Some("active")));
    let jwks: Value = s.get_json("/oauth2/jwks").await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old.as_str()) && kids.contains(&k["kid"].as_str().unwrap()),
        "{kids:?}"
    );

    // Audit: filtered by event and client, paged, newest first.
    let (cid, _) = s.add_client("audited", &[]);
    for _ in 0..3 {
        assert_eq!(token_status(&s, &cid, "wrong-secret").await, 401);
    }
    s.audit_events("token.rejected", 3).await;
    let (st, page) = api
        .get(&format!(
            "/admin/v1/audit?event=token.rejected&client_id={cid}&limit=2"
        ))
        .await;
    assert_eq!(st, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0]["id"].as_i64() > items[1]["id"].as_i64());
    assert!(
        items
            .iter()
            .all(|e| e["client_id"] == cid.as_str() && e["outcome"] == "invalid_client")
    );
    let before = page["next_before_id"].as_i64().unwrap();
    let (_, rest) = api
        .get(&format!(
            "/admin/v1/audit?event=token.rejected&client_id={cid}&before_id={before}"
        ))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest.get("next_before_id").is_none());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (_, future) = api
        .get(&format!("/admin/v1/audit?since={}", now + 3600))
        .await;
    assert_eq!(future["items"], json!([]));
    // Changes made over the API are audited with the caller's id.
    let (_, changes) = api.get("/admin/v1/audit?event=admin.request").await;
    assert!(
        changes["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["client_id"] == "tollgate-admin"
                && e["detail"]["path"] == "/admin/v1/keys/rotate"),
        "{changes}"
    );
    let (st, e) = api.get("/admin/v1/audit?since=yesterday").await;
    assert_eq!((st, e["field"].as_str()), (400, Some("since")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_api() {
    let s = Server::start(Backend::Sqlite).await;
    let doc: Value = s.get_json("/admin/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/admin/v1/clients",
        "/admin/v1/clients/{client_id}",
        "/admin/v1/clients/{client_id}/secrets",
        "/admin/v1/clients/{client_id}/secrets/{secret_id}",
        "/admin/v1/registration-tokens",
        "/admin/v1/registration-tokens/{id}",
        "/admin/v1/keys",
        "/admin/v1/keys/rotate",
        "/admin/v1/audit",
        "/admin/v1/users",
        "/admin/v1/users/{user}",
        "/admin/v1/users/{user}/grants",
        "/admin/v1/users/{user}/grants/{client_id}",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "{p} is documented");
    }
    // OpenAPI 3.1 §4.8.10.1: operationId is unique in the document; tools
    // (schemathesis' inferred links among them) resolve operations by it.
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                assert!(
                    ids.insert(id.to_owned()),
                    "operationId {id} repeats at {method} {path}"
                );
            }
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["tokenUrl"],
        s.url("/oauth2/token")
    );
}

/// schemathesis (PyPI) generates requests from the OpenAPI document, valid
/// and invalid, and checks every answer: no 5xx, a documented status code,
/// the documented content type and headers, a body matching the schema, and
/// 4xx for data the schema forbids. `positive_data_acceptance` is left out:
/// some rules span fields (a public client cannot use client_secret_basic)
/// or are not expressible in JSON Schema (redirect URI rules), so a
/// schema-valid body may rightly be refused with a 400 naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    let s = Server::start(Backend::Sqlite).await;
    let token = admin_token(&s).await;
    let report = s.dir.join("schemathesis");
    let out = std::process::Command::new("schemathesis")
        .args([
            "run",
            &s.url("/admin/openapi.json"),
            "--url",
            &s.base,
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection",
            "--max-examples",
            "60",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--workers",
            "2",
            "--no-color",
            "--report-dir",
        ])
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "")
        // It keeps a cache of what it found in its working directory: not the repository.
        .current_dir(&s.dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("schemathesis is needed for this test (pip install schemathesis; .ci/run installs it): {e}")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `admin.listen` moves the admin surface to its own listener: the public
/// one no longer serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_surface_can_have_its_own_listener() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let admin_addr = format!("127.0.0.1:{port}");
    let s = Server::start_with(
        Backend::Sqlite,
        &[("TOLLGATE_ADMIN__LISTEN", &admin_addr)],
        &[],
    )
    .await;
    assert!(
        s.stdout
            .iter()
            .any(|l| l == &format!("tollgate admin listening on http://{admin_addr}")),
        "{:?}",
        s.stdout
    );
    let token = admin_token(&s).await;
    let public = s
        .http
        .get(s.url("/admin/v1/clients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    assert_eq!(
        s.http
            .get(s.url("/admin/openapi.json"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let admin = s
        .http
        .get(format!("http://{admin_addr}/admin/v1/clients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    let r = s
        .http
        .get(format!("http://{admin_addr}/no-such-path"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
}

/// `/metrics` answers the Prometheus text to a `tollgate:metrics` token (a
/// scraper needs nothing more), and that token opens nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_metrics_scope() {
    let s = Server::start(Backend::Sqlite).await;
    let (id, secret) = s.add_client("prometheus", &["--scope", "tollgate:metrics"]);
    let scraper = s.token(&id, &secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(token_status(&s, &id, "wrong").await, 401);
    // No token: RFC 6750 §3.1 — a challenge without an error code, and a body that
    // names the scope the challenge names, not invalid_token.
    let r = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"tollgate-admin\", scope=\"tollgate:metrics\""
    );
    let body = r.json::<Value>().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("tollgate:metrics"), "{description}");
    let r = s
        .http
        .get(s.url("/metrics"))
        .bearer_auth(&scraper)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    for needle in [
        "tollgate_tokens_issued_total{grant_type=\"client_credentials\",client_id=\"prometheus\"}",
        "tollgate_oauth_errors_total{endpoint=\"token\",error=\"invalid_client\"}",
        "tollgate_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }
    let r = s
        .http
        .get(s.url("/admin/v1/clients"))
        .bearer_auth(&scraper)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let admin = admin_token(&s).await;
    let r = s
        .http
        .get(s.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the admin scope implies the metrics scope");
}
