//! The OS user PostgreSQL server processes run as. The server refuses to run as root, so when
//! stella-bundle runs as root the server and its tools run as `STELLA_PG_USER` (default
//! `postgres`); otherwise they run as the invoking user. This file owns the privilege drop and the
//! ownership of the folders the server writes.

use super::PgError;
use nix::unistd::{Gid, Uid, User};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Who the server runs as, and whether we must switch to it.
#[derive(Debug, Clone)]
pub struct ServerUser {
    name: String,
    uid: u32,
    gid: u32,
    /// True when we are root and spawn server tools as another user.
    switch: bool,
}

impl ServerUser {
    /// Resolve the server user for this process.
    pub fn resolve() -> Result<Self, PgError> {
        let euid = Uid::effective();
        if euid.is_root() {
            let name = std::env::var("STELLA_PG_USER")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "postgres".into());
            let user = User::from_name(&name)
                .ok()
                .flatten()
                .ok_or_else(|| PgError::NoServerUser(name.clone()))?;
            if user.uid.is_root() {
                return Err(PgError::NoServerUser(format!("{name} (it is root)")));
            }
            Ok(ServerUser {
                name,
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
                switch: true,
            })
        } else {
            let name = User::from_uid(euid)
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| euid.to_string());
            Ok(ServerUser {
                name,
                uid: euid.as_raw(),
                gid: nix::unistd::getegid().as_raw(),
                switch: false,
            })
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// A command that runs as the server user, in a working directory it can enter.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(cwd);
        // Tools read these; they must not leak in from the caller's environment.
        for var in [
            "PGDATA",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
        ] {
            cmd.env_remove(var);
        }
        // Descriptors this process inherited without close-on-exec (a cron job's
        // `flock LOCKFILE stella-bundle ...`, a caller's pipe) must not live on in the server:
        // a postmaster holding a cron lock keeps it for as long as the cluster runs.
        // SAFETY: the closure only makes raw syscalls (async-signal-safe), as pre_exec requires.
        unsafe {
            cmd.pre_exec(|| {
                mark_inherited_fds_cloexec();
                Ok(())
            });
        }
        if self.switch {
            cmd.uid(self.uid).gid(self.gid);
            if let Ok(Some(u)) = User::from_uid(Uid::from_raw(self.uid)) {
                cmd.env("HOME", u.dir)
                    .env("USER", &self.name)
                    .env("LOGNAME", &self.name);
            }
        }
        cmd
    }

    /// Create `dir` (and parents) if missing, give it to the server user with `mode`.
    pub fn own_dir(&self, dir: &Path, mode: u32) -> Result<(), PgError> {
        std::fs::create_dir_all(dir).map_err(|e| PgError::io("create", dir, e))?;
        if self.switch {
            nix::unistd::chown(
                dir,
                Some(Uid::from_raw(self.uid)),
                Some(Gid::from_raw(self.gid)),
            )
            .map_err(|e| PgError::io("change the owner of", dir, e.into()))?;
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| PgError::io("set permissions on", dir, e))
    }

    /// Give an existing file to the server user (no-op when not switching).
    pub fn own_file(&self, file: &Path) -> Result<(), PgError> {
        if self.switch {
            nix::unistd::chown(
                file,
                Some(Uid::from_raw(self.uid)),
                Some(Gid::from_raw(self.gid)),
            )
            .map_err(|e| PgError::io("change the owner of", file, e.into()))?;
        }
        Ok(())
    }

    /// Check that the server user can enter `path`; name the first folder that blocks it.
    pub fn check_reachable(&self, path: &Path) -> Result<(), PgError> {
        if !self.switch {
            return Ok(());
        }
        let mut current = PathBuf::from("/");
        for comp in path.components().skip(1) {
            let meta = match std::fs::metadata(&current) {
                Ok(m) => m,
                Err(_) => break,
            };
            if !self.can_search(&meta) {
                return Err(PgError::NotReachable {
                    user: self.name.clone(),
                    path: path.to_path_buf(),
                    blocker: current,
                });
            }
            current.push(comp);
        }
        Ok(())
    }

    fn can_search(&self, meta: &std::fs::Metadata) -> bool {
        let mode = meta.mode();
        if meta.uid() == self.uid {
            mode & 0o100 != 0
        } else if meta.gid() == self.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    }

    /// Whether `path` is owned by the server user.
    pub fn owns(&self, path: &Path) -> Result<bool, PgError> {
        let meta = std::fs::metadata(path).map_err(|e| PgError::io("inspect", path, e))?;
        Ok(meta.uid() == self.uid)
    }

    /// Make a folder we created (the home) searchable by the server user when we switch users.
    pub fn allow_traverse(&self, dir: &Path) -> Result<(), PgError> {
        if !self.switch {
            return Ok(());
        }
        let meta = std::fs::metadata(dir).map_err(|e| PgError::io("inspect", dir, e))?;
        if !self.can_search(&meta) && meta.uid() == Uid::effective().as_raw() {
            let mode = meta.mode() & 0o7777 | 0o011;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
                .map_err(|e| PgError::io("set permissions on", dir, e))?;
        }
        Ok(())
    }

    pub fn switches(&self) -> bool {
        self.switch
    }
}

/// Marks every descriptor above stderr close-on-exec, in a child between fork and exec. Uses
/// `close_range(CLOSE_RANGE_CLOEXEC)` (Linux 5.11+); older kernels get one `fcntl` per descriptor
/// up to the soft limit. Only raw syscalls: no allocation, no locks.
fn mark_inherited_fds_cloexec() {
    // SAFETY: plain syscalls on integer descriptors; failures are ignored (best effort).
    unsafe {
        let done = libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
        ) == 0;
        if done {
            return;
        }
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur.min(1 << 16) as libc::c_int
        } else {
            1024
        };
        for fd in 3..max {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}
