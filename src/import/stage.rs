//! Bulk loading: rows are collected per batch, sent with binary `COPY` into temporary staging
//! tables, and moved into the real tables with set-based `INSERT ... ON CONFLICT` statements.
//! Never row by row.

use bytes::{BufMut, BytesMut};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
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

/// The JSON text of a document for its `jsonb` column: JSON as it is (without a UTF-8 BOM),
/// YAML converted.
pub fn json_text(raw: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    let trimmed = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    let first = trimmed.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{') | Some(b'[')) {
        return Ok(std::borrow::Cow::Borrowed(trimmed));
    }
    let value: serde_json::Value = serde_yaml_ng::from_slice(trimmed).map_err(|e| e.to_string())?;
    serde_json::to_vec(&value)
        .map(std::borrow::Cow::Owned)
        .map_err(|e| e.to_string())
}

/// Whether the raw bytes are YAML rather than JSON.
pub fn is_yaml(raw: &[u8]) -> bool {
    let trimmed = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    !matches!(
        trimmed.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{') | Some(b'[')
    )
}
