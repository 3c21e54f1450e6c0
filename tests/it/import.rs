//! Import: idempotent, atomic, concurrent-safe; real fixtures with independently computed counts;
//! every bad input rolled back whole.

use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn import(db: &TestDb, key: &TestKey, bundle: &std::path::Path) -> std::process::Output {
    import_env(db, key, bundle, &[])
}

/// `import --json` with extra environment variables.
fn import_env(
    db: &TestDb,
    key: &TestKey,
    bundle: &std::path::Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    stella_env(
        &[
            "--database-url",
            &db.url,
            "import",
            "--json",
            "--trust",
            key.pub_file.to_str().unwrap(),
            bundle.to_str().unwrap(),
        ],
        env,
    )
}

fn first(o: &std::process::Output) -> Value {
    json(o)["bundles"][0].clone()
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

fn rustsec() -> Vec<(String, Vec<u8>)> {
    fixture_files("osv/rustsec", &[".json"])
}

fn as_refs(files: &[(String, Vec<u8>)]) -> Vec<(&str, Vec<u8>)> {
    files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect()
}

/// A feed bundle of `files` from source `rustsec`, sequence 1, signed by `key`.
fn rustsec_bundle(key: &TestKey, files: &[(String, Vec<u8>)]) -> std::path::PathBuf {
    make_bundle(
        key,
        "feed",
        "rustsec",
        &as_refs(files),
        "2026-11-01T00:00:00Z",
        Some(1),
    )
}

#[test]
fn feed_fixtures_import_with_independent_counts() {
    let db = fresh_db();
    // The import sends every search vector, computed on its helper connection, so advisory's
    // fill trigger (migration 0010, for writers that send none) must not run: here it fails.
    db.client()
        .batch_execute(
            "CREATE OR REPLACE FUNCTION stella_advisory_search_fill() RETURNS trigger
             LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'search vector computed in the import transaction'; END $$",
        )
        .unwrap();
    let key = test_key(1);
    let files = rustsec();
    let bundle = rustsec_bundle(&key, &files);
    let out = import(&db, &key, &bundle);
    assert_exit(&out, 0);
    let r = first(&out);
    assert_eq!(r["status"], "imported");
    // Independent expectations from the raw JSON.
    let mut ids = BTreeSet::new();
    let mut affected = 0i64;
    for (_, bytes) in &files {
        let v: Value = serde_json::from_slice(bytes).unwrap();
        ids.insert(v["id"].as_str().unwrap().to_string());
        for a in v["affected"].as_array().into_iter().flatten() {
            if a["package"]["ecosystem"].is_string() && a["package"]["name"].is_string() {
                affected += 1;
            }
        }
    }
    assert_eq!(r["advisories"], files.len() as i64);
    assert_eq!(r["documents"]["new"], files.len() as i64);
    let mut c = db.client();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM advisory"),
        files.len() as i64
    );
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM advisory_affected"),
        affected
    );
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM advisory_current"),
        ids.len() as i64
    );
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM bundle_document"),
        files.len() as i64
    );
    // Raw bytes kept exactly; the content hash is the sha256 of those bytes.
    let ok: bool = c
        .query_one(
            "SELECT bool_and(sha256(raw) = content_hash) FROM advisory",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(ok);
    // The helper's search vectors are exactly what the definition computes.
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM advisory
             WHERE search IS NULL OR search <> stella_advisory_search(advisory_id, aliases, summary, details)"
        ),
        0
    );
    // Crates are matched by name in ecosystem crates.io.
    assert!(
        count(
            &mut c,
            "SELECT count(*) FROM advisory_affected WHERE ecosystem_base = 'crates.io'"
        ) > 0
    );
}

#[test]
fn pypa_yaml_records_import() {
    let db = fresh_db();
    let key = test_key(1);
    let files = fixture_files("osv/pypa", &[".yaml", ".yml"]);
    assert!(files.len() > 50);
    let bundle = make_bundle(
        &key,
        "feed",
        "pypa",
        &as_refs(&files),
        "2026-11-01T00:00:00Z",
        None,
    );
    let out = import(&db, &key, &bundle);
    assert_exit(&out, 0);
    let mut c = db.client();
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM advisory WHERE raw_format = 'yaml'"
        ),
        files.len() as i64
    );
    // PEP 503 names: lowercase, runs of -_. folded.
    let bad: i64 = count(
        &mut c,
        "SELECT count(*) FROM advisory_affected WHERE ecosystem_base = 'PyPI' AND package_name <> lower(package_name)",
    );
    assert_eq!(bad, 0);
}

