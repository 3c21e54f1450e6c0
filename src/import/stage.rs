//! Bulk loading: entries are parsed a batch ahead on a second thread; per batch, the documents
//! go with binary `COPY` into a temporary staging table and into their table with one set-based
//! `INSERT ... ON CONFLICT DO NOTHING RETURNING`, and the child rows of the documents it inserted
//! go with binary `COPY` straight into their tables. Never row by row.

use super::{Entry, ImportError};
use bytes::{BufMut, BytesMut};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use std::collections::{HashMap, HashSet};
use std::error::Error;

/// JSON text sent as `jsonb` without parsing it into a tree first.
#[derive(Debug)]
pub struct RawJsonb<'a>(pub &'a [u8]);

impl ToSql for RawJsonb<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.put_u8(1); // jsonb binary format version
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }
    to_sql_checked!();
}

/// One staged row: its values in column order.
pub type Row<'a> = Vec<&'a (dyn ToSql + Sync)>;

/// `COPY table (columns) FROM STDIN BINARY` of `rows`.
pub fn copy_in(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    columns: &[(&str, Type)],
    rows: &mut dyn Iterator<Item = Row<'_>>,
) -> Result<u64, postgres::Error> {
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let types: Vec<Type> = columns.iter().map(|(_, t)| t.clone()).collect();
    let sink = tx.copy_in(&format!(
        "COPY {table} ({}) FROM STDIN BINARY",
        names.join(", ")
    ))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    for row in rows {
        writer.write(&row)?;
    }
    writer.finish()
}

/// The JSON text of a document for its `jsonb` column: JSON as it is (the document's own bytes
/// after any UTF-8 BOM, not copied), YAML converted.
#[derive(Debug)]
pub enum JsonText {
    /// The raw bytes from this offset on.
    Own(usize),
    Converted(Vec<u8>),
}

impl JsonText {
    pub fn of(raw: &[u8]) -> Result<Self, String> {
        let trimmed = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
        if !is_yaml(trimmed) {
            return Ok(JsonText::Own(raw.len() - trimmed.len()));
        }
        let value: serde_json::Value =
            serde_yaml_ng::from_slice(trimmed).map_err(|e| e.to_string())?;
        serde_json::to_vec(&value)
            .map(JsonText::Converted)
            .map_err(|e| e.to_string())
    }
    /// The text, given the document's raw bytes.
    pub fn bytes<'a>(&'a self, raw: &'a [u8]) -> &'a [u8] {
        match self {
            JsonText::Own(start) => &raw[*start..],
            JsonText::Converted(json) => json,
        }
    }
    /// Bytes held besides the raw document.
    pub fn extra_len(&self) -> usize {
        match self {
            JsonText::Own(_) => 0,
            JsonText::Converted(json) => json.len(),
        }
    }
}

/// Whether the raw bytes are YAML rather than JSON.
pub fn is_yaml(raw: &[u8]) -> bool {
    let trimmed = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    !matches!(
        trimmed.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{') | Some(b'[')
    )
}

/// The set-based second half of a batch, the same for every document kind: count the staged
/// documents, insert the new ones (`insert_documents`, with `$1` the tenant and `$2` the import
/// id, returns `id, content_hash` of each document it inserted), run `after` (kind-specific
/// projections), link every staged document to the bundle, and clear the staging tables. The
/// caller then copies the child rows of the new documents straight into their table (see
/// [`copy_children`]): a document's children are written only by the transaction that inserted
/// the document, so they need no conflict handling of their own.
pub(crate) struct BatchSql<'a> {
    /// Staging table of the documents (`content_hash`, `path`, ...).
    pub stage: &'a str,
    /// Further scratch tables to clear with the stage (filled by `insert_documents` for `after`).
    pub scratch: &'a [&'a str],
    /// `bundle_document.doc_type`.
    pub doc_type: &'a str,
    pub insert_documents: &'a str,
    /// A statement run after the documents (`$1` the tenant), e.g. the current-version projection.
    pub after: Option<(&'a str, &'a str)>,
    /// What the documents are, for error messages ("SBOM documents").
    pub what: &'a str,
}

