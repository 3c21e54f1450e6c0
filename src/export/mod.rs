//! `export`: a signed, deterministic `snapshot` bundle of a tenant (SPEC section 7).
//!
//! Everything is read in ONE consistent snapshot (`REPEATABLE READ, READ ONLY`): first the
//! metadata (the original imports, their document links, each document's hash and size), from
//! which the index and the signed statement are built; then the document bodies are streamed,
//! one portal at a time in entry order, into the archive (bounded memory). The bytes depend only
//! on the database state: `created` is the newest signed `created` among the original imports,
//! every list is sorted by bytes, nothing site-specific (import ids, local times, file names) is
//! written. Snapshot imports are containers, not data: the imports they carried were re-created
//! as ledger rows, so exporting at a site that imported a snapshot gives the same bytes again.
//!
//! A delta (`--since BASE`) carries what BASE (and the chain of bases under it) does not: the
//! documents whose content hash is not in them and the imports whose bundle sha256 is not in
//! them. BASE is resolved through `snapshot_index` (every snapshot exported or imported here), or
//! read from the BASE file itself.

pub mod error;
pub mod index;
mod writer;

pub use error::ExportError;
pub use index::{
    document_path, envelope_path, ImportDocument, IndexDocument, IndexImport, SnapshotIndex,
    INDEX_FORMAT, INDEX_PATH, VERIFY_PATH, VERIFY_TEXT,
};

use crate::bundle::statement::{sha256_statement_json, BUNDLE_PREDICATE_TYPE, PRODUCER};
use crate::bundle::{
    format_created, Bundle, BundlePredicate, Envelope, Kind, Limits, PrivateKey, Spool, TrustSet,
    PAYLOAD_TYPE_INTOTO,
};
use crate::db::Tenant;
use postgres::fallible_iterator::FallibleIterator;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use writer::{Body, Planned};

/// The `predicate.source` of every snapshot.
pub const SNAPSHOT_SOURCE: &str = "stella-export";
/// Bytes of document bodies asked for per round trip while streaming (the row count of each
/// FETCH is chosen from the planned sizes of the next entries, so small OSV records come in
/// large batches and big SBOMs a few at a time; memory stays bounded by this budget).
const FETCH_BYTES: u64 = 1 << 20;
/// Most rows per FETCH, whatever their size.
const FETCH_MAX_ROWS: usize = 4096;

/// What `--since` names.
#[derive(Debug, Clone)]
pub enum Since {
    /// The sha256 of a snapshot exported or imported here.
    Sha256(String),
    /// A snapshot file.
    File(PathBuf),
}

impl Since {
    /// A 64-hex argument that is not an existing file is a sha256; anything else a file.
    pub fn parse(arg: &str) -> Since {
        let lower = arg.to_ascii_lowercase();
        if crate::bundle::statement::is_sha256_hex(&lower) && !Path::new(arg).exists() {
            Since::Sha256(lower)
        } else {
            Since::File(PathBuf::from(arg))
        }
    }
}

/// What to export.
pub struct ExportRequest<'a> {
    pub key: &'a PrivateKey,
    pub out: &'a Path,
    pub since: Option<Since>,
    /// Keys accepted when `--since` names a file that must be verified.
    pub trust: &'a TrustSet,
    pub limits: Limits,
}

/// Documents written, per type.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ExportCounts {
    pub sbom: u64,
    pub vex: u64,
    pub advisory: u64,
    pub scan_manifest: u64,
}

/// What `export` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportOutcome {
    pub file: String,
    pub sha256: String,
    pub size: u64,
    pub tenant: String,
    pub created: String,
    pub base: Option<String>,
    pub imports: u64,
    pub documents: ExportCounts,
    pub seconds: f64,
}

/// Document tables and how their bodies are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cat {
    Advisory,
    Import,
    Sbom,
    Scan,
    Vex,
}

