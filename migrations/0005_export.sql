-- Snapshots this site exported or imported (SPEC section 7), so `export --since SHA256` can tell
-- what a base snapshot (and the chain of bases under it) already holds, and `import` of a delta
-- can check that its base is here. Not part of any export: it describes snapshots, not the tenant.
CREATE TABLE snapshot_index (
    tenant_id     uuid NOT NULL REFERENCES tenant,
    bundle_sha256 bytea NOT NULL CHECK (length(bundle_sha256) = 32),
    base_sha256   bytea CHECK (length(base_sha256) = 32),
    origin        text NOT NULL CHECK (origin IN ('export', 'import')),
    index         jsonb NOT NULL,             -- the snapshot's data/index.json
    PRIMARY KEY (tenant_id, bundle_sha256)
);
COMMENT ON TABLE snapshot_index IS 'class: source_of_truth; one row per snapshot exported or imported here, with its index; resolves delta bases';
