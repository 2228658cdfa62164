//! Grant handlers as plain functions: an authenticated client and the request
//! parameters in, a token response or an `OAuthError` out.
pub mod client_credentials;
pub mod refresh_token;
