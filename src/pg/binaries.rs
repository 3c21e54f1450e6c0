//! Locating the PostgreSQL server binaries: `STELLA_PG_BIN`, else `pg_config --bindir`, else the
//! newest `/usr/lib/postgresql/*/bin` (SPEC section 2).

use super::PgError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A folder holding `postgres`, `initdb`, `pg_ctl`, `pg_basebackup`, ... of one major version.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    bindir: PathBuf,
    major: u32,
    version: String,
}

impl PgBinaries {
    /// Find the binaries as SPEC section 2 orders it.
    pub fn locate() -> Result<Self, PgError> {
        if let Some(dir) = std::env::var_os("STELLA_PG_BIN").filter(|v| !v.is_empty()) {
            let dir = PathBuf::from(dir);
            if !has_server(&dir) {
                return Err(PgError::BadPgBin(dir));
            }
            return Self::at(dir);
        }
        let mut searched = vec!["STELLA_PG_BIN (unset)".to_string()];
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
            if out.status.success() {
                let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                if has_server(&dir) {
                    return Self::at(dir);
                }
                searched.push(format!("pg_config --bindir = {}", dir.display()));
            }
        } else {
            searched.push("pg_config (not on PATH)".into());
        }
        let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let major = e.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                has_server(&bin).then_some((major, bin))
            })
            .collect();
        candidates.sort();
        searched.push("/usr/lib/postgresql/*/bin".into());
        match candidates.pop() {
            Some((_, dir)) => Self::at(dir),
            None => Err(PgError::BinariesNotFound {
                searched: searched.join(", "),
            }),
        }
    }

    fn at(bindir: PathBuf) -> Result<Self, PgError> {
        let postgres = bindir.join("postgres");
        let out = Command::new(&postgres)
            .arg("--version")
            .output()
            .map_err(|source| PgError::Spawn {
                tool: postgres.display().to_string(),
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        let version = text
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string();
        let major = version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(0);
        if major < 15 {
            return Err(PgError::TooOld {
                found: text,
                bindir,
            });
        }
        Ok(PgBinaries {
            bindir,
            major,
            version,
        })
    }

    /// Path of one tool, e.g. `tool("pg_basebackup")`.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }
    pub fn major(&self) -> u32 {
        self.major
    }
    /// Full version as `postgres --version` reports it, e.g. `15.18`.
    pub fn version(&self) -> &str {
        &self.version
    }
}

fn has_server(dir: &Path) -> bool {
    dir.join("postgres").is_file() && dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}
