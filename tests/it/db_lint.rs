//! `db lint`: passes on the shipped schema, catches each planted violation, and checks the hot
//! queries' real plans on a seeded dataset.

use crate::harness::*;

fn lint_violations(db: &TestDb) -> (i32, Vec<(String, String)>) {
    let out = stella_db(db, &["db", "lint", "--json"]);
    let j = json(&out);
    let v = j["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["rule"].as_str().unwrap().to_string(),
                v["object"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (out.status.code().unwrap(), v)
}

#[test]
fn shipped_schema_passes() {
    let db = fresh_db();
    let (code, v) = lint_violations(&db);
    assert_eq!((code, v), (0, vec![]));
    // On empty tables no plan is EXPLAINed, and the output says so rather than "uses its index".
    let out = stella_db(&db, &["db", "lint"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("0 of them checked by plan"),
        "{}",
        stdout(&out)
    );
    let j = json(&stella_db(&db, &["db", "lint", "--json"]));
    assert!(j["plans"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["checked"] == false && p["indexes_used"].as_array().unwrap().is_empty()));
}

fn planted(sql: &str) -> (i32, Vec<(String, String)>) {
    let db = fresh_db();
    db.client().batch_execute(sql).unwrap();
    lint_violations(&db)
}

#[test]
fn catches_non_tenant_leading_index() {
    let (code, v) = planted("CREATE INDEX planted_bad ON sbom_document (artifact_purl)");
    assert_eq!(code, 1);
    assert!(
        v.contains(&(
            "tenant-leading-index".into(),
            "sbom_document.planted_bad".into()
        )),
        "{v:?}"
    );
}

#[test]
fn catches_matview_without_unique_index() {
    let (code, v) = planted(
        "CREATE MATERIALIZED VIEW mv_planted AS SELECT tenant_id, name FROM tenant;
         COMMENT ON MATERIALIZED VIEW mv_planted IS 'class: projection; planted'",
    );
    assert_eq!(code, 1);
    assert!(
        v.contains(&("matview-unique-index".into(), "mv_planted".into())),
        "{v:?}"
    );
}

#[test]
fn catches_unclassified_table_and_missing_tenant() {
    let (code, v) = planted("CREATE TABLE planted (id bigint PRIMARY KEY)");
    assert_eq!(code, 1);
    assert!(
        v.contains(&("table-class".into(), "planted".into())),
        "{v:?}"
    );
    let (_, v) = planted(
        "CREATE TABLE planted2 (id bigint); COMMENT ON TABLE planted2 IS 'class: projection'",
    );
    assert!(
        v.contains(&("tenant-column".into(), "planted2".into())),
        "{v:?}"
    );
}

#[test]
fn catches_document_table_without_hash_key() {
    let (_, v) = planted(
        "CREATE TABLE planted_document (tenant_id uuid NOT NULL, content_hash bytea NOT NULL, doc jsonb NOT NULL);
         COMMENT ON TABLE planted_document IS 'class: source_of_truth'",
    );
    assert!(
        v.contains(&("document-hash-unique".into(), "planted_document".into())),
        "{v:?}"
    );
}

#[test]
fn catches_queue_without_ready_index() {
    let (code, v) = planted("DROP INDEX ix_job_ready");
    assert_eq!(code, 1);
    assert!(
        v.contains(&("queue-ready-index".into(), "job_queue_state".into())),
        "{v:?}"
    );
    assert!(
        v.contains(&("hot-query-index".into(), "claim_job".into())),
        "{v:?}"
    );
}

#[test]
fn catches_missing_partitions_ahead() {
    let (code, v) = planted(
        "DO $$ DECLARE r record; BEGIN
           FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = 'event'::regclass LOOP
             EXECUTE format('DROP TABLE %I', r.relname);
           END LOOP; END $$",
    );
    assert_eq!(code, 1);
    assert!(
        v.contains(&("event-partitions-ahead".into(), "event".into())),
        "{v:?}"
    );
}

#[test]
fn catches_unpartitioned_event_table() {
    let (_, v) = planted(
        "CREATE TABLE planted_event (tenant_id uuid NOT NULL, occurred_at timestamptz NOT NULL);
         COMMENT ON TABLE planted_event IS 'class: event'",
    );
    assert!(
        v.contains(&("event-partitioned".into(), "planted_event".into())),
        "{v:?}"
    );
}

/// A fresh database with the default tenant, and a client.
fn with_default_tenant() -> (TestDb, postgres::Client, stella_bundle::db::Tenant) {
    let db = fresh_db();
    let mut c = db.client();
    let tenant = stella_bundle::db::Tenant::new("default");
    tenant.ensure(&mut c).unwrap();
    (db, c, tenant)
}

/// A finished scan_run row for `scan`.
fn add_scan_run(
    c: &mut postgres::Client,
    tenant: &stella_bundle::db::Tenant,
    scan: uuid::Uuid,
) -> Result<u64, postgres::Error> {
    c.execute(
        "INSERT INTO scan_run (tenant_id, scan_id, status, started_at, engine_version, engine_rules)
         VALUES ($1, $2, 'done', now(), 'test', 'test')",
        &[&tenant.id, &scan],
    )
}

#[test]
fn hot_query_plans_use_their_indexes_on_a_seeded_dataset() {
    let (db, mut c, tenant) = with_default_tenant();
    // 50,000 findings over 500 artifacts, 2,000 advisories and 5,000 components.
    add_scan_run(&mut c, &tenant, uuid::Uuid::from_u128(1)).unwrap();
    c.execute(
        "INSERT INTO finding (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, aliases, status)
         SELECT $1, '00000000-0000-0000-0000-000000000001', 'pkg:npm/app-' || (g % 500) || '@1.0.0',
                'pkg:npm/lib-' || (g % 5000) || '@1.' || (g % 7), 'GHSA-' || (g % 2000),
                ARRAY['CVE-2024-' || (g % 2000)], (ARRAY['affected','not_affected','fixed','under_investigation'])[1 + g % 4]
         FROM generate_series(1, 50000) g",
        &[&tenant.id],
    )
    .unwrap();
    // 900 of their advisories (the alias lookup resolves through their aliases, which the
    // advisory_alias projection picks up as they are inserted; fewer than the 1,000 rows from
    // which lint checks the advisory table's own plans, which need more of the feed).
    c.execute(
        "INSERT INTO advisory (tenant_id, content_hash, advisory_id, modified, aliases, doc, raw, raw_format, first_import_id)
         SELECT $1, sha256(('adv-' || g)::text::bytea), 'GHSA-' || g, now(), ARRAY['CVE-2024-' || g], '{}', '', 'json', 1
         FROM generate_series(0, 899) g",
        &[&tenant.id],
    )
    .unwrap();
    c.batch_execute("ANALYZE finding; ANALYZE advisory")
        .unwrap();
    let out = stella_db(&db, &["db", "lint", "--json"]);
    assert_exit(&out, 0);
    let j = json(&out);
    let plans = j["plans"].as_array().unwrap();
    let used = |name: &str| -> Vec<String> {
        plans.iter().find(|p| p["query"] == name).unwrap()["indexes_used"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert!(used("artifacts_affected_by_advisory").contains(&"ix_finding_advisory_id".to_string()));
    assert!(used("findings_by_component").contains(&"ix_finding_component".to_string()));
    let by_alias = used("findings_by_alias");
    assert!(
        by_alias.contains(&"ix_finding_advisory_id".to_string())
            && by_alias.contains(&"advisory_alias_pkey".to_string()),
        "{by_alias:?}"
    );
    let open = used("open_findings_of_artifact");
    assert!(open.contains(&"finding_pkey".to_string()), "{open:?}");
    // Plans on populated tables were EXPLAINed; the queue's (empty here) only structurally.
    let checked =
        |name: &str| plans.iter().find(|p| p["query"] == name).unwrap()["checked"].clone();
    assert_eq!(checked("findings_by_component"), true);
    assert_eq!(checked("claim_job"), false);
    // The alias query finds exactly the findings whose recorded aliases name it.
    let n: i64 = c
        .query(
            stella_bundle::db::hot_queries::FINDINGS_BY_ALIAS.sql,
            &[&tenant.id, &"CVE-2024-7", &vec![uuid::Uuid::from_u128(1)]],
        )
        .unwrap()
        .len() as i64;
    assert_eq!(n, 25);
    // And the same on the server directly, as EXPLAIN (ANALYZE) would show a reviewer.
    let plan: String = c
        .query(
            &format!(
                "EXPLAIN {}",
                stella_bundle::db::hot_queries::ARTIFACTS_AFFECTED_BY_ADVISORY.sql
            ),
            &[&tenant.id, &"GHSA-7", &vec![uuid::Uuid::from_u128(1)]],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    // (finding is partitioned: the plan names the partition's copy of ix_finding_advisory_id)
    assert!(
        plan.contains("finding_small_tenant_id_advisory_id_idx"),
        "{plan}"
    );
}

#[test]
fn findings_must_name_a_scan_and_a_named_scan_stays() {
    let (_db, mut c, tenant) = with_default_tenant();
    let scan = uuid::Uuid::from_u128(1);
    let insert = "INSERT INTO finding (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, status)
                  VALUES ($1, $2, 'pkg:npm/app@1', 'pkg:npm/lib@1', 'GHSA-1', 'affected')";
    let code = |e: postgres::Error| e.code().map(|c| c.code().to_string());
    // No scan_run yet: refused, as the foreign key did.
    let err = c.execute(insert, &[&tenant.id, &scan]).unwrap_err();
    assert_eq!(code(err), Some("23503".into()));
    add_scan_run(&mut c, &tenant, scan).unwrap();
    c.execute(insert, &[&tenant.id, &scan]).unwrap();
    // Moving a finding to an unknown scan, deleting, re-keying or truncating its scan: refused.
    let other = uuid::Uuid::from_u128(2);
    for (sql, params) in [
        (
            "UPDATE finding SET scan_id = $2 WHERE tenant_id = $1",
            vec![&other],
        ),
        (
            "DELETE FROM scan_run WHERE tenant_id = $1 AND scan_id = $2",
            vec![&scan],
        ),
        (
            "UPDATE scan_run SET scan_id = $2 WHERE tenant_id = $1",
            vec![&other],
        ),
    ] {
        let mut p: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&tenant.id];
        p.extend(
            params
                .iter()
                .map(|u| *u as &(dyn postgres::types::ToSql + Sync)),
        );
        let err = c.execute(sql, &p).unwrap_err();
        assert_eq!(code(err), Some("23503".into()), "{sql}");
    }
    let err = c.batch_execute("TRUNCATE scan_run CASCADE").unwrap_err();
    assert_eq!(code(err), Some("23503".into()));
    // Other updates of a scan_run pass; once its findings are gone, so does deleting it.
    c.execute(
        "UPDATE scan_run SET status = 'failed' WHERE tenant_id = $1",
        &[&tenant.id],
    )
    .unwrap();
    c.execute("DELETE FROM finding WHERE tenant_id = $1", &[&tenant.id])
        .unwrap();
    c.execute("DELETE FROM scan_run WHERE tenant_id = $1", &[&tenant.id])
        .unwrap();
}
