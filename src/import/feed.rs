//! Loading OSV records: every version of every record is kept (append-only); the
//! `advisory_current` projection points at the newest one (newest `modified`, then content hash,
//! so the result does not depend on import order); `affected[]` goes to `advisory_affected`.

use super::sbom::match_name;
use super::stage::{
    copy_children, copy_in, is_yaml, load_staged, move_batch, BatchLimits, BatchSql, JsonText,
    Parsed, RawJsonb, Row,
};
use super::{Entry, ImportError, LoadContext, Loaded};
use crate::formats::{self, OsvAffected, Purl};
use crate::versions::Ecosystem;
use postgres::types::Type;

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
    let c = move_batch(
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
            after: Some((
                "INSERT INTO advisory_current (tenant_id, advisory_id, advisory_pk, modified, content_hash, withdrawn)
                 SELECT DISTINCT ON (advisory_id) $1, advisory_id, id, modified, content_hash, withdrawn IS NOT NULL
                 FROM new_advisory ORDER BY advisory_id, modified DESC, content_hash DESC
                 ON CONFLICT (tenant_id, advisory_id) DO UPDATE
                    SET advisory_pk = excluded.advisory_pk, modified = excluded.modified,
                        content_hash = excluded.content_hash, withdrawn = excluded.withdrawn
                  WHERE (excluded.modified, excluded.content_hash) > (advisory_current.modified, advisory_current.content_hash)",
                "updating the current advisory versions",
            )),
            what: "advisories",
        },
    )?;
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
