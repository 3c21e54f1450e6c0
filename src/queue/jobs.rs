//! The queue's SQL, one function per state change. Every change is one short transaction:
//! enqueue (insert; the 0003 trigger adds the state row and NOTIFYs), claim (`CLAIM_JOB`, SKIP
//! LOCKED, committed before any work starts), complete, fail (backoff or dead letter), release,
//! reclaim (expired leases), retry (dead -> ready) and purge. Finishing calls are fenced by the
//! claim token (worker id + attempt number): a worker whose lease expired and whose job was
//! reclaimed cannot overwrite the new owner's state.

use super::QueueError;
use crate::db::hot_queries::CLAIM_JOB;
use chrono::{DateTime, Utc};
use postgres::GenericClient;
use serde::Serialize;
use std::time::Duration;
use uuid::Uuid;

/// The channel workers LISTEN on; payload `<tenant_id> <kind>`.
pub const CHANNEL: &str = "stella_jobs";

/// Largest retry delay, whatever `backoff_ms` and the attempt number say.
pub const MAX_BACKOFF_SECS: f64 = 6.0 * 3600.0;

/// The enqueue statement (the 0003 trigger adds the state row and the NOTIFY).
pub const ENQUEUE_SQL: &str =
    "INSERT INTO job_queue (tenant_id, kind, idempotency_key, payload, max_attempts, backoff_ms)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (tenant_id, kind, idempotency_key) DO NOTHING RETURNING id";

/// The completion statement, fenced by the claim token ($3 worker id, $4 attempt).
pub const COMPLETE_SQL: &str =
    "UPDATE job_queue_state SET status = 'done', finished_at = now(), lease_until = NULL
     WHERE tenant_id = $1 AND job_id = $2 AND status = 'running' AND locked_by = $3 AND attempts = $4";

/// A job as a worker sees it after claiming it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub tenant: Uuid,
    pub kind: String,
    /// 1 for the first run (claims count attempts).
    pub attempt: i32,
    pub max_attempts: i32,
    pub backoff_ms: i32,
    pub idempotency_key: String,
    pub payload: serde_json::Value,
}

/// A job to enqueue, with the retry policy stored in its row.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub idempotency_key: &'a str,
    pub payload: &'a serde_json::Value,
    /// Attempts before the job becomes a dead letter (default 5).
    pub max_attempts: i32,
    /// First retry delay; doubled per attempt, +-25 % jitter (default 2000).
    pub backoff_ms: i32,
}

impl<'a> NewJob<'a> {
    pub fn new(kind: &'a str, idempotency_key: &'a str, payload: &'a serde_json::Value) -> Self {
        NewJob {
            kind,
            idempotency_key,
            payload,
            max_attempts: 5,
            backoff_ms: 2000,
        }
    }
}

/// The result of an enqueue: the job's id and whether this call created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    pub id: i64,
    pub new: bool,
}

/// Enqueue `kind` with `payload`, at most once per `(tenant, kind, idempotency_key)`: the same
/// work enqueued twice is one job (`new: false` the second time, whatever its state). Inside a
/// caller's transaction the job and its NOTIFY appear at that transaction's commit.
pub fn enqueue(
    client: &mut impl GenericClient,
    tenant: Uuid,
    kind: &str,
    idempotency_key: &str,
    payload: &serde_json::Value,
) -> Result<Enqueued, QueueError> {
    enqueue_job(client, tenant, &NewJob::new(kind, idempotency_key, payload))
}

