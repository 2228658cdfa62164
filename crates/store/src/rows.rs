//! Row decoding shared by both backends. The schemas use the same column
//! names and the same Rust-side types (i64, text, bytes, JSON), so one generic
//! decoder per record serves SQLite and PostgreSQL alike; a value that does not
//! decode is `Corrupt`, never a panic.
use std::collections::BTreeMap;

use sqlx::types::Json;
use sqlx::{ColumnIndex, Database, Decode, Row, Type};
use tollgate_core::{Client, ScopeSet, TokenHash, TokenKind, TokenRecord, User};

use crate::{
    AuditEvent, AuditRecord, AuthServerRecord, CodeRecord, ConnectionRecord, ConnectionTokens,
    ConsentRecord, ConsumerRecord, ConsumerStatus, KeyStatus, ProxyRecord, RegistrationTokenRecord,
    Result, ServiceRecord, SessionRecord, SigningKeyRecord, StoreError, UserGrantRecord,
};

/// The column types every decoder needs; spelled once so each decoder's bound
/// list stays short.
pub(crate) trait Columns<'r>: Row + Sized {
    fn text(&'r self, col: &'static str) -> Result<String>;
    fn opt_text(&'r self, col: &'static str) -> Result<Option<String>>;
    fn int(&'r self, col: &'static str) -> Result<i64>;
    fn opt_int(&'r self, col: &'static str) -> Result<Option<i64>>;
    fn flag(&'r self, col: &'static str) -> Result<bool>;
    fn bytes(&'r self, col: &'static str) -> Result<Vec<u8>>;
    fn opt_bytes(&'r self, col: &'static str) -> Result<Option<Vec<u8>>>;
    fn json<T: serde::de::DeserializeOwned>(&'r self, col: &'static str) -> Result<T>;
}

impl<'r, R> Columns<'r> for R
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    Json<serde_json::Value>: Decode<'r, R::Database> + Type<R::Database>,
    R::Database: Database,
{
    fn text(&'r self, col: &'static str) -> Result<String> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&'r self, col: &'static str) -> Result<Option<String>> {
        Ok(self.try_get(col)?)
    }
    fn int(&'r self, col: &'static str) -> Result<i64> {
        Ok(self.try_get(col)?)
    }
    fn opt_int(&'r self, col: &'static str) -> Result<Option<i64>> {
        Ok(self.try_get(col)?)
    }
    fn flag(&'r self, col: &'static str) -> Result<bool> {
        Ok(self.try_get(col)?)
    }
    fn bytes(&'r self, col: &'static str) -> Result<Vec<u8>> {
        Ok(self.try_get(col)?)
    }
    fn opt_bytes(&'r self, col: &'static str) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(col)?)
    }
    fn json<T: serde::de::DeserializeOwned>(&'r self, col: &'static str) -> Result<T> {
        // Decode through `Value` so the bound stays one concrete type; the
        // second step names the column when the shape is wrong.
        let Json(v): Json<serde_json::Value> = self.try_get(col)?;
        serde_json::from_value(v).map_err(|e| corrupt(col, e))
    }
}

fn corrupt(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {col}: {e}"))
}

fn hash<'r, R: Columns<'r>>(r: &'r R, col: &'static str) -> Result<TokenHash> {
    TokenHash::from_slice(&r.bytes(col)?).ok_or_else(|| corrupt(col, "not 32 bytes"))
}

fn scope<'r, R: Columns<'r>>(r: &'r R) -> Result<ScopeSet> {
    ScopeSet::parse(&r.text("scope")?).map_err(|e| corrupt("scope", e))
}

fn count<'r, R: Columns<'r>>(r: &'r R, col: &'static str) -> Result<u32> {
    u32::try_from(r.int(col)?).map_err(|e| corrupt(col, e))
}

pub(crate) fn client<'r, R: Columns<'r>>(r: &'r R) -> Result<Client> {
    r.json("doc")
}

pub(crate) fn user<'r, R: Columns<'r>>(r: &'r R) -> Result<User> {
    r.json("doc")
}

pub(crate) fn session<'r, R: Columns<'r>>(r: &'r R) -> Result<SessionRecord> {
    Ok(SessionRecord {
        hash: hash(r, "hash")?,
        subject: r.text("subject")?,
        auth_time: r.int("auth_time")?,
        created_at: r.int("created_at")?,
        expires_at: r.int("expires_at")?,
    })
}

pub(crate) fn consent<'r, R: Columns<'r>>(r: &'r R) -> Result<ConsentRecord> {
    Ok(ConsentRecord {
        subject: r.text("subject")?,
        client_id: r.text("client_id")?,
        scope: scope(r)?,
        granted_at: r.int("granted_at")?,
        updated_at: r.int("updated_at")?,
    })
}

pub(crate) fn user_grant<'r, R: Columns<'r>>(r: &'r R) -> Result<UserGrantRecord> {
    Ok(UserGrantRecord {
        grant_id: r.text("grant_id")?,
        subject: r.text("subject")?,
        client_id: r.text("client_id")?,
        grant_type: r.text("grant_type")?,
        scope: scope(r)?,
        created_at: r.int("created_at")?,
    })
}

