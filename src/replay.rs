//! `replay MANIFEST`: prove a past scan. Verify the signed manifest, restore the database into a
//! private temporary cluster paused exactly at the manifest's LSN (the restore point the scan
//! created while its inputs were locked), check that every input the manifest names is there,
//! re-run the same engine read-only, and compare the result digest. The temporary cluster never
//! archives WAL and never forks a timeline; it is removed afterwards unless kept.

use crate::backup::{self, BackupError, Lsn};
use crate::bundle::{TrustSet, VerifyError};
use crate::db::{self, DbError, Tenant};
use crate::home::Home;
use crate::scan::digest::Finding;
use crate::scan::engine::{self, ScannedSbom};
use crate::scan::manifest::{self, VerifiedManifest};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read the manifest {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("manifest {path}: verification failed: {source}")]
    Verify {
        path: std::path::PathBuf,
        #[source]
        source: VerifyError,
    },

    #[error("manifest {path}: {message}")]
    Invalid {
        path: std::path::PathBuf,
        message: String,
    },

    #[error(transparent)]
    Backup(#[from] BackupError),

    #[error(transparent)]
    Db(#[from] DbError),

    /// The restored database lacks an input the manifest names: it cannot reproduce the scan.
    #[error("the database restored to {lsn} lacks {what} named by the manifest; the scan cannot be reproduced from this archive")]
    MissingInput { lsn: String, what: String },
}

/// Findings that differ between the recorded scan and its replay.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diff {
    /// Where the recorded findings came from (`database` when the live database still has them).
    pub recorded_from: Option<String>,
    pub only_in_recorded: Vec<Finding>,
    pub only_in_replay: Vec<Finding>,
    pub note: Option<String>,
}

/// SPEC section 8's `--json` object.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayOutcome {
    pub scan_id: String,
    pub identical: bool,
    pub expected_digest: String,
    pub actual_digest: String,
    pub backup: String,
    pub recovered_to_lsn: String,
    pub seconds: f64,
    /// From the start until the restored server is paused at the LSN: checks, choosing the
    /// backup, `unpack_seconds`, configuration, `recovery_seconds`.
    pub restore_seconds: f64,
    /// Of `restore_seconds`: unpacking the base backup into the temporary data directory.
    pub unpack_seconds: f64,
    /// Of `restore_seconds`: from starting the restored server until replay paused at the LSN
    /// (WAL fetched from the archive and replayed).
    pub recovery_seconds: f64,
    /// Checking the inputs and re-running the scan on the paused server.
    pub scan_seconds: f64,
    pub engine_version: String,
    pub manifest_engine_version: String,
    pub kept_data_dir: Option<String>,
    pub diff: Diff,
}

/// Read and verify a manifest file.
pub fn load_manifest(path: &Path, trust: &TrustSet) -> Result<VerifiedManifest, ReplayError> {
    let bytes = std::fs::read(path).map_err(|source| ReplayError::Read {
        path: path.into(),
        source,
    })?;
    manifest::verify(&bytes, trust).map_err(|source| ReplayError::Verify {
        path: path.into(),
        source,
    })
}

