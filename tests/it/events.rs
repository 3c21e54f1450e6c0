//! The audit trail: events exist only when their command's transaction commits, carry who/where,
//! and `events` lists them with `--since`, `--kind` and `--limit`.

use crate::harness::*;
use stella_bundle::db::Tenant;
use stella_bundle::events::{self, Outcome};

#[test]
fn recorded_in_the_commands_transaction_and_listed() {
    let db = fresh_db();
    let t = Tenant::new("default");
    let mut c = db.client();
    t.ensure(&mut c).unwrap();

    // A command that dies before committing leaves no event claiming success.
    let mut tx = c.transaction().unwrap();
    events::record(
        &mut tx,
        t.id,
        "import",
        Outcome::Ok,
        Some("abc"),
        &serde_json::json!({}),
    )
    .unwrap();
    drop(tx);
    let mut tx = c.transaction().unwrap();
    events::record(
        &mut tx,
        t.id,
        "import",
        Outcome::Ok,
        Some("sha-1"),
        &serde_json::json!({"documents": 3}),
    )
    .unwrap();
    tx.commit().unwrap();
    events::record(
        &mut c,
        t.id,
        "trust",
        Outcome::Refused,
        Some("key-9"),
        &serde_json::json!({"reason": "expired"}),
    )
    .unwrap();
    events::record(
        &mut c,
        t.id,
        "scan",
        Outcome::Failed,
        None,
        &serde_json::json!({}),
    )
    .unwrap();
    assert!(events::record(
        &mut c,
        t.id,
        "Bad Kind",
        Outcome::Ok,
        None,
        &serde_json::json!({})
    )
    .is_err());
    assert!(events::record(
        &mut c,
        t.id,
        "scan",
        Outcome::Ok,
        None,
        &serde_json::json!([1])
    )
    .is_err());

    let out = stella_db(&db, &["events", "--json"]);
    assert_exit(&out, 0);
    let j = json(&out);
    let list = j["events"].as_array().unwrap();
    let kinds: Vec<&str> = list.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["import", "trust", "scan"]);
    assert_eq!(list[0]["subject"], "sha-1");
    assert_eq!(list[0]["details"]["documents"], 3);
    assert_eq!(list[1]["outcome"], "refused");
    assert!(!list[0]["os_user"].as_str().unwrap().is_empty());
    assert!(!list[0]["host"].as_str().unwrap().is_empty());

    let out = stella_db(&db, &["events", "--kind", "trust", "--json"]);
    assert_eq!(json(&out)["events"].as_array().unwrap().len(), 1);
    let out = stella_db(&db, &["events", "--limit", "2", "--json"]);
    let j = json(&out);
    assert_eq!(j["events"].as_array().unwrap().len(), 2);
    assert_eq!(j["truncated"], true);
    let out = stella_db(&db, &["events", "--since", "2999-01-01", "--json"]);
    assert_eq!(json(&out)["events"].as_array().unwrap().len(), 0);
    let out = stella_db(&db, &["events", "--since", "1h"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("trust"), "{}", stdout(&out));
    assert_exit(&stella_db(&db, &["events", "--since", "yesterday"]), 2);
}
