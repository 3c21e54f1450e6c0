//! Errors of the `pg` module: each says what failed, where, and what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "PostgreSQL server binaries not found (looked in: {searched}); install them with \
         `apt-get install postgresql` or point STELLA_PG_BIN at the folder holding `postgres` and `initdb`"
    )]
    BinariesNotFound { searched: String },

    #[error("STELLA_PG_BIN={0} does not hold `postgres` and `initdb`; point it at a PostgreSQL bin folder")]
    BadPgBin(PathBuf),

    #[error("PostgreSQL {found} at {bindir} is too old: stella-bundle needs 15 or newer")]
    TooOld { found: String, bindir: PathBuf },

    #[error(
        "the server cannot run as root and the OS user `{0}` does not exist; install the \
         `postgresql` package (it creates `postgres`) or set STELLA_PG_USER to an existing user"
    )]
    NoServerUser(String),

    #[error(
        "the server user `{user}` cannot reach {path}: {blocker} is not searchable by it; choose a \
         --home under a folder it can enter (e.g. /var/lib/stella-bundle) or `chmod o+x {blocker}`"
    )]
    NotReachable {
        user: String,
        path: PathBuf,
        blocker: PathBuf,
    },

    #[error(
        "data directory {path} belongs to uid {owner}, not to the server user `{user}` (uid {uid}); \
         fix the ownership (`chown -R {user} {path}`) or use another --home"
    )]
    DataDirOwner {
        path: PathBuf,
        owner: u32,
        user: String,
        uid: u32,
    },

    #[error("{path} is not a PostgreSQL data directory (no PG_VERSION) and is not empty; move it away or use another --home")]
    NotADataDir { path: PathBuf },

    #[error("cannot {action} {path}: {source}; check that the folder is writable (or pass another --home)")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("could not run {tool}: {source}")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },

    #[error("initdb failed for {path}; nothing was kept. Its output:\n{output}")]
    InitdbFailed { path: PathBuf, output: String },

    #[error("the server did not start ({reason}); see {log}. Last log lines:\n{tail}")]
    StartFailed {
        reason: String,
        log: PathBuf,
        tail: String,
    },

    #[error("the server did not stop: {output}")]
    StopFailed { output: String },

    #[error("{tool} failed: {output}")]
    ToolFailed { tool: String, output: String },
}

impl PgError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        PgError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
