//! The first start creates an admin client (client credentials, scope
//! `tollgate:admin`) and writes its credentials to a 0600 file in the data
//! directory, so a fresh install can be managed over HTTP at once.
//!
//! Later starts leave an existing admin client alone, even when the file is
//! gone: an operator who moved the secret elsewhere must not have it rotated
//! under them (`tollgate client rotate-secret tollgate-admin` issues a new one).
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tollgate_authz::clients::{self, NewClient};
use tollgate_authz::{Error, Services};
use tollgate_core::{GrantType, ScopeSet};

use crate::auth::ADMIN_SCOPE;

pub const ADMIN_CLIENT_ID: &str = "tollgate-admin";
pub const CREDENTIALS_FILE: &str = "admin-client.json";

/// The file's content.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdminCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub token_endpoint: String,
    pub scope: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("creating the admin client: {0}")]
    Client(#[from] Error),
    #[error("writing {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Creates the admin client if there is none. Returns the credentials file's
/// path when this call created the client.
pub async fn ensure_admin_client(
    svc: &Services,
    data_dir: &Path,
) -> Result<Option<PathBuf>, BootstrapError> {
    if svc
        .store
        .get_client(ADMIN_CLIENT_ID)
        .await
        .map_err(Error::from)?
        .is_some()
    {
        return Ok(None);
    }
    let scopes = ScopeSet::parse(ADMIN_SCOPE).map_err(Error::from)?;
    let new = NewClient {
        id: Some(ADMIN_CLIENT_ID.into()),
        name: "Tollgate administration".into(),
        grant_types: Some([GrantType::ClientCredentials].into()),
        scopes,
        ..Default::default()
    };
    let view = match clients::create_client(svc, new).await {
        Ok(v) => v,
        // Another node of a shared database created it first.
        Err(Error::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(secret) = view.client_secret else {
        return Ok(None);
    };
    let path = data_dir.join(CREDENTIALS_FILE);
    let creds = AdminCredentials {
        client_id: ADMIN_CLIENT_ID.into(),
        client_secret: secret,
        token_endpoint: svc.settings.endpoint("/oauth2/token"),
        scope: ADMIN_SCOPE.into(),
    };
    let bytes = serde_json::to_vec_pretty(&creds).map_err(|e| BootstrapError::File {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    write_private(&path, &bytes).map_err(|source| BootstrapError::File {
        path: path.clone(),
        source,
    })?;
    Ok(Some(path))
}

/// Writes a file only its owner can read (0600 from creation, never wider).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}
