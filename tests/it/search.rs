//! `advisories search`: full-text over the rustsec and pypa fixtures finds the records whose
//! text says so (checked against the raw files), ids and aliases match exactly, `--ecosystem`
//! filters, and only current versions are shown.

use crate::harness::*;
use crate::scan::{file, Site};
use serde_json::{json, Value};

fn search(site: &Site, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["advisories", "search", "--json"];
    all.extend_from_slice(args);
    let out = stella_db(&site.db, &all);
    assert_exit(&out, 0);
    json(&out)["advisories"].as_array().unwrap().clone()
}

fn ids(hits: &[Value]) -> Vec<String> {
    hits.iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

fn fixtures_site() -> Site {
    let site = Site::new();
    site.import(
        "feed",
        "rustsec",
        &fixture_files("osv/rustsec", &[".json"]),
        "2026-11-01T00:00:00Z",
    );
    site.import(
        "feed",
        "pypa",
        &fixture_files("osv/pypa", &[".yaml", ".yml"]),
        "2026-11-01T00:00:00Z",
    );
    site
}

#[test]
fn full_text_ids_and_aliases() {
    let site = fixtures_site();
    // The three fixtures whose summary or details say "heap ... overflow" (grep -il heap, then
    // -il overflow, over the raw files): RUSTSEC-2021-0003 ("heap buffer overflow" in its
    // details), PYSEC-2021-177 and PYSEC-2021-408 (TensorFlow heap buffer overflows).
    let mut got = ids(&search(&site, &["heap overflow", "--limit", "50"]));
    got.sort();
    assert_eq!(
        got,
        ["PYSEC-2021-177", "PYSEC-2021-408", "RUSTSEC-2021-0003"]
    );
    // --ecosystem keeps the crate.
    assert_eq!(
        ids(&search(
            &site,
            &["heap overflow", "--ecosystem", "crates.io"]
        )),
        ["RUSTSEC-2021-0003"]
    );
    // An id, exactly; its aliases and package shown.
    let h = search(&site, &["RUSTSEC-2021-0003"]);
    assert_eq!(h[0]["id"], "RUSTSEC-2021-0003");
    assert_eq!(h[0]["matched"], "exact");
    assert_eq!(
        h[0]["aliases"],
        json!(["CVE-2021-25900", "GHSA-43w2-9j62-hq99"])
    );
    assert_eq!(h[0]["packages"], json!(["crates.io/smallvec"]));
    assert_eq!(h[0]["summary"], "Buffer overflow in SmallVec::insert_many");
    // A CVE alias, in any case, finds the record that aliases it; so does its GHSA id.
    assert_eq!(
        ids(&search(&site, &["cve-2021-25900"]))[0],
        "RUSTSEC-2021-0003"
    );
    assert_eq!(
        ids(&search(&site, &["GHSA-43W2-9J62-HQ99"]))[0],
        "RUSTSEC-2021-0003"
    );
    assert_eq!(
        ids(&search(&site, &["CVE-2021-29540"]))[0],
        "PYSEC-2021-177"
    );
    // Nothing found: empty, exit 0.
    assert!(search(&site, &["zzzqqq nonexistentword"]).is_empty());
}

#[test]
fn only_current_versions_are_found() {
    let site = Site::new();
    let rec = |summary: &str, modified: &str| {
        serde_json::to_vec(&json!({
            "schema_version": "1.6.0", "id": "TEST-1", "modified": modified,
            "summary": summary,
            "affected": [{"package": {"ecosystem": "npm", "name": "x"}, "versions": ["1.0.0"]}],
        }))
        .unwrap()
    };
    site.import_seq(
        "feed",
        "t",
        &[file(
            "a.json",
            rec("integer underflow in parser", "2025-01-01T00:00:00Z"),
        )],
        "2026-11-01T00:00:00Z",
        Some(1),
    );
    site.import_seq(
        "feed",
        "t",
        &[file(
            "a.json",
            rec("path traversal in archive", "2025-02-01T00:00:00Z"),
        )],
        "2026-11-02T00:00:00Z",
        Some(2),
    );
    assert!(search(&site, &["underflow"]).is_empty());
    let h = search(&site, &["traversal"]);
    assert_eq!(ids(&h), ["TEST-1"]);
    assert_eq!(h[0]["summary"], "path traversal in archive");
    assert_eq!(h[0]["packages"], json!(["npm/x"]));
    let out = stella_db(&site.db, &["advisories", "search", "traversal"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("TEST-1"));
}