impl Cat {
    fn doc_type(self) -> &'static str {
        match self {
            Cat::Advisory => "advisory",
            Cat::Import => "import",
            Cat::Sbom => "sbom",
            Cat::Scan => "scan_manifest",
            Cat::Vex => "vex",
        }
    }
    /// `(key, body)` rows of the given keys, ordered by key (bytea order = hex order).
    fn body_sql(self) -> &'static str {
        match self {
            Cat::Advisory => "SELECT content_hash, raw FROM advisory WHERE tenant_id = $1 AND content_hash = ANY($2) ORDER BY content_hash",
            Cat::Sbom => "SELECT content_hash, raw FROM sbom_document WHERE tenant_id = $1 AND content_hash = ANY($2) ORDER BY content_hash",
            Cat::Vex => "SELECT content_hash, raw FROM vex_document WHERE tenant_id = $1 AND content_hash = ANY($2) ORDER BY content_hash",
            Cat::Scan => "SELECT content_hash, envelope FROM scan_manifest WHERE tenant_id = $1 AND content_hash = ANY($2) ORDER BY content_hash",
            Cat::Import => "SELECT bundle_sha256, envelope FROM bundle_import WHERE tenant_id = $1 AND kind <> 'snapshot' AND bundle_sha256 = ANY($2) ORDER BY bundle_sha256",
        }
    }
}

/// Where a streamed entry's body is read from: its table and key (content hash, or the bundle
/// sha256 for an original import's envelope).
struct Source {
    cat: Cat,
    key: [u8; 32],
}

/// What a base chain already holds.
#[derive(Default)]
struct BaseContent {
    documents: HashSet<String>,
    imports: HashSet<String>,
}

