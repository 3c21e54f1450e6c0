//! The crate's top-level error: each stage has its own typed error; this enum carries them to the
//! edge, where [`Error::exit_code`] maps them to the exit codes fixed in SPEC section 3:
//! `0` success, `1` failure, `2` usage, `3` verification failed, `4` replay differs, `5` busy.

use crate::backup::BackupError;
use crate::db::DbError;
use crate::events::EventError;
use crate::pg::PgError;
use crate::queue::QueueError;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_VERIFICATION: i32 = 3;
pub const EXIT_REPLAY_DIFFERS: i32 = 4;
pub const EXIT_BUSY: i32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Db(#[from] DbError),

    #[error(transparent)]
    Pg(#[from] PgError),

    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),

    #[error(transparent)]
    Import(Box<crate::import::ImportError>),

    #[error(transparent)]
    Scan(#[from] crate::scan::ScanError),

    #[error(transparent)]
    Queue(#[from] QueueError),

    #[error(transparent)]
    Events(#[from] EventError),

    #[error(transparent)]
    Backup(#[from] BackupError),

    #[error(transparent)]
    Replay(#[from] crate::replay::ReplayError),

    #[error(transparent)]
    Export(#[from] crate::export::ExportError),

    /// Wrong arguments that clap could not catch (exit 2).
    #[error("{0}")]
    Usage(String),

    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    File {
        action: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A command ran and reports failure in its output (lint violations, for example); the
    /// report was already printed.
    #[error("{0}")]
    Reported(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::Bundle(e) => e.exit_code(),
            Error::Replay(crate::replay::ReplayError::Verify { .. }) => EXIT_VERIFICATION,
            Error::Replay(crate::replay::ReplayError::MissingInput { .. }) => EXIT_REPLAY_DIFFERS,
            Error::Scan(crate::scan::ScanError::Busy { .. }) => EXIT_BUSY,
            Error::Scan(crate::scan::ScanError::BadPurl(..)) => EXIT_USAGE,
            Error::Import(e) if e.is_verification_failure() => EXIT_VERIFICATION,
            Error::Backup(BackupError::Usage(_)) => EXIT_USAGE,
            Error::Backup(BackupError::Busy { .. }) => EXIT_BUSY,
            Error::Backup(BackupError::VerifyFailed { .. }) => EXIT_VERIFICATION,
            Error::Export(e) if e.is_verification_failure() => EXIT_VERIFICATION,
            _ => EXIT_FAILURE,
        }
    }

    pub fn file(
        action: &'static str,
        path: impl Into<std::path::PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::File {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<crate::import::ImportError> for Error {
    fn from(e: crate::import::ImportError) -> Self {
        Error::Import(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
