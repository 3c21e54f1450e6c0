//! The copy of this binary that the server runs as its `archive_command` / `restore_command`.
//!
//! The server runs as `postgres`, which often cannot read the binary where the operator keeps it
//! (a home folder, `target/`). So `db start` (and `restore`) copy the running executable to
//! `$STELLA_HOME/bin/stella-bundle` (mode 0755, replaced atomically when it differs) and the
//! commands point there, with `--home` and `--repo` shell-quoted.

use super::repo::fsync_dir;
use super::BackupError;
use crate::home::Home;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where the server-visible copy lives.
pub fn installed_binary(home: &Home) -> PathBuf {
    home.root().join("bin").join("stella-bundle")
}

/// Copy `exe` to `HOME/bin/stella-bundle` unless an identical copy is there. Returns its path.
pub fn install_binary(home: &Home, exe: &Path) -> Result<PathBuf, BackupError> {
    let dest = installed_binary(home);
    let dir = dest.parent().unwrap_or(home.root()).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| BackupError::io("create", &dir, e))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| BackupError::io("set permissions on", &dir, e))?;
    if same_content(exe, &dest) {
        return Ok(dest);
    }
    let tmp = dir.join(format!(".stella-bundle.{}.tmp", std::process::id()));
    std::fs::copy(exe, &tmp).map_err(|e| BackupError::io("copy the binary to", &tmp, e))?;
    let done = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .and_then(|_| std::fs::File::open(&tmp).and_then(|f| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, &dest));
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(BackupError::io("install the binary at", &dest, e));
    }
    fsync_dir(&dir)?;
    Ok(dest)
}

/// The running executable, installed into the home (checked once per process and home: every
/// command that starts the embedded cluster calls this).
pub fn install_self(home: &Home) -> Result<PathBuf, BackupError> {
    static DONE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let dest = installed_binary(home);
    if let Ok(done) = DONE.lock() {
        if done.contains(&dest) {
            return Ok(dest);
        }
    }
    let exe = std::env::current_exe()
        .map_err(|e| BackupError::io("locate", "the running executable", e))?;
    let dest = install_binary(home, &exe)?;
    if let Ok(mut done) = DONE.lock() {
        done.push(dest.clone());
    }
    Ok(dest)
}

fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    if ma.len() != mb.len() {
        return false;
    }
    let (Ok(mut fa), Ok(mut fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    loop {
        let na = match read_full(&mut fa, &mut ba) {
            Ok(n) => n,
            Err(_) => return false,
        };
        let nb = match read_full(&mut fb, &mut bb) {
            Ok(n) => n,
            Err(_) => return false,
        };
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let r = f.read(&mut buf[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok(n)
}

/// Quote for `sh`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn prefix(home: &Home) -> String {
    format!(
        "{} --home {} --repo {} --quiet",
        shell_quote(&installed_binary(home).to_string_lossy()),
        shell_quote(&home.root().to_string_lossy()),
        shell_quote(&home.repo().to_string_lossy()),
    )
}

/// `archive_command` calling `wal push %p %f`.
pub fn archive_command(home: &Home) -> String {
    format!("{} wal push \"%p\" \"%f\"", prefix(home))
}

/// `restore_command` calling `wal fetch %f %p`.
pub fn restore_command(home: &Home) -> String {
    format!("{} wal fetch \"%f\" \"%p\"", prefix(home))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_once_and_replaces_atomically_when_different() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("it's home"), None);
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"version a").unwrap();
        std::fs::write(&b, b"version b!").unwrap();
        let dest = install_binary(&home, &a).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"version a");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dest).unwrap());
        install_binary(&home, &a).unwrap();
        let same = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dest).unwrap());
        assert_eq!(ino, same, "identical: left alone");
        install_binary(&home, &b).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"version b!");
        let leftovers = std::fs::read_dir(dest.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temp files left");
    }

    #[test]
    fn commands_quote_paths() {
        let home = Home::new("/srv/it's".into(), Some("/mnt/usb repo".into()));
        assert_eq!(
            archive_command(&home),
            "'/srv/it'\\''s/bin/stella-bundle' --home '/srv/it'\\''s' --repo '/mnt/usb repo' --quiet wal push \"%p\" \"%f\""
        );
        assert!(restore_command(&home).ends_with("wal fetch \"%f\" \"%p\""));
    }
}
