//! The named hot queries: every query a user waits on, with the index that serves it. The code
//! that runs them uses these constants, and `db lint` EXPLAINs each one and fails when its plan
//! does not use one of the named indexes.

use postgres::types::ToSql;
use uuid::Uuid;

/// What sample parameters may draw on: the tenant, and scans that exist (each artifact's latest,
/// else the newest finished ones), so a plan is checked against scans the statistics know.
pub struct SampleContext {
    pub tenant: Uuid,
    pub scans: Vec<Uuid>,
}

/// Parameters for EXPLAIN: sample values of the right types.
pub type SampleParams = fn(&SampleContext) -> Vec<Box<dyn ToSql + Sync>>;

/// A query on a hot path and the indexes allowed to serve it.
pub struct HotQuery {
    pub name: &'static str,
    /// The user-facing question it answers.
    pub serves: &'static str,
    pub sql: &'static str,
    /// The table it reads, and the equality columns an index must lead with.
    pub table: &'static str,
    pub key: &'static [&'static str],
    /// Any of these (or a partition's copy of them) must appear in the plan.
    pub indexes: &'static [&'static str],
    pub sample: SampleParams,
}

pub const IMPORT_BY_SHA256: HotQuery = HotQuery {
    name: "import_by_sha256",
    serves: "was this bundle already imported? (answered before anything is decompressed)",
    sql: "SELECT import_id, kind, source FROM bundle_import WHERE tenant_id = $1 AND bundle_sha256 = $2",
    table: "bundle_import",
    key: &["tenant_id", "bundle_sha256"],
    indexes: &["ux_bundle_import_sha"],
    sample: |c| vec![Box::new(c.tenant), Box::new(vec![0u8; 32])],
};

pub const ACTIVE_BUNDLE_OF_SOURCE: HotQuery = HotQuery {
    name: "active_bundle_of_source",
    serves: "the newest bundle of a source (feed freshness, sequence checks)",
    sql: "SELECT import_id, sequence, created FROM bundle_import \
          WHERE tenant_id = $1 AND kind = $2 AND source = $3 \
          ORDER BY created DESC, import_id DESC LIMIT 1",
    table: "bundle_import",
    key: &["tenant_id", "kind", "source"],
    indexes: &["ix_bundle_import_source"],
    sample: |c| vec![Box::new(c.tenant), Box::new("feed"), Box::new("osv-pypi")],
};

pub const LATEST_SBOM_OF_ARTIFACT: HotQuery = HotQuery {
    name: "latest_sbom_of_artifact",
    serves: "the SBOM a scan reads for an artifact",
    sql: "SELECT id, content_hash FROM sbom_document WHERE tenant_id = $1 AND artifact_purl = $2 \
          ORDER BY created_at DESC, id DESC LIMIT 1",
    table: "sbom_document",
    key: &["tenant_id", "artifact_purl"],
    indexes: &["ix_sbom_latest"],
    sample: |c| vec![Box::new(c.tenant), Box::new("pkg:npm/app@1.0.0")],
};

pub const COMPONENT_SEARCH: HotQuery = HotQuery {
    name: "component_search",
    serves: "where is component Y (which SBOMs contain a package)",
    sql: "SELECT sbom_id, purl, version FROM sbom_component WHERE tenant_id = $1 AND package_purl = $2",
    table: "sbom_component",
    key: &["tenant_id", "package_purl"],
    indexes: &["ix_component_package"],
    sample: |c| vec![Box::new(c.tenant), Box::new("pkg:npm/lodash")],
};

pub const ADVISORIES_FOR_PACKAGE: HotQuery = HotQuery {
    name: "advisories_for_package",
    serves: "matching: current, non-withdrawn advisories of an (ecosystem, package)",
    sql: "SELECT af.advisory_pk, af.ecosystem, af.ranges, af.versions \
          FROM advisory_affected af \
          JOIN advisory_current c ON c.tenant_id = af.tenant_id AND c.advisory_pk = af.advisory_pk \
          WHERE af.tenant_id = $1 AND af.ecosystem_base = $2 AND af.package_name = $3 AND NOT c.withdrawn",
    table: "advisory_affected",
    key: &["tenant_id", "ecosystem_base", "package_name"],
    indexes: &["ix_advisory_affected_match"],
    sample: |c| vec![Box::new(c.tenant), Box::new("PyPI"), Box::new("django")],
};

pub const VEX_FOR_VULNERABILITY: HotQuery = HotQuery {
    name: "vex_for_vulnerability",
    serves: "VEX statements about a vulnerability id or any of its aliases",
    sql: "SELECT vex_id, ordinal, vulnerability_id, product_purl, component_purl, status, justification, statement_time \
          FROM vex_statement WHERE tenant_id = $1 AND vulnerability_id = ANY($2)",
    table: "vex_statement",
    key: &["tenant_id", "vulnerability_id"],
    indexes: &["ix_vex_statement_vuln"],
    sample: |c| vec![Box::new(c.tenant), Box::new(vec!["CVE-2024-0001".to_string()])],
};

