//! `wal push` (archive_command) and `wal fetch` (restore_command).
//!
//! Push reads the file, checks a segment's long page header (magic, segment size, page address
//! matching its name, and the system identifier against the repository's), hashes and
//! compresses it, writes `.NAME.PID.tmp`, fsyncs it, links it to `NAME-SHA256.zst` (never
//! replacing anything) and fsyncs the folder. The same name again with the same content
//! succeeds; with other content it fails and the archived file stays as it was.
//! Fetch finds `NAME-*.zst`, decompresses, checks the sha256 and renames the result into place;
//! a name that is not archived is an error (non-zero exit), so recovery ends cleanly.

use super::repo::{
    create_dir, fsync_dir, give_to_owner_of, parse_segment, sha256_hex, wal_folder, wal_kind,
    write_synced, Repo, RepoIdentity, WalKind,
};
use super::BackupError;
use serde::Serialize;
use sha2::Digest;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `XLP_LONG_HEADER` in `xlp_info`: the first page of a segment carries the long header.
const XLP_LONG_HEADER: u16 = 0x0002;
/// Compression level of archived WAL (fast: archive_command latency matters more than size).
const WAL_ZSTD_LEVEL: i32 = 1;

/// The fields of `XLogLongPageHeaderData` (first page of every segment file), little-endian:
/// `xlp_magic u16 @0, xlp_info u16 @2, xlp_tli u32 @4, xlp_pageaddr u64 @8, xlp_rem_len u32 @16,
/// (padding to 24), xlp_sysid u64 @24, xlp_seg_size u32 @32, xlp_xlog_blcksz u32 @36`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub magic: u16,
    pub tli: u32,
    pub pageaddr: u64,
    pub system_identifier: u64,
    pub seg_size: u32,
    pub block_size: u32,
}

/// Parse and sanity-check the long page header at the start of a segment file.
pub fn read_segment_header(bytes: &[u8]) -> Result<SegmentHeader, String> {
    if bytes.len() < 40 {
        return Err(format!(
            "only {} bytes, shorter than a page header",
            bytes.len()
        ));
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u32_at = |o: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&bytes[o..o + 4]);
        u32::from_le_bytes(b)
    };
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[o..o + 8]);
        u64::from_le_bytes(b)
    };
    let magic = u16_at(0);
    let info = u16_at(2);
    if magic & 0xFF00 != 0xD100 {
        return Err(format!(
            "page magic {magic:#06x} is not a PostgreSQL WAL page"
        ));
    }
    if info & XLP_LONG_HEADER == 0 {
        return Err("the first page has no long header".into());
    }
    let h = SegmentHeader {
        magic,
        tli: u32_at(4),
        pageaddr: u64_at(8),
        system_identifier: u64_at(24),
        seg_size: u32_at(32),
        block_size: u32_at(36),
    };
    let pow2 = |v: u32| v != 0 && v & (v - 1) == 0;
    if !pow2(h.seg_size) || h.seg_size < 1024 * 1024 {
        return Err(format!(
            "segment size {} in the header is invalid",
            h.seg_size
        ));
    }
    if !pow2(h.block_size) || h.block_size < 1024 {
        return Err(format!(
            "block size {} in the header is invalid",
            h.block_size
        ));
    }
    Ok(h)
}

/// One archived file.
#[derive(Debug, Clone, Serialize)]
pub struct ArchivedFile {
    pub name: String,
    pub sha256: String,
    pub path: PathBuf,
}

/// What `push` did.
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub stored_bytes: u64,
    /// The same content was archived already (a retried archive_command).
    pub already_archived: bool,
}

/// What `fetch` did.
#[derive(Debug, Clone, Serialize)]
pub struct FetchOutcome {
    pub name: String,
    pub from: PathBuf,
    pub sha256: String,
    pub bytes: u64,
}

