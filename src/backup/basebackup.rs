//! Base backups: take (pg_basebackup, plain format with its manifest, verified by
//! pg_verifybackup, then tar + zstd into the repository), list, verify again later.
//!
//! Atomicity: a backup is built in `backups/.tmp-<label>/` and renamed to `backups/<label>/` only
//! once verified, compressed, fsynced and described by `backup.json`; listing ignores dot
//! folders, and the next backup (holding the lock, so nobody else is writing) removes them.

use super::lock::RepoLock;
use super::repo::{create_dir, fsync_dir, segment_name, write_synced, Lsn, Repo, RepoIdentity};
use super::BackupError;
use crate::pg::{PgBinaries, ServerUser};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Name of the compressed backup inside its folder.
pub const ARCHIVE_FILE: &str = "base.tar.zst";
/// Name of the metadata file inside its folder.
pub const META_FILE: &str = "backup.json";
const BACKUP_ZSTD_LEVEL: i32 = 3;

/// `backup.json`: everything restore needs to choose and use a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupMeta {
    pub label: String,
    /// A string: the 64-bit value does not survive JSON parsers that use doubles.
    pub system_identifier: String,
    pub timeline: u32,
    pub start_lsn: Lsn,
    pub stop_lsn: Lsn,
    /// First and last WAL segment the backup needs (both are also inside the backup).
    pub start_wal: String,
    pub stop_wal: String,
    pub wal_segment_size: u64,
    /// Segments streamed into the backup's own pg_wal (-X stream).
    pub wal_included: Vec<String>,
    pub start_time: String,
    pub stop_time: String,
    pub pg_version: String,
    /// Bytes of the plain backup, and of `base.tar.zst`.
    pub data_bytes: u64,
    pub stored_bytes: u64,
    pub archive_sha256: String,
    pub verified_with: String,
    pub producer: String,
    /// The cluster's bootstrap superuser (role oid 10): a restored copy is entered as it.
    pub superuser: String,
}

