//! `db lint`: the seed guide's rules as checks on the live catalog, and the plans of the named hot
//! queries. Each violation names the object, the rule and what to do.

use super::hot_queries::{self, HotQuery};
use super::DbError;
use serde::Serialize;
use uuid::Uuid;

/// One broken rule.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub object: String,
    pub message: String,
}

/// The classes a table may declare in `COMMENT ON TABLE ... IS 'class: X; ...'`.
pub const CLASSES: &[&str] = &["source_of_truth", "projection", "queue", "event", "system"];

/// Run every check; an empty list means the schema follows the guide.
pub fn lint(client: &mut postgres::Client, tenant: Uuid) -> Result<LintReport, DbError> {
    let mut v = Vec::new();
    let relations = relations(client)?;
    check_classes(&relations, &mut v);
    check_tenant_columns(client, &relations, &mut v)?;
    check_tenant_leading_indexes(client, &relations, &mut v)?;
    check_document_hash_unique(client, &relations, &mut v)?;
    check_queue_ready_index(client, &relations, &mut v)?;
    check_matview_unique(client, &relations, &mut v)?;
    check_event_partitions(client, &relations, &mut v)?;
    check_invalid_indexes(client, &mut v)?;
    let sample = sample_context(client, tenant)?;
    let mut plans = Vec::new();
    for q in hot_queries::ALL {
        let used = check_plan(client, &sample, q, &mut v)?;
        plans.push(PlanCheck {
            query: q.name,
            serves: q.serves,
            checked: used.is_some(),
            indexes_used: used.unwrap_or_default(),
        });
    }
    Ok(LintReport {
        ok: v.is_empty(),
        tables_checked: relations.len(),
        plans,
        violations: v,
    })
}

#[derive(Debug, Serialize)]
pub struct LintReport {
    pub ok: bool,
    pub tables_checked: usize,
    pub plans: Vec<PlanCheck>,
    pub violations: Vec<Violation>,
}

#[derive(Debug, Serialize)]
pub struct PlanCheck {
    pub query: &'static str,
    pub serves: &'static str,
    /// Whether the plan was EXPLAINed: only once its table holds >= 1,000 rows by statistics
    /// (before that the planner rightly prefers a sequential scan, and only the index's
    /// structure is checked).
    pub checked: bool,
    /// The indexes the plan uses (empty when not checked).
    pub indexes_used: Vec<String>,
}

struct Relation {
    oid: u32,
    name: String,
    /// 'r' table, 'p' partitioned table, 'm' materialized view
    kind: i8,
    is_partition: bool,
    class: Option<String>,
}

