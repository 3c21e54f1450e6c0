//! The backup repository's layout and identity, LSNs and WAL file names, and the durable-write
//! helpers everything in `backup` uses (temp file, fsync, atomic rename, folder fsync).
//!
//! ```text
//! REPO/
//!   backup.lock                  flock'ed by `backup` and `backup prune`; says who holds it
//!   backups/<label>/             one finished base backup (a folder appears only when complete)
//!       base.tar.zst             the verified backup: two tars (data; WAL + manifest), two
//!                                zstd frames
//!       backup.json              its metadata (BackupMeta)
//!   backups/.tmp-<label>/        a backup in progress (never listed; removed by the next backup)
//!   wal/archive.json             the repository's identity: system identifier, segment size
//!   wal/<TTTTTTTTXXXXXXXX>/<NAME>-<sha256>.zst   segments, .partial and .backup files
//!   wal/history/<NAME>-<sha256>.zst              timeline history files
//! ```
//! The sha256 (of the uncompressed file) is part of the archived name, so a file and its hash are
//! written by one rename, and a second push of the same name with other content is detected.

use super::BackupError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The default WAL segment size (16 MiB).
pub const DEFAULT_SEGMENT_SIZE: u64 = 16 * 1024 * 1024;

/// A backup repository (`$STELLA_HOME/repo` or `--repo`).
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
}

/// What the repository belongs to: one cluster (system identifier), one segment size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoIdentity {
    /// A string: the 64-bit value does not survive JSON parsers that use doubles.
    pub system_identifier: String,
    pub wal_segment_size: u64,
    pub created: String,
}

impl RepoIdentity {
    pub fn new(system_identifier: u64, wal_segment_size: u64) -> Self {
        RepoIdentity {
            system_identifier: system_identifier.to_string(),
            wal_segment_size,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
    pub fn sysid(&self) -> u64 {
        self.system_identifier.parse().unwrap_or(0)
    }
}

impl Repo {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Repo { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn wal_dir(&self) -> PathBuf {
        self.root.join("wal")
    }
    pub fn backups_dir(&self) -> PathBuf {
        self.root.join("backups")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("backup.lock")
    }
    pub fn identity_path(&self) -> PathBuf {
        self.wal_dir().join("archive.json")
    }

    /// The repository's identity, if something was archived or backed up into it already.
    pub fn identity(&self) -> Result<Option<RepoIdentity>, BackupError> {
        let path = self.identity_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                BackupError::malformed("the repository identity", &path, e.to_string())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BackupError::io("read", path, e)),
        }
    }

    /// The identity, created from `candidate` when the repository has none yet (never replaced:
    /// two first pushes at once agree through a no-replace link).
    pub fn ensure_identity(&self, candidate: &RepoIdentity) -> Result<RepoIdentity, BackupError> {
        if let Some(id) = self.identity()? {
            return Ok(id);
        }
        let dir = self.wal_dir();
        create_dir(&dir)?;
        let path = self.identity_path();
        let tmp = dir.join(format!(".archive.json.{}.tmp", std::process::id()));
        let bytes = serde_json::to_vec_pretty(candidate).unwrap_or_default();
        write_synced(&tmp, &bytes)?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                give_to_owner_of(&path, &dir);
                fsync_dir(&dir)?;
                Ok(candidate.clone())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self
                .identity()?
                .ok_or_else(|| BackupError::io("read", &path, e)),
            Err(e) => Err(BackupError::io("create", path, e)),
        }
    }
}

/// A WAL location (`XLogRecPtr`), shown as PostgreSQL shows it: `16/B374D848`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The segment number holding this location.
    pub fn segno(self, seg_size: u64) -> u64 {
        self.0 / seg_size
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl std::str::FromStr for Lsn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (hi, lo) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not an LSN (expected e.g. 0/3000060)"))?;
        let hi = u64::from_str_radix(hi, 16).map_err(|_| format!("`{s}` is not an LSN"))?;
        let lo = u64::from_str_radix(lo, 16).map_err(|_| format!("`{s}` is not an LSN"))?;
        if hi > 0xFFFF_FFFF || lo > 0xFFFF_FFFF {
            return Err(format!(
                "`{s}` is not an LSN (each half has at most 8 hex digits)"
            ));
        }
        Ok(Lsn(hi << 32 | lo))
    }
}