#[test]
fn reimport_is_already_imported_and_changes_nothing() {
    let db = fresh_db();
    let key = test_key(1);
    let bundle = rustsec_bundle(&key, &rustsec());
    assert_exit(&import(&db, &key, &bundle), 0);
    let mut c = db.client();
    let before = table_counts(&mut c);
    let again = import(&db, &key, &bundle);
    assert_exit(&again, 0);
    assert_eq!(first(&again)["status"], "already_imported");
    assert_eq!(
        first(&again)["import_id"],
        first(&import(&db, &key, &bundle))["import_id"]
    );
    assert_eq!(table_counts(&mut c), before);
}

#[test]
fn four_concurrent_importers_of_one_bundle() {
    let db = fresh_db();
    let key = test_key(1);
    let bundle = rustsec_bundle(&key, &rustsec());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (url, pubf, b) = (db.url.clone(), key.pub_file.clone(), bundle.clone());
            std::thread::spawn(move || {
                stella(&[
                    "--database-url",
                    &url,
                    "import",
                    "--json",
                    "--trust",
                    pubf.to_str().unwrap(),
                    b.to_str().unwrap(),
                ])
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for h in handles {
        let out = h.join().unwrap();
        assert_exit(&out, 0);
        statuses.push(first(&out)["status"].as_str().unwrap().to_string());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [
            "already_imported",
            "already_imported",
            "already_imported",
            "imported"
        ]
    );
    let mut c = db.client();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM advisory"),
        rustsec().len() as i64
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM bundle_import"), 1);
}

#[test]
fn bundles_sharing_documents_store_them_once_even_concurrently() {
    let db = fresh_db();
    let key = test_key(1);
    let files = rustsec();
    let (a, b) = files.split_at(40);
    let shared = &files[30..50];
    let mut one: Vec<(String, Vec<u8>)> = a.to_vec();
    one.extend(shared.iter().cloned());
    one.sort();
    one.dedup();
    let mut two: Vec<(String, Vec<u8>)> = b.to_vec();
    two.extend(shared.iter().cloned());
    two.sort();
    two.dedup();
    let b1 = make_bundle(
        &key,
        "feed",
        "part-one",
        &as_refs(&one),
        "2026-11-01T00:00:00Z",
        None,
    );
    let b2 = make_bundle(
        &key,
        "feed",
        "part-two",
        &as_refs(&two),
        "2026-11-01T00:00:00Z",
        None,
    );
    let run = |b: std::path::PathBuf| {
        let (url, pubf) = (db.url.clone(), key.pub_file.clone());
        std::thread::spawn(move || {
            stella(&[
                "--database-url",
                &url,
                "import",
                "--json",
                "--trust",
                pubf.to_str().unwrap(),
                b.to_str().unwrap(),
            ])
        })
    };
    let (h1, h2) = (run(b1.clone()), run(b2.clone()));
    let (o1, o2) = (h1.join().unwrap(), h2.join().unwrap());
    assert_exit(&o1, 0);
    assert_exit(&o2, 0);
    let new = first(&o1)["documents"]["new"].as_i64().unwrap()
        + first(&o2)["documents"]["new"].as_i64().unwrap();
    let existing = first(&o1)["documents"]["existing"].as_i64().unwrap()
        + first(&o2)["documents"]["existing"].as_i64().unwrap();
    let overlap = one.iter().filter(|d| two.contains(d)).count() as i64;
    assert_eq!(new, files.len() as i64);
    assert_eq!(
        existing, overlap,
        "the shared documents were found existing by one of the two"
    );
    let mut c = db.client();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM advisory"),
        files.len() as i64
    );
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM bundle_document"),
        (one.len() + two.len()) as i64
    );
    // Each document's child rows were written once, by whichever importer inserted it: the same
    // rows as the two bundles imported one after the other.
    let serial = fresh_db();
    assert_exit(&import(&serial, &key, &b1), 0);
    assert_exit(&import(&serial, &key, &b2), 0);
    let affected = "SELECT count(*) FROM advisory_affected";
    let expected = count(&mut serial.client(), affected);
    assert!(expected > 0);
    assert_eq!(count(&mut c, affected), expected);
}

