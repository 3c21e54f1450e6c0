-- stella:no-transaction
-- Import speed (issue 4). ix_component_match (tenant_id, ecosystem, package_name) serves no query:
-- the scan reads an SBOM's components through the primary key (tenant_id, sbom_id, ordinal) and
-- reaches advisory_affected through ix_advisory_affected_match; no hot query
-- (src/db/hot_queries.rs) looks components up by match key. Maintaining it was about a third of
-- the cost of inserting components (random inserts into a third b-tree per row). Dropped
-- CONCURRENTLY: sbom_component may already hold data on a running site.
DROP INDEX CONCURRENTLY IF EXISTS ix_component_match;