/// [`enqueue`] with an explicit retry policy.
pub fn enqueue_job(
    client: &mut impl GenericClient,
    tenant: Uuid,
    job: &NewJob<'_>,
) -> Result<Enqueued, QueueError> {
    validate_kind(job.kind)?;
    if job.idempotency_key.is_empty() || job.idempotency_key.len() > 512 {
        return Err(QueueError::InvalidInput {
            what: "idempotency key",
            reason: "must be 1 to 512 bytes".into(),
        });
    }
    if job.max_attempts < 1 || job.backoff_ms < 0 {
        return Err(QueueError::InvalidInput {
            what: "retry policy",
            reason: format!(
                "max_attempts must be >= 1 and backoff_ms >= 0 (got {} and {})",
                job.max_attempts, job.backoff_ms
            ),
        });
    }
    let what = format!("enqueuing a {} job", job.kind);
    let row = client
        .query_opt(
            ENQUEUE_SQL,
            &[
                &tenant,
                &job.kind,
                &job.idempotency_key,
                job.payload,
                &job.max_attempts,
                &job.backoff_ms,
            ],
        )
        .map_err(|e| QueueError::query(&what, e))?;
    if let Some(row) = row {
        return Ok(Enqueued {
            id: row.get(0),
            new: true,
        });
    }
    let id: i64 = client
        .query_one(
            "SELECT id FROM job_queue WHERE tenant_id = $1 AND kind = $2 AND idempotency_key = $3",
            &[&tenant, &job.kind, &job.idempotency_key],
        )
        .map_err(|e| QueueError::query(&what, e))?
        .get(0);
    Ok(Enqueued { id, new: false })
}

/// Job kinds are short names: lowercase letters, digits, `-`, `_`, `.`.
pub fn validate_kind(kind: &str) -> Result<(), QueueError> {
    let ok = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(QueueError::InvalidInput {
            what: "kind",
            reason: format!(
                "`{kind}`: use 1 to 64 characters among a-z, 0-9, `-`, `_`, `.` (e.g. `scan`)"
            ),
        })
    }
}

/// Claim the oldest ready job of `kind` for `worker` with a lease of `lease`. One autocommit
/// statement: the row lock lives only while it runs; the claim is committed when this returns.
pub fn claim(
    client: &mut impl GenericClient,
    tenant: Uuid,
    kind: &str,
    worker: &str,
    lease: Duration,
) -> Result<Option<Job>, QueueError> {
    claim_with(client, CLAIM_JOB.sql, tenant, kind, worker, lease)
}

/// The claim and completion statements prepared once on a connection (the worker's): one round
/// trip per statement instead of parse + execute.
pub struct Prepared {
    claim: postgres::Statement,
    complete: postgres::Statement,
}

impl Prepared {
    pub fn new(client: &mut postgres::Client) -> Result<Self, QueueError> {
        Ok(Prepared {
            claim: client
                .prepare(CLAIM_JOB.sql)
                .map_err(|e| QueueError::query("preparing the claim", e))?,
            complete: client
                .prepare(COMPLETE_SQL)
                .map_err(|e| QueueError::query("preparing the completion", e))?,
        })
    }

    /// [`claim`] with the prepared statement.
    pub fn claim(
        &self,
        client: &mut postgres::Client,
        tenant: Uuid,
        kind: &str,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<Job>, QueueError> {
        claim_with(client, &self.claim, tenant, kind, worker, lease)
    }

    /// [`complete`] with the prepared statement.
    pub fn complete(
        &self,
        client: &mut postgres::Client,
        job: &Job,
        worker: &str,
    ) -> Result<bool, QueueError> {
        complete_with(client, &self.complete, job, worker)
    }
}

fn claim_with<S: postgres::ToStatement + ?Sized>(
    client: &mut impl GenericClient,
    statement: &S,
    tenant: Uuid,
    kind: &str,
    worker: &str,
    lease: Duration,
) -> Result<Option<Job>, QueueError> {
    let row = client
        .query_opt(statement, &[&tenant, &kind, &worker, &lease.as_secs_f64()])
        .map_err(|e| QueueError::query(format!("claiming a {kind} job"), e))?;
    Ok(row.map(|r| Job {
        id: r.get(0),
        tenant,
        kind: r.get(1),
        attempt: r.get(2),
        max_attempts: r.get(3),
        backoff_ms: r.get(4),
        idempotency_key: r.get(5),
        payload: r.get(6),
    }))
}

/// Mark a claimed job done. `false` when the claim was lost (lease expired and reclaimed).
/// Done rows are kept (not deleted) so that the idempotency key keeps deduplicating the same work
/// and the history stays visible; `jobs purge --done` compacts them.
pub fn complete(
    client: &mut impl GenericClient,
    job: &Job,
    worker: &str,
) -> Result<bool, QueueError> {
    complete_with(client, COMPLETE_SQL, job, worker)
}

fn complete_with<S: postgres::ToStatement + ?Sized>(
    client: &mut impl GenericClient,
    statement: &S,
    job: &Job,
    worker: &str,
) -> Result<bool, QueueError> {
    let n = client
        .execute(statement, &[&job.tenant, &job.id, &worker, &job.attempt])
        .map_err(|e| QueueError::query(format!("completing job {}", job.id), e))?;
    Ok(n == 1)
}

/// What a failure turned the job into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailOutcome {
    /// Ready again at `run_after` (now + backoff_ms * 2^(attempt-1), +-25 %).
    Retry { run_after: DateTime<Utc> },
    /// Dead letter: attempts exhausted (or a permanent error).
    Dead,
    /// The claim was lost meanwhile; nothing changed.
    LeaseLost,
}

