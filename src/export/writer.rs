//! The streaming variant of `bundle::create` for snapshots: the same v1 archive (envelope first,
//! entries sorted by path bytes, fixed ustar metadata, zstd with a fixed window; here at zstd's
//! default level and with a fixed number of worker threads), but
//! entry bodies come from a callback that streams them from the database one at a time, so memory
//! stays bounded whatever the tenant's size. Each body is checked against the size and digest that
//! were signed before it is accepted.

use super::error::ExportError;
use crate::bundle::create::{write_header, write_padding, HashWriter, ZSTD_WINDOW_LOG};
use crate::bundle::path::ENVELOPE_NAME;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The fixed zstd level of snapshots: zstd's default. Compression is most of an export's CPU
/// time, and an export runs at every sync; against `bundle create`'s level 6 it halves that time
/// for about 6 % more bytes (measured on the import benchmark's dataset, docs/BENCHMARKS.md).
const ZSTD_LEVEL: i32 = 3;
/// zstd worker threads of a snapshot export (fixed: part of what makes the output deterministic).
const ZSTD_WORKERS: u32 = 2;
/// Bytes per zstd job: zstd's default for this window (16 MiB) held ~80 MiB more in flight for
/// no measurable gain in size or speed.
const ZSTD_JOB_SIZE: u32 = 2 << 20;

/// Where an entry's bytes come from.
pub(crate) enum Body<S> {
    /// Built in memory (the index, VERIFY.txt).
    Inline(Vec<u8>),
    /// Streamed by the caller's callback, in entry order, from the source it names.
    Stream(S),
}

/// One entry, planned before anything is written (its digest is signed first).
pub(crate) struct Planned<S> {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub body: Body<S>,
}

/// What was written.
pub(crate) struct Written {
    pub sha256: String,
    pub size: u64,
}

/// Writes the archive to a temp file next to `out`, then fsyncs and renames it into place.
/// `planned` must be sorted by name bytes; `stream` is called with the index and source of every
/// `Body::Stream` entry in that order and must write exactly that entry's bytes.
pub(crate) fn write_bundle<S, F>(
    out: &Path,
    envelope: Vec<u8>,
    planned: &[Planned<S>],
    mtime: u64,
    mut stream: F,
) -> Result<Written, ExportError>
where
    F: FnMut(usize, &S, &mut dyn Write) -> Result<(), ExportError>,
{
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io_at = |path: &Path, action: &'static str| {
        let path = path.to_path_buf();
        move |source: io::Error| ExportError::Io {
            action,
            path: path.clone(),
            source,
        }
    };
    let tmp = tempfile::Builder::new()
        .prefix(".stella-export-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io_at(&dir, "create a temp file in"))?;
    let tmp_path = tmp.path().to_path_buf();
    let w_err = io_at(&tmp_path, "write");
    let file = tmp.as_file().try_clone().map_err(&w_err)?;
    let hashing = HashWriter {
        inner: BufWriter::with_capacity(1 << 16, file),
        hasher: Sha256::new(),
        count: 0,
    };
    let mut enc = zstd::stream::write::Encoder::new(hashing, ZSTD_LEVEL).map_err(&w_err)?;
    // Compression is most of an export's CPU time; zstd's workers compress while this thread
    // reads, checks and frames the documents. The count is a constant, not the machine's core
    // count, so the bytes never depend on the host.
    enc.multithread(ZSTD_WORKERS).map_err(&w_err)?;
    enc.set_parameter(zstd::zstd_safe::CParameter::JobSize(ZSTD_JOB_SIZE))
        .map_err(&w_err)?;
    enc.include_checksum(true).map_err(&w_err)?;
    enc.window_log(ZSTD_WINDOW_LOG).map_err(&w_err)?;
    enc.include_contentsize(false).map_err(&w_err)?;
    enc.include_dictid(false).map_err(&w_err)?;

    write_header(&mut enc, ENVELOPE_NAME, envelope.len() as u64, mtime).map_err(&w_err)?;
    enc.write_all(&envelope).map_err(&w_err)?;
    write_padding(&mut enc, envelope.len() as u64).map_err(&w_err)?;
    // Written first and never needed again: freed before the bodies stream through.
    drop(envelope);
    for (i, p) in planned.iter().enumerate() {
        write_header(&mut enc, &p.name, p.size, mtime).map_err(&w_err)?;
        match &p.body {
            Body::Inline(bytes) => enc.write_all(bytes).map_err(&w_err)?,
            Body::Stream(source) => {
                let mut check = HashWriter {
                    inner: &mut enc,
                    hasher: Sha256::new(),
                    count: 0,
                };
                stream(i, source, &mut check)?;
                let (count, digest) = (check.count, hex::encode(check.hasher.finalize()));
                if count != p.size || digest != p.sha256 {
                    return Err(ExportError::Inconsistent {
                        out: out.to_path_buf(),
                        message: format!(
                            "entry {} streamed {count} bytes with sha256 {digest}, but {} bytes with \
                             sha256 {} were planned",
                            p.name, p.size, p.sha256
                        ),
                    });
                }
            }
        }
        write_padding(&mut enc, p.size).map_err(&w_err)?;
    }
    enc.write_all(&[0u8; 1024]).map_err(&w_err)?;
    let hashing = enc.finish().map_err(&w_err)?;
    let sha256 = hex::encode(hashing.hasher.finalize());
    let size = hashing.count;
    let file = hashing
        .inner
        .into_inner()
        .map_err(|e| w_err(e.into_error()))?;
    // Fixed mode whatever the umask.
    file.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(&w_err)?;
    file.sync_all().map_err(&w_err)?;
    drop(file);
    tmp.persist(out)
        .map_err(|e| io_at(out, "rename the snapshot into")(e.error))?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(Written { sha256, size })
}
