//! Import: a bundle file is checked against the ledger (its sha256, before anything is
//! decompressed), verified while its entries are spooled to a private temp folder, then parsed
//! and loaded in ONE transaction: the ledger row, the raw documents (unique per tenant and
//! content hash, so a document shared by bundles is stored once) and their extracted child rows.
//! Idempotency lives in the database's unique keys: two importers of the same bundle race on the
//! ledger's unique key and the loser reports `already_imported`; a killed import leaves nothing.

mod error;
mod feed;
mod sbom;
mod snapshot;
mod spool;
mod stage;
mod vex;

pub use error::ImportError;

use crate::bundle::{Bundle, Kind, Limits, TrustSet, Verified};
use crate::db::hot_queries;
use crate::db::locks::LockKey;
use crate::db::{DbError, Tenant};
use crate::formats;
use crate::progress::Progress;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::time::Instant;

/// Opens another connection to the import's database, or `None` when it cannot.
pub type ConnectHelper<'a> = dyn Fn() -> Option<postgres::Client> + Sync + 'a;

/// What to import and under which rules.
pub struct ImportRequest<'a> {
    pub file: &'a Path,
    pub trust: &'a TrustSet,
    pub limits: &'a Limits,
    /// `--allow-older --reason TEXT`: accept a feed older than the active one, recording why.
    pub allow_older: Option<&'a str>,
    /// Who imports (OS user and host), recorded in the ledger.
    pub imported_by: &'a str,
    pub progress: &'a dyn Progress,
    /// Opens a second connection to the same database, for work that runs beside the import
    /// transaction on another CPU: the advisories' search vectors (see `feed::SearchVectors`).
    /// `None`, or a connection that fails, leaves that work to the import's own transaction.
    pub connect_helper: Option<&'a ConnectHelper<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Imported,
    AlreadyImported,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DocumentCounts {
    pub new: u64,
    pub existing: u64,
}

/// SPEC section 5's per-bundle result.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    pub file: String,
    pub sha256: String,
    pub kind: String,
    pub source: String,
    pub status: ImportStatus,
    pub import_id: i64,
    pub documents: DocumentCounts,
    pub components: u64,
    pub vex_statements: u64,
    pub advisories: u64,
    /// Things accepted with a note (a component with an invalid purl, ...), as `path: message`.
    pub warnings: Vec<String>,
    pub seconds: f64,
}

/// Counts a loader reports.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub documents: DocumentCounts,
    pub components: u64,
    pub vex_statements: u64,
    pub advisories: u64,
    pub warnings: Vec<String>,
}

/// What every loader needs.
pub(crate) struct LoadContext<'a> {
    pub tenant: uuid::Uuid,
    pub import_id: i64,
    pub file: &'a Path,
    pub progress: &'a dyn Progress,
    /// The verified entries' bytes.
    pub spool: &'a spool::Spooled,
    /// See [`ImportRequest::connect_helper`].
    pub connect_helper: Option<&'a ConnectHelper<'a>>,
    /// Whether the import's session is a superuser's (see `stage::referencing_own_rows`).
    pub superuser: bool,
}

/// One verified entry ready to load.
pub(crate) struct Entry {
    pub name: String,
    pub sha256: Vec<u8>,
    /// Its bytes in the spool file.
    pub spooled: spool::Range,
}

