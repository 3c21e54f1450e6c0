//! `findings --format sarif|openvex|cyclonedx`: each document validated by its format's own
//! schema (SARIF 2.1.0 official schema from install-test-deps.sh; CycloneDX 1.5 and OpenVEX 0.2
//! from shared/fixtures) with Python `jsonschema`, and the OpenVEX output re-imported as a VEX
//! bundle giving the same statuses.

use crate::harness::*;
use crate::scan::{file, openvex, vex_site, Site, VEX_APP};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn cache_dir() -> PathBuf {
    if let Some(c) = std::env::var_os("STELLA_TEST_CACHE") {
        return PathBuf::from(c);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache"));
    base.join("stella-bundle")
}

/// Validate `doc` with `schema`; panics with the validator's errors.
#[track_caller]
fn validate(schema: &Path, doc: &[u8]) {
    assert!(
        schema.exists(),
        "{} missing: run scripts/install-test-deps.sh",
        schema.display()
    );
    let dir = scratch_dir("stella-report-");
    let path = dir.join("doc.json");
    std::fs::write(&path, doc).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/validate_json_schema.py");
    let python = std::env::var("STELLA_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(schema)
        .arg(&path)
        .arg(cache_dir().join("py/jsonschema"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{} does not validate:\n{}",
        schema.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A site whose one artifact has findings in all four statuses.
fn four_status_site() -> Site {
    let site = vex_site();
    let doc = openvex(
        "four",
        &[
            (
                "CVE-2025-0001",
                &[],
                VEX_APP,
                Some("pkg:npm/a@1.0.0"),
                "under_investigation",
                None,
                "2025-06-01T00:00:00Z",
            ),
            (
                "CVE-2025-0002",
                &[],
                VEX_APP,
                Some("pkg:npm/b@1.0.0"),
                "not_affected",
                Some("vulnerable_code_not_in_execute_path"),
                "2025-06-01T00:00:00Z",
            ),
            (
                "CVE-2025-0003",
                &[],
                VEX_APP,
                Some("pkg:npm/c@1.0.0"),
                "fixed",
                None,
                "2025-06-01T00:00:00Z",
            ),
            (
                "CVE-2025-0004",
                &[],
                VEX_APP,
                Some("pkg:npm/d@1.0.0"),
                "not_affected",
                None,
                "2025-06-01T00:00:00Z",
            ),
        ],
    );
    site.import(
        "vex",
        "four",
        &[file("four.vex.json", doc)],
        "2026-11-03T00:00:00Z",
    );
    site.scan_ok();
    site
}

fn render(site: &Site, format: &str) -> Vec<u8> {
    let out = stella_db(&site.db, &["findings", "--format", format]);
    assert_exit(&out, 0);
    out.stdout
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let site = four_status_site();
    let bytes = render(&site, "sarif");
    validate(&cache_dir().join("schemas/sarif-2.1.0-rtm.5.json"), &bytes);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let run = &v["runs"][0];
    assert_eq!(v["version"], "2.1.0");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "GHSA-aaaa-aaaa-aaaa",
            "GHSA-bbbb-bbbb-bbbb",
            "GHSA-cccc-cccc-cccc",
            "GHSA-dddd-dddd-dddd",
            "GHSA-eeee-eeee-eeee"
        ]
    );
    let results = run["results"].as_array().unwrap();
    let levels: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["locations"][0]["logicalLocations"][0]["name"]
                    .as_str()
                    .unwrap(),
                r["level"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        [
            ("pkg:npm/a@1.0.0", "warning"),
            ("pkg:npm/b@1.0.0", "note"),
            ("pkg:npm/c@1.0.0", "note"),
            ("pkg:npm/d@1.0.0", "note"),
            ("pkg:npm/e@1.0.0", "error"),
        ]
    );
    assert_eq!(
        results[1]["suppressions"][0]["justification"],
        "vulnerable_code_not_in_execute_path"
    );
    assert_eq!(results[0]["properties"]["artifact_purl"], VEX_APP);
    // Same findings, same bytes.
    assert_eq!(render(&site, "sarif"), bytes);
}

#[test]
fn cyclonedx_vex_validates_against_the_1_5_schema() {
    let site = four_status_site();
    let bytes = render(&site, "cyclonedx");
    validate(&fixture("cyclonedx/schema/bom-1.5.schema.json"), &bytes);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let states: Vec<(&str, &str)> = v["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["id"].as_str().unwrap(),
                x["analysis"]["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("GHSA-aaaa-aaaa-aaaa", "in_triage"),
            ("GHSA-bbbb-bbbb-bbbb", "not_affected"),
            ("GHSA-cccc-cccc-cccc", "resolved"),
            ("GHSA-dddd-dddd-dddd", "not_affected"),
            ("GHSA-eeee-eeee-eeee", "exploitable"),
        ]
    );
    assert_eq!(
        v["vulnerabilities"][1]["analysis"]["justification"],
        "code_not_reachable"
    );
    assert_eq!(
        v["vulnerabilities"][0]["references"][0]["id"],
        "CVE-2025-0001"
    );
    assert_eq!(
        v["vulnerabilities"][0]["affects"][0]["ref"],
        format!("{VEX_APP}#pkg:npm/a@1.0.0")
    );
    assert_eq!(v["components"][0]["purl"], VEX_APP);
}

#[test]
fn openvex_validates_and_round_trips_through_import() {
    let site = four_status_site();
    let bytes = render(&site, "openvex");
    validate(&fixture("openvex/openvex_json_schema.json"), &bytes);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let st = v["statements"].as_array().unwrap();
    assert_eq!(st.len(), 5);
    assert_eq!(st[0]["vulnerability"]["name"], "GHSA-aaaa-aaaa-aaaa");
    assert_eq!(st[0]["vulnerability"]["aliases"][0], "CVE-2025-0001");
    assert_eq!(st[0]["products"][0]["@id"], VEX_APP);
    assert_eq!(
        st[0]["products"][0]["subcomponents"][0]["@id"],
        "pkg:npm/a@1.0.0"
    );
    // not_affected without a justification carries an impact statement instead.
    assert!(st[3]["justification"].is_null() && st[3]["impact_statement"].is_string());

    // Another site with the same SBOM and advisories but none of the original VEX: importing the
    // rendered document gives every finding the same status and justification.
    let before = site.findings(&[]);
    let other = vex_site();
    other.import(
        "vex",
        "roundtrip",
        &[file("rt.vex.json", bytes.clone())],
        "2026-11-05T00:00:00Z",
    );
    other.scan_ok();
    let after = other.findings(&[]);
    let key = |f: &Value| {
        (
            f["component_purl"].clone(),
            f["advisory_id"].clone(),
            f["status"].clone(),
            f["justification"].clone(),
        )
    };
    let want: Vec<_> = before.iter().map(key).collect();
    let got: Vec<_> = after.iter().map(key).collect();
    // d's "not_affected" had no justification: the impact statement is not a justification.
    assert_eq!(got, want);
}
