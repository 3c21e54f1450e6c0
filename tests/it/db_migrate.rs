//! Migrations: ledger, edited files refused, concurrent migrators serialized.

use crate::harness::*;

#[test]
fn migrate_is_idempotent_and_records_hashes() {
    let db = empty_db();
    let first = stella_db(&db, &["db", "migrate", "--json"]);
    assert_exit(&first, 0);
    let applied = json(&first)["applied"].as_array().unwrap().len();
    assert_eq!(applied, stella_bundle::db::migrate::MIGRATIONS.len());
    let second = stella_db(&db, &["db", "migrate", "--json"]);
    assert_exit(&second, 0);
    assert_eq!(json(&second)["applied"].as_array().unwrap().len(), 0);
    let mut c = db.client();
    for m in stella_bundle::db::migrate::MIGRATIONS {
        let sha: Vec<u8> = c
            .query_one(
                "SELECT sha256 FROM stella_migration WHERE version = $1",
                &[&m.version],
            )
            .unwrap()
            .get(0);
        assert_eq!(sha, m.sha256());
    }
}

#[test]
fn edited_migration_is_refused() {
    let db = fresh_db();
    let mut c = db.client();
    c.execute(
        "UPDATE stella_migration SET sha256 = '\\x00' WHERE version = 1",
        &[],
    )
    .unwrap();
    let out = stella_db(&db, &["db", "migrate"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("was changed after it was applied"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_newer_migration_is_refused() {
    let db = fresh_db();
    let mut c = db.client();
    c.execute(
        "INSERT INTO stella_migration (version, name, sha256) VALUES (9999, 'future', '\\x00')",
        &[],
    )
    .unwrap();
    let out = stella_db(&db, &["db", "migrate"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("newer stella-bundle"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn concurrent_migrators_serialize() {
    let db = empty_db();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || stella(&["--database-url", &url, "db", "migrate", "--json"]))
        })
        .collect();
    let mut applied_total = 0;
    for h in handles {
        let out = h.join().unwrap();
        assert_exit(&out, 0);
        applied_total += json(&out)["applied"].as_array().unwrap().len();
    }
    assert_eq!(
        applied_total,
        stella_bundle::db::migrate::MIGRATIONS.len(),
        "each migration applied once"
    );
    let mut c = db.client();
    let n: i64 = c
        .query_one("SELECT count(*) FROM stella_migration", &[])
        .unwrap()
        .get(0);
    assert_eq!(n as usize, stella_bundle::db::migrate::MIGRATIONS.len());
}

/// 0008 turns `finding` into a partitioned table on a database that already holds findings (as
/// 0007 left it): every row moves to finding_small, each scanned artifact gets its counts, and
/// mv_artifact_risk reads them.
#[test]
fn finding_partitioning_keeps_the_findings_of_earlier_releases() {
    let db = empty_db();
    let mut c = db.client();
    stella_bundle::db::migrate::migrate_up_to(&mut c, Some(7)).unwrap();
    let tenant = stella_bundle::db::Tenant::new("default");
    tenant.ensure(&mut c).unwrap();
    c.batch_execute(&format!(
        "INSERT INTO sbom_document (tenant_id, content_hash, artifact_purl, doc, raw, first_import_id)
         SELECT '{t}', sha256(('d' || g)::bytea), 'pkg:npm/app-' || g || '@1', '{{}}', '', 1 FROM generate_series(1, 3) g;
         INSERT INTO scan_run (tenant_id, scan_id, status, started_at, finished_at, engine_version, engine_rules)
         VALUES ('{t}', '00000000-0000-0000-0000-000000000001', 'done', now(), now(), 'e', 'r');
         INSERT INTO scan_artifact (tenant_id, scan_id, artifact_purl, sbom_id)
         SELECT '{t}', '00000000-0000-0000-0000-000000000001', artifact_purl, id FROM sbom_document;
         INSERT INTO finding (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, status)
         SELECT '{t}', '00000000-0000-0000-0000-000000000001', 'pkg:npm/app-' || (1 + g % 2) || '@1',
                'pkg:npm/lib-' || g || '@1', 'GHSA-' || g,
                (ARRAY['affected', 'under_investigation', 'not_affected', 'fixed'])[1 + g % 4]
         FROM generate_series(1, 40) g;
         REFRESH MATERIALIZED VIEW mv_artifact_risk;",
        t = tenant.id
    ))
    .unwrap();
    let risk = |c: &mut postgres::Client| -> Vec<(String, i64, i64, i64)> {
        c.query(
            "SELECT artifact_purl, affected, under_investigation, resolved FROM mv_artifact_risk ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
    };
    let findings = |c: &mut postgres::Client| -> Vec<(String, String, String, String)> {
        c.query(
            "SELECT artifact_purl, component_purl, advisory_id, status FROM finding ORDER BY 1, 2, 3",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
    };
    let risk_before = risk(&mut c);
    let findings_before = findings(&mut c);
    assert_eq!(findings_before.len(), 40);
    assert_eq!(risk_before.len(), 3, "the artifact without findings too");

    let out = stella_db(&db, &["db", "migrate", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(
        json(&out)["applied"][0],
        "0008_finding_bulk_partitions",
        "{}",
        stdout(&out)
    );
    assert_eq!(findings(&mut c), findings_before);
    let in_small: i64 = c
        .query_one("SELECT count(*) FROM finding_small WHERE NOT bulk", &[])
        .unwrap()
        .get(0);
    assert_eq!(in_small, 40);
    assert_eq!(risk(&mut c), risk_before);
    let kind: i8 = c
        .query_one(
            "SELECT relkind FROM pg_class WHERE relname = 'finding'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(kind, b'p' as i8);
    // The schema rules hold after the upgrade.
    let lint = stella_db(&db, &["db", "lint", "--json"]);
    assert_exit(&lint, 0);
}

/// 0010 turns advisory.search from a generated column into one the importer sends: the vectors
/// stored by earlier releases stay as they were, a row written without one gets it from the
/// trigger, and a row written with one keeps it.
#[test]
fn advisory_search_keeps_the_vectors_of_earlier_releases() {
    let db = empty_db();
    let mut c = db.client();
    stella_bundle::db::migrate::migrate_up_to(&mut c, Some(9)).unwrap();
    let tenant = stella_bundle::db::Tenant::new("default");
    tenant.ensure(&mut c).unwrap();
    let insert = |c: &mut postgres::Client, from: i32, to: i32| {
        c.batch_execute(&format!(
            "INSERT INTO advisory (tenant_id, content_hash, advisory_id, modified, aliases, summary, details, doc, raw, raw_format, first_import_id)
             SELECT '{t}', sha256(('a' || g)::bytea), 'GHSA-' || g, now(), ARRAY['CVE-2026-' || g],
                    'heap overflow in parser ' || g, CASE WHEN g % 2 = 0 THEN 'Crafted inputs overflow the buffers.' END,
                    '{{}}', '', 'json', 1
             FROM generate_series({from}, {to}) g",
            t = tenant.id
        ))
        .unwrap();
    };
    insert(&mut c, 1, 20);
    let vectors = |c: &mut postgres::Client| -> Vec<(String, String)> {
        c.query(
            "SELECT advisory_id, search::text FROM advisory ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    };
    let before = vectors(&mut c);
    assert_eq!(before.len(), 20);
    assert!(before[1].1.contains("'overflow':7B,13C"), "{:?}", before[1]);

    let out = stella_db(&db, &["db", "migrate", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(json(&out)["applied"][0], "0010_advisory_search_input");
    assert_eq!(vectors(&mut c), before);
    // No longer generated; the function gives what the generated column gave.
    let generated: String = c
        .query_one(
            "SELECT attgenerated::text FROM pg_attribute WHERE attrelid = 'advisory'::regclass AND attname = 'search'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(generated, "");
    let differ: i64 = c
        .query_one(
            "SELECT count(*) FROM advisory WHERE search <> stella_advisory_search(advisory_id, aliases, summary, details)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(differ, 0);
    // A writer that sends no vector gets the same one as before the migration.
    c.batch_execute("DELETE FROM advisory").unwrap();
    insert(&mut c, 1, 20);
    let after: Vec<String> = vectors(&mut c).into_iter().map(|(_, v)| v).collect();
    let before: Vec<String> = before.into_iter().map(|(_, v)| v).collect();
    assert_eq!(after, before);
    // A writer that sends one keeps it.
    c.batch_execute(&format!(
        "INSERT INTO advisory (tenant_id, content_hash, advisory_id, modified, doc, raw, raw_format, first_import_id, search)
         VALUES ('{}', sha256('x'::bytea), 'X-1', now(), '{{}}', '', 'json', 1, 'given'::tsvector)",
        tenant.id
    ))
    .unwrap();
    let given: String = c
        .query_one(
            "SELECT search::text FROM advisory WHERE advisory_id = 'X-1'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(given, "'given'");
    let lint = stella_db(&db, &["db", "lint", "--json"]);
    assert_exit(&lint, 0);
}
