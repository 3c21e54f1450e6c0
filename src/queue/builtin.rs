//! The built-in job kinds: `noop` (proves the queue end to end, used by benchmarks), `refresh`
//! (REFRESH MATERIALIZED VIEW CONCURRENTLY, one at a time), `partitions` (event partitions ahead
//! and retention) and `scan` (see [`ScanJob`]).

use super::jobs::Job;
use super::registry::{JobContext, JobError, Registry};
use crate::db::locks::LockKey;
use crate::db::migrate::PARTITIONS_AHEAD;
use std::time::Duration;

/// Materialized views a `refresh` job may refresh (payload `{"view": NAME}`, default the first).
pub const REFRESHABLE: &[&str] = &["mv_artifact_risk"];

/// Settings the built-in handlers take from the worker's flags.
#[derive(Debug, Clone)]
pub struct BuiltinSettings {
    /// Event partitions older than this many months are dropped (>= 1).
    pub event_retention_months: i32,
    /// Months of partitions kept ready ahead of the current one.
    pub partitions_ahead: i32,
    /// The key that signs the manifests of `scan` jobs (`worker --scan-key`).
    pub scan_key: Option<std::path::PathBuf>,
    /// Where `scan` jobs write their manifests.
    pub manifest_dir: std::path::PathBuf,
    /// The database, for the second connection a `scan` job reads advisories on.
    pub target: Option<crate::db::DbTarget>,
}

impl Default for BuiltinSettings {
    fn default() -> Self {
        BuiltinSettings {
            event_retention_months: 13,
            partitions_ahead: PARTITIONS_AHEAD,
            scan_key: None,
            manifest_dir: std::path::PathBuf::from("."),
            target: None,
        }
    }
}

/// A registry with every built-in kind.
pub fn registry(settings: &BuiltinSettings) -> Registry {
    let mut r = Registry::new();
    r.register("noop", |_: &Job, _: &mut JobContext<'_>| Ok(()));
    r.register("refresh", refresh);
    let s = settings.clone();
    r.register("partitions", move |job: &Job, ctx: &mut JobContext<'_>| {
        partitions(job, ctx, &s)
    });
    r.register(
        "scan",
        ScanJob {
            key: settings.scan_key.clone(),
            manifest_dir: settings.manifest_dir.clone(),
            target: settings.target.clone(),
        },
    );
    r
}