/// What a batch stored.
pub(crate) struct BatchCounts {
    pub new: u64,
    pub existing: u64,
    /// The id of each document this batch inserted, by content hash.
    pub ids: HashMap<Vec<u8>, i64>,
}

pub(crate) fn move_batch(
    tx: &mut postgres::Transaction<'_>,
    ctx: &super::LoadContext<'_>,
    sql: &BatchSql<'_>,
) -> Result<BatchCounts, ImportError> {
    let staged_unique: i64 = tx
        .query_one(
            &format!("SELECT count(DISTINCT content_hash) FROM {}", sql.stage),
            &[],
        )
        .map_err(ctx.db(&format!("counting staged {}", sql.what)))?
        .get(0);
    let ids: HashMap<Vec<u8>, i64> = tx
        .query(sql.insert_documents, &[&ctx.tenant, &ctx.import_id])
        .map_err(ctx.db(&format!("inserting {}", sql.what)))?
        .iter()
        .map(|r| (r.get(1), r.get(0)))
        .collect();
    // The projection rows point at documents this batch inserted, the links at this import's
    // ledger row.
    referencing_own_rows(tx, ctx, |tx| {
        if let Some((statement, what)) = sql.after {
            tx.execute(statement, &[&ctx.tenant])
                .map_err(ctx.db(what))?;
        }
        tx.execute(
            &format!(
                "INSERT INTO bundle_document (tenant_id, import_id, path, doc_type, content_hash)
                 SELECT $1, $2, path, '{}', content_hash FROM {}",
                sql.doc_type, sql.stage
            ),
            &[&ctx.tenant, &ctx.import_id],
        )
        .map_err(ctx.db("linking documents to the bundle"))
    })?;
    let mut clear = vec![sql.stage];
    clear.extend_from_slice(sql.scratch);
    tx.batch_execute(&format!("TRUNCATE {}", clear.join(", ")))
        .map_err(ctx.db("clearing staging tables"))?;
    let new = ids.len() as u64;
    Ok(BatchCounts {
        new,
        existing: staged_unique as u64 - new,
        ids,
    })
}

/// `COPY` the child rows of newly inserted documents into their final table: `table (tenant_id,
/// PARENT, columns...)`, where each row is `(document id, values)`. Callers pass the rows in the
/// order of the table's busiest index so the b-tree inserts land on neighbouring pages. Every
/// document id comes from this transaction's own `INSERT ... RETURNING`, so the foreign key
/// check can only pass: see [`referencing_own_rows`].
pub(crate) fn copy_children<'r>(
    tx: &mut postgres::Transaction<'_>,
    ctx: &super::LoadContext<'_>,
    table: &str,
    parent: &str,
    columns: &[(&str, Type)],
    rows: &mut dyn Iterator<Item = (&'r i64, Row<'r>)>,
    what: &str,
) -> Result<u64, ImportError> {
    let mut all = vec![("tenant_id", Type::UUID), (parent, Type::INT8)];
    all.extend_from_slice(columns);
    referencing_own_rows(tx, ctx, |tx| {
        copy_in(
            tx,
            table,
            &all,
            &mut rows.map(|(id, values)| {
                let mut row: Row<'_> = Vec::with_capacity(values.len() + 2);
                row.push(&ctx.tenant);
                row.push(id);
                row.extend(values);
                row
            }),
        )
        .map_err(ctx.db(&format!("inserting {what}")))
    })
}

