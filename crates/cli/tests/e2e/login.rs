//! Signing in and consenting over HTTP: the login form's CSRF token and
//! lockout, the consent form, and the user's grants from the CLI. (The same
//! pages in a real browser: `pages.rs`.)
use serde_json::Value;
use tollgate_jose::secrets::pkce_s256;

use crate::authcode::{
    PASSWORD, VERIFIER, csrf_in, location, no_redirects, query_of, set_cookie, setup,
};
use crate::harness::Backend;

async fn wrong_passwords_lock_the_account(backend: Backend) {
    let t = setup(backend, &[]).await;
    let http = no_redirects();
    // The login form without (or with a foreign) CSRF token is refused.
    let r = http
        .post(t.s.url("/oauth2/login"))
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "tollgate_session").is_none());
    // Five wrong passwords, then even the right one is refused for a while.
    let page = http.get(t.s.url("/oauth2/login")).send().await.unwrap();
    let nonce = set_cookie(&page, "tollgate_session_csrf").unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    let attempt = |password: &'static str| {
        http.post(t.s.url("/oauth2/login"))
            .header("cookie", &nonce)
            .form(&[
                ("username", "alice"),
                ("password", password),
                ("csrf_token", csrf.as_str()),
            ])
            .send()
    };
    for _ in 0..5 {
        let r = attempt("wrong password!").await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Wrong username or password")
        );
    }
    let r = attempt(PASSWORD).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Too many failed sign-in attempts")
    );
    t.s.audit_events("user.login", 7).await;
}

async fn user_grants_are_listed_and_revoked_from_the_cli(backend: Backend) {
    // The CLI is another process: the server sees its revocation once its
    // token cache entry expires.
    let t = setup(backend, &[("TOLLGATE_CACHE__TOKEN_TTL_SECS", "1")]).await;
    let tok: Value = t
        .exchange(&t.code().await, Some(VERIFIER))
        .await
        .json()
        .await
        .unwrap();
    let access = tok["access_token"].as_str().unwrap();
    let g = t.s.cli_json(&["user", "grants", "alice"]);
    assert_eq!(g["user"]["username"], "alice");
    assert_eq!(g["grants"][0]["client_id"], "web");
    assert_eq!(g["grants"][0]["grant_type"], "authorization_code");
    let kinds: Vec<&str> = g["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_use"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"access_token") && kinds.contains(&"refresh_token"),
        "{g}"
    );
    assert!(
        !g.to_string().contains(access),
        "the overview never shows token values"
    );
    let r =
        t.s.cli_json(&["user", "revoke", "alice", "--client", "web"]);
    assert_eq!(r["tokens_revoked"], 2);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert!(!t.active(access).await);
    // A disabled user cannot sign in, and their sessions end.
    t.s.cli_json(&["user", "disable", "alice"]);
    let r = t
        .http
        .get(t.s.url("/oauth2/consents"))
        .header("cookie", &t.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "the session ended");
}

/// The hidden `request` field of a consent page (HTML-escaped by the template).
pub fn request_in(html: &str) -> String {
    let field = "name=\"request\" value=\"";
    let at = html.find(field).expect("a request field") + field.len();
    html[at..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
}

async fn consent_form_csrf_and_public_loopback_clients(backend: Backend) {
    let t = setup(backend, &[]).await;
    let challenge = pkce_s256(VERIFIER);
    let query = [
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", "http://127.0.0.1:4000/cb"),
        ("state", "c"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let ask = || t.authorize(&query);
    let page = ask().await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("form-action 'self' http://127.0.0.1:*"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    let (csrf, request) = (csrf_in(&html), request_in(&html));
    let decide = |token: String, decision: &'static str| {
        t.http
            .post(t.s.url("/oauth2/consent"))
            .header("cookie", &t.cookie)
            .form(&[
                ("csrf_token", token),
                ("request", request.clone()),
                ("decision", decision.to_owned()),
            ])
            .send()
    };
    // A forged or missing token is refused; nothing is redirected.
    let r = decide("forged".into(), "allow").await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("location").is_none());
    let r = decide(csrf.clone(), "allow").await.unwrap();
    assert_eq!(r.status(), 302);
    let back = query_of(&location(&r));
    assert_eq!(back["state"], "c");
    assert!(back.contains_key("code"));
    // A public client on a loopback redirect is asked again (RFC 8252 §8.6).
    assert_eq!(ask().await.status(), 200);
}

/// The session cookie carries the seed's settings (name, domain, path,
/// lifetime, Secure, HttpOnly) and SameSite=Lax.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_follows_the_settings() {
    let s = crate::harness::Server::start_with(
        Backend::Sqlite,
        &[
            ("TOLLGATE_LOGIN__COOKIE_NAME", "acme_sso"),
            ("TOLLGATE_LOGIN__COOKIE_DOMAIN", "localhost"),
            ("TOLLGATE_LOGIN__COOKIE_PATH", "/oauth2"),
            ("TOLLGATE_LOGIN__SESSION_LIFETIME_SECS", "900"),
            ("TOLLGATE_LOGIN__COOKIE_SECURE", "true"),
        ],
        &[],
    )
    .await;
    crate::authcode::add_user(&s, "carol");
    let http = no_redirects();
    let page = http.get(s.url("/oauth2/login")).send().await.unwrap();
    let nonce = set_cookie(&page, "acme_sso_csrf").expect("the form's nonce cookie");
    let csrf = csrf_in(&page.text().await.unwrap());
    let r = http
        .post(s.url("/oauth2/login"))
        .header("cookie", &nonce)
        .form(&[
            ("username", "carol"),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let full = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("acme_sso="))
        .expect("the session cookie");
    for attr in [
        "Path=/oauth2",
        "Max-Age=900",
        "Domain=localhost",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
    ] {
        assert!(
            full.split("; ").any(|a| a == attr),
            "{attr} missing in {full}"
        );
    }
}

crate::on_both_backends!(
    wrong_passwords_lock_the_account,
    user_grants_are_listed_and_revoked_from_the_cli,
    consent_form_csrf_and_public_loopback_clients,
);
