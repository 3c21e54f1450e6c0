//! One `backup` or `backup prune` at a time per repository: `flock` on `REPO/backup.lock`, whose
//! content names the holder (pid, host, command, start time). The kernel drops the lock when its
//! holder dies, even by `kill -9`; the next holder then finds the dead holder's note and says so.

use super::repo::create_dir;
use super::BackupError;
use nix::fcntl::{Flock, FlockArg};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held until dropped.
pub struct RepoLock {
    file: Flock<std::fs::File>,
    path: PathBuf,
    /// The note a holder that died without releasing left behind, if any.
    pub stale_holder: Option<String>,
}

impl RepoLock {
    /// Take the lock or fail at once with [`BackupError::Busy`] naming the holder.
    pub fn acquire(path: &Path, what: &str) -> Result<Self, BackupError> {
        if let Some(dir) = path.parent() {
            create_dir(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| BackupError::io("open", path, e))?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => f,
            Err((mut f, errno)) => {
                if errno == nix::errno::Errno::EWOULDBLOCK {
                    let mut holder = String::new();
                    let _ = f.read_to_string(&mut holder);
                    let holder = holder.trim().to_string();
                    return Err(BackupError::Busy {
                        lock: path.to_path_buf(),
                        holder: if holder.is_empty() {
                            "holder unknown".into()
                        } else {
                            holder
                        },
                    });
                }
                return Err(BackupError::io("lock", path, errno.into()));
            }
        };
        let mut previous = String::new();
        let _ = file.read_to_string(&mut previous);
        let previous = previous.trim().to_string();
        let stale_holder = (!previous.is_empty()).then_some(previous);
        if let Some(p) = &stale_holder {
            tracing::warn!("the previous holder of {} ended without releasing it ({p}); its leftovers are cleaned up", path.display());
        }
        let note = format!(
            "{what} by pid {} on {} since {}",
            std::process::id(),
            hostname(),
            super::repo::now_rfc3339()
        );
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(note.as_bytes()))
            .and_then(|_| file.sync_all())
            .map_err(|e| BackupError::io("write", path, e))?;
        Ok(RepoLock {
            file,
            path: path.to_path_buf(),
            stale_holder,
        })
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        // An empty note means "released cleanly"; the flock itself goes with the file.
        if let Err(e) = self.file.set_len(0) {
            tracing::warn!("cannot clear {}: {e}", self.path.display());
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown host".into())
}
