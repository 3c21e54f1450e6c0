//! Point-in-time restore into a private, paused server — the library under `restore` and
//! `replay`.
//!
//! [`restore`] picks the newest backup of the system identifier that ends before the target,
//! checks that the archive holds every WAL segment from the backup's start to the target (naming
//! the first missing one), unpacks the backup into a new data directory, writes
//! `recovery.signal` and the recovery settings (`restore_command` = `wal fetch`,
//! `recovery_target_*`, `recovery_target_action`, `recovery_target_timeline` pinned to the
//! backup's timeline, `archive_mode=off` so the copy never writes into the archive, `hot_standby`),
//! starts the server on a unix socket in a private folder (no TCP), waits until replay is paused
//! at the target (`pg_ctl -w` returns as soon as the copy is consistent, which is earlier), and
//! checks the server's log says it stopped at the target. Anything else is an error with a named
//! reason: the server ending recovery before the target, stopping, or making no progress.
//!
//! The returned [`RestoredServer`] is the running copy; dropping it stops the server and removes
//! its folders unless [`RestoredServer::keep`] was asked for.
//!
//! Use from `replay`:
//! ```no_run
//! # fn demo(home: &stella_bundle::home::Home) -> Result<(), stella_bundle::backup::BackupError> {
//! use stella_bundle::backup::restore::{restore_to_lsn};
//! let sysid: u64 = 7_312_345_678_901_234_567; // manifest.database.system_identifier
//! let lsn = "0/3000148".parse().unwrap();       // manifest.database.lsn
//! let server = restore_to_lsn(home, sysid, lsn, Some(1))?; // manifest.database.timeline
//! let mut client = postgres::Client::connect(&server.url("stella"), postgres::NoTls).unwrap();
//! // ... re-run the scan read-only, compare digests ...
//! drop(server); // stops the copy and removes it (unless server.keep(true) was called)
//! # Ok(()) }
//! ```

use super::basebackup::{self, BackupMeta};
use super::repo::{parse_segment, segment_name, Lsn, Repo};
use super::BackupError;
use crate::home::Home;
use crate::pg::{PgBinaries, ServerUser};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where recovery stops.
#[derive(Debug, Clone)]
pub enum RecoveryTarget {
    /// `recovery_target_lsn` (inclusive: the record at this location is replayed).
    Lsn(Lsn),
    /// `recovery_target_time`.
    Time(chrono::DateTime<chrono::Utc>),
    /// `recovery_target_name` (a `pg_create_restore_point`).
    Name(String),
}

impl std::fmt::Display for RecoveryTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecoveryTarget::Lsn(l) => write!(f, "LSN {l}"),
            RecoveryTarget::Time(t) => write!(f, "time {}", t.to_rfc3339()),
            RecoveryTarget::Name(n) => write!(f, "restore point {n:?}"),
        }
    }
}

/// Parse a `--target-time` value: RFC 3339, or `YYYY-MM-DD HH:MM:SS[.f][+TZ]` (UTC if no zone).
pub fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    Err(format!(
        "`{s}` is not a time (use RFC 3339, e.g. 2026-11-24T02:30:00Z)"
    ))
}

/// What the server does once it reaches the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetAction {
    /// Stay in recovery, read-only, paused at the target (replay, audits).
    Pause,
    /// End recovery and open read-write on a new timeline.
    Promote,
}

/// Everything [`restore`] needs besides the home.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub target: RecoveryTarget,
    /// Restore only backups of this cluster; `None`: the repository's own identifier.
    pub system_identifier: Option<u64>,
    /// Timeline to recover along (and of the backups considered); `None`: the chosen backup's.
    pub timeline: Option<u32>,
    pub action: TargetAction,
    /// The new data directory (absent or empty); `None`: a temporary one under `HOME/restore/`.
    pub data_dir: Option<PathBuf>,
    /// Leave the server running and its folders in place when the handle is dropped.
    pub keep: bool,
    /// Give up when replay makes no progress for this long.
    pub stall_timeout: Duration,
}

