//! Loading OSV records: every version of every record is kept (append-only); the
//! `advisory_current` projection points at the newest one (newest `modified`, then content hash,
//! so the result does not depend on import order); `affected[]` goes to `advisory_affected`.

use super::sbom::match_name;
use super::stage::{
    copy_children, copy_in, is_yaml, load_staged, move_batch, BatchCounts, BatchLimits, BatchSql,
    JsonText, Parsed, RawJsonb, Row,
};
use super::{Entry, ImportError, LoadContext, Loaded};
use crate::formats::{self, OsvAffected, Purl};
use crate::versions::Ecosystem;
use postgres::error::SqlState;
use postgres::types::Type;
use std::collections::{HashMap, HashSet};

/// The parsing thread hands over a batch past these sizes (two batches at most in memory).
const LIMITS: BatchLimits = BatchLimits {
    bytes: 16 << 20,
    docs: 10_000,
    children: usize::MAX,
};

struct AdvisoryRow {
    hash: Vec<u8>,
    path: String,
    id: String,
    modified: chrono::DateTime<chrono::Utc>,
    published: Option<chrono::DateTime<chrono::Utc>>,
    withdrawn: Option<chrono::DateTime<chrono::Utc>>,
    aliases: Vec<String>,
    summary: Option<String>,
    details: Option<String>,
    severity: Option<String>,
    json: JsonText,
    raw: Vec<u8>,
    raw_format: &'static str,
}

struct AffectedRow {
    hash: Vec<u8>,
    ordinal: i32,
    ecosystem: String,
    ecosystem_base: String,
    package_name: String,
    purl: Option<String>,
    ranges: Vec<u8>,
    versions: Vec<String>,
}

/// `(ecosystem as written, base name, normalized package name)` of one affected entry.
pub(crate) fn affected_identity(a: &OsvAffected) -> Option<(String, String, String)> {
    if let (Some(eco), Some(name)) = (&a.ecosystem, &a.name) {
        let e = Ecosystem::from_osv(eco);
        let n = match_name(&e, &e.normalize_name(name));
        return Some((eco.clone(), e.name().to_string(), n));
    }
    let purl = Purl::parse(a.purl.as_deref()?).ok()?;
    let e = Ecosystem::from_purl(
        &purl.ty,
        purl.namespace.as_deref(),
        purl.qualifiers.get("distro").map(String::as_str),
    )?;
    let n = match_name(
        &e,
        &e.purl_package_name(purl.namespace.as_deref(), &purl.name),
    );
    Some((e.osv_name(), e.name().to_string(), n))
}

fn time(s: Option<&str>) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The staging tables of one load (dropped at commit).
const STAGING: &str = "CREATE TEMP TABLE stage_advisory (content_hash bytea, path text, advisory_id text, modified timestamptz,
                published timestamptz, withdrawn timestamptz, aliases text[], summary text,
                details text COMPRESSION lz4, severity text, doc jsonb COMPRESSION lz4, raw bytea COMPRESSION lz4,
                raw_format text) ON COMMIT DROP;
         CREATE TEMP TABLE new_advisory (id bigint, content_hash bytea, advisory_id text, modified timestamptz,
                withdrawn timestamptz) ON COMMIT DROP;";

pub(crate) fn load(
    tx: &mut postgres::Transaction<'_>,
    ctx: &LoadContext<'_>,
    entries: &[Entry],
) -> Result<Loaded, ImportError> {
    load_staged(
        tx,
        ctx,
        entries,
        &LIMITS,
        STAGING,
        |entry, first| parse_entry(ctx, entry, first),
        |tx, docs, children, loaded| flush(tx, ctx, docs, children, loaded),
    )
}

