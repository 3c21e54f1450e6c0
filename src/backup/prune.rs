//! `backup prune --keep N`: keep the N newest backups, the WAL they need and all WAL after the
//! oldest kept backup's start; remove the rest. The plan is computed first (the CLI shows it,
//! names the scans that would become unreplayable, and asks or refuses) and executed under the
//! repository lock. A backup folder is renamed to `.del-<label>` before it is removed, so a prune
//! killed half-way never leaves a half backup listed.

use super::basebackup::{self, BackupMeta};
use super::repo::{fsync_dir, parse_segment, wal_kind, Lsn, Repo, WalKind};
use super::BackupError;
use serde::Serialize;
use std::path::PathBuf;

/// A scan recorded in `scan_run`, with the WAL location its manifest points at.
#[derive(Debug, Clone, Serialize)]
pub struct ScanRef {
    pub tenant_id: String,
    pub scan_id: String,
    pub lsn: Lsn,
    pub timeline: Option<i32>,
    pub status: String,
}

/// Scans that have a recorded LSN (every tenant).
pub fn scans(client: &mut postgres::Client) -> Result<Vec<ScanRef>, BackupError> {
    let rows = client
        .query(
            "SELECT tenant_id::text, scan_id::text, lsn::text, timeline, status
               FROM scan_run WHERE lsn IS NOT NULL ORDER BY lsn, scan_id",
            &[],
        )
        .map_err(|e| crate::db::DbError::query("reading scan_run", e))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(ScanRef {
                tenant_id: r.get(0),
                scan_id: r.get(1),
                lsn: r.get::<_, String>(2).parse().ok()?,
                timeline: r.get(3),
                status: r.get(4),
            })
        })
        .collect())
}

/// What a prune would do.
#[derive(Debug, Clone, Serialize)]
pub struct PrunePlan {
    pub keep: Vec<String>,
    pub remove_backups: Vec<String>,
    pub remove_wal: Vec<String>,
    pub remove_bytes: u64,
    pub oldest_kept_start_lsn: Option<Lsn>,
    /// Scans replayable now that no kept backup could replay afterwards.
    pub unreplayable_scans: Vec<ScanRef>,
    #[serde(skip)]
    paths: Vec<PathBuf>,
    #[serde(skip)]
    wal_paths: Vec<PathBuf>,
}

impl PrunePlan {
    pub fn is_empty(&self) -> bool {
        self.remove_backups.is_empty() && self.remove_wal.is_empty()
    }
}

/// Timeline histories from the archive, `(ancestor, where it ends)` per timeline.
type Histories = std::collections::BTreeMap<u32, Vec<(u32, Lsn)>>;

fn histories(repo: &Repo, scans: &[ScanRef]) -> Histories {
    let Ok(index) = super::wal::index(repo) else {
        return Histories::new();
    };
    let mut out = Histories::new();
    for t in scans.iter().filter_map(|s| s.timeline).filter(|t| *t > 1) {
        let t = t as u32;
        if let std::collections::btree_map::Entry::Vacant(e) = out.entry(t) {
            if let Ok(h) = super::restore::read_history(repo, &index, t) {
                e.insert(h);
            }
        }
    }
    out
}

/// Some backup ends before the scan's LSN on its timeline, or on an ancestor before the fork
/// (as `restore` chooses).
fn replayable(backups: &[&BackupMeta], scan: &ScanRef, histories: &Histories) -> bool {
    backups.iter().any(|b| {
        if b.stop_lsn > scan.lsn {
            return false;
        }
        match scan.timeline {
            None => true,
            Some(t) if t as u32 == b.timeline => true,
            Some(t) => histories.get(&(t as u32)).is_some_and(|h| {
                h.iter()
                    .any(|(tli, end)| *tli == b.timeline && b.stop_lsn <= *end)
            }),
        }
    })
}

/// Scans no backup in the repository can replay (none ends before the scan's LSN on its
/// timeline); for `status`. WAL holes are found by the restore itself, by name.
pub fn unreplayable(repo: &Repo, scans: &[ScanRef]) -> Result<Vec<ScanRef>, BackupError> {
    let all = basebackup::list(repo)?;
    let metas: Vec<&BackupMeta> = all.iter().map(|(m, _)| m).collect();
    let h = histories(repo, scans);
    Ok(scans
        .iter()
        .filter(|s| !replayable(&metas, s, &h))
        .cloned()
        .collect())
}

/// Compute the plan for keeping the `keep` newest backups.
pub fn plan(repo: &Repo, keep: usize, scans: &[ScanRef]) -> Result<PrunePlan, BackupError> {
    if keep == 0 {
        return Err(BackupError::Usage(
            "--keep must be at least 1: a repository without a backup cannot restore anything"
                .into(),
        ));
    }
    let all = basebackup::list(repo)?;
    let (kept, removed) = all.split_at(keep.min(all.len()));
    let mut plan = PrunePlan {
        keep: kept.iter().map(|(m, _)| m.label.clone()).collect(),
        remove_backups: removed.iter().map(|(m, _)| m.label.clone()).collect(),
        remove_wal: Vec::new(),
        remove_bytes: 0,
        oldest_kept_start_lsn: kept.iter().map(|(m, _)| m.start_lsn).min(),
        unreplayable_scans: Vec::new(),
        paths: removed.iter().map(|(_, p)| p.clone()).collect(),
        wal_paths: Vec::new(),
    };
    for (m, _) in removed {
        plan.remove_bytes += m.stored_bytes;
    }
    let Some(oldest) = kept.iter().map(|(m, _)| m).min_by_key(|m| m.start_lsn) else {
        return Ok(plan);
    };
    let seg = oldest.wal_segment_size;
    let first_needed = oldest.start_lsn.segno(seg);
    for (name, f) in super::wal::index(repo)? {
        let old = matches!(
            wal_kind(&name),
            Some(WalKind::Segment | WalKind::Partial | WalKind::BackupHistory)
        ) && parse_segment(&name, seg).is_some_and(|(_, s)| s < first_needed);
        if old {
            plan.remove_bytes += std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0);
            plan.remove_wal.push(name);
            plan.wal_paths.push(f.path);
        }
    }
    let now: Vec<&BackupMeta> = all.iter().map(|(m, _)| m).collect();
    let after: Vec<&BackupMeta> = kept.iter().map(|(m, _)| m).collect();
    let h = histories(repo, scans);
    plan.unreplayable_scans = scans
        .iter()
        .filter(|s| replayable(&now, s, &h) && !replayable(&after, s, &h))
        .cloned()
        .collect();
    Ok(plan)
}

/// Carry out a plan (the caller holds the repository lock).
pub fn execute(repo: &Repo, plan: &PrunePlan) -> Result<(), BackupError> {
    let backups = repo.backups_dir();
    for path in &plan.paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let aside = backups.join(format!(".del-{name}"));
        std::fs::rename(path, &aside).map_err(|e| BackupError::io("remove", path, e))?;
        fsync_dir(&backups)?;
        std::fs::remove_dir_all(&aside).map_err(|e| BackupError::io("remove", &aside, e))?;
    }
    let mut dirs = std::collections::BTreeSet::new();
    for p in &plan.wal_paths {
        std::fs::remove_file(p).map_err(|e| BackupError::io("remove", p, e))?;
        if let Some(d) = p.parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    for d in dirs {
        // Empty timeline folders go too.
        if std::fs::remove_dir(&d).is_err() {
            fsync_dir(&d)?;
        }
    }
    if !plan.wal_paths.is_empty() {
        fsync_dir(&repo.wal_dir())?;
    }
    Ok(())
}
