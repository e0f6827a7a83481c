//! The store's one error type.

use core::fmt;

use sqlx::error::ErrorKind;

/// What went wrong in the store.
///
/// Messages name the operation, table or column, never a bound value: PostgreSQL's `DETAIL`
/// (which can quote a row) is not shown, and `Debug` prints the same text as `Display`.
#[non_exhaustive]
pub enum StoreError {
    /// The URL names no supported backend (`sqlite://PATH`, `sqlite::memory:`, `postgres://...`).
    UnsupportedUrl,
    /// The database could not be opened or reached.
    Connect {
        /// `"sqlite"` or `"postgres"`.
        backend: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Applying the migrations failed.
    Migrate {
        /// `"sqlite"` or `"postgres"`.
        backend: &'static str,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
    /// A row with the same key already exists (primary key or unique column).
    AlreadyExists {
        /// The operation that tried to insert it.
        op: &'static str,
    },
    /// The database refused a write: a foreign key, check or not-null constraint.
    Rejected {
        /// The operation.
        op: &'static str,
        /// Which kind of constraint (`"foreign key"`, `"check"`, `"not null"`).
        constraint: &'static str,
    },
    /// Any other database failure (I/O, connection lost, timeout).
    Query {
        /// The operation.
        op: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A stored value does not fit its Rust type (wrong length, out of range, unknown name).
    Corrupt {
        /// The column.
        column: &'static str,
    },
    /// The batch holding this write could not be committed (SQLite group commit: I/O error,
    /// disk full); the write did not happen.
    CommitFailed {
        /// The operation.
        op: &'static str,
    },
    /// SQLite failed on the fast writer's connection (I/O, busy, corrupt), by result code.
    Engine {
        /// The operation.
        op: &'static str,
        /// SQLite's result code, e.g. `DatabaseBusy`.
        code: String,
    },
    /// The database's write-ahead log could not be synced to stable storage.
    Sync {
        /// The I/O error.
        source: std::io::Error,
    },
    /// The decision closure returned something the store cannot post; nothing was written.
    InvalidDecision {
        /// Why.
        reason: &'static str,
    },
}

impl StoreError {
    /// Maps a driver error raised by `op`, classifying constraint violations.
    pub(crate) fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| {
            let kind = source.as_database_error().map(|e| e.kind());
            match kind {
                Some(ErrorKind::UniqueViolation) => Self::AlreadyExists { op },
                Some(ErrorKind::ForeignKeyViolation) => Self::Rejected {
                    op,
                    constraint: "foreign key",
                },
                Some(ErrorKind::CheckViolation) => Self::Rejected {
                    op,
                    constraint: "check",
                },
                Some(ErrorKind::NotNullViolation) => Self::Rejected {
                    op,
                    constraint: "not null",
                },
                _ => Self::Query { op, source },
            }
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedUrl => f.write_str(
                "unsupported database URL: expected sqlite://PATH, sqlite::memory: or postgres://...",
            ),
            Self::Connect { backend, source } => write!(f, "cannot open the {backend} store: {source}"),
            Self::Migrate { backend, source } => {
                write!(f, "cannot migrate the {backend} store: {source}")
            }
            Self::AlreadyExists { op } => write!(f, "{op}: a row with this key already exists"),
            Self::Rejected { op, constraint } => {
                write!(f, "{op}: rejected by a {constraint} constraint")
            }
            Self::Query { op, source } => write!(f, "{op}: database error: {source}"),
            Self::Corrupt { column } => write!(f, "stored value of {column} is malformed"),
            Self::CommitFailed { op } => {
                write!(f, "{op}: the transaction could not be committed; nothing was written")
            }
            Self::Sync { source } => write!(f, "cannot sync the write-ahead log: {source}"),
            Self::Engine { op, code } => write!(f, "{op}: SQLite error {code}"),
            Self::InvalidDecision { reason } => write!(f, "decision not posted: {reason}"),
        }
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect { source, .. } | Self::Query { source, .. } => Some(source),
            Self::Migrate { source, .. } => Some(source),
            Self::Sync { source } => Some(source),
            _ => None,
        }
    }
}