impl RestoreOptions {
    pub fn new(target: RecoveryTarget) -> Self {
        RestoreOptions {
            target,
            system_identifier: None,
            timeline: None,
            action: TargetAction::Pause,
            data_dir: None,
            keep: false,
            stall_timeout: Duration::from_secs(120),
        }
    }
}

/// A restored server, running on a private socket, paused at (or promoted after) its target.
#[derive(Debug)]
pub struct RestoredServer {
    data_dir: PathBuf,
    runtime_dir: PathBuf,
    port: u16,
    bins: PgBinaries,
    user: ServerUser,
    backup: BackupMeta,
    recovered_to: Lsn,
    timeline: u32,
    promoted: bool,
    keep: bool,
    seconds: f64,
    unpack_seconds: f64,
    recovery_seconds: f64,
}

impl RestoredServer {
    /// A libpq URL for `dbname` on the private socket, as the cluster's bootstrap superuser.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgresql:///{dbname}?host={}&port={}&user={}",
            crate::pg::percent_encode(&self.runtime_dir.to_string_lossy()),
            self.port,
            crate::pg::percent_encode(&self.backup.superuser)
        )
    }
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    pub fn socket_dir(&self) -> &Path {
        &self.runtime_dir
    }
    pub fn log_file(&self) -> PathBuf {
        self.runtime_dir.join("postgresql.log")
    }
    /// The backup it was restored from.
    pub fn backup(&self) -> &BackupMeta {
        &self.backup
    }
    /// `pg_last_wal_replay_lsn()` once paused (end of the last replayed record).
    pub fn recovered_to_lsn(&self) -> Lsn {
        self.recovered_to
    }
    /// The timeline it recovered along (the new one when promoted).
    pub fn timeline(&self) -> u32 {
        self.timeline
    }
    pub fn promoted(&self) -> bool {
        self.promoted
    }
    /// Seconds from the call to [`restore`] until the target was reached.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }
    /// Of [`seconds`](Self::seconds): unpacking the base backup into the new data directory
    /// (decompression, its sha256, the files' owner).
    pub fn unpack_seconds(&self) -> f64 {
        self.unpack_seconds
    }
    /// Of [`seconds`](Self::seconds): from `pg_ctl start` until paused at (or promoted after)
    /// the target: WAL fetched from the archive and replayed.
    pub fn recovery_seconds(&self) -> f64 {
        self.recovery_seconds
    }
    /// Keep (or not) the server running and its folders when dropped.
    pub fn keep(&mut self, keep: bool) {
        self.keep = keep;
        if keep {
            // A kept copy is the user's now: never swept as an orphan.
            let _ = std::fs::remove_file(self.runtime_dir.join(OWNER_FILE));
        }
    }
    /// Stop the server now (its folders stay when kept).
    pub fn stop(mut self) -> Result<(), BackupError> {
        let r = stop_server(&self.bins, &self.user, &self.data_dir, "fast");
        if !self.keep {
            remove(&self.data_dir, &self.runtime_dir);
        }
        self.keep = true; // nothing left for Drop
        r
    }
}

impl Drop for RestoredServer {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = stop_server(&self.bins, &self.user, &self.data_dir, "immediate");
        remove(&self.data_dir, &self.runtime_dir);
    }
}

/// In a restore's runtime folder while its owner runs: `PID\nDATA_DIR\n`.
const OWNER_FILE: &str = "owner";

/// Stop and remove restores whose owner died without cleaning up (a `kill -9` of `replay`):
/// runtime folders `/tmp/stella-restore-*` whose owner file names a dead process.
fn sweep_orphans(bins: &PgBinaries, user: &ServerUser) {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return;
    };
    for e in entries.flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .starts_with("stella-restore-")
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path().join(OWNER_FILE)) else {
            continue;
        };
        let mut lines = text.lines();
        let (Some(pid), Some(data)) = (
            lines.next().and_then(|p| p.trim().parse::<i32>().ok()),
            lines.next().map(PathBuf::from),
        ) else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if alive {
            continue;
        }
        tracing::warn!(
            "removing the restore of a process that is gone (pid {pid}): {}",
            data.display()
        );
        let _ = stop_server(bins, user, &data, "immediate");
        remove(&data, &e.path());
    }
}

