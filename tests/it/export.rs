//! Export: byte-identical snapshots whatever the import order and the environment, the
//! export -> import -> export fixed point, deltas applied at another site, and every bad snapshot
//! refused with a clear message and nothing written.

use crate::harness::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

fn refs(files: &[(String, Vec<u8>)]) -> Vec<(&str, Vec<u8>)> {
    files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect()
}

/// The bundles of the test world, in a canonical order.
struct World {
    key: TestKey,
    feed1: PathBuf,
    feed2: PathBuf,
    pypa: PathBuf,
    sbom: PathBuf,
    vex: PathBuf,
    manifest: Vec<u8>,
}

fn world() -> World {
    let key = test_key(7);
    let rustsec = fixture_files("osv/rustsec", &[".json"]);
    let (a, b) = rustsec.split_at(rustsec.len() / 2);
    // feed2 shares some records with feed1 and carries a newer version of one of them.
    let mut f2: Vec<(String, Vec<u8>)> = b.to_vec();
    f2.extend(a.iter().take(3).cloned());
    let mut newer: Value = serde_json::from_slice(&a[0].1).unwrap();
    newer["modified"] = Value::String("2099-01-01T00:00:00Z".into());
    f2.push((
        "newer.json".into(),
        serde_json::to_vec_pretty(&newer).unwrap(),
    ));
    let pypa: Vec<_> = fixture_files("osv/pypa", &[".yaml"])
        .into_iter()
        .take(15)
        .collect();
    let sboms: Vec<(String, Vec<u8>)> = [
        "cyclonedx/bom-examples/dropwizard-1.3.15.bom.json",
        "cyclonedx/bom-examples/laravel-7.12.0.bom.1.4.json",
    ]
    .iter()
    .map(|n| {
        (
            n.rsplit('/').next().unwrap().to_string(),
            std::fs::read(fixture(n)).unwrap(),
        )
    })
    .collect();
    let vex = vec![(
        "go-vex.json".to_string(),
        std::fs::read(fixture("openvex/go-vex_v0.2.0.json")).unwrap(),
    )];
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "findings", "digest": {"sha256": "00".repeat(32)}}],
        "predicateType": "urn:stella-bundle:scan-manifest:v1",
        "predicate": {"scan_id": "6f1c1a52-4c8e-4b8e-9a51-0d6b7f3c2a10", "tenant": "default"}
    });
    let manifest = stella_bundle::bundle::Envelope::sign(
        stella_bundle::bundle::PAYLOAD_TYPE_INTOTO,
        &serde_json::to_vec(&statement).unwrap(),
        &key.key,
    )
    .to_json();
    World {
        feed1: make_bundle(
            &key,
            "feed",
            "rustsec",
            &refs(a),
            "2026-11-01T00:00:00Z",
            Some(1),
        ),
        feed2: make_bundle(
            &key,
            "feed",
            "rustsec-extra",
            &refs(&f2),
            "2026-11-05T10:00:00Z",
            Some(1),
        ),
        pypa: make_bundle(
            &key,
            "feed",
            "pypa",
            &refs(&pypa),
            "2026-11-03T00:00:00Z",
            None,
        ),
        sbom: make_bundle(
            &key,
            "sbom",
            "apps",
            &refs(&sboms),
            "2026-11-02T00:00:00Z",
            None,
        ),
        vex: make_bundle(
            &key,
            "vex",
            "vendor",
            &refs(&vex),
            "2026-11-04T00:00:00Z",
            None,
        ),
        manifest,
        key,
    }
}

fn import(db: &TestDb, key: &TestKey, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "import",
        "--json",
        "--trust",
        key.pub_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    stella_db(db, &args)
}

fn import_ok(db: &TestDb, key: &TestKey, file: &Path) -> Value {
    let o = import(db, key, file, &[]);
    assert_exit(&o, 0);
    json(&o)["bundles"][0].clone()
}

