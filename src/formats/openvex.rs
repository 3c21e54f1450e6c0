//! OpenVEX documents into [`VexStatement`]s: v0.2 (`vulnerability` object, `products` objects
//! with `@id`/`identifiers.purl` and `subcomponents`) and the pre-0.2 shape (`vulnerability` and
//! `products` as plain strings, `go-vex_v0.0.1.json`).
//!
//! One statement per (product, subcomponent); a product without subcomponents gives one
//! statement without a component. The statement's `timestamp` falls back to the document's.

use serde::Deserialize;

use super::{
    deserialize, purl_or_warn, FormatError, Purl, VexDocument, VexFormat, VexStatement, VexStatus,
    Warning,
};

const CONSTRUCT: &str = "OpenVEX document";

#[derive(Deserialize)]
struct RawDocument {
    #[serde(rename = "@context")]
    context: Option<String>,
    #[serde(rename = "@id")]
    id: Option<String>,
    timestamp: Option<String>,
    statements: Option<Vec<RawStatement>>,
}

#[derive(Deserialize)]
struct RawStatement {
    vulnerability: Option<RawVulnerability>,
    products: Option<Vec<RawProduct>>,
    status: Option<String>,
    justification: Option<String>,
    impact_statement: Option<String>,
    action_statement: Option<String>,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawVulnerability {
    Name(String),
    Object {
        name: Option<String>,
        #[serde(rename = "@id")]
        id: Option<String>,
        aliases: Option<Vec<String>>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawProduct {
    Id(String),
    Object(RawComponent),
}

#[derive(Deserialize)]
struct RawComponent {
    #[serde(rename = "@id")]
    id: Option<String>,
    identifiers: Option<RawIdentifiers>,
    subcomponents: Option<Vec<RawComponent>>,
}

#[derive(Deserialize)]
struct RawIdentifiers {
    purl: Option<String>,
}

/// Parses an OpenVEX document.
pub fn parse_openvex(bytes: &[u8]) -> Result<VexDocument, FormatError> {
    let doc: RawDocument = deserialize(bytes, CONSTRUCT)?;
    match doc.context.as_deref() {
        Some(c) if c.starts_with("https://openvex.dev/ns") => {}
        Some(c) => {
            return Err(FormatError::InvalidValue {
                construct: CONSTRUCT,
                path: "$[\"@context\"]".into(),
                reason: format!("{c:?} is not an OpenVEX context"),
            })
        }
        None => return Err(missing("$[\"@context\"]".into())),
    }
    let mut warnings = Vec::new();
    let mut statements = Vec::new();
    let raw_statements = doc.statements.ok_or_else(|| FormatError::MissingField {
        construct: CONSTRUCT,
        path: "$.statements".into(),
    })?;
    for (i, s) in raw_statements.into_iter().enumerate() {
        let path = format!("$.statements[{i}]");
        let (vulnerability_id, aliases) = match s.vulnerability {
            Some(RawVulnerability::Name(n)) if !n.is_empty() => (n, Vec::new()),
            Some(RawVulnerability::Object { name, id, aliases }) => {
                match name.filter(|n| !n.is_empty()).or(id) {
                    Some(n) => (n, aliases.unwrap_or_default()),
                    None => return Err(missing(format!("{path}.vulnerability.name"))),
                }
            }
            _ => return Err(missing(format!("{path}.vulnerability"))),
        };
        let status_text = s.status.ok_or_else(|| missing(format!("{path}.status")))?;
        let status = match status_text.as_str() {
            "not_affected" => VexStatus::NotAffected,
            "affected" => VexStatus::Affected,
            "fixed" => VexStatus::Fixed,
            "under_investigation" => VexStatus::UnderInvestigation,
            other => {
                return Err(FormatError::InvalidValue {
                    construct: CONSTRUCT,
                    path: format!("{path}.status"),
                    reason: format!("unknown status {other:?}"),
                })
            }
        };
        let timestamp = s.timestamp.or_else(|| doc.timestamp.clone());
        let products = s.products.unwrap_or_default();
        if products.is_empty() {
            warnings.push(Warning {
                code: "statement_without_products",
                path: format!("{path}.products"),
                message: "statement names no product; skipped".into(),
            });
        }
        for (j, p) in products.into_iter().enumerate() {
            let ppath = format!("{path}.products[{j}]");
            let (product_id, product_purl, subcomponents) = match p {
                RawProduct::Id(id) => {
                    let purl = if id.starts_with("pkg:") {
                        purl_or_warn(Some(&id), || ppath.clone(), &mut warnings)
                    } else {
                        None
                    };
                    (id, purl, Vec::new())
                }
                RawProduct::Object(c) => {
                    let (id, purl) = identify(&c, &ppath, &mut warnings)?;
                    (id, purl, c.subcomponents.unwrap_or_default())
                }
            };
            let mut components = Vec::new();
            for (k, sc) in subcomponents.iter().enumerate() {
                let spath = format!("{ppath}.subcomponents[{k}]");
                let (id, purl) = identify(sc, &spath, &mut warnings)?;
                components.push(purl.map(|p| p.canonical).or(Some(id)));
            }
            if components.is_empty() {
                components.push(None);
            }
            for component_purl in components {
                statements.push(VexStatement {
                    vulnerability_id: vulnerability_id.clone(),
                    aliases: aliases.clone(),
                    product_id: product_id.clone(),
                    product_purl: product_purl.as_ref().map(|p| p.canonical.clone()),
                    component_purl,
                    status,
                    justification: s.justification.clone(),
                    impact_statement: s.impact_statement.clone(),
                    action_statement: s.action_statement.clone(),
                    timestamp: timestamp.clone(),
                    path: ppath.clone(),
                });
            }
        }
    }
    Ok(VexDocument {
        format: VexFormat::OpenVex,
        document_id: doc.id,
        timestamp: doc.timestamp,
        statements,
        warnings,
    })
}

/// A product or subcomponent's id and purl: `identifiers.purl`, else `@id` when it is a purl.
fn identify(
    c: &RawComponent,
    path: &str,
    warnings: &mut Vec<Warning>,
) -> Result<(String, Option<Purl>), FormatError> {
    let explicit = c.identifiers.as_ref().and_then(|i| i.purl.as_deref());
    let purl = match explicit {
        Some(p) => purl_or_warn(Some(p), || format!("{path}.identifiers.purl"), warnings),
        None => {
            c.id.as_deref()
                .filter(|id| id.starts_with("pkg:"))
                .and_then(|id| purl_or_warn(Some(id), || format!("{path}[\"@id\"]"), warnings))
        }
    };
    let id =
        c.id.clone()
            .or_else(|| explicit.map(str::to_string))
            .ok_or_else(|| missing(format!("{path}[\"@id\"]")))?;
    Ok((id, purl))
}

fn missing(path: String) -> FormatError {
    FormatError::MissingField {
        construct: CONSTRUCT,
        path,
    }
}