impl BackupMeta {
    pub fn sysid(&self) -> u64 {
        self.system_identifier.parse().unwrap_or(0)
    }
    pub fn stop_time_utc(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.stop_time)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

/// Run a PostgreSQL tool as the server user; it receives SIGTERM if we die (a `kill -9` of
/// `backup` must not leave pg_basebackup writing on).
pub(crate) fn run_server_tool(
    user: &ServerUser,
    program: &Path,
    cwd: &Path,
    args: &[&OsStr],
) -> Result<Output, BackupError> {
    let mut cmd = user.command(program, cwd);
    cmd.args(args);
    // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)?;
            if nix::unistd::getppid().as_raw() == 1 {
                return Err(std::io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
    cmd.output().map_err(|source| {
        BackupError::Pg(crate::pg::PgError::Spawn {
            tool: program.display().to_string(),
            source,
        })
    })
}

pub(crate) use crate::pg::output_text;

/// Facts about the server being backed up, read over SQL before the backup starts.
#[derive(Debug, Clone)]
pub struct ServerFacts {
    pub system_identifier: u64,
    pub wal_segment_size: u64,
    pub archive_mode: String,
    pub superuser: String,
}

pub fn server_facts(url: &str) -> Result<ServerFacts, BackupError> {
    let mut c = crate::db::connect_url(url)?;
    let row = c
        .query_one(
            "SELECT (SELECT system_identifier::text FROM pg_control_system()),
                    (SELECT setting::bigint * CASE unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576 ELSE 1 END
                       FROM pg_settings WHERE name = 'wal_segment_size'),
                    current_setting('archive_mode'),
                    (SELECT rolname::text FROM pg_roles WHERE oid = 10)",
            &[],
        )
        .map_err(|e| crate::db::DbError::query("reading the server's identity", e))?;
    let id: String = row.get(0);
    Ok(ServerFacts {
        system_identifier: id.parse().map_err(|_| crate::db::DbError::Query {
            what: "reading the server's system identifier".into(),
            reason: format!("`{id}` is not a number"),
        })?,
        wal_segment_size: row.get::<_, i64>(1) as u64,
        archive_mode: row.get(2),
        superuser: row.get(3),
    })
}

/// Take one base backup of the server at `url` into `repo`.
pub fn take(
    repo: &Repo,
    bins: &PgBinaries,
    user: &ServerUser,
    url: &str,
) -> Result<BackupMeta, BackupError> {
    let lock = RepoLock::acquire(&repo.lock_path(), "backup")?;
    let backups = repo.backups_dir();
    create_dir(&backups)?;
    user.check_reachable(&backups)?;
    remove_leftovers(&backups);

    let facts = server_facts(url)?;
    let id = repo.ensure_identity(&RepoIdentity::new(
        facts.system_identifier,
        facts.wal_segment_size,
    ))?;
    if id.sysid() != facts.system_identifier {
        return Err(BackupError::RepoOfAnotherCluster {
            server: facts.system_identifier,
            repo_id: id.sysid(),
            repo: repo.root().to_path_buf(),
        });
    }
    if facts.archive_mode == "off" {
        tracing::warn!("the server does not archive WAL (archive_mode=off): this backup can be restored only to its own end, not to a later point in time");
    }

    let start_time = super::repo::now_rfc3339();
    let mut label = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut n = 1;
    while backups.join(&label).exists() || backups.join(format!(".tmp-{label}")).exists() {
        n += 1;
        label = format!("{}-{n}", &label[..16]);
    }
    let tmp = backups.join(format!(".tmp-{label}"));
    user.own_dir(&tmp, 0o700)?;
    let result = build(repo, bins, user, url, &tmp, &label, &start_time, &facts);
    match result {
        Ok(meta) => {
            let dest = backups.join(&label);
            std::fs::rename(&tmp, &dest).map_err(|e| BackupError::io("publish", &dest, e))?;
            fsync_dir(&backups)?;
            drop(lock);
            Ok(meta)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build(
    repo: &Repo,
    bins: &PgBinaries,
    user: &ServerUser,
    url: &str,
    tmp: &Path,
    label: &str,
    start_time: &str,
    facts: &ServerFacts,
) -> Result<BackupMeta, BackupError> {
    let _ = repo;
    let data = tmp.join("data");
    let t = std::time::Instant::now();
    let out = run_server_tool(
        user,
        &bins.tool("pg_basebackup"),
        tmp,
        &[
            "-D".as_ref(),
            data.as_os_str(),
            "-Fp".as_ref(),
            "-Xs".as_ref(),
            "-c".as_ref(),
            "fast".as_ref(),
            "--no-sync".as_ref(),
            "-l".as_ref(),
            format!("stella-bundle {label}").as_ref(),
            "-d".as_ref(),
            url.as_ref(),
        ],
    )?;
    if !out.status.success() {
        return Err(BackupError::ToolFailed {
            tool: "pg_basebackup".into(),
            output: output_text(&out),
        });
    }
    tracing::info!("pg_basebackup: {:.1} s", t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    if super::fault("backup-stall") {
        std::thread::sleep(std::time::Duration::from_secs(30));
    }
    let out = run_server_tool(
        user,
        &bins.tool("pg_verifybackup"),
        tmp,
        &[data.as_os_str()],
    )?;
    if !out.status.success() {
        return Err(BackupError::VerifyFailed {
            label: label.into(),
            reason: format!("pg_verifybackup: {}", output_text(&out)),
        });
    }
    tracing::info!("pg_verifybackup: {:.1} s", t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let (start_lsn, timeline) = read_backup_label(&data.join("backup_label"))?;
    let stop_lsn = read_manifest_end(&data.join("backup_manifest"))?;
    let sysid = read_control_sysid(&data.join("global/pg_control"))?;
    if sysid != facts.system_identifier {
        return Err(BackupError::VerifyFailed {
            label: label.into(),
            reason: format!(
                "pg_control says system identifier {sysid}, the server said {}",
                facts.system_identifier
            ),
        });
    }
    let pg_version = std::fs::read_to_string(data.join("PG_VERSION"))
        .map(|s| s.trim().to_string())
        .map_err(|e| BackupError::io("read", data.join("PG_VERSION"), e))?;
    let mut wal_included: Vec<String> = std::fs::read_dir(data.join("pg_wal"))
        .map_err(|e| BackupError::io("list", data.join("pg_wal"), e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| super::repo::wal_kind(n) == Some(super::repo::WalKind::Segment))
        .collect();
    wal_included.sort();
    let data_bytes = dir_size(&data);

    let archive = tmp.join(ARCHIVE_FILE);
    let (stored_bytes, archive_sha256) = compress_dir(&data, &archive)?;
    tracing::info!("tar + zstd + fsync: {:.1} s", t.elapsed().as_secs_f64());
    std::fs::remove_dir_all(&data).map_err(|e| BackupError::io("remove", &data, e))?;
    let seg = facts.wal_segment_size;
    let meta = BackupMeta {
        label: label.into(),
        system_identifier: sysid.to_string(),
        timeline,
        start_lsn,
        stop_lsn,
        start_wal: segment_name(timeline, start_lsn.segno(seg), seg),
        stop_wal: segment_name(timeline, stop_lsn.segno(seg), seg),
        wal_segment_size: seg,
        wal_included,
        start_time: start_time.into(),
        stop_time: super::repo::now_rfc3339(),
        pg_version,
        data_bytes,
        stored_bytes,
        archive_sha256,
        verified_with: format!("pg_verifybackup {}", bins.version()),
        producer: format!("stella-bundle {}", env!("CARGO_PKG_VERSION")),
        superuser: facts.superuser.clone(),
    };
    let json = serde_json::to_vec_pretty(&meta).unwrap_or_default();
    write_synced(&tmp.join(META_FILE), &json)?;
    fsync_dir(tmp)?;
    Ok(meta)
}

/// Remove folders of backups (or verifications) that died: only called under the lock.
fn remove_leftovers(backups: &Path) {
    let Ok(entries) = std::fs::read_dir(backups) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(".tmp-") || name.starts_with(".del-") {
            tracing::info!("removing the leftover of an interrupted run: {name}");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// `START WAL LOCATION: 0/2000028 (file ...)` and `START TIMELINE: 1`.
fn read_backup_label(path: &Path) -> Result<(Lsn, u32), BackupError> {
    let text = std::fs::read_to_string(path).map_err(|e| BackupError::io("read", path, e))?;
    let mut lsn = None;
    let mut tli = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("START WAL LOCATION:") {
            lsn = rest.split_whitespace().next().and_then(|v| v.parse().ok());
        }
        if let Some(rest) = line.strip_prefix("START TIMELINE:") {
            tli = rest.trim().parse().ok();
        }
    }
    match (lsn, tli) {
        (Some(l), Some(t)) => Ok((l, t)),
        _ => Err(BackupError::malformed(
            "backup_label",
            path,
            "no START WAL LOCATION / START TIMELINE",
        )),
    }
}

/// The last `WAL-Ranges` entry's `End-LSN` of a backup manifest.
fn read_manifest_end(path: &Path) -> Result<Lsn, BackupError> {
    let bytes = std::fs::read(path).map_err(|e| BackupError::io("read", path, e))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| BackupError::malformed("backup_manifest", path, e.to_string()))?;
    v["WAL-Ranges"]
        .as_array()
        .and_then(|r| r.last())
        .and_then(|r| r["End-LSN"].as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| BackupError::malformed("backup_manifest", path, "no WAL-Ranges End-LSN"))
}

/// `ControlFileData` starts with `uint64 system_identifier`.
fn read_control_sysid(path: &Path) -> Result<u64, BackupError> {
    let bytes = std::fs::read(path).map_err(|e| BackupError::io("read", path, e))?;
    if bytes.len() < 8 {
        return Err(BackupError::malformed("pg_control", path, "too short"));
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    Ok(u64::from_le_bytes(b))
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

/// Writer that hashes and counts what passes through.
struct HashWriter<W: Write> {
    inner: W,
    hash: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// tar + zstd `dir` into `archive`, fsynced. Returns (bytes, sha256 of the file).
fn compress_dir(dir: &Path, archive: &Path) -> Result<(u64, String), BackupError> {
    let io = |e| BackupError::io("write", archive, e);
    let file = std::fs::File::create(archive).map_err(io)?;
    let hw = HashWriter {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        hash: sha2::Sha256::new(),
        bytes: 0,
    };
    let mut enc = zstd::Encoder::new(hw, BACKUP_ZSTD_LEVEL).map_err(io)?;
    // zstd's own worker threads compress while this thread reads and tars the files.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4)) as u32;
    if workers > 1 {
        enc.multithread(workers).map_err(io)?;
    }
    let mut tar = tar::Builder::new(enc);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    tar.append_dir_all(".", dir)
        .map_err(|e| BackupError::io("archive", dir, e))?;
    let enc = tar.into_inner().map_err(io)?;
    let hw = enc.finish().map_err(io)?;
    let HashWriter { inner, hash, bytes } = hw;
    let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok((bytes, hex::encode(hash.finalize())))
}

/// Reader that hashes what passes through.
struct HashReader<R: Read> {
    inner: R,
    hash: sha2::Sha256,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Unpack a stored backup into `dest` (which must exist), checking the archive's sha256, and
/// give the files to the server user.
pub fn extract(
    meta: &BackupMeta,
    folder: &Path,
    dest: &Path,
    user: &ServerUser,
) -> Result<(), BackupError> {
    let archive = folder.join(ARCHIVE_FILE);
    let file = std::fs::File::open(&archive).map_err(|e| BackupError::io("open", &archive, e))?;
    let mut hr = HashReader {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        hash: sha2::Sha256::new(),
    };
    let corrupt = |reason: String| BackupError::VerifyFailed {
        label: meta.label.clone(),
        reason: format!("{} is damaged: {reason}", archive.display()),
    };
    {
        let dec = zstd::Decoder::new(&mut hr).map_err(|e| corrupt(e.to_string()))?;
        let mut tar = tar::Archive::new(dec);
        tar.set_preserve_permissions(true);
        tar.set_overwrite(false);
        tar.unpack(dest).map_err(|e| corrupt(e.to_string()))?;
    }
    std::io::copy(&mut hr, &mut std::io::sink()).map_err(|e| corrupt(e.to_string()))?;
    let sha = hex::encode(hr.hash.finalize());
    if sha != meta.archive_sha256 {
        return Err(corrupt(format!(
            "its sha256 is {sha}, backup.json says {}",
            meta.archive_sha256
        )));
    }
    if user.switches() {
        chown_tree(dest, user)?;
    }
    Ok(())
}

fn chown_tree(dir: &Path, user: &ServerUser) -> Result<(), BackupError> {
    let uid = Some(nix::unistd::Uid::from_raw(user.uid()));
    let gid = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(user.uid()))
        .ok()
        .flatten()
        .map(|u| u.gid);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        nix::unistd::fchownat(None, &d, uid, gid, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| BackupError::io("change the owner of", &d, e.into()))?;
        if d.is_dir() && !d.is_symlink() {
            for e in std::fs::read_dir(&d)
                .map_err(|e| BackupError::io("list", &d, e))?
                .flatten()
            {
                stack.push(e.path());
            }
        }
    }
    Ok(())
}

/// Every finished backup, newest first.
pub fn list(repo: &Repo) -> Result<Vec<(BackupMeta, PathBuf)>, BackupError> {
    let dir = repo.backups_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackupError::io("list", &dir, e)),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || !e.path().is_dir() {
            continue;
        }
        let meta_path = e.path().join(META_FILE);
        let bytes = match std::fs::read(&meta_path) {
            Ok(b) => b,
            Err(_) => {
                tracing::warn!(
                    "{} has no {META_FILE}: not a backup, ignored",
                    e.path().display()
                );
                continue;
            }
        };
        match serde_json::from_slice::<BackupMeta>(&bytes) {
            Ok(m) => out.push((m, e.path())),
            Err(err) => tracing::warn!("{} is unreadable ({err}): ignored", meta_path.display()),
        }
    }
    out.sort_by(|a, b| (b.0.stop_lsn, &b.0.label).cmp(&(a.0.stop_lsn, &a.0.label)));
    Ok(out)
}

/// One backup by label (or the newest).
pub fn find(repo: &Repo, label: Option<&str>) -> Result<(BackupMeta, PathBuf), BackupError> {
    let all = list(repo)?;
    match label {
        Some(l) => {
            all.into_iter()
                .find(|(m, _)| m.label == l)
                .ok_or_else(|| BackupError::NoSuchBackup {
                    label: l.into(),
                    dir: repo.backups_dir(),
                })
        }
        None => all.into_iter().next().ok_or_else(|| {
            BackupError::NoBackup(format!(
                "no backup in {}; take one with `stella-bundle backup`",
                repo.backups_dir().display()
            ))
        }),
    }
}

/// Extract a stored backup into a temporary folder and run `pg_verifybackup` on it.
pub fn verify(
    repo: &Repo,
    bins: &PgBinaries,
    user: &ServerUser,
    label: Option<&str>,
) -> Result<BackupMeta, BackupError> {
    let (meta, folder) = find(repo, label)?;
    let parent = repo.backups_dir();
    let tmp = tempfile::Builder::new()
        .prefix(".verify-")
        .tempdir_in(&parent)
        .map_err(|e| BackupError::io("create a folder in", &parent, e))?;
    user.own_dir(tmp.path(), 0o700)?;
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).map_err(|e| BackupError::io("create", &data, e))?;
    extract(&meta, &folder, &data, user)?;
    let out = run_server_tool(
        user,
        &bins.tool("pg_verifybackup"),
        tmp.path(),
        &[data.as_os_str()],
    )?;
    if !out.status.success() {
        return Err(BackupError::VerifyFailed {
            label: meta.label.clone(),
            reason: format!("pg_verifybackup: {}", output_text(&out)),
        });
    }
    Ok(meta)
}
