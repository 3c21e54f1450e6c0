//! Base backups: take, list, verify again later.
//!
//! Take: `pg_basebackup -Ft -Xs` with the server compressing (zstd level 1) writes
//! `base.tar.zst`, `pg_wal.tar` and `backup_manifest`; while it writes, a second thread reads
//! `base.tar.zst` once (decompressing, CRC32C of each file, sha256 of the stored bytes). Then
//! the files are checked against the manifest (`pg_verifybackup` of PostgreSQL 15 verifies plain
//! backups only; SPEC section 8 allows the same checks done while streaming), `pg_waldump`
//! parses the manifest's WAL ranges, and the WAL and the manifest are appended to
//! `base.tar.zst` as a second zstd frame holding a second tar. Extracting it (reading past the
//! first tar's end) gives the plain backup, which `backup verify` checks with `pg_verifybackup`.
//!
//! Atomicity: a backup is built in `backups/.tmp-<label>/` and renamed to `backups/<label>/` only
//! once verified, compressed, fsynced and described by `backup.json`; listing ignores dot
//! folders, and the next backup (holding the lock, so nobody else is writing) removes them.

use super::lock::RepoLock;
use super::manifest::{Manifest, SeenFile};
use super::repo::{create_dir, fsync_dir, segment_name, write_synced, Lsn, Repo, RepoIdentity};
use super::BackupError;
use crate::pg::{PgBinaries, ServerUser};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

/// Name of the compressed backup inside its folder.
pub const ARCHIVE_FILE: &str = "base.tar.zst";
/// Name of the metadata file inside its folder.
pub const META_FILE: &str = "backup.json";
/// `pg_basebackup --compress`: zstd level 1 by the server as it reads the files (the fastest
/// way over a 2-core machine: the copy crosses the socket and the disk compressed), or by
/// `pg_basebackup` itself when the server cannot.
const SERVER_COMPRESSION: &str = "server-zstd:1";
const CLIENT_COMPRESSION: &str = "client-zstd:1";
/// The second frame of `base.tar.zst` (the WAL streamed during the backup and the manifest).
const APPENDIX_ZSTD_LEVEL: i32 = 1;

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
    server_tool(user, program, cwd, args)
        .output()
        .map_err(|source| spawn_error(program, source))
}

/// The command [`run_server_tool`] runs, to spawn it instead.
fn server_tool(user: &ServerUser, program: &Path, cwd: &Path, args: &[&OsStr]) -> Command {
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
    cmd
}

