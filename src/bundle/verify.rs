//! Streaming verification in one pass over the zstd stream, with bounded memory: the envelope
//! (first entry, size-limited) is checked against the trust set before any payload byte is
//! consumed; then each entry is checked (regular file, safe path, in subject, not duplicated,
//! within limits) and hashed while it streams into a [`Sink`]. Also `inspect`, which lists a
//! bundle without trusting it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::dsse::{Envelope, PAYLOAD_TYPE_INTOTO};
use super::error::{BundleError, Result, VerifyError};
use super::limits::{Limits, MAX_TRAILING_ZEROS, ZSTD_WINDOW_LOG_MAX};
use super::path::{check_entry_path, ENVELOPE_NAME};
use super::statement::{parse_bundle_statement, BundlePredicate, BundleStatement};
use super::trust::TrustSet;

const CHUNK: usize = 64 * 1024;
const MAX_PAX: u64 = 64 * 1024;

/// Where verified-in-progress entry bytes go. Entries are only fed after the envelope's
/// signature was accepted, and only for entries listed in the signed subject; but an entry's
/// digest is known only at its end, so a sink must be able to throw everything away
/// ([`Sink::abort`]) when verification fails later.
pub trait Sink {
    /// An entry starts (`name` is a checked `data/...` path, `size` its exact length).
    fn begin(&mut self, name: &str, size: u64) -> io::Result<()>;
    /// The next chunk of the current entry.
    fn write(&mut self, chunk: &[u8]) -> io::Result<()>;
    /// The current entry is complete (and its digest matched). Returns where it was stored.
    fn end(&mut self) -> io::Result<Option<PathBuf>>;
    /// Verification failed: remove everything this sink stored.
    fn abort(&mut self);
}

/// A sink that keeps nothing (`verify`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl Sink for Discard {
    fn begin(&mut self, _: &str, _: u64) -> io::Result<()> {
        Ok(())
    }
    fn write(&mut self, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn end(&mut self) -> io::Result<Option<PathBuf>> {
        Ok(None)
    }
    fn abort(&mut self) {}
}

/// A sink that spools each entry into a caller-given folder as `entry-NNNNNN` (never a name taken
/// from the archive), for `import`. On failure every spooled file is removed.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    current: Option<(io::BufWriter<File>, PathBuf)>,
    written: Vec<PathBuf>,
}

impl Spool {
    /// Spools into `dir`, which must exist (typically a fresh temp folder).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Spool {
            dir: dir.into(),
            current: None,
            written: Vec::new(),
        }
    }

    /// The files spooled so far.
    pub fn files(&self) -> &[PathBuf] {
        &self.written
    }
}

impl Sink for Spool {
    fn begin(&mut self, _name: &str, _size: u64) -> io::Result<()> {
        let path = self
            .dir
            .join(format!("entry-{:06}", self.written.len() + 1));
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        self.written.push(path.clone());
        self.current = Some((io::BufWriter::with_capacity(CHUNK, f), path));
        Ok(())
    }
    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        match &mut self.current {
            Some((w, _)) => w.write_all(chunk),
            None => Err(io::Error::other("spool: write outside an entry")),
        }
    }
    fn end(&mut self) -> io::Result<Option<PathBuf>> {
        match self.current.take() {
            Some((w, path)) => {
                // No fsync: the spool is scratch space for one import; after a crash the import
                // starts over from the bundle file.
                w.into_inner().map_err(|e| e.into_error())?;
                Ok(Some(path))
            }
            None => Ok(None),
        }
    }
    fn abort(&mut self) {
        self.current = None;
        for p in self.written.drain(..) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Typestate: an opened bundle whose content must not be used yet.
pub struct Unverified {
    reader: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Unverified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unverified")
    }
}

/// Typestate: a bundle that passed verification.
#[derive(Debug, Clone)]
pub struct Verified {
    statement: BundleStatement,
    payload: Vec<u8>,
    envelope: Vec<u8>,
    keyid: String,
    sha256: String,
    size: u64,
    entries: Vec<PayloadEntry>,
}

