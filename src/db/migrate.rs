//! Migrations: the numbered SQL files of `migrations/`, embedded at build time. Each is applied
//! with its ledger row in one transaction, except files marked `-- stella:no-transaction` (index
//! builds that must run CONCURRENTLY), whose statements run one by one and must be idempotent.
//! The ledger keeps each file's sha256: an applied file whose bytes changed is refused. Two
//! migrators serialize on an advisory lock.

use super::locks::LockKey;
use super::DbError;
use sha2::{Digest, Sha256};

/// One migration file compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedMigration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

impl EmbeddedMigration {
    pub fn sha256(&self) -> Vec<u8> {
        Sha256::digest(self.sql.as_bytes()).to_vec()
    }
    fn no_transaction(&self) -> bool {
        self.sql
            .lines()
            .next()
            .is_some_and(|l| l.trim() == "-- stella:no-transaction")
    }
}

/// All migrations, in version order.
pub const MIGRATIONS: &[EmbeddedMigration] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// Months of event partitions kept ready ahead of the current one.
pub const PARTITIONS_AHEAD: i32 = 3;

/// What `migrate` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct MigrateReport {
    pub applied: Vec<String>,
    pub current_version: i32,
    pub partitions_created: i32,
}

/// Apply pending migrations and keep event partitions ahead of time.
pub fn migrate(client: &mut postgres::Client) -> Result<MigrateReport, DbError> {
    migrate_up_to(client, None)
}

/// Apply the pending migrations up to version `last` (all when `None`): `migrate` for a site,
/// and for tests that fill a database as an older release left it, then upgrade it.
pub fn migrate_up_to(
    client: &mut postgres::Client,
    last: Option<i32>,
) -> Result<MigrateReport, DbError> {
    let key = LockKey::Migrate.key();
    // Poll with try-lock rather than block in pg_advisory_lock: a blocked waiter keeps a snapshot
    // open, and CREATE INDEX CONCURRENTLY in the holder's migration waits for that snapshot, a
    // deadlock.
    loop {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .map_err(|e| DbError::query("taking the migration lock", e))?
            .get(0);
        if got {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let result = migrate_locked(client, last);
    let unlock = client.execute("SELECT pg_advisory_unlock($1)", &[&key]);
    let report = result?;
    unlock.map_err(|e| DbError::query("releasing the migration lock", e))?;
    Ok(report)
}

fn migrate_locked(
    client: &mut postgres::Client,
    last: Option<i32>,
) -> Result<MigrateReport, DbError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS stella_migration (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 sha256     bytea NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );
             COMMENT ON TABLE stella_migration IS 'class: system; migration ledger';",
        )
        .map_err(|e| DbError::query("creating the migration ledger", e))?;
    let rows = client
        .query(
            "SELECT version, name, sha256 FROM stella_migration ORDER BY version",
            &[],
        )
        .map_err(|e| DbError::query("reading the migration ledger", e))?;
    let mut report = MigrateReport::default();
    for row in &rows {
        let version: i32 = row.get(0);
        let name: String = row.get(1);
        let sha: Vec<u8> = row.get(2);
        match MIGRATIONS.iter().find(|m| m.version == version) {
            None => return Err(DbError::MigrationUnknown { version, name }),
            Some(m) if m.sha256() != sha => {
                return Err(DbError::MigrationEdited {
                    version,
                    name,
                    applied: hex::encode(sha),
                    embedded: hex::encode(m.sha256()),
                })
            }
            Some(_) => {}
        }
    }
    for m in MIGRATIONS {
        if rows.iter().any(|r| r.get::<_, i32>(0) == m.version)
            || last.is_some_and(|l| m.version > l)
        {
            continue;
        }
        let what = format!("migration {} ({})", m.version, m.name);
        if m.no_transaction() {
            for stmt in split_statements(m.sql) {
                client
                    .batch_execute(stmt)
                    .map_err(|e| DbError::query(&what, e))?;
            }
            let invalid = client
                .query(
                    "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE NOT i.indisvalid AND n.nspname = current_schema()",
                    &[],
                )
                .map_err(|e| DbError::query(&what, e))?;
            if let Some(r) = invalid.first() {
                return Err(DbError::InvalidIndex {
                    version: m.version,
                    name: m.name.into(),
                    index: r.get(0),
                });
            }
            client
                .execute(
                    "INSERT INTO stella_migration (version, name, sha256) VALUES ($1, $2, $3)",
                    &[&m.version, &m.name, &m.sha256()],
                )
                .map_err(|e| DbError::query(&what, e))?;
        } else {
            let mut tx = client.transaction().map_err(|e| DbError::query(&what, e))?;
            tx.batch_execute(m.sql)
                .map_err(|e| DbError::query(&what, e))?;
            tx.execute(
                "INSERT INTO stella_migration (version, name, sha256) VALUES ($1, $2, $3)",
                &[&m.version, &m.name, &m.sha256()],
            )
            .map_err(|e| DbError::query(&what, e))?;
            tx.commit().map_err(|e| DbError::query(&what, e))?;
        }
        report.applied.push(format!("{:04}_{}", m.version, m.name));
    }
    report.current_version = MIGRATIONS
        .iter()
        .map(|m| m.version)
        .filter(|v| last.map_or(true, |l| *v <= l))
        .max()
        .unwrap_or(0);
    report.partitions_created = client
        .query_one(
            "SELECT stella_ensure_partitions('event', $1)",
            &[&PARTITIONS_AHEAD],
        )
        .map_err(|e| DbError::query("creating event partitions", e))?
        .get(0);
    Ok(report)
}

