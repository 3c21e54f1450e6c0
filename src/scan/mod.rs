//! Scan: pick each artifact's latest SBOM, match its components against the advisories with
//! each ecosystem's version rules, apply VEX, store the findings, mark the database point with a
//! restore point, and write a signed manifest that names every input.
//!
//! Consistency: inside the scan's one transaction the input tables are locked in SHARE mode (an
//! import waits a moment), the engine reads, the findings are written and the restore point is
//! created before COMMIT, so the restore point's LSN is exactly the input state the scan read.
//! `replay` recovers to that LSN and runs the same engine read-only.

pub mod digest;
pub mod engine;
mod error;
pub mod manifest;

pub use engine::{evaluate, Counts, Evaluation, Matches, ScannedSbom};
pub use error::ScanError;

use crate::bundle::PrivateKey;
use crate::db::locks::LockKey;
use crate::db::{hot_queries, DbError, Tenant};
use crate::formats::Purl;
use manifest::{
    DatabasePoint, Engine, FeedInput, Inputs, ResultSummary, SbomInput, ScanPredicate, VexInput,
};
use postgres::types::Type;
use postgres::GenericClient;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The input tables a scan reads, locked in SHARE mode in this order (the ledger first: an
/// import takes it first too, so the two never deadlock).
const INPUT_TABLES: &str =
    "bundle_import, bundle_document, sbom_document, sbom_component, vex_document, vex_statement, advisory, advisory_affected, advisory_current";

pub struct ScanRequest<'a> {
    /// Artifacts (purls) to scan; empty = every artifact with an SBOM.
    pub artifacts: &'a [String],
    pub key: &'a PrivateKey,
    /// Where to write the manifest; default `scan-<scan_id>.manifest.json` in `manifest_dir`.
    pub manifest_out: Option<PathBuf>,
    /// Folder for the default manifest name (default: the working directory).
    pub manifest_dir: Option<PathBuf>,
    /// Exit busy instead of waiting when another scan of an artifact runs.
    pub no_wait: bool,
    /// How long to wait for the archiver to archive the restore point's segment.
    pub archive_wait: Duration,
    /// Opens a second connection to the same database, or None: with it, the scan reads the
    /// advisories on it (in the scan transaction's snapshot) while the components stream in.
    pub connect_reader: Option<&'a dyn Fn() -> Option<postgres::Client>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ScanOutcome {
    pub scan_id: Uuid,
    pub manifest: PathBuf,
    pub result_digest: String,
    pub counts: Counts,
    pub restore_point: Option<String>,
    pub lsn: Option<String>,
    /// Problems that make the scan unreplayable or are worth a look (archive lag, ...).
    pub warnings: Vec<String>,
}

fn q(what: &str) -> impl Fn(postgres::Error) -> ScanError + '_ {
    move |e| ScanError::Db(DbError::query(what, e))
}

/// Canonical purl of a user-given artifact.
pub fn canonical_artifact(s: &str) -> Result<String, ScanError> {
    Purl::parse(s)
        .map(|p| p.canonical)
        .map_err(|e| ScanError::BadPurl(s.to_string(), e))
}

/// Which SBOM each artifact is scanned with: its newest import.
pub fn latest_sboms(
    client: &mut impl GenericClient,
    tenant: &Tenant,
    artifacts: &[String],
) -> Result<Vec<ScannedSbom>, ScanError> {
    let artifacts: Vec<String> = if artifacts.is_empty() {
        let rows = client
            .query(
                "SELECT DISTINCT artifact_purl FROM sbom_document WHERE tenant_id = $1 ORDER BY 1",
                &[&tenant.id],
            )
            .map_err(q("listing artifacts"))?;
        if rows.is_empty() {
            return Err(ScanError::NothingToScan(tenant.name.clone()));
        }
        rows.iter().map(|r| r.get(0)).collect()
    } else {
        let mut v = artifacts
            .iter()
            .map(|a| canonical_artifact(a))
            .collect::<Result<Vec<_>, _>>()?;
        v.sort();
        v.dedup();
        v
    };
    let mut out = Vec::with_capacity(artifacts.len());
    for a in artifacts {
        let row = client
            .query_opt(hot_queries::LATEST_SBOM_OF_ARTIFACT.sql, &[&tenant.id, &a])
            .map_err(q("finding the latest SBOM"))?
            .ok_or_else(|| ScanError::UnknownArtifact(a.clone()))?;
        out.push(ScannedSbom {
            artifact_purl: a,
            sbom_id: row.get(0),
            content_hash: hex::encode(row.get::<_, Vec<u8>>(1)),
        });
    }
    Ok(out)
}