fn spawn_error(program: &Path, source: std::io::Error) -> BackupError {
    BackupError::Pg(crate::pg::PgError::Spawn {
        tool: program.display().to_string(),
        source,
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
    let stage = tmp.join("data");
    let t = std::time::Instant::now();
    // The archive is read and checked while pg_basebackup writes it; a stalled test backup
    // (tests only) reads it after the stall instead, so the test can change it first.
    let follow = !super::fault("backup-stall");
    let scanned = run_basebackup(bins, user, url, tmp, &stage, label, follow)?;
    tracing::info!(
        "pg_basebackup{}: {:.1} s",
        if follow {
            " (files read alongside)"
        } else {
            ""
        },
        t.elapsed().as_secs_f64()
    );
    if !follow {
        stall(tmp);
    }
    let t = std::time::Instant::now();
    let failed = |reason: String| BackupError::VerifyFailed {
        label: label.into(),
        reason,
    };
    let manifest_path = stage.join("backup_manifest");
    let manifest_bytes =
        std::fs::read(&manifest_path).map_err(|e| BackupError::io("read", &manifest_path, e))?;
    let manifest =
        Manifest::parse(&manifest_bytes).map_err(|e| failed(format!("backup_manifest: {e}")))?;
    const EXPECTED: [&str; 3] = [ARCHIVE_FILE, "pg_wal.tar", "backup_manifest"];
    if let Some(extra) = list_names(&stage)?
        .into_iter()
        .find(|n| !EXPECTED.contains(&n.as_str()))
    {
        return Err(failed(format!(
            "pg_basebackup wrote {extra}: tablespaces outside the data directory are not supported"
        )));
    }
    let archive = tmp.join(ARCHIVE_FILE);
    let staged = stage.join(ARCHIVE_FILE);
    let scan = scanned
        .unwrap_or_else(|| scan_base(&staged, None))
        .map_err(|e| failed(format!("reading {ARCHIVE_FILE}: {e}")))?;
    manifest.check(&scan.seen).map_err(failed)?;
    std::fs::rename(&staged, &archive).map_err(|e| BackupError::io("move", &staged, e))?;
    tracing::info!(
        "read + checked {} files against the manifest: {:.1} s",
        scan.seen.len(),
        t.elapsed().as_secs_f64()
    );
    let t = std::time::Instant::now();
    let wal_dir = stage.join("pg_wal");
    let wal_tar = stage.join("pg_wal.tar");
    let wal_included = unpack_wal(&wal_tar, &wal_dir, user)?;
    check_wal_ranges(bins, user, tmp, &wal_dir, &manifest)
        .map_err(|e| failed(format!("the WAL it needs: {e}")))?;
    tracing::info!("pg_waldump: {:.1} s", t.elapsed().as_secs_f64());

    let t = std::time::Instant::now();
    let (start_lsn, timeline) = parse_backup_label(&scan.backup_label)
        .ok_or_else(|| failed("backup_label has no START WAL LOCATION / START TIMELINE".into()))?;
    let stop_lsn = manifest
        .wal_ranges
        .last()
        .map(|r| r.end)
        .ok_or_else(|| failed("the manifest has no WAL range".into()))?;
    let sysid = control_sysid(&scan.pg_control)
        .ok_or_else(|| failed("global/pg_control is too short".into()))?;
    if sysid != facts.system_identifier {
        return Err(failed(format!(
            "pg_control says system identifier {sysid}, the server said {}",
            facts.system_identifier
        )));
    }
    let pg_version = String::from_utf8_lossy(&scan.pg_version).trim().to_string();
    let data_bytes = scan.data_bytes + dir_size(&wal_dir) + manifest_bytes.len() as u64;
    let (stored_bytes, archive_sha256) =
        append_wal_and_manifest(&archive, scan.hash, &wal_dir, &manifest_path)?;
    tracing::info!(
        "append WAL + manifest, fsync: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&stage).map_err(|e| BackupError::io("remove", &stage, e))?;
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
        verified_with: format!(
            "backup_manifest (sizes, CRC32C) while storing; pg_waldump {}",
            bins.version()
        ),
        producer: format!("stella-bundle {}", env!("CARGO_PKG_VERSION")),
        superuser: facts.superuser.clone(),
    };
    let json = serde_json::to_vec_pretty(&meta).unwrap_or_default();
    write_synced(&tmp.join(META_FILE), &json)?;
    fsync_dir(tmp)?;
    Ok(meta)
}

/// `pg_basebackup` in tar format into `stage`: `base.tar.zst` (compressed by the server with
/// zstd level 1 while it reads, so the data crosses the socket and the disk once, compressed),
/// `pg_wal.tar` (the WAL streamed alongside) and `backup_manifest`. A server that cannot
/// compress (built without zstd) gets the same from the client side. With `follow`, a second
/// thread reads `base.tar.zst` as it grows ([`scan_base`]) and its result is returned.
fn run_basebackup(
    bins: &PgBinaries,
    user: &ServerUser,
    url: &str,
    cwd: &Path,
    stage: &Path,
    label: &str,
    follow: bool,
) -> Result<Option<std::io::Result<BaseScan>>, BackupError> {
    let label = format!("stella-bundle {label}");
    let mut last = String::new();
    for compress in [SERVER_COMPRESSION, CLIENT_COMPRESSION] {
        if stage.exists() {
            std::fs::remove_dir_all(stage).map_err(|e| BackupError::io("remove", stage, e))?;
        }
        let program = bins.tool("pg_basebackup");
        let mut cmd = server_tool(
            user,
            &program,
            cwd,
            &[
                "-D".as_ref(),
                stage.as_os_str(),
                "-Ft".as_ref(),
                "-Xs".as_ref(),
                "-c".as_ref(),
                "fast".as_ref(),
                "--no-sync".as_ref(),
                format!(
                    "--manifest-checksums={}",
                    super::manifest::CHECKSUM_ALGORITHM
                )
                .as_ref(),
                format!("--compress={compress}").as_ref(),
                "-l".as_ref(),
                label.as_ref(),
                "-d".as_ref(),
                url.as_ref(),
            ],
        );
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(&program, e))?;
        let done = AtomicBool::new(false);
        let staged = stage.join(ARCHIVE_FILE);
        let (out, scan) = std::thread::scope(|scope| {
            let reader = follow.then(|| scope.spawn(|| scan_base(&staged, Some(&done))));
            let out = child.wait_with_output();
            done.store(true, Ordering::SeqCst);
            let scan = reader.map(|r| {
                r.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("the reading thread panicked")))
            });
            (out, scan)
        });
        let out = out.map_err(|e| spawn_error(&program, e))?;
        if out.status.success() {
            return Ok(scan);
        }
        last = output_text(&out);
        if compress == CLIENT_COMPRESSION || !last.contains("compress") {
            break;
        }
        tracing::info!("the server cannot compress ({last}); compressing on the client");
    }
    Err(BackupError::ToolFailed {
        tool: "pg_basebackup".into(),
        output: last,
    })
}

