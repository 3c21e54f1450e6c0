//! Migrations: ledger, edited files refused, concurrent migrators serialized.

use crate::harness::*;

#[test]
fn migrate_is_idempotent_and_records_hashes() {
    let db = empty_db();
    let first = stella_db(&db, &["db", "migrate", "--json"]);
    assert_exit(&first, 0);
    let applied = json(&first)["applied"].as_array().unwrap().len();
    assert_eq!(applied, stella_bundle::db::migrate::MIGRATIONS.len());
    let second = stella_db(&db, &["db", "migrate", "--json"]);
    assert_exit(&second, 0);
    assert_eq!(json(&second)["applied"].as_array().unwrap().len(), 0);
    let mut c = db.client();
    for m in stella_bundle::db::migrate::MIGRATIONS {
        let sha: Vec<u8> = c
            .query_one(
                "SELECT sha256 FROM stella_migration WHERE version = $1",
                &[&m.version],
            )
            .unwrap()
            .get(0);
        assert_eq!(sha, m.sha256());
    }
}

#[test]
fn edited_migration_is_refused() {
    let db = fresh_db();
    let mut c = db.client();
    c.execute(
        "UPDATE stella_migration SET sha256 = '\\x00' WHERE version = 1",
        &[],
    )
    .unwrap();
    let out = stella_db(&db, &["db", "migrate"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("was changed after it was applied"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_newer_migration_is_refused() {
    let db = fresh_db();
    let mut c = db.client();
    c.execute(
        "INSERT INTO stella_migration (version, name, sha256) VALUES (9999, 'future', '\\x00')",
        &[],
    )
    .unwrap();
    let out = stella_db(&db, &["db", "migrate"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("newer stella-bundle"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn concurrent_migrators_serialize() {
    let db = empty_db();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || stella(&["--database-url", &url, "db", "migrate", "--json"]))
        })
        .collect();
    let mut applied_total = 0;
    for h in handles {
        let out = h.join().unwrap();
        assert_exit(&out, 0);
        applied_total += json(&out)["applied"].as_array().unwrap().len();
    }
    assert_eq!(
        applied_total,
        stella_bundle::db::migrate::MIGRATIONS.len(),
        "each migration applied once"
    );
    let mut c = db.client();
    let n: i64 = c
        .query_one("SELECT count(*) FROM stella_migration", &[])
        .unwrap()
        .get(0);
    assert_eq!(n as usize, stella_bundle::db::migrate::MIGRATIONS.len());
}