/// `refresh`: REFRESH MATERIALIZED VIEW CONCURRENTLY, outside any transaction (PostgreSQL
/// refuses it inside one), under the session advisory lock `LockKey::Refresh` so one refresh per
/// view runs at a time. The lock is polled, not waited for, so a shutdown interrupts the wait.
fn refresh(job: &Job, ctx: &mut JobContext<'_>) -> Result<(), JobError> {
    let view = match job.payload.get("view") {
        None | Some(serde_json::Value::Null) => REFRESHABLE[0],
        Some(serde_json::Value::String(v)) => REFRESHABLE
            .iter()
            .copied()
            .find(|r| r == v)
            .ok_or_else(|| {
                JobError::Permanent(format!(
                    "refresh: unknown view `{v}`; refreshable: {}",
                    REFRESHABLE.join(", ")
                ))
            })?,
        Some(other) => {
            return Err(JobError::Permanent(format!(
                "refresh: payload field `view` must be a string, got {other}"
            )))
        }
    };
    let key = LockKey::Refresh { projection: view }.key();
    loop {
        let got: bool = ctx
            .client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .map_err(|e| JobError::Failed(format!("refresh {view}: taking its lock: {e}")))?
            .get(0);
        if got {
            break;
        }
        if ctx.shutdown_requested() {
            return Err(JobError::Interrupted);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let result = ctx
        .client
        .batch_execute(&format!("REFRESH MATERIALIZED VIEW CONCURRENTLY {view}"))
        .map_err(|e| {
            JobError::Failed(format!(
                "refresh {view}: {}",
                crate::db::DbError::query("REFRESH MATERIALIZED VIEW CONCURRENTLY", e)
            ))
        });
    let unlock = ctx.client.execute("SELECT pg_advisory_unlock($1)", &[&key]);
    result?;
    unlock.map_err(|e| JobError::Failed(format!("refresh {view}: releasing its lock: {e}")))?;
    Ok(())
}

/// `partitions`: create the coming months' event partitions and drop those past retention.
/// Dropping audit history is itself audited: a `retention` event lists what was dropped.
fn partitions(job: &Job, ctx: &mut JobContext<'_>, s: &BuiltinSettings) -> Result<(), JobError> {
    let report = crate::events::maintain_partitions(
        ctx.client,
        s.partitions_ahead,
        s.event_retention_months,
    )
    .map_err(|e| JobError::Failed(e.to_string()))?;
    tracing::info!(
        "partitions: {} created, dropped: [{}]",
        report.created,
        report.dropped.join(", ")
    );
    if report.created > 0 || !report.dropped.is_empty() {
        crate::events::record(
            ctx.client,
            job.tenant,
            "retention",
            crate::events::Outcome::Ok,
            Some("event"),
            &serde_json::json!({
                "created": report.created,
                "dropped": report.dropped,
                "retention_months": s.event_retention_months,
                "job_id": job.id,
            }),
        )
        .map_err(|e| JobError::Failed(format!("partitions done, but recording it failed: {e}")))?;
    }
    Ok(())
}

/// `scan` jobs (enqueued by `import --scan`): payload `{"artifacts": [PURL, ...]}` (empty: all
/// artifacts). The manifest is signed with the worker's `--scan-key` and written into its
/// manifest folder as `scan-<scan_id>.manifest.json`.
pub struct ScanJob {
    pub key: Option<std::path::PathBuf>,
    pub manifest_dir: std::path::PathBuf,
    /// The database, for a second connection (see `scan::ScanRequest::connect_reader`).
    pub target: Option<crate::db::DbTarget>,
}

impl super::registry::JobHandler for ScanJob {
    fn run(&self, job: &Job, ctx: &mut JobContext<'_>) -> Result<(), JobError> {
        let Some(key_path) = &self.key else {
            return Err(JobError::Failed(
                "this worker has no --scan-key to sign scan manifests; restart it with --scan-key KEY, \
                 then `jobs retry` this job"
                    .into(),
            ));
        };
        let key = crate::bundle::PrivateKey::load(key_path)
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        let artifacts: Vec<String> = match job.payload.get("artifacts") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                JobError::Permanent(format!(
                    "scan: payload field `artifacts` must be a list of purls: {e}"
                ))
            })?,
        };
        let name: String = ctx
            .client
            .query_one(
                "SELECT name FROM tenant WHERE tenant_id = $1",
                &[&job.tenant],
            )
            .map_err(|e| JobError::Failed(format!("scan: reading the tenant: {e}")))?
            .get(0);
        let tenant = crate::db::Tenant::new(&name);
        std::fs::create_dir_all(&self.manifest_dir).map_err(|e| {
            JobError::Failed(format!(
                "scan: cannot create {}: {e}",
                self.manifest_dir.display()
            ))
        })?;
        let connect_reader = || self.target.as_ref().and_then(|t| t.connect().ok());
        let req = crate::scan::ScanRequest {
            artifacts: &artifacts,
            key: &key,
            manifest_out: None,
            manifest_dir: Some(self.manifest_dir.clone()),
            no_wait: false,
            archive_wait: Duration::from_secs(60),
            connect_reader: Some(&connect_reader),
        };
        match crate::scan::run(ctx.client, &tenant, &req) {
            Ok(o) => {
                tracing::info!(
                    "scan job {}: scan {} digest {} -> {}",
                    job.id,
                    o.scan_id,
                    o.result_digest,
                    o.manifest.display()
                );
                Ok(())
            }
            Err(e @ crate::scan::ScanError::NothingToScan(_))
            | Err(e @ crate::scan::ScanError::UnknownArtifact(_)) => {
                Err(JobError::Permanent(e.to_string()))
            }
            Err(e) => Err(JobError::Failed(e.to_string())),
        }
    }
}