/// A verified payload entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadEntry {
    /// Its path in the archive, `data/...`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256 hex (equal to the signed subject digest).
    pub sha256: String,
    /// Where the sink stored it, if it did.
    pub spooled: Option<PathBuf>,
}

/// A bundle file, in state `S`. Only `Bundle<Verified>` exposes the statement and entries:
///
/// ```compile_fail
/// let b = stella_bundle::bundle::Bundle::open("x.tar.zst").unwrap();
/// let _ = b.statement(); // an unverified bundle has no statement
/// ```
#[derive(Debug)]
pub struct Bundle<S> {
    path: PathBuf,
    state: S,
}

impl<S> Bundle<S> {
    /// The bundle file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Bundle<Unverified> {
    /// Opens a bundle file for verification.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let file = File::open(&path).map_err(|e| BundleError::io(&path, e))?;
        Ok(Bundle {
            path,
            state: Unverified {
                reader: Box::new(file),
            },
        })
    }

    /// A bundle read from any byte stream (stdin, a pipe, a fuzzer); `name` is used in errors.
    pub fn from_reader(name: impl Into<PathBuf>, reader: impl Read + Send + 'static) -> Self {
        Bundle {
            path: name.into(),
            state: Unverified {
                reader: Box::new(reader),
            },
        }
    }

    /// Verifies the whole bundle in one pass, feeding payload entries to `sink`. On any failure
    /// the sink is aborted (nothing it stored remains) and the error says what and where.
    pub fn verify(
        self,
        trust: &TrustSet,
        limits: &Limits,
        sink: &mut dyn Sink,
    ) -> Result<Bundle<Verified>> {
        let path = self.path;
        match verify_stream(self.state.reader, &path, trust, limits, sink) {
            Ok(state) => Ok(Bundle { path, state }),
            Err(e) => {
                sink.abort();
                Err(e)
            }
        }
    }
}

impl Bundle<Verified> {
    /// The signed statement.
    pub fn statement(&self) -> &BundleStatement {
        &self.state.statement
    }
    /// The signed predicate.
    pub fn predicate(&self) -> &BundlePredicate {
        &self.state.statement.predicate
    }
    /// The exact signed payload bytes (statement JSON).
    pub fn payload(&self) -> &[u8] {
        &self.state.payload
    }
    /// The envelope bytes as found in the bundle.
    pub fn envelope(&self) -> &[u8] {
        &self.state.envelope
    }
    /// Key id of the trusted key whose signature verified.
    pub fn keyid(&self) -> &str {
        &self.state.keyid
    }
    /// sha256 of the bundle file's bytes.
    pub fn sha256(&self) -> &str {
        &self.state.sha256
    }
    /// Size of the bundle file in bytes.
    pub fn size(&self) -> u64 {
        self.state.size
    }
    /// The payload entries, in archive order.
    pub fn entries(&self) -> &[PayloadEntry] {
        &self.state.entries
    }
}

/// Opens and verifies `path`, keeping nothing (`verify` command).
pub fn verify_file(path: &Path, trust: &TrustSet, limits: &Limits) -> Result<Bundle<Verified>> {
    Bundle::open(path)?.verify(trust, limits, &mut Discard)
}

/// Hashes and counts the compressed bytes as they are read.
struct HashReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

type Source = Box<dyn Read + Send>;
type Decoder<'a> = zstd::stream::read::Decoder<'a, BufReader<HashReader<Source>>>;

fn corrupt(entry: Option<&str>, e: impl std::fmt::Display) -> BundleError {
    BundleError::Verify(VerifyError::Corrupt {
        entry: entry.map(str::to_string),
        detail: e.to_string(),
    })
}

fn open_decoder(file: Source) -> Result<Decoder<'static>> {
    let hr = HashReader {
        inner: file,
        hasher: Sha256::new(),
        count: 0,
    };
    let mut dec = zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(CHUNK, hr))
        .map_err(|e| corrupt(None, e))?
        .single_frame();
    dec.window_log_max(ZSTD_WINDOW_LOG_MAX)
        .map_err(|e| corrupt(None, e))?;
    Ok(dec)
}

/// One logical archive entry (pax path applied).
struct RawEntry {
    index: usize,
    path: Vec<u8>,
    kind: tar::EntryType,
    size: u64,
}

