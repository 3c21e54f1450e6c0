//! CycloneDX JSON (1.2-1.6): the SBOM (artifact, flattened components, dependency edges) and the
//! VEX statements of `vulnerabilities[]` (`analysis` + `affects`).
//!
//! VEX rules:
//! - `affects[].ref` is a bom-ref of this BOM, or a BOM-Link `urn:cdx:SERIAL/VERSION#BOMREF`.
//!   When SERIAL is not this BOM's (VEX shipped apart from its BOM, like the vex-demo pair), the
//!   BOMREF part is used alone. The ref resolves to the purl of the component with that bom-ref;
//!   failing that, a BOMREF that is itself a valid purl is used as the purl; otherwise the
//!   statement keeps the ref as `product_id` with no purl.
//! - `analysis.state`: `resolved`/`resolved_with_pedigree` -> fixed, `exploitable` -> affected,
//!   `in_triage` -> under_investigation, `false_positive`/`not_affected` -> not_affected. A
//!   vulnerability with `affects` but no state asserts the listed components are affected (VDR).
//! - justification = `analysis.justification` code; impact = `analysis.detail`; action =
//!   `recommendation`, else `analysis.response` joined; aliases = `references[].id`; timestamp =
//!   `analysis.lastUpdated`, else `updated`, else `published`, else `metadata.timestamp`.

use std::collections::HashMap;

use serde::Deserialize;

use super::{
    deserialize, purl_or_warn, Component, Dependency, FormatError, Hash, Purl, Sbom, SbomFormat,
    VexDocument, VexFormat, VexStatement, VexStatus, Warning,
};

const CONSTRUCT: &str = "CycloneDX BOM";

#[derive(Deserialize)]
struct RawBom {
    #[serde(rename = "bomFormat")]
    bom_format: Option<String>,
    #[serde(rename = "specVersion")]
    spec_version: Option<String>,
    #[serde(rename = "serialNumber")]
    serial_number: Option<String>,
    metadata: Option<RawMetadata>,
    #[serde(default)]
    components: FlatComponents,
    dependencies: Option<Vec<RawDependency>>,
    vulnerabilities: Option<Vec<RawVulnerability>>,
}

#[derive(Deserialize)]
struct RawMetadata {
    timestamp: Option<String>,
    component: Option<RawComponent>,
}

#[derive(Deserialize)]
struct RawComponent {
    #[serde(rename = "bom-ref")]
    bom_ref: Option<String>,
    name: Option<String>,
    version: Option<String>,
    group: Option<String>,
    purl: Option<String>,
    hashes: Option<Vec<RawHash>>,
    licenses: Option<Vec<RawLicenseChoice>>,
    components: Option<Vec<RawComponent>>,
}

#[derive(Deserialize)]
struct RawHash {
    alg: Option<String>,
    content: Option<String>,
}

#[derive(Deserialize)]
struct RawLicenseChoice {
    license: Option<RawLicense>,
    expression: Option<String>,
}

