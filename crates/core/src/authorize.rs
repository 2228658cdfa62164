//! The authorization request (RFC 6749 §4.1.1, §4.2.1, RFC 7636 §4.3) as pure
//! policy: which errors may be sent back to the client's redirect URI and
//! which must be shown to the user instead (RFC 6749 §4.1.2.1: never redirect
//! to an unverified URI; RFC 9700 §4.1 and §4.11 against open redirectors).
use crate::{
    Client, ClientId, ClientType, CodeChallenge, GrantType, OAuthError, PkceMethod, ScopeSet,
    scope::resolve_scopes,
};

/// `response_type` values this server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// RFC 6749 §4.1: authorization code.
    Code,
    /// RFC 6749 §4.2: implicit; the token travels in the URI fragment.
    Token,
}

impl ResponseType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Token => "token",
        }
    }

    /// Responses of the implicit grant go in the fragment (RFC 6749 §4.2.2).
    pub fn uses_fragment(self) -> bool {
        self == Self::Token
    }
}

/// OpenID Connect Core §3.1.2.1 `prompt`, which RPs send to OAuth servers too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Show no page: fail with `login_required` / `consent_required` instead.
    None,
    /// Ask for the password again even with a live session.
    Login,
    /// Ask for consent again even when it was given before.
    Consent,
}

/// Server-wide PKCE policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct PkcePolicy {
    /// Accept `code_challenge_method=plain` (RFC 7636 §4.2 allows it; RFC 9700
    /// §2.1.1 says S256, so it is refused unless an operator needs it).
    pub allow_plain: bool,
    /// Require PKCE from confidential clients too (it is always required from
    /// public ones).
    pub require_for_confidential: bool,
}

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub response_type: ResponseType,
    pub client_id: ClientId,
    /// The redirect URI responses go to: the one in the request, which matched
    /// a registered one, or the client's only registered URI.
    pub redirect_uri: String,
    /// Whether the request named the redirect URI; then the token request must
    /// repeat it (RFC 6749 §4.1.3).
    pub redirect_uri_in_request: bool,
    /// The scopes this request may be granted (registered-scope rules applied).
    pub scope: ScopeSet,
    pub state: Option<String>,
    pub code_challenge: Option<(CodeChallenge, PkceMethod)>,
    pub prompt: Option<Prompt>,
}

/// Why an authorization request failed, and where the answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or the redirect URI could not be verified: the error is
    /// shown to the user and nothing is redirected.
    Page(OAuthError),
    /// The client and redirect URI are good: the error goes back to the
    /// client (RFC 6749 §4.1.2.1 / §4.2.2.1) with `state`.
    Redirect {
        error: OAuthError,
        redirect_uri: String,
        state: Option<String>,
        fragment: bool,
    },
}

/// Longest `state` accepted; it is echoed into a URL, so it must stay bounded.
pub const MAX_STATE_LEN: usize = 2048;

/// The client id of a request, for finding the client before [`validate`].
pub fn client_id(get: &dyn Fn(&str) -> Option<String>) -> Result<ClientId, AuthorizeError> {
    let raw = get("client_id").ok_or_else(|| {
        AuthorizeError::Page(OAuthError::invalid_request("missing parameter 'client_id'"))
    })?;
    ClientId::try_from(raw).map_err(AuthorizeError::Page)
}

