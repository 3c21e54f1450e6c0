//! Progress reporting injected into long operations: the core sees this trait; the CLI picks a
//! bar on a terminal and nothing otherwise (and nothing with `--json` or `--quiet`).

/// Receives progress of one operation.
pub trait Progress: Sync {
    /// The amount of work ahead (bytes, documents, ...), when known.
    fn start(&self, _what: &str, _total: Option<u64>) {}
    /// `n` more units done.
    fn advance(&self, _n: u64) {}
    /// The operation ended (successfully or not).
    fn finish(&self) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {}