fn remove(data: &Path, runtime: &Path) {
    let _ = std::fs::remove_dir_all(data);
    let _ = std::fs::remove_dir_all(runtime);
}

fn stop_server(
    bins: &PgBinaries,
    user: &ServerUser,
    data: &Path,
    mode: &str,
) -> Result<(), BackupError> {
    if !data.join("postmaster.pid").exists() {
        return Ok(());
    }
    let out = user
        .command(bins.tool("pg_ctl"), data)
        .args(["stop", "-w", "-t", "60", "-s", "-m", mode, "-D"])
        .arg(data)
        .output()
        .map_err(|e| BackupError::io("run pg_ctl stop for", data, e))?;
    if !out.status.success() {
        return Err(BackupError::ToolFailed {
            tool: "pg_ctl stop".into(),
            output: basebackup::output_text(&out),
        });
    }
    Ok(())
}

/// The common case of `replay`: restore the cluster `system_identifier` to `lsn` along
/// `timeline` (the manifest's `database` fields), paused, in a temporary folder that is removed
/// when the handle drops.
pub fn restore_to_lsn(
    home: &Home,
    system_identifier: u64,
    lsn: Lsn,
    timeline: Option<u32>,
) -> Result<RestoredServer, BackupError> {
    let mut o = RestoreOptions::new(RecoveryTarget::Lsn(lsn));
    o.system_identifier = Some(system_identifier);
    o.timeline = timeline;
    restore(home, &o)
}

/// Restore as `opts` says; see the module documentation. The `restore_command` runs
/// `HOME/bin/stella-bundle` (installed by `db start`, `restore` and `replay`; see
/// [`super::install`]).
pub fn restore(home: &Home, opts: &RestoreOptions) -> Result<RestoredServer, BackupError> {
    let started = Instant::now();
    let repo = Repo::new(home.repo());
    let bins = PgBinaries::locate()?;
    let user = ServerUser::resolve()?;
    sweep_orphans(&bins, &user);
    let binary = super::install::installed_binary(home);
    if !binary.is_file() {
        return Err(BackupError::Usage(format!(
            "{} is missing: the restore_command runs it; run `stella-bundle restore` (which installs it) or `db start` once",
            binary.display()
        )));
    }
    let sysid = match opts.system_identifier {
        Some(s) => s,
        None => repo.identity()?.map(|i| i.sysid()).ok_or_else(|| {
            BackupError::NoBackup(format!(
                "the repository {} is empty: nothing was backed up or archived there",
                repo.root().display()
            ))
        })?,
    };
    let index = super::wal::index(&repo)?;
    // Along a later timeline, backups of its ancestors taken before they forked qualify too.
    let history = match opts.timeline {
        Some(t) if t > 1 => Some(read_history(&repo, &index, t)?),
        _ => None,
    };
    let all: Vec<(BackupMeta, PathBuf)> = basebackup::list(&repo)?
        .into_iter()
        .filter(|(m, _)| m.sysid() == sysid)
        .filter(|(m, _)| match (opts.timeline, &history) {
            (None, _) => true,
            (Some(t), _) if m.timeline == t => true,
            (Some(_), Some(h)) => h
                .iter()
                .any(|(tli, end)| *tli == m.timeline && m.stop_lsn <= *end),
            (Some(_), None) => false,
        })
        .collect();
    let candidates: Vec<(BackupMeta, PathBuf)> = match &opts.target {
        RecoveryTarget::Lsn(l) => all
            .into_iter()
            .filter(|(m, _)| m.stop_lsn <= *l)
            .take(1)
            .collect(),
        RecoveryTarget::Time(t) => all
            .into_iter()
            .filter(|(m, _)| m.stop_time_utc().is_some_and(|s| s < *t))
            .take(1)
            .collect(),
        RecoveryTarget::Name(_) => all,
    };
    if candidates.is_empty() {
        return Err(BackupError::NoBackup(format!(
            "no backup of system {sysid}{} ends before the target {}; backups in {}: see `stella-bundle backup list`",
            opts.timeline.map(|t| format!(" on timeline {t}")).unwrap_or_default(),
            opts.target,
            repo.backups_dir().display()
        )));
    }
    let mut last_err = None;
    let n = candidates.len();
    for (i, (meta, folder)) in candidates.into_iter().enumerate() {
        check_chain(&repo, &index, &meta, opts, history.as_deref())?;
        match restore_one(home, &repo, &bins, &user, &meta, &folder, opts, started) {
            Ok(s) => return Ok(s),
            // A restore point is found by replaying: an older backup may still hold it.
            Err(Attempt::TooEarly(e)) if i + 1 < n => {
                tracing::info!(
                    "backup {} cannot reach the target ({e}); trying an older one",
                    meta.label
                );
                last_err = Some(e);
            }
            Err(Attempt::TooEarly(e)) | Err(Attempt::Failed(e)) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| BackupError::NoBackup("no backup reaches the target".into())))
}

