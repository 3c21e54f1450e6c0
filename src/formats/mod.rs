//! Document parsers: bytes in, normalized records out. No file or database I/O happens here.
//!
//! [`detect`] recognizes a document from its content (never its file name): an OSV record (JSON,
//! or YAML as the PyPA advisory database publishes it), a CycloneDX SBOM, a CycloneDX VEX, a
//! CycloneDX BOM carrying both, an SPDX 2.x JSON SBOM, an OpenVEX document or a CSAF 2.0 document
//! with product status (VEX profile). [`parse`] detects and parses in one call; the per-format
//! functions (`parse_osv`, `parse_sbom`, `parse_vex`) parse a kind the caller expects.
//!
//! Rules that decide what a document is:
//! - A CycloneDX BOM is **VEX** when any `vulnerabilities[]` entry carries `analysis` or
//!   `affects`. If such a BOM also names its artifact by purl (`metadata.component.purl`) and
//!   lists `components`, it is [`DocumentKind::CycloneDxSbomWithVex`] and yields both an
//!   [`Sbom`] and its VEX statements; otherwise it is [`DocumentKind::CycloneDxVex`] and its
//!   components only serve to resolve `affects[].ref`.
//! - CSAF: any CSAF 2.0 document (`document.csaf_version`) whose category is `csaf_vex` or
//!   `csaf_security_advisory` (both carry `product_status`); other categories are refused.
//!
//! Documents are parsed with typed serde structs: fields we do not use are skipped while reading,
//! so memory grows with the extracted records, not with the document. CycloneDX components are
//! turned into records while the array is read (no raw copy of the list). `parse*` read the
//! bytes twice (detection, then the typed pass) and copy them never. Measured by
//! `tests/formats_memory.rs`: a 48 MB BOM with 60,000 components raises peak RSS by ~42 MB.
//!
//! Errors are [`FormatError`]s naming the construct and the JSON path; defects that do not make
//! a document meaningless are [`Warning`]s (`invalid_purl`: the component is kept without purl).

mod csaf;
mod cyclonedx;
mod error;
mod openvex;
mod osv;
mod purl;
mod spdx;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

pub use csaf::parse_csaf;
pub use cyclonedx::{parse_cyclonedx_sbom, parse_cyclonedx_vex};
pub use error::FormatError;
pub use openvex::parse_openvex;
pub use osv::{OsvAffected, OsvRange, OsvRecord, OsvSeverity, RangeEvent};
pub use purl::Purl;
pub use spdx::parse_spdx;

/// What a document is, decided from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Osv,
    CycloneDxSbom,
    CycloneDxVex,
    /// A CycloneDX BOM with an artifact purl, components and VEX analysis at once.
    CycloneDxSbomWithVex,
    Spdx,
    OpenVex,
    CsafVex,
}

impl DocumentKind {
    /// A short human name, used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            DocumentKind::Osv => "OSV record",
            DocumentKind::CycloneDxSbom => "CycloneDX SBOM",
            DocumentKind::CycloneDxVex => "CycloneDX VEX",
            DocumentKind::CycloneDxSbomWithVex => "CycloneDX SBOM with VEX",
            DocumentKind::Spdx => "SPDX SBOM",
            DocumentKind::OpenVex => "OpenVEX",
            DocumentKind::CsafVex => "CSAF VEX",
        }
    }

    /// Whether the kind yields an [`Sbom`].
    pub fn is_sbom(self) -> bool {
        matches!(
            self,
            DocumentKind::CycloneDxSbom | DocumentKind::CycloneDxSbomWithVex | DocumentKind::Spdx
        )
    }

    /// Whether the kind yields VEX statements.
    pub fn is_vex(self) -> bool {
        matches!(
            self,
            DocumentKind::CycloneDxVex
                | DocumentKind::CycloneDxSbomWithVex
                | DocumentKind::OpenVex
                | DocumentKind::CsafVex
        )
    }
}

/// A defect that did not stop parsing; counted so the importer can report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Stable machine code, e.g. `invalid_purl`, `nondistinct_range_events`.
    pub code: &'static str,
    /// JSON path of the construct, e.g. `$.components[3].purl`.
    pub path: String,
    pub message: String,
}

/// SBOM source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SbomFormat {
    CycloneDx,
    Spdx,
}

