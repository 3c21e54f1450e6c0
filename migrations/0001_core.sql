-- stella-bundle core schema (SPEC section 9, seed-postgres-guide.md).
--
-- Every table states its class in COMMENT ON TABLE as 'class: <source_of_truth|projection|queue|
-- event|system>; ...' and `db lint` checks it. Rules kept throughout:
--   * tenant_id uuid leads every key and every b-tree/GIN index of a core table (BRIN on time
--     excepted: it serves time-range scans across the append-only event log);
--   * source-of-truth documents are immutable rows, unique on (tenant_id, content_hash), with the
--     raw bytes kept next to the JSONB so export and replay see exactly what was imported;
--   * hot JSON keys are stored generated columns or real columns; hot arrays are child tables.
-- The tables are empty when this migration runs, so plain CREATE INDEX inside its transaction is
-- safe; later migrations that index existing tables use CREATE INDEX CONCURRENTLY.

CREATE EXTENSION IF NOT EXISTS btree_gin;

-- array_to_string is only STABLE in general (element output functions may depend on settings);
-- for text[] it is immutable, which generated columns need.
CREATE FUNCTION stella_text_array_join(text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN array_to_string($1, ' ');

-- Tenants ------------------------------------------------------------------------------------
CREATE TABLE tenant (
    tenant_id  uuid PRIMARY KEY,              -- UUIDv5 of the name: the same on every site
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tenant IS 'class: source_of_truth; one row per tenant name; never updated';

-- Imports (ledger) ----------------------------------------------------------------------------
CREATE TABLE bundle_import (
    tenant_id          uuid NOT NULL REFERENCES tenant,
    import_id          bigint GENERATED ALWAYS AS IDENTITY,
    bundle_sha256      bytea NOT NULL CHECK (length(bundle_sha256) = 32),
    kind               text NOT NULL CHECK (kind IN ('feed', 'sbom', 'vex', 'snapshot')),
    source             text NOT NULL,
    created            timestamptz NOT NULL,  -- the signed predicate.created
    sequence           bigint,                -- the signed predicate.sequence
    base_sha256        bytea,                 -- the signed predicate.base (delta snapshots)
    signer_keyid       text NOT NULL,
    envelope           bytea NOT NULL,        -- the DSSE envelope exactly as signed
    statement          jsonb NOT NULL,        -- its decoded in-toto statement
    file_name          text NOT NULL,
    size_bytes         bigint NOT NULL,
    allow_older_reason text,                  -- set when an older feed was forced in
    imported_by        text NOT NULL,
    imported_at        timestamptz NOT NULL DEFAULT now(),
    predicate_kind     text GENERATED ALWAYS AS (statement #>> '{predicate,kind}') STORED,
    PRIMARY KEY (tenant_id, import_id),
    CONSTRAINT ux_bundle_import_sha UNIQUE (tenant_id, bundle_sha256)
);
COMMENT ON TABLE bundle_import IS 'class: source_of_truth; one row per imported bundle, the idempotency key is the bundle sha256';
-- serves: the active (newest) bundle of a source, feed freshness in `status`
CREATE INDEX ix_bundle_import_source ON bundle_import (tenant_id, kind, source, created DESC, import_id DESC);

-- Which documents each bundle brought (a document shared by two bundles is stored once).
CREATE TABLE bundle_document (
    tenant_id    uuid NOT NULL,
    import_id    bigint NOT NULL,
    path         text NOT NULL,               -- entry path in the bundle, e.g. data/sbom/a.json
    doc_type     text NOT NULL CHECK (doc_type IN ('sbom', 'vex', 'advisory', 'scan_manifest', 'index')),
    content_hash bytea NOT NULL CHECK (length(content_hash) = 32),
    PRIMARY KEY (tenant_id, import_id, path),
    FOREIGN KEY (tenant_id, import_id) REFERENCES bundle_import
);
COMMENT ON TABLE bundle_document IS 'class: source_of_truth; bundle -> document links, written with the import';
CREATE INDEX ix_bundle_document_hash ON bundle_document (tenant_id, content_hash);

-- SBOMs ---------------------------------------------------------------------------------------
CREATE TABLE sbom_document (
    tenant_id       uuid NOT NULL REFERENCES tenant,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    content_hash    bytea NOT NULL CHECK (length(content_hash) = 32),
    artifact_purl   text NOT NULL,
    doc             jsonb NOT NULL,
    raw             bytea NOT NULL,
    first_import_id bigint NOT NULL,
    supersedes_id   bigint,                   -- the previous SBOM of the same artifact
    created_at      timestamptz NOT NULL DEFAULT now(),
    bom_format      text GENERATED ALWAYS AS (coalesce(doc ->> 'bomFormat', CASE WHEN doc ? 'spdxVersion' THEN 'SPDX' END)) STORED,
    spec_version    text GENERATED ALWAYS AS (coalesce(doc ->> 'specVersion', doc ->> 'spdxVersion')) STORED,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT ux_sbom_document_hash UNIQUE (tenant_id, content_hash)
);
COMMENT ON TABLE sbom_document IS 'class: source_of_truth; raw SBOM documents, immutable, versioned by supersedes_id';
-- serves: latest SBOM of an artifact
CREATE INDEX ix_sbom_latest ON sbom_document (tenant_id, artifact_purl, created_at DESC, id DESC);
CREATE INDEX ix_sbom_format ON sbom_document (tenant_id, bom_format);

CREATE TABLE sbom_component (
    tenant_id     uuid NOT NULL,
    sbom_id       bigint NOT NULL,
    ordinal       integer NOT NULL,
    bom_ref       text,
    name          text NOT NULL,
    version       text,
    purl          text,                       -- canonical purl with version
    package_purl  text,                       -- canonical purl without version and qualifiers
    ecosystem     text,                       -- OSV ecosystem derived from the purl type
    package_name  text,                       -- name normalized for matching in that ecosystem
    PRIMARY KEY (tenant_id, sbom_id, ordinal),
    FOREIGN KEY (tenant_id, sbom_id) REFERENCES sbom_document
);
COMMENT ON TABLE sbom_component IS 'class: source_of_truth; components extracted from sbom_document in the same transaction';
-- serves: component search ("where is component Y")
CREATE INDEX ix_component_package ON sbom_component (tenant_id, package_purl, version);
-- serves: matching components to advisories
CREATE INDEX ix_component_match ON sbom_component (tenant_id, ecosystem, package_name);

-- VEX -----------------------------------------------------------------------------------------
CREATE TABLE vex_document (
    tenant_id       uuid NOT NULL REFERENCES tenant,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    content_hash    bytea NOT NULL CHECK (length(content_hash) = 32),
    format          text NOT NULL CHECK (format IN ('openvex', 'cyclonedx', 'csaf')),
    doc             jsonb NOT NULL,
    raw             bytea NOT NULL,
    first_import_id bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    doc_id          text GENERATED ALWAYS AS (coalesce(doc ->> '@id', doc #>> '{document,tracking,id}', doc ->> 'serialNumber')) STORED,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT ux_vex_document_hash UNIQUE (tenant_id, content_hash)
);
COMMENT ON TABLE vex_document IS 'class: source_of_truth; raw VEX documents (OpenVEX, CycloneDX VEX, CSAF), immutable';
CREATE INDEX ix_vex_document_docid ON vex_document (tenant_id, doc_id);

CREATE TABLE vex_statement (
    tenant_id        uuid NOT NULL,
    vex_id           bigint NOT NULL,
    ordinal          integer NOT NULL,
    vulnerability_id text NOT NULL,
    aliases          text[] NOT NULL DEFAULT '{}',
    product_purl     text,
    component_purl   text,
    status           text NOT NULL CHECK (status IN ('affected', 'not_affected', 'fixed', 'under_investigation')),
    justification    text,
    impact_statement text,
    action_statement text,
    statement_time   timestamptz,
    PRIMARY KEY (tenant_id, vex_id, ordinal),
    FOREIGN KEY (tenant_id, vex_id) REFERENCES vex_document
);
COMMENT ON TABLE vex_statement IS 'class: source_of_truth; statements extracted from vex_document in the same transaction';
-- serves: VEX lookup per vulnerability during a scan
CREATE INDEX ix_vex_statement_vuln ON vex_statement (tenant_id, vulnerability_id);
CREATE INDEX ix_vex_statement_product ON vex_statement (tenant_id, product_purl);

-- Advisories (OSV records, append-only versions) ----------------------------------------------
CREATE TABLE advisory (
    tenant_id       uuid NOT NULL REFERENCES tenant,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    content_hash    bytea NOT NULL CHECK (length(content_hash) = 32),
    advisory_id     text NOT NULL,             -- OSV id
    modified        timestamptz NOT NULL,
    published       timestamptz,
    withdrawn       timestamptz,
    aliases         text[] NOT NULL DEFAULT '{}',
    summary         text,
    details         text,
    severity        text,
    doc             jsonb NOT NULL,            -- the record as JSON (YAML records converted)
    raw             bytea NOT NULL,            -- the record's bytes exactly as imported
    raw_format      text NOT NULL CHECK (raw_format IN ('json', 'yaml')),
    first_import_id bigint NOT NULL,
    supersedes_id   bigint,                    -- the version this one replaced when imported
    created_at      timestamptz NOT NULL DEFAULT now(),
    schema_version  text GENERATED ALWAYS AS (doc ->> 'schema_version') STORED,
    search          tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(advisory_id, '') || ' ' || coalesce(stella_text_array_join(aliases), '')), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce(summary, '')), 'B') ||
        setweight(to_tsvector('english'::regconfig, coalesce(details, '')), 'C')) STORED,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT ux_advisory_hash UNIQUE (tenant_id, content_hash)
);
COMMENT ON TABLE advisory IS 'class: source_of_truth; every version of every OSV record, immutable; a newer modified supersedes, the old stays';
-- serves: version history of one advisory
CREATE INDEX ix_advisory_versions ON advisory (tenant_id, advisory_id, modified DESC, id DESC);
-- serves: lookup by alias (CVE <-> GHSA)
CREATE INDEX ix_advisory_aliases ON advisory USING gin (tenant_id, aliases);

-- The current version of each advisory: maintained incrementally by import (a projection table,
-- not a materialized view: imports touch a few records, a full refresh would read them all).
CREATE TABLE advisory_current (
    tenant_id    uuid NOT NULL,
    advisory_id  text NOT NULL,
    advisory_pk  bigint NOT NULL,
    modified     timestamptz NOT NULL,
    content_hash bytea NOT NULL,
    withdrawn    boolean NOT NULL,
    PRIMARY KEY (tenant_id, advisory_id),
    FOREIGN KEY (tenant_id, advisory_pk) REFERENCES advisory
);
COMMENT ON TABLE advisory_current IS 'class: projection; newest version per advisory id, upserted by import (newest modified, then content hash, wins); rebuildable from advisory';
CREATE INDEX ix_advisory_current_pk ON advisory_current (tenant_id, advisory_pk);

CREATE TABLE advisory_affected (
    tenant_id     uuid NOT NULL,
    advisory_pk   bigint NOT NULL,
    ordinal       integer NOT NULL,
    ecosystem     text NOT NULL,              -- as in the record, e.g. 'Debian:12'
    ecosystem_base text NOT NULL,             -- without the release, e.g. 'Debian'
    package_name  text NOT NULL,              -- normalized for matching
    purl          text,
    ranges        jsonb NOT NULL DEFAULT '[]',
    versions      text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, advisory_pk, ordinal),
    FOREIGN KEY (tenant_id, advisory_pk) REFERENCES advisory
);
COMMENT ON TABLE advisory_affected IS 'class: source_of_truth; affected[] extracted from advisory in the same transaction';
-- serves: matching components to advisories on (ecosystem, name)
CREATE INDEX ix_advisory_affected_match ON advisory_affected (tenant_id, ecosystem_base, package_name);