/// Archive `src` under `name` (archive_command `%p %f`).
///
/// One pass over the file: each chunk read is hashed and fed to the compressor, which writes
/// the temp file as it goes (no copy of the whole segment in memory: touching 32 MiB of fresh
/// pages cost more than hashing and compressing 16 MiB). The temp file is `fdatasync`ed (its
/// data and size; its times do not matter) before it is linked under its final name, and the
/// folder is fsynced after the link: both are needed, since PostgreSQL may delete the segment
/// as soon as we return, and a crash must leave either no name or a name with its whole data.
pub fn push(repo: &Repo, src: &Path, name: &str) -> Result<PushOutcome, BackupError> {
    let kind = wal_kind(name).ok_or_else(|| BackupError::BadWalName { name: name.into() })?;
    let read_err = |e| BackupError::io("read", src, e);
    let mut file = std::fs::File::open(src).map_err(read_err)?;
    let len = file.metadata().map_err(read_err)?.len();
    if matches!(kind, WalKind::Segment | WalKind::Partial) {
        let mut head = [0u8; 64];
        let n = read_up_to(&mut file, &mut head).map_err(read_err)?;
        check_segment(repo, src, name, kind, &head[..n], len)?;
        file.seek(SeekFrom::Start(0)).map_err(read_err)?;
    }
    let dir = repo.wal_dir().join(wal_folder(name));
    create_dir(&dir)?;
    remove_dead_tmp(&dir, name);
    let mut repair = false;
    if let Some(existing) = find(&dir, name)? {
        let sha = hash_stream(&mut file).map_err(read_err)?;
        if existing.sha256 == sha {
            // The same content again (a retried archive_command). If the stored copy has gone
            // bad, this push repairs it: same name, same hash, so nothing is overwritten.
            match read_archived(&existing) {
                Ok(_) => {
                    let stored = std::fs::metadata(&existing.path)
                        .map(|m| m.len())
                        .unwrap_or(0);
                    return Ok(PushOutcome {
                        name: name.into(),
                        path: existing.path,
                        sha256: sha,
                        bytes: len,
                        stored_bytes: stored,
                        already_archived: true,
                    });
                }
                Err(e) => {
                    tracing::warn!("{e}; storing it again from {}", src.display());
                    repair = true;
                    file.seek(SeekFrom::Start(0)).map_err(read_err)?;
                }
            }
        } else {
            return Err(BackupError::WalConflict {
                name: name.into(),
                path: existing.path,
                existing: existing.sha256,
                new: sha,
            });
        }
    }
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = write_tmp(&mut file, src, len, &tmp);
    let (sha, stored_bytes) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let finalp = dir.join(format!("{name}-{sha}.zst"));
    give_to_owner_of(&tmp, &dir);
    // A link never replaces an existing name (a rename would); a repair renames over the
    // damaged copy of the same content.
    let linked = if repair {
        std::fs::rename(&tmp, &finalp)
    } else {
        std::fs::hard_link(&tmp, &finalp)
    };
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(BackupError::io("store", &finalp, e)),
    }
    fsync_dir(&dir)?;
    // Two pushers of one name with different content at the same moment: both see the other.
    let all = find_all(&dir, name)?;
    if let Some(other) = all.iter().find(|f| f.sha256 != sha) {
        let _ = std::fs::remove_file(&finalp);
        let _ = fsync_dir(&dir);
        return Err(BackupError::WalConflict {
            name: name.into(),
            path: other.path.clone(),
            existing: other.sha256.clone(),
            new: sha,
        });
    }
    Ok(PushOutcome {
        name: name.into(),
        path: finalp,
        sha256: sha,
        bytes: len,
        stored_bytes,
        already_archived: false,
    })
}

/// Remove `.NAME.PID.tmp` files of pushes that were killed (their pid is gone).
fn remove_dead_tmp(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        let pid = file
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".tmp"))
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(pid) = pid {
            let alive = pid as u32 != std::process::id()
                && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
            if !alive {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Read size of one chunk of a pushed file: small enough that its few buffers stay warm
/// (touching 32 MiB of fresh pages for a whole segment and its compressed copy cost more than
/// hashing and compressing it).
const PUSH_CHUNK: usize = 512 * 1024;
/// A chunk that level 1 shrinks to this share (in percent) or more is taken as incompressible:
/// the chunks after it are stored as raw zstd blocks (a copy, no search) until the next probe.
const INCOMPRESSIBLE_PERCENT: u64 = 95;
/// While chunks are incompressible, re-probe at level 1 every this many chunks (4 MiB).
const REPROBE_EVERY: u32 = 8;

/// Fill `buf` as far as the file goes.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Hex sha256 of the rest of a file, read in chunks.
fn hash_stream(r: &mut impl Read) -> std::io::Result<String> {
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; PUSH_CHUNK];
    loop {
        let n = read_up_to(r, &mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hash.finalize()));
        }
        hash.update(&buf[..n]);
    }
}