/// Many generated OSV records, so an import takes long enough to be killed half way.
fn generated_feed(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let rec = serde_json::json!({
                "schema_version": "1.6.0",
                "id": format!("GEN-2026-{i:06}"),
                "modified": "2026-10-01T00:00:00Z",
                "aliases": [format!("CVE-2026-{i}")],
                "summary": format!("generated advisory {i} with some words for the search index"),
                "details": "x".repeat(1000),
                "affected": [{
                    "package": {"ecosystem": "npm", "name": format!("pkg-{}", i % 5000)},
                    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": format!("1.{}.0", i % 50)}]}]
                }]
            });
            (format!("GEN-{i:06}.json"), serde_json::to_vec_pretty(&rec).unwrap())
        })
        .collect()
}

#[test]
fn killed_import_leaves_nothing_and_reimport_completes() {
    let db = fresh_db();
    let key = test_key(1);
    let files = generated_feed(12_000);
    let bundle = make_bundle(
        &key,
        "feed",
        "generated",
        &as_refs(&files),
        "2026-11-01T00:00:00Z",
        None,
    );
    // A private temp folder, to see the spool folder the killed import leaves behind.
    let tmp = scratch_dir("stella-killed-tmp-");
    let mut child = std::process::Command::new(bin())
        .args([
            "--database-url",
            &db.url,
            "import",
            "--trust",
            key.pub_file.to_str().unwrap(),
            bundle.to_str().unwrap(),
        ])
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until its transaction has written rows (the ledger row), then kill it.
    let mut c = db.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let writing: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                 AND application_name = 'stella-bundle' AND backend_xid IS NOT NULL",
                &[],
            )
            .unwrap()
            .get(0);
        if writing > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "import never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The server notices the dead client and rolls back.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while count(
        &mut c,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
         AND application_name = 'stella-bundle' AND pid <> pg_backend_pid()",
    ) > 0
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for (table, n) in table_counts(&mut c) {
        if table != "tenant" && table != "stella_migration" {
            assert_eq!(n, 0, "{table} has rows of the killed import");
        }
    }
    // The killed import's spool folder is still there; aged past a minute, the next import
    // removes it (a live import's folder, whose file is locked, is never removed).
    let spools = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("stella-import-"))
            })
            .collect()
    };
    let left = spools(&tmp);
    assert_eq!(left.len(), 1, "{left:?}");
    let two_minutes_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(left[0].join("entries"))
        .unwrap()
        .set_modified(two_minutes_ago)
        .unwrap();
    let out = import_env(&db, &key, &bundle, &[("TMPDIR", tmp.to_str().unwrap())]);
    assert_exit(&out, 0);
    assert_eq!(first(&out)["status"], "imported");
    assert_eq!(first(&out)["advisories"], 12_000);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM advisory_affected"),
        12_000
    );
    assert_eq!(spools(&tmp), Vec::<std::path::PathBuf>::new());
}

fn assert_rejected(
    db: &TestDb,
    key: &TestKey,
    bundle: &std::path::Path,
    code: i32,
    needles: &[&str],
) {
    let mut c = db.client();
    let before = table_counts(&mut c);
    let out = stella_db(
        db,
        &[
            "import",
            "--trust",
            key.pub_file.to_str().unwrap(),
            bundle.to_str().unwrap(),
        ],
    );
    assert_exit(&out, code);
    let err = stderr(&out);
    for n in needles {
        assert!(err.contains(n), "error lacks {n:?}: {err}");
    }
    assert!(
        !err.contains("Error {") && !err.contains("Os {"),
        "no Rust debug output: {err}"
    );
    assert_eq!(table_counts(&mut c), before, "nothing written");
}

#[test]
fn malformed_json_names_file_and_is_rolled_back() {
    let db = fresh_db();
    let key = test_key(1);
    let all = rustsec();
    let mut files = as_refs(&all[..5]);
    files.push((
        "zz-broken.json",
        b"{\"id\": \"X-1\", \"modified\": ".to_vec(),
    ));
    let b = make_bundle(&key, "feed", "broken", &files, "2026-11-01T00:00:00Z", None);
    assert_rejected(
        &db,
        &key,
        &b,
        1,
        &["data/zz-broken.json", "nothing of this bundle was imported"],
    );
}

