//! CSAF 2.0 documents with product status (the VEX profile, and security advisories that carry
//! the same `product_status`) into [`VexStatement`]s.
//!
//! The product tree is walked (`branches` recursively, `full_product_names`, `relationships`)
//! to map each product id to `product_identification_helper.purl`. A relationship product
//! ("component C default_component_of product X") becomes product X's purl with component C's
//! purl (relationships are resolved one level deep, against branch and full product names). A
//! product id (or group id) used in a vulnerability but not defined in the tree is a
//! [`FormatError::UnresolvedCsafProduct`].
//!
//! Status lists: `known_affected`, `first_affected`, `last_affected` -> affected;
//! `known_not_affected` -> not_affected; `fixed`, `first_fixed` -> fixed; `under_investigation`.
//! `recommended` names versions to use, not a status, and gives no statement. Justification is
//! the `flags[].label` naming the product; impact the `threats[]` of category `impact`; action
//! the `remediations[]` details. The id is `cve`, else the first `ids[].text`; `ids[].text` are
//! aliases. Timestamp: the flag's `date`, else `document.tracking.current_release_date`.

use std::collections::HashMap;

use serde::Deserialize;

use super::{
    deserialize, purl_or_warn, FormatError, VexDocument, VexFormat, VexStatement, VexStatus,
    Warning,
};

const CONSTRUCT: &str = "CSAF document";

#[derive(Deserialize)]
struct RawDocument {
    document: Option<RawMeta>,
    product_tree: Option<RawProductTree>,
    vulnerabilities: Option<Vec<RawVulnerability>>,
}

#[derive(Deserialize)]
struct RawMeta {
    csaf_version: Option<String>,
    tracking: Option<RawTracking>,
}

#[derive(Deserialize)]
struct RawTracking {
    id: Option<String>,
    current_release_date: Option<String>,
}

#[derive(Deserialize)]
struct RawProductTree {
    branches: Option<Vec<RawBranch>>,
    full_product_names: Option<Vec<RawFullProductName>>,
    relationships: Option<Vec<RawRelationship>>,
    product_groups: Option<Vec<RawProductGroup>>,
}

#[derive(Deserialize)]
struct RawBranch {
    product: Option<RawFullProductName>,
    branches: Option<Vec<RawBranch>>,
}

#[derive(Deserialize)]
struct RawFullProductName {
    product_id: Option<String>,
    product_identification_helper: Option<RawHelper>,
}

#[derive(Deserialize)]
struct RawHelper {
    purl: Option<String>,
}

#[derive(Deserialize)]
struct RawRelationship {
    product_reference: Option<String>,
    relates_to_product_reference: Option<String>,
    full_product_name: Option<RawFullProductName>,
}