fn relations(client: &mut postgres::Client) -> Result<Vec<Relation>, DbError> {
    let rows = client
        .query(
            "SELECT c.oid, c.relname::text, c.relkind, c.relispartition, obj_description(c.oid, 'pg_class')
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'm')
             ORDER BY c.relname",
            &[],
        )
        .map_err(|e| DbError::query("reading the catalog", e))?;
    Ok(rows
        .iter()
        .map(|r| {
            let comment: Option<String> = r.get(4);
            let class = comment.as_deref().and_then(|c| {
                c.strip_prefix("class: ").map(|rest| {
                    rest.split(|ch: char| ch == ';' || ch.is_whitespace())
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
            });
            Relation {
                oid: r.get(0),
                name: r.get(1),
                kind: r.get(2),
                is_partition: r.get(3),
                class,
            }
        })
        .collect())
}

fn core(r: &Relation) -> bool {
    r.class.as_deref() != Some("system")
}

/// Whether a catalog predicate (a query returning one boolean, `$1` the relation's oid) holds.
fn holds(client: &mut postgres::Client, sql: &str, oid: u32, what: &str) -> Result<bool, DbError> {
    Ok(client
        .query_one(sql, &[&oid])
        .map_err(|e| DbError::query(what, e))?
        .get(0))
}

fn check_classes(rels: &[Relation], v: &mut Vec<Violation>) {
    for r in rels {
        match r.class.as_deref() {
            Some(c) if CLASSES.contains(&c) => {}
            Some(c) => v.push(Violation {
                rule: "table-class",
                object: r.name.clone(),
                message: format!("unknown class `{c}`; use one of {}", CLASSES.join(", ")),
            }),
            None => v.push(Violation {
                rule: "table-class",
                object: r.name.clone(),
                message: "no class: add COMMENT ON TABLE ... IS 'class: <source_of_truth|projection|queue|event|system>; ...' in its migration".into(),
            }),
        }
    }
}

fn check_tenant_columns(
    client: &mut postgres::Client,
    rels: &[Relation],
    v: &mut Vec<Violation>,
) -> Result<(), DbError> {
    for r in rels.iter().filter(|r| core(r) && r.class.is_some()) {
        let row = client
            .query_opt(
                "SELECT format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
                 WHERE attrelid = $1 AND attname = 'tenant_id' AND NOT attisdropped",
                &[&r.oid],
            )
            .map_err(|e| DbError::query("reading columns", e))?;
        match row {
            Some(row)
                if row.get::<_, String>(0) == "uuid"
                    && (row.get::<_, bool>(1) || r.kind == b'm' as i8) => {}
            _ => v.push(Violation {
                rule: "tenant-column",
                object: r.name.clone(),
                message: "a core table needs `tenant_id uuid NOT NULL`".into(),
            }),
        }
    }
    Ok(())
}

fn check_tenant_leading_indexes(
    client: &mut postgres::Client,
    rels: &[Relation],
    v: &mut Vec<Violation>,
) -> Result<(), DbError> {
    for r in rels.iter().filter(|r| core(r) && r.class.is_some()) {
        let rows = client
            .query(
                "SELECT ic.relname::text, am.amname::text,
                        (SELECT attname::text FROM pg_attribute WHERE attrelid = i.indrelid AND attnum = i.indkey[0])
                 FROM pg_index i
                 JOIN pg_class ic ON ic.oid = i.indexrelid
                 JOIN pg_am am ON am.oid = ic.relam
                 WHERE i.indrelid = $1",
                &[&r.oid],
            )
            .map_err(|e| DbError::query("reading indexes", e))?;
        for row in rows {
            let (index, am, first): (String, String, Option<String>) =
                (row.get(0), row.get(1), row.get(2));
            if am == "brin" {
                continue; // BRIN on time serves range scans over the append-only log
            }
            if first.as_deref() != Some("tenant_id") {
                v.push(Violation {
                    rule: "tenant-leading-index",
                    object: format!("{}.{index}", r.name),
                    message: format!(
                        "index leads with {} instead of tenant_id: recreate it as ({}tenant_id, ...)",
                        first.as_deref().unwrap_or("an expression"),
                        if am == "gin" { "btree_gin: " } else { "" }
                    ),
                });
            }
        }
    }
    Ok(())
}

fn check_document_hash_unique(
    client: &mut postgres::Client,
    rels: &[Relation],
    v: &mut Vec<Violation>,
) -> Result<(), DbError> {
    for r in rels
        .iter()
        .filter(|r| r.class.as_deref() == Some("source_of_truth") && !r.is_partition)
    {
        let has_doc: bool = holds(client, "SELECT count(*) = 2 FROM pg_attribute WHERE attrelid = $1 AND attname IN ('content_hash', 'doc') AND NOT attisdropped", r.oid, "reading columns")?;
        if !has_doc {
            continue;
        }
        let ok: bool = holds(client, "SELECT EXISTS (
                   SELECT 1 FROM pg_index i
                   WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indnkeyatts = 2
                     AND (SELECT attname FROM pg_attribute WHERE attrelid = $1 AND attnum = i.indkey[0]) = 'tenant_id'
                     AND (SELECT attname FROM pg_attribute WHERE attrelid = $1 AND attnum = i.indkey[1]) = 'content_hash')", r.oid, "reading indexes")?;
        if !ok {
            v.push(Violation {
                rule: "document-hash-unique",
                object: r.name.clone(),
                message: "a source-of-truth document table needs UNIQUE (tenant_id, content_hash)"
                    .into(),
            });
        }
    }
    Ok(())
}

fn check_queue_ready_index(
    client: &mut postgres::Client,
    rels: &[Relation],
    v: &mut Vec<Violation>,
) -> Result<(), DbError> {
    for r in rels.iter().filter(|r| r.class.as_deref() == Some("queue")) {
        let has_status: bool = holds(client, "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1 AND attname = 'status' AND NOT attisdropped)", r.oid, "reading columns")?;
        if !has_status {
            continue;
        }
        let ok: bool = holds(client, "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1 AND i.indpred IS NOT NULL
                                AND pg_get_expr(i.indpred, i.indrelid) LIKE '%ready%')", r.oid, "reading indexes")?;
        if !ok {
            v.push(Violation {
                rule: "queue-ready-index",
                object: r.name.clone(),
                message: "a queue needs a partial index for ready jobs (… WHERE status = 'ready')"
                    .into(),
            });
        }
    }
    Ok(())
}

fn check_matview_unique(
    client: &mut postgres::Client,
    rels: &[Relation],
    v: &mut Vec<Violation>,
) -> Result<(), DbError> {
    for r in rels.iter().filter(|r| r.kind == b'm' as i8) {
        let ok: bool = holds(
            client,
            "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique
                                AND i.indpred IS NULL AND i.indexprs IS NULL)",
            r.oid,
            "reading indexes",
        )?;
        if !ok {
            v.push(Violation {
                rule: "matview-unique-index",
                object: r.name.clone(),
                message: "a materialized view needs a unique index (on plain columns, no WHERE) to be refreshed CONCURRENTLY".into(),
            });
        }
    }
    Ok(())
}

