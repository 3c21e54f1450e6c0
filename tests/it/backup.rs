//! Backups, the WAL archive and point-in-time restore against real clusters, real WAL and real
//! recovery: each test runs a small cluster of its own (through `pg::Cluster`, archiving with the
//! real `wal push`), and drives the CLI with `--home` pointing at it.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use stella_bundle::backup::restore::{RecoveryTarget, RestoreOptions, TargetAction};
use stella_bundle::backup::{install, Lsn};
use stella_bundle::db::{self, DbTarget};
use stella_bundle::home::Home;
use stella_bundle::pg::{Cluster, PgBinaries, ServerUser};

/// A home with a running cluster archiving into its repository.
struct Site {
    home: Home,
    cluster: Cluster,
}

fn site() -> Site {
    site_with_repo(None)
}

fn site_with_repo(repo: Option<PathBuf>) -> Site {
    let root = scratch_dir("stella-bk-");
    let home = Home::new(root.join("h"), repo);
    spawn_watchdog(&root, &home.pg_data());
    let user = ServerUser::resolve().unwrap();
    std::fs::create_dir_all(home.root()).unwrap();
    user.allow_traverse(home.root()).unwrap();
    user.own_dir(&home.wal_archive(), 0o700).unwrap();
    install::install_binary(&home, Path::new(bin())).unwrap();
    let cluster = Cluster::new(
        PgBinaries::locate().unwrap(),
        user,
        home.pg_data(),
        home.run_dir(),
        home.log_dir(),
    );
    let mut settings = DbTarget::settings(&home, None, 5432);
    settings.extra = vec![
        ("fsync".into(), "off".into()),
        ("synchronous_commit".into(), "off".into()),
        ("shared_buffers".into(), "16MB".into()),
        ("max_connections".into(), "20".into()),
    ];
    cluster.start(&settings).unwrap();
    Site { home, cluster }
}

impl Site {
    fn url(&self) -> String {
        self.cluster.url(5432, "postgres")
    }
    fn client(&self) -> postgres::Client {
        db::connect_url(&self.url()).unwrap()
    }
    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let home = self.home.root().to_str().unwrap().to_string();
        let repo = self.home.repo().to_str().unwrap().to_string();
        let mut all = vec!["--home", &home, "--repo", &repo];
        all.extend_from_slice(args);
        stella_env(&all, env)
    }
    fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        Command::new(bin())
            .args(["--home", self.home.root().to_str().unwrap()])
            .args(["--repo", self.home.repo().to_str().unwrap()])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
    fn backup(&self) -> serde_json::Value {
        let out = self.run(&["backup", "--json"]);
        assert_exit(&out, 0);
        json(&out)
    }
    fn restore_opts(&self, target: RecoveryTarget) -> RestoreOptions {
        let mut o = RestoreOptions::new(target);
        o.stall_timeout = Duration::from_secs(60);
        o
    }
}

/// Switch to a new segment and wait until the archiver has archived the one just closed.
fn switch_and_wait(c: &mut postgres::Client) {
    stella_bundle::backup::wal::switch_and_wait_archived(c, Duration::from_secs(60)).unwrap();
}

fn lsn_now(c: &mut postgres::Client) -> Lsn {
    let s: String = c
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .unwrap()
        .get(0);
    s.parse().unwrap()
}

fn count(url: &str, table: &str) -> i64 {
    let mut c = db::connect_url(url).unwrap();
    c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0)
}

