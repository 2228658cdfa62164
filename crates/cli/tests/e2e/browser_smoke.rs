//! The browser plumbing itself: real headless Chromium fills in and submits
//! a form whose action is a real local redirect endpoint.
use std::time::Duration;

use serde_json::json;

use crate::browser::Browser;
use crate::redirect_catcher::Catcher;

const FORM_TITLE: &str = "Smoke form";

fn form_page(action: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><title>{FORM_TITLE}</title><link rel="icon" href="data:,"></head>
<body>
  <h1 id="heading">Sign in</h1>
  <form id="login" method="get" action="{action}">
    <input type="hidden" name="state" value="s-123">
    <label>Name <input id="name" name="name" type="text"></label>
    <button type="button" id="decoy" onclick="document.title = 'decoy clicked'">Not this</button>
    <button type="submit" id="go">Continue</button>
  </form>
</body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_submits_a_form_to_a_real_redirect_endpoint() {
    let catcher = Catcher::start().await;
    let callback = catcher.url("/cb");
    catcher.page("/form", &form_page(&callback));

    let browser = Browser::start().await;
    browser.goto(&catcher.url("/form")).await;
    assert_eq!(browser.title().await, FORM_TITLE);
    assert_eq!(browser.current_url().await, catcher.url("/form"));
    assert!(browser.page_source().await.contains(r#"id="login""#));
    assert_eq!(browser.find("#heading").await.text().await, "Sign in");
    assert!(browser.try_find("#no-such-thing").await.is_none());
    assert_eq!(
        browser.find("#go").await.attr("type").await.as_deref(),
        Some("submit")
    );
    assert_eq!(browser.find("#go").await.attr("disabled").await, None);

    // Typing appends; clear empties; the live value is what was typed,
    // characters that need escaping in a query included.
    let name = browser.find("#name").await;
    name.type_text("first").await;
    name.clear().await;
    let typed = "Ada Lovelace & co/ü?=%";
    name.type_text(typed).await;
    assert_eq!(name.value().await, typed);

    // Scripts and cookies, on the catcher's origin.
    let got = browser
        .execute(
            "document.cookie = 'smoke=' + arguments[0] + '; path=/'; return document.title;",
            &[json!("yes")],
        )
        .await;
    assert_eq!(got, json!(FORM_TITLE));
    let cookies = browser.cookies().await;
    assert!(
        cookies
            .iter()
            .any(|c| c["name"] == "smoke" && c["value"] == "yes"),
        "{cookies:?}"
    );
    browser.delete_cookies().await;
    assert_eq!(browser.cookies().await, Vec::<serde_json::Value>::new());

    // Nothing has reached the redirect endpoint yet: the form page is served,
    // not recorded.
    assert!(catcher.requests().is_empty(), "{:?}", catcher.requests());

    browser.submit("#login").await;

    let received = catcher.wait_for_request(Duration::from_secs(60)).await;
    assert_eq!(received.path(), "/cb");
    let query: Vec<(String, String)> = received.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        vec![
            ("state".to_owned(), "s-123".to_owned()),
            ("name".to_owned(), typed.to_owned()),
        ]
    );

    // The browser is on the redirect endpoint's page, at the very URL the
    // endpoint received (the decoy button was not the one clicked).
    let url = browser
        .wait_for_url(|u| u.starts_with(&callback), Duration::from_secs(60))
        .await;
    assert_eq!(url, received.as_str());
    assert_eq!(browser.title().await, "received");
    assert_eq!(browser.find("#received").await.text().await, "received");
    assert!(browser.page_source().await.contains("received"));
    assert_eq!(catcher.requests(), vec![received]);
}
