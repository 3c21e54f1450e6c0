//! The layout of `$STELLA_HOME` (SPEC section 2): where the embedded cluster, its socket, the
//! backup repository and the trust store live. Only paths here; nothing is created on `new`.

use std::path::{Path, PathBuf};

/// Resolved locations of everything stella-bundle keeps on disk.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    repo: PathBuf,
}

impl Home {
    /// `root` is `--home`/`STELLA_HOME` (or the XDG default); `repo` overrides `root/repo`.
    pub fn new(root: PathBuf, repo: Option<PathBuf>) -> Self {
        let root = absolute(&root);
        let repo = repo
            .map(|r| absolute(&r))
            .unwrap_or_else(|| root.join("repo"));
        Home { root, repo }
    }

    /// The default home: `$XDG_DATA_HOME/stella-bundle`, else `~/.local/share/stella-bundle`.
    pub fn default_root() -> PathBuf {
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(x).join("stella-bundle");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        home.join(".local/share/stella-bundle")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The embedded cluster's data directory.
    pub fn pg_data(&self) -> PathBuf {
        self.root.join("pg")
    }
    /// The embedded cluster's private socket directory.
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    /// Server log of the embedded cluster.
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }
    /// Backup repository (base backups and WAL archive).
    pub fn repo(&self) -> &Path {
        &self.repo
    }
    pub fn wal_archive(&self) -> PathBuf {
        self.repo.join("wal")
    }
    pub fn backups(&self) -> PathBuf {
        self.repo.join("backups")
    }
    /// Trusted public keys, one `<keyid>.pub` each.
    pub fn trust_dir(&self) -> PathBuf {
        self.root.join("trust")
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}
