//! `serve --demo`: a demo confidential client, a demo user, a demo public
//! client, a demo JWT bearer issuer with its service client and a demo
//! gateway service, created idempotently, and the commands that try them
//! printed.
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tollgate_admin::bootstrap::{ADMIN_CLIENT_ID, write_private};
use tollgate_authz::assertion::trust::TrustedIssuerConfig;
use tollgate_authz::clients::{self, NewClient};
use tollgate_authz::users::{self, UserPatch};
use tollgate_authz::{Services, initial_tokens};
use tollgate_core::{ClientType, GrantType, ScopeSet};
use tollgate_jose::secrets::random_token;
use tollgate_jose::{Alg, SigningKey};

use crate::commands::assertion;
use crate::config::Config;

mod gateway;
pub use gateway::start_echo;

const DEMO_ID: &str = "demo";
const DEMO_FILE: &str = "demo-client.json";

#[derive(Serialize, Deserialize)]
struct DemoCredentials {
    client_id: String,
    client_secret: String,
}

/// The demo client's secret, kept in a 0600 file so restarts print working
/// commands; if the file is gone or stale the secret is rotated.
async fn demo_credentials(svc: &Services, data_dir: &Path) -> anyhow::Result<String> {
    let file = data_dir.join(DEMO_FILE);
    let existing = svc.store.get_client(DEMO_ID).await?;
    if let Some(client) = &existing {
        let saved: Option<DemoCredentials> = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(saved) = saved {
            let now = svc.now();
            if client.enabled
                && client.secrets.iter().any(|s| {
                    s.is_live(now)
                        && svc
                            .master
                            .verify_client_secret(&saved.client_secret, &s.hash)
                })
            {
                return Ok(saved.client_secret);
            }
        }
    }
    let view = match existing {
        Some(_) => {
            clients::set_enabled(svc, DEMO_ID, true).await?;
            clients::rotate_secret(svc, DEMO_ID, 0).await?
        }
        None => {
            let new = NewClient {
                id: Some(DEMO_ID.into()),
                name: "Demo client".into(),
                grant_types: Some([GrantType::ClientCredentials, GrantType::RefreshToken].into()),
                scopes: ScopeSet::parse("demo.read demo.write")
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                metadata: [("Department".to_owned(), "Engineering".to_owned())].into(),
                ..Default::default()
            };
            clients::create_client(svc, new).await?
        }
    };
    let secret = view
        .client_secret
        .context("the demo client has no secret")?;
    write_private(
        &file,
        &serde_json::to_vec_pretty(&DemoCredentials {
            client_id: DEMO_ID.into(),
            client_secret: secret.clone(),
        })?,
    )?;
    Ok(secret)
}

