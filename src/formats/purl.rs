//! Package URLs: parsing and canonical strings, on top of the `packageurl` crate. A component's
//! identity is `package` (type, namespace, name); `canonical` adds version, qualifiers, subpath.

use std::collections::BTreeMap;
use std::str::FromStr;

use packageurl::PackageUrl;
use serde::Serialize;

/// A parsed, canonicalized purl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purl {
    /// Full canonical form: `pkg:type/namespace/name@version?qualifiers#subpath`.
    pub canonical: String,
    /// Package identity without version, qualifiers and subpath: `pkg:type/namespace/name`.
    pub package: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub qualifiers: BTreeMap<String, String>,
    pub subpath: Option<String>,
}

impl Purl {
    /// Parses and canonicalizes `input`; the error is the `packageurl` crate's reason.
    pub fn parse(input: &str) -> Result<Purl, String> {
        let parsed = PackageUrl::from_str(input.trim()).map_err(|e| e.to_string())?;
        let canonical = parsed.to_string();
        let mut identity = parsed.clone();
        identity
            .without_version()
            .without_subpath()
            .clear_qualifiers();
        Ok(Purl {
            canonical,
            package: identity.to_string(),
            ty: parsed.ty().to_string(),
            namespace: parsed.namespace().map(str::to_string),
            name: parsed.name().to_string(),
            version: parsed.version().map(str::to_string),
            qualifiers: parsed
                .qualifiers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            subpath: parsed.subpath().map(str::to_string),
        })
    }
}