/// One component (or the artifact) of an SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// CycloneDX `bom-ref` or SPDX `SPDXID`.
    pub id: Option<String>,
    pub name: String,
    pub version: Option<String>,
    /// CycloneDX `group`.
    pub group: Option<String>,
    /// `None` when absent or invalid (an invalid one is a counted `invalid_purl` warning).
    pub purl: Option<Purl>,
    pub hashes: Vec<Hash>,
    /// License ids, names or expressions, as given.
    pub licenses: Vec<String>,
    /// `id` of the enclosing component for CycloneDX nested components.
    pub parent: Option<String>,
    /// JSON path of the component in its document.
    pub path: String,
}

/// A checksum of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hash {
    pub alg: String,
    pub value: String,
}

/// A dependency edge: `from` depends on `to` (component ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub from: String,
    pub to: String,
}

/// A normalized SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sbom {
    pub format: SbomFormat,
    /// CycloneDX `specVersion` or SPDX `spdxVersion`.
    pub spec_version: String,
    /// CycloneDX `serialNumber` or SPDX `documentNamespace`.
    pub serial: Option<String>,
    /// The artifact the SBOM describes; the parsers only build an `Sbom` whose artifact has a
    /// valid purl (`artifact.purl` is `Some`).
    pub artifact: Component,
    /// Every other component. CycloneDX: `$.components` in document order, each nested
    /// component just before its parent, then the artifact's own nested components.
    pub components: Vec<Component>,
    pub dependencies: Vec<Dependency>,
    pub warnings: Vec<Warning>,
}

/// The four VEX statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VexStatus {
    Affected,
    NotAffected,
    Fixed,
    UnderInvestigation,
}

impl VexStatus {
    /// The OpenVEX spelling of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            VexStatus::Affected => "affected",
            VexStatus::NotAffected => "not_affected",
            VexStatus::Fixed => "fixed",
            VexStatus::UnderInvestigation => "under_investigation",
        }
    }
}

/// VEX source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VexFormat {
    OpenVex,
    CycloneDx,
    Csaf,
}

/// One normalized VEX statement: a status of one vulnerability for one product (and optionally
/// one subcomponent of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VexStatement {
    pub vulnerability_id: String,
    pub aliases: Vec<String>,
    /// The product as the document names it (purl, bom-ref or CSAF product id).
    pub product_id: String,
    /// Canonical purl of the product, when it has one.
    pub product_purl: Option<String>,
    /// Canonical purl of the subcomponent the statement is about, if any (OpenVEX: the
    /// subcomponent's `@id` when it has no purl).
    pub component_purl: Option<String>,
    pub status: VexStatus,
    pub justification: Option<String>,
    pub impact_statement: Option<String>,
    pub action_statement: Option<String>,
    /// RFC 3339 timestamp as given (statement's, else the document's).
    pub timestamp: Option<String>,
    /// JSON path of the construct the statement came from.
    pub path: String,
}

/// The statements of one VEX document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VexDocument {
    pub format: VexFormat,
    /// Document id (`@id`, `serialNumber`, CSAF `tracking.id`), when given.
    pub document_id: Option<String>,
    pub timestamp: Option<String>,
    pub statements: Vec<VexStatement>,
    pub warnings: Vec<Warning>,
}

/// A parsed document of any kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Document {
    Osv(OsvRecord),
    Sbom(Sbom),
    Vex(VexDocument),
    SbomWithVex { sbom: Sbom, vex: VexDocument },
}

/// Detects the kind of a document from its content.
pub fn detect(bytes: &[u8]) -> Result<DocumentKind, FormatError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FormatError::UnknownKind {
            reason: "the document is empty".into(),
        });
    }
    let probe: Probe = deserialize(bytes, "document")?;
    classify(&probe)
}

/// Detects and parses a document.
pub fn parse(bytes: &[u8]) -> Result<Document, FormatError> {
    Ok(match detect(bytes)? {
        DocumentKind::Osv => Document::Osv(osv::parse_osv(bytes)?),
        DocumentKind::CycloneDxSbom => Document::Sbom(cyclonedx::parse_cyclonedx_sbom(bytes)?),
        DocumentKind::Spdx => Document::Sbom(spdx::parse_spdx(bytes)?),
        DocumentKind::CycloneDxVex => Document::Vex(cyclonedx::parse_cyclonedx_vex(bytes)?),
        DocumentKind::CycloneDxSbomWithVex => {
            let (sbom, vex) = cyclonedx::parse_cyclonedx_both(bytes)?;
            Document::SbomWithVex { sbom, vex }
        }
        DocumentKind::OpenVex => Document::Vex(openvex::parse_openvex(bytes)?),
        DocumentKind::CsafVex => Document::Vex(csaf::parse_csaf(bytes)?),
    })
}