/// Stores the world's scan manifest the way `scan` does.
fn store_manifest(db: &TestDb, w: &World) {
    let mut c = db.client();
    let tenant = stella_bundle::db::Tenant::new("default");
    let doc: Value = serde_json::from_slice(
        &stella_bundle::bundle::Envelope::parse(&w.manifest)
            .unwrap()
            .payload_bytes()
            .unwrap(),
    )
    .unwrap();
    let hash = {
        use sha2::Digest;
        sha2::Sha256::digest(&w.manifest).to_vec()
    };
    let id = uuid::Uuid::parse_str("6f1c1a52-4c8e-4b8e-9a51-0d6b7f3c2a10").unwrap();
    c.execute(
        "INSERT INTO scan_manifest (tenant_id, scan_id, content_hash, envelope, doc) VALUES ($1, $2, $3, $4, $5)",
        &[&tenant.id, &id, &hash, &w.manifest, &doc],
    )
    .unwrap();
}

/// Runs `export` with a given environment, umask and working directory.
fn export_with(
    db: &TestDb,
    key: &TestKey,
    out: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    umask: &str,
    cwd: &Path,
) -> Output {
    let mut args: Vec<String> = vec![
        "--database-url".into(),
        db.url.clone(),
        "export".into(),
        "--json".into(),
        "--key".into(),
        key.key_file.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(bin())
        .args(&args)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("STELLA_") || k == "SOURCE_DATE_EPOCH" {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("run export")
}

fn export(db: &TestDb, key: &TestKey, out: &Path, extra: &[&str]) -> Value {
    let o = export_with(db, key, out, extra, &[], "022", Path::new("/"));
    assert_exit(&o, 0);
    json(&o)
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// Extracts one entry of a bundle with GNU tar.
fn entry(bundle: &Path, name: &str) -> Vec<u8> {
    let o = Command::new("tar")
        .args(["--zstd", "-xOf"])
        .arg(bundle)
        .arg(name)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

#[test]
fn export_is_identical_whatever_the_import_order_and_environment() {
    let w = world();
    let a = fresh_db();
    for f in [&w.feed1, &w.feed2, &w.pypa, &w.sbom, &w.vex] {
        import_ok(&a, &w.key, f);
    }
    store_manifest(&a, &w);
    let b = fresh_db();
    for f in [
        &w.vex, &w.sbom, &w.pypa, &w.feed2, &w.feed1, &w.sbom, &w.feed2,
    ] {
        import_ok(&b, &w.key, f);
    }
    store_manifest(&b, &w);
    let dir = scratch_dir("stella-export-");
    let ea = dir.join("a.tar.zst");
    let eb = dir.join("b.tar.zst");
    let ra = export(&a, &w.key, &ea, &[]);
    export(&b, &w.key, &eb, &[]);
    assert!(
        bytes(&ea) == bytes(&eb),
        "same data, different import order: different bytes"
    );
    assert_eq!(
        ra["created"], "2026-11-05T10:00:00Z",
        "created = newest signed created"
    );
    assert_eq!(ra["documents"]["scan_manifest"], 1);
    assert_eq!(ra["documents"]["sbom"], 2);

    // Environment: time zone, locale, umask, working directory.
    let cwd = scratch_dir("stella-export-cwd-");
    let ec = cwd.join("c.tar.zst");
    let o = export_with(
        &b,
        &w.key,
        Path::new("c.tar.zst"),
        &[],
        &[
            ("TZ", "Pacific/Kiritimati"),
            ("LC_ALL", "de_DE.UTF-8"),
            ("LANG", "tr_TR.UTF-8"),
        ],
        "077",
        &cwd,
    );
    assert_exit(&o, 0);
    assert!(bytes(&ea) == bytes(&ec), "environment changed the bytes");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&ec).unwrap().permissions().mode() & 0o777,
        0o644
    );

    // The snapshot verifies with the stock path and its index lists the imports, sorted.
    let v = stella(&[
        "verify",
        "--trust",
        w.key.pub_file.to_str().unwrap(),
        ea.to_str().unwrap(),
    ]);
    assert_exit(&v, 0);
    let index: Value = serde_json::from_slice(&entry(&ea, "data/index.json")).unwrap();
    let shas: Vec<&str> = index["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["bundle_sha256"].as_str().unwrap())
        .collect();
    assert_eq!(shas.len(), 5);
    assert!(shas.windows(2).all(|p| p[0] < p[1]));
    assert_eq!(index["tenant"], "default");
    assert!(String::from_utf8(entry(&ea, "data/VERIFY.txt"))
        .unwrap()
        .contains("openssl"));
    // Every document is named by its content hash.
    let mut c = a.client();
    let docs = index["documents"].as_array().unwrap();
    assert_eq!(
        docs.len() as i64,
        count(&mut c, "SELECT (SELECT count(*) FROM advisory) + (SELECT count(*) FROM sbom_document) + (SELECT count(*) FROM vex_document) + 1")
    );
    for d in docs.iter().take(5) {
        let body = entry(&ea, d["path"].as_str().unwrap());
        use sha2::Digest;
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&body)),
            d["content_hash"].as_str().unwrap()
        );
    }
}

