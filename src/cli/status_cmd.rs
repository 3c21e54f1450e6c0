//! `status`: one screen that answers how old the feeds are, when the last backup was, whether
//! WAL archiving keeps up, what the queue holds, and which scans cannot be replayed.

use super::output::Report;
use super::Context;
use crate::db::{DbError, DbTarget};
use crate::error::{Error, EXIT_FAILURE};
use serde::Serialize;
use std::io::IsTerminal;

#[derive(Serialize)]
struct Feed {
    source: String,
    bundle_sha256: String,
    created: String,
    age_seconds: i64,
    sequence: Option<i64>,
    imported_at: String,
    stale: bool,
}

#[derive(Serialize, Default)]
struct Archive {
    archive_mode: String,
    last_archived_wal: Option<String>,
    last_archived_age_seconds: Option<i64>,
    failed_count: i64,
    last_failed_wal: Option<String>,
    /// WAL segments written but not archived yet.
    lag_segments: Option<i64>,
}

#[derive(Serialize, Default)]
struct Queue {
    ready: i64,
    running: i64,
    dead: i64,
}

#[derive(Serialize)]
struct Unreplayable {
    scan_id: String,
    finished: Option<String>,
    reason: String,
}

#[derive(Serialize)]
struct StatusJson {
    database: serde_json::Value,
    feeds: Vec<Feed>,
    last_import: Option<String>,
    backups: serde_json::Value,
    archive: Option<Archive>,
    queue: Queue,
    scans: i64,
    unreplayable_scans: Vec<Unreplayable>,
    problems: Vec<String>,
    ok: bool,
}

fn q(what: &'static str) -> impl Fn(postgres::Error) -> Error {
    move |e| Error::Db(DbError::query(what, e))
}