/// The feed bundles in force: for each feed source, its newest bundle.
fn feed_inputs(
    client: &mut impl GenericClient,
    tenant: &Tenant,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<FeedInput>, ScanError> {
    let rows = client
        .query(
            "SELECT DISTINCT ON (b.source) b.source, b.bundle_sha256, b.import_id, b.created,
                    (SELECT count(*) FROM bundle_document d WHERE d.tenant_id = b.tenant_id AND d.import_id = b.import_id)
             FROM bundle_import b WHERE b.tenant_id = $1 AND b.kind = 'feed'
             ORDER BY b.source, b.created DESC, b.import_id DESC",
            &[&tenant.id],
        )
        .map_err(q("reading the feeds in force"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let created: chrono::DateTime<chrono::Utc> = r.get(3);
            FeedInput {
                source: r.get(0),
                bundle_sha256: hex::encode(r.get::<_, Vec<u8>>(1)),
                import_id: r.get(2),
                advisories: r.get(4),
                created: created.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                age_seconds: (now - created).num_seconds(),
            }
        })
        .collect())
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Run a scan, store its findings and write its signed manifest.
pub fn run(
    client: &mut postgres::Client,
    tenant: &Tenant,
    req: &ScanRequest<'_>,
) -> Result<ScanOutcome, ScanError> {
    // Time-ordered (UUIDv7): a new scan's findings sort after the tenant's earlier ones in the
    // primary key (tenant_id, scan_id, ...), so storing them appends at the index's right edge
    // instead of splitting pages in the middle of it.
    let scan_id = Uuid::now_v7();
    let started = chrono::Utc::now();
    let mut warnings = Vec::new();

    // Resolve the artifacts first (outside the locks) to take one lock per artifact.
    let planned = latest_sboms(client, tenant, req.artifacts)?;
    let mut locked = Vec::new();
    let result = (|| {
        for s in &planned {
            let key = LockKey::Scan {
                tenant: tenant.id,
                artifact_purl: &s.artifact_purl,
            }
            .key();
            if req.no_wait {
                let got: bool = client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                    .map_err(q("taking the scan lock"))?
                    .get(0);
                if !got {
                    return Err(ScanError::Busy {
                        artifact: s.artifact_purl.clone(),
                    });
                }
            } else {
                client
                    .execute("SELECT pg_advisory_lock($1)", &[&key])
                    .map_err(q("waiting for the scan lock"))?;
            }
            locked.push(key);
        }
        scan_locked(client, tenant, req, scan_id, started, &mut warnings)
    })();
    for key in locked {
        let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&key]);
    }
    result
}

/// Logs each phase's duration at debug level (`-vv`), for profiling.
struct Phases(Instant);

impl Phases {
    fn mark(&mut self, phase: &str) {
        tracing::debug!("scan phase {phase}: {:.3}s", self.0.elapsed().as_secs_f64());
        self.0 = Instant::now();
    }
}