#[test]
fn osv_record_without_id_is_rejected() {
    let db = fresh_db();
    let key = test_key(1);
    let files = vec![(
        "a.json",
        br#"{"modified": "2024-01-01T00:00:00Z", "affected": []}"#.to_vec(),
    )];
    let b = make_bundle(&key, "feed", "noid", &files, "2026-11-01T00:00:00Z", None);
    assert_rejected(&db, &key, &b, 1, &["data/a.json", "id"]);
}

#[test]
fn unknown_format_in_sbom_bundle_is_rejected() {
    let db = fresh_db();
    let key = test_key(1);
    let files = vec![("x.json", br#"{"hello": "world"}"#.to_vec())];
    let b = make_bundle(&key, "sbom", "weird", &files, "2026-11-01T00:00:00Z", None);
    assert_rejected(&db, &key, &b, 1, &["data/x.json"]);
}

#[test]
fn vex_document_in_sbom_bundle_is_rejected() {
    let db = fresh_db();
    let key = test_key(1);
    let vex = std::fs::read(fixture("openvex/go-vex_v0.2.0.json")).unwrap();
    let b = make_bundle(
        &key,
        "sbom",
        "mixed",
        &[("v.json", vex)],
        "2026-11-01T00:00:00Z",
        None,
    );
    assert_rejected(&db, &key, &b, 1, &["data/v.json", "sbom bundle"]);
}

#[test]
fn sbom_without_artifact_purl_is_rejected() {
    let db = fresh_db();
    let key = test_key(1);
    let doc =
        br#"{"bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1, "components": []}"#
            .to_vec();
    let b = make_bundle(
        &key,
        "sbom",
        "noartifact",
        &[("s.json", doc)],
        "2026-11-01T00:00:00Z",
        None,
    );
    assert_rejected(&db, &key, &b, 1, &["data/s.json", "metadata.component"]);
}

#[test]
fn csaf_with_unresolved_product_is_rejected() {
    let db = fresh_db();
    let key = test_key(1);
    let mut v: Value = serde_json::from_slice(
        &std::fs::read(fixture("csaf/vex/2022-evd-uc-01-a-001.json")).unwrap(),
    )
    .unwrap();
    v["vulnerabilities"][0]["product_status"]["known_affected"] =
        serde_json::json!(["NO-SUCH-PRODUCT"]);
    let b = make_bundle(
        &key,
        "vex",
        "csaf-bad",
        &[("c.json", serde_json::to_vec(&v).unwrap())],
        "2026-11-01T00:00:00Z",
        None,
    );
    assert_rejected(&db, &key, &b, 1, &["data/c.json", "NO-SUCH-PRODUCT"]);
}

#[test]
fn untrusted_bundle_exits_3_and_writes_nothing() {
    let db = fresh_db();
    let signer = test_key(7);
    let trusted = test_key(1);
    let b = make_bundle(
        &signer,
        "feed",
        "rustsec",
        &as_refs(&rustsec()[..3]),
        "2026-11-01T00:00:00Z",
        None,
    );
    assert_rejected(&db, &trusted, &b, 3, &["trusted"]);
}

#[test]
fn tampered_bundle_exits_3_and_writes_nothing() {
    let db = fresh_db();
    let key = test_key(1);
    let b = make_bundle(
        &key,
        "feed",
        "rustsec",
        &as_refs(&rustsec()[..3]),
        "2026-11-01T00:00:00Z",
        None,
    );
    let mut bytes = std::fs::read(&b).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x40;
    std::fs::write(&b, bytes).unwrap();
    assert_rejected(&db, &key, &b, 3, &[]);
}

#[test]
fn older_feed_is_refused_unless_forced_with_a_reason() {
    let db = fresh_db();
    let key = test_key(1);
    let files = rustsec();
    let newer = make_bundle(
        &key,
        "feed",
        "rustsec",
        &as_refs(&files[..10]),
        "2026-11-02T00:00:00Z",
        Some(5),
    );
    let older = make_bundle(
        &key,
        "feed",
        "rustsec",
        &as_refs(&files[10..20]),
        "2026-11-01T00:00:00Z",
        Some(4),
    );
    assert_exit(&import(&db, &key, &newer), 0);
    assert_rejected(
        &db,
        &key,
        &older,
        1,
        &[
            "older than the active one",
            "sequence 4 < active 5",
            "--allow-older",
        ],
    );
    let forced = stella_db(
        &db,
        &[
            "import",
            "--json",
            "--trust",
            key.pub_file.to_str().unwrap(),
            "--allow-older",
            "--reason",
            "rollback of a bad feed",
            older.to_str().unwrap(),
        ],
    );
    assert_exit(&forced, 0);
    let mut c = db.client();
    let reason: String = c
        .query_one(
            "SELECT allow_older_reason FROM bundle_import WHERE sequence = 4",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(reason.starts_with("rollback of a bad feed"), "{reason}");
    // --allow-older needs --reason: a usage error.
    let usage = stella_db(&db, &["import", "--allow-older", older.to_str().unwrap()]);
    assert_exit(&usage, 2);
}

#[test]
fn newer_modified_supersedes_and_old_version_stays() {
    let db = fresh_db();
    let key = test_key(1);
    let rec = |modified: &str, fixed: &str| {
        serde_json::to_vec(&serde_json::json!({
            "id": "TEST-1", "modified": modified,
            "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
        }))
        .unwrap()
    };
    let v2 = make_bundle(
        &key,
        "feed",
        "t",
        &[("r.json", rec("2024-02-01T00:00:00Z", "2.0.0"))],
        "2026-11-02T00:00:00Z",
        None,
    );
    let v1 = make_bundle(
        &key,
        "feed",
        "t2",
        &[("r.json", rec("2024-01-01T00:00:00Z", "1.0.0"))],
        "2026-11-01T00:00:00Z",
        None,
    );
    // The newer version first, then the older one: the current version stays the newer one.
    assert_exit(&import(&db, &key, &v2), 0);
    assert_exit(&import(&db, &key, &v1), 0);
    let mut c = db.client();
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM advisory WHERE advisory_id = 'TEST-1'"
        ),
        2
    );
    let current: String = c
        .query_one(
            "SELECT a.doc #>> '{affected,0,ranges,0,events,1,fixed}' FROM advisory_current c
             JOIN advisory a ON a.tenant_id = c.tenant_id AND a.id = c.advisory_pk",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(current, "2.0.0");
}

#[test]
fn sbom_fixtures_import_with_independent_component_counts() {
    let db = fresh_db();
    let key = test_key(1);
    let names = [
        "cyclonedx/bom-examples/dropwizard-1.3.15.bom.json",
        "cyclonedx/bom-examples/juice-shop-v11.1.2.bom.json",
        "cyclonedx/bom-examples/laravel-7.12.0.bom.1.4.json",
        "cyclonedx/bom-examples/proton-bridge-v1.8.0.bom.json",
    ];
    let mut files = Vec::new();
    let mut expected = 0i64;
    for n in names {
        let bytes = std::fs::read(fixture(n)).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        fn walk(v: &Value) -> i64 {
            v.as_array()
                .map(|a| a.iter().map(|c| 1 + walk(&c["components"])).sum())
                .unwrap_or(0)
        }
        expected += walk(&v["components"]);
        files.push((n.rsplit('/').next().unwrap(), bytes));
    }
    let b = make_bundle(&key, "sbom", "apps", &files, "2026-11-01T00:00:00Z", None);
    let out = import(&db, &key, &b);
    assert_exit(&out, 0);
    assert_eq!(first(&out)["components"], expected);
    let mut c = db.client();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM sbom_component"),
        expected
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM sbom_document"), 4);
    // Every component with a purl got a matching identity.
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM sbom_component WHERE purl IS NOT NULL AND (ecosystem IS NULL OR package_name IS NULL)"),
        0
    );
}

#[test]
fn vex_fixtures_import() {
    let db = fresh_db();
    let key = test_key(1);
    let mut files: Vec<(String, Vec<u8>)> = fixture_files("csaf/vex", &[".json"]);
    files.push((
        "go-vex_v0.2.0.json".into(),
        std::fs::read(fixture("openvex/go-vex_v0.2.0.json")).unwrap(),
    ));
    files.push((
        "vex-demo.vex.json".into(),
        std::fs::read(fixture("cyclonedx/bom-examples/vex-demo.vex.json")).unwrap(),
    ));
    let b = make_bundle(
        &key,
        "vex",
        "vendor-vex",
        &as_refs(&files),
        "2026-11-01T00:00:00Z",
        None,
    );
    let out = import(&db, &key, &b);
    assert_exit(&out, 0);
    let r = first(&out);
    assert_eq!(r["documents"]["new"], files.len() as i64);
    assert!(r["vex_statements"].as_i64().unwrap() >= files.len() as i64);
    let mut c = db.client();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM vex_statement"),
        r["vex_statements"].as_i64().unwrap()
    );
    assert_eq!(
        count(&mut c, "SELECT count(DISTINCT format) FROM vex_document"),
        3
    );
}