impl Serialize for Lsn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Lsn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The kinds of files PostgreSQL archives, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalKind {
    /// `000000010000000000000003`
    Segment,
    /// `000000010000000000000003.partial` (end of a timeline, at promotion)
    Partial,
    /// `00000002.history`
    History,
    /// `000000010000000000000003.00000028.backup`
    BackupHistory,
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Classify an archived file name; `None` for anything PostgreSQL does not archive.
pub fn wal_kind(name: &str) -> Option<WalKind> {
    let seg = |s: &str| s.len() == 24 && is_hex(s);
    if seg(name) {
        return Some(WalKind::Segment);
    }
    if let Some(s) = name.strip_suffix(".partial") {
        return seg(s).then_some(WalKind::Partial);
    }
    if let Some(t) = name.strip_suffix(".history") {
        return (t.len() == 8 && is_hex(t)).then_some(WalKind::History);
    }
    if let Some(rest) = name.strip_suffix(".backup") {
        let (s, off) = rest.split_once('.')?;
        return (seg(s) && off.len() == 8 && is_hex(off)).then_some(WalKind::BackupHistory);
    }
    None
}

/// Timeline and segment number of a segment-like name (first 24 characters).
pub fn parse_segment(name: &str, seg_size: u64) -> Option<(u32, u64)> {
    let s = name.get(..24)?;
    if !is_hex(s) {
        return None;
    }
    let tli = u32::from_str_radix(&s[..8], 16).ok()?;
    let log = u64::from_str_radix(&s[8..16], 16).ok()?;
    let seg = u64::from_str_radix(&s[16..24], 16).ok()?;
    Some((tli, log * segs_per_xlogid(seg_size) + seg))
}

fn segs_per_xlogid(seg_size: u64) -> u64 {
    0x1_0000_0000 / seg_size.max(1)
}

/// The file name of segment `segno` on timeline `tli`.
pub fn segment_name(tli: u32, segno: u64, seg_size: u64) -> String {
    let per = segs_per_xlogid(seg_size);
    format!("{:08X}{:08X}{:08X}", tli, segno / per, segno % per)
}

/// The repository sub-folder of an archived name.
pub fn wal_folder(name: &str) -> &str {
    match wal_kind(name) {
        Some(WalKind::History) | None => "history",
        _ => &name[..16],
    }
}

/// Hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Create a folder (and parents), fsync its parent, and give it to the owner of its parent when
/// we are root (the server user must keep writing into `wal/`).
pub fn create_dir(dir: &Path) -> Result<(), BackupError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(BackupError::io("create", dir, e)),
    }
    if let Some(parent) = dir.parent() {
        give_to_owner_of(dir, parent);
        fsync_dir(parent)?;
    }
    Ok(())
}

/// When running as root, hand `path` to the owner of `like` (best effort).
pub fn give_to_owner_of(path: &Path, like: &Path) {
    if !nix::unistd::Uid::effective().is_root() {
        return;
    }
    if let Ok(meta) = std::fs::metadata(like) {
        if meta.uid() != 0 {
            let _ = nix::unistd::chown(
                path,
                Some(nix::unistd::Uid::from_raw(meta.uid())),
                Some(nix::unistd::Gid::from_raw(meta.gid())),
            );
        }
    }
}

/// fsync a folder, so that a rename or create in it is durable.
pub fn fsync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| BackupError::io("fsync", dir, e))
}

/// Write `bytes` to `path` (created or truncated) and fsync it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let mut f = std::fs::File::create(path).map_err(|e| BackupError::io("create", path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| BackupError::io("write", path, e))
}

/// Replace `path` atomically: temp sibling, fsync, rename, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    write_synced(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        BackupError::io("rename into place", path, e)
    })?;
    fsync_dir(dir)
}

/// A `YYYY-MM-DD HH:MM:SS` UTC timestamp for humans and JSON.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_round_trip() {
        let l: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(l.0, 0x16_B374_D848);
        assert_eq!(l.to_string(), "16/B374D848");
        assert!("nope".parse::<Lsn>().is_err());
    }

    #[test]
    fn names() {
        assert_eq!(wal_kind("000000010000000000000003"), Some(WalKind::Segment));
        assert_eq!(
            wal_kind("000000010000000000000003.partial"),
            Some(WalKind::Partial)
        );
        assert_eq!(wal_kind("00000002.history"), Some(WalKind::History));
        assert_eq!(
            wal_kind("000000010000000000000003.00000028.backup"),
            Some(WalKind::BackupHistory)
        );
        assert_eq!(wal_kind("../etc/passwd"), None);
        assert_eq!(wal_kind("RECOVERYXLOG"), None);
        let s = DEFAULT_SEGMENT_SIZE;
        assert_eq!(
            parse_segment("000000020000000100000003", s),
            Some((2, 256 + 3))
        );
        assert_eq!(segment_name(2, 259, s), "000000020000000100000003");
        assert_eq!(wal_folder("000000020000000100000003"), "0000000200000001");
        assert_eq!(wal_folder("00000002.history"), "history");
    }
}
