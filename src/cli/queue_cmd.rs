//! `worker` and `jobs list | retry | purge | add`: the CLI edge of `crate::queue`. SIGTERM and
//! SIGINT are turned into the worker's shutdown flag here; a second signal exits at once.

use super::args::{JobsCommand, WorkerArgs};
use super::output::Report;
use super::Context;
use crate::error::Error;
use crate::queue::{self, jobs, BuiltinSettings, NewJob, Worker, WorkerConfig};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

pub fn worker(ctx: &Context, a: WorkerArgs) -> Result<Report, Error> {
    if !(a.poll_interval.is_finite() && (0.01..=3600.0).contains(&a.poll_interval)) {
        return Err(Error::Usage(format!(
            "--poll-interval must be between 0.01 and 3600 seconds, got {}",
            a.poll_interval
        )));
    }
    // Fail fast on a bad database or tenant before spawning threads.
    drop(ctx.connect()?);
    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // Registered first: a second signal while the flag is already set exits immediately.
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&shutdown))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&shutdown)))
            .map_err(|e| Error::Usage(format!("cannot install the signal handlers: {e}")))?;
    }
    let registry = queue::builtin::registry(&BuiltinSettings {
        event_retention_months: a.event_retention_months,
        scan_key: a.scan_key.clone(),
        manifest_dir: a
            .manifest_dir
            .clone()
            .unwrap_or_else(|| ctx.home.root().join("manifests")),
        target: Some(ctx.target.clone()),
        ..BuiltinSettings::default()
    });
    let mut config = WorkerConfig::new(ctx.tenant.id);
    config.kinds = a.kinds.iter().map(|k| k.trim().to_string()).collect();
    config.concurrency = usize::from(a.concurrency);
    config.lease = Duration::from_secs(u64::from(a.lease));
    config.poll_interval = Duration::from_secs_f64(a.poll_interval);
    config.once = a.once;
    let target = ctx.target.clone();
    let connect: queue::worker::Connector = Arc::new(move || target.connect());
    let worker = Worker::new(config, registry, connect, shutdown).map_err(|e| match e {
        queue::QueueError::InvalidConfig(m) => Error::Usage(m),
        queue::QueueError::InvalidInput { what, reason } => {
            Error::Usage(format!("--kinds: invalid {what}: {reason}"))
        }
        other => other.into(),
    })?;
    let report = worker.run()?;
    let human = format!(
        "{} jobs in {:.1} s ({:.0}/s): {} done, {} retried later, {} dead, {} released, {} reclaimed from dead workers{}\nclaim latency p50 {:.2} ms, p99 {:.2} ms",
        report.processed,
        report.elapsed_ms as f64 / 1000.0,
        report.jobs_per_sec,
        report.done,
        report.retried,
        report.dead,
        report.released,
        report.reclaimed,
        if report.lease_lost > 0 {
            format!(", {} finished after losing their lease", report.lease_lost)
        } else {
            String::new()
        },
        report.claim_latency.p50_ms,
        report.claim_latency.p99_ms,
    );
    Ok(Report::ok(&report, human))
}

pub fn jobs(ctx: &Context, cmd: JobsCommand) -> Result<Report, Error> {
    match cmd {
        JobsCommand::List {
            status,
            kind,
            limit,
        } => list(ctx, status.map(|s| s.as_str()), kind.as_deref(), limit),
        JobsCommand::Retry { id } => retry(ctx, id),
        JobsCommand::Purge {
            done,
            dead,
            older_than,
        } => purge(ctx, done, dead, older_than.as_deref()),
        JobsCommand::Add {
            kind,
            key,
            payload,
            max_attempts,
            backoff_ms,
        } => add(ctx, &kind, key, &payload, max_attempts, backoff_ms),
    }
}