#[test]
fn same_document_twice_in_a_bundle_is_stored_once() {
    let db = fresh_db();
    let key = test_key(1);
    let doc = std::fs::read(fixture(
        "cyclonedx/bom-examples/laravel-7.12.0.bom.1.4.json",
    ))
    .unwrap();
    let b = make_bundle(
        &key,
        "sbom",
        "dup",
        &[("a.json", doc.clone()), ("b/a.json", doc)],
        "2026-11-01T00:00:00Z",
        None,
    );
    let out = import(&db, &key, &b);
    assert_exit(&out, 0);
    let mut c = db.client();
    assert_eq!(count(&mut c, "SELECT count(*) FROM sbom_document"), 1);
    assert_eq!(count(&mut c, "SELECT count(*) FROM bundle_document"), 2);
}

#[test]
fn import_with_scan_enqueues_a_job_the_worker_runs() {
    let db = fresh_db();
    let key = test_key(1);
    let gin = serde_json::json!({
        "id": "TEST-GIN-1", "modified": "2026-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "Go", "name": "github.com/gin-gonic/gin"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.7.0"}]}]}]
    });
    let feed = make_bundle(
        &key,
        "feed",
        "f",
        &[("g.json", serde_json::to_vec(&gin).unwrap())],
        "2026-11-01T00:00:00Z",
        None,
    );
    let sbom = std::fs::read(fixture(
        "cyclonedx/bom-examples/proton-bridge-v1.8.0.bom.json",
    ))
    .unwrap();
    let sboms = make_bundle(
        &key,
        "sbom",
        "s",
        &[("p.json", sbom)],
        "2026-11-01T00:00:00Z",
        None,
    );
    let pubf = key.pub_file.to_str().unwrap();
    let out = stella_db(
        &db,
        &[
            "import",
            "--json",
            "--scan",
            "--trust",
            pubf,
            feed.to_str().unwrap(),
            sboms.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(json(&out)["scan_job"]["new"], true);
    // Importing nothing new enqueues nothing.
    let again = stella_db(
        &db,
        &[
            "import",
            "--json",
            "--scan",
            "--trust",
            pubf,
            feed.to_str().unwrap(),
        ],
    );
    assert!(json(&again).get("scan_job").is_none());
    let manifests = scratch_dir("stella-manifests-");
    let w = stella_db(
        &db,
        &[
            "worker",
            "--once",
            "--json",
            "--kinds",
            "scan",
            "--scan-key",
            key.key_file.to_str().unwrap(),
            "--manifest-dir",
            manifests.to_str().unwrap(),
        ],
    );
    assert_exit(&w, 0);
    assert_eq!(json(&w)["done"], 1, "{}", stdout(&w));
    let mut c = db.client();
    assert_eq!(count(&mut c, "SELECT count(*) FROM scan_run"), 1);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM finding WHERE advisory_id = 'TEST-GIN-1'"
        ),
        1
    );
    let files: Vec<_> = std::fs::read_dir(&manifests).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one signed manifest written");
}

