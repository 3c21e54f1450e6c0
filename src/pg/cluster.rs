//! The embedded cluster's lifecycle: `initdb` (atomic: a failed init leaves no data directory),
//! the settings file rewritten at every start, `pg_ctl start` with recovery from a stale or
//! corrupt `postmaster.pid` after a `kill -9`, and `pg_ctl stop`.

use super::{PgBinaries, PgError, ServerUser};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// The superuser created by `initdb`, whatever the OS user is.
pub const SUPERUSER: &str = "postgres";
/// The settings file included from `postgresql.conf` and rewritten at every start.
const SETTINGS_FILE: &str = "stella.conf";

/// Settings applied at start (written to `stella.conf` in the data directory).
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub port: u16,
    /// `listen_addresses`; `None` keeps the server on its unix socket only.
    pub listen: Option<String>,
    /// The `archive_command` (archiving is always on).
    pub archive_command: String,
    /// Further `name = value` settings (the test harness turns fsync off, for example).
    pub extra: Vec<(String, String)>,
}

/// What `start` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartOutcome {
    AlreadyRunning,
    Started,
    /// Started after clearing a stale or corrupt `postmaster.pid`.
    Recovered,
    /// Initialized a new data directory and started it.
    Created,
}

/// What `status` found.
#[derive(Debug, Clone)]
pub struct ClusterStatus {
    pub running: bool,
    pub pid: Option<u32>,
    pub port: u16,
    pub socket_dir: PathBuf,
}

/// One PostgreSQL data directory managed by stella-bundle.
#[derive(Debug, Clone)]
pub struct Cluster {
    bins: PgBinaries,
    user: ServerUser,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_dir: PathBuf,
}