/// Read and parse one OSV record (on the parsing thread); its affected packages only when
/// `first`.
fn parse_entry(
    ctx: &LoadContext<'_>,
    entry: &Entry,
    first: bool,
) -> Result<Parsed<AdvisoryRow, AffectedRow>, ImportError> {
    let raw = ctx.read(entry)?;
    let rec = formats::parse_osv(&raw).map_err(ctx.format_error(entry))?;
    let mut warnings: Vec<String> = rec
        .warnings
        .iter()
        .map(|w| format!("{}: {}: {}", entry.name, w.path, w.message))
        .collect();
    let mut affs = Vec::new();
    if first {
        for (i, a) in rec.affected.iter().enumerate() {
            let Some((ecosystem, ecosystem_base, package_name)) = affected_identity(a) else {
                warnings.push(format!(
                    "{}: $.affected[{i}]: no package ecosystem and name or purl; not matchable",
                    entry.name
                ));
                continue;
            };
            affs.push(AffectedRow {
                hash: entry.sha256.clone(),
                ordinal: i as i32,
                ecosystem,
                ecosystem_base,
                package_name,
                purl: a.purl.clone(),
                ranges: serde_json::to_vec(&a.ranges).unwrap_or_else(|_| b"[]".to_vec()),
                versions: a.versions.clone(),
            });
        }
    }
    let json = JsonText::of(&raw).map_err(|m| ImportError::Invalid {
        file: ctx.file.into(),
        message: format!("entry {}: {m}", entry.name),
    })?;
    Ok(Parsed {
        bytes: raw.len() + json.extra_len(),
        doc: AdvisoryRow {
            hash: entry.sha256.clone(),
            path: entry.name.clone(),
            id: rec.id.clone(),
            modified: rec.modified_at,
            published: time(rec.published.as_deref()),
            withdrawn: rec.withdrawn_at,
            aliases: rec.aliases.clone(),
            summary: rec.summary.clone(),
            details: rec.details.clone(),
            severity: rec
                .severity
                .first()
                .map(|s| format!("{}:{}", s.ty, s.score)),
            raw_format: if is_yaml(&raw) { "yaml" } else { "json" },
            json,
            raw,
        },
        children: affs,
        warnings,
    })
}

fn flush(
    tx: &mut postgres::Transaction<'_>,
    ctx: &LoadContext<'_>,
    advs: &mut Vec<AdvisoryRow>,
    affs: &mut Vec<AffectedRow>,
    loaded: &mut Loaded,
) -> Result<(), ImportError> {
    if advs.is_empty() {
        return Ok(());
    }
    let c = match copy_direct(tx, ctx, advs)? {
        Some(c) => c,
        None => stage_and_move(tx, ctx, advs)?,
    };
    loaded.documents.new += c.new;
    loaded.documents.existing += c.existing;
    loaded.advisories += c.new;
    // Affected packages of the new records only, in the order of the matching index.
    let mut rows: Vec<(&i64, &AffectedRow)> = affs
        .iter()
        .filter_map(|r| Some((c.ids.get(&r.hash)?, r)))
        .collect();
    rows.sort_unstable_by(|(_, a), (_, b)| {
        (&a.ecosystem_base, &a.package_name).cmp(&(&b.ecosystem_base, &b.package_name))
    });
    let ranges: Vec<RawJsonb<'_>> = rows.iter().map(|(_, a)| RawJsonb(&a.ranges)).collect();
    copy_children(
        tx,
        ctx,
        "advisory_affected",
        "advisory_pk",
        &[
            ("ordinal", Type::INT4),
            ("ecosystem", Type::TEXT),
            ("ecosystem_base", Type::TEXT),
            ("package_name", Type::TEXT),
            ("purl", Type::TEXT),
            ("ranges", Type::JSONB),
            ("versions", Type::TEXT_ARRAY),
        ],
        &mut rows
            .iter()
            .zip(&ranges)
            .map(|((id, a), r)| -> (&i64, Row<'_>) {
                (
                    *id,
                    vec![
                        &a.ordinal,
                        &a.ecosystem,
                        &a.ecosystem_base,
                        &a.package_name,
                        &a.purl,
                        r,
                        &a.versions,
                    ],
                )
            }),
        "affected packages",
    )?;
    advs.clear();
    affs.clear();
    Ok(())
}

/// The `advisory_current` projection from the batch's new versions (`new_advisory`): the newest
/// `modified`, then content hash, wins, whatever the import order.
const UPDATE_CURRENT: &str = "INSERT INTO advisory_current (tenant_id, advisory_id, advisory_pk, modified, content_hash, withdrawn)
     SELECT DISTINCT ON (advisory_id) $1, advisory_id, id, modified, content_hash, withdrawn IS NOT NULL
     FROM new_advisory ORDER BY advisory_id, modified DESC, content_hash DESC
     ON CONFLICT (tenant_id, advisory_id) DO UPDATE
        SET advisory_pk = excluded.advisory_pk, modified = excluded.modified,
            content_hash = excluded.content_hash, withdrawn = excluded.withdrawn
      WHERE (excluded.modified, excluded.content_hash) > (advisory_current.modified, advisory_current.content_hash)";

