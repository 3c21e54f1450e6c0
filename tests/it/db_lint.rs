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

#[test]
fn hot_query_plans_use_their_indexes_on_a_seeded_dataset() {
    let db = fresh_db();
    let mut c = db.client();
    let tenant = stella_bundle::db::Tenant::new("default");
    tenant.ensure(&mut c).unwrap();
    // 50,000 findings over 500 artifacts, 2,000 advisories and 5,000 components.
    c.execute(
        "INSERT INTO scan_run (tenant_id, scan_id, status, started_at, engine_version, engine_rules)
         VALUES ($1, '00000000-0000-0000-0000-000000000001', 'done', now(), 'test', 'test')",
        &[&tenant.id],
    )
    .unwrap();
    c.execute(
        "INSERT INTO finding (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, aliases, status)
         SELECT $1, '00000000-0000-0000-0000-000000000001', 'pkg:npm/app-' || (g % 500) || '@1.0.0',
                'pkg:npm/lib-' || (g % 5000) || '@1.' || (g % 7), 'GHSA-' || (g % 2000),
                ARRAY['CVE-2024-' || (g % 2000)], (ARRAY['affected','not_affected','fixed','under_investigation'])[1 + g % 4]
         FROM generate_series(1, 50000) g",
        &[&tenant.id],
    )
    .unwrap();
    c.batch_execute("ANALYZE finding").unwrap();
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
    assert!(used("artifacts_affected_by_advisory").contains(&"ix_finding_advisory".to_string()));
    assert!(used("findings_by_component").contains(&"ix_finding_component".to_string()));
    assert!(used("findings_by_alias").contains(&"ix_finding_aliases".to_string()));
    let open = used("open_findings_of_artifact");
    assert!(
        open.contains(&"ix_finding_artifact_status".to_string())
            || open.contains(&"finding_pkey".to_string()),
        "{open:?}"
    );
    // And the same on the server directly, as EXPLAIN (ANALYZE) would show a reviewer.
    let plan: String = c
        .query(
            &format!(
                "EXPLAIN {}",
                stella_bundle::db::hot_queries::ARTIFACTS_AFFECTED_BY_ADVISORY.sql
            ),
            &[&tenant.id, &"GHSA-7"],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains("ix_finding_advisory"), "{plan}");
}