/// Export the tenant into `req.out`.
pub fn export(
    client: &mut postgres::Client,
    tenant: &Tenant,
    req: &ExportRequest<'_>,
) -> Result<ExportOutcome, ExportError> {
    let started = Instant::now();
    let (base, excluded) = match &req.since {
        None => (None, BaseContent::default()),
        Some(since) => {
            let (sha, content) = resolve_base(client, tenant, req, since)?;
            (Some(sha), content)
        }
    };

    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(ExportError::db("starting the snapshot's read transaction"))?;

    // 1. The original imports (snapshot imports are containers and are not listed).
    let rows = tx
        .query(
            "SELECT encode(bundle_sha256, 'hex'), kind, source, sequence, created, signer_keyid, size_bytes,
                    encode(sha256(envelope), 'hex'), length(envelope)
             FROM bundle_import WHERE tenant_id = $1 AND kind <> 'snapshot'
             ORDER BY bundle_sha256",
            &[&tenant.id],
        )
        .map_err(ExportError::db("reading the import ledger"))?;
    let newest: Option<chrono::DateTime<chrono::Utc>> = rows
        .iter()
        .map(|r| r.get::<_, chrono::DateTime<chrono::Utc>>(4))
        .max();
    let Some(newest) = newest else {
        return Err(ExportError::Empty {
            tenant: tenant.name.clone(),
        });
    };
    let created = format_created(&newest);
    let mut imports: BTreeMap<String, IndexImport> = BTreeMap::new();
    let mut planned: Vec<Planned<Source>> = Vec::new();
    for r in &rows {
        let sha: String = r.get(0);
        if excluded.imports.contains(&sha) {
            continue;
        }
        let env_path = envelope_path(&sha);
        planned.push(Planned {
            name: env_path.clone(),
            size: r.get::<_, i32>(8) as u64,
            sha256: r.get(7),
            body: Body::Stream(Source {
                cat: Cat::Import,
                key: hash_bytes(&sha, req.out)?,
            }),
        });
        imports.insert(
            sha.clone(),
            IndexImport {
                bundle_sha256: sha,
                kind: r.get(1),
                source: r.get(2),
                sequence: r.get(3),
                created: format_created(&r.get::<_, chrono::DateTime<chrono::Utc>>(4)),
                signer_keyid: r.get(5),
                size_bytes: r.get(6),
                envelope: env_path,
                documents: Vec::new(),
            },
        );
    }

    // 2. Which documents each import brought.
    // Streamed row by row (one per document: a Vec<Row> of them would double the peak), each
    // import's documents already in path byte order (COLLATE "C"), as the index lists them.
    const LINKS: &str = "reading which documents each import brought";
    let mut links = tx
        .query_raw(
            "SELECT encode(i.bundle_sha256, 'hex'), d.path, d.doc_type, encode(d.content_hash, 'hex')
             FROM bundle_document d JOIN bundle_import i USING (tenant_id, import_id)
             WHERE d.tenant_id = $1 AND i.kind <> 'snapshot'
             ORDER BY i.bundle_sha256, d.path COLLATE \"C\"",
            [&tenant.id],
        )
        .map_err(ExportError::db(LINKS))?;
    while let Some(l) = links.next().map_err(ExportError::db(LINKS))? {
        let sha: &str = l.get(0);
        if let Some(imp) = imports.get_mut(sha) {
            imp.documents.push(ImportDocument {
                path: l.get(1),
                doc_type: l.get(2),
                content_hash: l.get(3),
            });
        }
    }
    drop(links);
    drop(rows);

    // 3. Every document: hash and size (bodies come later, streamed).
    let mut docs = tx
        .query_raw(
            "SELECT 'advisory', encode(content_hash, 'hex'), length(raw), raw_format = 'yaml' FROM advisory WHERE tenant_id = $1
             UNION ALL SELECT 'sbom', encode(content_hash, 'hex'), length(raw), false FROM sbom_document WHERE tenant_id = $1
             UNION ALL SELECT 'vex', encode(content_hash, 'hex'), length(raw), false FROM vex_document WHERE tenant_id = $1
             UNION ALL SELECT 'scan_manifest', encode(content_hash, 'hex'), length(envelope), false FROM scan_manifest WHERE tenant_id = $1",
            [&tenant.id],
        )
        .map_err(ExportError::db("listing the documents"))?;
    let mut documents: Vec<IndexDocument> = Vec::new();
    let mut counts = ExportCounts::default();
    while let Some(d) = docs
        .next()
        .map_err(ExportError::db("listing the documents"))?
    {
        let doc_type: &str = d.get(0);
        let hash: String = d.get(1);
        if excluded.documents.contains(&hash) {
            continue;
        }
        let size = d.get::<_, i32>(2) as i64;
        let path = document_path(doc_type, &hash, d.get(3));
        let cat = match doc_type {
            "advisory" => {
                counts.advisory += 1;
                Cat::Advisory
            }
            "sbom" => {
                counts.sbom += 1;
                Cat::Sbom
            }
            "vex" => {
                counts.vex += 1;
                Cat::Vex
            }
            _ => {
                counts.scan_manifest += 1;
                Cat::Scan
            }
        };
        planned.push(Planned {
            name: path.clone(),
            size: size as u64,
            sha256: hash.clone(),
            body: Body::Stream(Source {
                cat,
                key: hash_bytes(&hash, req.out)?,
            }),
        });
        documents.push(IndexDocument {
            path,
            doc_type: cat.doc_type().to_string(),
            content_hash: hash,
            size,
        });
    }
    drop(docs);
    documents.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));

    let index = SnapshotIndex {
        format: INDEX_FORMAT.to_string(),
        tenant: tenant.name.clone(),
        base: base.clone(),
        imports: imports.into_values().collect(),
        documents,
    };
    let import_count = index.imports.len() as u64;
    let index_bytes = index.to_bytes().map_err(|e| ExportError::Inconsistent {
        out: req.out.to_path_buf(),
        message: format!("cannot serialize the index: {e}"),
    })?;
    drop(index);
    let index_sha256 = hex::encode(Sha256::digest(&index_bytes));
    for (name, bytes) in [
        (INDEX_PATH, index_bytes),
        (VERIFY_PATH, VERIFY_TEXT.as_bytes().to_vec()),
    ] {
        planned.push(Planned {
            name: name.to_string(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            body: Body::Inline(bytes),
        });
    }
    planned.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    check_limits(&planned, &req.limits, req.out)?;

    // 4. Sign, then stream.
    let predicate = BundlePredicate {
        kind: Kind::Snapshot,
        source: SNAPSHOT_SOURCE.to_string(),
        created: created.clone(),
        tenant: Some(tenant.name.clone()),
        producer: PRODUCER.to_string(),
        sequence: None,
        base: base.clone(),
    };
    // `planned` is sorted by name bytes, as the subject list must be.
    let payload = sha256_statement_json(
        BUNDLE_PREDICATE_TYPE,
        &predicate,
        planned.iter().map(|p| (p.name.as_str(), p.sha256.as_str())),
    )
    .map_err(|e| ExportError::Inconsistent {
        out: req.out.to_path_buf(),
        message: format!("cannot serialize the statement: {e}"),
    })?;
    let signed = Envelope::sign(PAYLOAD_TYPE_INTOTO, &payload, req.key);
    drop(payload);
    let envelope = signed.to_json();
    drop(signed);
    if envelope.len() as u64 > req.limits.max_envelope {
        return Err(ExportError::Inconsistent {
            out: req.out.to_path_buf(),
            message: format!(
                "the envelope would be {} bytes, over the reader's limit of {}: too many documents \
                 for one snapshot; export deltas with --since",
                envelope.len(),
                req.limits.max_envelope
            ),
        });
    }
    // The bodies are read by a second thread that keeps up to READ_AHEAD fetches in flight, so
    // the server's reading overlaps this thread's hashing, framing and compression.
    let (written, tx) = std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel(READ_AHEAD);
        let planned = &planned;
        let tenant_id = tenant.id;
        let reader = scope.spawn(move || {
            read_bodies(&mut tx, tenant_id, planned, req.out, &send);
            tx
        });
        let mut bodies = Bodies {
            receive,
            batch: VecDeque::new(),
            planned,
            out: req.out,
        };
        let written = writer::write_bundle(
            req.out,
            envelope,
            planned,
            newest.timestamp().max(0) as u64,
            |i, source, w| bodies.write(i, source, w),
        );
        // A writer that failed drops the receiver, which stops the reader at its next send.
        drop(bodies);
        let tx = reader.join().map_err(|_| ExportError::Inconsistent {
            out: req.out.to_path_buf(),
            message: "the document reader thread panicked".into(),
        });
        (written, tx)
    });
    let written = written?;
    tx?.commit()
        .map_err(ExportError::db("ending the snapshot's read transaction"))?;

    // 5. Remember it, so a later delta can name it by sha256. Only the index is kept from the
    // plan (the query encodes another copy of it).
    let index_bytes = planned
        .into_iter()
        .find_map(|p| match p.body {
            Body::Inline(bytes) if p.name == INDEX_PATH && p.sha256 == index_sha256 => Some(bytes),
            _ => None,
        })
        .ok_or_else(|| ExportError::Inconsistent {
            out: req.out.to_path_buf(),
            message: format!("{INDEX_PATH} vanished from the plan"),
        })?;
    // Everything else the export held is free now, but the allocator keeps those pages; hand
    // them back before the query below encodes its copy of the index, or that copy raises the
    // peak instead of reusing them (measured: 124 -> 94 MiB at 50,000 documents).
    release_free_memory();
    // Sent as text and cast by the server: no JSON tree of the whole index in this process.
    let index_text = String::from_utf8_lossy(&index_bytes);
    client
        .execute(
            "INSERT INTO snapshot_index (tenant_id, bundle_sha256, base_sha256, origin, index)
             VALUES ($1, $2, $3, 'export', $4::text::jsonb) ON CONFLICT (tenant_id, bundle_sha256) DO NOTHING",
            &[
                &tenant.id,
                &hex_bytes(&written.sha256),
                &base.as_deref().map(hex_bytes),
                &index_text,
            ],
        )
        .map_err(ExportError::db("recording the exported snapshot"))?;
    Ok(ExportOutcome {
        file: req.out.display().to_string(),
        sha256: written.sha256,
        size: written.size,
        tenant: tenant.name.clone(),
        created,
        base,
        imports: import_count,
        documents: counts,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Batches of rows the reader has fetched, in entry order: (entry index, row of key and body).
type Batch = Vec<(usize, postgres::Row)>;

/// Fetches in flight between the reader thread and the writer (each at most FETCH_BYTES of
/// bodies, or one document larger than that).
const READ_AHEAD: usize = 2;

/// Reads the bodies of every `Body::Stream` entry of `planned`, in entry order, one portal per
/// run of entries from the same table, and sends them in batches sized by FETCH_BYTES. Stops at
/// the first error (sent on) or when the writer hangs up.
fn read_bodies(
    tx: &mut postgres::Transaction<'_>,
    tenant: uuid::Uuid,
    planned: &[Planned<Source>],
    out: &Path,
    send: &std::sync::mpsc::SyncSender<Result<Batch, ExportError>>,
) {
    let streamed: Vec<(usize, &Source, u64)> = planned
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match &p.body {
            Body::Stream(s) => Some((i, s, p.size)),
            Body::Inline(_) => None,
        })
        .collect();
    let mut portal: Option<(Cat, postgres::Portal)> = None;
    let mut k = 0;
    while k < streamed.len() {
        let cat = streamed[k].1.cat;
        if portal.as_ref().map(|p| p.0) != Some(cat) {
            // This table's remaining keys, in entry order (= key order: within a table the
            // names differ only by the hash).
            let wanted: Vec<&[u8]> = streamed[k..]
                .iter()
                .filter(|e| e.1.cat == cat)
                .map(|e| e.1.key.as_slice())
                .collect();
            match tx.bind(cat.body_sql(), &[&tenant, &wanted]) {
                Ok(p) => portal = Some((cat, p)),
                Err(e) => {
                    let _ = send.send(Err(ExportError::db("opening a document cursor")(e)));
                    return;
                }
            }
        }
        // As many of the next entries of this table as fit the byte budget (at least one).
        let mut budget = 0u64;
        let n = streamed[k..]
            .iter()
            .take(FETCH_MAX_ROWS)
            .take_while(|e| e.1.cat == cat)
            .take_while(|e| {
                let first = budget == 0;
                budget += e.2.max(1);
                first || budget <= FETCH_BYTES
            })
            .count();
        let Some((_, p)) = portal.as_ref() else {
            return;
        };
        let rows = match tx.query_portal(p, n as i32) {
            Ok(rows) => rows,
            Err(e) => {
                let _ = send.send(Err(ExportError::db("reading documents")(e)));
                return;
            }
        };
        if rows.len() < n {
            let _ = send.send(Err(ExportError::Inconsistent {
                out: out.to_path_buf(),
                message: format!(
                    "entry {} vanished from the database",
                    planned[streamed[k + rows.len()].0].name
                ),
            }));
            return;
        }
        let batch: Batch = streamed[k..k + n].iter().map(|e| e.0).zip(rows).collect();
        k += n;
        if send.send(Ok(batch)).is_err() {
            return;
        }
    }
}

/// The writer's end: hands out the fetched bodies in entry order, checking each row's key.
struct Bodies<'a> {
    receive: std::sync::mpsc::Receiver<Result<Batch, ExportError>>,
    batch: VecDeque<(usize, postgres::Row)>,
    planned: &'a [Planned<Source>],
    out: &'a Path,
}