impl Cluster {
    pub fn new(
        bins: PgBinaries,
        user: ServerUser,
        data_dir: PathBuf,
        socket_dir: PathBuf,
        log_dir: PathBuf,
    ) -> Self {
        Cluster {
            bins,
            user,
            data_dir,
            socket_dir,
            log_dir,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }
    pub fn binaries(&self) -> &PgBinaries {
        &self.bins
    }
    pub fn server_user(&self) -> &ServerUser {
        &self.user
    }
    pub fn log_file(&self) -> PathBuf {
        self.log_dir.join("postgresql.log")
    }
    pub fn is_initialized(&self) -> bool {
        self.data_dir.join("PG_VERSION").is_file()
    }

    /// `initdb` into a temporary sibling folder, then rename it into place: a failed or killed
    /// init never leaves a half data directory behind.
    pub fn init(&self) -> Result<(), PgError> {
        if self.is_initialized() {
            return Ok(());
        }
        if self.data_dir.exists() {
            let empty = std::fs::read_dir(&self.data_dir)
                .map_err(|e| PgError::io("read", &self.data_dir, e))?
                .next()
                .is_none();
            if !empty {
                return Err(PgError::NotADataDir {
                    path: self.data_dir.clone(),
                });
            }
            std::fs::remove_dir(&self.data_dir)
                .map_err(|e| PgError::io("remove", &self.data_dir, e))?;
        }
        let parent = self
            .data_dir
            .parent()
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| PgError::io("create", &parent, e))?;
        self.user.allow_traverse(&parent)?;
        self.user.check_reachable(&parent)?;
        remove_stale_init_dirs(&parent);
        let tmp = parent.join(format!(".pg.init-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        self.user.own_dir(&tmp, 0o700)?;
        let result = self.run_initdb(&tmp, &parent);
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &self.data_dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp);
            PgError::io("move the new data directory to", &self.data_dir, e)
        })?;
        Ok(())
    }

    fn run_initdb(&self, dir: &Path, cwd: &Path) -> Result<(), PgError> {
        let out = self.run_tool(
            "initdb",
            cwd,
            &[
                "-D".as_ref(),
                dir.as_os_str(),
                "--data-checksums".as_ref(),
                "--username".as_ref(),
                SUPERUSER.as_ref(),
                "--auth-local=trust".as_ref(),
                "--auth-host=scram-sha-256".as_ref(),
                "--no-locale".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--no-instructions".as_ref(),
            ],
        )?;
        if !out.status.success() {
            return Err(PgError::InitdbFailed {
                path: self.data_dir.clone(),
                output: output_text(&out),
            });
        }
        let conf = dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(|e| PgError::io("read", &conf, e))?;
        text.push_str(&format!("\n# stella-bundle settings, rewritten at every start\ninclude_if_exists = '{SETTINGS_FILE}'\n"));
        std::fs::write(&conf, text).map_err(|e| PgError::io("write", &conf, e))?;
        Ok(())
    }

    fn write_settings(&self, s: &ClusterSettings) -> Result<(), PgError> {
        let mut text = String::from(
            "# Written by stella-bundle at every start: changes here are lost.\n\
             # Put your own settings in postgresql.conf or with ALTER SYSTEM.\n",
        );
        let mut set = |k: &str, v: String| text.push_str(&format!("{k} = {v}\n"));
        set("port", s.port.to_string());
        set(
            "unix_socket_directories",
            quote(&self.socket_dir.to_string_lossy()),
        );
        set("listen_addresses", quote(s.listen.as_deref().unwrap_or("")));
        set("wal_level", "replica".into());
        set("archive_mode", "on".into());
        set("archive_command", quote(&s.archive_command));
        set("max_wal_senders", "8".into());
        for (k, v) in &s.extra {
            set(k, v.clone());
        }
        let path = self.data_dir.join(SETTINGS_FILE);
        write_atomic(&path, text.as_bytes())?;
        self.user.own_file(&path)
    }

    /// Start the server (initializing it first if needed). Idempotent.
    pub fn start(&self, settings: &ClusterSettings) -> Result<StartOutcome, PgError> {
        let created = if self.is_initialized() {
            false
        } else {
            self.init()?;
            true
        };
        if !self.user.owns(&self.data_dir)? {
            let owner = std::os::unix::fs::MetadataExt::uid(
                &std::fs::metadata(&self.data_dir)
                    .map_err(|e| PgError::io("inspect", &self.data_dir, e))?,
            );
            return Err(PgError::DataDirOwner {
                path: self.data_dir.clone(),
                owner,
                user: self.user.name().into(),
                uid: self.user.uid(),
            });
        }
        if let Some(parent) = self.socket_dir.parent() {
            self.user.check_reachable(parent)?;
        }
        self.user.own_dir(&self.socket_dir, 0o700)?;
        self.user.own_dir(&self.log_dir, 0o700)?;
        if self.running_pid().is_some() {
            return Ok(StartOutcome::AlreadyRunning);
        }
        let recovered = self.clear_stale_pid_file()?;
        self.clear_stale_socket_locks();
        self.write_settings(settings)?;
        self.pg_ctl_start()?;
        Ok(if created {
            StartOutcome::Created
        } else if recovered {
            StartOutcome::Recovered
        } else {
            StartOutcome::Started
        })
    }

    fn pg_ctl_start(&self) -> Result<(), PgError> {
        let log = self.log_file();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log_len = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
            let out = self.run_tool(
                "pg_ctl",
                &self.data_dir,
                &[
                    "start".as_ref(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "120".as_ref(),
                    "-s".as_ref(),
                    "-D".as_ref(),
                    self.data_dir.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                ],
            )?;
            if out.status.success() {
                return Ok(());
            }
            let tail = log_tail(&log, log_len);
            // After a kill -9 of the postmaster its children may hold the shared memory for a
            // moment; they exit on their own once they notice the postmaster is gone.
            if tail.contains("pre-existing shared memory block") && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
            let reason = if tail.contains("Address already in use")
                || tail.contains("could not bind")
            {
                "its port or socket is already in use: stop the other server or start with another port".to_string()
            } else if tail.contains("lock file") && tail.contains("already exists") {
                "another server holds its lock file".to_string()
            } else {
                let text = output_text(&out);
                if text.is_empty() {
                    "pg_ctl start failed".into()
                } else {
                    text
                }
            };
            return Err(PgError::StartFailed { reason, log, tail });
        }
    }

    /// Remove a `postmaster.pid` whose process is gone or whose content is garbage. Returns
    /// whether one was removed (kept aside as `postmaster.pid.stale`).
    fn clear_stale_pid_file(&self) -> Result<bool, PgError> {
        let pid_file = self.data_dir.join("postmaster.pid");
        if !pid_file.exists() {
            return Ok(false);
        }
        if let Some(pid) = read_pid_file(&pid_file).map(|p| p.pid) {
            if process_is_postgres(pid) {
                return Ok(false);
            }
        }
        let aside = self.data_dir.join("postmaster.pid.stale");
        std::fs::rename(&pid_file, &aside).map_err(|e| PgError::io("move aside", &pid_file, e))?;
        tracing::warn!(
            "removed a stale postmaster.pid (kept as {})",
            aside.display()
        );
        Ok(true)
    }

    /// Remove socket lock files of a postmaster that is gone. PostgreSQL itself only checks that
    /// the pid exists, and a killed postmaster may linger as a zombie for a while.
    fn clear_stale_socket_locks(&self) {
        let Ok(entries) = std::fs::read_dir(&self.socket_dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !(name.starts_with(".s.PGSQL.") && name.ends_with(".lock")) {
                continue;
            }
            let pid = std::fs::read_to_string(e.path())
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()));
            if pid.is_some_and(process_is_postgres) {
                continue;
            }
            let _ = std::fs::remove_file(e.path());
            let _ = std::fs::remove_file(self.socket_dir.join(name.trim_end_matches(".lock")));
        }
    }

    /// The postmaster's pid when the server is running.
    pub fn running_pid(&self) -> Option<u32> {
        let info = read_pid_file(&self.data_dir.join("postmaster.pid"))?;
        process_is_postgres(info.pid).then_some(info.pid)
    }

    /// Stop the server (fast shutdown). Returns false when it was not running.
    pub fn stop(&self) -> Result<bool, PgError> {
        self.stop_mode("fast")
    }

    /// Stop without a checkpoint (crash-like; recovery runs at next start). For throwaway clusters.
    pub fn stop_immediate(&self) -> Result<bool, PgError> {
        self.stop_mode("immediate")
    }

    fn stop_mode(&self, mode: &str) -> Result<bool, PgError> {
        if self.running_pid().is_none() {
            return Ok(false);
        }
        let out = self.run_tool(
            "pg_ctl",
            &self.data_dir,
            &[
                "stop".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "120".as_ref(),
                "-s".as_ref(),
                "-m".as_ref(),
                mode.as_ref(),
                "-D".as_ref(),
                self.data_dir.as_os_str(),
            ],
        )?;
        if !out.status.success() {
            return Err(PgError::StopFailed {
                output: output_text(&out),
            });
        }
        Ok(true)
    }

    /// What the pid file says, when the server runs.
    pub fn status(&self, default_port: u16) -> ClusterStatus {
        let info = read_pid_file(&self.data_dir.join("postmaster.pid"));
        let pid = self.running_pid();
        let port = info
            .as_ref()
            .and_then(|i| i.port)
            .filter(|_| pid.is_some())
            .unwrap_or(default_port);
        ClusterStatus {
            running: pid.is_some(),
            pid,
            port,
            socket_dir: self.socket_dir.clone(),
        }
    }

    /// A libpq URL (psql accepts it) for `dbname` on this cluster's socket.
    pub fn url(&self, port: u16, dbname: &str) -> String {
        format!(
            "postgresql:///{dbname}?host={}&port={port}&user={SUPERUSER}",
            percent_encode(&self.socket_dir.to_string_lossy())
        )
    }

    /// Run a PostgreSQL tool of this installation as the server user.
    pub fn run_tool(
        &self,
        tool: &str,
        cwd: &Path,
        args: &[&std::ffi::OsStr],
    ) -> Result<Output, PgError> {
        let path = self.bins.tool(tool);
        self.user
            .command(&path, cwd)
            .args(args)
            .output()
            .map_err(|source| PgError::Spawn {
                tool: path.display().to_string(),
                source,
            })
    }
}