/// A timeline's history file from the archive: `(ancestor timeline, where it ends)`, oldest
/// first.
pub(crate) fn read_history(
    repo: &Repo,
    index: &std::collections::BTreeMap<String, super::wal::ArchivedFile>,
    tli: u32,
) -> Result<Vec<(u32, Lsn)>, BackupError> {
    let name = format!("{tli:08X}.history");
    let f = index.get(&name).ok_or_else(|| BackupError::WalMissing {
        name: name.clone(),
        dir: repo.wal_dir(),
    })?;
    let text = String::from_utf8_lossy(&super::wal::read_archived(f)?).to_string();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let parsed = (|| {
            let t: u32 = parts.next()?.parse().ok()?;
            let l: Lsn = parts.next()?.parse().ok()?;
            Some((t, l))
        })();
        match parsed {
            Some(p) => out.push(p),
            None => {
                return Err(BackupError::malformed(
                    "timeline history",
                    &f.path,
                    format!("line `{line}`"),
                ))
            }
        }
    }
    Ok(out)
}

/// Every segment from the backup's start to the target must be in the archive (or in the
/// backup itself), on the timeline recovery reads it from (the newest one in the target
/// timeline's history that has begun by then, as PostgreSQL picks). For time and name targets
/// the end is the newest archived segment of the target timeline: a hole before it is reported
/// now, not after minutes of replay.
fn check_chain(
    repo: &Repo,
    index: &std::collections::BTreeMap<String, super::wal::ArchivedFile>,
    meta: &BackupMeta,
    opts: &RestoreOptions,
    history: Option<&[(u32, Lsn)]>,
) -> Result<(), BackupError> {
    let seg = meta.wal_segment_size;
    let target_tli = opts.timeline.unwrap_or(meta.timeline);
    // (timeline, first segment it is read from), ascending.
    let mut begins: Vec<(u32, u64)> = Vec::new();
    match history {
        Some(h) if target_tli != meta.timeline => {
            let mut begin = 0;
            for (tli, end) in h {
                begins.push((*tli, begin));
                begin = end.segno(seg);
            }
            begins.push((target_tli, begin));
        }
        _ => begins.push((target_tli, 0)),
    }
    let tli_for = |segno: u64| {
        begins
            .iter()
            .rev()
            .find(|(_, b)| *b <= segno)
            .map_or(target_tli, |(t, _)| *t)
    };
    let from = meta.start_lsn.segno(seg);
    let to = match &opts.target {
        RecoveryTarget::Lsn(l) => l.segno(seg),
        _ => index
            .keys()
            .filter(|n| n.len() == 24)
            .filter_map(|n| parse_segment(n, seg))
            .filter(|(t, _)| *t == target_tli)
            .map(|(_, s)| s)
            .max()
            .unwrap_or(from)
            .max(meta.stop_lsn.segno(seg)),
    };
    for segno in from..=to {
        let name = segment_name(tli_for(segno), segno, seg);
        let in_backup = meta
            .wal_included
            .contains(&segment_name(meta.timeline, segno, seg));
        if !index.contains_key(&name) && !in_backup {
            return Err(BackupError::WalMissing {
                name,
                dir: repo.wal_dir(),
            });
        }
    }
    Ok(())
}

