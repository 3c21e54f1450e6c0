//! Peak memory of parsing a large CycloneDX BOM. A test binary of its own, so the process's peak
//! resident size (`VmHWM`) belongs to this one test.

use stella_bundle::formats::parse_sbom;

fn peak_rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// ~50 MB with 60,000 components, each padded with small fields the parser must skip (the kind
/// of content a `serde_json::Value` tree would multiply several times over).
fn big_bom(n: usize) -> String {
    let props: String = (0..20)
        .map(|k| format!(r#"{{"name":"prop{k}","value":"v{k}"}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let mut doc = String::with_capacity(n * 900 + 200);
    doc.push_str(r#"{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"component":{"type":"application","name":"big","purl":"pkg:generic/big@1"}},"components":["#);
    for i in 0..n {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(
            r#"{{"type":"library","bom-ref":"c{i}","name":"p{i}","version":"1.{i}","purl":"pkg:npm/p{i}@1.{i}","properties":[{props}],"externalReferences":[{{"type":"website","url":"https://example.com/{i}"}}]}}"#
        ));
    }
    doc.push_str("]}");
    doc
}

#[test]
fn large_bom_peak_memory_stays_below_one_document_copy() {
    let n = 60_000;
    let doc = big_bom(n);
    assert!(doc.len() > 45_000_000, "{}", doc.len());
    let Some(before) = peak_rss_bytes() else {
        eprintln!("no /proc/self/status: memory not measured");
        return;
    };
    let sbom = parse_sbom(doc.as_bytes()).unwrap();
    let after = peak_rss_bytes().unwrap();
    assert_eq!(sbom.components.len(), n);
    let growth = after.saturating_sub(before);
    eprintln!(
        "document {} MB, peak growth while parsing {} MB",
        doc.len() / 1_000_000,
        growth / 1_000_000
    );
    assert!(
        growth < doc.len(),
        "parsing grew the peak by {growth} bytes for a {} byte document",
        doc.len()
    );
}