/// Parses an OSV record (JSON or YAML).
pub fn parse_osv(bytes: &[u8]) -> Result<OsvRecord, FormatError> {
    match detect(bytes)? {
        DocumentKind::Osv => osv::parse_osv(bytes),
        other => Err(wrong_kind("OSV record", other)),
    }
}

/// Parses an SBOM (CycloneDX, including one that also carries VEX, or SPDX).
pub fn parse_sbom(bytes: &[u8]) -> Result<Sbom, FormatError> {
    match detect(bytes)? {
        DocumentKind::CycloneDxSbom | DocumentKind::CycloneDxSbomWithVex => {
            cyclonedx::parse_cyclonedx_sbom(bytes)
        }
        DocumentKind::Spdx => spdx::parse_spdx(bytes),
        other => Err(wrong_kind("SBOM", other)),
    }
}

/// Parses a VEX document (OpenVEX, CycloneDX VEX, CSAF).
pub fn parse_vex(bytes: &[u8]) -> Result<VexDocument, FormatError> {
    match detect(bytes)? {
        DocumentKind::CycloneDxVex | DocumentKind::CycloneDxSbomWithVex => {
            cyclonedx::parse_cyclonedx_vex(bytes)
        }
        DocumentKind::OpenVex => openvex::parse_openvex(bytes),
        DocumentKind::CsafVex => csaf::parse_csaf(bytes),
        other => Err(wrong_kind("VEX", other)),
    }
}

fn wrong_kind(expected: &'static str, found: DocumentKind) -> FormatError {
    FormatError::WrongKind {
        expected,
        found: found.name(),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading JSON / YAML with paths.

/// JSON when the first significant byte opens an object or array, YAML otherwise.
fn is_json(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{') | Some(b'[')
    )
}

/// Deserializes `bytes` (JSON or YAML) into `T`, reporting the JSON path of any failure.
pub(crate) fn deserialize<T: DeserializeOwned>(
    bytes: &[u8],
    construct: &'static str,
) -> Result<T, FormatError> {
    if is_json(bytes) {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| FormatError::Syntax {
            construct,
            syntax: "JSON",
            path: json_path(e.path()),
            message: e.inner().to_string(),
        })?;
        de.end().map_err(|e| FormatError::Syntax {
            construct,
            syntax: "JSON",
            path: "$".into(),
            message: e.to_string(),
        })?;
        Ok(value)
    } else {
        let text = std::str::from_utf8(bytes).map_err(|e| FormatError::Syntax {
            construct,
            syntax: "YAML",
            path: "$".into(),
            message: e.to_string(),
        })?;
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| FormatError::Syntax {
            construct,
            syntax: "YAML",
            path: json_path(e.path()),
            message: e.inner().to_string(),
        })
    }
}

fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::from("$");
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { variant } => push_key(&mut out, variant),
            Segment::Unknown => out.push_str(".?"),
        }
    }
    out
}

/// Appends `.key`, or `["key"]` when the key is not a plain identifier.
pub(crate) fn push_key(out: &mut String, key: &str) {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        out.push('.');
        out.push_str(key);
    } else {
        out.push_str(&format!("[{key:?}]"));
    }
}

/// Parses an optional purl field; an invalid one becomes an `invalid_purl` warning.
pub(crate) fn purl_or_warn(
    raw: Option<&str>,
    path: impl FnOnce() -> String,
    warnings: &mut Vec<Warning>,
) -> Option<Purl> {
    let raw = raw?.trim();
    if raw.is_empty() {
        return None;
    }
    match Purl::parse(raw) {
        Ok(p) => Some(p),
        Err(reason) => {
            warnings.push(Warning {
                code: "invalid_purl",
                path: path(),
                message: format!("invalid purl {raw:?}: {reason}"),
            });
            None
        }
    }
}

/// Any JSON value, kept only if it is a string (detection must not fail on odd types).
#[derive(Default)]
struct LooseStr(Option<String>);