enum Attempt {
    /// The target lies before this backup's end or the WAL ends before it.
    TooEarly(BackupError),
    Failed(BackupError),
}

impl From<crate::pg::PgError> for Attempt {
    fn from(e: crate::pg::PgError) -> Self {
        Attempt::Failed(e.into())
    }
}

impl From<BackupError> for Attempt {
    fn from(e: BackupError) -> Self {
        Attempt::Failed(e)
    }
}

#[allow(clippy::too_many_arguments)]
fn restore_one(
    home: &Home,
    repo: &Repo,
    bins: &PgBinaries,
    user: &ServerUser,
    meta: &BackupMeta,
    folder: &Path,
    opts: &RestoreOptions,
    started: Instant,
) -> Result<RestoredServer, Attempt> {
    let _ = repo;
    let data_dir = prepare_data_dir(home, user, opts.data_dir.as_deref())?;
    let runtime_dir = tempfile::Builder::new()
        .prefix("stella-restore-")
        .tempdir_in("/tmp")
        .map_err(|e| BackupError::io("create a folder in", "/tmp", e))?
        .keep();
    user.own_dir(&runtime_dir, 0o700)?;
    std::fs::write(
        runtime_dir.join(OWNER_FILE),
        format!("{}\n{}\n", std::process::id(), data_dir.display()),
    )
    .map_err(|e| BackupError::io("write", runtime_dir.join(OWNER_FILE), e))?;
    let tli = opts.timeline.unwrap_or(meta.timeline);
    let mut server = RestoredServer {
        data_dir: data_dir.clone(),
        runtime_dir: runtime_dir.clone(),
        port: 5432,
        bins: bins.clone(),
        user: user.clone(),
        backup: meta.clone(),
        recovered_to: meta.stop_lsn,
        timeline: tli,
        promoted: false,
        keep: false,
        seconds: 0.0,
        unpack_seconds: 0.0,
        recovery_seconds: 0.0,
    };
    let unpack = Instant::now();
    basebackup::extract(meta, folder, &data_dir, user)?;
    server.unpack_seconds = unpack.elapsed().as_secs_f64();
    configure(home, &server, opts, tli)?;
    let recovery = Instant::now();
    let log = server.log_file();
    let out = user
        .command(bins.tool("pg_ctl"), &data_dir)
        .args(["start", "-w", "-t", "3600", "-s", "-D"])
        .arg(&data_dir)
        .arg("-l")
        .arg(&log)
        .output()
        .map_err(|e| BackupError::io("run pg_ctl start for", &data_dir, e))?;
    if !out.status.success() {
        return Err(diagnose(&log, "the server did not start"));
    }
    wait_for_target(&mut server, opts)?;
    server.recovery_seconds = recovery.elapsed().as_secs_f64();
    server.seconds = started.elapsed().as_secs_f64();
    server.keep(opts.keep);
    Ok(server)
}

fn prepare_data_dir(
    home: &Home,
    user: &ServerUser,
    dir: Option<&Path>,
) -> Result<PathBuf, BackupError> {
    let dir = match dir {
        Some(d) => {
            let d = if d.is_absolute() {
                d.to_path_buf()
            } else {
                std::env::current_dir()
                    .map_err(|e| BackupError::io("read", "the current folder", e))?
                    .join(d)
            };
            if d.exists() {
                let empty = std::fs::read_dir(&d)
                    .map_err(|e| BackupError::io("read", &d, e))?
                    .next()
                    .is_none();
                if !empty {
                    return Err(BackupError::TargetNotEmpty { path: d });
                }
            }
            d
        }
        None => {
            let parent = home.root().join("restore");
            std::fs::create_dir_all(&parent).map_err(|e| BackupError::io("create", &parent, e))?;
            user.allow_traverse(home.root())?;
            user.allow_traverse(&parent)?;
            tempfile::Builder::new()
                .prefix("pitr-")
                .tempdir_in(&parent)
                .map_err(|e| BackupError::io("create a folder in", &parent, e))?
                .keep()
        }
    };
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| BackupError::io("create", parent, e))?;
        user.check_reachable(parent)?;
    }
    user.own_dir(&dir, 0o700)?;
    Ok(dir)
}

