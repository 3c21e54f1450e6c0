//! Loading a `snapshot` bundle (what `export` writes, SPEC section 7) in the import's single
//! transaction: the index is checked against the entries first (every named document present
//! under its content-hash name, every entry named, each original import's envelope matching what
//! the index says of it; a delta's base imported here), then the documents go through the same
//! per-kind loaders as sbom, vex and feed bundles (so child rows are extracted the same way),
//! scan manifests go to `scan_manifest`, and the original imports are re-created as ledger rows
//! with their document links, so exporting here gives the same bytes as at the origin.

use super::{feed, sbom, vex, Entry, ImportError, LoadContext, Loaded};
use crate::bundle::statement::{is_sha256_hex, parse_bundle_statement};
use crate::bundle::{BundlePredicate, Envelope};
use crate::export::{
    document_path, envelope_path, SnapshotIndex, INDEX_FORMAT, INDEX_PATH, VERIFY_PATH,
};
use std::collections::{HashMap, HashSet};

/// What the snapshot branch needs besides the common load context.
pub(crate) struct SnapshotContext<'a> {
    pub predicate: &'a BundlePredicate,
    pub imported_by: &'a str,
    pub file_name: &'a str,
}

pub(crate) fn load(
    tx: &mut postgres::Transaction<'_>,
    ctx: &LoadContext<'_>,
    snap: &SnapshotContext<'_>,
    entries: &[Entry],
) -> Result<Loaded, ImportError> {
    let bad = |message: String| ImportError::BadSnapshot {
        file: ctx.file.into(),
        message,
    };
    let by_name: HashMap<&str, &Entry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();

    // The index, and that it describes this bundle.
    let index_entry = by_name
        .get(INDEX_PATH)
        .ok_or_else(|| bad(format!("it has no {INDEX_PATH}")))?;
    let index_bytes = ctx.read(index_entry)?;
    let index: SnapshotIndex = serde_json::from_slice(&index_bytes)
        .map_err(|e| bad(format!("{INDEX_PATH} does not parse: {e}")))?;
    if index.format != INDEX_FORMAT {
        return Err(bad(format!(
            "{INDEX_PATH}: format {:?}, this version reads {INDEX_FORMAT:?}",
            index.format
        )));
    }
    if Some(&index.tenant) != snap.predicate.tenant.as_ref() || index.base != snap.predicate.base {
        return Err(bad(format!(
            "{INDEX_PATH} names tenant {:?} and base {:?}, the signed predicate {:?} and {:?}",
            index.tenant, index.base, snap.predicate.tenant, snap.predicate.base
        )));
    }

    // A delta needs its base here.
    if let Some(base) = &index.base {
        let base_bytes = hex::decode(base).map_err(|_| bad(format!("base {base:?} is not hex")))?;
        let found = tx
            .query_opt(
                "SELECT 1 FROM snapshot_index WHERE tenant_id = $1 AND bundle_sha256 = $2
                 UNION ALL
                 SELECT 1 FROM bundle_import WHERE tenant_id = $1 AND bundle_sha256 = $2 AND kind = 'snapshot'
                 LIMIT 1",
                &[&ctx.tenant, &base_bytes],
            )
            .map_err(ctx.db("looking up the base snapshot"))?;
        if found.is_none() {
            return Err(ImportError::MissingBase {
                file: ctx.file.into(),
                base: base.clone(),
                tenant: snap.predicate.tenant.clone().unwrap_or_default(),
            });
        }
    }

    // Every document the index names is here, under its content-hash name.
    let mut named: HashSet<&str> = [INDEX_PATH, VERIFY_PATH].into_iter().collect();
    let mut carried: HashSet<&str> = HashSet::new();
    let (mut sboms, mut vexes, mut advisories, mut scans) = (vec![], vec![], vec![], vec![]);
    for d in &index.documents {
        let expected = document_path(&d.doc_type, &d.content_hash, d.path.ends_with(".yaml"));
        if d.path != expected {
            return Err(bad(format!(
                "{INDEX_PATH} lists {} as a {} document named {}, expected {expected}",
                d.content_hash, d.doc_type, d.path
            )));
        }
        let entry = by_name
            .get(d.path.as_str())
            .filter(|e| hex::encode(&e.sha256) == d.content_hash)
            .ok_or_else(|| {
                bad(format!(
                    "{INDEX_PATH} names document {} ({}), which is not in the snapshot",
                    d.content_hash, d.path
                ))
            })?;
        let entry = Entry {
            name: entry.name.clone(),
            sha256: entry.sha256.clone(),
            spooled: entry.spooled,
        };
        match d.doc_type.as_str() {
            "sbom" => sboms.push(entry),
            "vex" => vexes.push(entry),
            "advisory" => advisories.push(entry),
            "scan_manifest" => scans.push(entry),
            other => {
                return Err(bad(format!(
                    "{INDEX_PATH}: unknown document type {other:?}"
                )))
            }
        }
        named.insert(d.path.as_str());
        carried.insert(d.content_hash.as_str());
    }

    // Every original import: its envelope is here and says what the index says.
    struct Original {
        envelope: Vec<u8>,
        statement: serde_json::Value,
        created: chrono::DateTime<chrono::Utc>,
    }
    let mut originals = Vec::new();
    let mut from_db: Vec<Vec<u8>> = Vec::new();
    for imp in &index.imports {
        if !is_sha256_hex(&imp.bundle_sha256)
            || imp
                .documents
                .iter()
                .any(|d| !is_sha256_hex(&d.content_hash))
        {
            return Err(bad(format!(
                "{INDEX_PATH}: import {:?} or one of its documents is not named by a lowercase sha256",
                imp.bundle_sha256
            )));
        }
        let path = envelope_path(&imp.bundle_sha256);
        let entry = by_name
            .get(path.as_str())
            .filter(|_| imp.envelope == path)
            .ok_or_else(|| {
                bad(format!(
                    "{INDEX_PATH} names import {} whose envelope {path} is not in the snapshot",
                    imp.bundle_sha256
                ))
            })?;
        named.insert(entry.name.as_str());
        let envelope = ctx.read(entry)?;
        let what = |m: String| bad(format!("import {}: {m}", imp.bundle_sha256));
        let env = Envelope::parse(&envelope).map_err(|e| what(e.to_string()))?;
        let payload = env.payload_bytes().map_err(|e| what(e.to_string()))?;
        let st = parse_bundle_statement(&payload).map_err(|e| what(e.to_string()))?;
        let p = &st.predicate;
        if p.kind.as_str() != imp.kind
            || imp.kind == "snapshot"
            || p.source != imp.source
            || p.created != imp.created
            || p.sequence.map(|s| s as i64) != imp.sequence
            || !env.signer_keyids().contains(&imp.signer_keyid)
        {
            return Err(what(
                "its envelope does not match the index (kind, source, created, sequence or signer)"
                    .into(),
            ));
        }
        let created = chrono::DateTime::parse_from_rfc3339(&p.created)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| what(format!("created: {e}")))?;
        for d in &imp.documents {
            if !matches!(d.doc_type.as_str(), "sbom" | "vex" | "advisory") {
                return Err(what(format!("document type {:?}", d.doc_type)));
            }
            if !carried.contains(d.content_hash.as_str()) {
                if index.base.is_none() {
                    return Err(bad(format!(
                        "{INDEX_PATH} names document {} ({} of import {}), which is not in the snapshot",
                        d.content_hash, d.path, imp.bundle_sha256
                    )));
                }
                from_db.push(
                    hex::decode(&d.content_hash).map_err(|_| {
                        what(format!("content hash {:?} is not hex", d.content_hash))
                    })?,
                );
            }
        }
        let statement = serde_json::from_slice(&payload).map_err(|e| what(e.to_string()))?;
        originals.push(Original {
            envelope,
            statement,
            created,
        });
    }
    if let Some(extra) = entries.iter().find(|e| !named.contains(e.name.as_str())) {
        return Err(bad(format!(
            "entry {} is not named by {INDEX_PATH}",
            extra.name
        )));
    }

    // A delta's imports may link documents of its base: they must be here already.
    if !from_db.is_empty() {
        let missing: Option<String> = tx
            .query_one(
                "SELECT min(encode(h, 'hex')) FROM unnest($2::bytea[]) AS h
                 WHERE NOT EXISTS (SELECT 1 FROM sbom_document WHERE tenant_id = $1 AND content_hash = h)
                   AND NOT EXISTS (SELECT 1 FROM vex_document WHERE tenant_id = $1 AND content_hash = h)
                   AND NOT EXISTS (SELECT 1 FROM advisory WHERE tenant_id = $1 AND content_hash = h)",
                &[&ctx.tenant, &from_db],
            )
            .map_err(ctx.db("checking the documents of the base"))?
            .get(0);
        if let Some(h) = missing {
            return Err(bad(format!(
                "document {h} is neither in this delta nor stored here (its base was imported, \
                 but not this document)"
            )));
        }
    }

    // The documents, through the same loaders as their own bundle kinds.
    let mut loaded = Loaded::default();
    for part in [
        if sboms.is_empty() {
            None
        } else {
            Some(sbom::load(tx, ctx, &sboms)?)
        },
        if vexes.is_empty() {
            None
        } else {
            Some(vex::load(tx, ctx, &vexes)?)
        },
        if advisories.is_empty() {
            None
        } else {
            Some(feed::load(tx, ctx, &advisories)?)
        },
    ]
    .into_iter()
    .flatten()
    {
        loaded.documents.new += part.documents.new;
        loaded.documents.existing += part.documents.existing;
        loaded.components += part.components;
        loaded.vex_statements += part.vex_statements;
        loaded.advisories += part.advisories;
        loaded.warnings.extend(part.warnings);
    }
    for entry in &scans {
        let bytes = ctx.read(entry)?;
        let what = |m: String| bad(format!("scan manifest {}: {m}", entry.name));
        let env = Envelope::parse(&bytes).map_err(|e| what(e.to_string()))?;
        let payload = env.payload_bytes().map_err(|e| what(e.to_string()))?;
        let doc: serde_json::Value =
            serde_json::from_slice(&payload).map_err(|e| what(e.to_string()))?;
        let scan_id = doc
            .pointer("/predicate/scan_id")
            .and_then(|v| v.as_str())
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
            .ok_or_else(|| what("no predicate.scan_id UUID".into()))?;
        let n = tx
            .execute(
                "INSERT INTO scan_manifest (tenant_id, scan_id, content_hash, envelope, doc)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, content_hash) DO NOTHING",
                &[&ctx.tenant, &scan_id, &entry.sha256, &bytes, &doc],
            )
            .map_err(ctx.db("storing a scan manifest"))?;
        loaded.documents.new += n;
        loaded.documents.existing += 1 - n;
        tx.execute(
            "INSERT INTO bundle_document (tenant_id, import_id, path, doc_type, content_hash)
             VALUES ($1, $2, $3, 'scan_manifest', $4)",
            &[&ctx.tenant, &ctx.import_id, &entry.name, &entry.sha256],
        )
        .map_err(ctx.db("linking documents to the bundle"))?;
    }
    tx.execute(
        "INSERT INTO bundle_document (tenant_id, import_id, path, doc_type, content_hash)
         VALUES ($1, $2, $3, 'index', $4)",
        &[
            &ctx.tenant,
            &ctx.import_id,
            &INDEX_PATH,
            &index_entry.sha256,
        ],
    )
    .map_err(ctx.db("linking the index to the bundle"))?;

    // The original imports, as ledger rows with their links (kept if already here).
    for (imp, orig) in index.imports.iter().zip(&originals) {
        let sha = hex::decode(&imp.bundle_sha256)
            .map_err(|_| bad(format!("import {:?} is not hex", imp.bundle_sha256)))?;
        let row = tx
            .query_opt(
                "INSERT INTO bundle_import (tenant_id, bundle_sha256, kind, source, created, sequence, signer_keyid,
                                            envelope, statement, file_name, size_bytes, imported_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (tenant_id, bundle_sha256) DO NOTHING
                 RETURNING import_id",
                &[
                    &ctx.tenant,
                    &sha,
                    &imp.kind,
                    &imp.source,
                    &orig.created,
                    &imp.sequence,
                    &imp.signer_keyid,
                    &orig.envelope,
                    &orig.statement,
                    &snap.file_name,
                    &imp.size_bytes,
                    &snap.imported_by,
                ],
            )
            .map_err(ctx.db("re-creating an original import's ledger row"))?;
        let Some(row) = row else { continue };
        let import_id: i64 = row.get(0);
        let paths: Vec<&str> = imp.documents.iter().map(|d| d.path.as_str()).collect();
        let types: Vec<&str> = imp.documents.iter().map(|d| d.doc_type.as_str()).collect();
        let hashes: Vec<Vec<u8>> = imp
            .documents
            .iter()
            .map(|d| hex::decode(&d.content_hash).unwrap_or_default())
            .collect();
        tx.execute(
            "INSERT INTO bundle_document (tenant_id, import_id, path, doc_type, content_hash)
             SELECT $1, $2, p, t, h FROM unnest($3::text[], $4::text[], $5::bytea[]) AS u(p, t, h)",
            &[&ctx.tenant, &import_id, &paths, &types, &hashes],
        )
        .map_err(ctx.db("re-creating an original import's document links"))?;
    }

    // Remember the snapshot, so deltas on top of it (and `export --since`) can name it.
    let index_json: serde_json::Value =
        serde_json::from_slice(&index_bytes).unwrap_or(serde_json::Value::Null);
    let base = index.base.as_deref().and_then(|b| hex::decode(b).ok());
    let own_sha = hex::decode(snap_sha(ctx, tx)?).unwrap_or_default();
    tx.execute(
        "INSERT INTO snapshot_index (tenant_id, bundle_sha256, base_sha256, origin, index)
         VALUES ($1, $2, $3, 'import', $4) ON CONFLICT (tenant_id, bundle_sha256) DO NOTHING",
        &[&ctx.tenant, &own_sha, &base, &index_json],
    )
    .map_err(ctx.db("recording the snapshot"))?;
    Ok(loaded)
}

/// The sha256 of the snapshot being imported (from its ledger row).
fn snap_sha(
    ctx: &LoadContext<'_>,
    tx: &mut postgres::Transaction<'_>,
) -> Result<String, ImportError> {
    Ok(tx
        .query_one(
            "SELECT encode(bundle_sha256, 'hex') FROM bundle_import WHERE tenant_id = $1 AND import_id = $2",
            &[&ctx.tenant, &ctx.import_id],
        )
        .map_err(ctx.db("reading the snapshot's ledger row"))?
        .get(0))
}