impl RawEntry {
    fn lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

fn kind_name(k: tar::EntryType) -> String {
    match k {
        tar::EntryType::Regular => "regular file".into(),
        tar::EntryType::Link => "hard link".into(),
        tar::EntryType::Symlink => "symlink".into(),
        tar::EntryType::Char => "character device".into(),
        tar::EntryType::Block => "block device".into(),
        tar::EntryType::Directory => "directory".into(),
        tar::EntryType::Fifo => "fifo".into(),
        tar::EntryType::Continuous => "contiguous file".into(),
        tar::EntryType::XGlobalHeader => "pax global header".into(),
        tar::EntryType::GNULongName | tar::EntryType::GNULongLink => "GNU long name".into(),
        tar::EntryType::GNUSparse => "GNU sparse file".into(),
        other => format!("type {:?}", other.as_byte() as char),
    }
}

/// Walks the archive's raw headers (no GNU extensions, pax `path` only), calling `f` for each
/// logical entry with a reader limited to its data.
fn for_each_entry<R: Read>(
    archive: &mut tar::Archive<R>,
    mut f: impl FnMut(&RawEntry, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    let entries = archive.entries().map_err(|e| corrupt(None, e))?.raw(true);
    let mut pax_path: Option<Vec<u8>> = None;
    let mut index = 0usize;
    let mut last: Option<String> = None;
    for e in entries {
        let mut e = e.map_err(|e| corrupt(last.as_deref(), format!("after this entry: {e}")))?;
        let kind = e.header().entry_type();
        let size = e.header().entry_size().map_err(|err| corrupt(None, err))?;
        if kind == tar::EntryType::XHeader {
            if pax_path.is_some() || size > MAX_PAX {
                return Err(corrupt(
                    last.as_deref(),
                    "unexpected or oversized pax header",
                ));
            }
            let mut data = Vec::new();
            e.by_ref()
                .take(MAX_PAX)
                .read_to_end(&mut data)
                .map_err(|err| corrupt(None, err))?;
            pax_path = Some(parse_pax_path(&data).map_err(|d| corrupt(last.as_deref(), d))?);
            continue;
        }
        let path = match pax_path.take() {
            Some(p) => p,
            None => e.header().path_bytes().into_owned(),
        };
        let raw = RawEntry {
            index,
            path,
            kind,
            size,
        };
        index += 1;
        last = Some(raw.lossy());
        f(&raw, &mut e)?;
    }
    if pax_path.is_some() {
        return Err(corrupt(None, "pax header at the end of the archive"));
    }
    Ok(())
}

/// Parses pax records, accepting only `path`.
fn parse_pax_path(mut data: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut path = None;
    while !data.is_empty() {
        let sp = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("malformed pax record")?;
        let len: usize = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("malformed pax record length")?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err("malformed pax record".into());
        }
        let rec = &data[sp + 1..len - 1];
        let eq = rec
            .iter()
            .position(|&b| b == b'=')
            .ok_or("malformed pax record")?;
        let (key, value) = (&rec[..eq], &rec[eq + 1..]);
        if key != b"path" {
            return Err(format!(
                "unsupported pax record {:?}",
                String::from_utf8_lossy(key)
            ));
        }
        path = Some(value.to_vec());
        data = &data[len..];
    }
    path.ok_or_else(|| "pax header without a path".to_string())
}

/// Reads the first entry, which must be the envelope, within the limit.
fn read_envelope(raw: &RawEntry, r: &mut dyn Read, limits: &Limits) -> Result<Vec<u8>> {
    if raw.path != ENVELOPE_NAME.as_bytes() || raw.kind != tar::EntryType::Regular {
        return Err(VerifyError::NoEnvelope(format!(
            "first entry is {:?} ({}), expected {ENVELOPE_NAME}",
            raw.lossy(),
            kind_name(raw.kind)
        ))
        .into());
    }
    if raw.size > limits.max_envelope {
        return Err(VerifyError::EnvelopeTooLarge {
            size: raw.size,
            limit: limits.max_envelope,
        }
        .into());
    }
    let mut buf = Vec::with_capacity(raw.size as usize);
    r.take(limits.max_envelope)
        .read_to_end(&mut buf)
        .map_err(|e| corrupt(Some(ENVELOPE_NAME), e))?;
    if buf.len() as u64 != raw.size {
        return Err(corrupt(Some(ENVELOPE_NAME), "short entry"));
    }
    Ok(buf)
}

/// Checks a payload entry's type and path; returns the path as a str.
fn check_entry(raw: &RawEntry) -> std::result::Result<String, VerifyError> {
    if raw.path == ENVELOPE_NAME.as_bytes() {
        return Err(VerifyError::Duplicate { entry: raw.lossy() });
    }
    let name = check_entry_path(&raw.path).map_err(|reason| VerifyError::UnsafePath {
        entry: raw.lossy(),
        reason,
    })?;
    if raw.kind != tar::EntryType::Regular {
        return Err(VerifyError::NotRegular {
            entry: raw.lossy(),
            kind: kind_name(raw.kind),
        });
    }
    Ok(name.to_string())
}

/// After the tar end marker: only zero padding may remain, then the zstd frame must end (its
/// checksum is checked by the decoder) and no bytes may follow it.
fn finish_stream(mut dec: Decoder<'static>) -> Result<(String, u64)> {
    let mut buf = vec![0u8; CHUNK];
    let mut seen = 0u64;
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(None, e)),
        };
        seen += n as u64;
        if seen > MAX_TRAILING_ZEROS || buf[..n].iter().any(|&b| b != 0) {
            return Err(corrupt(None, "data after the end of the archive"));
        }
    }
    let mut br = dec.finish();
    let mut one = [0u8; 1];
    match br.read(&mut one) {
        Ok(0) => {}
        Ok(_) => return Err(corrupt(None, "bytes after the end of the zstd frame")),
        Err(e) => return Err(corrupt(None, e)),
    }
    let hr = br.into_inner();
    Ok((hex::encode(hr.hasher.finalize()), hr.count))
}

