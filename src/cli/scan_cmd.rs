//! `scan` and `findings`.

use super::output::{Mode, Report};
use super::Context;
use crate::bundle::PrivateKey;
use crate::db::DbError;
use crate::error::{Error, EXIT_FAILURE};
use crate::report;
use crate::scan::{self, ScanRequest};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn scan(
    ctx: &Context,
    artifacts: &[String],
    key: &Path,
    manifest_out: Option<PathBuf>,
    no_wait: bool,
    archive_wait: u64,
    fail_on: Option<&str>,
) -> Result<Report, Error> {
    let key = PrivateKey::load(key)?;
    let mut client = ctx.connect()?;
    let connect_reader = || ctx.connect().ok();
    let req = ScanRequest {
        artifacts,
        key: &key,
        manifest_out,
        manifest_dir: None,
        no_wait,
        archive_wait: Duration::from_secs(archive_wait),
        connect_reader: Some(&connect_reader),
    };
    let mut o = scan::run(&mut client, &ctx.tenant, &req)?;
    if let Some(w) = no_backup_before(ctx, &mut client, o.lsn.as_deref()) {
        o.warnings.push(w);
    }
    for w in &o.warnings {
        if ctx.mode != Mode::Quiet {
            eprintln!("warning: {w}");
        }
    }
    let c = &o.counts;
    let human = format!(
        "scan {}\n  {} artifacts, {} components ({} without purl), {} candidate matches\n  {} findings: {} affected, {} under investigation, {} not affected, {} fixed\n  result digest {}\n  restore point {} at {}\n  manifest {}",
        o.scan_id,
        c.artifacts,
        c.components,
        c.components_without_purl,
        c.candidates,
        c.findings,
        c.affected,
        c.under_investigation,
        c.not_affected,
        c.fixed,
        o.result_digest,
        o.restore_point.as_deref().unwrap_or("-"),
        o.lsn.as_deref().unwrap_or("-"),
        o.manifest.display()
    );
    let failing = match fail_on {
        Some("affected") => c.affected,
        Some("under_investigation") => c.under_investigation,
        Some("not_affected") => c.not_affected,
        Some("fixed") => c.fixed,
        _ => 0,
    };
    let json = serde_json::json!({
        "scan_id": o.scan_id, "manifest": o.manifest, "result_digest": o.result_digest, "counts": o.counts,
        "restore_point": o.restore_point, "lsn": o.lsn, "warnings": o.warnings,
    });
    let report = Report::ok(json, human);
    Ok(if failing > 0 {
        report.with_code(EXIT_FAILURE)
    } else {
        report
    })
}

/// A scan can be replayed only from a base backup that ends before its LSN: warn when the
/// repository has none.
fn no_backup_before(
    ctx: &Context,
    client: &mut postgres::Client,
    lsn: Option<&str>,
) -> Option<String> {
    let lsn: crate::backup::Lsn = lsn?.parse().ok()?;
    let sysid: u64 = client
        .query_one(
            "SELECT system_identifier::text FROM pg_control_system()",
            &[],
        )
        .ok()?
        .get::<_, String>(0)
        .parse()
        .ok()?;
    let repo = crate::backup::Repo::new(ctx.home.repo());
    let backups = crate::backup::basebackup::list(&repo).unwrap_or_default();
    if backups
        .iter()
        .any(|(m, _)| m.sysid() == sysid && m.stop_lsn <= lsn)
    {
        return None;
    }
    Some(format!(
        "no base backup of this cluster in {} ends before this scan: it cannot be replayed. Take backups \
         regularly (`stella-bundle backup`); a backup taken now only helps later scans",
        repo.root().display()
    ))
}

/// `advisories search TEXT`: exact id/alias hits first, then ranked full-text hits.
pub fn advisories_search(
    ctx: &Context,
    text: &str,
    ecosystem: Option<&str>,
    limit: i64,
) -> Result<Report, Error> {
    let mut client = ctx.connect()?;
    let hits = crate::advisories::search(&mut client, ctx.tenant.id, text, ecosystem, limit)?;
    let mut human = String::new();
    for h in &hits {
        human.push_str(&format!(
            "{}{}  [{}]\n  {}\n  {}\n",
            h.id,
            if h.withdrawn { " (withdrawn)" } else { "" },
            h.aliases.join(", "),
            h.summary.as_deref().unwrap_or("-"),
            h.packages.join(", ")
        ));
    }
    human.push_str(&format!("{} advisories", hits.len()));
    Ok(Report::ok(serde_json::json!({ "advisories": hits }), human))
}

