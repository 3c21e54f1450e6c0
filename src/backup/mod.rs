//! Base backups, the WAL archive and point-in-time restore (SPEC section 8).
//!
//! - `repo`: the repository layout and identity, LSNs, WAL names, durable writes.
//! - `wal`: `wal push` / `wal fetch` (the server's archive_command / restore_command).
//! - `install`: the server-visible copy of this binary those commands run.
//! - `basebackup`: `backup`, `backup list`, `backup verify`.
//! - `manifest`: `backup_manifest` and the checks of a backup's files against it.
//! - `prune`: `backup prune --keep N`.
//! - `lock`: one backup or prune at a time per repository.
//! - `restore`: restore to a target into a private paused server; the library `replay` uses.

pub mod basebackup;
mod error;
pub mod install;
pub mod lock;
mod manifest;
pub mod prune;
pub mod repo;
pub mod restore;
pub mod wal;

pub use basebackup::BackupMeta;
pub use error::BackupError;
pub use repo::{Lsn, Repo};
pub use restore::{
    restore, restore_to_lsn, RecoveryTarget, RestoreOptions, RestoredServer, TargetAction,
};

/// Test-only fault injection: `STELLA_FAULT` holds comma-separated fault names (e.g.
/// `wal-push-stall`, `backup-stall`) that make a command stop at a named point, so tests can
/// kill it there. Never set in production.
pub(crate) fn fault(name: &str) -> bool {
    std::env::var("STELLA_FAULT")
        .map(|v| v.split(',').any(|f| f.trim() == name))
        .unwrap_or(false)
}