impl<'de> Deserialize<'de> for LooseStr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = LooseStr;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E>(self, v: &str) -> Result<LooseStr, E> {
                Ok(LooseStr(Some(v.to_string())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<LooseStr, E> {
                Ok(LooseStr(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<LooseStr, E> {
                Ok(LooseStr(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<LooseStr, E> {
                Ok(LooseStr(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<LooseStr, E> {
                Ok(LooseStr(None))
            }
            fn visit_unit<E>(self) -> Result<LooseStr, E> {
                Ok(LooseStr(None))
            }
            fn visit_none<E>(self) -> Result<LooseStr, E> {
                Ok(LooseStr(None))
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<LooseStr, D::Error> {
                LooseStr::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<LooseStr, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LooseStr(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<LooseStr, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LooseStr(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Visitor methods that accept any scalar (string, bool, number, null) as `$value`.
macro_rules! scalars_give {
    ($value:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// What detection looks at; everything is optional and tolerant of odd types, so detection only
/// fails on malformed syntax. Arrays are counted, not kept.
#[derive(Default)]
struct Probe {
    is_object: bool,
    bom_format: Option<String>,
    spdx_version: Option<String>,
    context: Option<String>,
    csaf_version: Option<String>,
    csaf_category: Option<String>,
    has_id: bool,
    has_modified: bool,
    has_affected: bool,
    has_schema_version: bool,
    has_statements: bool,
    components: usize,
    metadata_component_purl: bool,
    vex_vulnerabilities: usize,
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Probe;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a document")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Probe, A::Error> {
                let mut p = Probe {
                    is_object: true,
                    ..Probe::default()
                };
                while let Some(key) = a.next_key::<String>()? {
                    match key.as_str() {
                        "bomFormat" => p.bom_format = a.next_value::<LooseStr>()?.0,
                        "spdxVersion" => p.spdx_version = a.next_value::<LooseStr>()?.0,
                        "@context" => p.context = a.next_value::<LooseStr>()?.0,
                        "document" => {
                            let doc: ProbeCsafDocument = a.next_value()?;
                            p.csaf_version = doc.csaf_version;
                            p.csaf_category = doc.category;
                        }
                        "id" => p.has_id = a.next_value::<LooseStr>()?.0.is_some(),
                        "modified" => p.has_modified = a.next_value::<LooseStr>()?.0.is_some(),
                        "affected" => {
                            a.next_value::<IgnoredAny>()?;
                            p.has_affected = true;
                        }
                        "schema_version" => {
                            a.next_value::<IgnoredAny>()?;
                            p.has_schema_version = true;
                        }
                        "statements" => {
                            a.next_value::<IgnoredAny>()?;
                            p.has_statements = true;
                        }
                        "components" => p.components = a.next_value::<SeqCount>()?.0,
                        "metadata" => {
                            p.metadata_component_purl = a.next_value::<ProbeMetadata>()?.0;
                        }
                        "vulnerabilities" => {
                            p.vex_vulnerabilities = a.next_value::<VexVulnCount>()?.0;
                        }
                        _ => {
                            a.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(p)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Probe, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Probe::default())
            }
            scalars_give!(Probe::default());
        }
        d.deserialize_any(V)
    }
}

/// A visitor helper: `visit_map` for a struct-like probe, everything else ignored.
macro_rules! loose_map_probe {
    ($ty:ident, $expect:literal, |$a:ident, $key:ident, $out:ident| $body:block) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str($expect)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut $a: A,
                    ) -> Result<$ty, A::Error> {
                        let mut $out = $ty::default();
                        while let Some($key) = $a.next_key::<String>()? $body
                        Ok($out)
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        mut a: A,
                    ) -> Result<$ty, A::Error> {
                        while a.next_element::<IgnoredAny>()?.is_some() {}
                        Ok($ty::default())
                    }
                    scalars_give!($ty::default());
                }
                d.deserialize_any(V)
            }
        }
    };
}

#[derive(Default)]
struct ProbeCsafDocument {
    csaf_version: Option<String>,
    category: Option<String>,
}
loose_map_probe!(
    ProbeCsafDocument,
    "a CSAF document section",
    |a, key, out| {
        match key.as_str() {
            "csaf_version" => out.csaf_version = a.next_value::<LooseStr>()?.0,
            "category" => out.category = a.next_value::<LooseStr>()?.0,
            _ => {
                a.next_value::<IgnoredAny>()?;
            }
        }
    }
);

/// Whether `metadata.component.purl` is a string.
#[derive(Default)]
struct ProbeMetadata(bool);
loose_map_probe!(ProbeMetadata, "CycloneDX metadata", |a, key, out| {
    if key == "component" {
        out.0 = a.next_value::<ProbeComponent>()?.0;
    } else {
        a.next_value::<IgnoredAny>()?;
    }
});

#[derive(Default)]
struct ProbeComponent(bool);
loose_map_probe!(ProbeComponent, "CycloneDX component", |a, key, out| {
    if key == "purl" {
        out.0 = a.next_value::<LooseStr>()?.0.is_some();
    } else {
        a.next_value::<IgnoredAny>()?;
    }
});

/// Whether one vulnerability carries `analysis` or `affects`.
#[derive(Default)]
struct ProbeVuln(bool);
loose_map_probe!(ProbeVuln, "CycloneDX vulnerability", |a, key, out| {
    a.next_value::<IgnoredAny>()?;
    if key == "analysis" || key == "affects" {
        out.0 = true;
    }
});

/// Number of elements of an array (0 for anything else).
#[derive(Default)]
struct SeqCount(usize);
impl<'de> Deserialize<'de> for SeqCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let counted: CountedSeq<IgnoredAny> = Deserialize::deserialize(d)?;
        Ok(SeqCount(counted.total))
    }
}

/// Number of vulnerabilities carrying VEX data.
#[derive(Default)]
struct VexVulnCount(usize);
impl<'de> Deserialize<'de> for VexVulnCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let counted: CountedSeq<ProbeVuln> = Deserialize::deserialize(d)?;
        Ok(VexVulnCount(counted.matching))
    }
}

/// Counts the elements of an array (`total`) and those whose probe said yes (`matching`).
struct CountedSeq<T> {
    total: usize,
    matching: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T> CountedSeq<T> {
    fn empty() -> Self {
        CountedSeq {
            total: 0,
            matching: 0,
            _t: std::marker::PhantomData,
        }
    }
}

trait Yes {
    fn yes(&self) -> bool;
}
impl Yes for IgnoredAny {
    fn yes(&self) -> bool {
        true
    }
}
impl Yes for ProbeVuln {
    fn yes(&self) -> bool {
        self.0
    }
}

impl<'de, T: Deserialize<'de> + Yes> Deserialize<'de> for CountedSeq<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Yes> serde::de::Visitor<'de> for V<T> {
            type Value = CountedSeq<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut counted = CountedSeq::empty();
                while let Some(item) = a.next_element::<T>()? {
                    counted.total += 1;
                    counted.matching += usize::from(item.yes());
                }
                Ok(counted)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(CountedSeq::empty())
            }
            scalars_give!(CountedSeq::empty());
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn classify(p: &Probe) -> Result<DocumentKind, FormatError> {
    if !p.is_object {
        return Err(FormatError::UnknownKind {
            reason: "the top level is not an object".into(),
        });
    }
    if let Some(format) = &p.bom_format {
        if format != "CycloneDX" {
            return Err(FormatError::UnknownKind {
                reason: format!("$.bomFormat is {format:?}, not \"CycloneDX\""),
            });
        }
        return Ok(if p.vex_vulnerabilities == 0 {
            DocumentKind::CycloneDxSbom
        } else if p.metadata_component_purl && p.components > 0 {
            DocumentKind::CycloneDxSbomWithVex
        } else {
            DocumentKind::CycloneDxVex
        });
    }
    if let Some(version) = &p.spdx_version {
        if version.starts_with("SPDX-2.") {
            return Ok(DocumentKind::Spdx);
        }
        return Err(FormatError::UnknownKind {
            reason: format!("$.spdxVersion {version:?} is not SPDX 2.x"),
        });
    }
    if let Some(version) = &p.csaf_version {
        let category = p.csaf_category.as_deref().unwrap_or("");
        if !version.starts_with("2.") {
            return Err(FormatError::UnknownKind {
                reason: format!("$.document.csaf_version {version:?} is not CSAF 2.x"),
            });
        }
        return match category {
            "csaf_vex" | "csaf_security_advisory" => Ok(DocumentKind::CsafVex),
            other => Err(FormatError::UnknownKind {
                reason: format!(
                    "$.document.category {other:?} carries no product status (need csaf_vex or csaf_security_advisory)"
                ),
            }),
        };
    }
    if let Some(context) = &p.context {
        if context.starts_with("https://openvex.dev/ns") && p.has_statements {
            return Ok(DocumentKind::OpenVex);
        }
        if context.contains("spdx.org") {
            return Err(FormatError::UnknownKind {
                reason: "SPDX 3 JSON-LD is not supported (SPDX 2.2/2.3 JSON is)".into(),
            });
        }
    }
    if (p.has_id || p.has_modified) && (p.has_modified || p.has_affected || p.has_schema_version) {
        return Ok(DocumentKind::Osv);
    }
    Err(FormatError::UnknownKind {
        reason: "none of bomFormat, spdxVersion, document.csaf_version, an OpenVEX @context, \
                 or OSV id/modified"
            .into(),
    })
}