impl LoadContext<'_> {
    pub fn db(&self, what: &str) -> impl Fn(postgres::Error) -> ImportError + '_ {
        let what = what.to_string();
        move |e| ImportError::Db {
            file: self.file.to_path_buf(),
            source: DbError::query(&what, e),
        }
    }
    pub fn read(&self, entry: &Entry) -> Result<Vec<u8>, ImportError> {
        self.spool
            .read(entry.spooled)
            .map_err(|source| ImportError::Io {
                file: self.file.to_path_buf(),
                path: self.spool.path().to_path_buf(),
                source,
            })
    }
    /// Maps a parser's error on `entry` to the import error naming the file and entry.
    pub fn format_error<'e>(
        &'e self,
        entry: &'e Entry,
    ) -> impl Fn(formats::FormatError) -> ImportError + 'e {
        move |source| ImportError::Format {
            file: self.file.into(),
            entry: entry.name.clone(),
            source: Box::new(source),
        }
    }
    /// An entry's bytes, refused (naming the entry and what it is) unless its detected format is
    /// one `accept`s: the start of loading an SBOM or VEX entry.
    pub fn read_kind(
        &self,
        entry: &Entry,
        kind: &'static str,
        accept: fn(formats::DocumentKind) -> bool,
    ) -> Result<Vec<u8>, ImportError> {
        let raw = self.read(entry)?;
        let found = formats::detect(&raw).map_err(self.format_error(entry))?;
        if !accept(found) {
            return Err(ImportError::WrongDocument {
                file: self.file.into(),
                entry: entry.name.clone(),
                found: found.name(),
                kind,
            });
        }
        Ok(raw)
    }
}

