//! Deterministic bundle writer: plans the inputs, hashes each file once (streaming), signs the
//! statement, then writes a ustar archive (envelope first, entries sorted by path bytes, fixed
//! metadata) through zstd at a fixed level into a temp file that is fsynced and renamed.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use sha2::{Digest, Sha256};

use super::dsse::{Envelope, PAYLOAD_TYPE_INTOTO};
use super::error::{BundleError, Result};
use super::keys::PrivateKey;
use super::limits::Limits;
use super::path::{check_entry_path, ENVELOPE_NAME};
use super::statement::{
    is_sha256_hex, BundlePredicate, BundleStatement, Kind, Statement, Subject,
    BUNDLE_PREDICATE_TYPE, PRODUCER,
};
use super::trust::sync_dir;

/// The fixed zstd level of bundle files: 6 compresses JSON within a few percent of level 10 at a
/// fraction of its time (measured in docs/BENCHMARKS.md); changing it changes every bundle's bytes.
pub const ZSTD_LEVEL: i32 = 6;
/// The fixed zstd window (2^22 = 4 MiB), below the reader's limit.
pub const ZSTD_WINDOW_LOG: u32 = 22;
const CHUNK: usize = 64 * 1024;

/// A caller-supplied format check: `(kind, bundle path, file bytes)`; `Err(msg)` refuses the file.
pub type Validator<'a> = dyn Fn(Kind, &str, &[u8]) -> std::result::Result<(), String> + 'a;

/// What to bundle.
pub struct CreateOptions<'a> {
    /// Payload kind.
    pub kind: Kind,
    /// Source name (`osv-pypi`, ...).
    pub source: String,
    /// Files and folders. A file becomes `data/<file name>`; a folder's files become
    /// `data/<path relative to the folder>`.
    pub inputs: Vec<PathBuf>,
    /// The signing key.
    pub key: &'a PrivateKey,
    /// The bundle file to write (replaced atomically if it exists).
    pub out: PathBuf,
    /// `predicate.created`; `None` = [`default_created`] (SOURCE_DATE_EPOCH, else now).
    pub created: Option<DateTime<Utc>>,
    /// `predicate.tenant`.
    pub tenant: Option<String>,
    /// `predicate.sequence`.
    pub sequence: Option<u64>,
    /// `predicate.base` (sha256 hex of the base snapshot).
    pub base: Option<String>,
    /// Size limits the bundle must satisfy (so readers with these limits accept it).
    pub limits: Limits,
    /// Optional per-file format check.
    pub validate: Option<&'a Validator<'a>>,
}

impl<'a> CreateOptions<'a> {
    /// Options with defaults for everything optional.
    pub fn new(
        kind: Kind,
        source: impl Into<String>,
        key: &'a PrivateKey,
        out: impl Into<PathBuf>,
        inputs: Vec<PathBuf>,
    ) -> Self {
        CreateOptions {
            kind,
            source: source.into(),
            inputs,
            key,
            out: out.into(),
            created: None,
            tenant: None,
            sequence: None,
            base: None,
            limits: Limits::default(),
            validate: None,
        }
    }
}

/// What `create` wrote.
#[derive(Debug, Clone)]
pub struct CreatedBundle {
    /// The bundle file.
    pub path: PathBuf,
    /// sha256 of the bundle file's bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The signer's key id.
    pub keyid: String,
    /// The signed statement.
    pub statement: BundleStatement,
}

/// Parses a `--created` value: RFC3339 (any offset) or integer Unix seconds; truncated to seconds.
pub fn parse_created(s: &str) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return from_epoch(secs);
    }
    let dt = DateTime::parse_from_rfc3339(s).map_err(|e| {
        BundleError::Usage(format!(
            "created time {s:?} is not RFC3339 or Unix seconds: {e}"
        ))
    })?;
    from_epoch(dt.timestamp())
}

