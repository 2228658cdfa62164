//! The admin REST API for users: create, list, read, update and delete over
//! real HTTP; the password grant as the proof that `enabled` and a new
//! password take effect; and the grants overview ("overview of access
//! keys") with revocation checked through introspection.
use serde_json::{Value, json};

use crate::admin::{Api, admin_token};
use crate::harness::{Backend, Server};

crate::on_both_backends!(
    admin_manages_users_end_to_end,
    admin_sees_and_revokes_a_users_grants
);

const ALICE_PW: &str = "Alice-pass-0001";
const BOB_PW: &str = "Bob-pass-0002";
const NEW_PW: &str = "Alice-new-pass-0003";
const DAVE_PW: &str = "Dave-pass-0004";

/// The password grant (RFC 6749 §4.3) for `client`; the status and the body.
async fn password_grant(
    s: &Server,
    client: (&str, &str),
    username: &str,
    password: &str,
) -> (u16, Value) {
    let r = s
        .post_form(
            "/oauth2/token",
            Some(client),
            &[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ],
        )
        .await;
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A client allowed the password and refresh grants, made through the API.
async fn password_client(api: &Api<'_>, name: &str) -> (String, String) {
    let (st, c) = api
        .post(
            "/admin/v1/clients",
            json!({
                "client_id": name,
                "client_name": name,
                "grant_types": ["password", "refresh_token"],
                "scope": "profile orders.read",
            }),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    (
        c["client_id"].as_str().unwrap().to_owned(),
        c["client_secret"].as_str().unwrap().to_owned(),
    )
}

fn token_of<'a>(t: &'a Value, kind: &str) -> &'a str {
    t[kind]
        .as_str()
        .unwrap_or_else(|| panic!("no {kind} in {t}"))
}