-- Scans ---------------------------------------------------------------------------------------
CREATE TABLE scan_run (
    tenant_id      uuid NOT NULL REFERENCES tenant,
    scan_id        uuid NOT NULL,
    status         text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    engine_version text NOT NULL,
    engine_rules   text NOT NULL,
    policy_sha256  bytea,
    result_digest  bytea,
    counts         jsonb,
    restore_point  text,
    lsn            pg_lsn,
    timeline       integer,
    PRIMARY KEY (tenant_id, scan_id)
);
COMMENT ON TABLE scan_run IS 'class: source_of_truth; one row per scan; links findings to their manifest';
CREATE INDEX ix_scan_run_finished ON scan_run (tenant_id, finished_at DESC);

CREATE TABLE scan_artifact (
    tenant_id     uuid NOT NULL,
    scan_id       uuid NOT NULL,
    artifact_purl text NOT NULL,
    sbom_id       bigint NOT NULL,
    PRIMARY KEY (tenant_id, scan_id, artifact_purl),
    FOREIGN KEY (tenant_id, scan_id) REFERENCES scan_run,
    FOREIGN KEY (tenant_id, sbom_id) REFERENCES sbom_document
);
COMMENT ON TABLE scan_artifact IS 'class: source_of_truth; which SBOM each scan read for each artifact';
CREATE INDEX ix_scan_artifact_purl ON scan_artifact (tenant_id, artifact_purl, scan_id);

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
    PRIMARY KEY (tenant_id, scan_id, artifact_purl, component_purl, advisory_id),
    FOREIGN KEY (tenant_id, scan_id) REFERENCES scan_run
);
COMMENT ON TABLE finding IS 'class: source_of_truth; facts advisory <-> component <-> artifact per scan, written once by the scan';
-- serves: "artifacts affected by advisory X"
CREATE INDEX ix_finding_advisory ON finding (tenant_id, advisory_id, artifact_purl);
-- serves: findings by alias (CVE id of a GHSA record)
CREATE INDEX ix_finding_aliases ON finding USING gin (tenant_id, aliases);
-- serves: "where is component Y"
CREATE INDEX ix_finding_component ON finding (tenant_id, component_purl);
-- serves: "open findings of artifact Z" (through the latest scan of Z)
CREATE INDEX ix_finding_artifact_status ON finding (tenant_id, artifact_purl, status, scan_id);