pub struct FindingsFilter {
    pub artifact: Option<String>,
    pub advisory: Option<String>,
    pub component: Option<String>,
    pub status: Option<String>,
    pub limit: Option<i64>,
}

#[derive(serde::Serialize)]
struct Row {
    artifact_purl: String,
    component_purl: String,
    advisory_id: String,
    aliases: Vec<String>,
    status: String,
    justification: Option<String>,
    severity: Option<String>,
}

pub fn findings(ctx: &Context, f: FindingsFilter, format: &str) -> Result<Report, Error> {
    let mut client = ctx.connect()?;
    let artifact = f
        .artifact
        .as_deref()
        .map(scan::canonical_artifact)
        .transpose()?;
    let (component, component_package) = match f.component.as_deref() {
        Some(c) => match crate::formats::Purl::parse(c) {
            Ok(p) if p.version.is_some() => (Some(p.canonical), None),
            Ok(p) => (None, Some(p.package)),
            Err(e) => {
                return Err(Error::Usage(format!(
                    "--component {c:?} is not a valid purl: {e}"
                )))
            }
        },
        None => (None, None),
    };
    // Each artifact's latest finished scan first, from the mv_artifact_risk projection (one row
    // per artifact, refreshed by every scan after its commit; reading scan_artifact instead
    // would sort every scan's rows of history at each call). The findings query then names
    // those scans, so the planner prunes `finding_bulk` to their partitions (a site keeps one
    // partition per large scan; planning all of them costs ~0.17 ms each).
    let latest = client
        .query(
            "SELECT artifact_purl, scan_id, finished_at FROM mv_artifact_risk
             WHERE tenant_id = $1 AND ($2::text IS NULL OR artifact_purl = $2)",
            &[&ctx.tenant.id, &artifact],
        )
        .map_err(|e| DbError::query("reading each artifact's latest scan", e))?;
    let latest_artifacts: Vec<String> = latest.iter().map(|r| r.get(0)).collect();
    let latest_scans: Vec<uuid::Uuid> = latest.iter().map(|r| r.get(1)).collect();
    let latest_finished: Vec<chrono::DateTime<chrono::Utc>> =
        latest.iter().map(|r| r.get(2)).collect();
    let mut scans = latest_scans.clone();
    scans.sort_unstable();
    scans.dedup();
    let rows = client
        .query(
            "WITH latest AS (
               SELECT * FROM unnest($8::text[], $9::uuid[], $10::timestamptz[]) AS l(artifact_purl, scan_id, finished_at))
             SELECT f.artifact_purl, f.component_purl, f.advisory_id, f.aliases, f.status, f.justification, f.severity,
                    l.finished_at
             FROM latest l JOIN finding f
               ON f.tenant_id = $1 AND f.scan_id = l.scan_id AND f.artifact_purl = l.artifact_purl
             WHERE f.scan_id = ANY($11::uuid[])
               AND ($3::text IS NULL OR (
                     -- the advisory itself or one the alias names (advisory_alias, then
                     -- ix_finding_advisory_id: = ANY of an array, which, unlike IN (...) under
                     -- this OR, the planner turns into an index condition), as the finding
                     -- recorded it
                     f.advisory_id = ANY (ARRAY(
                         SELECT $3::text UNION ALL
                         SELECT aa.advisory_id FROM advisory_alias aa WHERE aa.tenant_id = $1 AND aa.alias = $3))
                     AND (f.advisory_id = $3 OR f.aliases @> ARRAY[$3::text])))
               AND ($4::text IS NULL OR f.component_purl = $4)
               AND ($5::text IS NULL OR starts_with(f.component_purl, $5 || '@'))
               AND ($6::text IS NULL OR f.status = $6)
               AND ($2::text IS NULL OR f.artifact_purl = $2)
             ORDER BY f.artifact_purl COLLATE \"C\", f.component_purl COLLATE \"C\", f.advisory_id COLLATE \"C\"
             LIMIT $7",
            &[
                &ctx.tenant.id,
                &artifact,
                &f.advisory,
                &component,
                &component_package,
                &f.status,
                &f.limit.unwrap_or(i64::MAX),
                &latest_artifacts,
                &latest_scans,
                &latest_finished,
                &scans,
            ],
        )
        .map_err(|e| DbError::query("reading findings", e))?;
    let finished: Option<chrono::DateTime<chrono::Utc>> = rows
        .iter()
        .map(|r| r.get::<_, chrono::DateTime<chrono::Utc>>(7))
        .max();
    let rows: Vec<Row> = rows
        .iter()
        .map(|r| Row {
            artifact_purl: r.get(0),
            component_purl: r.get(1),
            advisory_id: r.get(2),
            aliases: r.get(3),
            status: r.get(4),
            justification: r.get(5),
            severity: r.get(6),
        })
        .collect();
    let json = serde_json::json!({ "findings": rows });
    let human = match format {
        "json" => serde_json::to_string_pretty(&json).unwrap_or_default(),
        "csv" => csv(&rows),
        "table" => table(&rows),
        other => {
            let format: report::Format = other
                .parse()
                .map_err(|e: report::UnknownFormat| Error::Usage(e.to_string()))?;
            let doc = interchange(&mut client, ctx, &rows, finished, format)?;
            return Ok(Report::ok(json, doc));
        }
    };
    Ok(Report::ok(json, human))
}

