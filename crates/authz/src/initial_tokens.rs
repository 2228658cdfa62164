//! Initial access tokens (RFC 7591 §3): what an operator hands out so that
//! software can register itself at `/oauth2/register`.
use serde::Serialize;
use tollgate_jose::secrets::{random_token, token_hash};
use tollgate_store::RegistrationTokenRecord;

use crate::Error;
use crate::clients::internal;
use crate::services::Services;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedRegistrationToken {
    /// The token in clear; shown once, stored only as a hash.
    pub token: String,
    pub id: String,
    pub description: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub max_uses: Option<u32>,
}

pub async fn create(
    svc: &Services,
    description: &str,
    expires_in: Option<u64>,
    max_uses: Option<u32>,
) -> Result<CreatedRegistrationToken, Error> {
    let token = random_token(48).map_err(internal)?;
    let now = svc.now();
    let record = RegistrationTokenRecord {
        id: random_token(12).map_err(internal)?,
        hash: token_hash(&token),
        description: description.to_owned(),
        created_at: now,
        expires_at: expires_in.map(|s| now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX))),
        max_uses,
        uses: 0,
        revoked: false,
    };
    svc.store.insert_registration_token(&record).await?;
    svc.audit(
        "registration_token.created",
        None,
        "ok",
        None,
        serde_json::json!({"id": record.id}),
    );
    Ok(CreatedRegistrationToken {
        token,
        id: record.id,
        description: record.description,
        created_at: now,
        expires_at: record.expires_at,
        max_uses,
    })
}
