-- stella:no-transaction
-- ix_advisory_aliases (GIN on (tenant_id, aliases)) served one query, the id lookup of
-- `advisories search`; with tenant_id leading, every lookup read the whole index (see 0007).
-- That lookup now goes through the advisory_alias projection (alias -> advisory id, b-tree, kept
-- by trigger since 0007) and rechecks the current version's own aliases, so no query needs the
-- GIN (its maintenance on import was within the benchmark's noise). Dropped CONCURRENTLY:
-- advisory holds data on a running site.
DROP INDEX CONCURRENTLY IF EXISTS ix_advisory_aliases;