/// The import as an ordinary role (no superuser): the child rows keep their foreign key checks
/// (only a superuser session may skip them for its own rows) and the result is the same as the
/// superuser's import.
#[test]
fn import_as_an_ordinary_role_stores_the_same_rows() {
    let key = test_key(1);
    let sbom = std::fs::read(fixture("cyclonedx/bom-examples/dropwizard-1.3.15.bom.json")).unwrap();
    let sboms = make_bundle(
        &key,
        "sbom",
        "apps",
        &[("dropwizard.json", sbom)],
        "2026-11-01T00:00:00Z",
        None,
    );
    let feed = make_bundle(
        &key,
        "feed",
        "rustsec",
        &as_refs(&rustsec()),
        "2026-11-01T00:00:00Z",
        Some(1),
    );
    let counts = "SELECT (SELECT count(*) FROM sbom_component) * 1000000 + (SELECT count(*) FROM advisory_affected)";

    let admin = fresh_db();
    assert_exit(&import(&admin, &key, &sboms), 0);
    assert_exit(&import(&admin, &key, &feed), 0);
    let expected = count(&mut admin.client(), counts);

    let db = fresh_db();
    let role = format!("{}_importer", db.name);
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN;
             GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role};
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};"
        ))
        .unwrap();
    let url = db.url.replace("user=postgres", &format!("user={role}"));
    assert_ne!(url, db.url);
    for bundle in [&sboms, &feed] {
        let out = stella(&[
            "--database-url",
            &url,
            "import",
            "--json",
            "--trust",
            key.pub_file.to_str().unwrap(),
            bundle.to_str().unwrap(),
        ]);
        assert_exit(&out, 0);
        assert_eq!(first(&out)["status"], "imported");
    }
    assert_eq!(count(&mut db.client(), counts), expected);
    assert!(expected > 1_000_000);
}

