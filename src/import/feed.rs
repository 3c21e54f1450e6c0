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

/// The parsing thread hands over a batch past these sizes (two batches at most in memory). Small
/// enough that a bundle makes several batches, so the next batch's search vectors are computed
/// while this one loads.
const LIMITS: BatchLimits = BatchLimits {
    bytes: 4 << 20,
    docs: 2_500,
    children: usize::MAX,
};

/// The search vectors of a batch, `stella_advisory_search_of(head, summary, details)` (migration
/// 0010), computed on a helper connection from the parsing thread: `to_tsvector` over the details
/// is the largest single cost of storing an advisory, and this way it runs in another backend, on
/// another CPU, while the import's own backend stores the previous batch. The vectors come back
/// and go out again in PostgreSQL's binary format, untouched. Without a helper connection, or
/// after it fails (a warning), rows go without a vector and `advisory`'s trigger computes the same
/// value inside the import transaction.
pub(crate) struct SearchVectors {
    helper: Option<(postgres::Client, postgres::Statement)>,
}

const SEARCH_VECTORS: &str = "SELECT stella_advisory_search_of(h, s, d)
     FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(h, s, d, n) ORDER BY n";

impl SearchVectors {
    pub fn new(connect: Option<&super::ConnectHelper<'_>>) -> Self {
        let helper = connect.and_then(|c| c()).and_then(|mut client| {
            match client.prepare(SEARCH_VECTORS) {
                Ok(statement) => Some((client, statement)),
                Err(e) => {
                    tracing::warn!("search vectors: preparing on the helper connection: {e}; the import transaction computes them");
                    None
                }
            }
        });
        SearchVectors { helper }
    }

    fn fill(&mut self, advs: &mut [AdvisoryRow]) {
        let Some((client, statement)) = &mut self.helper else {
            return;
        };
        let heads: Vec<String> = advs
            .iter()
            .map(|a| format!("{} {}", a.id, a.aliases.join(" ")))
            .collect();
        let summaries: Vec<Option<&str>> = advs.iter().map(|a| a.summary.as_deref()).collect();
        let details: Vec<Option<&str>> = advs.iter().map(|a| a.details.as_deref()).collect();
        match client.query(&*statement, &[&heads, &summaries, &details]) {
            Ok(rows) if rows.len() == advs.len() => {
                for (a, r) in advs.iter_mut().zip(rows) {
                    a.search = r.get(0);
                }
            }
            Ok(rows) => {
                tracing::warn!(
                    "search vectors: {} rows for {} advisories; the import transaction computes them",
                    rows.len(),
                    advs.len()
                );
                self.helper = None;
            }
            Err(e) => {
                tracing::warn!("search vectors: {e}; the import transaction computes them");
                self.helper = None;
            }
        }
    }
}

/// A `tsvector` in PostgreSQL's binary format, passed through.
#[derive(Debug)]
struct RawTsvector(Vec<u8>);

impl<'a> postgres::types::FromSql<'a> for RawTsvector {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawTsvector(raw.to_vec()))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::TS_VECTOR
    }
}

impl postgres::types::ToSql for RawTsvector {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(postgres::types::IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::TS_VECTOR
    }
    postgres::types::to_sql_checked!();
}

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
    /// Filled by [`SearchVectors`] when it can.
    search: Option<RawTsvector>,
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
                raw_format text, search tsvector) ON COMMIT DROP;
         CREATE TEMP TABLE new_advisory (id bigint, content_hash bytea, advisory_id text, modified timestamptz,
                withdrawn timestamptz) ON COMMIT DROP;";

pub(crate) fn load(
    tx: &mut postgres::Transaction<'_>,
    ctx: &LoadContext<'_>,
    entries: &[Entry],
) -> Result<Loaded, ImportError> {
    let mut search = SearchVectors::new(ctx.connect_helper);
    load_staged(
        tx,
        ctx,
        entries,
        &LIMITS,
        STAGING,
        |entry, first| parse_entry(ctx, entry, first),
        |advs| search.fill(advs),
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
            search: None,
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
            ("search", Type::TS_VECTOR),
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
                &a.search,
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
                                     summary, details, severity, doc, raw, raw_format, search, first_import_id, supersedes_id)
               SELECT DISTINCT ON (s.content_hash) $1, s.content_hash, s.advisory_id, s.modified, s.published,
                      s.withdrawn, s.aliases, s.summary, s.details, s.severity, s.doc, s.raw, s.raw_format, s.search, $2,
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
