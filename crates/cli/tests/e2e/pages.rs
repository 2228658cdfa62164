//! The login and consent pages in real headless Chromium: sign in, approve,
//! receive the code at a real local redirect endpoint, exchange it, refresh,
//! revoke; consent remembered, withdrawn by the user, and denied.
use std::time::Duration;

use serde_json::Value;
use tollgate_jose::secrets::pkce_s256;

use crate::authcode::{PASSWORD, VERIFIER, add_user};
use crate::browser::Browser;
use crate::harness::{Backend, Server};
use crate::redirect_catcher::Catcher;

const WAIT: Duration = Duration::from_secs(30);

fn authorize_url(s: &Server, redirect: &str, state: &str) -> String {
    let mut u = reqwest::Url::parse(&s.url("/oauth2/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "shop")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "orders profile")
        .append_pair("state", state)
        .append_pair("code_challenge", &pkce_s256(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    u.to_string()
}

fn param(u: &reqwest::Url, name: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn exchange(s: &Server, secret: &str, code: &str, redirect: &str) -> Value {
    let r = s
        .post_form(
            "/oauth2/token",
            Some(("shop", secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_consent_code_refresh_revoke_in_chromium() {
    let s = Server::start_with(
        Backend::Sqlite,
        &[("TOLLGATE_UI__SCOPE_DESCRIPTIONS__ORDERS", "See your orders")],
        &[],
    )
    .await;
    add_user(&s, "bob");
    let catcher = Catcher::start().await;
    let redirect = catcher.url("/cb");
    let (_, secret) = s.add_client(
        "Shop",
        &[
            "--id",
            "shop",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            &redirect,
            "--scope",
            "orders profile",
        ],
    );
    let browser = Browser::start().await;

    // 1. Not signed in: the authorization request leads to the login page.
    browser.goto(&authorize_url(&s, &redirect, "st-1")).await;
    browser
        .wait_for_url(|u| u.contains("/oauth2/login"), WAIT)
        .await;
    assert!(
        browser.page_source().await.contains("Shop"),
        "names the client"
    );
    browser
        .find("input[name=username]")
        .await
        .type_text("bob")
        .await;
    browser
        .find("input[name=password]")
        .await
        .type_text(PASSWORD)
        .await;
    browser.find("button[type=submit]").await.click().await;

    // 2. The consent page lists the scopes with their descriptions.
    let allow = browser.find("button[name=decision][value=allow]").await;
    let page = browser.page_source().await;
    assert!(page.contains("See your orders"), "{page}");
    assert!(page.contains("profile"));
    allow.click().await;

    // 3. The code arrives at the client's real redirect endpoint.
    let back = catcher.wait_for_request(WAIT).await;
    assert_eq!(back.path(), "/cb");
    assert_eq!(param(&back, "state").as_deref(), Some("st-1"));
    assert_eq!(param(&back, "iss"), Some(s.url("")));
    let code = param(&back, "code").expect("a code");

    // 4. Exchange, refresh, revoke, and introspection follows.
    let tok = exchange(&s, &secret, &code, &redirect).await;
    assert_eq!(tok["scope"], "orders profile");
    let refreshed: Value = s
        .post_form(
            "/oauth2/token",
            Some(("shop", &secret)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tok["refresh_token"].as_str().unwrap()),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let access = refreshed["access_token"].as_str().unwrap();
    let info = s.introspect(("shop", &secret), access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["username"], "bob");
    let r = s
        .post_form(
            "/oauth2/revoke",
            Some(("shop", &secret)),
            &[("token", access)],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.introspect(("shop", &secret), access).await["active"],
        false
    );

    // 5. Signed in and consent remembered: straight back with a new code.
    browser.goto(&authorize_url(&s, &redirect, "st-2")).await;
    let back = catcher.wait_for_request(WAIT).await;
    assert_eq!(param(&back, "state").as_deref(), Some("st-2"));
    let tok2 = exchange(&s, &secret, &param(&back, "code").unwrap(), &redirect).await;
    let access2 = tok2["access_token"].as_str().unwrap();
    assert_eq!(
        s.introspect(("shop", &secret), access2).await["active"],
        true
    );

    // 6. The user withdraws the consent on their authorizations page.
    browser.goto(&s.url("/oauth2/consents")).await;
    browser
        .find("table button[type=submit]")
        .await
        .click()
        .await;
    browser
        .wait_for_url(|u| u.contains("revoked=shop"), WAIT)
        .await;
    let page = browser.page_source().await;
    assert!(page.contains("You have not authorized any application"));
    // The notice names the application as people know it, not its client id.
    assert!(page.contains("Access for Shop was revoked."), "{page}");
    assert_eq!(
        s.introspect(("shop", &secret), access2).await["active"],
        false,
        "withdrawing consent revokes the tokens"
    );

    // 7. Asked again, and this time denied: access_denied with the state.
    browser.goto(&authorize_url(&s, &redirect, "st-3")).await;
    browser
        .find("button[name=decision][value=deny]")
        .await
        .click()
        .await;
    let back = catcher.wait_for_request(WAIT).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back, "state").as_deref(), Some("st-3"));
    assert!(param(&back, "code").is_none());

    // 8. An unregistered redirect URI: an error page, no navigation away.
    let evil = "http://localhost:9/evil";
    browser.goto(&authorize_url(&s, evil, "st-4")).await;
    let page = browser.page_source().await;
    assert!(page.contains("does not match"), "{page}");
    assert!(
        browser
            .current_url()
            .await
            .starts_with(&s.url("/oauth2/authorize"))
    );
    assert_eq!(
        catcher.requests().len(),
        3,
        "nothing more reached the client"
    );
}

/// `ui.templates_dir` replaces a built-in page; the others stay, and the
/// names scripts rely on are the operator's to keep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_template_replaces_the_login_page() {
    let dir = std::env::temp_dir().join(format!("tollgate-e2e-tpl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("login.html"),
        r#"<html><body><h1>ACME sign-in</h1><form method="post" action="{{ action }}">
<input type="hidden" name="csrf_token" value="{{ csrf_token }}">
<input type="hidden" name="continue" value="{{ continue }}">
<input name="username"><input type="password" name="password"><button type="submit">Go</button>
</form></body></html>"#,
    )
    .unwrap();
    let s = Server::start_with(
        Backend::Sqlite,
        &[("TOLLGATE_UI__TEMPLATES_DIR", dir.to_str().unwrap())],
        &[],
    )
    .await;
    let r = s.http.get(s.url("/oauth2/login")).send().await.unwrap();
    assert_eq!(r.headers()["x-frame-options"], "DENY", "headers stay");
    let html = r.text().await.unwrap();
    assert!(html.contains("ACME sign-in"), "{html}");
    assert!(html.contains("name=\"csrf_token\""));
    let r = s
        .http
        .get(s.url("/oauth2/authorize?client_id=nobody"))
        .send()
        .await
        .unwrap();
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("This request cannot be completed"),
        "built-in error page"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