/// Validates an authorization request for `client` (already looked up by
/// [`client_id`]; an unknown or disabled client is a page error the caller
/// raises). `get` returns a parameter's value (empty counts as absent).
pub fn validate(
    get: &dyn Fn(&str) -> Option<String>,
    client: &Client,
    pkce: PkcePolicy,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let page = AuthorizeError::Page;
    // 1. The redirect URI: exact match against the registered list (RFC 9700
    // §4.1.3; loopback ports vary per RFC 8252 §7.3), or the only one
    // registered when the request names none (RFC 6749 §3.1.2.3).
    let (redirect_uri, in_request) = match get("redirect_uri") {
        Some(given) => {
            if !client.redirect_uris.iter().any(|r| r.matches(&given)) {
                return Err(page(OAuthError::invalid_request(
                    "redirect_uri does not match any redirect URI registered for this client",
                )));
            }
            (given, true)
        }
        None => match client.redirect_uris.as_slice() {
            [only] => (only.as_str().to_owned(), false),
            [] => {
                return Err(page(OAuthError::invalid_request(
                    "this client has no registered redirect URI",
                )));
            }
            _ => {
                return Err(page(OAuthError::invalid_request(
                    "redirect_uri is required: this client registered more than one",
                )));
            }
        },
    };
    let state = get("state");
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(page(OAuthError::invalid_request(format!(
            "state is longer than {MAX_STATE_LEN} characters"
        ))));
    }
    // From here on errors go back to the client. Until the response type is
    // known they go in the query, as for the code flow.
    let response_type = get("response_type");
    let fragment = response_type.as_deref() == Some("token");
    let back = |error: OAuthError| AuthorizeError::Redirect {
        error,
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        fragment,
    };
    let response_type = match response_type.as_deref() {
        None => {
            return Err(back(OAuthError::invalid_request(
                "missing parameter 'response_type'",
            )));
        }
        Some("code") => ResponseType::Code,
        Some("token") => ResponseType::Token,
        Some(other) => {
            return Err(back(OAuthError::UnsupportedResponseType(
                format!(
                    "response_type '{}' is not supported (code, token)",
                    other.chars().take(40).collect::<String>()
                )
                .into(),
            )));
        }
    };
    let grant = match response_type {
        ResponseType::Code => GrantType::AuthorizationCode,
        ResponseType::Token => GrantType::Implicit,
    };
    if !client.allows_grant(grant) {
        return Err(back(OAuthError::UnauthorizedClient(
            format!(
                "this client may not use response_type={} (grant type {} is not enabled for it)",
                response_type.as_str(),
                grant.as_str()
            )
            .into(),
        )));
    }
    let requested = get("scope")
        .map(|s| ScopeSet::parse(&s))
        .transpose()
        .map_err(back)?;
    let scope =
        resolve_scopes(requested.as_ref(), &client.scopes, client.scope_matching).map_err(back)?;
    let prompt = match get("prompt").as_deref() {
        None => None,
        Some("none") => Some(Prompt::None),
        Some("login") => Some(Prompt::Login),
        Some("consent") => Some(Prompt::Consent),
        Some(_) => {
            return Err(back(OAuthError::invalid_request(
                "prompt must be one of none, login, consent",
            )));
        }
    };
    let code_challenge = match response_type {
        ResponseType::Token => None,
        ResponseType::Code => pkce_challenge(get, client, pkce).map_err(back)?,
    };
    Ok(AuthorizationRequest {
        response_type,
        client_id: client.id.clone(),
        redirect_uri,
        redirect_uri_in_request: in_request,
        scope,
        state,
        code_challenge,
        prompt,
    })
}