fn archived_files(repo: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(repo.join("wal")).unwrap().flatten() {
        if d.path().is_dir() {
            for f in std::fs::read_dir(d.path()).unwrap().flatten() {
                out.push(f.file_name().to_string_lossy().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The archived file of `name` (the sha256 is part of the stored name).
fn archived_path(repo: &Path, name: &str) -> PathBuf {
    let folder = if name.ends_with(".history") {
        "history".to_string()
    } else {
        name[..16].to_string()
    };
    let dir = repo.join("wal").join(folder);
    std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}-"))
        })
        .unwrap_or_else(|| panic!("{name} not archived in {}", dir.display()))
}

/// PostgreSQL's 003_recovery_targets: batches of rows, a target after each (restore point
/// name, insert LSN, time); restoring to each gives exactly that batch's count. Then a WAL
/// segment is deleted from the archive: the restore fails at once, naming it.
#[test]
fn recovery_targets_are_exact_and_missing_wal_is_named() {
    let s = site();
    let mut c = s.client();
    c.batch_execute("CREATE TABLE t (i int)").unwrap();
    let b = s.backup();
    assert!(b["label"].is_string(), "{b}");
    let mut targets = Vec::new();
    for batch in 1..=3i64 {
        c.execute(
            "INSERT INTO t SELECT generate_series(1, $1::int)",
            &[&(batch as i32 * 10)],
        )
        .unwrap();
        c.execute(
            "SELECT pg_create_restore_point($1)",
            &[&format!("rp{batch}")],
        )
        .unwrap();
        let lsn = lsn_now(&mut c);
        let time: chrono::DateTime<chrono::Utc> =
            c.query_one("SELECT clock_timestamp()", &[]).unwrap().get(0);
        targets.push((batch, (1..=batch).map(|k| k * 10).sum::<i64>(), lsn, time));
        std::thread::sleep(Duration::from_millis(20));
        if batch == 2 {
            switch_and_wait(&mut c);
        }
    }
    c.execute("INSERT INTO t VALUES (0)", &[]).unwrap();
    switch_and_wait(&mut c);

    for (batch, expected, lsn, time) in &targets {
        let server =
            stella_bundle::backup::restore(&s.home, &s.restore_opts(RecoveryTarget::Lsn(*lsn)))
                .unwrap();
        assert!(server.recovered_to_lsn() >= *lsn);
        assert_eq!(
            count(&server.url("postgres"), "t"),
            *expected,
            "lsn target of batch {batch}"
        );
        drop(server);
        if *batch == 2 {
            let server = stella_bundle::backup::restore(
                &s.home,
                &s.restore_opts(RecoveryTarget::Time(*time)),
            )
            .unwrap();
            assert_eq!(
                count(&server.url("postgres"), "t"),
                *expected,
                "time target"
            );
        }
    }
    // A restore whose owner died (kill -9 of replay) is swept by the next restore.
    let (_, expected, lsn, _) = targets[0];
    let orphan =
        stella_bundle::backup::restore(&s.home, &s.restore_opts(RecoveryTarget::Lsn(lsn))).unwrap();
    let (odata, ort) = (
        orphan.data_dir().to_path_buf(),
        orphan.socket_dir().to_path_buf(),
    );
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(
        ort.join("owner"),
        format!("{gone_pid}\n{}\n", odata.display()),
    )
    .unwrap();
    std::mem::forget(orphan);
    let server =
        stella_bundle::backup::restore(&s.home, &s.restore_opts(RecoveryTarget::Lsn(lsn))).unwrap();
    assert_eq!(count(&server.url("postgres"), "t"), expected);
    assert!(
        !odata.exists() && !ort.exists(),
        "the orphan is stopped and removed"
    );
    drop(server);

    // A named restore point through the CLI, into a folder of our own.
    let rroot = scratch_dir("stella-rs-");
    let dir = rroot.join("data");
    spawn_watchdog(&rroot, &dir);
    let out = s.run(&[
        "restore",
        "--to",
        dir.to_str().unwrap(),
        "--target-name",
        "rp1",
        "--json",
    ]);
    assert_exit(&out, 0);
    let j = json(&out);
    let log = PathBuf::from(j["log"].as_str().unwrap());
    spawn_watchdog(log.parent().unwrap(), &dir);
    assert_eq!(j["backup"], b["label"]);
    assert_eq!(j["running"], true);
    let url = j["url"].as_str().unwrap().to_string();
    assert_eq!(count(&url, "t"), 10, "name target rp1");
    let mut rc = db::connect_url(&url).unwrap();
    let paused: String = rc
        .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
        .unwrap()
        .get(0);
    assert_eq!(paused, "paused");
    assert!(
        rc.batch_execute("INSERT INTO t VALUES (1)").is_err(),
        "a paused copy is read-only"
    );
    let settings: String = rc
        .query_one(
            "SELECT current_setting('archive_mode') || ',' || current_setting('listen_addresses')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(settings, "off,", "never archives, no TCP");
    drop(rc);
    // The folder is not empty now: a second restore into it is refused.
    let again = s.run(&[
        "restore",
        "--to",
        dir.to_str().unwrap(),
        "--target-name",
        "rp1",
    ]);
    assert_exit(&again, 1);
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));

    // A target after the end of the archive: recovery ends before it, and says so.
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let ended = s.run_env(
        &[
            "restore",
            "--to",
            rroot.join("data3").to_str().unwrap(),
            "--target-time",
            &future,
        ],
        // The failed copy's log is kept in TMPDIR: here, in a folder the watchdog removes.
        &[("TMPDIR", rroot.to_str().unwrap())],
    );
    assert_exit(&ended, 1);
    assert!(
        stderr(&ended).contains("recovery ended before the target: segment ")
            && stderr(&ended).contains("is not in the archive"),
        "{}",
        stderr(&ended)
    );
    assert!(
        !rroot.join("data3").exists(),
        "a failed restore leaves no data directory"
    );

    // A hole in the archive: named before any server starts.
    let (_, _, last_lsn, _) = targets[2];
    let first_after_backup = {
        let start: Lsn = b["start_lsn"].as_str().unwrap().parse().unwrap();
        let seg = 16 * 1024 * 1024u64;
        let mut n = start.0 / seg + 1;
        // the first segment that is not inside the backup itself
        let included: Vec<String> = b["wal_included"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        loop {
            let name = format!("{:08X}{:08X}{:08X}", 1, n / 256, n % 256);
            if !included.contains(&name) {
                break name;
            }
            n += 1;
        }
    };
    std::fs::remove_file(archived_path(s.home.repo(), &first_after_backup)).unwrap();
    let t = Instant::now();
    let out = s.run(&[
        "restore",
        "--to",
        rroot.join("data2").to_str().unwrap(),
        "--target-lsn",
        &last_lsn.to_string(),
    ]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!(
            "segment {first_after_backup} is not in the archive"
        )),
        "{}",
        stderr(&out)
    );
    assert!(t.elapsed() < Duration::from_secs(15), "fails fast");
    assert!(!rroot.join("data2/PG_VERSION").exists(), "nothing restored");
}

/// `wal push` / `wal fetch` on real segments of another cluster (the harness's).
#[test]
fn wal_push_is_idempotent_refuses_conflicts_and_foreign_segments() {
    // A real segment: the shared test cluster archives with the same binary.
    let shared = cluster();
    let mut c = db::connect_url(&shared.url("postgres")).unwrap();
    switch_and_wait(&mut c);
    let name: String = c
        .query_one("SELECT last_archived_wal FROM pg_stat_archiver", &[])
        .unwrap()
        .get(0);
    let shared_repo = shared.root.join("repo");
    let work = scratch_dir("stella-wal-");
    spawn_watchdog(&work, &work.join("no-server"));
    let seg = work.join("seg");
    let fetched = stella(&[
        "--repo",
        shared_repo.to_str().unwrap(),
        "wal",
        "fetch",
        &name,
        seg.to_str().unwrap(),
    ]);
    assert_exit(&fetched, 0);
    let original = std::fs::read(&seg).unwrap();
    assert_eq!(original.len(), 16 * 1024 * 1024);

    let repo = work.join("repo");
    let r = repo.to_str().unwrap();
    let push = |path: &Path, name: &str| {
        stella(&["--repo", r, "wal", "push", path.to_str().unwrap(), name])
    };
    assert_exit(&push(&seg, &name), 0);
    let again = stella(&[
        "--repo",
        r,
        "--json",
        "wal",
        "push",
        seg.to_str().unwrap(),
        &name,
    ]);
    assert_exit(&again, 0);
    assert_eq!(json(&again)["already_archived"], true);

    // Same name, other content: refused, the archived one intact.
    let mut changed = original.clone();
    changed[100_000] ^= 0xFF;
    let other = work.join("other");
    std::fs::write(&other, &changed).unwrap();
    let conflict = push(&other, &name);
    assert_exit(&conflict, 1);
    assert!(
        stderr(&conflict).contains("different content"),
        "{}",
        stderr(&conflict)
    );
    let back = work.join("back");
    assert_exit(
        &stella(&["--repo", r, "wal", "fetch", &name, back.to_str().unwrap()]),
        0,
    );
    assert_eq!(std::fs::read(&back).unwrap(), original, "original intact");

    // Another cluster's segment (system identifier in the long page header): refused.
    let mut foreign = original.clone();
    foreign[24] ^= 0x01;
    let fpath = work.join("foreign");
    std::fs::write(&fpath, &foreign).unwrap();
    // (its page address must match its name, so it is pushed under its own name into a
    // repository that already belongs to the first cluster, and the other way round)
    let repo2 = work.join("repo2");
    let r2 = repo2.to_str().unwrap();
    assert_exit(
        &stella(&["--repo", r2, "wal", "push", seg.to_str().unwrap(), &name]),
        0,
    );
    let refused = stella(&["--repo", r2, "wal", "push", fpath.to_str().unwrap(), &name]);
    assert_exit(&refused, 1);
    let repo3 = work.join("repo3");
    let r3 = repo3.to_str().unwrap();
    assert_exit(
        &stella(&["--repo", r3, "wal", "push", fpath.to_str().unwrap(), &name]),
        0,
    );
    let mixed = stella(&["--repo", r3, "wal", "push", seg.to_str().unwrap(), &name]);
    assert_exit(&mixed, 1);
    assert!(
        stderr(&mixed).contains("refusing to mix"),
        "{}",
        stderr(&mixed)
    );
    assert!(
        stderr(&refused).contains("refusing to mix"),
        "{}",
        stderr(&refused)
    );

    // A garbage file under a segment name, and a name that is not a WAL name.
    let junk = work.join("junk");
    std::fs::write(&junk, vec![0u8; 16 * 1024 * 1024]).unwrap();
    let j = push(&junk, &name);
    assert_exit(&j, 1);
    assert!(
        stderr(&j).contains("not a valid WAL segment"),
        "{}",
        stderr(&j)
    );
    assert_exit(&push(&seg, "../../etc/passwd"), 1);

    // .partial and .history files.
    assert_exit(&push(&seg, &format!("{name}.partial")), 0);
    let hist = work.join("hist");
    std::fs::write(&hist, "1\t0/5000000\tno recovery target specified\n").unwrap();
    assert_exit(&push(&hist, "00000002.history"), 0);
    let hb = work.join("hb");
    assert_exit(
        &stella(&[
            "--repo",
            r,
            "wal",
            "fetch",
            "00000002.history",
            hb.to_str().unwrap(),
        ]),
        0,
    );
    assert_eq!(std::fs::read(&hb).unwrap(), std::fs::read(&hist).unwrap());

    // A missing segment: non-zero, named.
    let missing = stella(&[
        "--repo",
        r,
        "wal",
        "fetch",
        "000000010000000000000099",
        back.to_str().unwrap(),
    ]);
    assert_exit(&missing, 1);
    assert!(
        stderr(&missing).contains("segment 000000010000000000000099 is not in the archive"),
        "{}",
        stderr(&missing)
    );

    // A push killed mid-write leaves nothing visible; the next push works.
    let repo4 = work.join("repo4");
    let r4 = repo4.to_str().unwrap();
    let mut child = Command::new(bin())
        .args(["--repo", r4, "wal", "push", seg.to_str().unwrap(), &name])
        .env("STELLA_FAULT", "wal-push-stall")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let folder = repo4.join("wal").join(&name[..16]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_dir(&folder)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        })
        .unwrap_or(false)
    {
        assert!(Instant::now() < deadline, "push never started writing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let visible: Vec<String> = archived_files(&repo4)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(visible.is_empty(), "{visible:?}");
    let f = stella(&["--repo", r4, "wal", "fetch", &name, back.to_str().unwrap()]);
    assert_exit(&f, 1);
    assert_exit(
        &stella(&["--repo", r4, "wal", "push", seg.to_str().unwrap(), &name]),
        0,
    );
    assert_exit(
        &stella(&["--repo", r4, "wal", "fetch", &name, back.to_str().unwrap()]),
        0,
    );
    assert_eq!(std::fs::read(&back).unwrap(), original);

    // A damaged archived file is caught by fetch.
    let stored = archived_path(&repo4, &name);
    let mut bytes = std::fs::read(&stored).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&stored, bytes).unwrap();
    let bad = stella(&["--repo", r4, "wal", "fetch", &name, back.to_str().unwrap()]);
    assert_exit(&bad, 1);
    assert!(stderr(&bad).contains("damaged"), "{}", stderr(&bad));
    // ... and pushing the same segment again repairs it.
    assert_exit(
        &stella(&["--repo", r4, "wal", "push", seg.to_str().unwrap(), &name]),
        0,
    );
    assert_exit(
        &stella(&["--repo", r4, "wal", "fetch", &name, back.to_str().unwrap()]),
        0,
    );
    assert_eq!(std::fs::read(&back).unwrap(), original);
}

/// One backup at a time (exit 5 naming the holder), a killed backup is never listed and the
/// next works, `backup verify` passes and catches a damaged stored backup.
#[test]
fn backup_lock_kill9_verify_and_corruption() {
    let s = site();
    s.client()
        .batch_execute("CREATE TABLE t AS SELECT generate_series(1, 1000) i")
        .unwrap();
    let mut first = s.spawn(&["backup"], &[("STELLA_FAULT", "backup-stall")]);
    let backups = s.home.repo().join("backups");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = std::fs::read_dir(&backups)
            .map(|d| {
                d.flatten()
                    .any(|e| e.path().join("data/backup_manifest").exists())
            })
            .unwrap_or(false);
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "first backup never got going");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = s.run(&["backup"]);
    assert_exit(&second, 5);
    assert!(
        stderr(&second).contains(&format!("pid {}", first.id())),
        "names the holder: {}",
        stderr(&second)
    );
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let list = s.run(&["backup", "list", "--json"]);
    assert_exit(&list, 0);
    assert_eq!(
        json(&list)["backups"].as_array().unwrap().len(),
        0,
        "killed: not listed"
    );

    let b = s.backup();
    let label = b["label"].as_str().unwrap().to_string();
    let list = json(&s.run(&["backup", "list", "--json"]));
    assert_eq!(list["backups"].as_array().unwrap().len(), 1);
    let leftovers: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the killed backup's folder is gone: {leftovers:?}"
    );
    for field in [
        "label",
        "start_lsn",
        "stop_lsn",
        "timeline",
        "system_identifier",
        "start_time",
        "stop_time",
        "data_bytes",
        "stored_bytes",
        "pg_version",
        "start_wal",
        "stop_wal",
    ] {
        assert!(b.get(field).is_some(), "backup --json lacks {field}: {b}");
    }
    let quiet = s.run(&["backup", "verify", &label, "--quiet"]);
    assert_exit(&quiet, 0);
    assert!(stdout(&quiet).is_empty());

    // A file that does not match the manifest (damaged between the server and the repository)
    // fails the backup (exit 3) naming the file, and nothing is listed.
    let bad = s.spawn(&["backup"], &[("STELLA_FAULT", "backup-stall")]);
    let tmp = wait_for_stalled_backup(&backups);
    flip_first_byte_of(&tmp.join("data/base.tar.zst"), "PG_VERSION");
    std::fs::write(tmp.join("resume"), b"").unwrap();
    let out = bad.wait_with_output().unwrap();
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("PG_VERSION: checksum mismatch"),
        "names the damaged file: {err}"
    );
    let list = json(&s.run(&["backup", "list", "--json"]));
    assert_eq!(list["backups"].as_array().unwrap().len(), 1, "not listed");

    // Damage the stored backup: verify fails (exit 3) and says where.
    let archive = backups.join(&label).join("base.tar.zst");
    let mut bytes = std::fs::read(&archive).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&archive, bytes).unwrap();
    let bad = s.run(&["backup", "verify"]);
    assert_exit(&bad, 3);
    assert!(stderr(&bad).contains("damaged"), "{}", stderr(&bad));
}