/// A writer that counts the bytes it passes on.
struct Counted<W: Write> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Where compressed bytes go: a zstd frame being written, or between frames.
enum Sink {
    Zstd(zstd::stream::write::Encoder<'static, Counted<std::fs::File>>),
    Raw(Counted<std::fs::File>),
    /// Only while switching.
    Switching,
}

impl Sink {
    /// Finish the current zstd frame (`to_zstd` false) or begin one at level 1 (true).
    fn switch(&mut self, to_zstd: bool) -> std::io::Result<()> {
        *self = match (std::mem::replace(self, Sink::Switching), to_zstd) {
            (Sink::Zstd(enc), false) => Sink::Raw(enc.finish()?),
            (Sink::Raw(out), true) => {
                Sink::Zstd(zstd::stream::write::Encoder::new(out, WAL_ZSTD_LEVEL)?)
            }
            (same, _) => same,
        };
        Ok(())
    }

    /// The file, the current zstd frame (if any) finished.
    fn raw(&mut self) -> std::io::Result<&mut Counted<std::fs::File>> {
        self.switch(false)?;
        match self {
            Sink::Raw(out) => Ok(out),
            _ => Err(half_way()),
        }
    }

    /// A zstd frame at level 1, begun if needed.
    fn zstd(
        &mut self,
    ) -> std::io::Result<&mut zstd::stream::write::Encoder<'static, Counted<std::fs::File>>> {
        self.switch(true)?;
        match self {
            Sink::Zstd(enc) => Ok(enc),
            _ => Err(half_way()),
        }
    }
}

/// A switch between frames failed earlier and left no file to write to.
fn half_way() -> std::io::Error {
    std::io::Error::other("compression stopped half-way")
}

/// The largest block of a zstd frame.
const ZSTD_BLOCK_MAX: usize = 128 * 1024;

/// Write `data` as one zstd frame of raw (stored) blocks: magic number, a frame header with no
/// content size and a 128 KiB window, then blocks of up to 128 KiB, each with its 3-byte header
/// (little-endian: size << 3 | type raw (0) << 1 | last). `frame` is a reusable buffer.
fn write_raw_frame(out: &mut impl Write, data: &[u8], frame: &mut Vec<u8>) -> std::io::Result<()> {
    frame.clear();
    frame.extend_from_slice(&[0x28, 0xB5, 0x2F, 0xFD, 0x00, (17 - 10) << 3]);
    let mut blocks = data.chunks(ZSTD_BLOCK_MAX).peekable();
    while let Some(block) = blocks.next() {
        let last = u32::from(blocks.peek().is_none());
        let header = (block.len() as u32) << 3 | last;
        frame.extend_from_slice(&header.to_le_bytes()[..3]);
        frame.extend_from_slice(block);
    }
    out.write_all(frame)
}

