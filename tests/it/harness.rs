//! Test harness: one throwaway PostgreSQL cluster per test process, started through the same
#![allow(dead_code)] // helpers used by some test modules only
//! code the product uses (initdb/pg_ctl in a temp dir, private socket, as the `postgres` OS user
//! when run as root), a migrated template database, and a fresh database per test cloned from it.
//! A watchdog process stops the cluster and removes its folder when the test process exits,
//! whatever way it exits (panics and kills included).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use stella_bundle::db::{self, DbTarget};
use stella_bundle::home::Home;
use stella_bundle::pg::{Cluster, PgBinaries, ServerUser};

const TEMPLATE: &str = "stella_template";

pub struct SharedCluster {
    pub root: PathBuf,
    pub cluster: Cluster,
    pub port: u16,
}

static SHARED: OnceLock<SharedCluster> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

static PROCESS_DIR: OnceLock<PathBuf> = OnceLock::new();

/// This test process's scratch folder under /tmp, removed by a watchdog when the process exits.
fn process_dir() -> &'static Path {
    PROCESS_DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("stella-it-")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).expect("chmod");
        spawn_watchdog(&dir, &dir.join("no-cluster"));
        dir
    })
}

/// A folder the server user can enter, removed (with everything in it) when this process exits.
pub fn scratch_dir(prefix: &str) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(process_dir())
        .expect("temp dir")
        .keep();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).expect("chmod");
    dir
}

pub fn cluster() -> &'static SharedCluster {
    SHARED.get_or_init(|| {
        let root = scratch_dir("stella-test-");
        let home = Home::new(root.clone(), None);
        let bins =
            PgBinaries::locate().expect("PostgreSQL binaries (run scripts/install-test-deps.sh)");
        let user = ServerUser::resolve().expect("server user");
        let cluster = Cluster::new(
            bins,
            user.clone(),
            home.pg_data(),
            home.run_dir(),
            home.log_dir(),
        );
        user.own_dir(&home.wal_archive(), 0o700).expect("wal dir");
        // The archive_command runs HOME/bin/stella-bundle wal push (as `db start` installs it).
        stella_bundle::backup::install::install_binary(&home, Path::new(bin()))
            .expect("install the binary");
        let mut settings = DbTarget::settings(&home, None, 5432);
        settings.extra = vec![
            ("fsync".into(), "off".into()),
            ("synchronous_commit".into(), "off".into()),
            ("max_connections".into(), "200".into()),
            ("shared_buffers".into(), "64MB".into()),
        ];
        spawn_watchdog(&root, &home.pg_data());
        cluster.start(&settings).expect("start the test cluster");
        let shared = SharedCluster {
            root,
            cluster,
            port: 5432,
        };
        let mut admin = db::connect_url(&shared.url("postgres")).expect("connect");
        admin
            .batch_execute(&format!("CREATE DATABASE {TEMPLATE}"))
            .expect("create template");
        let mut t = db::connect_url(&shared.url(TEMPLATE)).expect("connect template");
        db::migrate::migrate(&mut t).expect("migrate template");
        drop(t);
        shared
    })
}

/// Stop the cluster (immediate) and remove `root` once this process is gone.
#[allow(clippy::zombie_processes)] // the watchdog must outlive this process: never waited for
pub fn spawn_watchdog(root: &Path, data: &Path) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         p=$(head -1 '{data}/postmaster.pid' 2>/dev/null); [ -n \"$p\" ] && kill -QUIT \"$p\" 2>/dev/null; \
         sleep 1; rm -rf '{root}'",
        pid = std::process::id(),
        data = data.display(),
        root = root.display()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("watchdog");
}

impl SharedCluster {
    pub fn url(&self, dbname: &str) -> String {
        self.cluster.url(self.port, dbname)
    }
}

/// A database of its own for one test, cloned from the migrated template.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn client(&self) -> postgres::Client {
        db::connect_url(&self.url).expect("connect test db")
    }
}

pub fn fresh_db() -> TestDb {
    new_db(Some(TEMPLATE))
}

/// An empty database (no schema), e.g. to test migrations themselves.
pub fn empty_db() -> TestDb {
    new_db(None)
}

