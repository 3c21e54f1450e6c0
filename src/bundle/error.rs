//! Typed errors of the bundle module. [`VerifyError`] is everything a hostile or damaged bundle
//! can cause (exit 3 at the edge); [`BundleError`] adds the local failures (I/O, keys, inputs).

use std::io;
use std::path::PathBuf;

/// Why a bundle (or a DSSE envelope) was rejected. Every variant is a verification failure.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The archive is empty or its first entry is not the envelope.
    #[error("no envelope: {0}")]
    NoEnvelope(String),
    /// The envelope is not valid DSSE JSON.
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(String),
    /// The envelope's payloadType is not the expected one.
    #[error("envelope payloadType is {found:?}, expected {expected:?}")]
    PayloadType {
        /// What the envelope says.
        found: String,
        /// What the caller requires.
        expected: String,
    },
    /// No signature verifies with a trusted key.
    #[error("no valid signature by a trusted key (signed by: {})", if signers.is_empty() { "nobody".to_string() } else { signers.join(", ") })]
    Untrusted {
        /// Key ids named by the envelope's signatures.
        signers: Vec<String>,
    },
    /// The payload is not the expected in-toto Statement.
    #[error("invalid statement: {0}")]
    InvalidStatement(String),
    /// An entry path is absolute, has `..`, or lies outside `data/`.
    #[error("entry {entry:?}: unsafe path ({reason})")]
    UnsafePath {
        /// The path as found in the archive (lossy UTF-8).
        entry: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An entry is not a regular file.
    #[error("entry {entry:?}: {kind} entries are not allowed, regular files only")]
    NotRegular {
        /// The path as found in the archive.
        entry: String,
        /// What it is (symlink, hard link, ...).
        kind: String,
    },
    /// A path appears twice.
    #[error("entry {entry:?}: duplicate path")]
    Duplicate {
        /// The repeated path.
        entry: String,
    },
    /// An entry is not listed in the statement's subject.
    #[error("entry {entry:?}: not in the signed subject list")]
    NotInSubject {
        /// The unlisted path.
        entry: String,
    },
    /// A subject never appeared in the archive.
    #[error("subject {name:?}: missing from the archive")]
    MissingSubject {
        /// The missing subject name.
        name: String,
    },
    /// An entry's sha256 differs from its subject digest.
    #[error("entry {entry:?}: sha256 mismatch (signed {expected}, found {actual})")]
    DigestMismatch {
        /// The entry path.
        entry: String,
        /// Digest in the signed statement.
        expected: String,
        /// Digest of the bytes read.
        actual: String,
    },
    /// An entry is larger than the per-entry limit.
    #[error("entry {entry:?}: size {size} exceeds the per-entry limit of {limit} bytes")]
    EntryTooLarge {
        /// The entry path.
        entry: String,
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The entries together exceed the total limit.
    #[error("entry {entry:?}: total payload size exceeds the limit of {limit} bytes")]
    TotalTooLarge {
        /// The entry that crossed the limit.
        entry: String,
        /// The limit.
        limit: u64,
    },
    /// The envelope entry is larger than its limit.
    #[error("envelope is {size} bytes, over the limit of {limit}")]
    EnvelopeTooLarge {
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The compressed stream or the tar structure is truncated or corrupt.
    #[error("corrupt or truncated bundle{}: {detail}", match entry { Some(e) => format!(" at entry {e:?}"), None => String::new() })]
    Corrupt {
        /// The entry being read, if any.
        entry: Option<String>,
        /// What went wrong.
        detail: String,
    },
}

/// Any failure of the bundle module.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundle (or envelope) failed verification: exit 3.
    #[error("verification failed: {0}")]
    Verify(#[from] VerifyError),
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A key file is missing, malformed or of the wrong type.
    #[error("key {}: {msg}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A file that must not be overwritten already exists.
    #[error("{} already exists; refusing to overwrite it", .0.display())]
    Exists(PathBuf),
    /// An input to `bundle create` is not a regular file or folder.
    #[error("input {}: {what}; only regular files and folders can be bundled", path.display())]
    BadInput {
        /// The offending path.
        path: PathBuf,
        /// What it is.
        what: String,
    },
    /// Two inputs map to the same bundle path.
    #[error("duplicate bundle path {name:?}: from {} and {}", first.display(), second.display())]
    DuplicateInput {
        /// The bundle path.
        name: String,
        /// First input file.
        first: PathBuf,
        /// Second input file.
        second: PathBuf,
    },
    /// The caller's validation callback refused an input file.
    #[error("{}: not a valid {kind} document: {msg}", path.display())]
    Invalid {
        /// The input file.
        path: PathBuf,
        /// The bundle kind.
        kind: String,
        /// The validator's message.
        msg: String,
    },
    /// A bad option value (created time, kind, sequence, base, ...): exit 2.
    #[error("{0}")]
    Usage(String),
    /// Inputs that cannot make a valid bundle (over the size limits, ...).
    #[error("{0}")]
    Input(String),
    /// `trust remove` of a key id that is not in the store.
    #[error("key {0} is not in the trust store")]
    UnknownKey(String),
}

impl BundleError {
    /// True when this is a verification failure (SPEC exit code 3): the bundle or envelope is
    /// untrusted, tampered, unsafe, oversized, truncated or corrupt.
    pub fn is_verification_failure(&self) -> bool {
        matches!(self, BundleError::Verify(_))
    }

    /// Exit code per SPEC section 3: 3 for verification failures, 2 for usage errors, else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            BundleError::Verify(_) => 3,
            BundleError::Usage(_) => 2,
            _ => 1,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        BundleError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of the bundle module.
pub type Result<T, E = BundleError> = std::result::Result<T, E>;