/// Statements of a no-transaction migration: split at `;` ending a line, except inside a
/// dollar-quoted body (`$$ ... $$`, `$tag$ ... $tag$`: function bodies hold statements of their
/// own); `--` comments are skipped while looking for quotes, statements of comments only dropped.
fn split_statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut quote: Option<&str> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'-' if quote.is_none() && bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'$' => {
                let tag_len = bytes[i + 1..]
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                    .filter(|&n| bytes.get(i + 1 + n) == Some(&b'$'));
                if let Some(n) = tag_len {
                    let tag = &sql[i..i + n + 2];
                    match quote {
                        None => quote = Some(tag),
                        Some(open) if open == tag => quote = None,
                        Some(_) => {}
                    }
                    i += n + 2;
                    continue;
                }
            }
            b';' if quote.is_none() && bytes.get(i + 1) == Some(&b'\n') => {
                out.push(&sql[start..=i]);
                start = i + 2;
            }
            _ => {}
        }
        i += 1;
    }
    if !sql[start..].trim().is_empty() {
        out.push(&sql[start..]);
    }
    out.into_iter()
        .filter(|s| {
            s.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
        })
        .collect()
}

/// Whether this database is missing migrations (without taking the lock).
pub fn pending(client: &mut postgres::Client) -> Result<bool, DbError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('stella_migration') IS NOT NULL", &[])
        .map_err(|e| DbError::query("reading the migration ledger", e))?
        .get(0);
    if !exists {
        return Ok(true);
    }
    let max: Option<i32> = client
        .query_one("SELECT max(version) FROM stella_migration", &[])
        .map_err(|e| DbError::query("reading the migration ledger", e))?
        .get(0);
    Ok(max.unwrap_or(0) < MIGRATIONS.last().map(|m| m.version).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        assert!(!MIGRATIONS.is_empty());
        for w in MIGRATIONS.windows(2) {
            assert!(w[0].version < w[1].version);
        }
    }

    #[test]
    fn split_keeps_statements() {
        let s =
            "-- stella:no-transaction\n-- c\nCREATE INDEX a ON t (x);\nCREATE INDEX b ON t (y);\n";
        assert_eq!(split_statements(s).len(), 2);
    }

    #[test]
    fn split_keeps_dollar_quoted_bodies_whole() {
        let s = "-- stella:no-transaction\n-- a $comment; with a dollar\nCREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n    RAISE NOTICE 'x';\n    RETURN NULL;\nEND $$;\nCREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$\nSELECT 1;\n$body$;\nDROP INDEX CONCURRENTLY IF EXISTS i;\n";
        let parts = split_statements(s);
        assert_eq!(parts.len(), 3, "{parts:#?}");
        assert!(parts[0].contains("RETURN NULL;") && parts[0].trim_end().ends_with("END $$;"));
        assert!(parts[1].contains("$body$;"));
        assert!(parts[2].contains("DROP INDEX"));
        // Every shipped no-transaction migration splits into complete statements.
        for m in MIGRATIONS.iter().filter(|m| m.no_transaction()) {
            for stmt in split_statements(m.sql) {
                assert_eq!(stmt.matches("$$").count() % 2, 0, "{}: {stmt}", m.name);
            }
        }
    }
}
