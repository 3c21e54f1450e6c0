//! The audit story end to end on an embedded cluster: backup, imports, scans, more imports,
//! then `replay` of each scan recovers to its own LSN and gives the identical digest; a tampered
//! manifest is refused; a missing WAL segment is named; replays never write into the archive.

use crate::harness::*;
use std::path::{Path, PathBuf};

fn repo_bundle(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bundles")
        .join(name)
        .display()
        .to_string()
}

fn archive_listing(home: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(home.join("repo/wal"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    out.sort();
    out
}

/// A feed that adds an advisory for a component of the sample SBOM: it changes the result.
fn extra_feed(key: &TestKey) -> PathBuf {
    let rec = serde_json::json!({
        "id": "TEST-2026-0001", "modified": "2026-11-20T00:00:00Z", "aliases": ["CVE-2026-99999"],
        "summary": "test advisory imported after both scans",
        "affected": [{"package": {"ecosystem": "Go", "name": "github.com/gin-gonic/gin"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]
    });
    make_bundle(
        key,
        "feed",
        "late-feed",
        &[("t.json", serde_json::to_vec(&rec).unwrap())],
        "2026-11-20T00:00:00Z",
        None,
    )
}

#[test]
fn audit_story_replays_each_scan_exactly() {
    let home = embedded_home();
    let site = test_key(42);
    let demo_pub = repo_bundle("demo-key.pub");
    let h = |args: &[&str]| stella_home(&home, args);
    assert_exit(&h(&["db", "start"]), 0);
    assert_exit(&h(&["trust", "add", &demo_pub]), 0);
    assert_exit(&h(&["trust", "add", site.pub_file.to_str().unwrap()]), 0);
    let backup = h(&["backup", "--json"]);
    assert_exit(&backup, 0);

    let work = scratch_dir("stella-replay-");
    let s1 = work.join("s1.json");
    let s2 = work.join("s2.json");
    let key = site.key_file.to_str().unwrap();
    assert_exit(
        &h(&[
            "import",
            &repo_bundle("osv-demo.tar.zst"),
            &repo_bundle("sbom-demo.tar.zst"),
            &repo_bundle("vex-demo.tar.zst"),
        ]),
        0,
    );
    let scan1 = h(&[
        "scan",
        "--json",
        "--key",
        key,
        "--manifest-out",
        s1.to_str().unwrap(),
    ]);
    assert_exit(&scan1, 0);
    assert!(
        json(&scan1)["warnings"].as_array().unwrap().is_empty(),
        "{}",
        stdout(&scan1)
    );
    assert_exit(&h(&["import", &repo_bundle("osv-demo-2.tar.zst")]), 0);
    let scan2 = h(&[
        "scan",
        "--json",
        "--key",
        key,
        "--manifest-out",
        s2.to_str().unwrap(),
    ]);
    assert_exit(&scan2, 0);
    let d1 = json(&scan1)["result_digest"].as_str().unwrap().to_string();
    let d2 = json(&scan2)["result_digest"].as_str().unwrap().to_string();
    assert_ne!(d1, d2, "bundle B changes the result");
    let late = extra_feed(&site);
    assert_exit(&h(&["import", late.to_str().unwrap()]), 0);

    let before = archive_listing(&home);
    for (manifest, digest, scan) in [(&s1, &d1, &scan1), (&s2, &d2, &scan2)] {
        let out = h(&["replay", "--json", manifest.to_str().unwrap()]);
        assert_exit(&out, 0);
        let r = json(&out);
        assert_eq!(r["identical"], true, "{r}");
        assert_eq!(r["expected_digest"], digest.as_str());
        assert_eq!(r["actual_digest"], digest.as_str());
        for field in ["scan_id", "backup", "recovered_to_lsn", "seconds", "diff"] {
            assert!(r.get(field).is_some(), "replay --json lacks {field}");
        }
        // The phases: unpack and recovery are parts of restore.
        let secs = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("no {k}: {r}"));
        assert!(
            secs("unpack_seconds") + secs("recovery_seconds") <= secs("restore_seconds"),
            "{r}"
        );
        assert!(
            secs("restore_seconds") + secs("scan_seconds") <= secs("seconds"),
            "{r}"
        );
        // Recovered to its own point: at (or just past) the scan's restore point, not the end of WAL.
        let lsn = |s: &str| {
            let (hi, lo) = s.split_once('/').unwrap();
            (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap()
        };
        let target = lsn(json(scan)["lsn"].as_str().unwrap());
        let reached = lsn(r["recovered_to_lsn"].as_str().unwrap());
        assert!(
            reached >= target && reached - target < 4096,
            "recovered to {reached:X}, target {target:X}"
        );
    }
    assert_eq!(
        archive_listing(&home),
        before,
        "a replay never adds files to the WAL archive"
    );

    // One flipped byte in the manifest: verification fails, exit 3.
    let mut bytes = std::fs::read(&s1).unwrap();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = work.join("tampered.json");
    std::fs::write(&tampered, bytes).unwrap();
    assert_exit(&h(&["replay", tampered.to_str().unwrap()]), 3);

    // A validly signed manifest naming an SBOM the database never had: the scan cannot be
    // reproduced (exit 4), the missing input is named, and nothing is written.
    let mut statement: serde_json::Value = serde_json::from_slice(&base64_decode(
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&s1).unwrap()).unwrap()
            ["payload"]
            .as_str()
            .unwrap(),
    ))
    .unwrap();
    statement["predicate"]["inputs"]["sboms"][0]["content_hash"] =
        serde_json::json!("00".repeat(32));
    let payload = serde_json::to_vec(&statement).unwrap();
    let forged =
        stella_bundle::bundle::Envelope::sign("application/vnd.in-toto+json", &payload, &site.key);
    let unknown_input = work.join("unknown-input.json");
    std::fs::write(&unknown_input, forged.to_json()).unwrap();
    let archive_before = archive_listing(&home);
    let missing_input = h(&["replay", unknown_input.to_str().unwrap()]);
    assert_exit(&missing_input, 4);
    assert!(
        stderr(&missing_input).contains(&format!("SBOM {}", "00".repeat(32))),
        "{}",
        stderr(&missing_input)
    );
    assert_eq!(
        archive_listing(&home),
        archive_before,
        "nothing written to the archive"
    );

    // A manifest signed by a key nobody trusts: exit 3.
    let stranger = test_key(99);
    let other = work.join("other.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&s1).unwrap()).unwrap();
    let payload = base64_decode(m["payload"].as_str().unwrap());
    let sig = stranger.key.sign(&stella_bundle::bundle::pae(
        "application/vnd.in-toto+json",
        &payload,
    ));
    m["signatures"] =
        serde_json::json!([{"keyid": stranger.key.public().keyid(), "sig": base64_encode(&sig)}]);
    std::fs::write(&other, serde_json::to_vec(&m).unwrap()).unwrap();
    let untrusted = h(&["replay", other.to_str().unwrap()]);
    assert_exit(&untrusted, 3);
    assert!(
        stderr(&untrusted).contains("trusted"),
        "{}",
        stderr(&untrusted)
    );

    // A WAL segment the replay needs is gone: named, non-zero, quickly.
    let needed = archive_listing(&home)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("000000010000000000000003")
        })
        .collect::<Vec<_>>();
    assert!(
        !needed.is_empty(),
        "segment 3 archived: {:?}",
        archive_listing(&home)
    );
    for p in &needed {
        std::fs::remove_file(p).unwrap();
    }
    let started = std::time::Instant::now();
    let missing = h(&["replay", s2.to_str().unwrap()]);
    assert_ne!(missing.status.code(), Some(0));
    assert!(
        stderr(&missing).contains("000000010000000000000003"),
        "{}",
        stderr(&missing)
    );
    assert!(
        stderr(&missing).contains("not in the archive"),
        "{}",
        stderr(&missing)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