/// Hash and compress `src` into the new temp file `tmp`, then `fdatasync` it. Returns (sha256
/// of `src`, bytes stored).
///
/// A second thread hashes each chunk while this one compresses it (the same bytes: buffers go
/// round between the two). Compression is zstd level 1, chunk by chunk; a chunk that does not
/// shrink switches the chunks after it to frames of raw blocks (a file of several zstd frames
/// decompresses as their concatenation), with a level-1 probe every few chunks: WAL full of
/// already-compressed or random bytes costs a copy, not a search.
/// `STELLA_FAULT=wal-push-stall` (tests only) stops half-way for 30 s so a test can kill the
/// push mid-write.
fn write_tmp(
    src: &mut std::fs::File,
    src_path: &Path,
    len: u64,
    tmp: &Path,
) -> Result<(String, u64), BackupError> {
    let werr = |e| BackupError::io("write", tmp, e);
    let rerr = |e| BackupError::io("read", src_path, e);
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| BackupError::io("create", tmp, e))?;
    std::thread::scope(|scope| {
        let (to_hasher, chunks) = std::sync::mpsc::sync_channel::<(Arc<Vec<u8>>, usize)>(2);
        let (give_back, returned) = std::sync::mpsc::channel::<Arc<Vec<u8>>>();
        let hasher = scope.spawn(move || {
            let mut hash = sha2::Sha256::new();
            for (buf, n) in chunks {
                hash.update(&buf[..n]);
                let _ = give_back.send(buf);
            }
            hash
        });
        let mut pool: Vec<Arc<Vec<u8>>> = (0..3).map(|_| Arc::new(vec![0u8; PUSH_CHUNK])).collect();
        let mut sink = Sink::Zstd(
            zstd::stream::write::Encoder::new(
                Counted {
                    inner: out,
                    bytes: 0,
                },
                WAL_ZSTD_LEVEL,
            )
            .map_err(werr)?,
        );
        let mut frame = Vec::with_capacity(PUSH_CHUNK + PUSH_CHUNK / 1024 + 16);
        let mut raw_chunks: Option<u32> = None;
        let mut done = 0u64;
        let mut stalled = false;
        loop {
            let mut buf = match pool.pop() {
                Some(b) => b,
                None => returned
                    .recv()
                    .map_err(|_| rerr(std::io::Error::other("the hashing thread stopped")))?,
            };
            // Unique once both this loop and the hasher are done with it; else a fresh one.
            let n = match Arc::get_mut(&mut buf) {
                Some(b) => read_up_to(src, b),
                None => {
                    buf = Arc::new(vec![0u8; PUSH_CHUNK]);
                    read_up_to(src, Arc::get_mut(&mut buf).expect("a new Arc is unique"))
                }
            }
            .map_err(rerr)?;
            if n == 0 {
                break;
            }
            to_hasher
                .send((Arc::clone(&buf), n))
                .map_err(|_| rerr(std::io::Error::other("the hashing thread stopped")))?;
            let chunk = &buf[..n];
            match raw_chunks {
                Some(k) if k < REPROBE_EVERY => {
                    let out = sink.raw().map_err(werr)?;
                    write_raw_frame(out, chunk, &mut frame).map_err(werr)?;
                    raw_chunks = Some(k + 1);
                }
                _ => {
                    let enc = sink.zstd().map_err(werr)?;
                    let before = enc.get_ref().bytes;
                    enc.write_all(chunk).map_err(werr)?;
                    // End the block so the chunk's compressed size is known.
                    enc.flush().map_err(werr)?;
                    let shrunk_to = enc.get_ref().bytes - before;
                    raw_chunks =
                        (shrunk_to * 100 >= n as u64 * INCOMPRESSIBLE_PERCENT).then_some(0);
                }
            }
            drop(buf);
            done += n as u64;
            if !stalled && done >= len / 2 && super::fault("wal-push-stall") {
                stalled = true;
                let _ = sink.raw().and_then(|o| o.flush());
                std::thread::sleep(std::time::Duration::from_secs(30));
            }
        }
        drop(to_hasher);
        let hash = hasher
            .join()
            .map_err(|_| rerr(std::io::Error::other("the hashing thread panicked")))?;
        if done != len {
            return Err(rerr(std::io::Error::other(format!(
                "it changed while archived ({len} then {done} bytes)"
            ))));
        }
        let out = sink.raw().map_err(werr)?;
        out.inner.sync_data().map_err(werr)?;
        Ok((hex::encode(hash.finalize()), out.bytes))
    })
}

fn check_segment(
    repo: &Repo,
    src: &Path,
    name: &str,
    kind: WalKind,
    head: &[u8],
    len: u64,
) -> Result<(), BackupError> {
    let bad = |reason: String| BackupError::BadSegment {
        name: name.into(),
        path: src.to_path_buf(),
        reason,
    };
    let h = read_segment_header(head).map_err(bad)?;
    let seg_size = u64::from(h.seg_size);
    if kind == WalKind::Segment && len != seg_size {
        return Err(bad(format!(
            "it has {len} bytes, the header says segments have {seg_size}"
        )));
    }
    let (_, segno) = parse_segment(name, seg_size).ok_or_else(|| bad("bad name".into()))?;
    if h.pageaddr != segno * seg_size {
        return Err(bad(format!(
            "its first page is at {:X}/{:X}, not at the start of segment {name}",
            h.pageaddr >> 32,
            h.pageaddr & 0xFFFF_FFFF
        )));
    }
    let id = repo.ensure_identity(&RepoIdentity::new(h.system_identifier, seg_size))?;
    if id.sysid() != h.system_identifier {
        return Err(BackupError::ForeignCluster {
            name: name.into(),
            found: h.system_identifier,
            expected: id.sysid(),
            repo: repo.root().to_path_buf(),
        });
    }
    Ok(())
}