/// Run `write`, whose rows reference only rows this transaction inserted itself (documents'
/// child rows, the bundle's document links, the current-version projection), without their
/// foreign key checks. Such a check (one lookup and one `FOR KEY SHARE` lock per row, as costly
/// as a table's two b-trees together) can only pass: the parent rows are this transaction's own,
/// invisible to others and never deleted. A superuser session (the embedded cluster's) skips them
/// with `session_replication_role = replica`, as `pg_restore --disable-triggers` does; the
/// constraints stay declared and checked for every other writer, and for this import too when it
/// runs as an ordinary role. The setting is transaction-local: an error inside `write` aborts the
/// transaction and with it the setting. The tables written this way carry no triggers (a test
/// keeps it so: they would not fire).
pub(crate) fn referencing_own_rows<T>(
    tx: &mut postgres::Transaction<'_>,
    ctx: &super::LoadContext<'_>,
    write: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, ImportError>,
) -> Result<T, ImportError> {
    let superuser = ctx.superuser;
    if superuser {
        tx.batch_execute("SET LOCAL session_replication_role = replica")
            .map_err(ctx.db("skipping the foreign key checks of our own rows"))?;
    }
    let written = write(tx)?;
    if superuser {
        tx.batch_execute("SET LOCAL session_replication_role = origin")
            .map_err(ctx.db("restoring the foreign key checks"))?;
    }
    Ok(written)
}

/// One entry parsed on the parsing thread: its rows and the warnings it raised.
pub(crate) struct Parsed<D, C> {
    pub doc: D,
    pub children: Vec<C>,
    pub warnings: Vec<String>,
    /// Bytes this entry holds in memory (for batch sizes).
    pub bytes: usize,
}

/// When the parsing thread hands a batch to the loader: past this many bytes held, documents or
/// child rows.
pub(crate) struct BatchLimits {
    pub bytes: usize,
    pub docs: usize,
    pub children: usize,
}

/// The batches of a load start small and grow to what `BatchLimits` say, in these eighths: the
/// loader (and so PostgreSQL) has nothing to do until the first batch is parsed, and each next
/// batch is parsed while the one before it loads, so each may be only a little larger than the
/// one before (loading a record takes longer than parsing it, not twice as long).
const RAMP_EIGHTHS: [usize; 6] = [1, 2, 3, 4, 6, 8];

/// Parsed entries for one round of staging and copying.
pub(crate) struct Batch<D, C> {
    pub docs: Vec<D>,
    pub children: Vec<C>,
    pub warnings: Vec<String>,
}

/// One kind's load: create its staging tables (`staging_ddl`), parse the entries a batch ahead
/// on a second thread (`parse_ahead`, which also runs `ready` on each complete batch), and hand
/// each batch's documents and child rows to `flush`; the parser's warnings are collected into
/// the result.
#[allow(clippy::too_many_arguments)]
pub(crate) fn load_staged<D: Send, C: Send>(
    tx: &mut postgres::Transaction<'_>,
    ctx: &super::LoadContext<'_>,
    entries: &[Entry],
    limits: &BatchLimits,
    staging_ddl: &str,
    parse: impl Fn(&Entry, bool) -> Result<Parsed<D, C>, ImportError> + Sync,
    ready: impl FnMut(&mut [D]) + Send,
    mut flush: impl FnMut(
        &mut postgres::Transaction<'_>,
        &mut Vec<D>,
        &mut Vec<C>,
        &mut super::Loaded,
    ) -> Result<(), ImportError>,
) -> Result<super::Loaded, ImportError> {
    tx.batch_execute(staging_ddl)
        .map_err(ctx.db("creating staging tables"))?;
    let mut loaded = super::Loaded::default();
    parse_ahead(entries, limits, ctx.progress, parse, ready, |mut batch| {
        loaded.warnings.append(&mut batch.warnings);
        flush(tx, &mut batch.docs, &mut batch.children, &mut loaded)
    })?;
    Ok(loaded)
}