fn list(
    ctx: &Context,
    status: Option<&str>,
    kind: Option<&str>,
    limit: i64,
) -> Result<Report, Error> {
    let mut client = ctx.connect()?;
    let rows = jobs::list(&mut client, ctx.tenant.id, status, kind, limit)?;
    let depth = jobs::depth(&mut client, ctx.tenant.id)?;
    let mut human = format!(
        "ready {}, running {}, done {}, dead {}\n",
        depth.ready, depth.running, depth.done, depth.dead
    );
    if !rows.is_empty() {
        human.push_str(&format!(
            "{:>8}  {:<12} {:<8} {:>8}  {:<20}  {}\n",
            "ID", "KIND", "STATUS", "ATTEMPTS", "RUN AFTER", "LAST ERROR"
        ));
    }
    for r in &rows {
        human.push_str(&format!(
            "{:>8}  {:<12} {:<8} {:>8}  {:<20}  {}\n",
            r.id,
            r.kind,
            r.status,
            format!("{}/{}", r.attempts, r.max_attempts),
            r.run_after.format("%Y-%m-%d %H:%M:%S"),
            r.last_error.as_deref().unwrap_or("")
        ));
    }
    Ok(Report::ok(
        serde_json::json!({"jobs": rows, "counts": depth}),
        human,
    ))
}

fn retry(ctx: &Context, id: i64) -> Result<Report, Error> {
    let mut client = ctx.connect()?;
    let kind = jobs::retry(&mut client, ctx.tenant.id, id)?;
    Ok(Report::ok(
        serde_json::json!({"id": id, "kind": kind, "status": "ready"}),
        format!("job {id} ({kind}) is ready again"),
    ))
}

fn purge(ctx: &Context, done: bool, dead: bool, older_than: Option<&str>) -> Result<Report, Error> {
    if !done && !dead {
        return Err(Error::Usage(
            "say what to purge: --done, --dead or both".into(),
        ));
    }
    let age = match older_than {
        Some(s) => parse_duration(s).map_err(Error::Usage)?,
        None => Duration::ZERO,
    };
    let mut statuses = Vec::new();
    if done {
        statuses.push("done");
    }
    if dead {
        statuses.push("dead");
    }
    let mut client = ctx.connect()?;
    let n = jobs::purge(&mut client, ctx.tenant.id, &statuses, age)?;
    Ok(Report::ok(
        serde_json::json!({"purged": n, "statuses": statuses, "older_than_secs": age.as_secs()}),
        format!("purged {n} {} job(s)", statuses.join("/")),
    ))
}

fn add(
    ctx: &Context,
    kind: &str,
    key: Option<String>,
    payload: &str,
    max_attempts: i32,
    backoff_ms: i32,
) -> Result<Report, Error> {
    let payload: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| Error::Usage(format!("--payload is not JSON: {e}")))?;
    let key = key.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut client = ctx.connect()?;
    let mut tx = client
        .transaction()
        .map_err(|e| crate::db::DbError::query("starting a transaction", e))?;
    ctx.tenant.ensure(&mut tx)?;
    let job = NewJob {
        max_attempts,
        backoff_ms,
        ..NewJob::new(kind, &key, &payload)
    };
    let e = jobs::enqueue_job(&mut tx, ctx.tenant.id, &job).map_err(|e| match e {
        queue::QueueError::InvalidInput { what, reason } => {
            Error::Usage(format!("invalid {what}: {reason}"))
        }
        other => other.into(),
    })?;
    tx.commit()
        .map_err(|e| crate::db::DbError::query("enqueuing the job", e))?;
    let human = if e.new {
        format!("job {} ({kind}) enqueued", e.id)
    } else {
        format!("job {} ({kind}) already exists for key {key}", e.id)
    };
    Ok(Report::ok(
        serde_json::json!({"id": e.id, "new": e.new, "kind": kind, "idempotency_key": key}),
        human,
    ))
}

/// `30d`, `12h`, `90m`, `45s`, `2w`.
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("`{s}` is not a duration: use a number and a unit, e.g. 30d, 12h, 90m, 45s")
    })?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}`; use s, m, h, d or w (e.g. 30d)"
            ))
        }
    };
    n.checked_mul(secs)
        .filter(|v| *v <= 100 * 365 * 86400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{s}` is too long (at most 100 years)"))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("x1h").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("99999999999999w").is_err());
    }
}