fn child_counts(db: &TestDb) -> Vec<i64> {
    let mut c = db.client();
    [
        "sbom_document",
        "sbom_component",
        "vex_document",
        "vex_statement",
        "advisory",
        "advisory_affected",
        "advisory_current",
        "scan_manifest",
    ]
    .iter()
    .map(|t| count(&mut c, &format!("SELECT count(*) FROM {t}")))
    .collect()
}

#[test]
fn export_import_export_is_a_fixed_point() {
    let w = world();
    let a = fresh_db();
    for f in [&w.feed1, &w.feed2, &w.pypa, &w.sbom, &w.vex] {
        import_ok(&a, &w.key, f);
    }
    store_manifest(&a, &w);
    let dir = scratch_dir("stella-export-");
    let ea = dir.join("a.tar.zst");
    export(&a, &w.key, &ea, &[]);

    // A fresh site.
    let c = fresh_db();
    let r = import_ok(&c, &w.key, &ea);
    assert_eq!(r["status"], "imported");
    assert_eq!(r["kind"], "snapshot");
    assert_eq!(child_counts(&a), child_counts(&c));
    let mut cc = c.client();
    let same_current: i64 = count(
        &mut cc,
        "SELECT count(*) FROM advisory_current c JOIN advisory a ON a.id = c.advisory_pk WHERE a.modified = '2099-01-01T00:00:00Z'",
    );
    assert_eq!(
        same_current, 1,
        "the newer version is current at the new site too"
    );
    let ec = dir.join("c.tar.zst");
    export(&c, &w.key, &ec, &[]);
    assert!(
        bytes(&ea) == bytes(&ec),
        "export at the importing site differs"
    );

    // Idempotent: the same snapshot again changes nothing.
    let before = table_counts(&mut cc);
    let again = import_ok(&c, &w.key, &ea);
    assert_eq!(again["status"], "already_imported");
    assert_eq!(table_counts(&mut cc), before);

    // A site that already had some of the data: documents counted as existing, same export.
    let d = fresh_db();
    import_ok(&d, &w.key, &w.feed1);
    let r = import_ok(&d, &w.key, &ea);
    assert!(r["documents"]["existing"].as_i64().unwrap() > 0);
    let ed = dir.join("d.tar.zst");
    export(&d, &w.key, &ed, &[]);
    assert!(bytes(&ea) == bytes(&ed));
    // And the original bundle is still recognised there.
    assert_eq!(import_ok(&d, &w.key, &w.vex)["status"], "already_imported");
}