/// Replay a verified manifest. `recorded` gives the findings recorded by the original scan when
/// the live database still has them (for the diff).
pub fn replay(
    home: &Home,
    path: &Path,
    m: &VerifiedManifest,
    keep: bool,
    recorded: Option<Vec<Finding>>,
) -> Result<ReplayOutcome, ReplayError> {
    let started = Instant::now();
    let p = &m.statement.predicate;
    let invalid = |message: String| ReplayError::Invalid {
        path: path.into(),
        message,
    };
    let sysid: u64 = p.database.system_identifier.parse().map_err(|_| {
        invalid(format!(
            "database.system_identifier {:?} is not a number",
            p.database.system_identifier
        ))
    })?;
    let lsn_text = p.database.lsn.clone().ok_or_else(|| {
        invalid(
            "the scan recorded no LSN (it ran without a restore point): it cannot be replayed"
                .into(),
        )
    })?;
    let lsn: Lsn = lsn_text.parse().map_err(|e: String| invalid(e))?;
    let timeline = u32::try_from(p.database.timeline).ok();
    backup::install::install_self(home)?;
    let mut server = backup::restore_to_lsn(home, sysid, lsn, timeline)?;
    server.keep(keep);
    let restore_seconds = started.elapsed().as_secs_f64();
    let scan_started = Instant::now();
    let mut client = db::connect_url(&server.url(crate::db::EMBEDDED_DATABASE))?;
    let tenant = Tenant::new(&p.tenant);
    let at = server.recovered_to_lsn().to_string();

    // Every input the manifest names must be there, by hash.
    let mut sboms = Vec::new();
    for s in &p.inputs.sboms {
        let hash = hex::decode(&s.content_hash)
            .map_err(|_| invalid(format!("bad SBOM hash {}", s.content_hash)))?;
        let row = client
            .query_opt(
                "SELECT id, artifact_purl FROM sbom_document WHERE tenant_id = $1 AND content_hash = $2",
                &[&tenant.id, &hash],
            )
            .map_err(|e| DbError::query("looking up the scanned SBOMs", e))?
            .ok_or_else(|| ReplayError::MissingInput {
                lsn: at.clone(),
                what: format!("SBOM {} of {}", s.content_hash, s.artifact_purl),
            })?;
        sboms.push(ScannedSbom {
            artifact_purl: s.artifact_purl.clone(),
            sbom_id: row.get(0),
            content_hash: s.content_hash.clone(),
        });
    }
    for v in &p.inputs.vex {
        let hash = hex::decode(&v.content_hash)
            .map_err(|_| invalid(format!("bad VEX hash {}", v.content_hash)))?;
        let found = client
            .query_opt(
                "SELECT 1 FROM vex_document WHERE tenant_id = $1 AND content_hash = $2",
                &[&tenant.id, &hash],
            )
            .map_err(|e| DbError::query("looking up the VEX documents", e))?;
        if found.is_none() {
            return Err(ReplayError::MissingInput {
                lsn: at,
                what: format!("VEX document {}", v.content_hash),
            });
        }
    }
    for f in &p.inputs.feeds {
        let hash = hex::decode(&f.bundle_sha256)
            .map_err(|_| invalid(format!("bad feed hash {}", f.bundle_sha256)))?;
        let found = client
            .query_opt(
                "SELECT 1 FROM bundle_import WHERE tenant_id = $1 AND bundle_sha256 = $2",
                &[&tenant.id, &hash],
            )
            .map_err(|e| DbError::query("looking up the feed bundles", e))?;
        if found.is_none() {
            return Err(ReplayError::MissingInput {
                lsn: at,
                what: format!("feed bundle {} of source {}", f.bundle_sha256, f.source),
            });
        }
    }
    let eval = engine::evaluate(&mut client, tenant.id, &sboms)?;
    let scan_seconds = scan_started.elapsed().as_secs_f64();
    let identical = eval.digest == p.result.digest;
    let mut diff = Diff::default();
    if !identical {
        if p.engine.version != engine::ENGINE_VERSION {
            diff.note = Some(format!(
                "the manifest was made by engine {} and this is engine {}: the matching rules may differ",
                p.engine.version,
                engine::ENGINE_VERSION
            ));
        }
        match recorded {
            Some(rec) => {
                let a: BTreeSet<&Finding> = rec.iter().collect();
                let b: BTreeSet<&Finding> = eval.matches.findings.iter().collect();
                diff.recorded_from = Some("database".into());
                diff.only_in_recorded = a.difference(&b).map(|f| (*f).clone()).collect();
                diff.only_in_replay = b.difference(&a).map(|f| (*f).clone()).collect();
            }
            None => {
                diff.only_in_replay = eval.matches.findings.clone();
                diff.note.get_or_insert_with(|| {
                    "the recorded findings are not available (live database unreachable or scan unknown): \
                     only_in_replay lists every replayed finding"
                        .into()
                });
            }
        }
    }
    let kept_data_dir = keep.then(|| server.data_dir().display().to_string());
    let outcome = ReplayOutcome {
        scan_id: p.scan_id.clone(),
        identical,
        expected_digest: p.result.digest.clone(),
        actual_digest: eval.digest,
        backup: server.backup().label.clone(),
        recovered_to_lsn: at,
        seconds: 0.0,
        restore_seconds,
        unpack_seconds: server.unpack_seconds(),
        recovery_seconds: server.recovery_seconds(),
        scan_seconds,
        engine_version: engine::ENGINE_VERSION.into(),
        manifest_engine_version: p.engine.version.clone(),
        kept_data_dir,
        diff,
    };
    drop(client);
    if !keep {
        server.stop()?;
    }
    Ok(ReplayOutcome {
        seconds: started.elapsed().as_secs_f64(),
        ..outcome
    })
}

/// The findings the original scan recorded, from the live database.
pub fn recorded_findings(
    client: &mut postgres::Client,
    tenant: &Tenant,
    scan_id: &str,
) -> Option<Vec<Finding>> {
    let id: uuid::Uuid = scan_id.parse().ok()?;
    let rows = client
        .query(
            "SELECT artifact_purl, component_purl, advisory_id, aliases, status, justification
             FROM finding WHERE tenant_id = $1 AND scan_id = $2",
            &[&tenant.id, &id],
        )
        .ok()?;
    if rows.is_empty() {
        return None;
    }
    let mut v: Vec<Finding> = rows
        .iter()
        .map(|r| Finding {
            artifact_purl: r.get(0),
            component_purl: r.get(1),
            advisory_id: r.get(2),
            aliases: r.get(3),
            status: r.get(4),
            justification: r.get(5),
        })
        .collect();
    crate::scan::digest::sort(&mut v);
    Some(v)
}
