//! `--json` outputs pinned by structs that deny unknown fields: SPEC section 3's fixed fields are
//! required, and any field added to an output must be added here too (on purpose).

use crate::harness::*;
use serde::Deserialize;

fn parse<T: for<'de> Deserialize<'de>>(o: &std::process::Output) -> T {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DbStatus {
    running: bool,
    embedded: bool,
    url: String,
    data_dir: Option<String>,
    server_version: Option<String>,
    system_identifier: Option<String>,
    pid: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Verify {
    bundles: Vec<VerifiedBundle>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct VerifiedBundle {
    file: String,
    ok: bool,
    kind: Option<String>,
    source: Option<String>,
    keyid: Option<String>,
    sha256: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Import {
    bundles: Vec<ImportedBundle>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ImportedBundle {
    file: String,
    sha256: String,
    kind: String,
    source: String,
    status: String,
    import_id: i64,
    documents: Documents,
    components: u64,
    vex_statements: u64,
    advisories: u64,
    warnings: Vec<String>,
    seconds: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Documents {
    new: u64,
    existing: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Scan {
    scan_id: String,
    manifest: String,
    result_digest: String,
    counts: serde_json::Map<String, serde_json::Value>,
    restore_point: Option<String>,
    lsn: Option<String>,
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Findings {
    findings: Vec<FindingRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FindingRow {
    artifact_purl: String,
    component_purl: String,
    advisory_id: String,
    aliases: Vec<String>,
    status: String,
    justification: Option<String>,
    severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Status {
    database: serde_json::Value,
    feeds: Vec<serde_json::Value>,
    last_import: Option<String>,
    backups: serde_json::Value,
    archive: Option<serde_json::Value>,
    queue: serde_json::Value,
    scans: i64,
    unreplayable_scans: Vec<serde_json::Value>,
    problems: Vec<String>,
    ok: bool,
}

#[test]
fn json_outputs_are_pinned() {
    let db = fresh_db();
    let key = test_key(3);
    let pubf = key.pub_file.to_str().unwrap();

    let s: DbStatus = parse(&stella_db(&db, &["db", "status", "--json"]));
    assert!(s.running && s.system_identifier.is_some());

    let rec = serde_json::json!({
        "id": "PIN-1", "modified": "2026-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]
    });
    let feed = make_bundle(
        &key,
        "feed",
        "pin",
        &[("r.json", serde_json::to_vec(&rec).unwrap())],
        "2026-11-01T00:00:00Z",
        None,
    );
    let sbom = serde_json::json!({
        "bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1,
        "metadata": {"component": {"type": "application", "name": "app", "purl": "pkg:npm/app@1.0.0"}},
        "components": [{"type": "library", "name": "left-pad", "version": "1.3.0", "purl": "pkg:npm/left-pad@1.3.0"}]
    });
    let sboms = make_bundle(
        &key,
        "sbom",
        "pin-s",
        &[("s.json", serde_json::to_vec(&sbom).unwrap())],
        "2026-11-01T00:00:00Z",
        None,
    );

    let v: Verify = parse(&stella_db(
        &db,
        &["verify", "--json", "--trust", pubf, feed.to_str().unwrap()],
    ));
    assert!(v.bundles[0].ok);
    let i: Import = parse(&stella_db(
        &db,
        &[
            "import",
            "--json",
            "--trust",
            pubf,
            feed.to_str().unwrap(),
            sboms.to_str().unwrap(),
        ],
    ));
    assert_eq!(i.bundles.len(), 2);
    let out = scratch_dir("stella-pin-");
    let manifest = out.join("m.json");
    let sc: Scan = parse(&stella_db(
        &db,
        &[
            "scan",
            "--json",
            "--key",
            key.key_file.to_str().unwrap(),
            "--manifest-out",
            manifest.to_str().unwrap(),
        ],
    ));
    assert_eq!(sc.counts["findings"], 1);
    let f: Findings = parse(&stella_db(&db, &["findings", "--json"]));
    assert_eq!(f.findings.len(), 1);
    let st: Status = parse(&stella_db(&db, &["status", "--json"]));
    assert_eq!(st.scans, 1);
    // On a fresh, empty home too (SPEC section 3), without creating a cluster.
    let home = embedded_home();
    let fresh: Status = parse(&stella_home(&home, &["status", "--json"]));
    assert!(fresh.ok && !home.join("pg").exists());
}
