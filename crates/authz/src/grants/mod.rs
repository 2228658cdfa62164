pub mod assertion;
pub mod authorization_code;
pub mod client_credentials;
pub mod jwt_bearer;
pub mod password;
pub mod refresh_token;
pub mod saml_bearer;
