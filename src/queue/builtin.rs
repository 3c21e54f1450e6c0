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
}

impl Default for BuiltinSettings {
    fn default() -> Self {
        BuiltinSettings {
            event_retention_months: 13,
            partitions_ahead: PARTITIONS_AHEAD,
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
    r.register("scan", ScanJob);
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

/// `scan` jobs. The scan engine is written separately; its lead wires it here (payload: the
/// artifacts to scan). Until then a `scan` job fails honestly, retries with backoff and ends in
/// the dead letters, from where `jobs retry` brings it back once the engine is wired.
pub struct ScanJob;

impl super::registry::JobHandler for ScanJob {
    fn run(&self, _job: &Job, _ctx: &mut JobContext<'_>) -> Result<(), JobError> {
        Err(JobError::Failed(
            "the scan job handler is not wired to the scan engine yet (src/queue/builtin.rs, \
             ScanJob); run `stella-bundle scan` directly, then `jobs retry` this job"
                .into(),
        ))
    }
}