/// Record a failed attempt: back off, or dead-letter after `max_attempts` (or at once when
/// `permanent`). The error text is kept in `last_error`.
pub fn fail(
    client: &mut impl GenericClient,
    job: &Job,
    worker: &str,
    error: &str,
    permanent: bool,
) -> Result<FailOutcome, QueueError> {
    let row = client
        .query_opt(
            "UPDATE job_queue_state s SET
                 status = CASE WHEN $5 OR s.attempts >= q.max_attempts THEN 'dead' ELSE 'ready' END,
                 run_after = CASE WHEN $5 OR s.attempts >= q.max_attempts THEN s.run_after
                     ELSE now() + make_interval(secs => least($6::float8,
                         q.backoff_ms / 1000.0 * power(2, least(s.attempts - 1, 30)) * (0.75 + random() * 0.5)))
                     END,
                 finished_at = CASE WHEN $5 OR s.attempts >= q.max_attempts THEN now() END,
                 lease_until = NULL,
                 last_error = left($7, 4000)
             FROM job_queue q
             WHERE s.tenant_id = $1 AND s.job_id = $2 AND s.status = 'running' AND s.locked_by = $3
               AND s.attempts = $4 AND q.tenant_id = s.tenant_id AND q.id = s.job_id
             RETURNING s.status, s.run_after",
            &[
                &job.tenant,
                &job.id,
                &worker,
                &job.attempt,
                &permanent,
                &MAX_BACKOFF_SECS,
                &error,
            ],
        )
        .map_err(|e| QueueError::query(format!("recording the failure of job {}", job.id), e))?;
    Ok(match row {
        None => FailOutcome::LeaseLost,
        Some(r) if r.get::<_, String>(0) == "dead" => FailOutcome::Dead,
        Some(r) => FailOutcome::Retry {
            run_after: r.get(1),
        },
    })
}

/// Give a claimed job back untouched (shutdown before it could finish): ready now, the attempt
/// not counted, other workers notified. `false` when the claim was lost meanwhile.
pub fn release(client: &mut postgres::Client, job: &Job, worker: &str) -> Result<bool, QueueError> {
    let what = format!("releasing job {}", job.id);
    let mut tx = client
        .transaction()
        .map_err(|e| QueueError::query(&what, e))?;
    let n = tx
        .execute(
            "UPDATE job_queue_state SET status = 'ready', attempts = attempts - 1, run_after = now(),
                    lease_until = NULL, locked_at = NULL, locked_by = NULL
             WHERE tenant_id = $1 AND job_id = $2 AND status = 'running' AND locked_by = $3 AND attempts = $4",
            &[&job.tenant, &job.id, &worker, &job.attempt],
        )
        .map_err(|e| QueueError::query(&what, e))?;
    notify(&mut tx, job.tenant, &job.kind)?;
    tx.commit().map_err(|e| QueueError::query(&what, e))?;
    Ok(n == 1)
}

/// Extend the leases of the running jobs claimed by `workers` (the worker's lease keeper).
pub fn renew_leases(
    client: &mut postgres::Client,
    tenant: Uuid,
    workers: &[String],
    lease: Duration,
) -> Result<u64, QueueError> {
    client
        .execute(
            "UPDATE job_queue_state SET lease_until = now() + make_interval(secs => $3)
             WHERE tenant_id = $1 AND status = 'running' AND locked_by = ANY($2)",
            &[&tenant, &workers, &lease.as_secs_f64()],
        )
        .map_err(|e| QueueError::query("renewing job leases", e))
}