/// Restore `name` from the archive into `dest` (restore_command `%f %p`).
pub fn fetch(repo: &Repo, name: &str, dest: &Path) -> Result<FetchOutcome, BackupError> {
    wal_kind(name).ok_or_else(|| BackupError::BadWalName { name: name.into() })?;
    let dir = repo.wal_dir().join(wal_folder(name));
    let found = find(&dir, name)?.ok_or_else(|| BackupError::WalMissing {
        name: name.into(),
        dir: repo.wal_dir(),
    })?;
    let data = read_archived(&found)?;
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file = dest
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{file}.{}.fetch", std::process::id()));
    write_synced(&tmp, &data)?;
    std::fs::rename(&tmp, dest).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        BackupError::io("write", dest, e)
    })?;
    Ok(FetchOutcome {
        name: name.into(),
        from: found.path,
        sha256: found.sha256,
        bytes: data.len() as u64,
    })
}

/// Decompress an archived file and check its sha256.
pub fn read_archived(f: &ArchivedFile) -> Result<Vec<u8>, BackupError> {
    let raw = std::fs::read(&f.path).map_err(|e| BackupError::io("read", &f.path, e))?;
    let data = zstd::decode_all(&raw[..]).map_err(|e| BackupError::WalCorrupt {
        name: f.name.clone(),
        path: f.path.clone(),
        reason: format!("cannot decompress: {e}"),
    })?;
    let sha = sha256_hex(&data);
    if sha != f.sha256 {
        return Err(BackupError::WalCorrupt {
            name: f.name.clone(),
            path: f.path.clone(),
            reason: format!("sha256 is {sha}, its name says {}", f.sha256),
        });
    }
    Ok(data)
}

/// `NAME-<64 hex>.zst` -> (NAME, hash)
fn split_stored(file: &str) -> Option<(&str, &str)> {
    let stem = file.strip_suffix(".zst")?;
    let (name, sha) = stem.rsplit_once('-')?;
    (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then_some((name, sha))
}

fn find_all(dir: &Path, name: &str) -> Result<Vec<ArchivedFile>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackupError::io("list", dir, e)),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        if let Some((n, sha)) = split_stored(&file) {
            if n == name {
                out.push(ArchivedFile {
                    name: n.into(),
                    sha256: sha.into(),
                    path: e.path(),
                });
            }
        }
    }
    Ok(out)
}

fn find(dir: &Path, name: &str) -> Result<Option<ArchivedFile>, BackupError> {
    Ok(find_all(dir, name)?.into_iter().next())
}