/// The findings as a SARIF, OpenVEX or CycloneDX document: advisory summaries read for the
/// rule and vulnerability descriptions, the newest scan's end as the document time.
fn interchange(
    client: &mut postgres::Client,
    ctx: &Context,
    rows: &[Row],
    finished: Option<chrono::DateTime<chrono::Utc>>,
    format: report::Format,
) -> Result<String, Error> {
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r.advisory_id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let summaries: std::collections::BTreeMap<String, Option<String>> = client
        .query(
            "SELECT c.advisory_id, a.summary FROM advisory_current c
             JOIN advisory a ON a.tenant_id = c.tenant_id AND a.id = c.advisory_pk
             WHERE c.tenant_id = $1 AND c.advisory_id = ANY($2)",
            &[&ctx.tenant.id, &ids],
        )
        .map_err(|e| DbError::query("reading advisory summaries", e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let findings: Vec<report::ReportFinding> = rows
        .iter()
        .map(|r| report::ReportFinding {
            artifact_purl: r.artifact_purl.clone(),
            component_purl: r.component_purl.clone(),
            advisory_id: r.advisory_id.clone(),
            aliases: r.aliases.clone(),
            status: r.status.clone(),
            justification: r.justification.clone(),
            severity: r.severity.clone(),
            summary: summaries.get(&r.advisory_id).cloned().flatten(),
        })
        .collect();
    let mut canonical: Vec<scan::digest::Finding> = rows
        .iter()
        .map(|r| scan::digest::Finding {
            artifact_purl: r.artifact_purl.clone(),
            component_purl: r.component_purl.clone(),
            advisory_id: r.advisory_id.clone(),
            aliases: r.aliases.clone(),
            status: r.status.clone(),
            justification: r.justification.clone(),
        })
        .collect();
    scan::digest::sort(&mut canonical);
    let meta = report::ReportMeta {
        tool_version: scan::engine::ENGINE_VERSION.to_string(),
        timestamp: finished
            .unwrap_or(chrono::DateTime::UNIX_EPOCH)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        digest: scan::digest::result_digest(&canonical),
    };
    let bytes = report::render(format, &findings, &meta);
    Ok(String::from_utf8_lossy(&bytes).trim_end().to_string())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "artifact_purl,component_purl,advisory_id,aliases,status,justification,severity\n",
    );
    for r in rows {
        let fields = [
            r.artifact_purl.clone(),
            r.component_purl.clone(),
            r.advisory_id.clone(),
            r.aliases.join(" "),
            r.status.clone(),
            r.justification.clone().unwrap_or_default(),
            r.severity.clone().unwrap_or_default(),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

fn table(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "no findings".into();
    }
    let header = [
        "ARTIFACT",
        "COMPONENT",
        "ADVISORY",
        "ALIASES",
        "STATUS",
        "JUSTIFICATION",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.artifact_purl.clone(),
                r.component_purl.clone(),
                r.advisory_id.clone(),
                r.aliases.join(","),
                r.status.clone(),
                r.justification.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.len());
    for c in &cells {
        for (i, v) in c.iter().enumerate() {
            widths[i] = widths[i].max(v.chars().count());
        }
    }
    let line = |vals: &[String]| {
        vals.iter()
            .enumerate()
            .map(|(i, v)| format!("{v:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(&header.map(String::from));
    out.push('\n');
    for c in &cells {
        out.push_str(&line(c));
        out.push('\n');
    }
    out.push_str(&format!("{} findings", rows.len()));
    out
}
