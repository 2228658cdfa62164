//! The user-facing grants over real HTTP: authorization code with PKCE,
//! login and consent, refresh rotation, implicit and password grants, and
//! the attacks each defence is for. The browser tests are in `pages.rs`.
use std::collections::HashMap;

use serde_json::Value;
use tollgate_jose::secrets::pkce_s256;

use crate::harness::{Backend, Server};

pub const PASSWORD: &str = "correct horse battery";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const REDIRECT: &str = "https://app.example/cb";

/// A client that does not follow redirects, so each hop can be inspected.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn add_user(s: &Server, name: &str) {
    let out = s.cli_with_stdin(
        &["user", "add", name, "--password-stdin"],
        PASSWORD.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of `name="csrf_token"` in a page.
pub fn csrf_in(html: &str) -> String {
    let field = "name=\"csrf_token\" value=\"";
    let at = html.find(field).expect("a CSRF field") + field.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// `name=value` of the first Set-Cookie named `name`.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// Signs in through the login form and returns the session cookie.
pub async fn login(s: &Server, http: &reqwest::Client, user: &str, password: &str) -> String {
    let page = http.get(s.url("/oauth2/login")).send().await.unwrap();
    let nonce = set_cookie(&page, "tollgate_session_csrf").expect("nonce cookie");
    let csrf = csrf_in(&page.text().await.unwrap());
    let r = http
        .post(s.url("/oauth2/login"))
        .header("cookie", &nonce)
        .form(&[
            ("username", user),
            ("password", password),
            ("csrf_token", &csrf),
            ("continue", "/oauth2/consents"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    set_cookie(&r, "tollgate_session").expect("session cookie")
}

pub fn query_of(url: &str) -> HashMap<String, String> {
    let u = reqwest::Url::parse(url).unwrap();
    u.query_pairs().into_owned().collect()
}

pub fn fragment_of(url: &str) -> HashMap<String, String> {
    let u = reqwest::Url::parse(url).unwrap();
    query_of(&format!("http://x/?{}", u.fragment().unwrap_or_default()))
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// A test server with user alice and two clients: `web` (confidential,
/// first-party: no consent) and `spa` (public, consent required).
pub struct Setup {
    pub s: Server,
    pub http: reqwest::Client,
    pub cookie: String,
    pub web_secret: String,
}

pub async fn setup(backend: Backend, env: &[(&str, &str)]) -> Setup {
    let s = Server::start_with(backend, env, &[]).await;
    add_user(&s, "alice");
    let (_, web_secret) = s.add_client(
        "web",
        &[
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "read write",
            "--skip-consent",
            "--code-ttl",
            "2",
        ],
    );
    s.add_client(
        "spa",
        &[
            "--public",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scope",
            "read write",
        ],
    );
    let http = no_redirects();
    let cookie = login(&s, &http, "alice", PASSWORD).await;
    Setup {
        s,
        http,
        cookie,
        web_secret,
    }
}

impl Setup {
    pub async fn authorize(&self, params: &[(&str, &str)]) -> reqwest::Response {
        let mut url = reqwest::Url::parse(&self.s.url("/oauth2/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        self.http
            .get(url)
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// A code for `web` with an S256 challenge of [`VERIFIER`].
    pub async fn code(&self) -> String {
        let challenge = pkce_s256(VERIFIER);
        let r = self
            .authorize(&[
                ("response_type", "code"),
                ("client_id", "web"),
                ("redirect_uri", REDIRECT),
                ("state", "st"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        assert_eq!(r.status(), 302, "{:?}", r.text().await);
        let q = query_of(&location(&r));
        assert_eq!(q["state"], "st");
        assert_eq!(q["iss"], self.s.url(""), "RFC 9207 iss");
        q["code"].clone()
    }

    pub async fn exchange(&self, code: &str, verifier: Option<&str>) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.s
            .post_form("/oauth2/token", Some(("web", &self.web_secret)), &form)
            .await
    }

    pub async fn refresh(&self, refresh: &str) -> reqwest::Response {
        self.s
            .post_form(
                "/oauth2/token",
                Some(("web", &self.web_secret)),
                &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            )
            .await
    }

    /// `n` identical token requests from `web`, all in flight at once.
    pub async fn token_requests_at_once(
        &self,
        form: &[(&str, &str)],
        n: usize,
    ) -> Vec<reqwest::Response> {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                tokio::spawn(
                    self.s
                        .http
                        .post(self.s.url("/oauth2/token"))
                        .basic_auth("web", Some(&self.web_secret))
                        .form(form)
                        .send(),
                )
            })
            .collect();
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap().unwrap());
        }
        out
    }

    pub async fn active(&self, token: &str) -> bool {
        self.s.introspect(("web", &self.web_secret), token).await["active"] == true
    }
}

pub async fn error_of(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (
        status,
        v["error"].as_str().unwrap_or_default().to_owned(),
        v["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}
async fn code_flow_with_pkce_refresh_and_revocation(backend: Backend) {
    let t = setup(backend, &[]).await;
    let code = t.code().await;
    let r = t.exchange(&code, Some(VERIFIER)).await;
    assert_eq!(r.status(), 200);
    let tok: Value = r.json().await.unwrap();
    let access = tok["access_token"].as_str().unwrap().to_owned();
    let refresh = tok["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(tok["scope"], "read write");
    let info = t.s.introspect(("web", &t.web_secret), &access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["username"], "alice");
    assert!(info["sub"].as_str().unwrap().len() >= 16, "the user id");

    // Refresh with scope narrowing (RFC 6749 §6), rotation on by default.
    let r =
        t.s.post_form(
            "/oauth2/token",
            Some(("web", &t.web_secret)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", "read"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let next: Value = r.json().await.unwrap();
    assert_eq!(next["scope"], "read");
    let refresh2 = next["refresh_token"].as_str().unwrap();
    assert_ne!(refresh2, refresh);
    assert!(!t.active(&refresh).await, "rotated out");
    // Widening on refresh is refused.
    let r =
        t.s.post_form(
            "/oauth2/token",
            Some(("web", &t.web_secret)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh2),
                ("scope", "read write admin"),
            ],
        )
        .await;
    assert_eq!(error_of(r).await.1, "invalid_scope");

    // Revoking the refresh token ends the grant (RFC 7009 §2.1).
    let r =
        t.s.post_form(
            "/oauth2/revoke",
            Some(("web", &t.web_secret)),
            &[("token", refresh2)],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(!t.active(next["access_token"].as_str().unwrap()).await);
    assert!(!t.active(&access).await);
}

async fn pkce_is_enforced(backend: Backend) {
    let t = setup(backend, &[]).await;
    // Missing verifier.
    let code = t.code().await;
    let (status, err, _) = error_of(t.exchange(&code, None).await).await;
    assert_eq!((status, err.as_str()), (400, "invalid_grant"));
    // Wrong verifier (well-formed).
    let code = t.code().await;
    let wrong = "x".repeat(43);
    let (_, err, desc) = error_of(t.exchange(&code, Some(&wrong)).await).await;
    assert_eq!(err, "invalid_grant", "{desc}");
    // A failed attempt spends the code: the right verifier no longer works.
    let (_, err, _) = error_of(t.exchange(&code, Some(VERIFIER)).await).await;
    assert_eq!(err, "invalid_grant");

    // Downgrade: a code issued without a challenge refuses any verifier.
    let r = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    let code = query_of(&location(&r))["code"].clone();
    let (_, err, desc) = error_of(t.exchange(&code, Some(VERIFIER)).await).await;
    assert_eq!(err, "invalid_grant");
    assert!(desc.contains("no code_challenge"), "{desc}");

    // A public client must send a challenge; plain is refused by default.
    for extra in [
        vec![],
        vec![
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
    ] {
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", "spa"),
            ("redirect_uri", "http://127.0.0.1:5555/cb"),
            ("state", "s1"),
        ];
        q.extend(extra);
        let r = t.authorize(&q).await;
        assert_eq!(r.status(), 302);
        let back = query_of(&location(&r));
        assert_eq!(back["error"], "invalid_request", "{back:?}");
        assert_eq!(back["state"], "s1");
        assert_eq!(back["iss"], t.s.url(""));
    }
    // Errors sent back to the client are audited too.
    let events = t.s.audit_events("authorize.rejected", 2).await;
    assert!(
        events.iter().all(|e| e["detail"]["redirected"] == true),
        "{events:?}"
    );
}

async fn redirect_uri_mismatch_never_redirects(backend: Backend) {
    let t = setup(backend, &[]).await;
    for (client, uri) in [
        ("web", "https://app.example/cb/extra"),
        ("web", "https://app.example/cb?x=1"),
        ("web", "https://evil.example/cb"),
        ("nobody", REDIRECT),
    ] {
        let r = t
            .authorize(&[
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", uri),
                ("state", "s"),
            ])
            .await;
        assert_eq!(r.status(), 400, "{client} {uri}");
        assert!(r.headers().get("location").is_none());
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let html = r.text().await.unwrap();
        assert!(html.contains("invalid_request"), "{html}");
    }
    // Token request: the redirect URI must repeat the authorization request's.
    let code = t.code().await;
    let r =
        t.s.post_form(
            "/oauth2/token",
            Some(("web", &t.web_secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.example/other"),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(error_of(r).await.1, "invalid_grant");
}

async fn code_reuse_revokes_its_tokens_and_codes_expire(backend: Backend) {
    let t = setup(backend, &[]).await;
    let code = t.code().await;
    let tok: Value = t
        .exchange(&code, Some(VERIFIER))
        .await
        .json()
        .await
        .unwrap();
    let access = tok["access_token"].as_str().unwrap();
    let refresh = tok["refresh_token"].as_str().unwrap();
    assert!(t.active(access).await);
    let (_, err, desc) = error_of(t.exchange(&code, Some(VERIFIER)).await).await;
    assert_eq!(err, "invalid_grant");
    assert!(desc.contains("already used"), "{desc}");
    assert!(!t.active(access).await, "RFC 6749 §4.1.2: revoked");
    assert!(!t.active(refresh).await);
    t.s.audit_events("code.reused", 1).await;

    // `web` has a 2-second code lifetime.
    let code = t.code().await;
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (_, err, desc) = error_of(t.exchange(&code, Some(VERIFIER)).await).await;
    assert_eq!(err, "invalid_grant");
    assert!(desc.contains("expired"), "{desc}");
}

async fn racing_uses_of_one_code_leave_no_live_token(backend: Backend) {
    let t = setup(backend, &[("TOLLGATE_CACHE__TOKEN_TTL_SECS", "1")]).await;
    let mut issued = Vec::new();
    for _ in 0..6 {
        let code = t.code().await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        let mut ok = 0;
        for r in t.token_requests_at_once(&form, 2).await {
            if r.status() == 200 {
                ok += 1;
                let v: Value = r.json().await.unwrap();
                issued.push(v["access_token"].as_str().unwrap().to_owned());
            } else {
                assert_eq!(error_of(r).await.1, "invalid_grant");
            }
        }
        assert!(ok <= 1, "one code, at most one token response");
    }
    // The reuse revoked the grant, also when the winner was still minting.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    for a in &issued {
        assert!(
            !t.active(a).await,
            "a token of a reused code is still active"
        );
    }
}

async fn implicit_and_password_grants_are_off_unless_enabled(backend: Backend) {
    let t = setup(backend, &[]).await;
    // Implicit, not enabled: the error goes back in the fragment.
    let r = t
        .authorize(&[
            ("response_type", "token"),
            ("client_id", "web"),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
        ])
        .await;
    let back = fragment_of(&location(&r));
    assert_eq!(back["error"], "unauthorized_client");
    // Password, not enabled.
    let r =
        t.s.post_form(
            "/oauth2/token",
            Some(("web", &t.web_secret)),
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(error_of(r).await.1, "unauthorized_client");

    // Enabled for a legacy client: both work, implicit without a refresh token.
    let (_, secret) = t.s.add_client(
        "legacy",
        &[
            "--grant",
            "implicit",
            "--grant",
            "password",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "read",
            "--skip-consent",
        ],
    );
    let r = t
        .authorize(&[
            ("response_type", "token"),
            ("client_id", "legacy"),
            ("state", "s"),
        ])
        .await;
    let back = fragment_of(&location(&r));
    assert!(location(&r).starts_with(&format!("{REDIRECT}#")));
    assert_eq!(back["token_type"], "Bearer");
    assert_eq!(back["state"], "s");
    assert_eq!(back["iss"], t.s.url(""));
    assert!(!back.contains_key("refresh_token"));
    assert!(t.active(&back["access_token"]).await);
    let r =
        t.s.post_form(
            "/oauth2/token",
            Some(("legacy", &secret)),
            &[
                ("grant_type", "password"),
                ("username", "Alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["refresh_token"].is_string());
    let info =
        t.s.introspect(("web", &t.web_secret), v["access_token"].as_str().unwrap())
            .await;
    assert_eq!(info["username"], "alice");
}

crate::on_both_backends!(
    code_flow_with_pkce_refresh_and_revocation,
    pkce_is_enforced,
    redirect_uri_mismatch_never_redirects,
    code_reuse_revokes_its_tokens_and_codes_expire,
    racing_uses_of_one_code_leave_no_live_token,
    implicit_and_password_grants_are_off_unless_enabled,
);