fn new_db(template: Option<&str>) -> TestDb {
    let c = cluster();
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = db::connect_url(&c.url("postgres")).expect("connect");
    let sql = match template {
        // FILE_COPY: with the test cluster's fsync=off its checkpoints are cheap, and it copies
        // the template faster than WAL-logging every block (docs/BENCHMARKS.md, "db").
        Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t} STRATEGY FILE_COPY"),
        None => format!("CREATE DATABASE {name}"),
    };
    admin.batch_execute(&sql).expect("create test database");
    TestDb {
        url: c.url(&name),
        name,
    }
}

/// The product binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stella-bundle")
}

/// Run the product binary with a clean environment (no STELLA_* from the caller).
pub fn stella(args: &[&str]) -> Output {
    stella_env(args, &[])
}

pub fn stella_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("STELLA_") || k == "SOURCE_DATE_EPOCH" {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    cmd.output().expect("run stella-bundle")
}

/// Run against a test database.
pub fn stella_db(db: &TestDb, args: &[&str]) -> Output {
    let mut all = vec!["--database-url", db.url.as_str()];
    all.extend_from_slice(args);
    stella(&all)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}\nstderr: {}",
            stdout(o),
            stderr(o)
        )
    })
}

#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit code\nstdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
}

/// Row counts of every core table, to prove that a failed command wrote nothing. The audit
/// trail (`event`) is left out: a refused command records its refusal there (SPEC section 5).
pub fn table_counts(client: &mut postgres::Client) -> Vec<(String, i64)> {
    let tables: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
               AND c.relname <> 'event'
             ORDER BY 1",
            &[],
        )
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let n: i64 = client
                .query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .expect("count")
                .get(0);
            (t, n)
        })
        .collect()
}

/// The shared fixtures folder (`$STELLA_SHARED_DIR`, else `../shared`).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("STELLA_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

pub fn fixture(rel: &str) -> PathBuf {
    shared_dir().join("fixtures").join(rel)
}

/// A signing key for tests (fixed seed) and its public key file.
pub struct TestKey {
    pub key: stella_bundle::bundle::PrivateKey,
    pub pub_file: PathBuf,
    pub key_file: PathBuf,
}

pub fn test_key(seed: u8) -> TestKey {
    let dir = scratch_dir("stella-key-");
    let key = stella_bundle::bundle::PrivateKey::from_seed(&[seed; 32]);
    let files =
        stella_bundle::bundle::keys::write_key_pair(&key, &dir.join("k")).expect("write key");
    TestKey {
        key,
        pub_file: files.public,
        key_file: files.private,
    }
}

/// Build a signed bundle from in-memory files (no format validation: tests plant bad ones).
pub fn make_bundle(
    key: &TestKey,
    kind: &str,
    source: &str,
    files: &[(&str, Vec<u8>)],
    created: &str,
    sequence: Option<u64>,
) -> PathBuf {
    let dir = scratch_dir("stella-bundle-src-");
    for (name, bytes) in files {
        let p = dir.join("in").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
    }
    let out = dir.join(format!("{source}.tar.zst"));
    let kind: stella_bundle::bundle::Kind = kind.parse().unwrap();
    let mut opts = stella_bundle::bundle::CreateOptions::new(
        kind,
        source,
        &key.key,
        out.clone(),
        vec![dir.join("in")],
    );
    opts.created = Some(stella_bundle::bundle::create::parse_created(created).unwrap());
    opts.sequence = sequence;
    stella_bundle::bundle::create(&opts).expect("create bundle");
    out
}

/// The files of a fixture folder (sorted), as (name, bytes).
pub fn fixture_files(rel: &str, ext: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixture(rel))
        .unwrap_or_else(|e| panic!("fixture folder {rel}: {e}"))
        .flatten()
        .filter(|e| e.path().is_file())
        .filter(|e| {
            ext.iter()
                .any(|x| e.file_name().to_string_lossy().ends_with(x))
        })
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A home for an embedded cluster of its own, stopped and removed when this process exits.
pub fn embedded_home() -> PathBuf {
    let root = scratch_dir("stella-home-");
    spawn_watchdog(&root, &root.join("h/pg"));
    root.join("h")
}

/// Run the binary against an embedded home.
pub fn stella_home(home: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--home", home.to_str().expect("utf-8 home")];
    all.extend_from_slice(args);
    stella(&all)
}
