//! Findings rendered in interchange formats: SARIF 2.1.0, OpenVEX 0.2 and CycloneDX 1.5 VEX.
//! Pure functions from findings to bytes: no clock, no database, no randomness, so the same
//! findings give the same bytes (the document id is derived from the findings' digest and the
//! timestamp is the scans' own).

mod cyclonedx;
mod openvex;
mod sarif;

use serde::Serialize;
use std::str::FromStr;

/// One finding with what the renderers show besides its identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportFinding {
    pub artifact_purl: String,
    pub component_purl: String,
    pub advisory_id: String,
    /// Sorted and deduplicated.
    pub aliases: Vec<String>,
    /// `affected`, `not_affected`, `fixed` or `under_investigation`.
    pub status: String,
    pub justification: Option<String>,
    pub severity: Option<String>,
    /// The advisory's summary, when it has one.
    pub summary: Option<String>,
}

/// What every document names besides the findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportMeta {
    pub tool_version: String,
    /// RFC 3339 UTC: when the newest of the scans behind the findings finished.
    pub timestamp: String,
    /// Lowercase hex sha256 identifying this set of findings (names the document).
    pub digest: String,
}

/// The interchange formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Sarif,
    OpenVex,
    CycloneDx,
}

/// An unknown format name.
#[derive(Debug, thiserror::Error)]
#[error("unknown report format {0:?} (expected sarif, openvex or cyclonedx)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        match s {
            "sarif" => Ok(Format::Sarif),
            "openvex" => Ok(Format::OpenVex),
            "cyclonedx" => Ok(Format::CycloneDx),
            other => Err(UnknownFormat(other.to_string())),
        }
    }
}

/// Render `findings` (in any order: they are sorted canonically first) as `format`; pretty JSON
/// ending with a newline.
pub fn render(format: Format, findings: &[ReportFinding], meta: &ReportMeta) -> Vec<u8> {
    let mut sorted = findings.to_vec();
    sorted.sort_by(|a, b| {
        (
            a.artifact_purl.as_bytes(),
            a.component_purl.as_bytes(),
            a.advisory_id.as_bytes(),
        )
            .cmp(&(
                b.artifact_purl.as_bytes(),
                b.component_purl.as_bytes(),
                b.advisory_id.as_bytes(),
            ))
    });
    let value = match format {
        Format::Sarif => sarif::render(&sorted, meta),
        Format::OpenVex => openvex::render(&sorted, meta),
        Format::CycloneDx => cyclonedx::render(&sorted, meta),
    };
    let mut bytes = serde_json::to_vec_pretty(&value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// An OpenVEX justification for a stored one (OpenVEX's own, or CycloneDX's mapped); `None`
/// when it has no OpenVEX equivalent.
pub fn openvex_justification(j: &str) -> Option<&'static str> {
    Some(match j {
        "component_not_present" => "component_not_present",
        "vulnerable_code_not_present" | "code_not_present" => "vulnerable_code_not_present",
        "vulnerable_code_not_in_execute_path" | "code_not_reachable" => {
            "vulnerable_code_not_in_execute_path"
        }
        "vulnerable_code_cannot_be_controlled_by_adversary"
        | "requires_configuration"
        | "requires_dependency"
        | "requires_environment" => "vulnerable_code_cannot_be_controlled_by_adversary",
        "inline_mitigations_already_exist"
        | "protected_by_compiler"
        | "protected_at_runtime"
        | "protected_at_perimeter"
        | "protected_by_mitigating_control" => "inline_mitigations_already_exist",
        _ => return None,
    })
}

/// A CycloneDX `analysis.justification` for a stored one (CycloneDX's own, or OpenVEX's
/// mapped); `None` when it has no CycloneDX equivalent.
pub fn cyclonedx_justification(j: &str) -> Option<&'static str> {
    Some(match j {
        "code_not_present" | "vulnerable_code_not_present" | "component_not_present" => {
            "code_not_present"
        }
        "code_not_reachable" | "vulnerable_code_not_in_execute_path" => "code_not_reachable",
        "requires_configuration" => "requires_configuration",
        "requires_dependency" => "requires_dependency",
        "requires_environment" => "requires_environment",
        "protected_by_compiler" => "protected_by_compiler",
        "protected_at_runtime" => "protected_at_runtime",
        "protected_at_perimeter" => "protected_at_perimeter",
        "protected_by_mitigating_control"
        | "inline_mitigations_already_exist"
        | "vulnerable_code_cannot_be_controlled_by_adversary" => "protected_by_mitigating_control",
        _ => return None,
    })
}

/// A stable IRI-safe id for one finding.
fn finding_fingerprint(f: &ReportFinding) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [&f.artifact_purl, &f.component_purl, &f.advisory_id] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
pub(crate) fn sample() -> (Vec<ReportFinding>, ReportMeta) {
    let f = |c: &str, id: &str, status: &str, j: Option<&str>| ReportFinding {
        artifact_purl: "pkg:generic/acme/app@1.0.0".into(),
        component_purl: c.into(),
        advisory_id: id.into(),
        aliases: vec!["CVE-2024-0001".into()],
        status: status.into(),
        justification: j.map(String::from),
        severity: None,
        summary: Some("heap overflow".into()),
    };
    (
        vec![
            f(
                "pkg:npm/b@1.0.0",
                "GHSA-1",
                "not_affected",
                Some("code_not_reachable"),
            ),
            f("pkg:npm/a@1.0.0", "GHSA-1", "affected", None),
            f("pkg:npm/c@1.0.0", "GHSA-2", "fixed", None),
            f("pkg:npm/d@1.0.0", "GHSA-2", "under_investigation", None),
            f("pkg:npm/e@1.0.0", "GHSA-2", "not_affected", Some("odd")),
        ],
        ReportMeta {
            tool_version: "0.1.0".into(),
            timestamp: "2026-11-01T00:00:00Z".into(),
            digest: "ab".repeat(32),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_independent_of_input_order() {
        let (mut f, meta) = sample();
        for format in [Format::Sarif, Format::OpenVex, Format::CycloneDx] {
            let a = render(format, &f, &meta);
            f.reverse();
            assert_eq!(a, render(format, &f, &meta));
        }
    }

    #[test]
    fn justifications_map_both_ways() {
        assert_eq!(
            openvex_justification("code_not_reachable"),
            Some("vulnerable_code_not_in_execute_path")
        );
        assert_eq!(
            cyclonedx_justification("component_not_present"),
            Some("code_not_present")
        );
        assert_eq!(openvex_justification("whatever"), None);
    }

    #[test]
    fn formats_parse() {
        assert_eq!("sarif".parse::<Format>().ok(), Some(Format::Sarif));
        assert!("xml".parse::<Format>().is_err());
    }
}