#[test]
fn tables_loaded_without_trigger_checks_carry_no_triggers() {
    // The import writes child rows, bundle links and advisory_current with
    // session_replication_role = replica in a superuser session (src/import/stage.rs,
    // referencing_own_rows), which skips their foreign key checks AND every ordinary trigger on
    // those tables. A trigger added to one of them later would be
    // silently skipped by imports: this test makes that a conscious decision.
    let db = fresh_db();
    let mut c = db.client();
    let rows = c
        .query(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             WHERE NOT t.tgisinternal
               AND c.relname IN ('sbom_component', 'advisory_affected', 'vex_statement',
                                 'bundle_document', 'advisory_current')",
            &[],
        )
        .unwrap();
    let found: Vec<String> = rows
        .iter()
        .map(|r| format!("{}.{}", r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect();
    assert!(
        found.is_empty(),
        "triggers on tables the import loads with session_replication_role = replica \
         (they would not fire for imports): {found:?}"
    );
}

/// Another importer has inserted one of the bundle's documents and not committed yet: the import
/// waits on that document's unique key, and when the other one commits it must neither fail nor
/// store the document twice, and must write the child rows of every other document. Unlike the
/// timing-dependent concurrent tests above, this one always reaches the wait (it fails an import
/// that lets a unique violation through, e.g. a `COPY` straight into `advisory` without a
/// fallback; tried and measured in the commit history).
#[test]
fn document_committed_by_another_importer_mid_batch_is_skipped() {
    let db = fresh_db();
    let key = test_key(1);
    let seed = make_bundle(
        &key,
        "feed",
        "seed",
        &as_refs(&generated_feed(1)),
        "2026-11-01T00:00:00Z",
        None,
    );
    assert_exit(&import(&db, &key, &seed), 0);
    let files = rustsec();
    let bundle = make_bundle(
        &key,
        "feed",
        "rustsec",
        &as_refs(&files),
        "2026-11-01T00:00:00Z",
        None,
    );
    let mut other = db.client();
    let mut tx = other.transaction().unwrap();
    tx.execute(
        "WITH a AS (
           INSERT INTO advisory (tenant_id, content_hash, advisory_id, modified, doc, raw, raw_format, first_import_id)
           SELECT tenant_id, sha256($1), d ->> 'id', (d ->> 'modified')::timestamptz, d, $1, 'json', 0
           FROM tenant, CAST(convert_from($1, 'UTF8') AS jsonb) AS d
           RETURNING tenant_id, id, advisory_id, modified, content_hash)
         INSERT INTO advisory_current (tenant_id, advisory_id, advisory_pk, modified, content_hash, withdrawn)
         SELECT tenant_id, advisory_id, id, modified, content_hash, false FROM a",
        &[&files[0].1],
    )
    .unwrap();
    let (url, pubf, b) = (db.url.clone(), key.pub_file.clone(), bundle.clone());
    let importer = std::thread::spawn(move || {
        stella(&[
            "--database-url",
            &url,
            "import",
            "--json",
            "--trust",
            pubf.to_str().unwrap(),
            b.to_str().unwrap(),
        ])
    });
    let mut c = db.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while count(
        &mut c,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
         AND application_name = 'stella-bundle' AND wait_event = 'transactionid'",
    ) == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the import never waited on the uncommitted document"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    tx.commit().unwrap();
    let out = importer.join().unwrap();
    assert_exit(&out, 0);
    assert_eq!(first(&out)["status"], "imported");
    assert_eq!(first(&out)["documents"]["existing"], 1);
    assert_eq!(
        first(&out)["documents"]["new"].as_i64().unwrap(),
        files.len() as i64 - 1
    );
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM advisory"),
        files.len() as i64 + 1
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM bundle_document d JOIN bundle_import i USING (tenant_id, import_id)
             WHERE i.source = 'rustsec'"
        ),
        files.len() as i64
    );
    // Every other record's affected packages were written, once.
    let serial = fresh_db();
    assert_exit(&import(&serial, &key, &bundle), 0);
    let affected = "SELECT count(*) FROM advisory_affected a JOIN advisory d ON d.tenant_id = a.tenant_id AND d.id = a.advisory_pk
                    WHERE d.advisory_id NOT LIKE 'GEN-%' AND d.content_hash <> sha256($1)";
    let expected: i64 = serial
        .client()
        .query_one(affected, &[&files[0].1])
        .unwrap()
        .get(0);
    assert!(expected > 0);
    let got: i64 = c.query_one(affected, &[&files[0].1]).unwrap().get(0);
    assert_eq!(got, expected);
}