fn scan_locked(
    client: &mut postgres::Client,
    tenant: &Tenant,
    req: &ScanRequest<'_>,
    scan_id: Uuid,
    started: chrono::DateTime<chrono::Utc>,
    warnings: &mut Vec<String>,
) -> Result<ScanOutcome, ScanError> {
    let mut phases = Phases(Instant::now());
    let reader = req.connect_reader.and_then(|connect| connect());
    let mut tx = client
        .transaction()
        .map_err(q("starting the scan transaction"))?;
    tenant.ensure(&mut tx)?;
    tx.batch_execute(&format!("LOCK TABLE {INPUT_TABLES} IN SHARE MODE"))
        .map_err(q("locking the input tables"))?;
    // Re-resolve under the lock: the SBOMs read are the ones in force at the restore point.
    let sboms = latest_sboms(&mut tx, tenant, req.artifacts)?;
    phases.mark("lock and resolve");
    // The reader sees exactly this transaction's snapshot, taken with the inputs locked.
    let mut reader = match reader {
        Some(mut r) => {
            let snapshot: String = tx
                .query_one("SELECT pg_export_snapshot()", &[])
                .map_err(q("exporting the scan's snapshot"))?
                .get(0);
            match r.batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'"
            )) {
                Ok(()) => Some(r),
                Err(e) => {
                    tracing::debug!("scan: second connection not used: {e}");
                    None
                }
            }
        }
        None => None,
    };
    let matched = engine::match_components(&mut tx, reader.as_mut(), tenant.id, &sboms)?;
    drop(reader);
    phases.mark("match");
    let feeds = feed_inputs(&mut tx, tenant, started)?;
    let policy = crate::bundle::statement::canonical_json(&engine::policy_json());
    let policy_sha = Sha256::digest(&policy).to_vec();
    // Running until the UPDATE below, in this same transaction (nobody sees it running): the
    // findings' statement-level check wants their scan_run to exist.
    tx.execute(
        "INSERT INTO scan_run (tenant_id, scan_id, status, started_at, engine_version, engine_rules, policy_sha256)
         VALUES ($1, $2, 'running', $3, $4, $5, $6)",
        &[
            &tenant.id,
            &scan_id,
            &started,
            &engine::ENGINE_VERSION,
            &engine::ENGINE_RULES,
            &policy_sha,
        ],
    )
    .map_err(q("recording the scan"))?;
    // Each finding goes into the COPY, the result digest and its artifact's counts as it is
    // assembled (VEX applied), while the server stores the previous ones; a large scan's
    // partition is then indexed and attached.
    let store = FindingStore::start(&mut tx, tenant, scan_id, matched.len())?;
    let stored = store.write_all(&mut tx, matched)?;
    phases.mark("evaluate and store findings");
    let finished = chrono::Utc::now();
    store.finish(&mut tx)?;
    phases.mark("index findings");
    for s in &sboms {
        let [affected, investigating, resolved] = stored
            .per_artifact
            .get(s.artifact_purl.as_str())
            .copied()
            .unwrap_or_default();
        tx.execute(
            "INSERT INTO scan_artifact (tenant_id, scan_id, artifact_purl, sbom_id, affected, under_investigation, resolved)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&tenant.id, &scan_id, &s.artifact_purl, &s.sbom_id, &affected, &investigating, &resolved],
        )
        .map_err(q("recording the scanned artifacts"))?;
    }
    let Stored {
        digest,
        assembled: engine::Assembled { counts, vex_used },
        ..
    } = stored;
    let digest_bytes = hex::decode(&digest).unwrap_or_default();
    let counts_json = serde_json::to_value(&counts).unwrap_or_default();
    // The database point: a restore point while the inputs are still locked.
    let name = format!("stella-scan-{scan_id}");
    let point = tx
        .query_one(
            "SELECT pg_create_restore_point($1)::text,
                    (SELECT timeline_id FROM pg_control_checkpoint())::bigint,
                    (SELECT system_identifier::text FROM pg_control_system())",
            &[&name],
        )
        .map_err(q(
            "creating the restore point (needs a superuser or EXECUTE on pg_create_restore_point)",
        ))?;
    let lsn: String = point.get(0);
    let timeline: i64 = point.get(1);
    let system_identifier: String = point.get(2);
    tx.execute(
        "UPDATE scan_run SET status = 'done', finished_at = $7, counts = $8, restore_point = $3,
                lsn = $4::text::pg_lsn, timeline = $5, result_digest = $6
         WHERE tenant_id = $1 AND scan_id = $2",
        &[
            &tenant.id,
            &scan_id,
            &name,
            &lsn,
            &(timeline as i32),
            &digest_bytes,
            &finished,
            &counts_json,
        ],
    )
    .map_err(q("recording the restore point"))?;
    let details = serde_json::json!({
        "digest": digest, "counts": counts, "restore_point": name, "lsn": lsn,
        "artifacts": sboms.iter().map(|s| &s.artifact_purl).collect::<Vec<_>>(),
    });
    crate::events::record(
        &mut tx,
        tenant.id,
        "scan",
        crate::events::Outcome::Ok,
        Some(&scan_id.to_string()),
        &details,
    )
    .map_err(|e| ScanError::Manifest(format!("recording the scan event: {e}")))?;
    tx.commit().map_err(q("committing the scan"))?;
    phases.mark("restore point and commit");

    if let Some(w) = wait_archived(client, &lsn, req.archive_wait)? {
        warnings.push(w);
    }

    phases.mark("archive wait");
    let predicate = ScanPredicate {
        scan_id: scan_id.to_string(),
        tenant: tenant.name.clone(),
        started: rfc3339(started),
        finished: rfc3339(finished),
        engine: Engine {
            version: engine::ENGINE_VERSION.into(),
            rules: engine::ENGINE_RULES.into(),
        },
        policy_sha256: hex::encode(&policy_sha),
        inputs: Inputs {
            sboms: sboms
                .iter()
                .map(|s| SbomInput {
                    artifact_purl: s.artifact_purl.clone(),
                    content_hash: s.content_hash.clone(),
                })
                .collect(),
            vex: vex_used
                .iter()
                .map(|h| VexInput {
                    content_hash: h.clone(),
                })
                .collect(),
            feeds,
        },
        database: DatabasePoint {
            system_identifier,
            timeline,
            restore_point: Some(name.clone()),
            lsn: Some(lsn.clone()),
        },
        result: ResultSummary {
            digest: digest.clone(),
            counts: counts.clone(),
        },
    };
    let (bytes, statement) =
        manifest::sign(predicate, req.key).map_err(|e| ScanError::Manifest(e.to_string()))?;
    let path = req.manifest_out.clone().unwrap_or_else(|| {
        req.manifest_dir
            .clone()
            .unwrap_or_default()
            .join(format!("scan-{scan_id}.manifest.json"))
    });
    write_atomic(&path, &bytes).map_err(|source| ScanError::WriteManifest {
        path: path.clone(),
        source,
    })?;
    let hash = Sha256::digest(&bytes).to_vec();
    client
        .execute(
            "INSERT INTO scan_manifest (tenant_id, scan_id, content_hash, envelope, doc) VALUES ($1, $2, $3, $4, $5)",
            &[&tenant.id, &scan_id, &hash, &bytes, &statement],
        )
        .map_err(q("storing the manifest"))?;
    phases.mark("sign and store the manifest");
    refresh_risk(client, warnings);
    phases.mark("refresh mv_artifact_risk");
    Ok(ScanOutcome {
        scan_id,
        manifest: path,
        result_digest: digest,
        counts,
        restore_point: Some(name),
        lsn: Some(lsn),
        warnings: std::mem::take(warnings),
    })
}