/// The default created time: `SOURCE_DATE_EPOCH` if set, else now, truncated to seconds.
pub fn default_created() -> Result<DateTime<Utc>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => {
            let secs = v.trim().parse::<i64>().map_err(|_| {
                BundleError::Usage(format!("SOURCE_DATE_EPOCH={v:?} is not an integer"))
            })?;
            from_epoch(secs)
        }
        _ => from_epoch(Utc::now().timestamp()),
    }
}

/// RFC3339 UTC with `Z`, seconds precision.
pub fn format_created(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn from_epoch(secs: i64) -> Result<DateTime<Utc>> {
    if !(0..=0o77777777777).contains(&secs) {
        return Err(BundleError::Usage(format!(
            "created time {secs} is out of range"
        )));
    }
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| BundleError::Usage(format!("created time {secs} is out of range")))
}

/// One input file and where it goes.
#[derive(Debug, Clone)]
struct Planned {
    name: String,
    path: PathBuf,
    size: u64,
    sha256: String,
}

/// Writes a signed, deterministic bundle.
pub fn create(opts: &CreateOptions<'_>) -> Result<CreatedBundle> {
    if opts.source.is_empty() {
        return Err(BundleError::Usage(
            "the source name must not be empty".into(),
        ));
    }
    if let Some(b) = &opts.base {
        if !is_sha256_hex(b) {
            return Err(BundleError::Usage(format!(
                "base {b:?} is not a lowercase sha256 hex digest"
            )));
        }
    }
    let created = match opts.created {
        Some(t) => from_epoch(t.timestamp())?,
        None => default_created()?,
    };
    let mut planned = plan_inputs(&opts.inputs)?;
    if planned.is_empty() {
        return Err(BundleError::Usage("no input files to bundle".into()));
    }

    // Pass 1: hash (and validate) every file, streaming unless the validator needs the bytes.
    let mut total: u64 = 0;
    for p in &mut planned {
        let (size, sha) = hash_input(p, opts)?;
        if size > opts.limits.max_entry {
            return Err(BundleError::Input(format!(
                "{}: {size} bytes is over the per-entry limit of {}",
                p.path.display(),
                opts.limits.max_entry
            )));
        }
        total = total.saturating_add(size);
        if total > opts.limits.max_total {
            return Err(BundleError::Input(format!(
                "inputs total over the limit of {} bytes",
                opts.limits.max_total
            )));
        }
        p.size = size;
        p.sha256 = sha;
    }

    let subjects = planned
        .iter()
        .map(|p| Subject::sha256(p.name.clone(), p.sha256.clone()))
        .collect();
    let statement: BundleStatement = Statement::new(
        subjects,
        BUNDLE_PREDICATE_TYPE,
        BundlePredicate {
            kind: opts.kind,
            source: opts.source.clone(),
            created: format_created(&created),
            tenant: opts.tenant.clone(),
            producer: PRODUCER.to_string(),
            sequence: opts.sequence,
            base: opts.base.clone(),
        },
    );
    let payload = statement
        .to_json()
        .map_err(|e| BundleError::Usage(format!("cannot serialize statement: {e}")))?;
    let envelope = Envelope::sign(PAYLOAD_TYPE_INTOTO, &payload, opts.key).to_json();
    if envelope.len() as u64 > opts.limits.max_envelope {
        return Err(BundleError::Input(format!(
            "the envelope would be {} bytes, over the limit of {}: split the inputs into several bundles",
            envelope.len(),
            opts.limits.max_envelope
        )));
    }

    // Pass 2: write the archive into a temp file next to the destination.
    let out = &opts.out;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".stella-bundle-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| BundleError::io(&dir, e))?;
    let tmp_path = tmp.path().to_path_buf();
    let io_err = |e: io::Error| BundleError::io(&tmp_path, e);
    let file = tmp.as_file().try_clone().map_err(io_err)?;
    let hashing = HashWriter {
        inner: BufWriter::with_capacity(CHUNK, file),
        hasher: Sha256::new(),
        count: 0,
    };
    let mut enc = zstd::stream::write::Encoder::new(hashing, ZSTD_LEVEL).map_err(io_err)?;
    enc.include_checksum(true).map_err(io_err)?;
    enc.window_log(ZSTD_WINDOW_LOG).map_err(io_err)?;
    enc.include_contentsize(false).map_err(io_err)?;
    enc.include_dictid(false).map_err(io_err)?;
    let mtime = created.timestamp() as u64;

    write_header(&mut enc, ENVELOPE_NAME, envelope.len() as u64, mtime).map_err(io_err)?;
    enc.write_all(&envelope).map_err(io_err)?;
    write_padding(&mut enc, envelope.len() as u64).map_err(io_err)?;
    for p in &planned {
        write_header(&mut enc, &p.name, p.size, mtime).map_err(io_err)?;
        copy_input(p, &mut enc)?;
        write_padding(&mut enc, p.size).map_err(io_err)?;
    }
    enc.write_all(&[0u8; 1024]).map_err(io_err)?;
    let hashing = enc.finish().map_err(io_err)?;
    let sha256 = hex::encode(hashing.hasher.finalize());
    let size = hashing.count;
    let file = hashing
        .inner
        .into_inner()
        .map_err(|e| io_err(e.into_error()))?;
    file.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    drop(file);
    tmp.persist(out)
        .map_err(|e| BundleError::io(out, e.error))?;
    sync_dir(&dir);
    Ok(CreatedBundle {
        path: out.clone(),
        sha256,
        size,
        keyid: opts.key.keyid().to_string(),
        statement,
    })
}