fn q(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

fn configure(
    home: &Home,
    s: &RestoredServer,
    opts: &RestoreOptions,
    tli: u32,
) -> Result<(), BackupError> {
    let d = &s.data_dir;
    let write = |name: &str, text: &str| -> Result<(), BackupError> {
        let p = d.join(name);
        std::fs::write(&p, text).map_err(|e| BackupError::io("write", &p, e))?;
        s.user.own_file(&p)?;
        Ok(())
    };
    if !d.join("postgresql.conf").exists() {
        write("postgresql.conf", "# created by stella-bundle restore\n")?;
    }
    if !d.join("pg_ident.conf").exists() {
        write("pg_ident.conf", "")?;
    }
    // The copy is reachable only through its private socket folder (mode 0700).
    if d.join("pg_hba.conf").exists() {
        let _ = std::fs::rename(d.join("pg_hba.conf"), d.join("pg_hba.conf.orig"));
    }
    write(
        "pg_hba.conf",
        "# stella-bundle restore: private socket only (the original is pg_hba.conf.orig)\nlocal all all trust\n",
    )?;
    let _ = std::fs::remove_file(d.join("standby.signal"));
    write("recovery.signal", "")?;
    let target = match &opts.target {
        RecoveryTarget::Lsn(l) => format!("recovery_target_lsn = {}\n", q(&l.to_string())),
        RecoveryTarget::Time(t) => format!(
            "recovery_target_time = {}\n",
            q(&t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string())
        ),
        RecoveryTarget::Name(n) => format!("recovery_target_name = {}\n", q(n)),
    };
    let action = match opts.action {
        TargetAction::Pause => "pause",
        TargetAction::Promote => "promote",
    };
    let settings = format!(
        "\n# stella-bundle restore of backup {label}: point-in-time recovery settings.\n\
         # Remove these lines (and start with your own settings) to run this copy for real.\n\
         port = {port}\n\
         unix_socket_directories = {sock}\n\
         listen_addresses = ''\n\
         archive_mode = off\n\
         restore_command = {restore}\n\
         {target}\
         recovery_target_inclusive = on\n\
         recovery_target_action = '{action}'\n\
         recovery_target_timeline = '{tli}'\n\
         hot_standby = on\n\
         {fsync}\
         logging_collector = off\n\
         log_min_messages = info\n\
         primary_conninfo = ''\n",
        label = s.backup.label,
        port = s.port,
        sock = q(&s.runtime_dir.to_string_lossy()),
        restore = q(&super::install::restore_command(home)),
        // A copy paused for an audit is throwaway: skip the data-directory fsync at startup.
        fsync = if opts.action == TargetAction::Pause {
            "fsync = off\n"
        } else {
            ""
        },
    );
    let auto = d.join("postgresql.auto.conf");
    let mut text = std::fs::read_to_string(&auto).unwrap_or_default();
    text.push_str(&settings);
    std::fs::write(&auto, text).map_err(|e| BackupError::io("write", &auto, e))?;
    s.user.own_file(&auto)?;
    Ok(())
}

/// Poll until paused at the target (or promoted), and check the log says it stopped there.
fn wait_for_target(s: &mut RestoredServer, opts: &RestoreOptions) -> Result<(), Attempt> {
    let log = s.log_file();
    let url = s.url("postgres");
    let mut client: Option<postgres::Client> = None;
    let mut last_lsn = String::new();
    let mut last_progress = Instant::now();
    loop {
        if !postmaster_alive(&s.data_dir) {
            return Err(diagnose(&log, "the server stopped during recovery"));
        }
        if client.is_none() {
            client = crate::db::connect_url(&url).ok();
        }
        if let Some(c) = client.as_mut() {
            let row = c.query_one(
                "SELECT pg_is_in_recovery(),
                        CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() ELSE 'not paused' END,
                        coalesce(pg_last_wal_replay_lsn()::text, '')",
                &[],
            );
            match row {
                Ok(r) => {
                    let in_recovery: bool = r.get(0);
                    let state: String = r.get(1);
                    let lsn: String = r.get(2);
                    if lsn != last_lsn {
                        last_lsn = lsn.clone();
                        last_progress = Instant::now();
                    }
                    let done = match opts.action {
                        TargetAction::Pause => in_recovery && state == "paused",
                        TargetAction::Promote => !in_recovery,
                    };
                    if done {
                        if let Ok(l) = lsn.parse() {
                            s.recovered_to = l;
                        }
                        break;
                    }
                    if !in_recovery && opts.action == TargetAction::Pause {
                        return Err(diagnose(
                            &log,
                            "the server left recovery instead of pausing",
                        ));
                    }
                }
                Err(_) => client = None,
            }
        }
        if last_progress.elapsed() > opts.stall_timeout {
            return Err(Attempt::Failed(BackupError::RecoveryFailed {
                reason: format!(
                    "replay made no progress for {} s (at {last_lsn})",
                    opts.stall_timeout.as_secs()
                ),
                log: keep_log(&log),
                tail: tail(&log),
            }));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if !text.contains("recovery stopping") {
        return Err(Attempt::Failed(BackupError::RecoveryFailed {
            reason: "the server paused but its log does not say it stopped at the target".into(),
            log: log.clone(),
            tail: tail(&log),
        }));
    }
    if let RecoveryTarget::Lsn(target) = &opts.target {
        if opts.action == TargetAction::Pause && s.recovered_to < *target {
            return Err(Attempt::Failed(BackupError::RecoveryFailed {
                reason: format!(
                    "replay paused at {}, before the target {target}",
                    s.recovered_to
                ),
                log: log.clone(),
                tail: tail(&log),
            }));
        }
    }
    if opts.action == TargetAction::Promote {
        s.promoted = true;
        if let Some(t) = text
            .lines()
            .rev()
            .find_map(|l| l.split("selected new timeline ID: ").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
        {
            s.timeline = t;
        }
    }
    Ok(())
}

fn postmaster_alive(data: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(data.join("postmaster.pid")) else {
        return false;
    };
    let Some(pid) = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
    else {
        return false;
    };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.split_whitespace().next())
        .unwrap_or("");
    state != "Z" && state != "X"
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// The failed copy is removed with its folders: keep its log next to them for the operator.
fn keep_log(log: &Path) -> PathBuf {
    let kept = std::env::temp_dir().join(format!(
        "stella-restore-failed-{}-{}.log",
        std::process::id(),
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    ));
    match std::fs::copy(log, &kept) {
        Ok(_) => kept,
        Err(_) => log.to_path_buf(),
    }
}

/// Name why recovery failed, from the server's log.
fn diagnose(log: &Path, fallback: &str) -> Attempt {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail_text = tail(log);
    let log = keep_log(log);
    let log = log.as_path();
    let missing = text
        .lines()
        .rev()
        .filter_map(|l| l.split("segment ").nth(1))
        .filter_map(|r| {
            r.strip_suffix(" is not in the archive")
                .or_else(|| r.split_once(" is not in the archive").map(|(n, _)| n))
        })
        .find(|n| n.len() == 24)
        .map(str::to_string);
    let err = |reason: String| BackupError::RecoveryFailed {
        reason,
        log: log.to_path_buf(),
        tail: tail_text.clone(),
    };
    if text.contains("recovery ended before configured recovery target was reached") {
        let reason = match missing {
            Some(m) => {
                format!("recovery ended before the target: segment {m} is not in the archive")
            }
            None => "recovery ended before the target: the archive ends before it".into(),
        };
        return Attempt::TooEarly(err(reason));
    }
    if text.contains("requested recovery stop point is before consistent recovery point") {
        return Attempt::TooEarly(err(
            "the target lies before the end of the backup (before a consistent state)".into(),
        ));
    }
    if let Some(m) = missing {
        return Attempt::Failed(err(format!(
            "{fallback}: segment {m} is not in the archive"
        )));
    }
    Attempt::Failed(err(fallback.into()))
}