/// A job found with an expired lease.
#[derive(Debug, Clone, Serialize)]
pub struct Reclaimed {
    pub id: i64,
    pub kind: String,
    /// `ready` (run again) or `dead` (that was its last attempt).
    pub status: String,
}

/// Take back the running jobs whose lease has passed (their worker died or hung): ready again
/// now, or dead when that was their last attempt. Served by `ix_job_lease`.
pub fn reclaim(client: &mut postgres::Client, tenant: Uuid) -> Result<Vec<Reclaimed>, QueueError> {
    let what = "reclaiming jobs with expired leases";
    let mut tx = client
        .transaction()
        .map_err(|e| QueueError::query(what, e))?;
    let rows = tx
        .query(
            "UPDATE job_queue_state s SET
                 status = CASE WHEN s.attempts >= q.max_attempts THEN 'dead' ELSE 'ready' END,
                 finished_at = CASE WHEN s.attempts >= q.max_attempts THEN now() END,
                 run_after = now(),
                 last_error = format('lease expired at %s while %s held the job (worker killed or hung)',
                                     s.lease_until, s.locked_by),
                 lease_until = NULL
             FROM job_queue q
             WHERE s.tenant_id = $1 AND s.status = 'running' AND s.lease_until < now()
               AND q.tenant_id = s.tenant_id AND q.id = s.job_id
             RETURNING s.job_id, s.kind, s.status",
            &[&tenant],
        )
        .map_err(|e| QueueError::query(what, e))?;
    let reclaimed: Vec<Reclaimed> = rows
        .iter()
        .map(|r| Reclaimed {
            id: r.get(0),
            kind: r.get(1),
            status: r.get(2),
        })
        .collect();
    let mut kinds: Vec<&str> = reclaimed
        .iter()
        .filter(|r| r.status == "ready")
        .map(|r| r.kind.as_str())
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        notify(&mut tx, tenant, kind)?;
    }
    tx.commit().map_err(|e| QueueError::query(what, e))?;
    Ok(reclaimed)
}

/// Put a dead job back in the queue: ready now, attempts reset to 0 (its last error is kept until
/// the next failure). Unknown ids and jobs that are not dead are refused, changing nothing.
pub fn retry(client: &mut postgres::Client, tenant: Uuid, id: i64) -> Result<String, QueueError> {
    let what = format!("retrying job {id}");
    let mut tx = client
        .transaction()
        .map_err(|e| QueueError::query(&what, e))?;
    let row = tx
        .query_opt(
            "SELECT status, kind FROM job_queue_state WHERE tenant_id = $1 AND job_id = $2 FOR UPDATE",
            &[&tenant, &id],
        )
        .map_err(|e| QueueError::query(&what, e))?;
    let Some(row) = row else {
        return Err(QueueError::UnknownJob {
            id,
            tenant: tenant.to_string(),
        });
    };
    let (status, kind): (String, String) = (row.get(0), row.get(1));
    if status != "dead" {
        return Err(QueueError::NotDead { id, status });
    }
    tx.execute(
        "UPDATE job_queue_state SET status = 'ready', attempts = 0, run_after = now(),
                finished_at = NULL, lease_until = NULL, locked_at = NULL, locked_by = NULL
         WHERE tenant_id = $1 AND job_id = $2",
        &[&tenant, &id],
    )
    .map_err(|e| QueueError::query(&what, e))?;
    notify(&mut tx, tenant, &kind)?;
    tx.commit().map_err(|e| QueueError::query(&what, e))?;
    Ok(kind)
}