/// The staged path: `COPY` into `stage_advisory`, then `INSERT ... ON CONFLICT DO NOTHING`
/// (waits for a concurrent importer of the same document and skips it once that one commits).
fn stage_and_move(
    tx: &mut postgres::Transaction<'_>,
    ctx: &LoadContext<'_>,
    advs: &[AdvisoryRow],
) -> Result<BatchCounts, ImportError> {
    let jsons: Vec<RawJsonb<'_>> = advs
        .iter()
        .map(|a| RawJsonb(a.json.bytes(&a.raw)))
        .collect();
    copy_in(
        tx,
        "stage_advisory",
        &[
            ("content_hash", Type::BYTEA),
            ("path", Type::TEXT),
            ("advisory_id", Type::TEXT),
            ("modified", Type::TIMESTAMPTZ),
            ("published", Type::TIMESTAMPTZ),
            ("withdrawn", Type::TIMESTAMPTZ),
            ("aliases", Type::TEXT_ARRAY),
            ("summary", Type::TEXT),
            ("details", Type::TEXT),
            ("severity", Type::TEXT),
            ("doc", Type::JSONB),
            ("raw", Type::BYTEA),
            ("raw_format", Type::TEXT),
        ],
        &mut advs.iter().zip(&jsons).map(|(a, j)| -> Row<'_> {
            vec![
                &a.hash,
                &a.path,
                &a.id,
                &a.modified,
                &a.published,
                &a.withdrawn,
                &a.aliases,
                &a.summary,
                &a.details,
                &a.severity,
                j,
                &a.raw,
                &a.raw_format,
            ]
        }),
    )
    .map_err(ctx.db("staging advisories"))?;
    move_batch(
        tx,
        ctx,
        &BatchSql {
            stage: "stage_advisory",
            scratch: &["new_advisory"],
            doc_type: "advisory",
            insert_documents: "WITH ins AS (
               INSERT INTO advisory (tenant_id, content_hash, advisory_id, modified, published, withdrawn, aliases,
                                     summary, details, severity, doc, raw, raw_format, first_import_id, supersedes_id)
               SELECT DISTINCT ON (s.content_hash) $1, s.content_hash, s.advisory_id, s.modified, s.published,
                      s.withdrawn, s.aliases, s.summary, s.details, s.severity, s.doc, s.raw, s.raw_format, $2,
                      (SELECT c.advisory_pk FROM advisory_current c
                        WHERE c.tenant_id = $1 AND c.advisory_id = s.advisory_id AND c.modified < s.modified)
               FROM stage_advisory s ORDER BY s.content_hash, s.path
               ON CONFLICT (tenant_id, content_hash) DO NOTHING
               RETURNING id, content_hash, advisory_id, modified, withdrawn)
             INSERT INTO new_advisory SELECT * FROM ins RETURNING id, content_hash",
            after: Some((UPDATE_CURRENT, "updating the current advisory versions")),
            what: "advisories",
        },
    )
}

