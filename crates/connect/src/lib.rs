//! Connections: the client side. Tollgate obtains and keeps fresh the
//! tokens it (or a script, or a gateway service's upstream) needs to call
//! other providers: authorization code with PKCE, the JWT bearer grant
//! (RFC 7523 §2.1), client credentials authenticated by a signed assertion
//! (RFC 7523 §2.2, with `x5t` / `x5t#S256`) or by a secret.
#![forbid(unsafe_code)]

pub mod authorize;
pub mod error;
pub mod manager;
pub mod provider;
pub mod proxies;
pub mod spec;

pub use error::ConnectError;
pub use manager::{AccessToken, ConnectionView, Connections, Opened};
pub use proxies::{ProxyInput, ProxyRoute, ProxyView};
pub use spec::{AssertionSpec, ConnectionSecrets, ConnectionSpec, Flow};
