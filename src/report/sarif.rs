//! SARIF 2.1.0: one run by stella-bundle; rules are the advisories (id, summary, aliases),
//! results are the findings with the component purl as location (logical, and as the artifact
//! URI, since code-scanning consumers want a physical location). VEX outcomes: `affected` is an
//! error, `under_investigation` a warning, `not_affected` and `fixed` are notes carrying an
//! accepted external suppression with the justification.

use super::{finding_fingerprint, ReportFinding, ReportMeta};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

pub fn render(findings: &[ReportFinding], meta: &ReportMeta) -> Value {
    // Rules: one per advisory, sorted by id; results refer to them by index.
    let mut advisories: BTreeMap<&str, &ReportFinding> = BTreeMap::new();
    for f in findings {
        advisories.entry(f.advisory_id.as_str()).or_insert(f);
    }
    let index: BTreeMap<&str, usize> = advisories
        .keys()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    let rules: Vec<Value> = advisories
        .values()
        .map(|f| {
            let text = f.summary.clone().unwrap_or_else(|| f.advisory_id.clone());
            let mut props = json!({ "aliases": f.aliases, "tags": ["security", "vulnerability"] });
            if let Some(s) = &f.severity {
                props["severity"] = json!(s);
            }
            json!({
                "id": f.advisory_id,
                "name": f.advisory_id,
                "shortDescription": { "text": text },
                "fullDescription": { "text": text },
                "help": { "text": format!("Advisory {} ({})", f.advisory_id,
                    if f.aliases.is_empty() { "no aliases".to_string() } else { f.aliases.join(", ") }) },
                "properties": props,
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let level = match f.status.as_str() {
                "affected" => "error",
                "under_investigation" => "warning",
                _ => "note",
            };
            let mut r = json!({
                "ruleId": f.advisory_id,
                "ruleIndex": index.get(f.advisory_id.as_str()).copied().unwrap_or(0),
                "kind": "fail",
                "level": level,
                "message": { "text": format!("{} in {} is {} by {}", f.component_purl, f.artifact_purl,
                    f.status.replace('_', " "), f.advisory_id) },
                "locations": [{
                    "physicalLocation": { "artifactLocation": { "uri": f.component_purl } },
                    "logicalLocations": [{
                        "name": f.component_purl,
                        "fullyQualifiedName": format!("{}/{}", f.artifact_purl, f.component_purl),
                        "kind": "module",
                    }],
                }],
                "partialFingerprints": { "stellaFinding/v1": finding_fingerprint(f) },
                "properties": {
                    "artifact_purl": f.artifact_purl,
                    "component_purl": f.component_purl,
                    "aliases": f.aliases,
                    "status": f.status,
                    "justification": f.justification,
                },
            });
            if matches!(f.status.as_str(), "not_affected" | "fixed") {
                let mut s = json!({ "kind": "external", "status": "accepted" });
                let why = f.justification.clone().unwrap_or_else(|| f.status.clone());
                s["justification"] = json!(why);
                r["suppressions"] = json!([s]);
            }
            r
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "stella-bundle",
                "version": meta.tool_version,
                "semanticVersion": meta.tool_version,
                "rules": rules,
            }},
            "automationDetails": { "id": format!("stella-bundle/findings/{}", meta.digest) },
            "invocations": [{ "executionSuccessful": true, "endTimeUtc": meta.timestamp }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_advisories_and_results_point_at_them() {
        let (f, meta) = crate::report::sample();
        let mut sorted = f.clone();
        sorted.sort_by(|a, b| a.component_purl.cmp(&b.component_purl));
        let v = render(&sorted, &meta);
        let run = &v["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        for r in run["results"].as_array().unwrap() {
            let i = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[i]["id"], r["ruleId"]);
        }
        assert_eq!(run["results"][0]["level"], "error");
        assert_eq!(
            run["results"][1]["suppressions"][0]["justification"],
            "code_not_reachable"
        );
    }
}