struct SubjectState {
    sha256: String,
    seen: bool,
}

fn verify_stream(
    file: Source,
    path: &Path,
    trust: &TrustSet,
    limits: &Limits,
    sink: &mut dyn Sink,
) -> Result<Verified> {
    let dec = open_decoder(file)?;
    let mut archive = tar::Archive::new(dec);
    let mut header: Option<(Vec<u8>, Vec<u8>, String, BundleStatement)> = None;
    let mut subjects: BTreeMap<String, SubjectState> = BTreeMap::new();
    let mut entries: Vec<PayloadEntry> = Vec::new();
    let mut total: u64 = 0;
    let mut buf = vec![0u8; CHUNK];

    for_each_entry(&mut archive, |raw, r| {
        if raw.index == 0 {
            let env_bytes = read_envelope(raw, r, limits)?;
            let env = Envelope::parse(&env_bytes)?;
            let verified = env.verify(PAYLOAD_TYPE_INTOTO, trust)?;
            let st = parse_bundle_statement(&verified.payload)?;
            for s in &st.subject {
                subjects.insert(
                    s.name.clone(),
                    SubjectState {
                        sha256: s.sha256_hex().unwrap_or_default().to_string(),
                        seen: false,
                    },
                );
            }
            header = Some((env_bytes, verified.payload, verified.keyid, st));
            return Ok(());
        }
        let name = check_entry(raw)?;
        let Some(state) = subjects.get_mut(&name) else {
            return Err(VerifyError::NotInSubject { entry: name }.into());
        };
        if state.seen {
            return Err(VerifyError::Duplicate { entry: name }.into());
        }
        state.seen = true;
        if raw.size > limits.max_entry {
            return Err(VerifyError::EntryTooLarge {
                entry: name,
                size: raw.size,
                limit: limits.max_entry,
            }
            .into());
        }
        total = total.saturating_add(raw.size);
        if total > limits.max_total {
            return Err(VerifyError::TotalTooLarge {
                entry: name,
                limit: limits.max_total,
            }
            .into());
        }
        sink.begin(&name, raw.size)
            .map_err(|e| BundleError::io(path, e))?;
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        let mut limited = r.take(raw.size);
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(corrupt(Some(&name), e)),
            };
            got += n as u64;
            hasher.update(&buf[..n]);
            sink.write(&buf[..n])
                .map_err(|e| BundleError::io(path, e))?;
        }
        if got != raw.size {
            return Err(corrupt(
                Some(&name),
                format!("entry ends after {got} of {} bytes", raw.size),
            ));
        }
        let actual = hex::encode(hasher.finalize());
        if actual != state.sha256 {
            return Err(VerifyError::DigestMismatch {
                entry: name,
                expected: state.sha256.clone(),
                actual,
            }
            .into());
        }
        let spooled = sink.end().map_err(|e| BundleError::io(path, e))?;
        entries.push(PayloadEntry {
            name,
            size: raw.size,
            sha256: actual,
            spooled,
        });
        Ok(())
    })?;

    let Some((envelope, payload, keyid, statement)) = header else {
        return Err(VerifyError::NoEnvelope("the archive is empty".into()).into());
    };
    if let Some((name, _)) = subjects.iter().find(|(_, s)| !s.seen) {
        return Err(VerifyError::MissingSubject { name: name.clone() }.into());
    }
    let (sha256, size) = finish_stream(archive.into_inner())?;
    Ok(Verified {
        statement,
        payload,
        envelope,
        keyid,
        sha256,
        size,
        entries,
    })
}