async fn admin_manages_users_end_to_end(b: Backend) {
    let s = Server::start(b).await;
    let api = Api {
        token: admin_token(&s).await,
        s: &s,
    };

    // Without the admin token there is nothing to see.
    let r = s.http.get(s.url("/admin/v1/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Create: the name is folded to lower case, the password never comes back.
    let (st, alice) = api
        .post(
            "/admin/v1/users",
            json!({"username": "Alice", "password": ALICE_PW, "attributes": {"dept": "sales"}}),
        )
        .await;
    assert_eq!(st, 201, "{alice}");
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["enabled"], true);
    assert_eq!(alice["attributes"]["dept"], "sales");
    let id = alice["id"].as_str().unwrap().to_owned();
    let text = alice.to_string();
    assert!(
        !text.contains(ALICE_PW) && !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );
    // The Location header names the new user.
    let r = s
        .http
        .post(s.url("/admin/v1/users"))
        .bearer_auth(&api.token)
        .json(&json!({"username": "bob", "password": BOB_PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let bob: Value = r.json().await.unwrap();
    assert_eq!(
        location,
        format!("/admin/v1/users/{}", bob["id"].as_str().unwrap())
    );
    let (st, got) = api.get(&location).await;
    assert_eq!((st, &got["username"]), (200, &json!("bob")));

    // A taken name, in any case, is a conflict.
    for name in ["alice", "ALICE"] {
        let (st, e) = api
            .post(
                "/admin/v1/users",
                json!({"username": name, "password": "another-password"}),
            )
            .await;
        assert_eq!((st, e["error"].as_str()), (409, Some("conflict")), "{e}");
    }

    // Invalid fields are refused with a 400 naming the field, and a refused
    // password is never quoted back.
    let long_pw = "p".repeat(257);
    for (body, field) in [
        (
            json!({"username": "bad name", "password": "long-enough-1"}),
            "username",
        ),
        (
            json!({"username": "", "password": "long-enough-1"}),
            "username",
        ),
        (
            json!({"username": "x".repeat(129), "password": "long-enough-1"}),
            "username",
        ),
        (json!({"username": "carl", "password": "short"}), "password"),
        (json!({"username": "carl", "password": long_pw}), "password"),
        (
            json!({"username": "carl", "password": 918273645}),
            "password",
        ),
        (
            json!({"username": "carl", "password": "long-enough-1", "attributes": {"": "x"}}),
            "attributes",
        ),
        (
            json!({"username": "carl", "password": "long-enough-1", "attributes": {"k": "v".repeat(1025)}}),
            "attributes",
        ),
    ] {
        let (st, e) = api.post("/admin/v1/users", body.clone()).await;
        assert_eq!(st, 400, "{body} -> {e}");
        assert_eq!(e["field"].as_str(), Some(field), "{body} -> {e}");
        let shown = e.to_string();
        assert!(
            !shown.contains("918273645")
                && !shown.contains("short\"")
                && !shown.contains(&"p".repeat(20)),
            "{shown}"
        );
    }
    for body in [
        json!({"username": "carl"}),
        json!({"username": "carl", "password": "long-enough-1", "role": "admin"}),
    ] {
        let (st, e) = api.post("/admin/v1/users", body.clone()).await;
        assert_eq!(st, 400, "{body} -> {e}");
    }
    let (st, e) = api.get("/admin/v1/users/carl").await;
    assert_eq!(
        (st, e["error"].as_str()),
        (404, Some("not_found")),
        "nothing refused was stored"
    );

    // Read by id, by name, by name in another case.
    for key in [id.as_str(), "alice", "ALICE"] {
        let (st, u) = api.get(&format!("/admin/v1/users/{key}")).await;
        assert_eq!(
            (st, u["id"].as_str()),
            (200, Some(id.as_str())),
            "{key}: {u}"
        );
    }

    // List: keyset pages in username order.
    let (st, _) = api
        .post(
            "/admin/v1/users",
            json!({"username": "carol", "password": "Carol-pass-0005"}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, page) = api.get("/admin/v1/users?limit=2").await;
    assert_eq!(st, 200, "{page}");
    let names = |p: &Value| -> Vec<String> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&page), ["alice", "bob"]);
    assert_eq!(page["next_after"], "bob");
    let (_, page) = api.get("/admin/v1/users?limit=2&after=bob").await;
    assert_eq!(names(&page), ["carol"]);
    assert!(page.get("next_after").is_none(), "{page}");
    let (st, e) = api.get("/admin/v1/users?limit=0").await;
    assert_eq!((st, e["field"].as_str()), (400, Some("limit")));
    let (st, e) = api
        .get(&format!("/admin/v1/users?after={}", "a".repeat(129)))
        .await;
    assert_eq!((st, e["field"].as_str()), (400, Some("after")));

    // Update: attributes are replaced, the password is checked and changed.
    let (st, u) = api
        .patch(
            "/admin/v1/users/alice",
            json!({"attributes": {"dept": "finance", "level": "2"}}),
        )
        .await;
    assert_eq!(st, 200, "{u}");
    assert_eq!(u["attributes"], json!({"dept": "finance", "level": "2"}));
    assert_eq!(u["enabled"], true);
    let (st, e) = api
        .patch("/admin/v1/users/alice", json!({"password": "short"}))
        .await;
    assert_eq!((st, e["field"].as_str()), (400, Some("password")), "{e}");
    let (st, e) = api
        .patch("/admin/v1/users/alice", json!({"enabled": "no"}))
        .await;
    assert_eq!((st, e["field"].as_str()), (400, Some("enabled")), "{e}");
    let (st, _) = api
        .patch("/admin/v1/users/alice", json!({"pasword": NEW_PW}))
        .await;
    assert_eq!(st, 400, "a misspelt field fails loudly");
    let (st, _) = api
        .patch("/admin/v1/users/nobody", json!({"enabled": false}))
        .await;
    assert_eq!(st, 404);
    let (st, u) = api
        .patch("/admin/v1/users/alice", json!({"password": NEW_PW}))
        .await;
    assert_eq!(st, 200, "{u}");
    assert!(!u.to_string().contains(NEW_PW));
    let (st, u) = api.patch("/admin/v1/users/alice", json!({})).await;
    assert_eq!(
        (st, &u["attributes"]["dept"]),
        (200, &json!("finance")),
        "an empty patch changes nothing"
    );

    // Delete.
    let (st, _) = api.delete("/admin/v1/users/carol").await;
    assert_eq!(st, 204);
    let (st, _) = api.get("/admin/v1/users/carol").await;
    assert_eq!(st, 404);
    let (st, e) = api.delete("/admin/v1/users/carol").await;
    assert_eq!((st, e["error"].as_str()), (404, Some("not_found")));
    let (_, page) = api.get("/admin/v1/users").await;
    assert_eq!(names(&page), ["alice", "bob"]);

    // Every change is in the audit log (written in the background, so wait
    // for the last one), and no password is, nor in the server's log.
    for ev in [
        "user.created",
        "user.updated",
        "user.deleted",
        "admin.request",
    ] {
        s.audit_events(ev, 1).await;
    }
    let (st, audit) = api.get("/admin/v1/audit?limit=1000").await;
    assert_eq!(st, 200);
    let everything = format!("{audit}\n{}\n{}", s.log(), s.stdout.join("\n"));
    for pw in [ALICE_PW, BOB_PW, NEW_PW, "long-enough-1", "Carol-pass-0005"] {
        assert!(!everything.contains(pw), "a password leaked: {pw}");
    }
}

async fn admin_sees_and_revokes_a_users_grants(b: Backend) {
    let s = Server::start(b).await;
    let api = Api {
        token: admin_token(&s).await,
        s: &s,
    };
    let (st, dave) = api
        .post(
            "/admin/v1/users",
            json!({"username": "dave", "password": DAVE_PW, "attributes": {"dept": "ops"}}),
        )
        .await;
    assert_eq!(st, 201, "{dave}");
    let dave_id = dave["id"].as_str().unwrap().to_owned();
    let (a_id, a_secret) = password_client(&api, "legacy-a").await;
    let (b_id, b_secret) = password_client(&api, "legacy-b").await;
    let a = (a_id.as_str(), a_secret.as_str());
    let b = (b_id.as_str(), b_secret.as_str());

    // No grants yet.
    let (st, g) = api.get("/admin/v1/users/dave/grants").await;
    assert_eq!(st, 200, "{g}");
    assert_eq!(g["user"]["id"], dave_id.as_str());
    assert_eq!(g["tokens"], json!([]));
    assert_eq!(g["grants"], json!([]));
    let (st, _) = api.get("/admin/v1/users/nobody/grants").await;
    assert_eq!(st, 404);

    // The password grant to two clients; the tokens carry the user.
    let (st, ta) = password_grant(&s, a, "Dave", DAVE_PW).await;
    assert_eq!(st, 200, "{ta}");
    let (st, tb) = password_grant(&s, b, "dave", DAVE_PW).await;
    assert_eq!(st, 200, "{tb}");
    let i = s.introspect(a, token_of(&ta, "access_token")).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], dave_id.as_str());
    assert_eq!(
        i["dept"], "ops",
        "user attributes are stored with the token: {i}"
    );

    // The overview lists both grants and all four tokens, never a value.
    let (_, g) = api.get("/admin/v1/users/dave/grants").await;
    let grants = g["grants"].as_array().unwrap();
    assert_eq!(grants.len(), 2, "{g}");
    assert!(grants.iter().all(|x| x["grant_type"] == "password"), "{g}");
    let tokens = g["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 4, "{g}");
    for (client, kind) in [
        (&a_id, "access_token"),
        (&a_id, "refresh_token"),
        (&b_id, "access_token"),
        (&b_id, "refresh_token"),
    ] {
        assert!(
            tokens.iter().any(|t| t["client_id"] == client.as_str()
                && t["token_use"] == kind
                && t["active"] == true),
            "{client} {kind} in {g}"
        );
    }
    let shown = g.to_string();
    for t in [&ta, &tb] {
        for kind in ["access_token", "refresh_token"] {
            assert!(!shown.contains(token_of(t, kind)), "a token value is shown");
        }
    }

    // Revoking one client's grants ends its tokens only.
    let (st, r) = api
        .delete(&format!("/admin/v1/users/dave/grants/{a_id}"))
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["tokens_revoked"], 2);
    for kind in ["access_token", "refresh_token"] {
        assert_eq!(s.introspect(a, token_of(&ta, kind)).await["active"], false);
        assert_eq!(s.introspect(b, token_of(&tb, kind)).await["active"], true);
    }
    let (_, g) = api.get("/admin/v1/users/dave/grants").await;
    for t in g["tokens"].as_array().unwrap() {
        assert_eq!(t["active"], t["client_id"] == b_id.as_str(), "{t}");
    }
    let (st, r) = api
        .delete("/admin/v1/users/dave/grants/no-such-client")
        .await;
    assert_eq!((st, &r["tokens_revoked"]), (200, &json!(0)));

    // Revoking everything ends the rest; the refresh token no longer works.
    let (st, r) = api.delete("/admin/v1/users/DAVE/grants").await;
    assert_eq!((st, &r["tokens_revoked"]), (200, &json!(2)), "{r}");
    for kind in ["access_token", "refresh_token"] {
        assert_eq!(s.introspect(b, token_of(&tb, kind)).await["active"], false);
    }
    let r = s
        .post_form(
            "/oauth2/token",
            Some(b),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", token_of(&tb, "refresh_token")),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let (st, _) = api.delete("/admin/v1/users/nobody/grants").await;
    assert_eq!(st, 404);

    // A disabled user cannot use the password grant, and disabling ends
    // the tokens they hold; enabled again, they can.
    let (st, t) = password_grant(&s, a, "dave", DAVE_PW).await;
    assert_eq!(st, 200, "{t}");
    let (st, u) = api
        .patch("/admin/v1/users/dave", json!({"enabled": false}))
        .await;
    assert_eq!((st, &u["enabled"]), (200, &json!(false)), "{u}");
    assert_eq!(
        s.introspect(a, token_of(&t, "access_token")).await["active"],
        false
    );
    let (st, e) = password_grant(&s, a, "dave", DAVE_PW).await;
    assert_eq!(
        (st, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "{e}"
    );
    let (st, _) = api
        .patch("/admin/v1/users/dave", json!({"enabled": true}))
        .await;
    assert_eq!(st, 200);
    let (st, t) = password_grant(&s, a, "dave", DAVE_PW).await;
    assert_eq!(st, 200, "{t}");

    // A new password replaces the old one at once.
    let (st, _) = api
        .patch("/admin/v1/users/dave", json!({"password": NEW_PW}))
        .await;
    assert_eq!(st, 200);
    let (st, e) = password_grant(&s, a, "dave", DAVE_PW).await;
    assert_eq!(
        (st, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let (st, _) = password_grant(&s, a, "dave", NEW_PW).await;
    assert_eq!(st, 200);

    // Deleting the user revokes what they still hold.
    assert_eq!(
        s.introspect(a, token_of(&t, "access_token")).await["active"],
        true
    );
    let (st, _) = api.delete("/admin/v1/users/dave").await;
    assert_eq!(st, 204);
    assert_eq!(
        s.introspect(a, token_of(&t, "access_token")).await["active"],
        false
    );
    let (st, _) = password_grant(&s, a, "dave", NEW_PW).await;
    assert_eq!(st, 400);
}