/// Maps inputs to bundle paths, sorted by path bytes; refuses symlinks, special files,
/// non-UTF-8 names and duplicates.
fn plan_inputs(inputs: &[PathBuf]) -> Result<Vec<Planned>> {
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut add = |name: String, path: PathBuf| -> Result<()> {
        check_entry_path(name.as_bytes()).map_err(|why| BundleError::BadInput {
            path: path.clone(),
            what: format!("its bundle path {name:?} is not usable ({why})"),
        })?;
        if let Some(first) = by_name.get(&name) {
            return Err(BundleError::DuplicateInput {
                name,
                first: first.clone(),
                second: path,
            });
        }
        by_name.insert(name, path);
        Ok(())
    };
    for input in inputs {
        let meta = fs::symlink_metadata(input).map_err(|e| BundleError::io(input, e))?;
        let ft = meta.file_type();
        if ft.is_file() {
            let name = input
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| bad_input(input, "its name is not UTF-8"))?;
            add(format!("data/{name}"), input.clone())?;
        } else if ft.is_dir() {
            for entry in walkdir::WalkDir::new(input)
                .follow_links(false)
                .min_depth(1)
            {
                let entry = entry.map_err(|e| {
                    let path = e.path().unwrap_or(input).to_path_buf();
                    BundleError::io(path, e.into())
                })?;
                let ft = entry.file_type();
                if ft.is_dir() {
                    continue;
                }
                if !ft.is_file() {
                    return Err(bad_input(entry.path(), describe(&ft)));
                }
                let rel = entry
                    .path()
                    .strip_prefix(input)
                    .map_err(|_| bad_input(entry.path(), "outside its folder"))?;
                let mut parts = Vec::new();
                for c in rel.components() {
                    let s = c
                        .as_os_str()
                        .to_str()
                        .ok_or_else(|| bad_input(entry.path(), "its name is not UTF-8"))?;
                    parts.push(s);
                }
                add(
                    format!("data/{}", parts.join("/")),
                    entry.path().to_path_buf(),
                )?;
            }
        } else {
            return Err(bad_input(input, describe(&ft)));
        }
    }
    // BTreeMap<String> iterates in byte order of the UTF-8 names.
    Ok(by_name
        .into_iter()
        .map(|(name, path)| Planned {
            name,
            path,
            size: 0,
            sha256: String::new(),
        })
        .collect())
}

fn bad_input(path: &Path, what: &str) -> BundleError {
    BundleError::BadInput {
        path: path.to_path_buf(),
        what: what.to_string(),
    }
}