pub const LATEST_SCAN_OF_ARTIFACT: HotQuery = HotQuery {
    name: "latest_scan_of_artifact",
    serves: "each artifact's latest finished scan (`findings` reads the findings of these scans)",
    sql: "SELECT artifact_purl, scan_id, finished_at FROM mv_artifact_risk \
          WHERE tenant_id = $1 AND artifact_purl = $2",
    table: "mv_artifact_risk",
    key: &["tenant_id", "artifact_purl"],
    indexes: &["ux_mv_artifact_risk"],
    sample: |c| vec![Box::new(c.tenant), Box::new("pkg:npm/app@1.0.0")],
};

// The finding queries below name the scans they read (each artifact's latest, from
// LATEST_SCAN_OF_ARTIFACT): `finding_bulk` holds one partition per large scan, and naming the
// scans lets the planner prune to theirs instead of planning and probing every partition.

pub const ARTIFACTS_AFFECTED_BY_ADVISORY: HotQuery = HotQuery {
    name: "artifacts_affected_by_advisory",
    serves: "which artifacts are affected by advisory X (in the given scans)",
    sql: "SELECT DISTINCT artifact_purl FROM finding \
          WHERE tenant_id = $1 AND advisory_id = $2 AND scan_id = ANY($3)",
    table: "finding",
    key: &["tenant_id", "advisory_id"],
    indexes: &["ix_finding_advisory_id"],
    sample: |c| {
        vec![
            Box::new(c.tenant),
            Box::new("GHSA-xxxx-xxxx-xxxx"),
            Box::new(c.scans.clone()),
        ]
    },
};

pub const ADVISORIES_BY_ALIAS: HotQuery = HotQuery {
    name: "advisories_by_alias",
    serves: "the advisory ids an alias (a CVE id) names, in any stored version (CVE <-> GHSA)",
    sql: "SELECT advisory_id FROM advisory_alias WHERE tenant_id = $1 AND alias = $2",
    table: "advisory_alias",
    key: &["tenant_id", "alias"],
    indexes: &["advisory_alias_pkey"],
    sample: |c| vec![Box::new(c.tenant), Box::new("CVE-2024-0001")],
};

pub const FINDINGS_BY_ALIAS: HotQuery = HotQuery {
    name: "findings_by_alias",
    serves: "findings of an advisory named by an alias (a CVE id of a GHSA record), in the given scans",
    // Aliases belong to the advisory: the alias resolves to advisory ids through the
    // advisory_alias projection (ADVISORIES_BY_ALIAS, a superset), their findings come from the
    // advisory-id index, and each finding's own aliases (as the scan recorded them) decide.
    sql:
        "SELECT f.scan_id, f.artifact_purl, f.component_purl, f.advisory_id FROM finding f \
          WHERE f.tenant_id = $1 AND f.scan_id = ANY($3) AND f.aliases @> ARRAY[$2::text] AND f.advisory_id IN ( \
            SELECT aa.advisory_id FROM advisory_alias aa WHERE aa.tenant_id = $1 AND aa.alias = $2)",
    table: "finding",
    key: &["tenant_id", "advisory_id"],
    indexes: &["ix_finding_advisory_id"],
    sample: |c| {
        vec![
            Box::new(c.tenant),
            Box::new("CVE-2024-0001"),
            Box::new(c.scans.clone()),
        ]
    },
};

pub const FINDINGS_BY_COMPONENT: HotQuery = HotQuery {
    name: "findings_by_component",
    serves: "findings of one component purl across artifacts (in the given scans)",
    sql: "SELECT scan_id, artifact_purl, advisory_id, status FROM finding \
          WHERE tenant_id = $1 AND component_purl = $2 AND scan_id = ANY($3)",
    table: "finding",
    key: &["tenant_id", "component_purl"],
    indexes: &["ix_finding_component"],
    sample: |c| {
        vec![
            Box::new(c.tenant),
            Box::new("pkg:npm/lodash@4.17.20"),
            Box::new(c.scans.clone()),
        ]
    },
};

pub const OPEN_FINDINGS_OF_ARTIFACT: HotQuery = HotQuery {
    name: "open_findings_of_artifact",
    serves: "open findings of artifact Z in a scan",
    sql: "SELECT component_purl, advisory_id, status FROM finding \
          WHERE tenant_id = $1 AND artifact_purl = $2 AND status IN ('affected', 'under_investigation') AND scan_id = $3",
    table: "finding",
    // The scan is always known (the artifact's latest): the primary key's prefix
    // (tenant_id, scan_id, artifact_purl) holds the artifact's findings of that scan together.
    key: &["tenant_id", "scan_id", "artifact_purl"],
    indexes: &["finding_pkey"],
    sample: |c| vec![Box::new(c.tenant), Box::new("pkg:npm/app@1.0.0"), Box::new(Uuid::nil())],
};

