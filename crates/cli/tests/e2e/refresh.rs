//! Refresh tokens from user grants: rotation with reuse detection and the
//! retry grace, concurrency, the preserve and none modes, the lifetime; and
//! `prompt=none`.
use std::collections::HashMap;

use serde_json::Value;
use tollgate_jose::secrets::pkce_s256;

use crate::authcode::{PASSWORD, VERIFIER, error_of, location, query_of, setup};
use crate::harness::Backend;

async fn refresh_reuse_after_rotation_revokes_the_family(backend: Backend) {
    let t = setup(
        backend,
        &[("TOLLGATE_TOKENS__REFRESH_REUSE_GRACE_SECS", "2")],
    )
    .await;
    let code = t.code().await;
    let tok: Value = t
        .exchange(&code, Some(VERIFIER))
        .await
        .json()
        .await
        .unwrap();
    let r0 = tok["refresh_token"].as_str().unwrap().to_owned();
    let next: Value = t.refresh(&r0).await.json().await.unwrap();
    let r1 = next["refresh_token"].as_str().unwrap().to_owned();
    let a1 = next["access_token"].as_str().unwrap().to_owned();
    // Within the grace period a retry gets the same pair.
    let again: Value = t.refresh(&r0).await.json().await.unwrap();
    assert_eq!(again["refresh_token"], r1.as_str());
    assert_eq!(again["access_token"], a1.as_str());
    assert!(t.active(&a1).await);
    // After it, the old token coming back is reuse: the whole family ends.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (_, err, _) = error_of(t.refresh(&r0).await).await;
    assert_eq!(err, "invalid_grant");
    assert!(!t.active(&a1).await);
    assert!(!t.active(&r1).await);
    assert!(!t.active(tok["access_token"].as_str().unwrap()).await);
    t.s.audit_events("token.refresh_reused", 1).await;
}

/// `tokens.refresh_reuse_grace_secs = 0` is strict RFC 9700 §4.14.2 reuse
/// detection: a replay of a rotated-out refresh token, even in the same
/// second as its rotation, is `invalid_grant` and ends the whole grant,
/// including the pair the rotation just issued.
async fn no_grace_makes_an_immediate_replay_reuse(backend: Backend) {
    let t = setup(
        backend,
        &[("TOLLGATE_TOKENS__REFRESH_REUSE_GRACE_SECS", "0")],
    )
    .await;
    let code = t.code().await;
    let tok: Value = t
        .exchange(&code, Some(VERIFIER))
        .await
        .json()
        .await
        .unwrap();
    let r0 = tok["refresh_token"].as_str().unwrap().to_owned();
    let next: Value = t.refresh(&r0).await.json().await.unwrap();
    let r1 = next["refresh_token"].as_str().unwrap().to_owned();
    let a1 = next["access_token"].as_str().unwrap().to_owned();
    assert!(t.active(&r1).await);
    let (status, err, _) = error_of(t.refresh(&r0).await).await;
    assert_eq!((status, err.as_str()), (400, "invalid_grant"));
    assert!(
        !t.active(&r1).await,
        "the rotation's refresh token is revoked"
    );
    assert!(!t.active(&a1).await, "and its access token");
    let (_, err, _) = error_of(t.refresh(&r1).await).await;
    assert_eq!(err, "invalid_grant");
    t.s.audit_events("token.refresh_reused", 1).await;
}

async fn concurrent_refreshes_get_one_pair(backend: Backend) {
    let t = setup(backend, &[]).await;
    let code = t.code().await;
    let tok: Value = t
        .exchange(&code, Some(VERIFIER))
        .await
        .json()
        .await
        .unwrap();
    let r0 = tok["refresh_token"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", r0.as_str()),
    ];
    let mut pairs = std::collections::HashSet::new();
    for r in t.token_requests_at_once(&form, 8).await {
        assert_eq!(r.status(), 200, "never a 500 or a serialization failure");
        let v: Value = r.json().await.unwrap();
        pairs.insert((
            v["access_token"].as_str().unwrap().to_owned(),
            v["refresh_token"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(pairs.len(), 1, "every racer got the winner's pair");
    let (access, refresh) = pairs.into_iter().next().unwrap();
    // A retry right after, within the default grace (5 s), gets it too.
    let again: Value = t.refresh(&r0).await.json().await.unwrap();
    assert_eq!(again["refresh_token"], refresh.as_str());
    assert_eq!(again["access_token"], access.as_str());
    assert!(t.active(&access).await);
    assert!(t.active(&refresh).await);
}

async fn refresh_modes_lifetime_and_prompt_none(backend: Backend) {
    let t = setup(backend, &[]).await;
    // A password-grant client per refresh mode (the quickest way to a pair).
    let mut secrets = HashMap::new();
    for (id, extra) in [
        ("keep", vec!["--refresh-mode", "preserve"]),
        ("once", vec!["--refresh-mode", "none"]),
        ("short", vec!["--refresh-token-ttl", "1"]),
    ] {
        let mut args = vec![
            "--grant",
            "password",
            "--grant",
            "refresh_token",
            "--scope",
            "read",
        ];
        args.extend(extra);
        secrets.insert(id, t.s.add_client(id, &args).1);
    }
    let pair = |id: &'static str| {
        let secret = secrets[id].clone();
        let s = &t.s;
        async move {
            let r = s
                .post_form(
                    "/oauth2/token",
                    Some((id, &secret)),
                    &[
                        ("grant_type", "password"),
                        ("username", "alice"),
                        ("password", PASSWORD),
                    ],
                )
                .await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let refresh = |id: &'static str, token: String| {
        let secret = secrets[id].clone();
        let s = &t.s;
        async move {
            s.post_form(
                "/oauth2/token",
                Some((id, &secret)),
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
        }
    };
    // preserve: a new access token, the same refresh token, again and again.
    let p = pair("keep").await;
    let rt = p["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let v: Value = refresh("keep", rt.clone()).await.json().await.unwrap();
        assert_eq!(v["refresh_token"], rt.as_str());
        assert_ne!(v["access_token"], p["access_token"]);
    }
    // none: no refresh token at all (the seed's "Do not generate a refresh
    // token"; a refresh token issued before the switch is spent on its use).
    let p = pair("once").await;
    assert!(p["access_token"].is_string());
    assert!(p.get("refresh_token").is_none(), "{p}");
    // The refresh token lifetime is enforced.
    let p = pair("short").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = refresh("short", p["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(error_of(r).await.1, "invalid_grant");

    // prompt=none: no page, an error back to the client instead.
    let r = t
        .http
        .get(t.s.url(&format!(
            "/oauth2/authorize?response_type=code&client_id=spa&redirect_uri=http://127.0.0.1/cb&prompt=none&state=p&code_challenge={}&code_challenge_method=S256",
            pkce_s256(VERIFIER)
        )))
        .send()
        .await
        .unwrap();
    let back = query_of(&location(&r));
    assert_eq!(back["error"], "login_required");
    let r = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "spa"),
            ("redirect_uri", "http://127.0.0.1/cb"),
            ("prompt", "none"),
            ("code_challenge", &pkce_s256(VERIFIER)),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(query_of(&location(&r))["error"], "consent_required");
}

crate::on_both_backends!(
    refresh_reuse_after_rotation_revokes_the_family,
    no_grace_makes_an_immediate_replay_reuse,
    concurrent_refreshes_get_one_pair,
    refresh_modes_lifetime_and_prompt_none,
);