struct PidFile {
    pid: u32,
    port: Option<u16>,
}

fn read_pid_file(path: &Path) -> Option<PidFile> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let pid = lines
        .next()?
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|p| *p > 1)?;
    let port = lines.nth(2).and_then(|l| l.trim().parse::<u16>().ok());
    Some(PidFile { pid, port })
}

fn process_is_postgres(pid: u32) -> bool {
    // A recycled pid after a crash must not be mistaken for our postmaster, and a killed one that
    // nobody reaped yet (a zombie) is not running either.
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "<pid> (<comm>) <state> ..."
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let comm = &stat[open + 1..close];
    let state = stat[close + 1..].split_whitespace().next().unwrap_or("");
    (comm.starts_with("postgres") || comm.starts_with("postmaster")) && state != "Z" && state != "X"
}

fn remove_stale_init_dirs(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(pid) = name
            .strip_prefix(".pg.init-")
            .and_then(|p| p.parse::<i32>().ok())
        {
            let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Write a file through a temporary sibling and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PgError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| PgError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| PgError::io("write", path, e))
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// Percent-encode a socket path for the host part of a libpq URL.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A tool's stderr and stdout as one trimmed message.
pub(crate) fn output_text(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let o = String::from_utf8_lossy(&out.stdout);
    if !o.trim().is_empty() {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(o.trim());
    }
    s
}

fn log_tail(log: &Path, from: u64) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let start = (from as usize).min(text.len());
    let new = String::from_utf8_lossy(&text[start..]);
    let lines: Vec<&str> = new.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}
