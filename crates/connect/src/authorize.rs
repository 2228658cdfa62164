//! The start of the authorization-code flow (RFC 6749 §4.1.1) with PKCE
//! (RFC 7636, S256) and `state`: the URL a person opens, and what must be
//! kept to check and redeem the answer.
use tollgate_jose::secrets::{constant_time_eq, pkce_s256, random_token};
use url::Url;

use crate::error::ConnectError;
use crate::spec::{ConnectionSpec, Flow};

/// An authorization under way.
#[derive(Clone)]
pub struct Pending {
    /// Where the person goes.
    pub url: Url,
    pub state: String,
    pub verifier: String,
    pub redirect_uri: Url,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("redirect_uri", &self.redirect_uri.as_str())
            .finish_non_exhaustive()
    }
}

/// The authorization URL of `spec` for `redirect_uri`.
pub fn begin(spec: &ConnectionSpec, redirect_uri: Url) -> Result<Pending, ConnectError> {
    if spec.flow != Flow::AuthorizationCode {
        return Err(ConnectError::Config(format!(
            "a {} connection is not authorized by a person; use `connection token`",
            spec.flow
        )));
    }
    let (Some(endpoint), Some(client_id)) = (&spec.authorization_endpoint, &spec.client_id) else {
        return Err(ConnectError::Config(
            "the code flow needs an authorization endpoint and a client id".into(),
        ));
    };
    let rand = |n| random_token(n).map_err(|e| ConnectError::Config(format!("no randomness: {e}")));
    let state = rand(24)?;
    // 43 to 128 characters of the unreserved set (RFC 7636 §4.1).
    let verifier = rand(48)?;
    let mut url = endpoint.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("state", &state)
            .append_pair("code_challenge", &pkce_s256(&verifier))
            .append_pair("code_challenge_method", "S256");
        if !spec.scopes.is_empty() {
            q.append_pair("scope", &spec.scopes.join(" "));
        }
    }
    Ok(Pending {
        url,
        state,
        verifier,
        redirect_uri,
    })
}

/// What came back to the redirect URI, checked: the code when `state`
/// matches and the provider sent no error.
pub fn answer<'a>(
    pending: &Pending,
    params: &'a [(String, String)],
) -> Result<&'a str, ConnectError> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let state_ok =
        get("state").is_some_and(|s| constant_time_eq(s.as_bytes(), pending.state.as_bytes()));
    if !state_ok {
        return Err(ConnectError::Protocol(
            "its state does not match the one this authorization sent, so it belongs to another (or a forged) request".into(),
        ));
    }
    if let Some(error) = get("error") {
        return Err(ConnectError::Provider {
            status: 0,
            error: error.to_owned(),
            description: get("error_description").map(str::to_owned),
        });
    }
    get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ConnectError::Protocol("the answer carries no code".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_answers() {
        let spec: ConnectionSpec = serde_json::from_value(serde_json::json!({
            "flow": "authorization_code",
            "token_endpoint": "https://p.example/token",
            "authorization_endpoint": "https://p.example/authorize?tenant=x",
            "client_id": "app",
            "scopes": ["read", "offline_access"],
        }))
        .unwrap();
        let p = begin(&spec, Url::parse("http://127.0.0.1:5000/callback").unwrap()).unwrap();
        let q: std::collections::HashMap<_, _> = p.url.query_pairs().into_owned().collect();
        assert_eq!(q["tenant"], "x", "the endpoint's own query is kept");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "read offline_access");
        assert_eq!(q["code_challenge"], pkce_s256(&p.verifier));
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(p.verifier.len() >= 43);
        let with = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| ((*a).into(), (*b).into()))
                .collect()
        };
        let good = with(&[("code", "c1"), ("state", &p.state)]);
        assert_eq!(answer(&p, &good).unwrap(), "c1");
        let forged = with(&[("code", "c1"), ("state", "other")]);
        assert!(
            answer(&p, &forged)
                .unwrap_err()
                .to_string()
                .contains("state")
        );
        let none = with(&[("code", "c1")]);
        assert!(answer(&p, &none).is_err());
        let denied = with(&[
            ("error", "access_denied"),
            ("error_description", "no"),
            ("state", &p.state),
        ]);
        assert!(
            answer(&p, &denied)
                .unwrap_err()
                .to_string()
                .contains("access_denied")
        );
    }
}
