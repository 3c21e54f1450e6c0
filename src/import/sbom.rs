//! Loading SBOM documents (CycloneDX, SPDX) and their components.

use super::stage::{
    copy_children, copy_in, load_staged, move_batch, BatchLimits, BatchSql, JsonText, Parsed,
    RawJsonb, Row,
};
use super::{Entry, ImportError, LoadContext, Loaded};
use crate::formats::{self, Component};
use crate::versions::Ecosystem;
use postgres::types::Type;

/// The parsing thread hands over a batch past these sizes (two batches at most in memory).
const LIMITS: BatchLimits = BatchLimits {
    bytes: 32 << 20,
    docs: usize::MAX,
    children: 100_000,
};

struct DocRow {
    hash: Vec<u8>,
    path: String,
    artifact: String,
    json: JsonText,
    raw: Vec<u8>,
}

struct ComponentRow {
    hash: Vec<u8>,
    ordinal: i32,
    bom_ref: Option<String>,
    name: String,
    version: Option<String>,
    purl: Option<String>,
    package_purl: Option<String>,
    ecosystem: Option<String>,
    package_name: Option<String>,
}

/// The matching identity of a component: its OSV ecosystem (with release) and normalized name.
pub(crate) fn component_identity(c: &Component) -> (Option<String>, Option<String>) {
    let Some(p) = &c.purl else {
        return (None, None);
    };
    let distro = p.qualifiers.get("distro").map(String::as_str);
    match Ecosystem::from_purl(&p.ty, p.namespace.as_deref(), distro) {
        Some(eco) => {
            let name = match_name(
                &eco,
                &eco.purl_package_name(p.namespace.as_deref(), &p.name),
            );
            (Some(eco.osv_name()), Some(name))
        }
        None => (Some(format!("purl:{}", p.ty)), Some(p.package.clone())),
    }
}

/// The name used for matching in `eco`; Go module paths compare case-insensitively because purl
/// canonicalization lowercases them.
pub(crate) fn match_name(eco: &Ecosystem, normalized: &str) -> String {
    if eco.name() == "Go" {
        normalized.to_lowercase()
    } else {
        normalized.to_string()
    }
}

/// The staging tables of one load (dropped at commit).
const STAGING: &str = "CREATE TEMP TABLE stage_sbom (content_hash bytea, path text, artifact_purl text, doc jsonb COMPRESSION lz4, raw bytea COMPRESSION lz4) ON COMMIT DROP";

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

/// Read and parse one SBOM entry (on the parsing thread); its components only when `first`.
fn parse_entry(
    ctx: &LoadContext<'_>,
    entry: &Entry,
    first: bool,
) -> Result<Parsed<DocRow, ComponentRow>, ImportError> {
    let raw = ctx.read_kind(entry, "sbom", formats::DocumentKind::is_sbom)?;
    let sbom = formats::parse_sbom(&raw).map_err(ctx.format_error(entry))?;
    let warnings = sbom
        .warnings
        .iter()
        .map(|w| format!("{}: {}: {}", entry.name, w.path, w.message))
        .collect();
    let mut comps = Vec::new();
    if first {
        comps.reserve(sbom.components.len());
        for (i, c) in sbom.components.iter().enumerate() {
            let (ecosystem, package_name) = component_identity(c);
            comps.push(ComponentRow {
                hash: entry.sha256.clone(),
                ordinal: i as i32,
                bom_ref: c.id.clone(),
                name: c.name.clone(),
                // The version matched is the component's; when the document gives none,
                // the purl's (CycloneDX and SPDX both allow a purl without a version field).
                version: c
                    .version
                    .clone()
                    .filter(|v| !v.is_empty())
                    .or_else(|| c.purl.as_ref().and_then(|p| p.version.clone())),
                purl: c.purl.as_ref().map(|p| p.canonical.clone()),
                package_purl: c.purl.as_ref().map(|p| p.package.clone()),
                ecosystem,
                package_name,
            });
        }
    }
    let json = JsonText::of(&raw).map_err(|m| ImportError::Invalid {
        file: ctx.file.into(),
        message: format!("entry {}: {m}", entry.name),
    })?;
    let artifact = sbom
        .artifact
        .purl
        .as_ref()
        .map(|p| p.canonical.clone())
        .ok_or_else(|| ImportError::Invalid {
            file: ctx.file.into(),
            message: format!("entry {}: the SBOM's artifact has no purl", entry.name),
        })?;
    Ok(Parsed {
        bytes: raw.len() + json.extra_len(),
        doc: DocRow {
            hash: entry.sha256.clone(),
            path: entry.name.clone(),
            artifact,
            json,
            raw,
        },
        children: comps,
        warnings,
    })
}

fn flush(
    tx: &mut postgres::Transaction<'_>,
    ctx: &LoadContext<'_>,
    docs: &mut Vec<DocRow>,
    comps: &mut Vec<ComponentRow>,
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
        "stage_sbom",
        &[
            ("content_hash", Type::BYTEA),
            ("path", Type::TEXT),
            ("artifact_purl", Type::TEXT),
            ("doc", Type::JSONB),
            ("raw", Type::BYTEA),
        ],
        &mut docs
            .iter()
            .zip(&jsons)
            .map(|(d, j)| -> Row<'_> { vec![&d.hash, &d.path, &d.artifact, j, &d.raw] }),
    )
    .map_err(ctx.db("staging SBOM documents"))?;
    let c = move_batch(
        tx,
        ctx,
        &BatchSql {
            stage: "stage_sbom",
            scratch: &[],
            doc_type: "sbom",
            insert_documents: "INSERT INTO sbom_document (tenant_id, content_hash, artifact_purl, doc, raw, first_import_id, supersedes_id)
               SELECT DISTINCT ON (s.content_hash) $1, s.content_hash, s.artifact_purl, s.doc, s.raw, $2,
                      (SELECT d.id FROM sbom_document d WHERE d.tenant_id = $1 AND d.artifact_purl = s.artifact_purl
                        ORDER BY d.created_at DESC, d.id DESC LIMIT 1)
               FROM stage_sbom s ORDER BY s.content_hash, s.path
               ON CONFLICT (tenant_id, content_hash) DO NOTHING
               RETURNING id, content_hash",
            after: None,
            what: "SBOM documents",
        },
    )?;
    // Components of the new documents only, in the order of the component search index.
    let mut rows: Vec<(&i64, &ComponentRow)> = comps
        .iter()
        .filter_map(|r| Some((c.ids.get(&r.hash)?, r)))
        .collect();
    rows.sort_unstable_by(|(_, a), (_, b)| {
        (&a.package_purl, &a.version).cmp(&(&b.package_purl, &b.version))
    });
    loaded.components += copy_children(
        tx,
        ctx,
        "sbom_component",
        "sbom_id",
        &[
            ("ordinal", Type::INT4),
            ("bom_ref", Type::TEXT),
            ("name", Type::TEXT),
            ("version", Type::TEXT),
            ("purl", Type::TEXT),
            ("package_purl", Type::TEXT),
            ("ecosystem", Type::TEXT),
            ("package_name", Type::TEXT),
        ],
        &mut rows.iter().map(|(id, c)| -> (&i64, Row<'_>) {
            (
                *id,
                vec![
                    &c.ordinal,
                    &c.bom_ref,
                    &c.name,
                    &c.version,
                    &c.purl,
                    &c.package_purl,
                    &c.ecosystem,
                    &c.package_name,
                ],
            )
        }),
        "components",
    )?;
    loaded.documents.new += c.new;
    loaded.documents.existing += c.existing;
    docs.clear();
    comps.clear();
    Ok(())
}