/// `STELLA_FAULT=backup-stall` (tests only): wait up to 30 s after the copy, before the checks,
/// so a test can kill the backup or change what it is about to check. A `stalled` file in the
/// backup's folder says the wait began; a `resume` file ends it.
fn stall(tmp: &Path) {
    let _ = std::fs::write(tmp.join("stalled"), b"");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < until && !tmp.join("resume").exists() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(tmp.join("stalled"));
    let _ = std::fs::remove_file(tmp.join("resume"));
}

fn list_names(dir: &Path) -> Result<Vec<String>, BackupError> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| BackupError::io("list", dir, e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect())
}

/// What one pass over `base.tar.zst` found.
struct BaseScan {
    /// Every regular file: size and CRC32C, by its path in the data directory.
    seen: HashMap<String, SeenFile>,
    backup_label: Vec<u8>,
    pg_version: Vec<u8>,
    pg_control: Vec<u8>,
    /// Bytes of the files (uncompressed).
    data_bytes: u64,
    /// sha256 state over the whole compressed file, to go on hashing what is appended.
    hash: sha2::Sha256,
}

/// Decompress and read every file of the server's tar once: size and CRC32C of each (for the
/// manifest), the few small files the metadata comes from, and the sha256 of the stored bytes.
///
/// With `writing`, the file is still being written until that flag is set: reading waits for
/// more at its end instead of stopping ([`Follow`]).
fn scan_base(archive: &Path, writing: Option<&AtomicBool>) -> std::io::Result<BaseScan> {
    let follow = Follow {
        path: archive,
        file: None,
        done: writing,
    };
    let mut hr = HashReader {
        inner: std::io::BufReader::with_capacity(1 << 20, follow),
        hash: sha2::Sha256::new(),
    };
    let mut scan = BaseScan {
        seen: HashMap::new(),
        backup_label: Vec::new(),
        pg_version: Vec::new(),
        pg_control: Vec::new(),
        data_bytes: 0,
        hash: sha2::Sha256::new(),
    };
    {
        let mut tar = tar::Archive::new(zstd::Decoder::new(&mut hr)?);
        let mut buf = vec![0u8; 1 << 18];
        for entry in tar.entries()? {
            let mut entry = entry?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path()?.to_string_lossy().into_owned();
            let path = path.trim_start_matches("./").to_string();
            let keep: Option<&mut Vec<u8>> = match path.as_str() {
                "backup_label" => Some(&mut scan.backup_label),
                "PG_VERSION" => Some(&mut scan.pg_version),
                "global/pg_control" => Some(&mut scan.pg_control),
                _ => None,
            };
            let mut crc = 0u32;
            let mut size = 0u64;
            let mut keep = keep;
            loop {
                let n = entry.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                crc = crc32c::crc32c_append(crc, &buf[..n]);
                size += n as u64;
                if let Some(k) = keep.as_deref_mut() {
                    k.extend_from_slice(&buf[..n]);
                }
            }
            scan.data_bytes += size;
            scan.seen.insert(path, SeenFile { size, crc32c: crc });
        }
    }
    // The rest of the file (the tar's end blocks, zstd's epilogue) counts for the sha256 too.
    std::io::copy(&mut hr, &mut std::io::sink())?;
    scan.hash = hr.hash;
    Ok(scan)
}

/// Reads a file that another process is still appending to: at the end, waits for more until
/// `done` is set (checked before the read that returns nothing, so nothing written before the
/// writer exited is missed). Without `done`, a plain read of a finished file.
struct Follow<'a> {
    path: &'a Path,
    file: Option<std::fs::File>,
    done: Option<&'a AtomicBool>,
}