fn check_event_partitions(
    client: &mut postgres::Client,
    rels: &[Relation],
    v: &mut Vec<Violation>,
) -> Result<(), DbError> {
    for r in rels
        .iter()
        .filter(|r| r.class.as_deref() == Some("event") && !r.is_partition)
    {
        if r.kind != b'p' as i8 {
            v.push(Violation {
                rule: "event-partitioned",
                object: r.name.clone(),
                message: "an event table must be PARTITION BY RANGE (occurred_at), monthly, so retention drops partitions".into(),
            });
            continue;
        }
        let brin: bool = holds(client, "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                                JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = $1 AND am.amname = 'brin')", r.oid, "reading indexes")?;
        if !brin {
            v.push(Violation {
                rule: "event-brin",
                object: r.name.clone(),
                message: "an event table needs a BRIN index on its time column".into(),
            });
        }
        let missing: Vec<String> = client
            .query(
                "WITH months AS (
                   SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => g)) AT TIME ZONE 'UTC' AS m
                   FROM generate_series(0, 2) g),
                 bounds AS (
                   SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)')) AS b
                   FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1)
                 SELECT to_char(m AT TIME ZONE 'UTC', 'YYYY-MM') FROM months
                 WHERE NOT EXISTS (SELECT 1 FROM bounds WHERE b IS NOT NULL AND m >= b[1]::timestamptz AND m < b[2]::timestamptz)",
                &[&r.oid],
            )
            .map_err(|e| DbError::query("reading partitions", e))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if !missing.is_empty() {
            v.push(Violation {
                rule: "event-partitions-ahead",
                object: r.name.clone(),
                message: format!(
                    "no partition for {}: run `stella-bundle db migrate` (or the worker's partitions job)",
                    missing.join(", ")
                ),
            });
        }
    }
    Ok(())
}

fn check_invalid_indexes(
    client: &mut postgres::Client,
    v: &mut Vec<Violation>,
) -> Result<(), DbError> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND NOT i.indisvalid",
            &[],
        )
        .map_err(|e| DbError::query("reading indexes", e))?;
    for r in rows {
        v.push(Violation {
            rule: "invalid-index",
            object: r.get(0),
            message:
                "invalid index (an interrupted CREATE INDEX CONCURRENTLY): drop it and rebuild"
                    .into(),
        });
    }
    Ok(())
}

/// A hot query's index story, checked twice: structurally (one of its named indexes exists on
/// its table, is valid, and its leading key columns are the query's equality columns), and, once
/// the table holds enough rows for plans to mean something (analyzed, >= 1000 rows), by EXPLAIN:
/// the real plan must use one of those indexes.
/// The tenant's scans that sample parameters name: each artifact's latest (what `findings`
/// reads), else the newest finished ones, else none (the nil id).
fn sample_context(
    client: &mut postgres::Client,
    tenant: Uuid,
) -> Result<hot_queries::SampleContext, DbError> {
    let rows = client
        .query(
            "SELECT DISTINCT scan_id FROM mv_artifact_risk WHERE tenant_id = $1
             UNION
             (SELECT scan_id FROM scan_run WHERE tenant_id = $1 AND status = 'done'
              AND NOT EXISTS (SELECT 1 FROM mv_artifact_risk WHERE tenant_id = $1)
              ORDER BY finished_at DESC NULLS LAST LIMIT 16)",
            &[&tenant],
        )
        .map_err(|e| DbError::query("reading sample scans", e))?;
    let mut scans: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    if scans.is_empty() {
        scans.push(Uuid::nil());
    }
    Ok(hot_queries::SampleContext { tenant, scans })
}

