//! `db start | stop | status | migrate | lint`.

use super::args::DbCommand;
use super::output::Report;
use super::Context;
use crate::db::{self, DbTarget, EMBEDDED_DATABASE};
use crate::error::{Error, EXIT_FAILURE};
use crate::pg::StartOutcome;
use serde::Serialize;

pub fn run(ctx: &Context, cmd: DbCommand) -> Result<Report, Error> {
    match cmd {
        DbCommand::Start => start(ctx),
        DbCommand::Stop => stop(ctx),
        DbCommand::Status => status(ctx),
        DbCommand::Migrate => migrate(ctx),
        DbCommand::Lint => lint(ctx),
    }
}

#[derive(Serialize)]
struct StartJson {
    outcome: Option<StartOutcome>,
    url: String,
    data_dir: Option<String>,
    migrations_applied: Vec<String>,
}

fn start(ctx: &Context) -> Result<Report, Error> {
    let started = ctx.target.ensure_running()?;
    let url = ctx.target.url()?;
    let mut client = db::connect_url_or_create(&ctx.target)?;
    let report = db::migrate::migrate(&mut client)?;
    let (outcome, data_dir) = match &started {
        Some((cluster, outcome)) => (
            Some(*outcome),
            Some(cluster.data_dir().display().to_string()),
        ),
        None => (None, None),
    };
    let human = match (outcome, &data_dir) {
        (Some(StartOutcome::AlreadyRunning), Some(d)) => {
            format!("already running: {d}\nurl: {url}")
        }
        (Some(StartOutcome::Created), Some(d)) => format!("created and started: {d}\nurl: {url}"),
        (Some(StartOutcome::Recovered), Some(d)) => {
            format!("started after clearing a stale postmaster.pid: {d}\nurl: {url}")
        }
        (Some(StartOutcome::Started), Some(d)) => format!("started: {d}\nurl: {url}"),
        _ => format!("external server reachable: {url}"),
    };
    Ok(Report::ok(
        StartJson {
            outcome,
            url,
            data_dir,
            migrations_applied: report.applied,
        },
        human,
    ))
}

fn stop(ctx: &Context) -> Result<Report, Error> {
    let DbTarget::Embedded { home, .. } = &ctx.target else {
        return Err(Error::Usage(
            "`db stop` manages the embedded cluster only; stop an external server with its own tools".into(),
        ));
    };
    let cluster = DbTarget::cluster(home)?;
    let stopped = cluster.stop()?;
    let human = if stopped { "stopped" } else { "not running" };
    Ok(Report::ok(
        serde_json::json!({"stopped": stopped, "data_dir": cluster.data_dir()}),
        human,
    ))
}

/// SPEC section 3: `{"running", "url", "data_dir", "server_version", "system_identifier"}`.
#[derive(Serialize)]
struct StatusJson {
    running: bool,
    embedded: bool,
    url: String,
    data_dir: Option<String>,
    server_version: Option<String>,
    /// A string: the 64-bit value does not survive JSON parsers that use doubles.
    system_identifier: Option<String>,
    pid: Option<u32>,
}

fn status(ctx: &Context) -> Result<Report, Error> {
    let s = match &ctx.target {
        DbTarget::Embedded { home, port, .. } => {
            let cluster = DbTarget::cluster(home)?;
            let st = cluster.status(*port);
            let url = cluster.url(st.port, EMBEDDED_DATABASE);
            let mut server_version = Some(cluster.binaries().version().to_string());
            let mut system_identifier = cluster_system_identifier(&cluster);
            if st.running {
                if let Ok(mut c) = db::connect_url(&url.replacen(
                    &format!("/{EMBEDDED_DATABASE}?"),
                    "/postgres?",
                    1,
                )) {
                    if let Ok((v, id)) = server_facts(&mut c) {
                        server_version = Some(v);
                        system_identifier = Some(id);
                    }
                }
            }
            StatusJson {
                running: st.running,
                embedded: true,
                url,
                data_dir: cluster
                    .is_initialized()
                    .then(|| cluster.data_dir().display().to_string()),
                server_version,
                system_identifier,
                pid: st.pid,
            }
        }
        DbTarget::External { url } => match db::connect_url(url) {
            Ok(mut c) => {
                let (v, id) = server_facts(&mut c)?;
                let data_dir = c
                    .query_one("SELECT current_setting('data_directory')", &[])
                    .ok()
                    .map(|r| r.get::<_, String>(0));
                StatusJson {
                    running: true,
                    embedded: false,
                    url: url.clone(),
                    data_dir,
                    server_version: Some(v),
                    system_identifier: Some(id),
                    pid: None,
                }
            }
            Err(e) => {
                tracing::warn!("{e}");
                StatusJson {
                    running: false,
                    embedded: false,
                    url: url.clone(),
                    data_dir: None,
                    server_version: None,
                    system_identifier: None,
                    pid: None,
                }
            }
        },
    };
    let human = format!(
        "database:          {}{}\nurl:               {}\ndata directory:    {}\nserver version:    {}\nsystem identifier: {}",
        if s.running { "running" } else { "stopped" },
        if s.embedded { " (embedded)" } else { " (external)" },
        s.url,
        s.data_dir.as_deref().unwrap_or("-"),
        s.server_version.as_deref().unwrap_or("-"),
        s.system_identifier.as_deref().unwrap_or("-"),
    );
    Ok(Report::ok(s, human))
}

fn server_facts(c: &mut postgres::Client) -> Result<(String, String), Error> {
    let row = c
        .query_one(
            "SELECT current_setting('server_version'), (SELECT system_identifier::text FROM pg_control_system())",
            &[],
        )
        .map_err(|e| db::DbError::query("reading the server version", e))?;
    Ok((row.get(0), row.get(1)))
}

/// The system identifier from `pg_controldata` (works while the server is stopped).
fn cluster_system_identifier(cluster: &crate::pg::Cluster) -> Option<String> {
    if !cluster.is_initialized() {
        return None;
    }
    let out = cluster
        .run_tool(
            "pg_controldata",
            cluster.data_dir(),
            &[cluster.data_dir().as_os_str()],
        )
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        l.strip_prefix("Database system identifier:")
            .map(|v| v.trim().to_string())
    })
}

fn migrate(ctx: &Context) -> Result<Report, Error> {
    let mut client = db::connect_url_or_create(&ctx.target)?;
    let report = db::migrate::migrate(&mut client)?;
    let human = if report.applied.is_empty() {
        format!("schema is current (version {})", report.current_version)
    } else {
        format!(
            "applied: {}\nschema version {}",
            report.applied.join(", "),
            report.current_version
        )
    };
    Ok(Report::ok(report, human))
}

fn lint(ctx: &Context) -> Result<Report, Error> {
    let mut client = ctx.connect()?;
    let report = db::lint::lint(&mut client, ctx.tenant.id)?;
    let mut human = String::new();
    if report.ok {
        let explained = report.plans.iter().filter(|p| p.checked).count();
        human.push_str(&format!(
            "ok: {} tables and views follow the data-model rules; {} hot queries have their \
             indexes, {explained} of them checked by plan (the others' tables hold under 1,000 \
             rows by statistics)",
            report.tables_checked,
            report.plans.len()
        ));
    } else {
        human.push_str(&format!("{} violation(s):\n", report.violations.len()));
        for v in &report.violations {
            human.push_str(&format!("  [{}] {}: {}\n", v.rule, v.object, v.message));
        }
    }
    let code = if report.ok { 0 } else { EXIT_FAILURE };
    Ok(Report::ok(&report, human).with_code(code))
}