#[derive(Deserialize)]
struct RawLicense {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawDependency {
    #[serde(rename = "ref")]
    reference: Option<String>,
    #[serde(rename = "dependsOn")]
    depends_on: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawVulnerability {
    id: Option<String>,
    references: Option<Vec<RawReference>>,
    recommendation: Option<String>,
    published: Option<String>,
    updated: Option<String>,
    analysis: Option<RawAnalysis>,
    affects: Option<Vec<RawAffects>>,
}

#[derive(Deserialize)]
struct RawReference {
    id: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawAnalysis {
    state: Option<String>,
    justification: Option<String>,
    response: Option<Vec<String>>,
    detail: Option<String>,
    #[serde(rename = "lastUpdated")]
    last_updated: Option<String>,
}

#[derive(Deserialize)]
struct RawAffects {
    #[serde(rename = "ref")]
    reference: Option<String>,
}

fn read(bytes: &[u8]) -> Result<RawBom, FormatError> {
    let bom: RawBom = deserialize(bytes, CONSTRUCT)?;
    match bom.bom_format.as_deref() {
        Some("CycloneDX") => Ok(bom),
        Some(other) => Err(FormatError::InvalidValue {
            construct: CONSTRUCT,
            path: "$.bomFormat".into(),
            reason: format!("{other:?} is not \"CycloneDX\""),
        }),
        None => Err(FormatError::MissingField {
            construct: CONSTRUCT,
            path: "$.bomFormat".into(),
        }),
    }
}

/// Parses a CycloneDX BOM as an SBOM; `vulnerabilities[]` are ignored.
pub fn parse_cyclonedx_sbom(bytes: &[u8]) -> Result<Sbom, FormatError> {
    let (sbom, _) = convert(read(bytes)?, true, false)?;
    Ok(sbom.expect("asked for the SBOM"))
}

/// Parses the VEX statements of a CycloneDX BOM.
pub fn parse_cyclonedx_vex(bytes: &[u8]) -> Result<VexDocument, FormatError> {
    let (_, vex) = convert(read(bytes)?, false, true)?;
    Ok(vex.expect("asked for the VEX"))
}

/// Parses a CycloneDX BOM that is both an SBOM and a VEX document.
pub(crate) fn parse_cyclonedx_both(bytes: &[u8]) -> Result<(Sbom, VexDocument), FormatError> {
    match convert(read(bytes)?, true, true)? {
        (Some(sbom), Some(vex)) => Ok((sbom, vex)),
        _ => unreachable!("asked for both"),
    }
}

fn convert(
    bom: RawBom,
    want_sbom: bool,
    want_vex: bool,
) -> Result<(Option<Sbom>, Option<VexDocument>), FormatError> {
    let FlatComponents {
        items: mut components,
        mut warnings,
    } = bom.components;
    let (timestamp, raw_artifact) = match bom.metadata {
        Some(m) => (m.timestamp, m.component),
        None => (None, None),
    };
    // The artifact's purl is checked before anything else: without it there is no SBOM.
    let artifact_purl = match (want_sbom, &raw_artifact) {
        (false, _) => None,
        (true, None) => {
            return Err(FormatError::MissingArtifactPurl {
                path: "$.metadata.component.purl".into(),
                reason: "the BOM has no metadata.component".into(),
            })
        }
        (true, Some(c)) => Some(artifact_purl(c.purl.as_deref())?),
    };
    // Nested components of the artifact join the component list (after the top-level ones).
    let artifact = raw_artifact.map(|c| {
        component(
            c,
            "$.metadata.component".into(),
            None,
            &mut components,
            &mut warnings,
        )
    });
    let vex = want_vex.then(|| {
        let refs = RefIndex::new(artifact.iter().chain(&components));
        vex(
            bom.vulnerabilities.unwrap_or_default(),
            bom.serial_number.clone(),
            timestamp,
            &refs,
            if want_sbom {
                Vec::new()
            } else {
                std::mem::take(&mut warnings)
            },
        )
    });
    let sbom = match (artifact, artifact_purl) {
        (Some(mut artifact), Some(purl)) => {
            artifact.purl = Some(purl);
            let dependencies = dependencies(bom.dependencies.unwrap_or_default(), &mut warnings);
            Some(Sbom {
                format: SbomFormat::CycloneDx,
                spec_version: bom.spec_version.unwrap_or_default(),
                serial: bom.serial_number,
                artifact,
                components,
                dependencies,
                warnings,
            })
        }
        _ => None,
    };
    Ok((sbom, vex))
}

fn artifact_purl(raw: Option<&str>) -> Result<Purl, FormatError> {
    let raw = raw.ok_or_else(|| FormatError::MissingArtifactPurl {
        path: "$.metadata.component.purl".into(),
        reason: "metadata.component has no purl".into(),
    })?;
    Purl::parse(raw).map_err(|reason| FormatError::MissingArtifactPurl {
        path: "$.metadata.component.purl".into(),
        reason: format!("invalid purl {raw:?}: {reason}"),
    })
}

fn dependencies(raw: Vec<RawDependency>, warnings: &mut Vec<Warning>) -> Vec<Dependency> {
    let mut out = Vec::new();
    for (i, d) in raw.into_iter().enumerate() {
        let Some(from) = d.reference else {
            warnings.push(Warning {
                code: "dependency_without_ref",
                path: format!("$.dependencies[{i}].ref"),
                message: "dependency entry has no ref".into(),
            });
            continue;
        };
        for to in d.depends_on.unwrap_or_default() {
            out.push(Dependency {
                from: from.clone(),
                to,
            });
        }
    }
    out
}

/// `$.components`, flattened while it is read: each raw component becomes a [`Component`] as
/// soon as it is deserialized, so the raw form of the whole list never exists at once.
#[derive(Default)]
struct FlatComponents {
    items: Vec<Component>,
    warnings: Vec<Warning>,
}

impl<'de> Deserialize<'de> for FlatComponents {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = FlatComponents;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of components")
            }
            fn visit_unit<E>(self) -> Result<FlatComponents, E> {
                Ok(FlatComponents::default())
            }
            fn visit_none<E>(self) -> Result<FlatComponents, E> {
                Ok(FlatComponents::default())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<FlatComponents, A::Error> {
                let mut out = FlatComponents::default();
                let mut i = 0;
                while let Some(raw) = seq.next_element::<RawComponent>()? {
                    let flat = component(
                        raw,
                        format!("$.components[{i}]"),
                        None,
                        &mut out.items,
                        &mut out.warnings,
                    );
                    out.items.push(flat);
                    i += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

/// Converts one component; its nested components are pushed to `out` (depth first, before the
/// caller pushes this one) with `parent` set to this component's bom-ref.
fn component(
    raw: RawComponent,
    path: String,
    parent: Option<String>,
    out: &mut Vec<Component>,
    warnings: &mut Vec<Warning>,
) -> Component {
    let purl = purl_or_warn(raw.purl.as_deref(), || format!("{path}.purl"), warnings);
    let hashes = raw
        .hashes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|h| {
            Some(Hash {
                alg: h.alg?,
                value: h.content?,
            })
        })
        .collect();
    let licenses = raw
        .licenses
        .unwrap_or_default()
        .into_iter()
        .filter_map(|l| {
            l.expression
                .or_else(|| l.license.and_then(|l| l.id.or(l.name)))
        })
        .collect();
    let nested = raw.components.unwrap_or_default();
    let this = Component {
        id: raw.bom_ref,
        name: raw.name.unwrap_or_default(),
        version: raw.version,
        group: raw.group,
        purl,
        hashes,
        licenses,
        parent,
        path,
    };
    for (i, child) in nested.into_iter().enumerate() {
        let child_path = format!("{}.components[{i}]", this.path);
        let flat = component(child, child_path, this.id.clone(), out, warnings);
        out.push(flat);
    }
    this
}

/// bom-ref -> canonical purl of this BOM's components.
struct RefIndex<'a> {
    purls: HashMap<&'a str, &'a str>,
}

impl<'a> RefIndex<'a> {
    fn new(components: impl Iterator<Item = &'a Component>) -> RefIndex<'a> {
        let mut purls = HashMap::new();
        for c in components {
            if let (Some(id), Some(p)) = (&c.id, &c.purl) {
                purls.entry(id.as_str()).or_insert(p.canonical.as_str());
            }
        }
        RefIndex { purls }
    }

    /// Returns (product id, canonical purl) for an `affects[].ref`.
    fn resolve(&self, reference: &str) -> (String, Option<String>) {
        // A BOM-Link to this very BOM and one to another BOM both come down to the bom-ref
        // part: this BOM's components are the only ones known here.
        let local = reference
            .strip_prefix("urn:cdx:")
            .and_then(|link| link.split_once('#'))
            .map_or(reference, |(_serial_version, bom_ref)| bom_ref);
        if let Some(p) = self.purls.get(local) {
            return (local.to_string(), Some(p.to_string()));
        }
        let purl = Purl::parse(local).ok().map(|p| p.canonical);
        (local.to_string(), purl)
    }
}

fn status(state: Option<&str>, path: &str) -> Result<VexStatus, FormatError> {
    Ok(match state {
        None => VexStatus::Affected,
        Some("resolved") | Some("resolved_with_pedigree") => VexStatus::Fixed,
        Some("exploitable") => VexStatus::Affected,
        Some("in_triage") => VexStatus::UnderInvestigation,
        Some("false_positive") | Some("not_affected") => VexStatus::NotAffected,
        Some(other) => {
            return Err(FormatError::InvalidValue {
                construct: "CycloneDX vulnerability analysis",
                path: path.into(),
                reason: format!("unknown analysis state {other:?}"),
            })
        }
    })
}

fn vex(
    vulnerabilities: Vec<RawVulnerability>,
    serial: Option<String>,
    doc_time: Option<String>,
    refs: &RefIndex<'_>,
    mut warnings: Vec<Warning>,
) -> VexDocument {
    let mut statements = Vec::new();
    for (i, v) in vulnerabilities.into_iter().enumerate() {
        let path = format!("$.vulnerabilities[{i}]");
        if v.analysis.is_none() && v.affects.is_none() {
            continue;
        }
        let Some(id) = v.id.filter(|s| !s.is_empty()) else {
            warnings.push(Warning {
                code: "vulnerability_without_id",
                path: format!("{path}.id"),
                message: "vulnerability has no id; skipped".into(),
            });
            continue;
        };
        let analysis = v.analysis.unwrap_or_default();
        let status = match status(analysis.state.as_deref(), &format!("{path}.analysis.state")) {
            Ok(s) => s,
            Err(e) => {
                warnings.push(Warning {
                    code: "unknown_analysis_state",
                    path: format!("{path}.analysis.state"),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let aliases: Vec<String> = v
            .references
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.id)
            .filter(|r| *r != id)
            .collect();
        let action = v.recommendation.or_else(|| {
            analysis
                .response
                .filter(|r| !r.is_empty())
                .map(|r| r.join(", "))
        });
        let timestamp = analysis
            .last_updated
            .or(v.updated)
            .or(v.published)
            .or_else(|| doc_time.clone());
        let affects = v.affects.unwrap_or_default();
        if affects.is_empty() {
            warnings.push(Warning {
                code: "vulnerability_without_affects",
                path: format!("{path}.affects"),
                message: "analysis names no affected component; skipped".into(),
            });
        }
        for (j, a) in affects.into_iter().enumerate() {
            let Some(reference) = a.reference else {
                warnings.push(Warning {
                    code: "affects_without_ref",
                    path: format!("{path}.affects[{j}].ref"),
                    message: "affects entry has no ref; skipped".into(),
                });
                continue;
            };
            let (product_id, product_purl) = refs.resolve(&reference);
            statements.push(VexStatement {
                vulnerability_id: id.clone(),
                aliases: aliases.clone(),
                product_id,
                product_purl,
                component_purl: None,
                status,
                justification: analysis.justification.clone(),
                impact_statement: analysis.detail.clone(),
                action_statement: action.clone(),
                timestamp: timestamp.clone(),
                path: format!("{path}.affects[{j}]"),
            });
        }
    }
    VexDocument {
        format: VexFormat::CycloneDx,
        document_id: serial,
        timestamp: doc_time,
        statements,
        warnings,
    }
}
