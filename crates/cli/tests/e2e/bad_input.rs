//! Hostile and malformed requests: each gets its RFC error code and status as
//! JSON, is counted in the audit log, and none is a 500.
use serde_json::Value;

use crate::harness::{Backend, Server};

crate::on_both_backends!(
    token_endpoint_bad_input,
    unknown_paths_and_methods,
    page_endpoints_bad_input
);

struct Case {
    name: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    auth: Option<(String, String)>,
    status: u16,
    error: &'static str,
}

async fn token_endpoint_bad_input(b: Backend) {
    let s = Server::start(b).await;
    let (id, secret) = s.add_client("victim", &["--scope", "read"]);
    let (dis, dis_secret) = s.add_client("disabled-one", &["--scope", "read"]);
    s.cli_json(&["client", "disable", &dis]);
    let (cc_only, cc_secret) = s.add_client("no-refresh", &["--scope", "read"]);
    let form = "application/x-www-form-urlencoded";
    let good = Some((id.clone(), secret.clone()));
    let cases = vec![
        Case {
            name: "missing grant_type",
            content_type: Some(form),
            body: b"scope=read".to_vec(),
            auth: good.clone(),
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "unknown grant_type",
            content_type: Some(form),
            body: b"grant_type=magic".to_vec(),
            auth: good.clone(),
            status: 400,
            error: "unsupported_grant_type",
        },
        Case {
            name: "repeated parameter",
            content_type: Some(form),
            body: b"grant_type=client_credentials&scope=read&scope=read".to_vec(),
            auth: good.clone(),
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "JSON body",
            content_type: Some("application/json"),
            body: br#"{"grant_type":"client_credentials"}"#.to_vec(),
            auth: good.clone(),
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "no content type",
            content_type: None,
            body: b"grant_type=client_credentials".to_vec(),
            auth: good.clone(),
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "latin-1 charset",
            content_type: Some("application/x-www-form-urlencoded; charset=ISO-8859-1"),
            body: b"grant_type=client_credentials".to_vec(),
            auth: good.clone(),
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "body over 64 KiB",
            content_type: Some(form),
            body: [
                b"grant_type=client_credentials&x=".as_slice(),
                &vec![b'a'; 70_000],
            ]
            .concat(),
            auth: good.clone(),
            status: 413,
            error: "invalid_request",
        },
        Case {
            name: "invalid UTF-8",
            content_type: Some(form),
            body: b"grant_type=client_credentials&scope=\xff\xfe".to_vec(),
            auth: good.clone(),
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "invalid UTF-8 percent-encoded",
            content_type: Some(form),
            body: b"grant_type=client_credentials&scope=%ff".to_vec(),
            auth: good.clone(),
            status: 400,
            error: "invalid_request",
        },
        Case {
            name: "wrong secret",
            content_type: Some(form),
            body: b"grant_type=client_credentials".to_vec(),
            auth: Some((id.clone(), "wrong".into())),
            status: 401,
            error: "invalid_client",
        },
        Case {
            name: "unknown client",
            content_type: Some(form),
            body: b"grant_type=client_credentials".to_vec(),
            auth: Some(("nobody".into(), "x".into())),
            status: 401,
            error: "invalid_client",
        },
        Case {
            name: "no client authentication",
            content_type: Some(form),
            body: b"grant_type=client_credentials".to_vec(),
            auth: None,
            status: 401,
            error: "invalid_client",
        },
        Case {
            name: "disabled client",
            content_type: Some(form),
            body: b"grant_type=client_credentials".to_vec(),
            auth: Some((dis.clone(), dis_secret.clone())),
            status: 401,
            error: "invalid_client",
        },
        Case {
            name: "grant not allowed",
            content_type: Some(form),
            body: b"grant_type=refresh_token&refresh_token=abc".to_vec(),
            auth: Some((cc_only.clone(), cc_secret.clone())),
            status: 400,
            error: "unauthorized_client",
        },
        Case {
            name: "client_id with a colon",
            content_type: Some(form),
            body: b"grant_type=client_credentials&client_id=a:b&client_secret=x".to_vec(),
            auth: None,
            status: 401,
            error: "invalid_client",
        },
        Case {
            name: "invalid scope characters",
            content_type: Some(form),
            body: b"grant_type=client_credentials&scope=a%22b".to_vec(),
            auth: good.clone(),
            status: 400,
            error: "invalid_scope",
        },
    ];
    let n = cases.len();
    for c in cases {
        let mut r = s.http.post(s.url("/oauth2/token")).body(c.body);
        if let Some(ct) = c.content_type {
            r = r.header("content-type", ct);
        }
        if let Some((u, p)) = &c.auth {
            r = r.basic_auth(u, Some(p));
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let www = r.headers().get("www-authenticate").cloned();
        let v: Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("{}: body is not JSON: {e}", c.name));
        assert_eq!(
            (status, v["error"].as_str()),
            (c.status, Some(c.error)),
            "{}: {v}",
            c.name
        );
        assert!(
            v["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{}",
            c.name
        );
        if c.error == "invalid_client" {
            assert!(www.is_some(), "{}: 401 needs WWW-Authenticate", c.name);
        }
    }
    // Malformed Basic headers are malformed requests (400, never a 429);
    // another scheme is an unsupported authentication method (401).
    for (h, status, error) in [
        ("Basic !!!", 400, "invalid_request"),
        ("Basic", 400, "invalid_request"),
        ("Basic Zm9v", 400, "invalid_request"),
        ("Basic /w==", 400, "invalid_request"),
        ("Bearer abc", 401, "invalid_client"),
    ] {
        let r = s
            .http
            .post(s.url("/oauth2/token"))
            .header("authorization", h)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{h}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], error, "{h}");
    }
    // Every rejection is in the audit log.
    let events = s.audit_events("token.rejected", n + 5).await;
    assert!(events.len() >= n + 5);
    assert!(
        events
            .iter()
            .any(|e| e["outcome"] == "invalid_client" && e["client_id"] == id)
    );
    assert!(
        events
            .iter()
            .any(|e| e["outcome"] == "unauthorized_client" && e["client_id"] == cc_only)
    );
    let rendered = serde_json::to_string(&events).unwrap();
    assert!(!rendered.contains(&secret), "no secret in the audit log");
    // Failures are never logged with the secret either.
    let log = std::fs::read_to_string(s.dir.join("server.log")).unwrap_or_default();
    assert!(!log.contains(&secret));
}