impl Bodies<'_> {
    /// Writes the body of entry `index`, which must come from `source`.
    fn write(
        &mut self,
        index: usize,
        source: &Source,
        w: &mut dyn Write,
    ) -> Result<(), ExportError> {
        let inconsistent = |message: String| ExportError::Inconsistent {
            out: self.out.to_path_buf(),
            message,
        };
        if self.batch.is_empty() {
            match self.receive.recv() {
                Ok(batch) => self.batch.extend(batch?),
                Err(_) => return Err(inconsistent("the document reader stopped early".into())),
            }
        }
        let name = &self.planned[index].name;
        let Some((got_index, row)) = self.batch.pop_front() else {
            return Err(inconsistent(format!(
                "entry {name} vanished from the database"
            )));
        };
        let key: &[u8] = row.get(0);
        if got_index != index || key != source.key.as_slice() {
            return Err(inconsistent(format!(
                "entry {name}: the database returned {} instead",
                hex::encode(key)
            )));
        }
        let body: &[u8] = row.get(1);
        w.write_all(body).map_err(|source| ExportError::Io {
            action: "write",
            path: self.out.to_path_buf(),
            source,
        })
    }
}

/// Returns freed heap pages to the operating system (glibc keeps them by default).
fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn check_limits(
    planned: &[Planned<Source>],
    limits: &Limits,
    out: &Path,
) -> Result<(), ExportError> {
    let mut total = 0u64;
    for p in planned {
        if p.size > limits.max_entry {
            return Err(ExportError::Inconsistent {
                out: out.to_path_buf(),
                message: format!(
                    "entry {} is {} bytes, over the per-entry limit of {}",
                    p.name, p.size, limits.max_entry
                ),
            });
        }
        total = total.saturating_add(p.size);
    }
    if total > limits.max_total {
        return Err(ExportError::Inconsistent {
            out: out.to_path_buf(),
            message: format!(
                "the documents total {total} bytes, over the limit of {}; export deltas with --since",
                limits.max_total
            ),
        });
    }
    Ok(())
}

