//! The embedded cluster's lifecycle through the CLI, each test with a home of its own.

use crate::harness::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn home_args(home: &Path) -> Vec<String> {
    vec!["--home".into(), home.display().to_string()]
}

fn run(home: &Path, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = home_args(home);
    all.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    stella(&refs)
}

fn new_home() -> std::path::PathBuf {
    embedded_home()
}

#[test]
fn start_status_lint_kill9_recover_stop() {
    let home = new_home();
    let status = run(&home, &["db", "status", "--json"]);
    assert_exit(&status, 0);
    assert_eq!(json(&status)["running"], false, "fresh home: not running");

    let start = run(&home, &["db", "start", "--json"]);
    assert_exit(&start, 0);
    assert_eq!(json(&start)["outcome"], "created");
    assert!(home.join("pg/PG_VERSION").is_file());

    // Idempotent.
    let again = run(&home, &["db", "start", "--json"]);
    assert_exit(&again, 0);
    assert_eq!(json(&again)["outcome"], "already_running");

    // SPEC section 3: the url works with psql, and the fields are there.
    let status = json(&run(&home, &["db", "status", "--json"]));
    for field in [
        "running",
        "url",
        "data_dir",
        "server_version",
        "system_identifier",
    ] {
        assert!(
            status.get(field).is_some(),
            "db status --json lacks {field}: {status}"
        );
    }
    assert_eq!(status["running"], true);
    let url = status["url"].as_str().unwrap();
    let psql = std::process::Command::new("psql")
        .args([url, "-Atc", "SELECT count(*) FROM stella_migration"])
        .output()
        .expect("psql");
    assert!(
        psql.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&psql.stderr)
    );
    assert!(
        String::from_utf8_lossy(&psql.stdout)
            .trim()
            .parse::<i32>()
            .unwrap()
            >= 1
    );
    // Data checksums on, archiving on (SPEC section 2).
    let settings = std::process::Command::new("psql")
        .args([url, "-Atc", "SELECT current_setting('data_checksums'), current_setting('archive_mode'), current_setting('wal_level'), current_setting('listen_addresses')"])
        .output()
        .expect("psql");
    assert_eq!(
        String::from_utf8_lossy(&settings.stdout).trim(),
        "on|on|replica|"
    );

    let lint = run(&home, &["db", "lint"]);
    assert_exit(&lint, 0);

    // kill -9 of the postmaster, then db start recovers.
    let pid: i32 = std::fs::read_to_string(home.join("pg/postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let restart = run(&home, &["db", "start", "--json"]);
    assert_exit(&restart, 0);
    assert_eq!(json(&restart)["outcome"], "recovered");
    assert_exit(&run(&home, &["db", "lint"]), 0);

    // A corrupt postmaster.pid (after a crash) is handled too.
    assert_exit(&run(&home, &["db", "stop"]), 0);
    std::fs::write(home.join("pg/postmaster.pid"), "garbage\n").unwrap();
    let start = run(&home, &["db", "start", "--json"]);
    assert_exit(&start, 0);
    assert_eq!(json(&start)["outcome"], "recovered");

    let stop = run(&home, &["db", "stop", "--json"]);
    assert_exit(&stop, 0);
    assert_eq!(json(&stop)["stopped"], true);
    assert_eq!(
        json(&run(&home, &["db", "status", "--json"]))["running"],
        false
    );
}

#[test]
fn missing_binaries_is_a_clear_error_and_creates_nothing() {
    let home = new_home();
    let out = stella_env(
        &["--home", home.to_str().unwrap(), "db", "start"],
        &[("STELLA_PG_BIN", "/nonexistent/bin")],
    );
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("STELLA_PG_BIN=/nonexistent/bin"),
        "{}",
        stderr(&out)
    );
    assert!(!home.join("pg").exists());
}

