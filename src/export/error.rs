//! Errors of `export`: each says what failed, where, and what to do. Nothing is left behind on
//! failure (the bundle is written to a temp file that is only renamed into place at the end).

use crate::bundle::BundleError;
use crate::db::DbError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "tenant {tenant:?} has no imported bundles: there is nothing to export (import feeds, \
         SBOMs or VEX first)"
    )]
    Empty { tenant: String },

    #[error(
        "--since {since}: no snapshot with that sha256 was exported or imported here for tenant \
         {tenant:?}; pass the snapshot file instead"
    )]
    UnknownBase { since: String, tenant: String },

    #[error("--since {}: {message}", path.display())]
    BadBase { path: PathBuf, message: String },

    #[error("{what}: {source}; no snapshot was written")]
    Db {
        what: String,
        #[source]
        source: DbError,
    },

    #[error("{}: {source}; no snapshot was written", out.display())]
    Bundle {
        out: PathBuf,
        #[source]
        source: Box<BundleError>,
    },

    #[error(
        "{}: {message}; no snapshot was written (the database changed under a consistent read? \
         export again)",
        out.display()
    )]
    Inconsistent { out: PathBuf, message: String },

    #[error("cannot {action} {}: {source}; no snapshot was written", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ExportError {
    pub(crate) fn db(what: &str) -> impl Fn(postgres::Error) -> ExportError + '_ {
        move |e| ExportError::Db {
            what: what.to_string(),
            source: DbError::query(what, e),
        }
    }

    /// The exit code class: a base snapshot that fails verification is exit 3.
    pub fn is_verification_failure(&self) -> bool {
        matches!(self, ExportError::Bundle { source, .. } if source.is_verification_failure())
    }
}