/// Switch to a new WAL segment and wait until the archiver has archived the one just closed
/// (SPEC section 6: a scan's restore point must be in the archive before the scan reports).
/// Returns the archived segment's name. Fails early when the archiver reports a failure for it.
pub fn switch_and_wait_archived(
    client: &mut postgres::Client,
    timeout: std::time::Duration,
) -> Result<String, BackupError> {
    let q = |e| crate::db::DbError::query("switching the WAL segment", e);
    let name: String = client
        .query_one("SELECT pg_walfile_name(pg_switch_wal())", &[])
        .map_err(q)?
        .get(0);
    let deadline = std::time::Instant::now() + timeout;
    let mut failures = 0;
    loop {
        let row = client
            .query_one(
                "SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, ''),
                        coalesce(last_failed_time > last_archived_time OR last_archived_time IS NULL, false),
                        current_setting('archive_mode')
                   FROM pg_stat_archiver",
                &[],
            )
            .map_err(|e| crate::db::DbError::query("reading pg_stat_archiver", e))?;
        let archived: String = row.get(0);
        let failed: String = row.get(1);
        let failing: bool = row.get(2);
        let mode: String = row.get(3);
        if mode == "off" {
            return Err(BackupError::Usage(
                "the server does not archive WAL (archive_mode=off): turn archiving on".into(),
            ));
        }
        if archived.len() >= 24 && archived[..24] >= *name {
            return Ok(name);
        }
        if failing && failed.len() >= 24 && failed[..24] <= *name {
            failures += 1;
            // The archiver retries three times a second apart: report only a lasting failure.
            if failures > 50 {
                return Err(BackupError::ToolFailed {
                    tool: "archive_command".into(),
                    output: format!(
                        "archiving {failed} keeps failing; see the server log for the command's error"
                    ),
                });
            }
        }
        if std::time::Instant::now() >= deadline {
            return Err(BackupError::ToolFailed {
                tool: "archive_command".into(),
                output: format!(
                    "segment {name} was not archived within {} s (last archived: {archived})",
                    timeout.as_secs()
                ),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Every archived file, by name.
pub fn index(repo: &Repo) -> Result<BTreeMap<String, ArchivedFile>, BackupError> {
    let root = repo.wal_dir();
    let mut out = BTreeMap::new();
    let folders = match std::fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(BackupError::io("list", &root, e)),
    };
    for folder in folders.flatten() {
        if !folder.path().is_dir() {
            continue;
        }
        let files = std::fs::read_dir(folder.path())
            .map_err(|e| BackupError::io("list", folder.path(), e))?;
        for e in files.flatten() {
            let file = e.file_name().to_string_lossy().to_string();
            if let Some((n, sha)) = split_stored(&file) {
                out.insert(
                    n.to_string(),
                    ArchivedFile {
                        name: n.into(),
                        sha256: sha.into(),
                        path: e.path(),
                    },
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(magic: u16, info: u16, pageaddr: u64, sysid: u64, seg: u32) -> Vec<u8> {
        let mut b = vec![0u8; 8192];
        b[0..2].copy_from_slice(&magic.to_le_bytes());
        b[2..4].copy_from_slice(&info.to_le_bytes());
        b[4..8].copy_from_slice(&1u32.to_le_bytes());
        b[8..16].copy_from_slice(&pageaddr.to_le_bytes());
        b[24..32].copy_from_slice(&sysid.to_le_bytes());
        b[32..36].copy_from_slice(&seg.to_le_bytes());
        b[36..40].copy_from_slice(&8192u32.to_le_bytes());
        b
    }

    #[test]
    fn long_header_is_read_and_checked() {
        let h = read_segment_header(&page(0xD110, 0x0002, 0x300_0000, 42, 16 << 20)).unwrap();
        assert_eq!(h.system_identifier, 42);
        assert_eq!(h.pageaddr, 0x300_0000);
        assert_eq!(h.seg_size, 16 << 20);
        assert!(read_segment_header(&page(0x1234, 0x0002, 0, 42, 16 << 20)).is_err());
        assert!(read_segment_header(&page(0xD110, 0x0000, 0, 42, 16 << 20)).is_err());
        assert!(read_segment_header(&page(0xD110, 0x0002, 0, 42, 12345)).is_err());
        assert!(read_segment_header(&[0u8; 10]).is_err());
    }

    #[test]
    fn push_stores_what_fetch_reads_back() {
        // Compressible, then incompressible (raw frames, a re-probe), then compressible again.
        let mut data = Vec::new();
        for i in 0..(3 * PUSH_CHUNK) {
            data.push((i / 64 % 7) as u8);
        }
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..((REPROBE_EVERY as usize + 3) * PUSH_CHUNK + 1234) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(x as u8);
        }
        data.extend(std::iter::repeat(b'w').take(2 * PUSH_CHUNK));
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        std::fs::write(&src_path, &data).unwrap();
        let tmp = dir.path().join("out.zst");
        let mut src = std::fs::File::open(&src_path).unwrap();
        let (sha, stored) = write_tmp(&mut src, &src_path, data.len() as u64, &tmp).unwrap();
        let raw = std::fs::read(&tmp).unwrap();
        assert_eq!(stored, raw.len() as u64);
        assert_eq!(zstd::decode_all(&raw[..]).unwrap(), data);
        assert_eq!(sha, sha256_hex(&data));
        assert!(raw.len() < data.len(), "the compressible parts shrink");
    }

    #[test]
    fn raw_frames_are_zstd() {
        for len in [
            1,
            ZSTD_BLOCK_MAX,
            ZSTD_BLOCK_MAX + 1,
            3 * ZSTD_BLOCK_MAX + 17,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut out = Vec::new();
            write_raw_frame(&mut out, &data, &mut Vec::new()).unwrap();
            write_raw_frame(&mut out, &data[..1], &mut Vec::new()).unwrap();
            let mut want = data.clone();
            want.push(data[0]);
            assert_eq!(zstd::decode_all(&out[..]).unwrap(), want, "len {len}");
        }
    }

    #[test]
    fn stored_names() {
        let sha = "a".repeat(64);
        assert_eq!(
            split_stored(&format!("000000010000000000000003-{sha}.zst")),
            Some(("000000010000000000000003", sha.as_str()))
        );
        assert_eq!(split_stored(".000000010000000000000003.77.tmp"), None);
        assert_eq!(split_stored("000000010000000000000003-abc.zst"), None);
    }
}
