-- stella:no-transaction
-- Import speed (issue 4). ix_component_match (tenant_id, ecosystem, package_name) serves no query:
-- the scan reads an SBOM's components through the primary key (tenant_id, sbom_id, ordinal) and
-- reaches advisory_affected through ix_advisory_affected_match; no hot query
-- (src/db/hot_queries.rs) looks components up by match key. Maintaining it was about a third of
-- the cost of inserting components (random inserts into a third b-tree per row). Dropped
-- CONCURRENTLY: sbom_component may already hold data on a running site.
DROP INDEX CONCURRENTLY IF EXISTS ix_component_match;

-- The raw documents and their JSONB are TOASTed: lz4 compresses them several times faster than
-- the default pglz (20 SBOMs of 750 kB: 0.18 s instead of 0.39 s to store doc and raw), and
-- decompresses faster for export. Only new values use it; existing ones stay readable as they
-- are. Needs a server built with lz4 (PostgreSQL 14+ packages are). The import's staging
-- tables use lz4 too, so a staged value is compressed once and moved as it is.
ALTER TABLE sbom_document ALTER COLUMN doc SET COMPRESSION lz4, ALTER COLUMN raw SET COMPRESSION lz4;
ALTER TABLE vex_document ALTER COLUMN doc SET COMPRESSION lz4, ALTER COLUMN raw SET COMPRESSION lz4;
ALTER TABLE advisory ALTER COLUMN doc SET COMPRESSION lz4, ALTER COLUMN raw SET COMPRESSION lz4, ALTER COLUMN details SET COMPRESSION lz4;
