use thiserror::Error;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    Conflict,
    /// A reference between records does not hold: a row names one that
    /// does not exist, or a row that others name was to be deleted (a
    /// foreign key). The caller knows which from what it asked.
    #[error("a referenced record is missing, or the record is still referred to")]
    Reference,
    /// The database cannot be reached or did not answer in time; callers
    /// answer 503 and retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored row that does not decode: a bug or tampering, never user input.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("invalid store configuration: {0}")]
    Config(String),
}

/// One mapping from driver errors to the store's vocabulary, so callers can
/// tell "retry later" (503) from "you collided" (409) from "bug" (500).
///
/// Messages never carry bound values: sqlx errors name statements, columns and
/// constraints, not parameters, and configuration errors are replaced by a fixed
/// text because a connection URL may contain a password.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::Io(_)
            | E::PoolTimedOut
            | E::PoolClosed
            | E::Tls(_)
            | E::Protocol(_)
            | E::WorkerCrashed
            | E::BeginFailed => Self::Unavailable(e.to_string()),
            E::Database(ref db) if db.is_unique_violation() => Self::Conflict,
            E::Database(ref db) if db.is_foreign_key_violation() => Self::Reference,
            E::Database(ref db) if is_transient(db.as_ref()) => Self::Unavailable(e.to_string()),
            E::RowNotFound => Self::NotFound,
            E::ColumnDecode { .. }
            | E::Decode(_)
            | E::ColumnNotFound(_)
            | E::ColumnIndexOutOfBounds { .. }
            | E::TypeNotFound { .. } => Self::Corrupt(e.to_string()),
            E::Configuration(_) => Self::Config("invalid database configuration".into()),
            other => Self::Database(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
            other => Self::Database(format!("migration failed: {other}")),
        }
    }
}

/// Database-reported errors that mean "the database cannot serve now" rather
/// than "this statement is wrong": a still-locked SQLite file after
/// `busy_timeout`, a full or unreadable disk; PostgreSQL connection exceptions
/// (class 08), exhausted resources (class 53) and shutdowns (57P).
fn is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Primary result codes: BUSY, LOCKED, IOERR, FULL, CANTOPEN.
        let primary = db
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .map(|c| c & 0xff);
        return matches!(primary, Some(5 | 6 | 10 | 13 | 14));
    }
    if let Some(e) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = e.code();
        return code.starts_with("08") || code.starts_with("53") || code.starts_with("57P");
    }
    false
}