pub fn status(ctx: &Context, max_age: i64, check: bool) -> Result<Report, Error> {
    let mut problems = Vec::new();
    // A fresh embedded home is reported as such; status never creates a cluster.
    if let DbTarget::Embedded { home, .. } = &ctx.target {
        if !home.pg_data().join("PG_VERSION").is_file() {
            let json = StatusJson {
                database: serde_json::json!({"embedded": true, "initialized": false, "running": false,
                                             "data_dir": home.pg_data()}),
                feeds: vec![],
                last_import: None,
                backups: serde_json::json!({"count": 0, "last": null}),
                archive: None,
                queue: Queue::default(),
                scans: 0,
                unreplayable_scans: vec![],
                problems: vec![],
                ok: true,
            };
            let human = format!(
                "database: not created yet ({}); `stella-bundle db start` or any import creates it",
                home.pg_data().display()
            );
            return Ok(Report::ok(json, human));
        }
    }
    let mut c = ctx.connect()?;
    let db = c
        .query_one(
            "SELECT current_setting('server_version'), pg_database_size(current_database()),
                    (SELECT system_identifier::text FROM pg_control_system())",
            &[],
        )
        .map_err(q("reading the server"))?;
    let database = serde_json::json!({
        "embedded": matches!(ctx.target, DbTarget::Embedded { .. }),
        "initialized": true,
        "running": true,
        "url": ctx.target.url().ok(),
        "server_version": db.get::<_, String>(0),
        "size_bytes": db.get::<_, i64>(1),
        "system_identifier": db.get::<_, String>(2),
    });
    let now = chrono::Utc::now();
    let feeds: Vec<Feed> = c
        .query(
            "SELECT DISTINCT ON (source) source, bundle_sha256, created, sequence, imported_at
             FROM bundle_import WHERE tenant_id = $1 AND kind = 'feed'
             ORDER BY source, created DESC, import_id DESC",
            &[&ctx.tenant.id],
        )
        .map_err(q("reading feeds"))?
        .iter()
        .map(|r| {
            let created: chrono::DateTime<chrono::Utc> = r.get(2);
            let imported: chrono::DateTime<chrono::Utc> = r.get(4);
            let age = (now - created).num_seconds();
            Feed {
                source: r.get(0),
                bundle_sha256: hex::encode(r.get::<_, Vec<u8>>(1)),
                created: created.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                age_seconds: age,
                sequence: r.get(3),
                imported_at: imported.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                stale: age > max_age,
            }
        })
        .collect();
    for f in feeds.iter().filter(|f| f.stale) {
        problems.push(format!(
            "feed {} is {} old (signed created {})",
            f.source,
            human_age(f.age_seconds),
            f.created
        ));
    }
    let last_import: Option<chrono::DateTime<chrono::Utc>> = c
        .query_one(
            "SELECT max(imported_at) FROM bundle_import WHERE tenant_id = $1",
            &[&ctx.tenant.id],
        )
        .map_err(q("reading imports"))?
        .get(0);
    let archive = c
        .query_one(
            "SELECT current_setting('archive_mode'), a.last_archived_wal,
                    extract(epoch FROM now() - a.last_archived_time)::bigint, a.failed_count, a.last_failed_wal,
                    CASE WHEN pg_is_in_recovery() OR a.last_archived_wal IS NULL
                              OR length(a.last_archived_wal) <> 24 THEN NULL
                         ELSE ((('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 9, 8))::bit(32)::bigint * 256
                                + ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 17, 8))::bit(32)::bigint)
                              - (('x' || substr(a.last_archived_wal, 9, 8))::bit(32)::bigint * 256
                                + ('x' || substr(a.last_archived_wal, 17, 8))::bit(32)::bigint) - 1)
                    END
             FROM pg_stat_archiver a",
            &[],
        )
        .ok()
        .map(|r| Archive {
            archive_mode: r.get(0),
            last_archived_wal: r.get(1),
            last_archived_age_seconds: r.get(2),
            failed_count: r.get(3),
            last_failed_wal: r.get(4),
            lag_segments: r.get::<_, Option<i64>>(5).map(|l| l.max(0)),
        });
    if let Some(a) = &archive {
        if a.archive_mode == "off" {
            problems.push("WAL archiving is off: scans cannot be replayed".into());
        } else if let (Some(failed), Some(last)) = (&a.last_failed_wal, &a.last_archived_wal) {
            if failed > last {
                problems.push(format!(
                    "the archiver is failing (last failed segment {failed}); see the server log"
                ));
            }
        }
    }
    let queue = c
        .query_one(
            "SELECT count(*) FILTER (WHERE status = 'ready'), count(*) FILTER (WHERE status = 'running'),
                    count(*) FILTER (WHERE status = 'dead')
             FROM job_queue_state WHERE tenant_id = $1",
            &[&ctx.tenant.id],
        )
        .map(|r| Queue { ready: r.get(0), running: r.get(1), dead: r.get(2) })
        .map_err(q("reading the queue"))?;
    if queue.dead > 0 {
        problems.push(format!(
            "{} dead job(s): `stella-bundle jobs list --status dead`",
            queue.dead
        ));
    }
    let scans: i64 = c
        .query_one(
            "SELECT count(*) FROM scan_run WHERE tenant_id = $1",
            &[&ctx.tenant.id],
        )
        .map_err(q("reading scans"))?
        .get(0);
    let mut unreplayable: Vec<Unreplayable> = c
        .query(
            "SELECT scan_id::text, finished_at FROM scan_run
             WHERE tenant_id = $1 AND (lsn IS NULL OR restore_point IS NULL) ORDER BY finished_at",
            &[&ctx.tenant.id],
        )
        .map_err(q("reading scans"))?
        .iter()
        .map(|r| Unreplayable {
            scan_id: r.get(0),
            finished: r
                .get::<_, Option<chrono::DateTime<chrono::Utc>>>(1)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            reason: "no restore point was recorded".into(),
        })
        .collect();
    // Backups: the newest, and scans that no backup can replay.
    let repo = crate::backup::Repo::new(ctx.home.repo());
    let backups = crate::backup::basebackup::list(&repo).unwrap_or_default();
    let last_backup = backups.first().map(|(m, _)| m.clone());
    if let Ok(all) = crate::backup::prune::scans(&mut c) {
        let tenant = ctx.tenant.id.to_string();
        let mine: Vec<_> = all.into_iter().filter(|s| s.tenant_id == tenant).collect();
        if let Ok(lost) = crate::backup::prune::unreplayable(&repo, &mine) {
            for s in lost {
                unreplayable.push(Unreplayable {
                    scan_id: s.scan_id.clone(),
                    finished: None,
                    reason: format!(
                        "no base backup in {} ends before its LSN {}",
                        repo.root().display(),
                        s.lsn
                    ),
                });
            }
        }
    }
    let backups_json = serde_json::json!({
        "repository": repo.root(),
        "count": backups.len(),
        "last": last_backup.as_ref().map(|m| serde_json::json!({
            "label": m.label, "stop_time": m.stop_time, "stop_lsn": m.stop_lsn.to_string(),
            "age_seconds": m.stop_time_utc().map(|t| (now - t).num_seconds()),
            "stored_bytes": m.stored_bytes,
        })),
    });
    if backups.is_empty() {
        problems.push("no base backup: scans cannot be replayed (`stella-bundle backup`)".into());
    }
    if !unreplayable.is_empty() {
        problems.push(format!("{} scan(s) cannot be replayed", unreplayable.len()));
    }
    let ok = problems.is_empty();
    let color = std::io::stdout().is_terminal();
    let mut human = String::new();
    human.push_str(&format!(
        "database   {} {} ({} MiB), system identifier {}\n",
        if database["embedded"] == true {
            "embedded"
        } else {
            "external"
        },
        database["server_version"].as_str().unwrap_or("-"),
        database["size_bytes"].as_i64().unwrap_or(0) / (1 << 20),
        database["system_identifier"].as_str().unwrap_or("-"),
    ));
    if feeds.is_empty() {
        human.push_str("feeds      none imported\n");
    }
    for f in &feeds {
        let line = format!(
            "feed       {:<20} created {}  age {:<8} sequence {}{}\n",
            f.source,
            f.created,
            human_age(f.age_seconds),
            f.sequence
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            if f.stale { "  STALE" } else { "" }
        );
        if f.stale && color {
            human.push_str(&format!("\x1b[31m{}\x1b[0m\n", line.trim_end()));
        } else {
            human.push_str(&line);
        }
    }
    human.push_str(&format!(
        "imports    last {}\n",
        last_import
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "never".into())
    ));
    if let Some(a) = &archive {
        human.push_str(&format!(
            "wal        archive_mode {}, last archived {} ({} ago), lag {} segment(s), {} failure(s)\n",
            a.archive_mode,
            a.last_archived_wal.as_deref().unwrap_or("none"),
            a.last_archived_age_seconds.map(human_age).unwrap_or_else(|| "-".into()),
            a.lag_segments.map(|l| l.to_string()).unwrap_or_else(|| "-".into()),
            a.failed_count
        ));
    }
    human.push_str(&match &last_backup {
        Some(m) => format!(
            "backups    {} in {}, last {} ({} ago, {} MiB)\n",
            backups.len(),
            repo.root().display(),
            m.label,
            m.stop_time_utc()
                .map(|t| human_age((now - t).num_seconds()))
                .unwrap_or_else(|| "-".into()),
            m.stored_bytes >> 20
        ),
        None => format!("backups    none in {}\n", repo.root().display()),
    });
    human.push_str(&format!(
        "queue      {} ready, {} running, {} dead\n",
        queue.ready, queue.running, queue.dead
    ));
    human.push_str(&format!(
        "scans      {} recorded, {} cannot be replayed\n",
        scans,
        unreplayable.len()
    ));
    for p in &problems {
        human.push_str(&format!("attention  {p}\n"));
    }
    let json = StatusJson {
        database,
        feeds,
        last_import: last_import.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        backups: backups_json,
        archive,
        queue,
        scans,
        unreplayable_scans: unreplayable,
        problems,
        ok,
    };
    let code = if check && !ok { EXIT_FAILURE } else { 0 };
    Ok(Report::ok(json, human).with_code(code))
}

pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else if s < 172_800 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86400)
    }
}