#[derive(Deserialize)]
struct RawProductGroup {
    group_id: Option<String>,
    product_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawVulnerability {
    cve: Option<String>,
    ids: Option<Vec<RawId>>,
    product_status: Option<RawProductStatus>,
    flags: Option<Vec<RawFlag>>,
    threats: Option<Vec<RawThreat>>,
    remediations: Option<Vec<RawRemediation>>,
}

#[derive(Deserialize)]
struct RawId {
    text: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawProductStatus {
    first_affected: Option<Vec<String>>,
    known_affected: Option<Vec<String>>,
    last_affected: Option<Vec<String>>,
    known_not_affected: Option<Vec<String>>,
    first_fixed: Option<Vec<String>>,
    fixed: Option<Vec<String>>,
    under_investigation: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawFlag {
    label: Option<String>,
    date: Option<String>,
    product_ids: Option<Vec<String>>,
    group_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawThreat {
    category: Option<String>,
    details: Option<String>,
    product_ids: Option<Vec<String>>,
    group_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawRemediation {
    category: Option<String>,
    details: Option<String>,
    product_ids: Option<Vec<String>>,
    group_ids: Option<Vec<String>>,
}

/// What a product id stands for.
#[derive(Clone, Default)]
struct Product {
    purl: Option<String>,
    component_purl: Option<String>,
}

struct Tree {
    products: HashMap<String, Product>,
    groups: HashMap<String, Vec<String>>,
}

impl Tree {
    fn build(raw: Option<RawProductTree>, warnings: &mut Vec<Warning>) -> Tree {
        let mut tree = Tree {
            products: HashMap::new(),
            groups: HashMap::new(),
        };
        let Some(raw) = raw else { return tree };
        let mut add = |p: &RawFullProductName, path: String, warnings: &mut Vec<Warning>| {
            if let Some(id) = &p.product_id {
                let purl = purl_or_warn(
                    p.product_identification_helper
                        .as_ref()
                        .and_then(|h| h.purl.as_deref()),
                    || format!("{path}.product_identification_helper.purl"),
                    warnings,
                )
                .map(|p| p.canonical);
                tree.products.insert(
                    id.clone(),
                    Product {
                        purl,
                        component_purl: None,
                    },
                );
            }
        };
        let mut stack: Vec<(&RawBranch, String)> = raw
            .branches
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, b)| (b, format!("$.product_tree.branches[{i}]")))
            .collect();
        while let Some((b, path)) = stack.pop() {
            if let Some(p) = &b.product {
                add(p, format!("{path}.product"), warnings);
            }
            for (i, child) in b.branches.iter().flatten().enumerate() {
                stack.push((child, format!("{path}.branches[{i}]")));
            }
        }
        for (i, p) in raw.full_product_names.iter().flatten().enumerate() {
            add(
                p,
                format!("$.product_tree.full_product_names[{i}]"),
                warnings,
            );
        }
        // Relationships after plain products, so their references resolve.
        let plain = tree.products.clone();
        for (i, r) in raw.relationships.iter().flatten().enumerate() {
            let Some(fpn) = &r.full_product_name else {
                continue;
            };
            let Some(id) = &fpn.product_id else { continue };
            let path = format!("$.product_tree.relationships[{i}].full_product_name");
            let own = purl_or_warn(
                fpn.product_identification_helper
                    .as_ref()
                    .and_then(|h| h.purl.as_deref()),
                || format!("{path}.product_identification_helper.purl"),
                warnings,
            )
            .map(|p| p.canonical);
            let lookup = |r: &Option<String>| {
                r.as_ref()
                    .and_then(|r| plain.get(r))
                    .and_then(|p| p.purl.clone())
            };
            let product_purl = lookup(&r.relates_to_product_reference).or_else(|| own.clone());
            let component_purl = lookup(&r.product_reference);
            tree.products.insert(
                id.clone(),
                Product {
                    purl: product_purl,
                    component_purl,
                },
            );
        }
        for g in raw.product_groups.into_iter().flatten() {
            if let Some(id) = g.group_id {
                tree.groups.insert(id, g.product_ids.unwrap_or_default());
            }
        }
        tree
    }

    /// Product ids named by `product_ids` and `group_ids`, checked against the tree.
    fn expand(
        &self,
        product_ids: &Option<Vec<String>>,
        group_ids: &Option<Vec<String>>,
        path: &str,
    ) -> Result<Vec<String>, FormatError> {
        let mut out = Vec::new();
        for (i, id) in product_ids.iter().flatten().enumerate() {
            self.check(id, &format!("{path}.product_ids[{i}]"))?;
            out.push(id.clone());
        }
        for (i, g) in group_ids.iter().flatten().enumerate() {
            let gpath = format!("{path}.group_ids[{i}]");
            let members = self
                .groups
                .get(g)
                .ok_or_else(|| FormatError::UnresolvedCsafProduct {
                    product_id: g.clone(),
                    path: gpath.clone(),
                })?;
            for id in members {
                self.check(id, &gpath)?;
                out.push(id.clone());
            }
        }
        Ok(out)
    }

    fn check(&self, id: &str, path: &str) -> Result<&Product, FormatError> {
        self.products
            .get(id)
            .ok_or_else(|| FormatError::UnresolvedCsafProduct {
                product_id: id.to_string(),
                path: path.to_string(),
            })
    }
}

/// Parses a CSAF 2.0 document's product statuses.
pub fn parse_csaf(bytes: &[u8]) -> Result<VexDocument, FormatError> {
    let doc: RawDocument = deserialize(bytes, CONSTRUCT)?;
    let meta = doc.document.ok_or_else(|| FormatError::MissingField {
        construct: CONSTRUCT,
        path: "$.document".into(),
    })?;
    if meta.csaf_version.is_none() {
        return Err(FormatError::MissingField {
            construct: CONSTRUCT,
            path: "$.document.csaf_version".into(),
        });
    }
    let tracking = meta.tracking;
    let (document_id, doc_time) = match tracking {
        Some(t) => (t.id, t.current_release_date),
        None => (None, None),
    };
    let mut warnings = Vec::new();
    let tree = Tree::build(doc.product_tree, &mut warnings);
    let mut statements = Vec::new();
    for (i, v) in doc
        .vulnerabilities
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let path = format!("$.vulnerabilities[{i}]");
        let ids: Vec<String> = v
            .ids
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| i.text)
            .collect();
        let Some(vulnerability_id) = v.cve.clone().or_else(|| ids.first().cloned()) else {
            return Err(FormatError::MissingField {
                construct: CONSTRUCT,
                path: format!("{path}.cve"),
            });
        };
        let aliases: Vec<String> = ids.into_iter().filter(|a| *a != vulnerability_id).collect();

        // Per product: justification (+ date), impact, action.
        let mut justification: HashMap<String, (String, Option<String>)> = HashMap::new();
        for (j, f) in v.flags.iter().flatten().enumerate() {
            let fpath = format!("{path}.flags[{j}]");
            let Some(label) = &f.label else { continue };
            for id in tree.expand(&f.product_ids, &f.group_ids, &fpath)? {
                justification
                    .entry(id)
                    .or_insert_with(|| (label.clone(), f.date.clone()));
            }
        }
        let mut impact: HashMap<String, String> = HashMap::new();
        for (j, t) in v.threats.iter().flatten().enumerate() {
            let tpath = format!("{path}.threats[{j}]");
            if t.category.as_deref() != Some("impact") {
                continue;
            }
            let Some(details) = &t.details else { continue };
            for id in tree.expand(&t.product_ids, &t.group_ids, &tpath)? {
                impact.entry(id).or_insert_with(|| details.clone());
            }
        }
        let mut action: HashMap<String, String> = HashMap::new();
        for (j, r) in v.remediations.iter().flatten().enumerate() {
            let rpath = format!("{path}.remediations[{j}]");
            let text = match (&r.category, &r.details) {
                (Some(c), Some(d)) => format!("{c}: {d}"),
                (None, Some(d)) => d.clone(),
                (Some(c), None) => c.clone(),
                (None, None) => continue,
            };
            for id in tree.expand(&r.product_ids, &r.group_ids, &rpath)? {
                action.entry(id).or_insert_with(|| text.clone());
            }
        }

        let status = v.product_status.unwrap_or_default();
        let lists = [
            ("first_affected", status.first_affected, VexStatus::Affected),
            ("known_affected", status.known_affected, VexStatus::Affected),
            ("last_affected", status.last_affected, VexStatus::Affected),
            (
                "known_not_affected",
                status.known_not_affected,
                VexStatus::NotAffected,
            ),
            ("first_fixed", status.first_fixed, VexStatus::Fixed),
            ("fixed", status.fixed, VexStatus::Fixed),
            (
                "under_investigation",
                status.under_investigation,
                VexStatus::UnderInvestigation,
            ),
        ];
        for (name, list, status) in lists {
            for (j, id) in list.unwrap_or_default().into_iter().enumerate() {
                let spath = format!("{path}.product_status.{name}[{j}]");
                let product = tree.check(&id, &spath)?.clone();
                let (justification, flag_date) = match justification.get(&id) {
                    Some((label, date)) => (Some(label.clone()), date.clone()),
                    None => (None, None),
                };
                statements.push(VexStatement {
                    vulnerability_id: vulnerability_id.clone(),
                    aliases: aliases.clone(),
                    product_purl: product.purl,
                    component_purl: product.component_purl,
                    status,
                    justification,
                    impact_statement: impact.get(&id).cloned(),
                    action_statement: action.get(&id).cloned(),
                    timestamp: flag_date.or_else(|| doc_time.clone()),
                    product_id: id,
                    path: spath,
                });
            }
        }
    }
    Ok(VexDocument {
        format: VexFormat::Csaf,
        document_id,
        timestamp: doc_time,
        statements,
        warnings,
    })
}
