//! Errors of the `backup` module: each says what failed, where, and what to do about it.

use crate::db::DbError;
use crate::pg::PgError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Pg(#[from] PgError),

    #[error(transparent)]
    Db(#[from] DbError),

    #[error("cannot {action} {path}: {source}; check that the repository is mounted and writable")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{name}` is not a WAL file name (segment, .partial, .history or .backup); archive_command must pass %f")]
    BadWalName { name: String },

    #[error("{path} is not a valid WAL segment for {name}: {reason}; refusing to archive it")]
    BadSegment {
        name: String,
        path: PathBuf,
        reason: String,
    },

    #[error(
        "segment {name} comes from the cluster with system identifier {found}, but the repository \
         {repo} belongs to system identifier {expected}; refusing to mix them: give this cluster \
         its own --repo"
    )]
    ForeignCluster {
        name: String,
        found: u64,
        expected: u64,
        repo: PathBuf,
    },

    #[error(
        "{name} is already archived at {path} with different content (sha256 {existing}, this one \
         {new}); it is never overwritten. Two servers archive into one repository (a restored and \
         promoted copy?): give each its own --repo"
    )]
    WalConflict {
        name: String,
        path: PathBuf,
        existing: String,
        new: String,
    },

    #[error("segment {name} is not in the archive ({dir})")]
    WalMissing { name: String, dir: PathBuf },

    #[error("archived {name} at {path} is damaged ({reason}); restore it from a copy of the repository or take a new base backup")]
    WalCorrupt {
        name: String,
        path: PathBuf,
        reason: String,
    },

    #[error(
        "another backup or prune holds the repository lock {lock} ({holder}); wait for it to finish"
    )]
    Busy { lock: PathBuf, holder: String },

    #[error("{tool} failed: {output}")]
    ToolFailed { tool: String, output: String },

    #[error("backup {label} failed verification: {reason}")]
    VerifyFailed { label: String, reason: String },

    #[error("no backup named {label} in {dir}; `stella-bundle backup list` shows them")]
    NoSuchBackup { label: String, dir: PathBuf },

    #[error("{0}")]
    NoBackup(String),

    #[error(
        "the server has system identifier {server}, but the repository {repo} belongs to {repo_id}; \
         use another --repo for this cluster"
    )]
    RepoOfAnotherCluster {
        server: u64,
        repo_id: u64,
        repo: PathBuf,
    },

    #[error("{path} exists and is not empty; restore needs a new or empty folder")]
    TargetNotEmpty { path: PathBuf },

    #[error("recovery did not reach the target: {reason}. Server log {log}, last lines:\n{tail}")]
    RecoveryFailed {
        reason: String,
        log: PathBuf,
        tail: String,
    },

    #[error("{what} in {path} is malformed: {reason}")]
    Malformed {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },

    #[error("{0}")]
    Usage(String),

    #[error("prune refused: {0}")]
    Refused(String),
}

impl BackupError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        BackupError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(
        what: &'static str,
        path: impl Into<PathBuf>,
        reason: impl Into<String>,
    ) -> Self {
        BackupError::Malformed {
            what,
            path: path.into(),
            reason: reason.into(),
        }
    }
}
