-- Large scans store their findings in bulk (issue 5). Measured on the scan benchmark's 500,084
-- findings: a COPY into the indexed `finding` took 3.5-4.2 s, of which the heap was 0.5 s and
-- each b-tree about 1 s (every row a random insert into (tenant_id, advisory_id) and
-- (tenant_id, component_purl)); the same rows COPY'd into a bare table and indexed afterwards
-- (one sorted build per index) took 1.6-2.0 s. So `finding` becomes partitioned:
--
--   finding                  PARTITION BY LIST (bulk)
--   |- finding_small         FOR VALUES IN (false): scans below the bulk threshold, indexed row
--   |                        by row as before
--   `- finding_bulk          FOR VALUES IN (true), PARTITION BY LIST (scan_id)
--      `- finding_scan_<id>  one per large scan: created, COPY'd and indexed inside the scan's
--                            transaction, then attached (its CHECK constraint proves the
--                            partition bound, so ATTACH reads no rows)
--
-- Readers keep querying `finding`; its indexes are partitioned indexes, so every hot query keeps
-- its index story per partition. Large scans are what a site runs nightly over its fleet; the
-- threshold (src/scan/mod.rs, BULK_MIN_FINDINGS) keeps CI-gate scans of one artifact out of it,
-- so partitions grow with large scans, not with every scan. `bulk` is part of the primary key
-- because a partitioned table's unique keys must hold its partition key; a scan is either bulk
-- or not, so (tenant_id, scan_id, artifact_purl, component_purl, advisory_id) stays unique.
--
-- One transaction: the rows move from the old table to finding_small, and mv_artifact_risk
-- (which depends on the old table) is recreated over per-artifact counts (below).

DROP MATERIALIZED VIEW IF EXISTS mv_artifact_risk;
ALTER TABLE finding RENAME TO finding_before_0008;
ALTER INDEX finding_pkey RENAME TO finding_before_0008_pkey;
ALTER INDEX ix_finding_advisory_id RENAME TO finding_before_0008_advisory_id;
ALTER INDEX ix_finding_component RENAME TO finding_before_0008_component;

CREATE TABLE finding (
    tenant_id      uuid NOT NULL,
    scan_id        uuid NOT NULL,
    artifact_purl  text NOT NULL,
    component_purl text NOT NULL,
    advisory_id    text NOT NULL,
    aliases        text[] NOT NULL DEFAULT '{}',
    status         text NOT NULL CHECK (status IN ('affected', 'not_affected', 'fixed', 'under_investigation')),
    justification  text,
    severity       text,
    bulk           boolean NOT NULL DEFAULT false, -- stored in the scan's own partition of finding_bulk
    PRIMARY KEY (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, bulk)
) PARTITION BY LIST (bulk);
COMMENT ON TABLE finding IS 'class: source_of_truth; facts advisory <-> component <-> artifact per scan, written once by the scan; partitioned: finding_small, and finding_bulk with one partition per large scan';
-- serves: "artifacts affected by advisory X" (and findings by alias, through advisory_alias)
CREATE INDEX ix_finding_advisory_id ON finding (tenant_id, advisory_id);
-- serves: "where is component Y"
CREATE INDEX ix_finding_component ON finding (tenant_id, component_purl);

CREATE TABLE finding_small PARTITION OF finding FOR VALUES IN (false);
COMMENT ON TABLE finding_small IS 'class: source_of_truth; partition of finding: the findings of scans below the bulk threshold';
CREATE TABLE finding_bulk PARTITION OF finding FOR VALUES IN (true) PARTITION BY LIST (scan_id);
COMMENT ON TABLE finding_bulk IS 'class: source_of_truth; partition of finding: one partition per large scan, attached by the scan after its indexes are built';

INSERT INTO finding (tenant_id, scan_id, artifact_purl, component_purl, advisory_id, aliases, status,
                     justification, severity, bulk)
SELECT tenant_id, scan_id, artifact_purl, component_purl, advisory_id, aliases, status,
       justification, severity, false
FROM finding_before_0008;
DROP TABLE finding_before_0008;

-- Inserted or updated findings must name an existing scan_run (0007's statement-level check, on
-- the new table; a large scan's partition is filled before it is attached, in the transaction
-- that inserted its scan_run row).
CREATE TRIGGER finding_scan_exists_insert AFTER INSERT ON finding
    REFERENCING NEW TABLE AS changed_finding
    FOR EACH STATEMENT EXECUTE FUNCTION stella_finding_scan_exists();
CREATE TRIGGER finding_scan_exists_update AFTER UPDATE ON finding
    REFERENCING NEW TABLE AS changed_finding
    FOR EACH STATEMENT EXECUTE FUNCTION stella_finding_scan_exists();

-- Each scanned artifact's finding counts, written by the scan with its scan_artifact row (it
-- has them in memory), so mv_artifact_risk reads one row per artifact instead of counting the
-- latest scan's findings at every refresh (0.2-0.45 s after a 500,000-finding scan). Scans
-- stored before this migration get theirs counted here.
ALTER TABLE scan_artifact ADD COLUMN affected bigint,
                          ADD COLUMN under_investigation bigint,
                          ADD COLUMN resolved bigint;
UPDATE scan_artifact sa SET (affected, under_investigation, resolved) = (
    SELECT count(*) FILTER (WHERE f.status = 'affected'),
           count(*) FILTER (WHERE f.status = 'under_investigation'),
           count(*) FILTER (WHERE f.status IN ('not_affected', 'fixed'))
    FROM finding f
    WHERE f.tenant_id = sa.tenant_id AND f.scan_id = sa.scan_id AND f.artifact_purl = sa.artifact_purl);
ALTER TABLE scan_artifact ALTER COLUMN affected SET NOT NULL,
                          ALTER COLUMN under_investigation SET NOT NULL,
                          ALTER COLUMN resolved SET NOT NULL;

-- mv_artifact_risk: the same columns as 0007's, each artifact's latest scan with its counts.
CREATE MATERIALIZED VIEW mv_artifact_risk AS
SELECT DISTINCT ON (sa.tenant_id, sa.artifact_purl)
       sa.tenant_id, sa.artifact_purl, sa.scan_id, sr.finished_at,
       sa.affected, sa.under_investigation, sa.resolved
FROM scan_artifact sa
JOIN scan_run sr ON sr.tenant_id = sa.tenant_id AND sr.scan_id = sa.scan_id
WHERE sr.status = 'done'
ORDER BY sa.tenant_id, sa.artifact_purl, sr.finished_at DESC, sa.scan_id;
CREATE UNIQUE INDEX ux_mv_artifact_risk ON mv_artifact_risk (tenant_id, artifact_purl);
COMMENT ON MATERIALIZED VIEW mv_artifact_risk IS 'class: projection; refreshed concurrently after each scan';