#[test]
fn delta_applies_on_top_of_its_base_at_another_site() {
    let w = world();
    let a = fresh_db();
    import_ok(&a, &w.key, &w.feed1);
    import_ok(&a, &w.key, &w.sbom);
    let dir = scratch_dir("stella-export-");
    let base = dir.join("base.tar.zst");
    let rb = export(&a, &w.key, &base, &[]);
    import_ok(&a, &w.key, &w.feed2);
    import_ok(&a, &w.key, &w.vex);
    let delta = dir.join("delta.tar.zst");
    let rd = export(&a, &w.key, &delta, &["--since", base.to_str().unwrap()]);
    assert_eq!(rd["base"], rb["sha256"]);
    assert_eq!(rd["imports"], 2);
    assert_eq!(rd["documents"]["sbom"], 0);
    // By sha256 (recorded at export): the same bytes.
    let delta2 = dir.join("delta2.tar.zst");
    export(
        &a,
        &w.key,
        &delta2,
        &["--since", rb["sha256"].as_str().unwrap()],
    );
    assert!(bytes(&delta) == bytes(&delta2));
    // Only what the base does not hold.
    let index: Value = serde_json::from_slice(&entry(&delta, "data/index.json")).unwrap();
    let base_index: Value = serde_json::from_slice(&entry(&base, "data/index.json")).unwrap();
    let base_docs: std::collections::HashSet<&str> = base_index["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["content_hash"].as_str().unwrap())
        .collect();
    for d in index["documents"].as_array().unwrap() {
        assert!(!base_docs.contains(d["content_hash"].as_str().unwrap()));
    }
    assert_eq!(index["base"], rb["sha256"]);

    // A site that never saw the base snapshot but holds the same data: --since reads the base
    // file itself, and the delta is byte-identical to A's.
    let c = fresh_db();
    for f in [&w.vex, &w.feed2, &w.sbom, &w.feed1] {
        import_ok(&c, &w.key, f);
    }
    let delta_c = dir.join("delta-c.tar.zst");
    export(&c, &w.key, &delta_c, &["--since", base.to_str().unwrap()]);
    assert!(bytes(&delta) == bytes(&delta_c));

    // At another site: base, then delta, gives the same as a full export of A.
    let b = fresh_db();
    import_ok(&b, &w.key, &base);
    let r = import_ok(&b, &w.key, &delta);
    assert_eq!(r["status"], "imported");
    let full_a = dir.join("full-a.tar.zst");
    let full_b = dir.join("full-b.tar.zst");
    export(&a, &w.key, &full_a, &[]);
    export(&b, &w.key, &full_b, &[]);
    assert!(bytes(&full_a) == bytes(&full_b));
    assert_eq!(child_counts(&a), child_counts(&b));
}

#[test]
fn bad_snapshots_are_refused_and_write_nothing() {
    let w = world();
    let a = fresh_db();
    import_ok(&a, &w.key, &w.feed1);
    import_ok(&a, &w.key, &w.sbom);
    let dir = scratch_dir("stella-export-");
    let base = dir.join("base.tar.zst");
    let rb = export(&a, &w.key, &base, &[]);
    import_ok(&a, &w.key, &w.vex);
    let delta = dir.join("delta.tar.zst");
    export(&a, &w.key, &delta, &["--since", base.to_str().unwrap()]);

    let b = fresh_db();
    import_ok(&b, &w.key, &w.pypa);
    let mut bc = b.client();
    let before = table_counts(&mut bc);

    // Another tenant's snapshot.
    let o = import(&b, &w.key, &base, &["--tenant", "acme"]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("tenant \"default\", not \"acme\""),
        "{}",
        stderr(&o)
    );
    assert_eq!(table_counts(&mut bc), before);

    // A delta whose base was not imported here.
    let o = import(&b, &w.key, &delta, &[]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains(rb["sha256"].as_str().unwrap()),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("was not imported here"),
        "{}",
        stderr(&o)
    );
    assert_eq!(table_counts(&mut bc), before);

    // An index naming a document the snapshot does not carry (re-signed by a trusted key).
    let unpacked = scratch_dir("stella-unpack-");
    let st = Command::new("tar")
        .args(["--zstd", "-xf"])
        .arg(&base)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(st.success());
    let sbom_dir = unpacked.join("data/sbom");
    let victim = std::fs::read_dir(&sbom_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&victim).unwrap();
    let broken = dir.join("broken.tar.zst");
    let mut opts = stella_bundle::bundle::CreateOptions::new(
        stella_bundle::bundle::Kind::Snapshot,
        "stella-export",
        &w.key.key,
        broken.clone(),
        vec![unpacked.join("data")],
    );
    opts.tenant = Some("default".into());
    opts.created = Some(stella_bundle::bundle::parse_created("2026-11-02T00:00:00Z").unwrap());
    stella_bundle::bundle::create(&opts).unwrap();
    let o = import(&b, &w.key, &broken, &[]);
    assert_exit(&o, 3);
    let name = victim.file_stem().unwrap().to_string_lossy().to_string();
    assert!(
        stderr(&o).contains("which is not in the snapshot"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains(&name), "{}", stderr(&o));
    assert_eq!(table_counts(&mut bc), before);

    // Tampered bytes: verification fails (exit 3).
    let mut t = bytes(&base);
    let n = t.len();
    t[n - 40] ^= 0x55;
    let tampered = dir.join("tampered.tar.zst");
    std::fs::write(&tampered, &t).unwrap();
    let o = import(&b, &w.key, &tampered, &[]);
    assert_exit(&o, 3);
    assert_eq!(table_counts(&mut bc), before);

    // A flipped document byte inside a valid zstd stream: digest mismatch, exit 3.
    let mut tarb = zstd::decode_all(&bytes(&base)[..]).unwrap();
    let pos = tarb.windows(6).position(|w| w == br#""id": "#).unwrap();
    tarb[pos + 8] ^= 1;
    let flipped = dir.join("flipped.tar.zst");
    std::fs::write(&flipped, zstd::encode_all(&tarb[..], 3).unwrap()).unwrap();
    let o = import(&b, &w.key, &flipped, &[]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("sha256 mismatch"), "{}", stderr(&o));
    assert_eq!(table_counts(&mut bc), before);

    // An untrusted exporter: exit 3.
    let other = test_key(99);
    let o = import(&b, &other, &base, &[]);
    assert_exit(&o, 3);
    assert_eq!(table_counts(&mut bc), before);

    // Exporting a tenant with nothing imported: a clear failure, no file.
    let empty = fresh_db();
    let out = dir.join("empty.tar.zst");
    let o = export_with(&empty, &w.key, &out, &[], &[], "022", Path::new("/"));
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("nothing to export"), "{}", stderr(&o));
    assert!(!out.exists());
    // An unknown --since sha256.
    let o = export_with(
        &a,
        &w.key,
        &out,
        &["--since", &"ab".repeat(32)],
        &[],
        "022",
        Path::new("/"),
    );
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("no snapshot with that sha256"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

/// Unpacks a bundle into a fresh folder.
fn unpack(bundle: &Path) -> PathBuf {
    let dir = scratch_dir("stella-unpack-");
    let st = Command::new("tar")
        .args(["--zstd", "-xf"])
        .arg(bundle)
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    dir
}

/// Re-signs an unpacked snapshot folder with the trusted key.
fn resign(w: &World, dir: &Path, out: &Path, base: Option<String>) {
    let mut opts = stella_bundle::bundle::CreateOptions::new(
        stella_bundle::bundle::Kind::Snapshot,
        "stella-export",
        &w.key.key,
        out.to_path_buf(),
        vec![dir.join("data")],
    );
    opts.tenant = Some("default".into());
    opts.base = base;
    opts.created = Some(stella_bundle::bundle::parse_created("2026-11-05T00:00:00Z").unwrap());
    stella_bundle::bundle::create(&opts).unwrap();
}

#[test]
fn delta_linking_a_document_stored_nowhere_is_refused() {
    let w = world();
    let a = fresh_db();
    import_ok(&a, &w.key, &w.feed1);
    let dir = scratch_dir("stella-export-");
    let base = dir.join("base.tar.zst");
    let rb = export(&a, &w.key, &base, &[]);
    import_ok(&a, &w.key, &w.feed2);
    let delta = dir.join("delta.tar.zst");
    export(&a, &w.key, &delta, &["--since", base.to_str().unwrap()]);

    // Drop one new document from the delta and from its documents list (its import still links it).
    let un = unpack(&delta);
    let index_path = un.join("data/index.json");
    let mut index: Value = serde_json::from_slice(&bytes(&index_path)).unwrap();
    let gone = index["documents"].as_array_mut().unwrap().remove(0);
    std::fs::remove_file(un.join(gone["path"].as_str().unwrap())).unwrap();
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let broken = dir.join("broken-delta.tar.zst");
    resign(
        &w,
        &un,
        &broken,
        Some(rb["sha256"].as_str().unwrap().to_string()),
    );

    let b = fresh_db();
    import_ok(&b, &w.key, &base);
    let mut bc = b.client();
    let before = table_counts(&mut bc);
    let o = import(&b, &w.key, &broken, &[]);
    assert_exit(&o, 3);
    assert!(
        stderr(&o).contains(gone["content_hash"].as_str().unwrap()),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("neither in this delta nor stored here"),
        "{}",
        stderr(&o)
    );
    assert_eq!(table_counts(&mut bc), before);
    // The genuine delta still applies.
    assert_eq!(import_ok(&b, &w.key, &delta)["status"], "imported");
}

#[test]
fn export_during_an_import_sees_all_of_it_or_none() {
    let w = world();
    let a = fresh_db();
    import_ok(&a, &w.key, &w.feed1);
    let big: Vec<(String, Vec<u8>)> = (0..8000)
        .map(|i| {
            let rec = serde_json::json!({
                "id": format!("BIG-{i:06}"), "modified": "2026-10-01T00:00:00Z",
                "details": "y".repeat(1000),
                "affected": [{"package": {"ecosystem": "npm", "name": format!("p{}", i % 100)}, "versions": ["1.0.0"]}]
            });
            (format!("BIG-{i:06}.json"), serde_json::to_vec(&rec).unwrap())
        })
        .collect();
    let bundle = make_bundle(
        &w.key,
        "feed",
        "big",
        &refs(&big),
        "2026-11-09T00:00:00Z",
        None,
    );
    let mut child = Command::new(bin())
        .args(["--database-url", &a.url, "import", "--trust"])
        .arg(&w.key.pub_file)
        .arg(&bundle)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Export while the import's transaction is writing.
    let mut c = a.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while count(
        &mut c,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
         AND application_name = 'stella-bundle' AND backend_xid IS NOT NULL",
    ) == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "import never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let dir = scratch_dir("stella-export-");
    let mid = dir.join("mid.tar.zst");
    let r = export(&a, &w.key, &mid, &[]);
    assert!(child.wait().unwrap().success());
    let index: Value = serde_json::from_slice(&entry(&mid, "data/index.json")).unwrap();
    let n_imports = index["imports"].as_array().unwrap().len();
    let n_adv = r["documents"]["advisory"].as_i64().unwrap();
    let feed1_docs = count(
        &mut c,
        "SELECT count(*) FROM advisory WHERE advisory_id NOT LIKE 'BIG-%'",
    );
    match n_imports {
        1 => assert_eq!(n_adv, feed1_docs),
        2 => assert_eq!(n_adv, feed1_docs + 8000),
        n => panic!("{n} imports"),
    }
    // And the snapshot is self-consistent: it imports elsewhere and exports back to itself.
    let b = fresh_db();
    import_ok(&b, &w.key, &mid);
    let again = dir.join("again.tar.zst");
    export(&b, &w.key, &again, &[]);
    assert!(bytes(&mid) == bytes(&again));
}

#[test]
fn export_to_a_full_disk_fails_cleanly_and_leaves_nothing() {
    // The writer fails half way (ENOSPC) while the reader thread is fetching ahead: the command
    // must stop (not hang), name the file, leave no temp file and record no snapshot.
    let dir = scratch_dir("stella-export-full-");
    let mnt = dir.join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=16k",
            "tmpfs",
            mnt.to_str().unwrap(),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let w = world();
    let db = fresh_db();
    import_ok(&db, &w.key, &w.feed1);
    import_ok(&db, &w.key, &w.sbom);
    let out = mnt.join("snap.tar.zst");
    let o = export_with(&db, &w.key, &out, &[], &[], "022", Path::new("/"));
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains(mnt.to_str().unwrap()), "{err}");
    assert!(
        err.to_lowercase().contains("no space left"),
        "names the cause: {err}"
    );
    let left: Vec<_> = std::fs::read_dir(&mnt).unwrap().collect();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
    let mut c = db.client();
    assert_eq!(count(&mut c, "SELECT count(*) FROM snapshot_index"), 0);
}