pub async fn print(
    svc: &Services,
    data_dir: &Path,
    issuer: &str,
    admin: bool,
    gateway_prefix: Option<&str>,
) -> anyhow::Result<()> {
    let secret = demo_credentials(svc, data_dir).await?;
    let iat = initial_tokens::create(svc, "demo", Some(86400), Some(10)).await?;
    let auth = format!("'{DEMO_ID}:{secret}'");
    let token_cmd = format!(
        "curl -s -u {auth} -d grant_type=client_credentials -d scope=demo.read {issuer}/oauth2/token"
    );
    println!(
        r#"
Tollgate demo
=============
Demo client: {DEMO_ID} / {secret}
(saved in {file}; scopes "demo.read demo.write"; metadata Department=Engineering)

# 1. Get an access token (client credentials):
{token_cmd}

# 2. Keep one in a shell variable:
TOKEN=$({token_cmd} | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

# 3. Introspect it (RFC 7662):
curl -s -u {auth} -d "token=$TOKEN" {issuer}/oauth2/introspect

# 4. Token information:
curl -s "{issuer}/oauth2/tokeninfo?access_token=$TOKEN"

# 5. Revoke it (RFC 7009), then introspect again to see "active":false:
curl -s -o /dev/null -w '%{{http_code}}\n' -u {auth} -d "token=$TOKEN" {issuer}/oauth2/revoke
curl -s -u {auth} -d "token=$TOKEN" {issuer}/oauth2/introspect

# 6. Register a client dynamically (RFC 7591) with this initial access token (valid 24 h, 10 uses):
curl -s -H 'Authorization: Bearer {iat}' -H 'Content-Type: application/json' -d '{{"client_name":"my app","grant_types":["client_credentials"],"scope":"demo.read"}}' {issuer}/oauth2/register

# Discovery: {issuer}/.well-known/oauth-authorization-server
"#,
        file = data_dir.join(DEMO_FILE).display(),
        iat = iat.token,
    );
    if admin {
        let creds = data_dir.join(tollgate_admin::bootstrap::CREDENTIALS_FILE);
        println!(
            r#"# 7. The admin API (OpenAPI document: {issuer}/admin/openapi.json), with the admin
#    client whose credentials the first start wrote to {creds}:
ADMIN=$(curl -s -u "{ADMIN_CLIENT_ID}:$(sed -E 's/.*"client_secret": "([^"]+)".*/\1/;t;d' '{creds}')" -d grant_type=client_credentials -d scope=tollgate:admin {issuer}/oauth2/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
curl -s -H "Authorization: Bearer $ADMIN" {issuer}/admin/v1/clients/{DEMO_ID}
"#,
            creds = creds.display(),
        );
    }
    print_code_flow(svc, data_dir, issuer).await?;
    print_jwt_bearer(svc, data_dir, issuer).await?;
    if let Some(prefix) = gateway_prefix {
        gateway::print(issuer, prefix, &token_cmd, &secret);
    }
    Ok(())
}

const DEMO_USER: &str = "demo";
const DEMO_USER_FILE: &str = "demo-user.json";
const DEMO_SPA: &str = "demo-spa";
/// Loopback redirect: any port is accepted at authorization time (RFC 8252 §7.3).
const DEMO_REDIRECT: &str = "http://127.0.0.1/callback";

#[derive(Serialize, Deserialize)]
struct DemoUser {
    username: String,
    password: String,
}

/// The demo user and its password, kept in a 0600 file like the client's
/// secret; a user without a saved password gets a new one.
async fn demo_user(svc: &Services, data_dir: &Path) -> anyhow::Result<String> {
    let file = data_dir.join(DEMO_USER_FILE);
    let saved: Option<DemoUser> = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let exists = users::find(svc, DEMO_USER).await.is_ok();
    if let (true, Some(saved)) = (exists, &saved) {
        return Ok(saved.password.clone());
    }
    let password = random_token(16).context("generating the demo password")?;
    if exists {
        let patch = UserPatch {
            password: Some(password.clone()),
            enabled: Some(true),
            ..Default::default()
        };
        users::update_user(svc, DEMO_USER, patch).await?;
    } else {
        users::create_user(
            svc,
            DEMO_USER,
            &password,
            [("Department".to_owned(), "Engineering".to_owned())].into(),
        )
        .await?;
    }
    write_private(
        &file,
        &serde_json::to_vec_pretty(&DemoUser {
            username: DEMO_USER.into(),
            password: password.clone(),
        })?,
    )?;
    Ok(password)
}

/// The public client of the authorization-code demo (PKCE, loopback redirect).
async fn demo_spa(svc: &Services) -> anyhow::Result<()> {
    if svc.store.get_client(DEMO_SPA).await?.is_some() {
        return Ok(());
    }
    let new = NewClient {
        id: Some(DEMO_SPA.into()),
        name: "Demo single-page app".into(),
        client_type: ClientType::Public,
        grant_types: Some([GrantType::AuthorizationCode, GrantType::RefreshToken].into()),
        redirect_uris: vec![DEMO_REDIRECT.into()],
        scopes: ScopeSet::parse("demo.read demo.write").map_err(|e| anyhow::anyhow!("{e}"))?,
        ..Default::default()
    };
    clients::create_client(svc, new).await?;
    Ok(())
}

/// The authorization-code part of the demo.
async fn print_code_flow(svc: &Services, data_dir: &Path, issuer: &str) -> anyhow::Result<()> {
    let password = demo_user(svc, data_dir).await?;
    demo_spa(svc).await?;
    let redirect = "http://127.0.0.1:8765/callback";
    println!(
        r#"# 8. The authorization code flow with PKCE, as user {DEMO_USER} / {password} (saved in {file})
#    and the public client {DEMO_SPA} (redirect URI {DEMO_REDIRECT}, any port):
VERIFIER=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=
')
CHALLENGE=$(printf %s "$VERIFIER" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=
')
echo "{issuer}/oauth2/authorize?response_type=code&client_id={DEMO_SPA}&redirect_uri={redirect}&scope=demo.read&state=xyz&code_challenge=$CHALLENGE&code_challenge_method=S256"
#    Open that URL in a browser, sign in, allow. The browser is sent to
#    {redirect}?code=…&state=xyz&iss=… (nothing listens there: copy the code
#    from the address bar), then exchange it within 10 minutes:
CODE=paste-the-code-here
curl -s -d grant_type=authorization_code -d client_id={DEMO_SPA} -d "code=$CODE" -d redirect_uri={redirect} -d "code_verifier=$VERIFIER" {issuer}/oauth2/token
#    Your authorizations (and the button to withdraw them): {issuer}/oauth2/consents
"#,
        file = data_dir.join(DEMO_USER_FILE).display(),
    );
    Ok(())
}

pub const DEMO_ISSUER: &str = "demo-issuer";
const DEMO_SERVICE: &str = "demo-service";
pub const ISSUER_KEY_FILE: &str = "demo-issuer-key.pem";
pub const ISSUER_PUBLIC_FILE: &str = "demo-issuer-public.pem";

/// Runs before the services are built (trusted issuers are loaded once,
/// when they are): makes the demo issuer's ES256 key on first start
/// (`demo-issuer-key.pem`, 0600, and `demo-issuer-public.pem`) and trusts
/// it in `[jwt_bearer]` for any subject, issuing to `demo-service`. A
/// configuration that already lists `demo-issuer` is left alone.
pub fn add_demo_issuer(cfg: &mut Config) -> anyhow::Result<()> {
    let dir = cfg.server.data_dir.clone();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    let key_path = dir.join(ISSUER_KEY_FILE);
    let public_path = dir.join(ISSUER_PUBLIC_FILE);
    let key = if key_path.exists() {
        let pem = std::fs::read_to_string(&key_path)
            .with_context(|| format!("reading {}", key_path.display()))?;
        SigningKey::from_pem(&pem, Some(Alg::ES256))
            .map_err(|e| anyhow::anyhow!("{}: {e}", key_path.display()))?
    } else {
        let key = SigningKey::generate(Alg::ES256).context("generating the demo issuer key")?;
        write_private(&key_path, key.to_pkcs8_pem().as_bytes())
            .with_context(|| format!("writing {}", key_path.display()))?;
        // A stale public half of an earlier key would not verify.
        let _ = std::fs::remove_file(&public_path);
        key
    };
    if !public_path.exists() {
        assertion::write_new(&public_path, assertion::public_pem(&key)?.as_bytes(), false)?;
    }
    if cfg
        .jwt_bearer
        .issuers
        .iter()
        .any(|i| i.issuer == DEMO_ISSUER)
    {
        return Ok(());
    }
    cfg.jwt_bearer.issuers.push(TrustedIssuerConfig {
        issuer: DEMO_ISSUER.into(),
        keys_file: Some(public_path),
        subjects: vec!["*".into()],
        client_id: Some(DEMO_SERVICE.into()),
        ..Default::default()
    });
    Ok(())
}

/// The confidential client the demo issuer's assertions obtain tokens for.
async fn demo_service(svc: &Services) -> anyhow::Result<()> {
    if svc.store.get_client(DEMO_SERVICE).await?.is_some() {
        return Ok(());
    }
    let new = NewClient {
        id: Some(DEMO_SERVICE.into()),
        name: "Demo service".into(),
        grant_types: Some([GrantType::ClientCredentials, GrantType::JwtBearer].into()),
        scopes: ScopeSet::parse("demo.read demo.write").map_err(|e| anyhow::anyhow!("{e}"))?,
        ..Default::default()
    };
    clients::create_client(svc, new).await?;
    Ok(())
}

/// The JWT bearer part of the demo.
async fn print_jwt_bearer(svc: &Services, data_dir: &Path, issuer: &str) -> anyhow::Result<()> {
    demo_service(svc).await?;
    if !svc.trust.issuers.contains_key(DEMO_ISSUER) {
        return Ok(());
    }
    println!(
        r#"# 9. The JWT bearer grant (RFC 7523 §2.1): the trusted issuer "{DEMO_ISSUER}" (private key in
#    {key}) vouches for a user; the tokens go to the client {DEMO_SERVICE}.
#    Sign an assertion (valid 5 minutes, usable once), then exchange it:
ASSERTION=$({tollgate} assertion jwt --key {key} --iss {DEMO_ISSUER} --sub alice --aud {issuer}/oauth2/token)
curl -s -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer -d "assertion=$ASSERTION" -d scope=demo.read {issuer}/oauth2/token
"#,
        key = data_dir.join(ISSUER_KEY_FILE).display(),
        tollgate = this_binary(),
    );
    Ok(())
}

/// This very binary, as a shell word, so the printed commands work as printed
/// whether or not `tollgate` is on the PATH (after `cargo run` it is not).
fn this_binary() -> String {
    match std::env::current_exe() {
        Ok(p) => {
            let p = p.display().to_string();
            if p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
            {
                p
            } else {
                format!("'{}'", p.replace('\'', r"'\''"))
            }
        }
        Err(_) => "tollgate".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use tollgate_authz::assertion::trust::{KeySource, Trust};
    use tollgate_jose::jwt::{self, Verifier};

    use super::*;

    #[test]
    fn the_demo_issuer_is_trusted_and_verifies_cli_assertions() {
        let dir = std::env::temp_dir().join(format!("tollgate-demo-issuer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = Config::default();
        cfg.server.data_dir = dir.clone();
        add_demo_issuer(&mut cfg).unwrap();
        let key_path = dir.join(ISSUER_KEY_FILE);
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(dir.join(ISSUER_PUBLIC_FILE).exists());
        assert_eq!(cfg.jwt_bearer.issuers.len(), 1);
        let first_key = std::fs::read(&key_path).unwrap();

        // A restart keeps the key (printed commands stay valid) and does
        // not add the issuer twice to a config that has it.
        let mut again = cfg.clone();
        add_demo_issuer(&mut again).unwrap();
        assert_eq!(std::fs::read(&key_path).unwrap(), first_key);
        assert_eq!(again.jwt_bearer.issuers.len(), 1);
        let mut fresh = Config::default();
        fresh.server.data_dir = dir.clone();
        add_demo_issuer(&mut fresh).unwrap();
        assert_eq!(fresh.jwt_bearer.issuers, cfg.jwt_bearer.issuers);

        // The server's loader accepts it, and the printed command's JWT verifies.
        let trust =
            Trust::load(&cfg.jwt_bearer, &cfg.saml_bearer, "http://x/oauth2/token").unwrap();
        let t = &trust.issuers[DEMO_ISSUER];
        assert!(t.grantor.allows_subject("alice"));
        assert_eq!(t.grantor.client_id.as_deref(), Some(DEMO_SERVICE));
        let KeySource::Static(keys) = &t.keys else {
            panic!("static keys")
        };
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(subcommand)]
            cmd: assertion::AssertionCmd,
        }
        let k = key_path.to_str().unwrap();
        let cmd = T::try_parse_from([
            "t",
            "jwt",
            "--key",
            k,
            "--iss",
            DEMO_ISSUER,
            "--sub",
            "alice",
            "--aud",
            "http://x/oauth2/token",
        ])
        .unwrap()
        .cmd;
        let assertion::AssertionCmd::Jwt(a) = cmd else {
            panic!("jwt")
        };
        let token = assertion::build_jwt(&a, None, 1000).unwrap();
        let (_, claims) = jwt::verify(&token, Verifier::Keys(keys), &t.algorithms).unwrap();
        assert_eq!(claims["sub"], "alice");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