CREATE TABLE scan_manifest (
    tenant_id    uuid NOT NULL REFERENCES tenant,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    scan_id      uuid NOT NULL,
    content_hash bytea NOT NULL CHECK (length(content_hash) = 32),
    envelope     bytea NOT NULL,              -- the signed DSSE envelope, exactly as written
    doc          jsonb NOT NULL,              -- its decoded statement
    created_at   timestamptz NOT NULL DEFAULT now(),
    result_digest text GENERATED ALWAYS AS (doc #>> '{predicate,result,digest}') STORED,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT ux_scan_manifest_hash UNIQUE (tenant_id, content_hash),
    CONSTRAINT ux_scan_manifest_scan UNIQUE (tenant_id, scan_id)
);
COMMENT ON TABLE scan_manifest IS 'class: source_of_truth; signed scan manifests, immutable';

-- Queue (claim state kept apart from the stable payload: claims never rewrite payloads) -------
CREATE TABLE job_queue (
    tenant_id       uuid NOT NULL REFERENCES tenant,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    kind            text NOT NULL,
    idempotency_key text NOT NULL,
    payload         jsonb NOT NULL,
    max_attempts    integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    backoff_ms      integer NOT NULL DEFAULT 2000 CHECK (backoff_ms >= 0),  -- doubled per attempt
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT ux_job_queue_idem UNIQUE (tenant_id, kind, idempotency_key)
);
COMMENT ON TABLE job_queue IS 'class: queue; stable job payloads, inserted once';

CREATE TABLE job_queue_state (
    tenant_id   uuid NOT NULL,
    job_id      bigint NOT NULL,
    kind        text NOT NULL,
    status      text NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'running', 'done', 'dead')),
    run_after   timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    locked_at   timestamptz,
    locked_by   text,
    lease_until timestamptz,
    last_error  text,
    finished_at timestamptz,
    PRIMARY KEY (tenant_id, job_id),
    FOREIGN KEY (tenant_id, job_id) REFERENCES job_queue ON DELETE CASCADE
) WITH (fillfactor = 70);
COMMENT ON TABLE job_queue_state IS 'class: queue; small, frequently updated claim state (HOT updates: fillfactor 70); dead = dead letter';
-- serves: claiming ready jobs (FOR UPDATE SKIP LOCKED)
CREATE INDEX ix_job_ready ON job_queue_state (tenant_id, kind, run_after, job_id) WHERE status = 'ready';
-- serves: reclaiming jobs whose lease expired
CREATE INDEX ix_job_lease ON job_queue_state (tenant_id, lease_until) WHERE status = 'running';
-- serves: listing dead letters
CREATE INDEX ix_job_dead ON job_queue_state (tenant_id, job_id) WHERE status = 'dead';

