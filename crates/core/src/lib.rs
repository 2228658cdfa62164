//! Tollgate's domain: clients, scopes, token settings, redirect URIs and the
//! RFC-shaped error type. Pure policy, no I/O; every other crate builds on it.
#![forbid(unsafe_code)]

pub mod authorize;
pub mod client;
pub mod clock;
pub mod error;
pub mod forwarded;
pub mod grant;
pub mod pkce;
pub mod ratelimit;
pub mod redirect;
pub mod scope;
pub mod token;
pub mod user;

pub use client::{
    AuthMethod, Client, ClientId, ClientSecret, ClientType, Registration, SecretHashKind,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{OAuthError, error_chain};
pub use grant::GrantType;
pub use pkce::{CodeChallenge, PkceMethod, PkceVerifier};
pub use ratelimit::{FailureWindow, RateLimit, failure_delay_ms};
pub use redirect::RedirectUri;
pub use scope::{ScopeMatching, ScopeSet};
pub use token::{
    AccessTokenFormat, RefreshMode, TokenHash, TokenKind, TokenRecord, TokenSettings,
    TokenSettingsOverride,
};
pub use user::{User, Username};
