//! `backup [list | verify | prune]`, `wal push | fetch`, `restore`.

use super::args::{BackupArgs, BackupCommand, RestoreArgs, WalCommand};
use super::output::{Mode, Report};
use super::Context;
use crate::backup::restore::{parse_time, RecoveryTarget, RestoreOptions, TargetAction};
use crate::backup::{basebackup, install, lock::RepoLock, prune, wal, BackupError, Repo};
use crate::db::DbTarget;
use crate::error::Error;
use crate::pg::{PgBinaries, ServerUser};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Instant;

fn repo(ctx: &Context) -> Repo {
    Repo::new(ctx.home.repo())
}

pub fn backup(ctx: &Context, args: BackupArgs) -> Result<Report, Error> {
    match args.command {
        None => take(ctx),
        Some(BackupCommand::List) => list(ctx),
        Some(BackupCommand::Verify { label }) => verify(ctx, label.as_deref()),
        Some(BackupCommand::Prune { keep, yes, dry_run }) => prune_cmd(ctx, keep, yes, dry_run),
    }
}

/// A URL pg_basebackup and the SQL checks can use (the `postgres` database when embedded, which
/// exists from initdb on).
fn source_url(ctx: &Context) -> Result<String, Error> {
    match &ctx.target {
        DbTarget::External { url } => Ok(url.clone()),
        DbTarget::Embedded { port, .. } => {
            let (cluster, _) = ctx
                .target
                .ensure_running()?
                .ok_or_else(|| Error::Usage("no embedded cluster".into()))?;
            Ok(cluster.url(cluster.status(*port).port, "postgres"))
        }
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

fn take(ctx: &Context) -> Result<Report, Error> {
    let t = Instant::now();
    let url = source_url(ctx)?;
    let bins = PgBinaries::locate()?;
    let user = ServerUser::resolve()?;
    let meta = basebackup::take(&repo(ctx), &bins, &user, &url)?;
    let secs = t.elapsed().as_secs_f64();
    let human = format!(
        "backup {}: {} -> {} stored, WAL {} .. {} (timeline {}), verified, {:.1} s",
        meta.label,
        mib(meta.data_bytes),
        mib(meta.stored_bytes),
        meta.start_lsn,
        meta.stop_lsn,
        meta.timeline,
        secs
    );
    let mut json = super::output::to_value(&meta);
    json["seconds"] = serde_json::json!(secs);
    Ok(Report::ok(json, human))
}

fn list(ctx: &Context) -> Result<Report, Error> {
    let all = basebackup::list(&repo(ctx))?;
    let mut human = String::new();
    if all.is_empty() {
        human.push_str("no backups");
    } else {
        human.push_str(&format!(
            "{:<20} {:>4} {:>14} {:>14} {:>11} {:>11}  {}\n",
            "label", "tli", "start lsn", "stop lsn", "data", "stored", "finished"
        ));
        for (m, _) in &all {
            human.push_str(&format!(
                "{:<20} {:>4} {:>14} {:>14} {:>11} {:>11}  {}\n",
                m.label,
                m.timeline,
                m.start_lsn.to_string(),
                m.stop_lsn.to_string(),
                mib(m.data_bytes),
                mib(m.stored_bytes),
                m.stop_time
            ));
        }
    }
    let backups: Vec<_> = all.iter().map(|(m, _)| m).collect();
    Ok(Report::ok(
        serde_json::json!({"repo": ctx.home.repo(), "backups": backups}),
        human,
    ))
}

fn verify(ctx: &Context, label: Option<&str>) -> Result<Report, Error> {
    let t = Instant::now();
    let bins = PgBinaries::locate()?;
    let user = ServerUser::resolve()?;
    let meta = basebackup::verify(&repo(ctx), &bins, &user, label)?;
    let secs = t.elapsed().as_secs_f64();
    Ok(Report::ok(
        serde_json::json!({"label": meta.label, "ok": true, "seconds": secs}),
        format!(
            "backup {} is intact: archive sha256 matches and pg_verifybackup passed ({:.1} s)",
            meta.label, secs
        ),
    ))
}

fn prune_cmd(ctx: &Context, keep: usize, yes: bool, dry_run: bool) -> Result<Report, Error> {
    let repo = repo(ctx);
    let lock = RepoLock::acquire(&repo.lock_path(), "backup prune")?;
    let scans = scans_of_this_cluster(ctx, &repo)?;
    let plan = prune::plan(&repo, keep, &scans)?;
    let mut text = String::new();
    for b in &plan.remove_backups {
        text.push_str(&format!("  backup {b}\n"));
    }
    if !plan.remove_wal.is_empty() {
        text.push_str(&format!(
            "  {} WAL file(s): {} .. {}\n",
            plan.remove_wal.len(),
            plan.remove_wal.first().map(String::as_str).unwrap_or(""),
            plan.remove_wal.last().map(String::as_str).unwrap_or("")
        ));
    }
    let mut scans_text = String::new();
    for s in &plan.unreplayable_scans {
        scans_text.push_str(&format!(
            "  scan {} (tenant {}, lsn {}, {})\n",
            s.scan_id, s.tenant_id, s.lsn, s.status
        ));
    }
    let json = |removed: bool| {
        let mut j = super::output::to_value(&plan);
        j["removed"] = serde_json::json!(removed);
        j["dry_run"] = serde_json::json!(dry_run);
        j
    };
    if plan.is_empty() {
        return Ok(Report::ok(
            json(false),
            format!("nothing to remove; keeping {} backup(s)", plan.keep.len()),
        ));
    }
    let summary = format!(
        "prune keeps {} backup(s) ({}) and removes ({}):\n{text}{}",
        plan.keep.len(),
        plan.keep.join(", "),
        mib(plan.remove_bytes),
        if scans_text.is_empty() {
            String::new()
        } else {
            format!("these scan manifests would become unreplayable:\n{scans_text}")
        }
    );
    if dry_run {
        return Ok(Report::ok(json(false), format!("dry run: {summary}")));
    }
    if ctx.mode != Mode::Quiet || !plan.unreplayable_scans.is_empty() {
        eprint!("{summary}");
    }
    if !yes {
        let interactive = std::io::stdin().is_terminal() && ctx.mode != Mode::Json;
        if interactive {
            eprint!("remove them? [y/N] ");
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            let _ = std::io::stdin().lock().read_line(&mut answer);
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                return Err(BackupError::Refused("nothing removed (not confirmed)".into()).into());
            }
        } else if !plan.unreplayable_scans.is_empty() {
            return Err(BackupError::Refused(format!(
                "{} scan manifest(s) would become unreplayable ({}); nothing removed. Keep more \
                 backups, or pass --yes to remove anyway",
                plan.unreplayable_scans.len(),
                plan.unreplayable_scans
                    .iter()
                    .map(|s| s.scan_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        }
    }
    prune::execute(&repo, &plan)?;
    drop(lock);
    Ok(Report::ok(
        json(true),
        format!(
            "removed {} backup(s) and {} WAL file(s) ({})",
            plan.remove_backups.len(),
            plan.remove_wal.len(),
            mib(plan.remove_bytes)
        ),
    ))
}

/// Scans recorded by the database whose cluster this repository backs up.
fn scans_of_this_cluster(ctx: &Context, repo: &Repo) -> Result<Vec<prune::ScanRef>, Error> {
    let Some(id) = repo.identity()? else {
        return Ok(Vec::new());
    };
    let mut client = ctx.target.connect()?;
    let sysid: String = client
        .query_one(
            "SELECT system_identifier::text FROM pg_control_system()",
            &[],
        )
        .map_err(|e| crate::db::DbError::query("reading the system identifier", e))?
        .get(0);
    if sysid != id.system_identifier {
        tracing::warn!(
            "the database (system {sysid}) is not the cluster this repository backs up ({}): its scans are not checked",
            id.system_identifier
        );
        return Ok(Vec::new());
    }
    Ok(prune::scans(&mut client)?)
}

pub fn wal(ctx: &Context, cmd: WalCommand) -> Result<Report, Error> {
    let repo = repo(ctx);
    match cmd {
        WalCommand::Push { path, name } => {
            let o = wal::push(&repo, &path, &name)?;
            let human = if o.already_archived {
                format!("{} was archived already (same content)", o.name)
            } else {
                format!(
                    "archived {} ({} -> {} bytes)",
                    o.name, o.bytes, o.stored_bytes
                )
            };
            Ok(Report::ok(&o, human))
        }
        WalCommand::Fetch { name, path } => {
            let o = wal::fetch(&repo, &name, &path)?;
            let human = format!("restored {} to {}", o.name, path.display());
            Ok(Report::ok(&o, human))
        }
    }
}

pub fn restore(ctx: &Context, a: RestoreArgs) -> Result<Report, Error> {
    let target = if let Some(t) = &a.target_time {
        RecoveryTarget::Time(parse_time(t).map_err(Error::Usage)?)
    } else if let Some(l) = &a.target_lsn {
        RecoveryTarget::Lsn(l.parse().map_err(Error::Usage)?)
    } else if let Some(n) = &a.target_name {
        RecoveryTarget::Name(n.clone())
    } else {
        return Err(Error::Usage(
            "give one of --target-time, --target-lsn, --target-name".into(),
        ));
    };
    install::install_self(&ctx.home)?;
    let mut opts = RestoreOptions::new(target.clone());
    opts.data_dir = Some(a.to.clone());
    opts.timeline = a.timeline;
    opts.system_identifier = a.system_identifier;
    opts.action = if a.promote {
        TargetAction::Promote
    } else {
        TargetAction::Pause
    };
    opts.keep = true;
    let server = crate::backup::restore(&ctx.home, &opts)?;
    let json = serde_json::json!({
        "backup": server.backup().label,
        "data_dir": server.data_dir(),
        "url": server.url("postgres"),
        "log": server.log_file(),
        "target": target.to_string(),
        "recovered_to_lsn": server.recovered_to_lsn().to_string(),
        "timeline": server.timeline(),
        "promoted": server.promoted(),
        "seconds": server.seconds(),
        "running": !a.stop,
    });
    let human = format!(
        "restored backup {} to {} in {}: {} at {} (timeline {}), {:.1} s\n{}",
        server.backup().label,
        target,
        server.data_dir().display(),
        if server.promoted() {
            "promoted"
        } else {
            "paused"
        },
        server.recovered_to_lsn(),
        server.timeline(),
        server.seconds(),
        if a.stop {
            "stopped; the data directory stays".to_string()
        } else {
            format!(
                "running on its private socket: psql '{}'\nstop it with: pg_ctl stop -D {} (as the server user `{}`)",
                server.url("postgres"),
                server.data_dir().display(),
                ServerUser::resolve().map(|u| u.name().to_string()).unwrap_or_default()
            )
        }
    );
    if a.stop {
        server.stop()?;
    }
    Ok(Report::ok(json, human))
}