/// The direct path: the batch's advisories not stored yet go with one binary `COPY` straight
/// into `advisory` (no staging table, no second pass over the rows). The unique key still
/// decides: the `COPY` runs in a savepoint, and when a concurrent importer committed one of the
/// same documents first (unique violation), the savepoint is rolled back and `None` tells the
/// caller to take the staged path for this batch, which skips what exists.
///
/// What the staged path's `INSERT ... SELECT` computes in SQL is computed here from the same
/// snapshot: the documents already stored (one index probe per hash), and each new version's
/// `supersedes_id` (the current version of its id when that one is older).
fn copy_direct(
    tx: &mut postgres::Transaction<'_>,
    ctx: &LoadContext<'_>,
    advs: &[AdvisoryRow],
) -> Result<Option<BatchCounts>, ImportError> {
    // One row per content hash (the first by path, as the staged path's DISTINCT ON), in hash
    // order: every importer takes the unique index's entries in the same order.
    let mut unique: Vec<&AdvisoryRow> = advs.iter().collect();
    unique.sort_unstable_by(|a, b| (&a.hash, &a.path).cmp(&(&b.hash, &b.path)));
    unique.dedup_by(|a, b| a.hash == b.hash);
    let hashes: Vec<&[u8]> = unique.iter().map(|a| a.hash.as_slice()).collect();
    let stored: HashSet<Vec<u8>> = tx
        .query(
            "SELECT content_hash FROM advisory WHERE tenant_id = $1 AND content_hash = ANY($2)",
            &[&ctx.tenant, &hashes],
        )
        .map_err(ctx.db("looking up stored advisories"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let new: Vec<&AdvisoryRow> = unique
        .into_iter()
        .filter(|a| !stored.contains(&a.hash))
        .collect();
    let mut ids = HashMap::new();
    if !new.is_empty() {
        let names: Vec<&str> = new.iter().map(|a| a.id.as_str()).collect();
        let current: HashMap<String, (i64, chrono::DateTime<chrono::Utc>)> = tx
            .query(
                "SELECT advisory_id, advisory_pk, modified FROM advisory_current
                 WHERE tenant_id = $1 AND advisory_id = ANY($2)",
                &[&ctx.tenant, &names],
            )
            .map_err(ctx.db("reading the current advisory versions"))?
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        let supersedes: Vec<Option<i64>> = new
            .iter()
            .map(|a| {
                current
                    .get(&a.id)
                    .filter(|(_, modified)| *modified < a.modified)
                    .map(|(pk, _)| *pk)
            })
            .collect();
        let jsons: Vec<RawJsonb<'_>> = new.iter().map(|a| RawJsonb(a.json.bytes(&a.raw))).collect();
        let mut savepoint = tx
            .savepoint("copy_advisories")
            .map_err(ctx.db("inserting advisories"))?;
        let copied = copy_in(
            &mut savepoint,
            "advisory",
            &[
                ("tenant_id", Type::UUID),
                ("content_hash", Type::BYTEA),
                ("advisory_id", Type::TEXT),
                ("modified", Type::TIMESTAMPTZ),
                ("published", Type::TIMESTAMPTZ),
                ("withdrawn", Type::TIMESTAMPTZ),
                ("aliases", Type::TEXT_ARRAY),
                ("summary", Type::TEXT),
                ("details", Type::TEXT),
                ("severity", Type::TEXT),
                ("doc", Type::JSONB),
                ("raw", Type::BYTEA),
                ("raw_format", Type::TEXT),
                ("first_import_id", Type::INT8),
                ("supersedes_id", Type::INT8),
            ],
            &mut new
                .iter()
                .zip(&jsons)
                .zip(&supersedes)
                .map(|((a, j), sup)| -> Row<'_> {
                    vec![
                        &ctx.tenant,
                        &a.hash,
                        &a.id,
                        &a.modified,
                        &a.published,
                        &a.withdrawn,
                        &a.aliases,
                        &a.summary,
                        &a.details,
                        &a.severity,
                        j,
                        &a.raw,
                        &a.raw_format,
                        &ctx.import_id,
                        sup,
                    ]
                }),
        );
        match copied {
            Ok(_) => savepoint.commit().map_err(ctx.db("inserting advisories"))?,
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                savepoint
                    .rollback()
                    .map_err(ctx.db("rolling back to before the advisories"))?;
                return Ok(None);
            }
            Err(e) => return Err(ctx.db("inserting advisories")(e)),
        }
        let new_hashes: Vec<&[u8]> = new.iter().map(|a| a.hash.as_slice()).collect();
        ids = tx
            .query(
                "INSERT INTO new_advisory
                 SELECT id, content_hash, advisory_id, modified, withdrawn FROM advisory
                 WHERE tenant_id = $1 AND content_hash = ANY($2)
                 RETURNING id, content_hash",
                &[&ctx.tenant, &new_hashes],
            )
            .map_err(ctx.db("reading the new advisories' ids"))?
            .iter()
            .map(|r| (r.get(1), r.get(0)))
            .collect();
        tx.execute(UPDATE_CURRENT, &[&ctx.tenant])
            .map_err(ctx.db("updating the current advisory versions"))?;
        tx.batch_execute("TRUNCATE new_advisory")
            .map_err(ctx.db("clearing staging tables"))?;
    }
    copy_in(
        tx,
        "bundle_document",
        &[
            ("tenant_id", Type::UUID),
            ("import_id", Type::INT8),
            ("path", Type::TEXT),
            ("doc_type", Type::TEXT),
            ("content_hash", Type::BYTEA),
        ],
        &mut advs.iter().map(|a| -> Row<'_> {
            vec![&ctx.tenant, &ctx.import_id, &a.path, &"advisory", &a.hash]
        }),
    )
    .map_err(ctx.db("linking documents to the bundle"))?;
    let new = ids.len() as u64;
    Ok(Some(BatchCounts {
        new,
        existing: hashes.len() as u64 - new,
        ids,
    }))
}
