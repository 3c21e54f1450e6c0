//! Errors of the scan stage.

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Db(#[from] DbError),

    #[error("no SBOM imported for artifact {0}; import an SBOM bundle that describes it (see `findings` for known artifacts)")]
    UnknownArtifact(String),

    #[error("nothing to scan: no SBOM has been imported for tenant {0}")]
    NothingToScan(String),

    #[error("{0:?} is not a valid purl: {1}")]
    BadPurl(String, String),

    #[error("another scan of {artifact} is running (advisory lock held); wait for it or run without --no-wait")]
    Busy { artifact: String },

    #[error("cannot write the scan manifest {path}: {source}")]
    WriteManifest {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("scan manifest: {0}")]
    Manifest(String),
}