/// Parse `entries` on a second thread, a batch at a time, while this thread loads the previous
/// batch: the Rust side (reading, parsing, purl canonicalization) overlaps with PostgreSQL's
/// work instead of alternating with it. `parse` gets each entry and whether it is the first with
/// its content hash in the bundle (only the first one's child rows are extracted); `ready` gets
/// each complete batch's documents on the parsing thread too, for work that can run beside the
/// load (see `feed::SearchVectors`). The channel is a rendezvous, so at most two batches are in
/// memory: the one loading and the next. The first error (from either side) stops both.
pub(crate) fn parse_ahead<D: Send, C: Send>(
    entries: &[Entry],
    limits: &BatchLimits,
    progress: &dyn crate::progress::Progress,
    parse: impl Fn(&Entry, bool) -> Result<Parsed<D, C>, ImportError> + Sync,
    mut ready: impl FnMut(&mut [D]) + Send,
    mut load: impl FnMut(Batch<D, C>) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    std::thread::scope(|s| {
        let (send, recv) = std::sync::mpsc::sync_channel(0);
        let parse = &parse;
        s.spawn(move || {
            let mut seen: HashSet<&[u8]> = HashSet::new();
            let new_batch = || Batch {
                docs: Vec::new(),
                children: Vec::new(),
                warnings: Vec::new(),
            };
            let mut batch = new_batch();
            let mut held = 0usize;
            let mut ramp = RAMP_EIGHTHS.iter().copied();
            let mut eighths = ramp.next().unwrap_or(8);
            let part = |limit: usize, eighths: usize| limit / 8 * eighths;
            for entry in entries {
                let parsed = match parse(entry, seen.insert(&entry.sha256)) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = send.send(Err(e));
                        return;
                    }
                };
                progress.advance(entry.spooled.len);
                held += parsed.bytes;
                batch.docs.push(parsed.doc);
                batch.children.extend(parsed.children);
                batch.warnings.extend(parsed.warnings);
                if held > part(limits.bytes, eighths)
                    || batch.docs.len() >= part(limits.docs, eighths)
                    || batch.children.len() >= part(limits.children, eighths)
                {
                    eighths = ramp.next().unwrap_or(8);
                    ready(&mut batch.docs);
                    // A closed channel means the loader stopped (on an error it reports).
                    if send
                        .send(Ok(std::mem::replace(&mut batch, new_batch())))
                        .is_err()
                    {
                        return;
                    }
                    held = 0;
                }
            }
            if !batch.docs.is_empty() {
                ready(&mut batch.docs);
                let _ = send.send(Ok(batch));
            }
        });
        for batch in recv {
            load(batch?)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                name: format!("e{i}"),
                sha256: (i as u64).to_be_bytes().to_vec(),
                spooled: super::super::spool::Range { offset: 0, len: 1 },
            })
            .collect()
    }

    /// Batches ramp up from an eighth of the limit, every entry arrives once and in order, and
    /// `ready` sees each batch before the loader does.
    #[test]
    fn batches_ramp_up_and_keep_order() {
        let all = entries(700);
        let limits = BatchLimits {
            bytes: usize::MAX,
            docs: 80,
            children: usize::MAX,
        };
        let mut readied: Vec<usize> = Vec::new();
        let mut loaded: Vec<Vec<usize>> = Vec::new();
        parse_ahead(
            &all,
            &limits,
            &crate::progress::Silent,
            |e: &Entry, first| -> Result<Parsed<(usize, bool), ()>, ImportError> {
                assert!(first, "every entry has its own content hash");
                Ok(Parsed {
                    doc: (e.name[1..].parse().unwrap(), false),
                    children: Vec::new(),
                    warnings: Vec::new(),
                    bytes: 1,
                })
            },
            |docs: &mut [(usize, bool)]| {
                readied.push(docs.len());
                docs.iter_mut().for_each(|d| d.1 = true);
            },
            |batch| {
                assert!(batch.docs.iter().all(|d| d.1), "ready ran on every batch");
                loaded.push(batch.docs.iter().map(|d| d.0).collect());
                Ok(())
            },
        )
        .unwrap();
        let sizes: Vec<usize> = loaded.iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 20, 30, 40, 60, 80, 80, 80, 80, 80, 80, 60]);
        assert_eq!(readied, sizes);
        assert_eq!(loaded.concat(), (0..700).collect::<Vec<_>>());
    }
}