#[test]
fn failed_initdb_leaves_no_data_dir() {
    // A bin folder whose initdb fails after creating files.
    let fake = scratch_dir("stella-fakebin-");
    let real = stella_bundle::pg::PgBinaries::locate().unwrap();
    for tool in ["postgres", "pg_ctl", "pg_controldata"] {
        std::os::unix::fs::symlink(real.tool(tool), fake.join(tool)).unwrap();
    }
    std::fs::write(
        fake.join("initdb"),
        "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = -D ] && d=$2; shift; done\ntouch \"$d/PG_VERSION\"\necho 'initdb: error: simulated failure' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(fake.join("initdb"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = new_home();
    let out = stella_env(
        &["--home", home.to_str().unwrap(), "db", "start"],
        &[("STELLA_PG_BIN", fake.to_str().unwrap())],
    );
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("initdb failed"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("simulated failure"),
        "{}",
        stderr(&out)
    );
    assert!(
        !home.join("pg").exists(),
        "no data directory after a failed initdb"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().starts_with(".pg.init")),
        "{leftovers:?}"
    );
}

#[test]
fn read_only_home_is_a_clear_error() {
    let out = stella(&["--home", "/proc/stella-home", "db", "start"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("/proc/stella-home"), "{err}");
    assert!(!err.contains("Os {"), "no Rust debug output: {err}");
}

#[test]
fn data_dir_of_another_user_is_refused() {
    let home = new_home();
    std::fs::create_dir_all(home.join("pg")).unwrap();
    std::fs::write(home.join("pg/PG_VERSION"), "15\n").unwrap();
    // Owned by nobody (65534): neither us nor the server user.
    nix::unistd::chown(
        &home.join("pg"),
        Some(nix::unistd::Uid::from_raw(65534)),
        None,
    )
    .ok();
    if !nix::unistd::Uid::effective().is_root() {
        return; // an unprivileged user cannot give a folder away; the check is covered as root
    }
    let out = run(&home, &["db", "start"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("belongs to uid 65534"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn port_in_use_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let home = new_home();
    let out = run(
        &home,
        &["--listen", "127.0.0.1", "--port", &port, "db", "start"],
    );
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("already in use"), "{}", stderr(&out));
    assert!(
        home.join("pg/PG_VERSION").exists(),
        "the data directory itself is fine and kept"
    );
}

#[test]
fn database_url_that_does_not_answer() {
    let out = stella(&[
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/stella",
        "db",
        "migrate",
    ]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("cannot connect to postgresql://postgres@127.0.0.1:1/stella"),
        "{err}"
    );
}

#[test]
fn external_database_url_works() {
    let db = fresh_db();
    let out = stella_db(&db, &["db", "status", "--json"]);
    assert_exit(&out, 0);
    let j = json(&out);
    assert_eq!(j["running"], true);
    assert_eq!(j["embedded"], false);
    assert_exit(&stella_db(&db, &["db", "lint"]), 0);
    // stop is for the embedded cluster only: a usage error.
    assert_exit(&stella_db(&db, &["db", "stop"]), 2);
}

#[test]
fn usage_errors_exit_2() {
    assert_exit(&stella(&["db", "frobnicate"]), 2);
    assert_exit(&stella(&["--tenant", "", "db", "status"]), 2);
}

#[test]
fn home_the_server_user_cannot_enter_is_refused_before_anything_is_created() {
    if !nix::unistd::Uid::effective().is_root() {
        return; // only root switches to another server user
    }
    let root = scratch_dir("stella-private-");
    let private = root.join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let home = private.join("a/b/stella");
    let out = run(&home, &["db", "start"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach") && err.contains(private.to_str().unwrap()),
        "{err}"
    );
    assert!(err.contains("chmod o+x"), "says what to do: {err}");
    assert_eq!(
        std::fs::read_dir(&private).unwrap().count(),
        0,
        "nothing created"
    );
}

#[test]
fn server_started_under_a_cron_lock_does_not_keep_the_lock() {
    // A cron line `flock LOCK stella-bundle ...` whose command starts the embedded cluster:
    // the lock's descriptor (inherited without close-on-exec) must not live on in the server.
    let home = new_home();
    let lock = home.with_extension("cron.lock");
    let out = std::process::Command::new("flock")
        .arg(&lock)
        .arg(bin())
        .args(["--home", home.to_str().unwrap(), "db", "start"])
        .output()
        .expect("flock(1) from util-linux");
    assert_exit(&out, 0);
    let free = std::process::Command::new("flock")
        .args(["-n", lock.to_str().unwrap(), "true"])
        .status()
        .unwrap();
    let stop = run(&home, &["db", "stop"]);
    assert!(
        free.success(),
        "the running server still holds the cron job's lock {}",
        lock.display()
    );
    assert_exit(&stop, 0);
    let _ = std::fs::remove_file(&lock);
}
