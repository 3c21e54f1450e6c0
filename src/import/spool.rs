//! The import's scratch copy of a bundle's entries: ONE file per import, each entry appended and
//! remembered by name as a byte range. One file per entry cost more than parsing them: creating
//! and removing 50,000 small files took longer than importing their records.

use crate::bundle::Sink;
use nix::fcntl::{Flock, FlockArg};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Where one entry's bytes are in the spool file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub offset: u64,
    pub len: u64,
}

/// The prefix of an import's private spool folder in the temp folder.
pub(crate) const SPOOL_PREFIX: &str = "stella-import-";

/// A spool folder this old whose file nobody holds belongs to an import that died (`kill -9`,
/// power loss); younger ones may be an import between creating its file and locking it.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// A [`Sink`] appending every entry to one file. The file is `flock`ed for as long as the
/// import runs, so a later import can tell a dead import's leftovers from a live one's.
pub(crate) struct SpoolFile {
    path: PathBuf,
    out: BufWriter<File>,
    _held: Flock<File>,
    /// Bytes written so far (the next entry's offset).
    end: u64,
    current: Option<(String, u64)>,
    ranges: HashMap<String, Range>,
}

/// Remove the spool folders of imports that died in `tmp` (their file is older than a minute
/// and nobody holds its lock); returns the folders removed. Best effort: a folder that cannot be
/// read or removed is left as it is.
pub(crate) fn sweep_stale(tmp: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(dir) = std::fs::read_dir(tmp) else {
        return removed;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        let is_spool = entry
            .file_name()
            .to_string_lossy()
            .starts_with(SPOOL_PREFIX)
            && entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_spool {
            continue;
        }
        let old = |p: &Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= STALE_AFTER)
        };
        let file = path.join("entries");
        let dead = match File::open(&file) {
            // Held while we look: removed under our own lock, so no import can take it over.
            Ok(f) if old(&file) => match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                Ok(_held) => std::fs::remove_dir_all(&path).is_ok(),
                Err(_) => false,
            },
            Ok(_) => false,
            // Died before creating its file.
            Err(e) if e.kind() == io::ErrorKind::NotFound && old(&path) => {
                std::fs::remove_dir_all(&path).is_ok()
            }
            Err(_) => false,
        };
        if dead {
            removed.push(path);
        }
    }
    removed
}

impl SpoolFile {
    /// Creates `dir/entries` (the folder must exist and be private to this import).
    pub fn create(dir: &Path) -> io::Result<Self> {
        let path = dir.join("entries");
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let held = Flock::lock(file.try_clone()?, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, errno)| io::Error::from(errno))?;
        Ok(SpoolFile {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            _held: held,
            end: 0,
            current: None,
            ranges: HashMap::new(),
        })
    }

    /// Every byte written, for reading back: the file and each entry's range by name.
    pub fn finish(self) -> io::Result<Spooled> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(Spooled {
            path: self.path,
            file,
            ranges: self.ranges,
        })
    }
}

impl Sink for SpoolFile {
    fn begin(&mut self, name: &str, _size: u64) -> io::Result<()> {
        self.current = Some((name.to_string(), self.end));
        Ok(())
    }
    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.current.is_none() {
            return Err(io::Error::other("spool: write outside an entry"));
        }
        self.out.write_all(chunk)?;
        self.end += chunk.len() as u64;
        Ok(())
    }
    fn end(&mut self) -> io::Result<Option<PathBuf>> {
        let Some((name, offset)) = self.current.take() else {
            return Ok(None);
        };
        self.ranges.insert(
            name,
            Range {
                offset,
                len: self.end - offset,
            },
        );
        Ok(Some(self.path.clone()))
    }
    fn abort(&mut self) {
        // Nothing of a bundle that failed verification may be used: forget and drop the bytes.
        self.current = None;
        self.ranges.clear();
        self.end = 0;
        let _ = self.out.flush();
        let _ = self.out.get_ref().set_len(0);
    }
}

/// The spool after verification: read-only access to the entries.
pub(crate) struct Spooled {
    path: PathBuf,
    file: File,
    ranges: HashMap<String, Range>,
}

impl Spooled {
    pub fn range(&self, name: &str) -> Option<Range> {
        self.ranges.get(name).copied()
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn read(&self, range: Range) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; range.len as usize];
        self.file.read_exact_at(&mut buf, range.offset)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spool folder in `tmp` whose file was last written `age` ago.
    fn spool_in(tmp: &Path, name: &str, age: std::time::Duration) -> (PathBuf, SpoolFile) {
        let dir = tmp.join(format!("{SPOOL_PREFIX}{name}"));
        std::fs::create_dir(&dir).unwrap();
        let spool = SpoolFile::create(&dir).unwrap();
        File::options()
            .write(true)
            .open(dir.join("entries"))
            .unwrap()
            .set_modified(std::time::SystemTime::now() - age)
            .unwrap();
        (dir, spool)
    }

    #[test]
    fn sweep_removes_dead_imports_spools_only() {
        let tmp = tempfile::tempdir().unwrap();
        let old = std::time::Duration::from_secs(120);
        // Dead (its holder dropped the lock) and old: removed.
        let (dead, spool) = spool_in(tmp.path(), "dead", old);
        drop(spool);
        // Live (still locked), however old: kept.
        let (live, _held) = spool_in(tmp.path(), "live", old);
        // Dead but young (an import may be between creating and locking): kept.
        let (young, spool) = spool_in(tmp.path(), "young", std::time::Duration::ZERO);
        drop(spool);
        // Not a spool folder: kept.
        let other = tmp.path().join("something-else");
        std::fs::create_dir(&other).unwrap();
        assert_eq!(sweep_stale(tmp.path()), vec![dead.clone()]);
        assert!(!dead.exists());
        assert!(live.exists() && young.exists() && other.exists());
    }

    #[test]
    fn entries_come_back_by_name_and_abort_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SpoolFile::create(dir.path()).unwrap();
        for (name, parts) in [
            ("data/a", vec!["he", "llo"]),
            ("data/b", vec![]),
            ("data/c", vec!["x"]),
        ] {
            s.begin(name, 0).unwrap();
            for p in parts {
                s.write(p.as_bytes()).unwrap();
            }
            assert!(s.end().unwrap().is_some());
        }
        let spooled = s.finish().unwrap();
        let read = |n| spooled.read(spooled.range(n).unwrap()).unwrap();
        assert_eq!(read("data/a"), b"hello");
        assert_eq!(read("data/b"), b"");
        assert_eq!(read("data/c"), b"x");
        assert!(spooled.range("data/d").is_none());

        let dir = tempfile::tempdir().unwrap();
        let mut s = SpoolFile::create(dir.path()).unwrap();
        s.begin("data/a", 3).unwrap();
        s.write(b"abc").unwrap();
        s.end().unwrap();
        s.abort();
        let spooled = s.finish().unwrap();
        assert!(spooled.range("data/a").is_none());
        assert_eq!(std::fs::metadata(spooled.path()).unwrap().len(), 0);
    }
}