/// The folder of a `backup` stopped by `STELLA_FAULT=backup-stall` once it stalls.
fn wait_for_stalled_backup(backups: &Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stalled = std::fs::read_dir(backups)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("stalled").exists());
        if let Some(p) = stalled {
            return p;
        }
        assert!(Instant::now() < deadline, "the backup never stalled");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Rewrite a staged `base.tar.zst` with the first byte of one file's content flipped (same
/// size, same tar headers).
fn flip_first_byte_of(archive: &Path, name: &str) {
    let raw = zstd::decode_all(&std::fs::read(archive).unwrap()[..]).unwrap();
    let mut out = tar::Builder::new(Vec::new());
    let mut flipped = false;
    for entry in tar::Archive::new(&raw[..]).entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if path.trim_start_matches("./") == name {
            data[0] ^= 0x01;
            flipped = true;
        }
        out.append(&header, &data[..]).unwrap();
    }
    assert!(flipped, "{name} is in the archive");
    let tar = out.into_inner().unwrap();
    std::fs::write(archive, zstd::encode_all(&tar[..], 1).unwrap()).unwrap();
}

/// `backup prune --keep N` keeps N backups and the WAL they need, names the scans that would
/// become unreplayable, refuses (non-interactive, no --yes) when there are some.
#[test]
fn prune_keeps_n_and_names_unreplayable_scans() {
    let s = site();
    assert_exit(&s.run(&["db", "migrate"]), 0);
    let mut c = db::connect_url(&s.cluster.url(5432, db::EMBEDDED_DATABASE)).unwrap();
    db::Tenant::new("default").ensure(&mut c).unwrap();
    let scan = |c: &mut postgres::Client, id: &str| {
        c.execute(
            "INSERT INTO scan_run (tenant_id, scan_id, status, started_at, engine_version, engine_rules, lsn, timeline)
             SELECT tenant_id, $1::text::uuid, 'done', now(), 'test', 'test', pg_current_wal_insert_lsn(), 1 FROM tenant LIMIT 1",
            &[&id],
        )
        .unwrap();
    };
    let a = "00000000-0000-0000-0000-00000000000a";
    let bscan = "00000000-0000-0000-0000-00000000000b";
    let b1 = s.backup();
    switch_and_wait(&mut c);
    scan(&mut c, a);
    switch_and_wait(&mut c);
    let b2 = s.backup();
    scan(&mut c, bscan);
    switch_and_wait(&mut c);
    let b3 = s.backup();
    switch_and_wait(&mut c);

    let refused = s.run(&["backup", "prune", "--keep", "2"]);
    assert_exit(&refused, 1);
    assert!(
        stderr(&refused).contains(a),
        "names scan a: {}",
        stderr(&refused)
    );
    assert!(!stderr(&refused).contains(bscan), "{}", stderr(&refused));
    assert_eq!(
        json(&s.run(&["backup", "list", "--json"]))["backups"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "nothing removed"
    );
    let dry = json(&s.run(&["backup", "prune", "--keep", "2", "--dry-run", "--json"]));
    assert_eq!(dry["remove_backups"][0], b1["label"]);

    let wal_before = archived_files(s.home.repo());
    let pruned = s.run(&["backup", "prune", "--keep", "2", "--yes", "--json"]);
    assert_exit(&pruned, 0);
    let j = json(&pruned);
    assert_eq!(j["removed"], true);
    assert_eq!(j["remove_backups"], serde_json::json!([b1["label"]]));
    assert_eq!(j["unreplayable_scans"][0]["scan_id"], a);
    let labels: Vec<String> = json(&s.run(&["backup", "list", "--json"]))["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["label"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        labels,
        vec![
            b3["label"].as_str().unwrap().to_string(),
            b2["label"].as_str().unwrap().to_string()
        ]
    );
    // WAL before backup 2's start is gone; from it on everything stays.
    let start_wal = b2["start_wal"].as_str().unwrap();
    let wal_after = archived_files(s.home.repo());
    assert!(wal_after.len() < wal_before.len());
    for f in &wal_before {
        let name = f.split('-').next().unwrap();
        let kept = wal_after.contains(f);
        if name.len() >= 24 && &name[..24] >= start_wal {
            assert!(kept, "{f} is needed and must stay");
        } else if name.len() >= 24 {
            assert!(!kept, "{f} is before the oldest kept backup");
        }
    }
    // Scan b is still replayable from backup 2.
    let lsn: String = c
        .query_one(
            "SELECT lsn::text FROM scan_run WHERE scan_id = $1::text::uuid",
            &[&bscan],
        )
        .unwrap()
        .get(0);
    let server = stella_bundle::backup::restore_to_lsn(
        &s.home,
        b2["system_identifier"].as_str().unwrap().parse().unwrap(),
        lsn.parse().unwrap(),
        Some(1),
    )
    .unwrap();
    assert_eq!(server.backup().label, b2["label"].as_str().unwrap());
    drop(server);

    let nothing = s.run(&["backup", "prune", "--keep", "2", "--json"]);
    assert_exit(&nothing, 0);
    assert_eq!(json(&nothing)["removed"], false);
    assert_exit(&s.run(&["backup", "prune", "--keep", "0"]), 2);
}

/// A restore promoted at a target creates timeline 2 (its copy then archives into the same
/// repository); a later restore to a target on timeline 1 after the fork is still exact,
/// because restores pin the backup's timeline.
#[test]
fn timelines_promoted_copy_then_exact_restore_on_timeline_1() {
    let s = site();
    let mut c = s.client();
    c.batch_execute("CREATE TABLE t (i int)").unwrap();
    s.backup();
    c.batch_execute("INSERT INTO t SELECT generate_series(1, 10)")
        .unwrap();
    let lsn1 = lsn_now(&mut c);
    switch_and_wait(&mut c);
    c.batch_execute("INSERT INTO t SELECT generate_series(1, 20)")
        .unwrap();
    let lsn2 = lsn_now(&mut c);
    c.batch_execute("INSERT INTO t VALUES (0)").unwrap();
    switch_and_wait(&mut c);

    // Promote a copy at lsn1 and let it run as a primary archiving into the same repository.
    let rroot = scratch_dir("stella-tl-");
    let dir = rroot.join("data");
    spawn_watchdog(&rroot, &dir);
    let mut o = s.restore_opts(RecoveryTarget::Lsn(lsn1));
    o.action = TargetAction::Promote;
    o.data_dir = Some(dir.clone());
    o.keep = true;
    let promoted = stella_bundle::backup::restore(&s.home, &o).unwrap();
    assert!(promoted.promoted());
    assert_eq!(promoted.timeline(), 2);
    let sock = promoted.socket_dir().to_path_buf();
    spawn_watchdog(&sock, &dir);
    promoted.stop().unwrap();
    // The copy promoted with archiving off (a restore never writes into the archive); an
    // operator who makes it the primary turns archiving on, and its history file goes too.
    let ready = dir.join("pg_wal/archive_status/00000002.history.ready");
    std::fs::write(&ready, "").unwrap();
    ServerUser::resolve().unwrap().own_file(&ready).unwrap();
    let bins = PgBinaries::locate().unwrap();
    let user = ServerUser::resolve().unwrap();
    let opts = format!(
        "-c archive_mode=on -c archive_command='{}' -c fsync=off",
        install::archive_command(&s.home).replace('\'', "'\\''")
    );
    let started = user
        .command(bins.tool("pg_ctl"), &dir)
        .args(["start", "-w", "-s", "-D"])
        .arg(&dir)
        .arg("-l")
        .arg(sock.join("primary.log"))
        .args(["-o", &opts])
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let purl = format!(
        "postgresql:///postgres?host={}&port=5432&user=postgres",
        sock.display()
    );
    let mut pc = db::connect_url(&purl).unwrap();
    assert_eq!(count(&purl, "t"), 10);
    pc.batch_execute("INSERT INTO t SELECT generate_series(1, 500)")
        .unwrap();
    let lsn_tl2 = lsn_now(&mut pc);
    pc.batch_execute("INSERT INTO t VALUES (0)").unwrap();
    switch_and_wait(&mut pc);
    drop(pc);
    let stop = user
        .command(bins.tool("pg_ctl"), &dir)
        .args(["stop", "-w", "-s", "-m", "fast", "-D"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(stop.status.success());
    let files = archived_files(s.home.repo());
    assert!(
        files.iter().any(|f| f.starts_with("00000002.history-")),
        "timeline 2 is in the archive: {files:?}"
    );
    assert!(
        files.iter().any(|f| f.starts_with("00000002000000")),
        "{files:?}"
    );

    // Back on timeline 1, after the fork point: exactly 10 + 20 rows.
    let server =
        stella_bundle::backup::restore(&s.home, &s.restore_opts(RecoveryTarget::Lsn(lsn2)))
            .unwrap();
    assert_eq!(server.timeline(), 1);
    assert_eq!(count(&server.url("postgres"), "t"), 30);
    drop(server);

    // And along timeline 2 (a scan made on the promoted copy), from the timeline-1 backup
    // taken before the fork: 10 rows before the fork + 500 after it.
    let mut o = s.restore_opts(RecoveryTarget::Lsn(lsn_tl2));
    o.timeline = Some(2);
    let server = stella_bundle::backup::restore(&s.home, &o).unwrap();
    assert_eq!(server.timeline(), 2);
    assert_eq!(server.backup().timeline, 1);
    assert_eq!(count(&server.url("postgres"), "t"), 510);
}

/// An external server given by --database-url, archiving into a repository with `wal push`:
/// backup and restore work the same; a segment of another cluster is refused by its archive.
#[test]
fn external_server_via_database_url() {
    let repo_root = scratch_dir("stella-extrepo-");
    spawn_watchdog(&repo_root, &repo_root.join("no-server"));
    let repo = repo_root.join("repo");
    let ext = site_with_repo(Some(repo.clone()));
    let url = ext.url();
    // The CLI sees only a URL and a repository (and a home for its scratch files).
    let home = scratch_dir("stella-exthome-");
    spawn_watchdog(&home, &home.join("no-server"));
    let run = |args: &[&str]| {
        let mut all = vec![
            "--database-url",
            url.as_str(),
            "--repo",
            repo.to_str().unwrap(),
            "--home",
            home.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        stella(&all)
    };
    let mut c = ext.client();
    c.batch_execute("CREATE TABLE t AS SELECT generate_series(1, 7) i")
        .unwrap();
    let out = run(&["backup", "--json"]);
    assert_exit(&out, 0);
    c.batch_execute("INSERT INTO t SELECT generate_series(1, 5)")
        .unwrap();
    let lsn = lsn_now(&mut c);
    c.batch_execute("INSERT INTO t VALUES (0)").unwrap();
    switch_and_wait(&mut c);

    let dir = home.join("restored");
    spawn_watchdog(&home, &dir);
    let out = run(&[
        "restore",
        "--to",
        dir.to_str().unwrap(),
        "--target-lsn",
        &lsn.to_string(),
        "--json",
    ]);
    assert_exit(&out, 0);
    let j = json(&out);
    let log = PathBuf::from(j["log"].as_str().unwrap());
    spawn_watchdog(log.parent().unwrap(), &dir);
    assert_eq!(count(j["url"].as_str().unwrap(), "t"), 12);

    // A segment of another cluster (the harness's) is refused by this repository.
    let shared = cluster();
    let mut sc = db::connect_url(&shared.url("postgres")).unwrap();
    switch_and_wait(&mut sc);
    let name: String = sc
        .query_one("SELECT last_archived_wal FROM pg_stat_archiver", &[])
        .unwrap()
        .get(0);
    let seg = home.join("foreign-seg");
    assert_exit(
        &stella(&[
            "--repo",
            shared.root.join("repo").to_str().unwrap(),
            "wal",
            "fetch",
            &name,
            seg.to_str().unwrap(),
        ]),
        0,
    );
    let refused = run(&["wal", "push", seg.to_str().unwrap(), &name]);
    assert_exit(&refused, 1);
    assert!(
        stderr(&refused).contains("refusing to mix"),
        "{}",
        stderr(&refused)
    );
    // ... and so is a base backup of that other cluster.
    let other = stella(&[
        "--database-url",
        &shared.url("postgres"),
        "--repo",
        repo.to_str().unwrap(),
        "backup",
    ]);
    assert_exit(&other, 1);
    assert!(
        stderr(&other).contains("use another --repo"),
        "{}",
        stderr(&other)
    );
    let listed = run(&["backup", "list", "--json"]);
    assert_eq!(json(&listed)["backups"].as_array().unwrap().len(), 1);
}