/// RFC 7636 §4.3 and RFC 9700 §2.1.1: S256 required of public clients,
/// accepted from confidential ones, `plain` only when allowed.
fn pkce_challenge(
    get: &dyn Fn(&str) -> Option<String>,
    client: &Client,
    policy: PkcePolicy,
) -> Result<Option<(CodeChallenge, PkceMethod)>, OAuthError> {
    let method = get("code_challenge_method");
    let Some(challenge) = get("code_challenge") else {
        if method.is_some() {
            return Err(OAuthError::invalid_request(
                "code_challenge_method without code_challenge",
            ));
        }
        if client.client_type == ClientType::Public || policy.require_for_confidential {
            return Err(OAuthError::invalid_request(
                "PKCE is required: send code_challenge and code_challenge_method=S256 (RFC 7636)",
            ));
        }
        return Ok(None);
    };
    let method = PkceMethod::parse(method.as_deref())?;
    if method == PkceMethod::Plain && !policy.allow_plain {
        return Err(OAuthError::invalid_request(
            "code_challenge_method=plain is not allowed; use S256 (RFC 9700 §2.1.1)",
        ));
    }
    Ok(Some((CodeChallenge::parse(&challenge, method)?, method)))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;
    use crate::{AuthMethod, RedirectUri};

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(public: bool) -> Client {
        let mut c = Client::new(ClientId::try_from("web").unwrap(), "Web", 0);
        c.grant_types = BTreeSet::from([GrantType::AuthorizationCode]);
        c.redirect_uris = vec![
            RedirectUri::try_from("https://app.example/cb").unwrap(),
            RedirectUri::try_from("http://127.0.0.1/cb").unwrap(),
        ];
        c.scopes = ScopeSet::parse("read write").unwrap();
        if public {
            c.client_type = ClientType::Public;
            c.auth_method = AuthMethod::None;
        }
        c
    }

    fn run(c: &Client, q: &[(&str, &str)]) -> Result<AuthorizationRequest, AuthorizeError> {
        run_with(c, q, PkcePolicy::default())
    }

    fn run_with(
        c: &Client,
        q: &[(&str, &str)],
        p: PkcePolicy,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let m: HashMap<String, String> = q
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        validate(&|k| m.get(k).cloned(), c, p)
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", "https://app.example/cb"),
            ("state", "xyz"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
    }

    fn with(
        mut q: Vec<(&'static str, &'static str)>,
        k: &'static str,
        v: &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        q.retain(|(n, _)| *n != k);
        if !v.is_empty() {
            q.push((k, v));
        }
        q
    }

    #[test]
    fn a_good_request_validates() {
        let r = run(&client(true), &good()).unwrap();
        assert_eq!(r.response_type, ResponseType::Code);
        assert_eq!(r.redirect_uri, "https://app.example/cb");
        assert!(r.redirect_uri_in_request);
        assert_eq!(r.state.as_deref(), Some("xyz"));
        assert_eq!(r.scope.to_string(), "read write");
        assert_eq!(r.code_challenge.unwrap().1, PkceMethod::S256);
    }

    #[test]
    fn redirect_uri_problems_are_never_redirected() {
        let c = client(false);
        for bad in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/CB",
            "https://evil.example/cb",
            "https://app.example.evil/cb",
        ] {
            let e = run(&c, &with(good(), "redirect_uri", bad)).unwrap_err();
            assert!(matches!(e, AuthorizeError::Page(_)), "{bad}: {e:?}");
        }
        // Several registered and none named: the user sees the error.
        let e = run(&c, &with(good(), "redirect_uri", "")).unwrap_err();
        assert!(matches!(e, AuthorizeError::Page(_)));
        // Loopback: any port (RFC 8252 §7.3).
        assert!(
            run(
                &c,
                &with(good(), "redirect_uri", "http://127.0.0.1:49152/cb")
            )
            .is_ok()
        );
    }

    #[test]
    fn the_only_registered_uri_is_the_default() {
        let mut c = client(false);
        c.redirect_uris.truncate(1);
        let r = run(&c, &with(good(), "redirect_uri", "")).unwrap();
        assert_eq!(r.redirect_uri, "https://app.example/cb");
        assert!(!r.redirect_uri_in_request);
    }

    fn redirected_code(e: AuthorizeError) -> (&'static str, Option<String>, bool) {
        match e {
            AuthorizeError::Redirect {
                error,
                state,
                fragment,
                ..
            } => (error.code(), state, fragment),
            AuthorizeError::Page(e) => panic!("expected a redirect, got page {e:?}"),
        }
    }

    #[test]
    fn other_errors_go_back_with_state() {
        let c = client(true);
        let cases = [
            (with(good(), "response_type", ""), "invalid_request"),
            (
                with(good(), "response_type", "id_token"),
                "unsupported_response_type",
            ),
            (
                with(good(), "response_type", "token"),
                "unauthorized_client",
            ),
            (with(good(), "scope", "admin"), "invalid_scope"),
            (with(good(), "code_challenge", ""), "invalid_request"),
            (
                with(good(), "code_challenge_method", "plain"),
                "invalid_request",
            ),
            (
                with(good(), "code_challenge_method", "S512"),
                "invalid_request",
            ),
            (with(good(), "code_challenge", "short"), "invalid_request"),
            (with(good(), "prompt", "select_account"), "invalid_request"),
        ];
        for (q, want) in cases {
            let (code, state, _) = redirected_code(run(&c, &q).unwrap_err());
            assert_eq!(code, want, "{q:?}");
            assert_eq!(state.as_deref(), Some("xyz"));
        }
    }

    #[test]
    fn implicit_errors_use_the_fragment() {
        let c = client(false);
        let (code, _, fragment) =
            redirected_code(run(&c, &with(good(), "response_type", "token")).unwrap_err());
        assert_eq!(code, "unauthorized_client");
        assert!(fragment);
    }

    #[test]
    fn pkce_policy() {
        let conf = client(false);
        // Confidential clients may omit PKCE unless the server requires it.
        let no_pkce = with(
            with(good(), "code_challenge", ""),
            "code_challenge_method",
            "",
        );
        assert!(run(&conf, &no_pkce).unwrap().code_challenge.is_none());
        let strict = PkcePolicy {
            require_for_confidential: true,
            ..Default::default()
        };
        assert!(run_with(&conf, &no_pkce, strict).is_err());
        // Public clients never may.
        assert!(run(&client(true), &no_pkce).is_err());
        // plain only when allowed; an absent method means plain (RFC 7636 §4.3).
        let plain = with(good(), "code_challenge_method", "");
        assert!(run(&conf, &plain).is_err());
        let lax = PkcePolicy {
            allow_plain: true,
            ..Default::default()
        };
        assert_eq!(
            run_with(&conf, &plain, lax)
                .unwrap()
                .code_challenge
                .unwrap()
                .1,
            PkceMethod::Plain
        );
    }

    #[test]
    fn overlong_state_is_a_page_error() {
        let long: &'static str = Box::leak("s".repeat(MAX_STATE_LEN + 1).into_boxed_str());
        assert!(matches!(
            run(&client(true), &with(good(), "state", long)).unwrap_err(),
            AuthorizeError::Page(_)
        ));
    }
}
