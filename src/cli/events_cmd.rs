//! `events [--since T] [--kind K] [--limit N]`: the audit trail, oldest first.

use super::args::EventsArgs;
use super::output::Report;
use super::queue_cmd::parse_duration;
use super::Context;
use crate::error::Error;
use crate::events;
use chrono::{DateTime, NaiveDate, Utc};

pub fn run(ctx: &Context, a: EventsArgs) -> Result<Report, Error> {
    let since = parse_since(&a.since).map_err(Error::Usage)?;
    let mut client = ctx.connect()?;
    let list = events::list(
        &mut client,
        ctx.tenant.id,
        since,
        a.kind.as_deref(),
        a.limit,
    )?;
    let mut human = String::new();
    for e in &list {
        human.push_str(&format!(
            "{}  {:<8} {:<8} {}@{}  {}{}\n",
            e.occurred_at.format("%Y-%m-%d %H:%M:%S"),
            e.kind,
            e.outcome,
            e.os_user,
            e.host,
            e.subject.as_deref().unwrap_or("-"),
            if e.details.as_object().is_some_and(|o| !o.is_empty()) {
                format!("  {}", e.details)
            } else {
                String::new()
            }
        ));
    }
    if list.is_empty() {
        human = format!("no events since {}", since.to_rfc3339());
    }
    let truncated = list.len() as i64 == a.limit;
    Ok(Report::ok(
        serde_json::json!({"since": since, "events": list, "truncated": truncated}),
        human,
    ))
}

/// RFC 3339, a date (midnight UTC) or an age such as `7d`.
fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    let age = parse_duration(s).map_err(|_| {
        format!("--since `{s}`: use RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or an age (7d, 12h)")
    })?;
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .ok_or_else(|| format!("--since `{s}` is too far back"))
}