fn check_plan(
    client: &mut postgres::Client,
    sample: &hot_queries::SampleContext,
    q: &HotQuery,
    v: &mut Vec<Violation>,
) -> Result<Option<Vec<String>>, DbError> {
    let what = format!("checking hot query {}", q.name);
    let rows = client
        .query(
            "SELECT ic.relname::text,
                    array(SELECT a.attname::text FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, n)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n),
                    i.indisvalid
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
             WHERE i.indrelid = to_regclass($1) AND ic.relname = ANY($2)",
            &[&q.table, &q.indexes],
        )
        .map_err(|e| DbError::query(&what, e))?;
    let key: Vec<String> = q.key.iter().map(|k| k.to_string()).collect();
    let structural_ok = rows.iter().any(|r| {
        let cols: Vec<String> = r.get(1);
        r.get::<_, bool>(2) && cols.len() >= key.len() && cols[..key.len()] == key[..]
    });
    if !structural_ok {
        v.push(Violation {
            rule: "hot-query-index",
            object: q.name.to_string(),
            message: format!(
                "no valid index {} on {} leading with ({}): the query \"{}\" has no index story",
                q.indexes.join(" or "),
                q.table,
                q.key.join(", "),
                q.serves
            ),
        });
        return Ok(None);
    }
    let populated: bool = client
        .query_one(
            "SELECT coalesce((SELECT reltuples >= 1000 FROM pg_class WHERE oid = to_regclass($1)), false)",
            &[&q.table],
        )
        .map_err(|e| DbError::query(&what, e))?
        .get(0);
    if !populated {
        return Ok(None);
    }
    let mut tx = client.transaction().map_err(|e| DbError::query(&what, e))?;
    let params = (q.sample)(sample);
    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
        params.iter().map(|b| b.as_ref()).collect();
    let row = tx
        .query_one(&format!("EXPLAIN (FORMAT JSON) {}", q.sql), &refs)
        .map_err(|e| DbError::query(&what, e))?;
    let plan: serde_json::Value = row.get(0);
    let mut used = Vec::new();
    collect_indexes(&plan, &mut used);
    let mut resolved = Vec::new();
    for name in &used {
        // A partition's index counts as its root's (a large scan's finding partition sits two
        // levels down: finding_scan_<id> -> finding_bulk -> finding).
        let root: Option<String> = tx
            .query_opt(
                "WITH RECURSIVE up(oid, depth) AS (
                     SELECT c.oid, 0 FROM pg_class c
                     WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace
                     UNION ALL
                     SELECT i.inhparent, up.depth + 1 FROM up JOIN pg_inherits i ON i.inhrelid = up.oid)
                 SELECT c.relname::text FROM up JOIN pg_class c ON c.oid = up.oid
                 ORDER BY up.depth DESC LIMIT 1",
                &[name],
            )
            .map_err(|e| DbError::query(&what, e))?
            .map(|r| r.get(0));
        resolved.push(root.unwrap_or_else(|| name.clone()));
    }
    tx.rollback().map_err(|e| DbError::query(&what, e))?;
    resolved.sort();
    resolved.dedup();
    if !resolved.iter().any(|i| q.indexes.contains(&i.as_str())) {
        v.push(Violation {
            rule: "hot-query-plan",
            object: q.name.to_string(),
            message: format!(
                "plan does not use {} (uses: {}); run ANALYZE, then check the query \"{}\"",
                q.indexes.join(" or "),
                if resolved.is_empty() {
                    "no index".to_string()
                } else {
                    resolved.join(", ")
                },
                q.serves
            ),
        });
    }
    Ok(Some(resolved))
}

fn collect_indexes(node: &serde_json::Value, out: &mut Vec<String>) {
    match node {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(name)) = map.get("Index Name") {
                out.push(name.clone());
            }
            for value in map.values() {
                collect_indexes(value, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_indexes(i, out)),
        _ => {}
    }
}