/// From this many findings on, a scan stores them in its own partition of `finding_bulk`
/// (migration 0008): COPY'd into a bare table, indexed by one sorted build per index, then
/// attached. Below it, they go to `finding_small`, indexed row by row: a one-artifact CI-gate
/// scan costs no catalog work and adds no partition. Measured on the scan benchmark's 500,084
/// findings: 3.5-4.2 s row by row, 1.6-1.9 s in bulk (0.65 s COPY, 1.1 s for the three index
/// builds); the catalog work of a bulk store is about 15 ms.
pub const BULK_MIN_FINDINGS: usize = 50_000;

/// The bulk threshold: `STELLA_SCAN_BULK_MIN_FINDINGS` when set to a number, else
/// [`BULK_MIN_FINDINGS`].
fn bulk_min_findings() -> usize {
    std::env::var("STELLA_SCAN_BULK_MIN_FINDINGS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(BULK_MIN_FINDINGS)
}

/// The name of a large scan's partition of `finding_bulk` (and the prefix of its indexes').
pub fn bulk_partition_name(scan_id: Uuid) -> String {
    format!("finding_scan_{}", scan_id.simple())
}

/// What storing the findings gave besides the rows.
struct Stored {
    assembled: engine::Assembled,
    /// The result digest (lowercase hex).
    digest: String,
    /// Each artifact's (affected, under investigation, resolved) counts.
    per_artifact: std::collections::HashMap<String, [i64; 3]>,
}

/// Where a scan's findings go, chosen by their number before the first is written: `finding`
/// (routed to `finding_small`), or, for a large scan, a partition of its own built in bulk.
struct FindingStore {
    /// The scan's own partition (large scans), indexed and attached by `finish`.
    partition: Option<String>,
    scan_id: Uuid,
    tenant_id: Uuid,
}

impl FindingStore {
    /// Prepare the target of `n` findings (a large scan's partition is created here).
    fn start(
        tx: &mut postgres::Transaction<'_>,
        tenant: &Tenant,
        scan_id: Uuid,
        n: usize,
    ) -> Result<FindingStore, ScanError> {
        let partition = (n >= bulk_min_findings()).then(|| bulk_partition_name(scan_id));
        if let Some(table) = &partition {
            // The CHECK constraint proves the partition bound, so ATTACH reads no rows.
            tx.batch_execute(&format!(
                "CREATE TABLE {table} (LIKE finding INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                     CONSTRAINT {table}_bound CHECK (bulk AND scan_id = '{scan_id}'));
                 COMMENT ON TABLE {table} IS 'class: source_of_truth; partition of finding_bulk: the findings of scan {scan_id}'"
            ))
            .map_err(q("creating the scan's finding partition"))?;
        }
        Ok(FindingStore {
            partition,
            scan_id,
            tenant_id: tenant.id,
        })
    }

    /// Assemble the findings and stream each into one binary COPY as it is built, hashing the
    /// result digest and counting each artifact's findings on the way (they come in canonical
    /// order, so nothing is kept per finding).
    fn write_all(
        &self,
        tx: &mut postgres::Transaction<'_>,
        matched: engine::Matched<'_>,
    ) -> Result<Stored, ScanError> {
        let bulk = self.partition.is_some();
        let target = self.partition.as_deref().unwrap_or("finding");
        let sink = tx
            .copy_in(&format!(
                "COPY {target} (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, aliases, status, justification, severity, bulk) FROM STDIN BINARY"
            ))
            .map_err(q("storing findings"))?;
        let types = [
            Type::UUID,
            Type::UUID,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT_ARRAY,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::BOOL,
        ];
        let mut w = postgres::binary_copy::BinaryCopyInWriter::new(sink, &types);
        let mut digest = digest::DigestWriter::default();
        let mut per_artifact: std::collections::HashMap<String, [i64; 3]> =
            std::collections::HashMap::new();
        let mut current: Option<(String, [i64; 3])> = None;
        let mut flush = |c: Option<(String, [i64; 3])>| {
            if let Some((a, n)) = c {
                per_artifact.insert(a, n);
            }
        };
        let assembled = matched
            .assemble_with(|f| {
                digest.push(
                    f.artifact_purl,
                    f.component_purl,
                    f.advisory_id,
                    f.aliases,
                    f.status,
                    f.justification,
                );
                // Findings come grouped by artifact (canonical order).
                if current.as_ref().map_or(true, |(a, _)| a != f.artifact_purl) {
                    flush(current.take());
                    current = Some((f.artifact_purl.to_string(), [0; 3]));
                }
                if let Some((_, n)) = current.as_mut() {
                    match f.status {
                        "affected" => n[0] += 1,
                        "under_investigation" => n[1] += 1,
                        _ => n[2] += 1,
                    }
                }
                w.write(&[
                    &self.tenant_id,
                    &self.scan_id,
                    &f.artifact_purl,
                    &f.component_purl,
                    &f.advisory_id,
                    &f.aliases,
                    &f.status,
                    &f.justification,
                    &f.severity,
                    &bulk,
                ])
            })
            .map_err(q("storing findings"))?;
        w.finish().map_err(q("storing findings"))?;
        flush(current.take());
        let digest = digest.finish().ok_or_else(|| {
            ScanError::Manifest("a finding could not be serialized for the result digest".into())
        })?;
        Ok(Stored {
            assembled,
            digest,
            per_artifact,
        })
    }

    /// A large scan's partition: the indexes of `finding`, each built by one sort, matched to
    /// the partitioned indexes by ATTACH (same columns, so nothing is rebuilt).
    fn finish(&self, tx: &mut postgres::Transaction<'_>) -> Result<(), ScanError> {
        let Some(table) = &self.partition else {
            return Ok(());
        };
        let scan_id = self.scan_id;
        tx.batch_execute(&format!(
            "SET LOCAL maintenance_work_mem = '256MB';
             ALTER TABLE {table} ADD CONSTRAINT {table}_pkey
                 PRIMARY KEY (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, bulk);
             CREATE INDEX {table}_advisory_id ON {table} (tenant_id, advisory_id);
             CREATE INDEX {table}_component ON {table} (tenant_id, component_purl);
             ALTER TABLE finding_bulk ATTACH PARTITION {table} FOR VALUES IN ('{scan_id}')"
        ))
        .map_err(q("indexing and attaching the scan's finding partition"))
    }
}

/// Switch to a new WAL segment and wait until the archiver has the restore point's segment.
/// Returns a warning when the scan cannot be replayed yet.
fn wait_archived(
    client: &mut postgres::Client,
    lsn: &str,
    wait: Duration,
) -> Result<Option<String>, ScanError> {
    let mode: String = client
        .query_one("SELECT current_setting('archive_mode')", &[])
        .map_err(q("reading archive_mode"))?
        .get(0);
    if mode == "off" {
        return Ok(Some(
            "archive_mode is off on this server: the WAL of this scan is not archived and it cannot be replayed".into(),
        ));
    }
    let segment: String = client
        .query_one("SELECT pg_walfile_name($1::text::pg_lsn)", &[&lsn])
        .map_err(q("naming the WAL segment"))?
        .get(0);
    client
        .batch_execute("SELECT pg_switch_wal()")
        .map_err(q("switching the WAL segment"))?;
    let deadline = Instant::now() + wait;
    loop {
        let row = client
            .query_one(
                "SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver",
                &[],
            )
            .map_err(q("reading pg_stat_archiver"))?;
        let archived: Option<String> = row.get(0);
        if archived
            .as_deref()
            .is_some_and(|a| a.len() == 24 && a[8..] >= segment[8..] && a[..8] >= segment[..8])
        {
            return Ok(None);
        }
        if Instant::now() >= deadline {
            let failed: Option<String> = row.get(1);
            return Ok(Some(format!(
                "WAL segment {segment} was not archived within {}s (last archived: {}, last failed: {}): this scan \
                 cannot be replayed until it is; check `stella-bundle status` and the server log",
                wait.as_secs(),
                archived.as_deref().unwrap_or("none"),
                failed.as_deref().unwrap_or("none")
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How long a scan waits for another session's refresh of mv_artifact_risk before it warns.
const REFRESH_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Refresh the risk projection; a failure is a warning, never a failed scan.
fn refresh_risk(client: &mut postgres::Client, warnings: &mut Vec<String>) {
    let key = LockKey::Refresh {
        projection: "mv_artifact_risk",
    }
    .key();
    // Wait for a refresh already running (it may have started before this scan committed, so
    // it would not include it); a refresh reads one row per scanned artifact, so the wait is
    // short unless something holds the lock.
    let deadline = Instant::now() + REFRESH_LOCK_WAIT;
    loop {
        match client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]) {
            Ok(r) if r.get::<_, bool>(0) => break,
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(_) => {
                warnings.push(format!(
                    "mv_artifact_risk was not refreshed: another session held its refresh lock for {} s; \
                     run `stella-bundle jobs add refresh` (or wait for the worker's next refresh)",
                    REFRESH_LOCK_WAIT.as_secs()
                ));
                return;
            }
            Err(e) => {
                warnings.push(format!(
                    "refreshing mv_artifact_risk failed: {}",
                    crate::db::DbError::query("taking the refresh lock", e)
                ));
                return;
            }
        }
    }
    if let Err(e) = client.batch_execute("REFRESH MATERIALIZED VIEW CONCURRENTLY mv_artifact_risk")
    {
        warnings.push(format!(
            "refreshing mv_artifact_risk failed: {}",
            crate::db::DbError::query("refresh", e)
        ));
    }
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&key]);
}

fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