fn hex_bytes(h: &str) -> Vec<u8> {
    hex::decode(h).unwrap_or_default()
}

/// A sha256 the database returned as hex, as 32 bytes.
fn hash_bytes(h: &str, out: &Path) -> Result<[u8; 32], ExportError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(h, &mut bytes).map_err(|e| ExportError::Inconsistent {
        out: out.to_path_buf(),
        message: format!("the database holds a malformed sha256 {h:?}: {e}"),
    })?;
    Ok(bytes)
}

/// Resolves `--since` to the base's sha256 and everything its chain holds.
fn resolve_base(
    client: &mut postgres::Client,
    tenant: &Tenant,
    req: &ExportRequest<'_>,
    since: &Since,
) -> Result<(String, BaseContent), ExportError> {
    let mut content = BaseContent::default();
    let (sha, next) = match since {
        Since::Sha256(sha) => (sha.clone(), Some(sha.clone())),
        Since::File(path) => {
            let sha = sha256_file(path)?;
            if known(client, tenant, &sha)? {
                (sha.clone(), Some(sha))
            } else {
                let index = read_index_from_file(path, tenant, req)?;
                add_index(&mut content, &index);
                (sha, index.base.clone())
            }
        }
    };
    let mut visited = HashSet::new();
    let mut next = next;
    while let Some(h) = next.take() {
        if !visited.insert(h.clone()) {
            break;
        }
        let row = client
            .query_opt(
                "SELECT index FROM snapshot_index WHERE tenant_id = $1 AND bundle_sha256 = $2",
                &[&tenant.id, &hex_bytes(&h)],
            )
            .map_err(ExportError::db("reading the snapshot index"))?;
        let Some(row) = row else {
            return Err(ExportError::UnknownBase {
                since: h,
                tenant: tenant.name.clone(),
            });
        };
        let value: serde_json::Value = row.get(0);
        let index: SnapshotIndex =
            serde_json::from_value(value).map_err(|e| ExportError::BadBase {
                path: PathBuf::from(&h),
                message: format!("its recorded index does not parse: {e}"),
            })?;
        add_index(&mut content, &index);
        next = index.base.clone();
    }
    Ok((sha, content))
}

