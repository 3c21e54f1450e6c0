//! Loading VEX documents (OpenVEX, CycloneDX VEX, CSAF VEX) and their statements.

use super::stage::{
    copy_children, copy_in, load_staged, move_batch, BatchLimits, BatchSql, JsonText, Parsed,
    RawJsonb, Row,
};
use super::{Entry, ImportError, LoadContext, Loaded};
use crate::formats::{self, VexFormat};
use postgres::types::Type;

/// The parsing thread hands over a batch past these sizes (two batches at most in memory).
const LIMITS: BatchLimits = BatchLimits {
    bytes: 32 << 20,
    docs: usize::MAX,
    children: usize::MAX,
};

struct DocRow {
    hash: Vec<u8>,
    path: String,
    format: &'static str,
    json: JsonText,
    raw: Vec<u8>,
}

struct StatementRow {
    hash: Vec<u8>,
    ordinal: i32,
    vulnerability_id: String,
    aliases: Vec<String>,
    product_purl: Option<String>,
    component_purl: Option<String>,
    status: &'static str,
    justification: Option<String>,
    impact_statement: Option<String>,
    action_statement: Option<String>,
    time: Option<chrono::DateTime<chrono::Utc>>,
}

fn format_name(f: VexFormat) -> &'static str {
    match f {
        VexFormat::OpenVex => "openvex",
        VexFormat::CycloneDx => "cyclonedx",
        VexFormat::Csaf => "csaf",
    }
}

fn parse_time(s: Option<&str>) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The staging tables of one load (dropped at commit).
const STAGING: &str = "CREATE TEMP TABLE stage_vex (content_hash bytea, path text, format text, doc jsonb COMPRESSION lz4, raw bytea COMPRESSION lz4) ON COMMIT DROP";

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
        |_| {},
        |tx, docs, children, loaded| flush(tx, ctx, docs, children, loaded),
    )
}

/// Read and parse one VEX document (on the parsing thread); its statements only when `first`.
fn parse_entry(
    ctx: &LoadContext<'_>,
    entry: &Entry,
    first: bool,
) -> Result<Parsed<DocRow, StatementRow>, ImportError> {
    let raw = ctx.read_kind(entry, "vex", formats::DocumentKind::is_vex)?;
    let vex = formats::parse_vex(&raw).map_err(ctx.format_error(entry))?;
    let warnings = vex
        .warnings
        .iter()
        .map(|w| format!("{}: {}: {}", entry.name, w.path, w.message))
        .collect();
    let doc_time = vex.timestamp.as_deref();
    let mut stmts = Vec::new();
    if first {
        for (i, s) in vex.statements.iter().enumerate() {
            stmts.push(StatementRow {
                hash: entry.sha256.clone(),
                ordinal: i as i32,
                vulnerability_id: s.vulnerability_id.clone(),
                aliases: s.aliases.clone(),
                product_purl: s
                    .product_purl
                    .clone()
                    .or_else(|| Some(s.product_id.clone())),
                component_purl: s.component_purl.clone(),
                status: s.status.as_str(),
                justification: s.justification.clone(),
                impact_statement: s.impact_statement.clone(),
                action_statement: s.action_statement.clone(),
                time: parse_time(s.timestamp.as_deref().or(doc_time)),
            });
        }
    }
    let json = JsonText::of(&raw).map_err(|m| ImportError::Invalid {
        file: ctx.file.into(),
        message: format!("entry {}: {m}", entry.name),
    })?;
    Ok(Parsed {
        bytes: raw.len() + json.extra_len(),
        doc: DocRow {
            hash: entry.sha256.clone(),
            path: entry.name.clone(),
            format: format_name(vex.format),
            json,
            raw,
        },
        children: stmts,
        warnings,
    })
}

fn flush(
    tx: &mut postgres::Transaction<'_>,
    ctx: &LoadContext<'_>,
    docs: &mut Vec<DocRow>,
    stmts: &mut Vec<StatementRow>,
    loaded: &mut Loaded,
) -> Result<(), ImportError> {
    if docs.is_empty() {
        return Ok(());
    }
    let jsons: Vec<RawJsonb<'_>> = docs
        .iter()
        .map(|d| RawJsonb(d.json.bytes(&d.raw)))
        .collect();
    copy_in(
        tx,
        "stage_vex",
        &[
            ("content_hash", Type::BYTEA),
            ("path", Type::TEXT),
            ("format", Type::TEXT),
            ("doc", Type::JSONB),
            ("raw", Type::BYTEA),
        ],
        &mut docs
            .iter()
            .zip(&jsons)
            .map(|(d, j)| -> Row<'_> { vec![&d.hash, &d.path, &d.format, j, &d.raw] }),
    )
    .map_err(ctx.db("staging VEX documents"))?;
    let c = move_batch(
        tx,
        ctx,
        &BatchSql {
            stage: "stage_vex",
            scratch: &[],
            doc_type: "vex",
            insert_documents: "INSERT INTO vex_document (tenant_id, content_hash, format, doc, raw, first_import_id)
               SELECT DISTINCT ON (content_hash) $1, content_hash, format, doc, raw, $2
               FROM stage_vex ORDER BY content_hash, path
               ON CONFLICT (tenant_id, content_hash) DO NOTHING
               RETURNING id, content_hash",
            after: None,
            what: "VEX documents",
        },
    )?;
    loaded.documents.new += c.new;
    loaded.documents.existing += c.existing;
    let mut rows: Vec<(&i64, &StatementRow)> = stmts
        .iter()
        .filter_map(|r| Some((c.ids.get(&r.hash)?, r)))
        .collect();
    rows.sort_unstable_by(|(_, a), (_, b)| a.vulnerability_id.cmp(&b.vulnerability_id));
    loaded.vex_statements += copy_children(
        tx,
        ctx,
        "vex_statement",
        "vex_id",
        &[
            ("ordinal", Type::INT4),
            ("vulnerability_id", Type::TEXT),
            ("aliases", Type::TEXT_ARRAY),
            ("product_purl", Type::TEXT),
            ("component_purl", Type::TEXT),
            ("status", Type::TEXT),
            ("justification", Type::TEXT),
            ("impact_statement", Type::TEXT),
            ("action_statement", Type::TEXT),
            ("statement_time", Type::TIMESTAMPTZ),
        ],
        &mut rows.iter().map(|(id, s)| -> (&i64, Row<'_>) {
            (
                *id,
                vec![
                    &s.ordinal,
                    &s.vulnerability_id,
                    &s.aliases,
                    &s.product_purl,
                    &s.component_purl,
                    &s.status,
                    &s.justification,
                    &s.impact_statement,
                    &s.action_statement,
                    &s.time,
                ],
            )
        }),
        "VEX statements",
    )?;
    docs.clear();
    stmts.clear();
    Ok(())
}