/// Import one bundle file.
pub fn import_bundle(
    client: &mut postgres::Client,
    tenant: &Tenant,
    req: &ImportRequest<'_>,
) -> Result<ImportOutcome, ImportError> {
    let started = Instant::now();
    let file = req.file;
    let sha = sha256_file(file)?;
    let sha_hex = hex::encode(&sha);
    if let Some(done) = ledger_lookup(client, tenant, &sha, file)? {
        return Ok(done.outcome(file, &sha_hex, started));
    }

    // Verify (trust decided first) while spooling entries to a private temp folder; first,
    // remove what imports that died (kill -9, power loss) left there.
    for dead in spool::sweep_stale(&std::env::temp_dir()) {
        tracing::info!(
            "removed {}, the spool folder of an import that did not finish",
            dead.display()
        );
    }
    let spool_dir = tempfile::Builder::new()
        .prefix(spool::SPOOL_PREFIX)
        .tempdir()
        .map_err(|source| ImportError::Io {
            file: file.into(),
            path: std::env::temp_dir(),
            source,
        })?;
    let spool_io = |source| ImportError::Io {
        file: file.into(),
        path: spool_dir.path().into(),
        source,
    };
    let mut spool = spool::SpoolFile::create(spool_dir.path()).map_err(spool_io)?;
    let bundle: Bundle<Verified> = Bundle::open(file)
        .and_then(|b| b.verify(req.trust, req.limits, &mut spool))
        .map_err(|source| ImportError::Bundle {
            file: file.into(),
            source: Box::new(source),
        })?;
    let spooled = spool.finish().map_err(spool_io)?;
    if bundle.sha256() != sha_hex {
        return Err(ImportError::Invalid {
            file: file.into(),
            message: "the file changed while it was being imported; import it again".into(),
        });
    }
    let predicate = bundle.predicate().clone();
    let created = chrono::DateTime::parse_from_rfc3339(&predicate.created)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| ImportError::Invalid {
            file: file.into(),
            message: format!("predicate.created: {e}"),
        })?;
    if let Some(bundle_tenant) = &predicate.tenant {
        if bundle_tenant != &tenant.name {
            return Err(ImportError::OtherTenant {
                file: file.into(),
                bundle_tenant: bundle_tenant.clone(),
                tenant: tenant.name.clone(),
            });
        }
    }
    let entries: Vec<Entry> = bundle
        .entries()
        .iter()
        .filter_map(|e| {
            Some(Entry {
                name: e.name.clone(),
                sha256: hex::decode(&e.sha256).ok()?,
                spooled: spooled.range(&e.name)?,
            })
        })
        .collect();
    let statement: serde_json::Value =
        serde_json::from_slice(bundle.payload()).map_err(|e| ImportError::Invalid {
            file: file.into(),
            message: format!("statement: {e}"),
        })?;
    let sequence = predicate.sequence.map(|s| s as i64);
    let base = predicate.base.as_deref().and_then(|b| hex::decode(b).ok());
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let kind = predicate.kind;
    let fail_db = |what: &str| {
        let what = what.to_string();
        move |e: postgres::Error| ImportError::Db {
            file: file.into(),
            source: DbError::query(&what, e),
        }
    };

    let mut tx = client
        .transaction()
        .map_err(fail_db("starting the import transaction"))?;
    tenant.ensure(&mut tx).map_err(|source| ImportError::Db {
        file: file.into(),
        source,
    })?;
    // Serialize imports of the same source so the freshness check sees the latest active bundle.
    let source_lock = LockKey::Source {
        tenant: tenant.id,
        kind: kind.as_str(),
        source: &predicate.source,
    }
    .key();
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&source_lock])
        .map_err(fail_db("locking the source"))?;
    let reason = if kind == Kind::Feed {
        check_freshness(
            &mut tx,
            tenant,
            &predicate.source,
            created,
            sequence,
            req.allow_older,
            file,
        )?
    } else {
        None
    };
    // The ledger row first: its unique key decides between concurrent importers.
    let row = tx
        .query_opt(
            "INSERT INTO bundle_import (tenant_id, bundle_sha256, kind, source, created, sequence, base_sha256,
                                        signer_keyid, envelope, statement, file_name, size_bytes,
                                        allow_older_reason, imported_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (tenant_id, bundle_sha256) DO NOTHING
             RETURNING import_id",
            &[
                &tenant.id,
                &sha,
                &kind.as_str(),
                &predicate.source,
                &created,
                &sequence,
                &base,
                &bundle.keyid(),
                &bundle.envelope(),
                &statement,
                &file_name,
                &(bundle.size() as i64),
                &reason,
                &req.imported_by,
            ],
        )
        .map_err(fail_db("writing the ledger row"))?;
    let Some(row) = row else {
        // Another importer committed the same bundle while we verified it.
        tx.rollback().map_err(fail_db("rolling back"))?;
        let done =
            ledger_lookup(client, tenant, &sha, file)?.ok_or_else(|| ImportError::Invalid {
                file: file.into(),
                message: "the ledger row of a concurrent import vanished; import again".into(),
            })?;
        return Ok(done.outcome(file, &sha_hex, started));
    };
    let import_id: i64 = row.get(0);
    let superuser = tx
        .query_one("SELECT current_setting('is_superuser') = 'on'", &[])
        .map_err(fail_db("reading the session's privileges"))?
        .get::<_, bool>(0);
    let ctx = LoadContext {
        tenant: tenant.id,
        import_id,
        file,
        progress: req.progress,
        spool: &spooled,
        connect_helper: req.connect_helper,
        superuser,
    };
    let total: u64 = bundle.entries().iter().map(|e| e.size).sum();
    req.progress.start("importing", Some(total));
    let loaded = match kind {
        Kind::Feed => feed::load(&mut tx, &ctx, &entries),
        Kind::Sbom => sbom::load(&mut tx, &ctx, &entries),
        Kind::Vex => vex::load(&mut tx, &ctx, &entries),
        Kind::Snapshot => snapshot::load(
            &mut tx,
            &ctx,
            &snapshot::SnapshotContext {
                predicate: &predicate,
                imported_by: req.imported_by,
                file_name: &file_name,
            },
            &entries,
        ),
    };
    req.progress.finish();
    let loaded = loaded?;
    let details = serde_json::json!({
        "file": file.display().to_string(), "kind": kind.as_str(), "source": predicate.source,
        "import_id": import_id, "signer": bundle.keyid(), "documents": loaded.documents,
        "imported_by": req.imported_by,
    });
    crate::events::record(
        &mut tx,
        tenant.id,
        "import",
        crate::events::Outcome::Ok,
        Some(&sha_hex),
        &details,
    )
    .map_err(|e| ImportError::Invalid {
        file: file.into(),
        message: format!("recording the import event: {e}"),
    })?;
    tx.commit().map_err(fail_db("committing the import"))?;
    Ok(ImportOutcome {
        file: file.display().to_string(),
        sha256: sha_hex,
        kind: kind.as_str().into(),
        source: predicate.source,
        status: ImportStatus::Imported,
        import_id,
        documents: loaded.documents,
        components: loaded.components,
        vex_statements: loaded.vex_statements,
        advisories: loaded.advisories,
        warnings: loaded.warnings,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A bundle the ledger already has.
struct AlreadyImported {
    import_id: i64,
    kind: String,
    source: String,
    documents: u64,
}

impl AlreadyImported {
    fn outcome(self, file: &Path, sha_hex: &str, started: Instant) -> ImportOutcome {
        ImportOutcome {
            file: file.display().to_string(),
            sha256: sha_hex.to_string(),
            kind: self.kind,
            source: self.source,
            status: ImportStatus::AlreadyImported,
            import_id: self.import_id,
            documents: DocumentCounts {
                new: 0,
                existing: self.documents,
            },
            components: 0,
            vex_statements: 0,
            advisories: 0,
            warnings: Vec::new(),
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

fn ledger_lookup(
    client: &mut postgres::Client,
    tenant: &Tenant,
    sha: &[u8],
    file: &Path,
) -> Result<Option<AlreadyImported>, ImportError> {
    let db = |e| ImportError::Db {
        file: file.into(),
        source: DbError::query("reading the import ledger", e),
    };
    let Some(row) = client
        .query_opt(hot_queries::IMPORT_BY_SHA256.sql, &[&tenant.id, &sha])
        .map_err(db)?
    else {
        return Ok(None);
    };
    let import_id: i64 = row.get(0);
    let documents: i64 = client
        .query_one(
            "SELECT count(*) FROM bundle_document WHERE tenant_id = $1 AND import_id = $2",
            &[&tenant.id, &import_id],
        )
        .map_err(db)?
        .get(0);
    Ok(Some(AlreadyImported {
        import_id,
        kind: row.get(1),
        source: row.get(2),
        documents: documents as u64,
    }))
}

/// Refuse a feed older than the active one of its source unless forced with a reason.
fn check_freshness(
    tx: &mut postgres::Transaction<'_>,
    tenant: &Tenant,
    source: &str,
    created: chrono::DateTime<chrono::Utc>,
    sequence: Option<i64>,
    allow_older: Option<&str>,
    file: &Path,
) -> Result<Option<String>, ImportError> {
    let active = tx
        .query_opt(
            hot_queries::ACTIVE_BUNDLE_OF_SOURCE.sql,
            &[&tenant.id, &"feed", &source],
        )
        .map_err(|e| ImportError::Db {
            file: file.into(),
            source: DbError::query("reading the active feed", e),
        })?;
    let Some(active) = active else {
        return Ok(None);
    };
    let active_seq: Option<i64> = active.get(1);
    let active_created: chrono::DateTime<chrono::Utc> = active.get(2);
    let older = match (sequence, active_seq) {
        (Some(new), Some(old)) if new < old => Some(format!("sequence {new} < active {old}")),
        (Some(_), Some(_)) => None,
        _ if created < active_created => Some(format!(
            "created {} < active {}",
            created.format("%Y-%m-%dT%H:%M:%SZ"),
            active_created.format("%Y-%m-%dT%H:%M:%SZ")
        )),
        _ => None,
    };
    match (older, allow_older) {
        (None, _) => Ok(None),
        (Some(detail), Some(reason)) => Ok(Some(format!("{reason} ({detail})"))),
        (Some(detail), None) => Err(ImportError::OlderFeed {
            file: file.into(),
            source_name: source.into(),
            detail,
        }),
    }
}

fn sha256_file(path: &Path) -> Result<Vec<u8>, ImportError> {
    let io = |source| ImportError::Io {
        file: path.into(),
        path: path.into(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().to_vec())
}
