-- stella:no-transaction
-- Scan write cost and hot reads at scale (issue 5). A scan writes one `finding` row per affected
-- (artifact, component, advisory), 500,000 in the benchmark; storing them cost more than finding
-- them: five indexes and a per-row foreign-key check. Measured on 500,000 findings, each index
-- and the check cost more than the heap itself (scripts/bench.sh scan, docs/BENCHMARKS.md).
-- Every hot read keeps its index (src/db/hot_queries.rs, checked by `db lint`):
--
-- * "Findings by alias" (a CVE id of a GHSA record): aliases belong to the advisory. The alias
--   resolves to advisory ids through advisory_alias (below), then ix_finding_advisory_id finds
--   their findings, rechecked against finding.aliases. The GIN ix_finding_aliases goes: about a
--   third of the write cost, and, led by tenant_id (btree_gin), its tenant key's posting list is
--   every row, which each lookup intersected with (9-11 ms at 2 M findings). The advisory's
--   own ix_advisory_aliases has the same flaw at feed size (the whole index read per lookup:
--   23 ms cold at 50,000 advisories), hence a b-tree projection.
-- * "Artifacts affected by advisory X": (tenant_id, advisory_id) alone. The b-tree deduplicates
--   equal keys, so it is about an eighth of (tenant_id, advisory_id, artifact_purl); a scan's
--   inserts land all over it (advisories are not in scan order), so its size is what decides
--   whether they hit cached pages. The artifact comes from the few heap rows it finds.
-- * "Open findings of artifact Z in a scan": the primary key (tenant_id, scan_id,
--   artifact_purl, ...) serves it (the scan is always known: the artifact's latest);
--   ix_finding_artifact_status goes.
-- * finding -> scan_run: the per-row foreign-key check (one lookup per finding row, as costly as
--   an index) becomes one set-based check per statement over the inserted or updated rows
--   (transition tables), and scan_run refuses to lose a scan that findings name. Same guarantee;
--   scan_run rows are written in the scan's transaction before its findings and never deleted.
--
-- Built and dropped CONCURRENTLY: `finding` holds data on a running site. Each statement is
-- idempotent (a no-transaction migration re-runs from the top after an interruption).

-- Alias -> advisory id, for every alias any stored version of an advisory names (a superset of
-- the current versions' aliases: readers recheck against the row they find). Kept by a
-- statement-level trigger on advisory inserts (advisory rows are immutable and never deleted),
-- so every import path (feeds, snapshots) keeps it without knowing it; created before the
-- backfill, so an import running meanwhile is covered by one or the other.
CREATE TABLE IF NOT EXISTS advisory_alias (
    tenant_id   uuid NOT NULL,
    alias       text NOT NULL,
    advisory_id text NOT NULL,
    PRIMARY KEY (tenant_id, alias, advisory_id)
);
COMMENT ON TABLE advisory_alias IS 'class: projection; alias -> advisory id of every stored advisory version, kept by trigger on advisory inserts; rebuildable from advisory';
CREATE OR REPLACE FUNCTION stella_advisory_alias_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO advisory_alias (tenant_id, alias, advisory_id)
    SELECT DISTINCT n.tenant_id, a.alias, n.advisory_id
    FROM new_advisory n CROSS JOIN LATERAL unnest(n.aliases) AS a(alias)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER advisory_alias_add AFTER INSERT ON advisory
    REFERENCING NEW TABLE AS new_advisory
    FOR EACH STATEMENT EXECUTE FUNCTION stella_advisory_alias_add();
INSERT INTO advisory_alias (tenant_id, alias, advisory_id)
SELECT DISTINCT ad.tenant_id, a.alias, ad.advisory_id
FROM advisory ad CROSS JOIN LATERAL unnest(ad.aliases) AS a(alias)
ON CONFLICT DO NOTHING;

-- The findings' indexes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_finding_advisory_id ON finding (tenant_id, advisory_id);
DROP INDEX CONCURRENTLY IF EXISTS ix_finding_advisory;
DROP INDEX CONCURRENTLY IF EXISTS ix_finding_aliases;
DROP INDEX CONCURRENTLY IF EXISTS ix_finding_artifact_status;

-- Inserted or updated findings must name an existing scan_run (the foreign key's rule, per
-- statement).
CREATE OR REPLACE FUNCTION stella_finding_scan_exists() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM (SELECT DISTINCT tenant_id, scan_id FROM changed_finding) f
               WHERE NOT EXISTS (SELECT 1 FROM scan_run s
                                 WHERE s.tenant_id = f.tenant_id AND s.scan_id = f.scan_id)) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = 'finding names a scan that is not in scan_run',
            TABLE = 'finding', CONSTRAINT = 'finding_scan_exists';
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER finding_scan_exists_insert AFTER INSERT ON finding
    REFERENCING NEW TABLE AS changed_finding
    FOR EACH STATEMENT EXECUTE FUNCTION stella_finding_scan_exists();
CREATE OR REPLACE TRIGGER finding_scan_exists_update AFTER UPDATE ON finding
    REFERENCING NEW TABLE AS changed_finding
    FOR EACH STATEMENT EXECUTE FUNCTION stella_finding_scan_exists();

-- A scan_run that findings name can be neither deleted nor re-keyed (ON DELETE/UPDATE
-- RESTRICT), nor truncated away under them.
CREATE OR REPLACE FUNCTION stella_scan_run_keep_named() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM finding) THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                MESSAGE = 'cannot truncate scan_run: findings name its scans',
                TABLE = 'scan_run', CONSTRAINT = 'finding_scan_exists';
        END IF;
        RETURN NULL;
    END IF;
    IF (TG_OP = 'DELETE' OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id
                         OR NEW.scan_id IS DISTINCT FROM OLD.scan_id)
       AND EXISTS (SELECT 1 FROM finding f WHERE f.tenant_id = OLD.tenant_id AND f.scan_id = OLD.scan_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = format('scan %s is named by findings', OLD.scan_id),
            TABLE = 'scan_run', CONSTRAINT = 'finding_scan_exists';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER scan_run_keep_named BEFORE DELETE OR UPDATE OF tenant_id, scan_id ON scan_run
    FOR EACH ROW EXECUTE FUNCTION stella_scan_run_keep_named();
CREATE OR REPLACE TRIGGER scan_run_keep_named_truncate BEFORE TRUNCATE ON scan_run
    FOR EACH STATEMENT EXECUTE FUNCTION stella_scan_run_keep_named();

-- The check above replaces it.
ALTER TABLE finding DROP CONSTRAINT IF EXISTS finding_tenant_id_scan_id_fkey;

-- mv_artifact_risk: the same rows, each artifact's latest findings read once (three counts by
-- FILTER) instead of once per count (three correlated subqueries, which used
-- ix_finding_artifact_status). Replaced in one statement (the DO block runs as one
-- transaction), so readers never see it missing; re-running replaces it again.
DO $$
BEGIN
    DROP MATERIALIZED VIEW IF EXISTS mv_artifact_risk;
    CREATE MATERIALIZED VIEW mv_artifact_risk AS
    SELECT l.tenant_id, l.artifact_purl, l.scan_id, l.finished_at,
           c.affected, c.under_investigation, c.resolved
    FROM (SELECT DISTINCT ON (sa.tenant_id, sa.artifact_purl)
                 sa.tenant_id, sa.artifact_purl, sa.scan_id, sr.finished_at
          FROM scan_artifact sa
          JOIN scan_run sr ON sr.tenant_id = sa.tenant_id AND sr.scan_id = sa.scan_id
          WHERE sr.status = 'done'
          ORDER BY sa.tenant_id, sa.artifact_purl, sr.finished_at DESC, sa.scan_id) l
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE f.status = 'affected') AS affected,
               count(*) FILTER (WHERE f.status = 'under_investigation') AS under_investigation,
               count(*) FILTER (WHERE f.status IN ('not_affected', 'fixed')) AS resolved
        FROM finding f
        WHERE f.tenant_id = l.tenant_id AND f.scan_id = l.scan_id AND f.artifact_purl = l.artifact_purl) c;
    CREATE UNIQUE INDEX ux_mv_artifact_risk ON mv_artifact_risk (tenant_id, artifact_purl);
    COMMENT ON MATERIALIZED VIEW mv_artifact_risk IS 'class: projection; refreshed concurrently after each scan';
END $$;