pub const ADVISORY_SEARCH: HotQuery = HotQuery {
    name: "advisory_search",
    serves: "full-text search over advisories (current versions; optionally one ecosystem)",
    sql: "SELECT a.id, a.advisory_id, ts_rank(a.search, q) AS rank FROM advisory a \
          JOIN advisory_current c ON c.tenant_id = a.tenant_id AND c.advisory_pk = a.id, \
          websearch_to_tsquery('english', $2) q \
          WHERE a.tenant_id = $1 AND a.search @@ q \
            AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM advisory_affected af \
                 WHERE af.tenant_id = a.tenant_id AND af.advisory_pk = a.id AND af.ecosystem_base = $3)) \
          ORDER BY rank DESC, a.advisory_id COLLATE \"C\" LIMIT $4",
    table: "advisory",
    key: &["tenant_id", "search"],
    indexes: &["ix_advisory_search"],
    sample: |c| {
        vec![
            Box::new(c.tenant),
            Box::new("openssl heap overflow"),
            Box::new(None::<String>),
            Box::new(50i64),
        ]
    },
};

pub const CLAIM_JOB: HotQuery = HotQuery {
    name: "claim_job",
    serves: "a worker claiming the next ready job of one kind (FOR UPDATE SKIP LOCKED)",
    // One kind per claim (workers rotate over their kinds): with `kind = $2` the ready index
    // delivers rows already in (run_after, job_id) order, so a claim reads one index entry however
    // deep the queue is; `kind = ANY(...)` would sort every ready row first. The payload comes
    // back through the join: the claim rewrites only the small state row.
    sql: "WITH next AS ( \
            SELECT job_id FROM job_queue_state \
            WHERE tenant_id = $1 AND kind = $2 AND status = 'ready' AND run_after <= now() \
            ORDER BY run_after, job_id FOR UPDATE SKIP LOCKED LIMIT 1) \
          UPDATE job_queue_state s SET status = 'running', locked_at = now(), locked_by = $3, \
                 lease_until = now() + make_interval(secs => $4), attempts = s.attempts + 1 \
          FROM next, job_queue q \
          WHERE s.tenant_id = $1 AND s.job_id = next.job_id AND q.tenant_id = $1 AND q.id = next.job_id \
          RETURNING s.job_id, s.kind, s.attempts, q.max_attempts, q.backoff_ms, q.idempotency_key, q.payload",
    table: "job_queue_state",
    key: &["tenant_id", "kind"],
    indexes: &["ix_job_ready"],
    sample: |c| {
        vec![
            Box::new(c.tenant),
            Box::new("scan"),
            Box::new("worker-1"),
            Box::new(30.0f64),
        ]
    },
};

pub const EVENTS_SINCE: HotQuery = HotQuery {
    name: "events_since",
    serves: "the audit trail since a time (`events --since`)",
    sql: "SELECT occurred_at, event_id, kind, outcome, os_user, host, subject, details FROM event \
          WHERE tenant_id = $1 AND occurred_at >= $2 ORDER BY occurred_at, event_id LIMIT $3",
    table: "event",
    key: &["tenant_id", "occurred_at"],
    indexes: &["event_pkey"],
    sample: |c| {
        vec![
            Box::new(c.tenant),
            Box::new(chrono::Utc::now()),
            Box::new(100i64),
        ]
    },
};

pub const EVENTS_OF_KIND_SINCE: HotQuery = HotQuery {
    name: "events_of_kind_since",
    serves: "the audit trail of one kind since a time (`events --kind K --since`)",
    sql: "SELECT occurred_at, event_id, kind, outcome, os_user, host, subject, details FROM event \
          WHERE tenant_id = $1 AND kind = $2 AND occurred_at >= $3 ORDER BY occurred_at, event_id LIMIT $4",
    table: "event",
    key: &["tenant_id", "kind"],
    indexes: &["ix_event_kind"],
    sample: |c| {
        vec![
            Box::new(c.tenant),
            Box::new("import"),
            Box::new(chrono::Utc::now()),
            Box::new(100i64),
        ]
    },
};

/// Every hot query, in the order `db lint` checks them.
pub const ALL: &[&HotQuery] = &[
    &IMPORT_BY_SHA256,
    &ACTIVE_BUNDLE_OF_SOURCE,
    &LATEST_SBOM_OF_ARTIFACT,
    &COMPONENT_SEARCH,
    &ADVISORIES_FOR_PACKAGE,
    &VEX_FOR_VULNERABILITY,
    &LATEST_SCAN_OF_ARTIFACT,
    &ARTIFACTS_AFFECTED_BY_ADVISORY,
    &ADVISORIES_BY_ALIAS,
    &FINDINGS_BY_ALIAS,
    &FINDINGS_BY_COMPONENT,
    &OPEN_FINDINGS_OF_ARTIFACT,
    &ADVISORY_SEARCH,
    &CLAIM_JOB,
    &EVENTS_SINCE,
    &EVENTS_OF_KIND_SINCE,
];