pub(crate) fn token<'r, R: Columns<'r>>(r: &'r R) -> Result<TokenRecord> {
    let kind = r.text("kind")?;
    Ok(TokenRecord {
        hash: hash(r, "hash")?,
        kind: TokenKind::parse(&kind).ok_or_else(|| corrupt("kind", "unknown token kind"))?,
        client_id: r.text("client_id")?,
        subject: r.opt_text("subject")?,
        scope: scope(r)?,
        audience: r.json("audience")?,
        token_type: r.text("token_type")?,
        issued_at: r.int("issued_at")?,
        expires_at: r.int("expires_at")?,
        grant_id: r.text("grant_id")?,
        revoked_at: r.opt_int("revoked_at")?,
        metadata: r.json::<BTreeMap<String, String>>("metadata")?,
    })
}

pub(crate) fn code<'r, R: Columns<'r>>(r: &'r R) -> Result<CodeRecord> {
    Ok(CodeRecord {
        hash: hash(r, "hash")?,
        client_id: r.text("client_id")?,
        subject: r.text("subject")?,
        redirect_uri: r.opt_text("redirect_uri")?,
        scope: scope(r)?,
        code_challenge: r.opt_text("code_challenge")?,
        code_challenge_method: r.opt_text("code_challenge_method")?,
        issued_at: r.int("issued_at")?,
        expires_at: r.int("expires_at")?,
        grant_id: r.text("grant_id")?,
        params: r.json("params")?,
        used_at: r.opt_int("used_at")?,
    })
}

pub(crate) fn key<'r, R: Columns<'r>>(r: &'r R) -> Result<SigningKeyRecord> {
    let status = r.text("status")?;
    Ok(SigningKeyRecord {
        kid: r.text("kid")?,
        alg: r.text("alg")?,
        private_key_encrypted: r.bytes("private_key")?,
        public_jwk: r.json("public_jwk")?,
        status: KeyStatus::parse(&status).ok_or_else(|| corrupt("status", "unknown status"))?,
        created_at: r.int("created_at")?,
        retired_at: r.opt_int("retired_at")?,
    })
}

pub(crate) fn registration_token<'r, R: Columns<'r>>(r: &'r R) -> Result<RegistrationTokenRecord> {
    Ok(RegistrationTokenRecord {
        id: r.text("id")?,
        hash: hash(r, "hash")?,
        description: r.text("description")?,
        created_at: r.int("created_at")?,
        expires_at: r.opt_int("expires_at")?,
        max_uses: match r.opt_int("max_uses")? {
            Some(_) => Some(count(r, "max_uses")?),
            None => None,
        },
        uses: count(r, "uses")?,
        revoked: r.flag("revoked")?,
    })
}

pub(crate) fn audit<'r, R: Columns<'r>>(r: &'r R) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.int("id")?,
        event: AuditEvent {
            at: r.int("at")?,
            event: r.text("event")?,
            client_id: r.opt_text("client_id")?,
            outcome: r.text("outcome")?,
            remote_addr: r.opt_text("remote_addr")?,
            detail: r.json("detail")?,
        },
    })
}

pub(crate) fn service<'r, R: Columns<'r>>(r: &'r R) -> Result<ServiceRecord> {
    Ok(ServiceRecord {
        name: r.text("name")?,
        alias: r.text("alias")?,
        spec: r.json("spec")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

pub(crate) fn consumer<'r, R: Columns<'r>>(r: &'r R) -> Result<ConsumerRecord> {
    let status = r.text("status")?;
    Ok(ConsumerRecord {
        service: r.text("service")?,
        client_id: r.text("client_id")?,
        application: r.text("application")?,
        status: ConsumerStatus::parse(&status)
            .ok_or_else(|| corrupt("status", "unknown consumer status"))?,
        settings: r.json("settings")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

pub(crate) fn auth_server<'r, R: Columns<'r>>(r: &'r R) -> Result<AuthServerRecord> {
    Ok(AuthServerRecord {
        name: r.text("name")?,
        spec: r.json("spec")?,
        secret_encrypted: r.opt_bytes("secret_encrypted")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

pub(crate) fn connection<'r, R: Columns<'r>>(r: &'r R) -> Result<ConnectionRecord> {
    Ok(ConnectionRecord {
        name: r.text("name")?,
        spec: r.json("spec")?,
        secrets_encrypted: r.opt_bytes("secrets_encrypted")?,
        proxy_alias: r.opt_text("proxy_alias")?,
        tokens: ConnectionTokens {
            access_token_encrypted: r.opt_bytes("access_token_encrypted")?,
            refresh_token_encrypted: r.opt_bytes("refresh_token_encrypted")?,
            token_type: r.opt_text("token_type")?,
            scope: r.opt_text("scope")?,
            expires_at: r.opt_int("expires_at")?,
            obtained_at: r.opt_int("obtained_at")?,
            status: r.text("status")?,
            last_error: r.opt_text("last_error")?,
            version: r.int("token_version")?,
        },
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

pub(crate) fn proxy<'r, R: Columns<'r>>(r: &'r R) -> Result<ProxyRecord> {
    Ok(ProxyRecord {
        name: r.text("name")?,
        url: r.text("url")?,
        username: r.opt_text("username")?,
        password_encrypted: r.opt_bytes("password_encrypted")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

/// Page sizes for listing calls: 0 asks for the default, larger requests are
/// capped so one call cannot load a whole table into memory.
pub(crate) const DEFAULT_PAGE: u32 = 100;
pub(crate) const MAX_PAGE: u32 = 1000;

pub(crate) fn page(limit: u32) -> i64 {
    i64::from(if limit == 0 {
        DEFAULT_PAGE
    } else {
        limit.min(MAX_PAGE)
    })
}
