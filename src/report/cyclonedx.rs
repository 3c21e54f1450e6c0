//! CycloneDX 1.5 VEX: the artifacts as application components with their affected components
//! nested (bom-ref `ARTIFACT#COMPONENT`, unique in the document), and one `vulnerabilities[]`
//! entry per finding: the advisory id, its aliases as references, `affects` pointing at the
//! component's bom-ref, and `analysis` with the state (affected -> exploitable, fixed ->
//! resolved, under_investigation -> in_triage) and the justification.

use super::{cyclonedx_justification, finding_fingerprint, ReportFinding, ReportMeta};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn state(status: &str) -> &'static str {
    match status {
        "affected" => "exploitable",
        "not_affected" => "not_affected",
        "fixed" => "resolved",
        _ => "in_triage",
    }
}

fn component_ref(f: &ReportFinding) -> String {
    format!("{}#{}", f.artifact_purl, f.component_purl)
}

/// An RFC 4122 UUID (version 5) from the digest, for `serialNumber`.
fn serial(digest: &str) -> String {
    let u = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("stella-bundle:findings:{digest}").as_bytes(),
    );
    format!("urn:uuid:{u}")
}

fn source_of(id: &str) -> &'static str {
    if id.starts_with("CVE-") {
        "NVD"
    } else if id.starts_with("GHSA-") {
        "GitHub"
    } else {
        "OSV"
    }
}

pub fn render(findings: &[ReportFinding], meta: &ReportMeta) -> Value {
    let mut artifacts: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for f in findings {
        artifacts
            .entry(f.artifact_purl.as_str())
            .or_default()
            .insert(f.component_purl.as_str());
    }
    let components: Vec<Value> = artifacts
        .iter()
        .map(|(artifact, comps)| {
            let nested: Vec<Value> = comps
                .iter()
                .map(|c| {
                    json!({
                        "type": "library",
                        "bom-ref": format!("{artifact}#{c}"),
                        "name": purl_name(c),
                        "purl": c,
                    })
                })
                .collect();
            json!({
                "type": "application",
                "bom-ref": artifact,
                "name": purl_name(artifact),
                "purl": artifact,
                "components": nested,
            })
        })
        .collect();
    let vulnerabilities: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut analysis = json!({ "state": state(&f.status) });
            if let Some(j) = f.justification.as_deref() {
                match cyclonedx_justification(j) {
                    Some(cj) => analysis["justification"] = json!(cj),
                    None => analysis["detail"] = json!(j),
                }
            }
            let mut v = json!({
                "bom-ref": format!("finding-{}", finding_fingerprint(f)),
                "id": f.advisory_id,
                "source": { "name": source_of(&f.advisory_id) },
                "analysis": analysis,
                "affects": [{ "ref": component_ref(f) }],
            });
            if !f.aliases.is_empty() {
                v["references"] = Value::Array(
                    f.aliases
                        .iter()
                        .map(|a| json!({ "id": a, "source": { "name": source_of(a) } }))
                        .collect(),
                );
            }
            if let Some(s) = &f.summary {
                v["description"] = json!(s);
            }
            v
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial(&meta.digest),
        "version": 1,
        "metadata": {
            "timestamp": meta.timestamp,
            "tools": { "components": [{
                "type": "application", "name": "stella-bundle", "version": meta.tool_version,
            }]},
        },
        "components": components,
        "vulnerabilities": vulnerabilities,
    })
}

/// The name part of a purl (`pkg:npm/%40s/n@1` -> `n`), or the whole string.
fn purl_name(purl: &str) -> String {
    let no_version = purl.split(['@', '?', '#']).next().unwrap_or(purl);
    let p = purl
        .find('@')
        .map(|i| &purl[..i])
        .filter(|p| p.contains('/'))
        .unwrap_or(no_version);
    p.rsplit('/').next().unwrap_or(p).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_states_and_affects_refs() {
        let (f, meta) = crate::report::sample();
        let v = render(&f, &meta);
        let vulns = v["vulnerabilities"].as_array().unwrap();
        assert_eq!(vulns[0]["analysis"]["state"], "not_affected");
        assert_eq!(vulns[0]["analysis"]["justification"], "code_not_reachable");
        assert_eq!(vulns[1]["analysis"]["state"], "exploitable");
        assert_eq!(vulns[2]["analysis"]["state"], "resolved");
        assert_eq!(vulns[3]["analysis"]["state"], "in_triage");
        assert_eq!(vulns[4]["analysis"]["detail"], "odd");
        let refs: Vec<&str> = v["components"][0]["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["bom-ref"].as_str().unwrap())
            .collect();
        for x in vulns {
            assert!(refs.contains(&x["affects"][0]["ref"].as_str().unwrap()));
        }
        assert_eq!(purl_name("pkg:npm/%40s/widget@1.0.0"), "widget");
        assert_eq!(purl_name("pkg:generic/acme/app@1.0.0"), "app");
    }
}