/// Delete finished jobs (`done` and/or `dead`) that finished more than `older_than` ago; returns
/// how many. Purging a done job frees its idempotency key: the same work can be enqueued again.
pub fn purge(
    client: &mut postgres::Client,
    tenant: Uuid,
    statuses: &[&str],
    older_than: Duration,
) -> Result<u64, QueueError> {
    for s in statuses {
        if !matches!(*s, "done" | "dead") {
            return Err(QueueError::InvalidInput {
                what: "purge status",
                reason: format!("`{s}`: only done and dead jobs can be purged"),
            });
        }
    }
    let statuses: Vec<String> = statuses.iter().map(|s| s.to_string()).collect();
    client
        .execute(
            "DELETE FROM job_queue q USING job_queue_state s
             WHERE q.tenant_id = $1 AND s.tenant_id = q.tenant_id AND s.job_id = q.id
               AND s.status = ANY($2)
               AND coalesce(s.finished_at, s.locked_at, q.created_at) < now() - make_interval(secs => $3)",
            &[&tenant, &statuses, &older_than.as_secs_f64()],
        )
        .map_err(|e| QueueError::query("purging finished jobs", e))
}

/// One row of `jobs list`.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_after: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub idempotency_key: String,
    pub payload: serde_json::Value,
}

/// The newest jobs first, optionally of one status and/or kind.
pub fn list(
    client: &mut impl GenericClient,
    tenant: Uuid,
    status: Option<&str>,
    kind: Option<&str>,
    limit: i64,
) -> Result<Vec<JobRow>, QueueError> {
    let rows = client
        .query(
            "SELECT s.job_id, s.kind, s.status, s.attempts, q.max_attempts, s.run_after, s.locked_by,
                    s.lease_until, s.last_error, q.created_at, s.finished_at, q.idempotency_key, q.payload
             FROM job_queue_state s JOIN job_queue q ON q.tenant_id = s.tenant_id AND q.id = s.job_id
             WHERE s.tenant_id = $1 AND ($2::text IS NULL OR s.status = $2) AND ($3::text IS NULL OR s.kind = $3)
             ORDER BY s.job_id DESC LIMIT $4",
            &[&tenant, &status, &kind, &limit],
        )
        .map_err(|e| QueueError::query("listing jobs", e))?;
    Ok(rows
        .iter()
        .map(|r| JobRow {
            id: r.get(0),
            kind: r.get(1),
            status: r.get(2),
            attempts: r.get(3),
            max_attempts: r.get(4),
            run_after: r.get(5),
            locked_by: r.get(6),
            lease_until: r.get(7),
            last_error: r.get(8),
            created_at: r.get(9),
            finished_at: r.get(10),
            idempotency_key: r.get(11),
            payload: r.get(12),
        })
        .collect())
}

/// Jobs per status (queue depth, dead letters) for `status` and `jobs list`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Depth {
    pub ready: i64,
    pub running: i64,
    pub done: i64,
    pub dead: i64,
}

pub fn depth(client: &mut impl GenericClient, tenant: Uuid) -> Result<Depth, QueueError> {
    let rows = client
        .query(
            "SELECT status, count(*) FROM job_queue_state WHERE tenant_id = $1 GROUP BY status",
            &[&tenant],
        )
        .map_err(|e| QueueError::query("counting jobs", e))?;
    let mut d = Depth::default();
    for r in rows {
        let n: i64 = r.get(1);
        match r.get::<_, &str>(0) {
            "ready" => d.ready = n,
            "running" => d.running = n,
            "done" => d.done = n,
            _ => d.dead = n,
        }
    }
    Ok(d)
}

/// When the next ready job of these kinds becomes due (workers sleep until then at most).
pub fn next_due(
    client: &mut impl GenericClient,
    tenant: Uuid,
    kinds: &[String],
) -> Result<Option<DateTime<Utc>>, QueueError> {
    client
        .query_one(
            "SELECT min(run_after) FROM job_queue_state WHERE tenant_id = $1 AND kind = ANY($2) AND status = 'ready'",
            &[&tenant, &kinds],
        )
        .map(|r| r.get(0))
        .map_err(|e| QueueError::query("reading the next due job", e))
}

/// NOTIFY the workers of `tenant` that `kind` has ready work (delivered at commit).
pub fn notify(client: &mut impl GenericClient, tenant: Uuid, kind: &str) -> Result<(), QueueError> {
    client
        .execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &format!("{tenant} {kind}")],
        )
        .map(|_| ())
        .map_err(|e| QueueError::query("notifying workers", e))
}
