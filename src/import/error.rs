//! Errors of the import stage. Verification failures keep their own class (exit 3); everything
//! else is a failed import (exit 1) whose transaction was rolled back.

use crate::bundle::BundleError;
use crate::db::DbError;
use crate::formats::FormatError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: {source}", file.display())]
    Bundle {
        file: PathBuf,
        #[source]
        source: Box<BundleError>,
    },

    #[error("{}: entry {entry}: {source}; nothing of this bundle was imported", file.display())]
    Format {
        file: PathBuf,
        entry: String,
        #[source]
        source: Box<FormatError>,
    },

    #[error(
        "{}: entry {entry} is {found}, but this is a {kind} bundle; nothing of it was imported",
        file.display()
    )]
    WrongDocument {
        file: PathBuf,
        entry: String,
        found: &'static str,
        kind: &'static str,
    },

    #[error(
        "{}: feed {source_name} is older than the active one ({detail}); import it anyway with \
         --allow-older --reason TEXT (the reason is recorded)",
        file.display()
    )]
    OlderFeed {
        file: PathBuf,
        source_name: String,
        detail: String,
    },

    #[error(
        "{}: this snapshot bundle is for tenant {bundle_tenant:?}, not {tenant:?}; import it with \
         --tenant {bundle_tenant}",
        file.display()
    )]
    OtherTenant {
        file: PathBuf,
        bundle_tenant: String,
        tenant: String,
    },

    #[error("{}: {message}", file.display())]
    Invalid { file: PathBuf, message: String },

    #[error(
        "{}: this delta snapshot applies on top of snapshot {base}, which was not imported here \
         (tenant {tenant:?}); import that snapshot first, then this one; nothing was imported",
        file.display()
    )]
    MissingBase {
        file: PathBuf,
        base: String,
        tenant: String,
    },

    #[error(
        "{}: snapshot verification failed: {message}; the snapshot is incomplete or was altered \
         after signing by its exporter: export it again at its site; nothing was imported",
        file.display()
    )]
    BadSnapshot { file: PathBuf, message: String },

    #[error("{}: cannot read {}: {source}", file.display(), path.display())]
    Io {
        file: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: {source}; nothing of this bundle was imported", file.display())]
    Db {
        file: PathBuf,
        #[source]
        source: DbError,
    },
}

impl ImportError {
    /// True when the bundle failed verification (SPEC exit code 3).
    pub fn is_verification_failure(&self) -> bool {
        match self {
            ImportError::Bundle { source, .. } => source.is_verification_failure(),
            ImportError::BadSnapshot { .. } => true,
            _ => false,
        }
    }
}