async fn unknown_paths_and_methods(b: Backend) {
    let s = Server::start(b).await;
    let r = s.http.get(s.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    for path in ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"] {
        let r = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 405, "{path}");
        assert!(r.json::<Value>().await.is_ok());
    }
    let r = s
        .post_form(
            "/oauth2/introspect",
            Some(("nobody", "x")),
            &[("token", "t")],
        )
        .await;
    assert_eq!(r.status(), 401);
    let (id, secret) = s.add_client("caller", &[]);
    let r = s
        .post_form("/oauth2/introspect", Some((&id, &secret)), &[])
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = s
        .post_form("/oauth2/revoke", Some((&id, &secret)), &[])
        .await;
    assert_eq!(r.status(), 400);
    let r = s.http.get(s.url("/oauth2/tokeninfo")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// The authorization endpoint and the pages: malformed and hostile input is
/// a 4xx page (or a redirect back to a verified client), never a 500, and
/// never a redirect to a URI the client did not register.
async fn page_endpoints_bad_input(b: Backend) {
    let s = Server::start(b).await;
    s.add_client(
        "web",
        &[
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "https://app.example/cb",
            "--scope",
            "read",
        ],
    );
    let http = crate::authcode::no_redirects();
    let long = "a".repeat(5000);
    let gets = [
        ("/oauth2/authorize", 400),
        ("/oauth2/authorize?client_id=web&client_id=web", 400),
        ("/oauth2/authorize?client_id=%FF%FE", 400),
        ("/oauth2/authorize?client_id=no%20such", 400),
        (
            "/oauth2/authorize?client_id=web&redirect_uri=javascript:alert(1)",
            400,
        ),
        (
            "/oauth2/authorize?client_id=web&redirect_uri=https://app.example/cb%0d%0aX:1",
            400,
        ),
        (
            "/oauth2/authorize?client_id=web&response_type=code&state=%00%01",
            302,
        ),
        ("/oauth2/login?continue=https://evil.example/", 200),
        ("/oauth2/login?continue=%FF", 200),
        ("/oauth2/consents", 302),
    ];
    for (path, want) in gets {
        let r = http.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), want, "GET {path}");
        if let Some(l) = r.headers().get("location") {
            let l = l.to_str().unwrap();
            assert!(
                l.starts_with("https://app.example/cb?") || l.starts_with("/oauth2/login"),
                "GET {path} redirected to {l}"
            );
        }
    }
    let state = format!("/oauth2/authorize?client_id=web&response_type=code&state={long}");
    let r = http.get(s.url(&state)).send().await.unwrap();
    assert_eq!(
        r.status(),
        400,
        "an overlong state is not echoed into a redirect"
    );
    let posts: [(&str, &[u8], u16); 7] = [
        ("/oauth2/login", b"", 403),
        (
            "/oauth2/login",
            b"username=%FF&password=x&csrf_token=y",
            400,
        ),
        ("/oauth2/login", b"username=a&username=b", 400),
        ("/oauth2/consent", b"", 400),
        (
            "/oauth2/consent",
            b"request=client_id%3Dweb&decision=allow&csrf_token=x",
            302,
        ),
        ("/oauth2/consents/revoke", b"client_id=web", 303),
        ("/oauth2/logout", b"", 303),
    ];
    for (path, body, want) in posts {
        let r = http
            .post(s.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            want,
            "POST {path} {}",
            String::from_utf8_lossy(body)
        );
    }
}
