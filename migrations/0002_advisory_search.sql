-- stella:no-transaction
-- Full-text search over advisories (`advisories search`): ids and aliases weigh most, then the
-- summary, then the details. GIN with tenant_id leading (btree_gin). Built CONCURRENTLY: from this
-- migration on, the advisory table may already hold data on a running site.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_advisory_search ON advisory USING gin (tenant_id, search);