/// One archive entry as listed by [`inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectedEntry {
    /// Path (lossy UTF-8).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Entry type (`regular file`, `symlink`, ...).
    pub kind: String,
}

/// A signature of the envelope as seen by [`inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerInfo {
    /// The key id it names.
    pub keyid: String,
    /// True when it verifies with a key of the given trust set.
    pub trusted: bool,
}

/// What [`inspect`] reports. Nothing here is verified unless a signer says `trusted`.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The envelope's payloadType.
    pub payload_type: String,
    /// The statement, parsed from the (unverified) payload, if it parses.
    pub statement: Option<BundleStatement>,
    /// Why the statement did not parse, if it did not.
    pub statement_error: Option<String>,
    /// The signatures.
    pub signers: Vec<SignerInfo>,
    /// Every entry after the envelope, in archive order.
    pub entries: Vec<InspectedEntry>,
}

/// Lists a bundle without requiring trust: statement, signers (and whether `trust` accepts
/// them), entries and sizes. Entry data is skipped, not hashed.
pub fn inspect(path: &Path, trust: Option<&TrustSet>, limits: &Limits) -> Result<Inspection> {
    let file = File::open(path).map_err(|e| BundleError::io(path, e))?;
    inspect_reader(Box::new(file), trust, limits)
}

/// [`inspect`] over any byte stream.
pub fn inspect_reader(
    reader: Box<dyn Read + Send>,
    trust: Option<&TrustSet>,
    limits: &Limits,
) -> Result<Inspection> {
    let mut archive = tar::Archive::new(open_decoder(reader)?);
    let mut out: Option<Inspection> = None;
    let empty = TrustSet::new();
    let trust = trust.unwrap_or(&empty);
    for_each_entry(&mut archive, |raw, r| {
        if raw.index == 0 {
            let bytes = read_envelope(raw, r, limits)?;
            let env = Envelope::parse(&bytes)?;
            let valid = env.valid_trusted_signers(trust);
            let (statement, statement_error) =
                match env.payload_bytes().and_then(|p| parse_bundle_statement(&p)) {
                    Ok(s) => (Some(s), None),
                    Err(e) => (None, Some(e.to_string())),
                };
            out = Some(Inspection {
                payload_type: env.payload_type.clone(),
                statement,
                statement_error,
                signers: env
                    .signatures
                    .iter()
                    .map(|s| SignerInfo {
                        keyid: s.keyid.clone(),
                        trusted: valid.contains(&s.keyid),
                    })
                    .collect(),
                entries: Vec::new(),
            });
        } else if let Some(ins) = out.as_mut() {
            ins.entries.push(InspectedEntry {
                name: raw.lossy(),
                size: raw.size,
                kind: kind_name(raw.kind),
            });
        }
        Ok(())
    })?;
    out.ok_or_else(|| VerifyError::NoEnvelope("the archive is empty".into()).into())
}
