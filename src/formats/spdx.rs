//! SPDX 2.2/2.3 JSON into an [`Sbom`]: packages, their `externalRefs` purls (category
//! `PACKAGE-MANAGER` or `PACKAGE_MANAGER`, type `purl`), and dependency relationships.
//!
//! The artifact is the described package: the first package named by `documentDescribes` or by
//! a `SPDXRef-DOCUMENT DESCRIBES X` (or `X DESCRIBED_BY SPDXRef-DOCUMENT`) relationship that has
//! a valid purl. Described files are not packages and are skipped. No described package with a
//! purl is an error naming the package's `externalRefs` path. Every other package is a component.
//! Edges: `A DEPENDS_ON B` and `B DEPENDENCY_OF A` (and the typed `*_DEPENDENCY_OF` variants)
//! give `A -> B`.

use std::collections::HashMap;

use serde::Deserialize;

use super::{
    deserialize, purl_or_warn, Component, Dependency, FormatError, Hash, Purl, Sbom, SbomFormat,
    Warning,
};

const CONSTRUCT: &str = "SPDX document";
const DOCUMENT: &str = "SPDXRef-DOCUMENT";

#[derive(Deserialize)]
struct RawDocument {
    #[serde(rename = "spdxVersion")]
    spdx_version: Option<String>,
    #[serde(rename = "SPDXID")]
    spdx_id: Option<String>,
    #[serde(rename = "documentNamespace")]
    document_namespace: Option<String>,
    #[serde(rename = "documentDescribes")]
    document_describes: Option<Vec<String>>,
    packages: Option<Vec<RawPackage>>,
    relationships: Option<Vec<RawRelationship>>,
}

#[derive(Deserialize)]
struct RawPackage {
    #[serde(rename = "SPDXID")]
    spdx_id: Option<String>,
    name: Option<String>,
    #[serde(rename = "versionInfo")]
    version_info: Option<String>,
    checksums: Option<Vec<RawChecksum>>,
    #[serde(rename = "licenseConcluded")]
    license_concluded: Option<String>,
    #[serde(rename = "licenseDeclared")]
    license_declared: Option<String>,
    #[serde(rename = "externalRefs")]
    external_refs: Option<Vec<RawExternalRef>>,
}

#[derive(Deserialize)]
struct RawChecksum {
    algorithm: Option<String>,
    #[serde(rename = "checksumValue")]
    checksum_value: Option<String>,
}

#[derive(Deserialize)]
struct RawExternalRef {
    #[serde(rename = "referenceCategory")]
    reference_category: Option<String>,
    #[serde(rename = "referenceType")]
    reference_type: Option<String>,
    #[serde(rename = "referenceLocator")]
    reference_locator: Option<String>,
}

#[derive(Deserialize)]
struct RawRelationship {
    #[serde(rename = "spdxElementId")]
    element: Option<String>,
    #[serde(rename = "relationshipType")]
    relationship_type: Option<String>,
    #[serde(rename = "relatedSpdxElement")]
    related: Option<String>,
}

/// Parses an SPDX 2.x JSON document.
pub fn parse_spdx(bytes: &[u8]) -> Result<Sbom, FormatError> {
    let doc: RawDocument = deserialize(bytes, CONSTRUCT)?;
    let spec_version = doc.spdx_version.ok_or_else(|| FormatError::MissingField {
        construct: CONSTRUCT,
        path: "$.spdxVersion".into(),
    })?;
    let document_id = doc.spdx_id.unwrap_or_else(|| DOCUMENT.to_string());
    let relationships = doc.relationships.unwrap_or_default();

    let mut described: Vec<String> = doc.document_describes.unwrap_or_default();
    for r in &relationships {
        match (
            r.element.as_deref(),
            r.relationship_type.as_deref(),
            r.related.as_deref(),
        ) {
            (Some(e), Some("DESCRIBES"), Some(x)) if e == document_id => described.push(x.into()),
            (Some(x), Some("DESCRIBED_BY"), Some(e)) if e == document_id => {
                described.push(x.into())
            }
            _ => {}
        }
    }

    let mut warnings = Vec::new();
    let mut components = Vec::new();
    for (i, p) in doc.packages.unwrap_or_default().into_iter().enumerate() {
        components.push(package(p, format!("$.packages[{i}]"), &mut warnings));
    }

    // The artifact: the first described package with a purl.
    let index: HashMap<&str, usize> = components
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.id.as_deref().map(|id| (id, i)))
        .collect();
    let described_packages: Vec<usize> = described
        .iter()
        .filter_map(|id| index.get(id.as_str()).copied())
        .collect();
    let chosen = described_packages
        .iter()
        .copied()
        .find(|&i| components[i].purl.is_some());
    let artifact = match chosen {
        Some(i) => components.remove(i),
        None => {
            return Err(match described_packages.first() {
                Some(&i) => FormatError::MissingArtifactPurl {
                    path: format!("{}.externalRefs", components[i].path),
                    reason: format!(
                        "described package {:?} has no valid purl external reference",
                        components[i].id.as_deref().unwrap_or("")
                    ),
                },
                None => FormatError::MissingArtifactPurl {
                    path: "$.documentDescribes".into(),
                    reason: "no package is described by the document".into(),
                },
            })
        }
    };

    let mut dependencies = Vec::new();
    for r in relationships {
        let (Some(a), Some(t), Some(b)) = (r.element, r.relationship_type, r.related) else {
            continue;
        };
        match t.as_str() {
            "DEPENDS_ON" => dependencies.push(Dependency { from: a, to: b }),
            t if t.ends_with("DEPENDENCY_OF") => dependencies.push(Dependency { from: b, to: a }),
            _ => {}
        }
    }

    Ok(Sbom {
        format: SbomFormat::Spdx,
        spec_version,
        serial: doc.document_namespace,
        artifact,
        components,
        dependencies,
        warnings,
    })
}

fn package(raw: RawPackage, path: String, warnings: &mut Vec<Warning>) -> Component {
    let mut purl: Option<Purl> = None;
    for (j, r) in raw
        .external_refs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let category = r.reference_category.as_deref().unwrap_or("");
        if purl.is_none()
            && (category == "PACKAGE-MANAGER" || category == "PACKAGE_MANAGER")
            && r.reference_type.as_deref() == Some("purl")
        {
            purl = purl_or_warn(
                r.reference_locator.as_deref(),
                || format!("{path}.externalRefs[{j}].referenceLocator"),
                warnings,
            );
        }
    }
    let hashes = raw
        .checksums
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| {
            Some(Hash {
                alg: c.algorithm?,
                value: c.checksum_value?,
            })
        })
        .collect();
    let licenses = [raw.license_concluded, raw.license_declared]
        .into_iter()
        .flatten()
        .filter(|l| l != "NOASSERTION" && l != "NONE")
        .fold(Vec::new(), |mut acc: Vec<String>, l| {
            if !acc.contains(&l) {
                acc.push(l);
            }
            acc
        });
    Component {
        id: raw.spdx_id,
        name: raw.name.unwrap_or_default(),
        version: raw.version_info,
        group: None,
        purl,
        hashes,
        licenses,
        parent: None,
        path,
    }
}
