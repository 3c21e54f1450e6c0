//! Event retention by partitions only: create the coming months' partitions of `event` ahead of
//! time and drop whole partitions past retention (never DELETE: dropping is instant and leaves no
//! bloat). One maintenance at a time, serialized by `LockKey::Partitions` in the same short
//! transaction as the DDL, with a lock timeout so a long reader of `event` makes the job retry
//! later instead of queueing every insert behind it.

use super::EventError;
use crate::db::locks::LockKey;
use crate::db::DbError;
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionReport {
    pub created: i32,
    pub dropped: Vec<String>,
}

/// Make sure partitions exist from this month to `months_ahead` months ahead, and drop the
/// partitions that end before the month `retention_months` ago (so every event younger than
/// `retention_months` months is kept).
pub fn maintain_partitions(
    client: &mut postgres::Client,
    months_ahead: i32,
    retention_months: i32,
) -> Result<PartitionReport, EventError> {
    if retention_months < 1 {
        return Err(EventError::Retention(format!(
            "retention must be at least 1 month (got {retention_months}): the current month's \
             partition is never dropped"
        )));
    }
    if !(0..=120).contains(&months_ahead) {
        return Err(EventError::Retention(format!(
            "months ahead must be 0 to 120 (got {months_ahead})"
        )));
    }
    let what = "maintaining event partitions";
    let q = |e| EventError::Db(DbError::query(what, e));
    let mut tx = client.transaction().map_err(q)?;
    tx.batch_execute("SET LOCAL lock_timeout = '10s'")
        .map_err(q)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&LockKey::Partitions.key()],
    )
    .map_err(q)?;
    let created: i32 = tx
        .query_one(
            "SELECT stella_ensure_partitions('event', $1)",
            &[&months_ahead],
        )
        .map_err(q)?
        .get(0);
    let mut dropped: Vec<String> = tx
        .query(
            "SELECT stella_drop_partitions_before('event', now() - make_interval(months => $1))",
            &[&retention_months],
        )
        .map_err(q)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().map_err(q)?;
    dropped.sort();
    Ok(PartitionReport { created, dropped })
}