impl Read for Follow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let finished = self.done.map_or(true, |d| d.load(Ordering::SeqCst));
            let file = match &mut self.file {
                Some(f) => f,
                None => match std::fs::File::open(self.path) {
                    Ok(f) => self.file.insert(f),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && !finished => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            let n = file.read(buf)?;
            if n > 0 || finished {
                return Ok(n);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

/// Unpack `pg_wal.tar` (the WAL streamed during the backup) into `dir` for `pg_waldump`; the
/// names of the segments in it.
fn unpack_wal(tar_path: &Path, dir: &Path, user: &ServerUser) -> Result<Vec<String>, BackupError> {
    let file = std::fs::File::open(tar_path).map_err(|e| BackupError::io("open", tar_path, e))?;
    std::fs::create_dir(dir).map_err(|e| BackupError::io("create", dir, e))?;
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    tar.set_preserve_permissions(true);
    tar.unpack(dir)
        .map_err(|e| BackupError::io("unpack", tar_path, e))?;
    if user.switches() {
        chown_tree(dir, user)?;
    }
    let mut names: Vec<String> = list_names(dir)?
        .into_iter()
        .filter(|n| super::repo::wal_kind(n) == Some(super::repo::WalKind::Segment))
        .collect();
    names.sort();
    Ok(names)
}

/// Parse every WAL range of the manifest with `pg_waldump`, as `pg_verifybackup` does.
fn check_wal_ranges(
    bins: &PgBinaries,
    user: &ServerUser,
    cwd: &Path,
    wal_dir: &Path,
    manifest: &Manifest,
) -> Result<(), String> {
    for r in &manifest.wal_ranges {
        let args = [
            "--quiet".to_string(),
            format!("--path={}", wal_dir.display()),
            format!("--timeline={}", r.timeline),
            format!("--start={}", r.start),
            format!("--end={}", r.end),
        ];
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let out = run_server_tool(user, &bins.tool("pg_waldump"), cwd, &args)
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "pg_waldump {} .. {} on timeline {}: {}",
                r.start,
                r.end,
                r.timeline,
                output_text(&out)
            ));
        }
    }
    Ok(())
}

/// Append the WAL and the manifest to `archive` as a second zstd frame holding a second tar
/// (restore reads on past the first tar's end blocks), fsync it. Returns (bytes, sha256 of the
/// whole file), `hash` being the state over what the file held already.
fn append_wal_and_manifest(
    archive: &Path,
    hash: sha2::Sha256,
    wal_dir: &Path,
    manifest: &Path,
) -> Result<(u64, String), BackupError> {
    let io = |e| BackupError::io("write", archive, e);
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(archive)
        .map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    let hw = HashWriter {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        hash,
        bytes,
    };
    let mut tar = tar::Builder::new(zstd::Encoder::new(hw, APPENDIX_ZSTD_LEVEL).map_err(io)?);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    tar.append_dir_all("pg_wal", wal_dir)
        .map_err(|e| BackupError::io("archive", wal_dir, e))?;
    tar.append_path_with_name(manifest, "backup_manifest")
        .map_err(|e| BackupError::io("archive", manifest, e))?;
    let hw = tar.into_inner().map_err(io)?.finish().map_err(io)?;
    let HashWriter { inner, hash, bytes } = hw;
    let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok((bytes, hex::encode(hash.finalize())))
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
fn parse_backup_label(bytes: &[u8]) -> Option<(Lsn, u32)> {
    let text = String::from_utf8_lossy(bytes);
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
    Some((lsn?, tli?))
}

/// `ControlFileData` starts with `uint64 system_identifier`.
fn control_sysid(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
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
        // A backup is two tars in two zstd frames (the server's, then the WAL and manifest).
        tar.set_ignore_zeros(true);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_reads_what_is_appended_until_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("growing");
        let done = AtomicBool::new(false);
        let mut got = Vec::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                let mut f = std::fs::File::create(&path).unwrap();
                for i in 0..5u8 {
                    f.write_all(&[i; 1000]).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                done.store(true, Ordering::SeqCst);
            });
            let mut r = Follow {
                path: &path,
                file: None,
                done: Some(&done),
            };
            r.read_to_end(&mut got).unwrap();
        });
        let want: Vec<u8> = (0..5u8).flat_map(|i| [i; 1000]).collect();
        assert_eq!(got, want);
    }
}
