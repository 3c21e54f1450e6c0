//! OpenVEX 0.2: one statement per finding. The vulnerability is the advisory id with its
//! aliases; the product is the artifact with the component as its subcomponent; status and
//! justification as the finding has them. `not_affected` without an OpenVEX justification gets
//! an impact statement (the spec wants one of the two); `affected` gets an action statement.
//! Stella-bundle re-imports the document as a VEX bundle with the same outcome.

use super::{finding_fingerprint, openvex_justification, ReportFinding, ReportMeta};
use serde_json::{json, Value};

pub const CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";

pub fn render(findings: &[ReportFinding], meta: &ReportMeta) -> Value {
    let statements: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut vuln = json!({ "name": f.advisory_id });
            if !f.aliases.is_empty() {
                vuln["aliases"] = json!(f.aliases);
            }
            if let Some(s) = &f.summary {
                vuln["description"] = json!(s);
            }
            let mut s = json!({
                "@id": format!("https://stella-bundle.invalid/vex/{}#{}", meta.digest, finding_fingerprint(f)),
                "vulnerability": vuln,
                "timestamp": meta.timestamp,
                "products": [{
                    "@id": f.artifact_purl,
                    "identifiers": { "purl": f.artifact_purl },
                    "subcomponents": [{
                        "@id": f.component_purl,
                        "identifiers": { "purl": f.component_purl },
                    }],
                }],
                "status": f.status,
            });
            match f.status.as_str() {
                "not_affected" => {
                    match f.justification.as_deref().and_then(openvex_justification) {
                        Some(j) => s["justification"] = json!(j),
                        None => {
                            s["impact_statement"] = json!(f
                                .justification
                                .clone()
                                .unwrap_or_else(|| "not affected (no justification given)".into()))
                        }
                    }
                }
                "affected" => {
                    s["action_statement"] =
                        json!(format!("Update {} to a version not affected by {}", f.component_purl, f.advisory_id))
                }
                _ => {}
            }
            s
        })
        .collect();
    json!({
        "@context": CONTEXT,
        "@id": format!("https://stella-bundle.invalid/vex/{}", meta.digest),
        "author": "stella-bundle",
        "role": "scanner",
        "timestamp": meta.timestamp,
        "version": 1,
        "tooling": format!("stella-bundle {}", meta.tool_version),
        "statements": statements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_per_finding_with_the_component_as_subcomponent() {
        let (f, meta) = crate::report::sample();
        let v = render(&f, &meta);
        let st = v["statements"].as_array().unwrap();
        assert_eq!(st.len(), f.len());
        assert_eq!(
            st[0]["products"][0]["subcomponents"][0]["@id"],
            f[0].component_purl
        );
        assert_eq!(
            st[0]["justification"],
            "vulnerable_code_not_in_execute_path"
        );
        assert!(st[1]["action_statement"].is_string());
        assert_eq!(st[4]["impact_statement"], "odd");
    }
}