fn describe(ft: &fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_fifo() {
        "a fifo"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Opens an input without following a symlink swapped in since planning.
fn open_input(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| BundleError::io(path, e))?;
    let meta = f.metadata().map_err(|e| BundleError::io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(bad_input(path, describe(&meta.file_type())));
    }
    Ok(f)
}

/// Pass 1: size and sha256 of one input; runs the validator on its bytes when there is one.
fn hash_input(p: &Planned, opts: &CreateOptions<'_>) -> Result<(u64, String)> {
    let mut f = open_input(&p.path)?;
    if let Some(validate) = opts.validate {
        // The validator needs the whole document (it parses it); only one file is held at a time.
        let len = f.metadata().map_err(|e| BundleError::io(&p.path, e))?.len();
        if len > opts.limits.max_entry {
            return Err(BundleError::Input(format!(
                "{}: {len} bytes is over the per-entry limit of {}",
                p.path.display(),
                opts.limits.max_entry
            )));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        f.read_to_end(&mut bytes)
            .map_err(|e| BundleError::io(&p.path, e))?;
        validate(opts.kind, &p.name, &bytes).map_err(|msg| BundleError::Invalid {
            path: p.path.clone(),
            kind: opts.kind.to_string(),
            msg,
        })?;
        return Ok((bytes.len() as u64, hex::encode(Sha256::digest(&bytes))));
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BundleError::io(&p.path, e)),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Pass 2: streams one input into the archive, checking it still has the size and digest that
/// were signed.
fn copy_input<W: Write>(p: &Planned, w: &mut W) -> Result<()> {
    let f = open_input(&p.path)?;
    let mut r = f.take(p.size + 1);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BundleError::io(&p.path, e)),
        };
        size += n as u64;
        if size > p.size {
            break;
        }
        hasher.update(&buf[..n]);
        w.write_all(&buf[..n])
            .map_err(|e| BundleError::io(&p.path, e))?;
    }
    if size != p.size || hex::encode(hasher.finalize()) != p.sha256 {
        return Err(BundleError::io(
            &p.path,
            io::Error::other("the file changed while the bundle was being written"),
        ));
    }
    Ok(())
}

/// Writes the ustar header of a regular file (preceded by a pax `path` header when the path does
/// not fit ustar's name/prefix fields).
pub(crate) fn write_header<W: Write>(
    w: &mut W,
    name: &str,
    size: u64,
    mtime: u64,
) -> io::Result<()> {
    let mut h = fixed_header(size, mtime, tar::EntryType::Regular);
    if name.len() > 255 || h.set_path(name).is_err() || h.path_bytes().as_ref() != name.as_bytes() {
        let short = hex::encode(Sha256::digest(name.as_bytes()));
        let record = pax_record("path", name);
        let mut ph = fixed_header(record.len() as u64, mtime, tar::EntryType::XHeader);
        ph.set_path(format!("PaxHeaders/{}", &short[..32]))?;
        ph.set_cksum();
        w.write_all(ph.as_bytes())?;
        w.write_all(&record)?;
        write_padding(w, record.len() as u64)?;
        h = fixed_header(size, mtime, tar::EntryType::Regular);
        h.set_path(format!("data/@LongPath/{}", &short[..32]))?;
    }
    h.set_cksum();
    w.write_all(h.as_bytes())
}

fn fixed_header(size: u64, mtime: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(kind);
    h
}

/// A pax record `"<len> key=value\n"` whose length counts itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

pub(crate) fn write_padding<W: Write>(w: &mut W, size: u64) -> io::Result<()> {
    let rem = (size % 512) as usize;
    if rem != 0 {
        w.write_all(&[0u8; 512][..512 - rem])?;
    }
    Ok(())
}

/// Hashes and counts what goes through it (the bundle file, or one entry's body); used by the
/// snapshot writer too.
pub(crate) struct HashWriter<W> {
    pub(crate) inner: W,
    pub(crate) hasher: Sha256,
    pub(crate) count: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