/// Without a helper connection (a library caller passing `connect_helper: None`), or with a
/// helper that fails (here: one whose statement cannot be prepared, and one whose query fails on
/// the third batch), the rows go without a search vector and advisory's trigger computes it
/// inside the import transaction: the same rows and the same vectors as the CLI's import.
#[test]
fn search_vectors_without_a_working_helper_are_the_same() {
    let key = test_key(1);
    let files = rustsec();
    let bundle = rustsec_bundle(&key, &files);
    let with_helper = fresh_db();
    assert_exit(&import(&with_helper, &key, &bundle), 0);
    let vectors = |c: &mut postgres::Client| -> Vec<(String, String)> {
        c.query(
            "SELECT advisory_id, search::text FROM advisory ORDER BY advisory_id, content_hash",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    };
    let expected = vectors(&mut with_helper.client());
    assert_eq!(expected.len(), files.len());
    assert!(expected.iter().all(|(_, v)| !v.is_empty()));

    // Helpers that fail: a database without the function (prepare fails), and one whose
    // function raises from its third call on (the first batch's query fails after two rows;
    // the vectors it would give are wrong, so using any of them fails the comparison).
    let unmigrated = empty_db();
    let raising = empty_db();
    raising
        .client()
        .batch_execute(
            "CREATE SEQUENCE calls;
             CREATE FUNCTION stella_advisory_search_of(head text, summary text, details text)
             RETURNS tsvector LANGUAGE plpgsql AS $$
             BEGIN
                 IF nextval('calls') > 2 THEN RAISE EXCEPTION 'helper fails'; END IF;
                 RETURN to_tsvector('simple', 'wrong');
             END $$",
        )
        .unwrap();
    let connect_unmigrated = || postgres::Client::connect(&unmigrated.url, postgres::NoTls).ok();
    let connect_raising = || postgres::Client::connect(&raising.url, postgres::NoTls).ok();
    let helpers: [(&str, Option<&stella_bundle::import::ConnectHelper<'_>>); 3] = [
        ("no helper", None),
        ("helper without the function", Some(&connect_unmigrated)),
        ("helper whose query fails", Some(&connect_raising)),
    ];
    let mut trust = stella_bundle::bundle::TrustSet::new();
    trust.add_file(&key.pub_file).unwrap();
    let limits = stella_bundle::bundle::Limits::default();
    let tenant = stella_bundle::db::Tenant::new("default");
    for (what, connect_helper) in helpers {
        let db = fresh_db();
        let req = stella_bundle::import::ImportRequest {
            file: &bundle,
            trust: &trust,
            limits: &limits,
            allow_older: None,
            imported_by: "test@localhost",
            progress: &stella_bundle::progress::Silent,
            connect_helper,
        };
        let mut c = db.client();
        let outcome = stella_bundle::import::import_bundle(&mut c, &tenant, &req)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(outcome.advisories, files.len() as u64, "{what}");
        assert_eq!(vectors(&mut c), expected, "{what}");
    }
}
