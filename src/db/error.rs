//! Errors of the `db` module.

use crate::pg::PgError;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Pg(#[from] PgError),

    #[error("cannot connect to {target}: {reason}; {hint}")]
    Connect {
        target: String,
        reason: String,
        hint: String,
    },

    #[error("{what} failed: {reason}")]
    Query { what: String, reason: String },

    #[error(
        "migration {version} ({name}) was changed after it was applied (sha256 {applied} in the \
         database, {embedded} in this binary); migrations are never edited once released: restore \
         the original file and add a new migration"
    )]
    MigrationEdited {
        version: i32,
        name: String,
        applied: String,
        embedded: String,
    },

    #[error(
        "the database has migration {version} ({name}) that this binary does not know: it was \
         migrated by a newer stella-bundle; use that version"
    )]
    MigrationUnknown { version: i32, name: String },

    #[error("migration {version} ({name}) left an invalid index {index} (an interrupted CREATE INDEX CONCURRENTLY); drop it and run `db migrate` again")]
    InvalidIndex {
        version: i32,
        name: String,
        index: String,
    },
}

impl DbError {
    /// Wrap a driver error with what we were doing, keeping the server's message, detail and hint.
    pub fn query(what: impl Into<String>, e: postgres::Error) -> Self {
        DbError::Query {
            what: what.into(),
            reason: describe(&e),
        }
    }
}

/// The server's message (with detail and hint) or the client-side cause, without Rust debug text.
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} ({})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(&format!("; {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}