-- Events (append-only audit trail, monthly partitions, retention by DROP) --------------------
CREATE TABLE event (
    tenant_id   uuid NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    event_id    uuid NOT NULL,
    kind        text NOT NULL,                -- import, scan, export, backup, replay, trust, ...
    outcome     text NOT NULL,                -- ok, refused, failed
    os_user     text NOT NULL,
    host        text NOT NULL,
    subject     text,                         -- bundle sha256, manifest hash, backup label
    details     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, occurred_at, event_id)
) PARTITION BY RANGE (occurred_at);
COMMENT ON TABLE event IS 'class: event; audit trail, partitioned by month, retention by dropping partitions';
CREATE INDEX brin_event_time ON event USING brin (occurred_at);
CREATE INDEX ix_event_kind ON event (tenant_id, kind, occurred_at DESC);

-- Partition maintenance: monthly partitions named <parent>_yYYYYmMM.
CREATE FUNCTION stella_ensure_partitions(parent regclass, months_ahead integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    created integer := 0;
    name text;
BEGIN
    FOR i IN 0..months_ahead LOOP
        name := format('%s_y%sm%s', parent::text, to_char(m, 'YYYY'), to_char(m, 'MM'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                           name, parent, (m::timestamp AT TIME ZONE 'UTC'),
                           ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            EXECUTE format('COMMENT ON TABLE %I IS %L', name, 'class: event; partition of ' || parent::text);
            created := created + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END $$;

-- Drop the partitions that end before the month of `keep_from`; returns their names.
CREATE FUNCTION stella_drop_partitions_before(parent regclass, keep_from timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.oid::regclass::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent
    LOOP
        IF (regexp_match(part.bound, 'TO \(''([^'']+)''\)'))[1]::timestamptz
               <= date_trunc('month', keep_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' THEN
            EXECUTE format('DROP TABLE %s', part.name);
            RETURN NEXT part.name;
        END IF;
    END LOOP;
END $$;

SELECT stella_ensure_partitions('event', 3);

-- Projections ---------------------------------------------------------------------------------
-- Risk per artifact from its latest finished scan. A materialized view: it is read far more often
-- than scans finish, and a refresh reads only the latest scan's findings of each artifact.
-- Refreshed CONCURRENTLY after every scan (by the scan or the worker's `refresh` job).
CREATE MATERIALIZED VIEW mv_artifact_risk AS
SELECT DISTINCT ON (sa.tenant_id, sa.artifact_purl)
       sa.tenant_id,
       sa.artifact_purl,
       sa.scan_id,
       sr.finished_at,
       (SELECT count(*) FROM finding f
         WHERE f.tenant_id = sa.tenant_id AND f.scan_id = sa.scan_id
           AND f.artifact_purl = sa.artifact_purl AND f.status = 'affected') AS affected,
       (SELECT count(*) FROM finding f
         WHERE f.tenant_id = sa.tenant_id AND f.scan_id = sa.scan_id
           AND f.artifact_purl = sa.artifact_purl AND f.status = 'under_investigation') AS under_investigation,
       (SELECT count(*) FROM finding f
         WHERE f.tenant_id = sa.tenant_id AND f.scan_id = sa.scan_id
           AND f.artifact_purl = sa.artifact_purl AND f.status IN ('not_affected', 'fixed')) AS resolved
FROM scan_artifact sa
JOIN scan_run sr ON sr.tenant_id = sa.tenant_id AND sr.scan_id = sa.scan_id
WHERE sr.status = 'done'
ORDER BY sa.tenant_id, sa.artifact_purl, sr.finished_at DESC, sa.scan_id;
CREATE UNIQUE INDEX ux_mv_artifact_risk ON mv_artifact_risk (tenant_id, artifact_purl);
COMMENT ON MATERIALIZED VIEW mv_artifact_risk IS 'class: projection; refreshed concurrently after each scan';