fn known(client: &mut postgres::Client, tenant: &Tenant, sha: &str) -> Result<bool, ExportError> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM snapshot_index WHERE tenant_id = $1 AND bundle_sha256 = $2",
            &[&tenant.id, &hex_bytes(sha)],
        )
        .map_err(ExportError::db("reading the snapshot index"))?
        .is_some())
}

fn add_index(content: &mut BaseContent, index: &SnapshotIndex) {
    content
        .documents
        .extend(index.documents.iter().map(|d| d.content_hash.clone()));
    content
        .imports
        .extend(index.imports.iter().map(|i| i.bundle_sha256.clone()));
}

/// Verifies a base snapshot file and reads its index.
fn read_index_from_file(
    path: &Path,
    tenant: &Tenant,
    req: &ExportRequest<'_>,
) -> Result<SnapshotIndex, ExportError> {
    let bad = |message: String| ExportError::BadBase {
        path: path.to_path_buf(),
        message,
    };
    let dir = tempfile::Builder::new()
        .prefix("stella-export-base-")
        .tempdir()
        .map_err(|source| ExportError::Io {
            action: "create a temp folder in",
            path: std::env::temp_dir(),
            source,
        })?;
    let mut trust = req.trust.clone();
    trust.insert(req.key.public().clone());
    let mut spool = Spool::new(dir.path());
    let bundle = Bundle::open(path)
        .and_then(|b| b.verify(&trust, &req.limits, &mut spool))
        .map_err(|source| ExportError::Bundle {
            out: path.to_path_buf(),
            source: Box::new(source),
        })?;
    let p = bundle.predicate();
    if p.kind != Kind::Snapshot {
        return Err(bad(format!("it is a {} bundle, not a snapshot", p.kind)));
    }
    if p.tenant.as_deref() != Some(tenant.name.as_str()) {
        return Err(bad(format!(
            "it is a snapshot of tenant {:?}, not {:?}",
            p.tenant, tenant.name
        )));
    }
    let entry = bundle
        .entries()
        .iter()
        .find(|e| e.name == INDEX_PATH)
        .and_then(|e| e.spooled.clone())
        .ok_or_else(|| bad(format!("it has no {INDEX_PATH}")))?;
    let bytes = std::fs::read(&entry).map_err(|source| ExportError::Io {
        action: "read",
        path: entry.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("{INDEX_PATH} does not parse: {e}")))
}

fn sha256_file(path: &Path) -> Result<String, ExportError> {
    let io = |source| ExportError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
