//! The audit trail: `event`, append-only, partitioned by month (see `retention`). Commands that
//! change or prove something (import, scan, export, backup, replay, trust) call [`record`] inside
//! their own transaction, or after their outcome is known, so a command killed half-way leaves no
//! event claiming success. Each event says who (OS user, host), what (kind), how it ended
//! (ok / refused / failed), on what (subject: bundle or manifest hash, backup label) and details.

mod retention;

pub use retention::{maintain_partitions, PartitionReport};

use crate::db::hot_queries::{EVENTS_OF_KIND_SINCE, EVENTS_SINCE};
use crate::db::DbError;
use chrono::{DateTime, Utc};
use postgres::GenericClient;
use serde::Serialize;
use std::sync::OnceLock;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Db(#[from] DbError),

    #[error(
        "no event partition covers {at}: run `stella-bundle db migrate` or a `partitions` job \
         (`stella-bundle jobs add partitions` then `stella-bundle worker --once`)"
    )]
    NoPartition { at: String },

    #[error("invalid event {what}: {reason}")]
    InvalidInput { what: &'static str, reason: String },

    #[error("partition maintenance refused: {0}")]
    Retention(String),
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    /// Refused before changing anything (bad signature, untrusted key, busy, ...).
    Refused,
    /// Started and failed.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// Who runs this process: the effective OS user and the host name.
#[derive(Debug, Clone)]
pub struct Actor {
    pub os_user: String,
    pub host: String,
}

impl Actor {
    pub fn current() -> &'static Actor {
        static ACTOR: OnceLock<Actor> = OnceLock::new();
        ACTOR.get_or_init(|| {
            let uid = nix::unistd::geteuid();
            let os_user = nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.name)
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| format!("uid:{uid}"));
            let host = nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unknown-host".into());
            Actor { os_user, host }
        })
    }
}

/// This machine's host name (also used in worker ids).
pub fn host_name() -> &'static str {
    &Actor::current().host
}

/// Append one event; returns its id. `client` may be a `Client` or the command's `Transaction`
/// (then the event exists only if that transaction commits). `occurred_at` is the clock time of
/// this call, when the outcome is known.
pub fn record(
    client: &mut impl GenericClient,
    tenant: Uuid,
    kind: &str,
    outcome: Outcome,
    subject: Option<&str>,
    details: &serde_json::Value,
) -> Result<Uuid, EventError> {
    let kind_ok = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if !kind_ok {
        return Err(EventError::InvalidInput {
            what: "kind",
            reason: format!("`{kind}`: use 1 to 64 characters among a-z, 0-9, `-`, `_`, `.`"),
        });
    }
    if !details.is_object() {
        return Err(EventError::InvalidInput {
            what: "details",
            reason: "must be a JSON object".into(),
        });
    }
    let actor = Actor::current();
    let id = Uuid::new_v4();
    client
        .execute(
            "INSERT INTO event (tenant_id, occurred_at, event_id, kind, outcome, os_user, host, subject, details)
             VALUES ($1, clock_timestamp(), $2, $3, $4, $5, $6, $7, $8)",
            &[
                &tenant,
                &id,
                &kind,
                &outcome.as_str(),
                &actor.os_user,
                &actor.host,
                &subject,
                details,
            ],
        )
        .map_err(|e| {
            // 23514: "no partition of relation "event" found for row"
            if e.code() == Some(&postgres::error::SqlState::CHECK_VIOLATION)
                && e.as_db_error().is_some_and(|d| d.message().contains("no partition"))
            {
                EventError::NoPartition {
                    at: Utc::now().to_rfc3339(),
                }
            } else {
                EventError::Db(DbError::query(format!("recording a {kind} event"), e))
            }
        })?;
    Ok(id)
}

/// One event as `events` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub occurred_at: DateTime<Utc>,
    pub event_id: Uuid,
    pub kind: String,
    pub outcome: String,
    pub os_user: String,
    pub host: String,
    pub subject: Option<String>,
    pub details: serde_json::Value,
}

/// Events since `since` (oldest first), optionally of one kind, at most `limit`.
pub fn list(
    client: &mut impl GenericClient,
    tenant: Uuid,
    since: DateTime<Utc>,
    kind: Option<&str>,
    limit: i64,
) -> Result<Vec<Event>, EventError> {
    let rows = match kind {
        None => client.query(EVENTS_SINCE.sql, &[&tenant, &since, &limit]),
        Some(k) => client.query(EVENTS_OF_KIND_SINCE.sql, &[&tenant, &k, &since, &limit]),
    }
    .map_err(|e| DbError::query("reading events", e))?;
    Ok(rows
        .iter()
        .map(|r| Event {
            occurred_at: r.get(0),
            event_id: r.get(1),
            kind: r.get(2),
            outcome: r.get(3),
            os_user: r.get(4),
            host: r.get(5),
            subject: r.get(6),
            details: r.get(7),
        })
        .collect())
}
