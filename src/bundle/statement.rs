//! The in-toto Statement v1 carried in bundle envelopes, its bundle predicate, and the
//! deterministic JSON writer (sorted keys, compact) used for everything this module signs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::VerifyError;
use super::path::check_entry_path;

/// in-toto Statement v1 `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// predicateType of a bundle statement.
pub const BUNDLE_PREDICATE_TYPE: &str = "urn:stella-bundle:bundle:v1";
/// The producer string written into new bundles.
pub const PRODUCER: &str = concat!("stella-bundle ", env!("CARGO_PKG_VERSION"));

/// Writes `v` as compact JSON with object keys sorted by their bytes.
pub fn canonical_json(v: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(&Value::String((*k).clone()), out);
                out.push(b':');
                if let Some(val) = map.get(*k) {
                    write_canonical(val, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

/// Serializes any value deterministically (sorted keys, compact).
pub fn to_canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    Ok(canonical_json(&serde_json::to_value(value)?))
}

/// One subject: an entry path and its digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The entry path, e.g. `data/sbom/a.json`.
    pub name: String,
    /// Digests by algorithm; bundles carry `sha256`.
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// A subject with a sha256 digest.
    pub fn sha256(name: impl Into<String>, hex: impl Into<String>) -> Self {
        let mut digest = BTreeMap::new();
        digest.insert("sha256".to_string(), hex.into());
        Subject {
            name: name.into(),
            digest,
        }
    }

    /// The sha256 digest, if present.
    pub fn sha256_hex(&self) -> Option<&str> {
        self.digest.get("sha256").map(String::as_str)
    }
}

/// An in-toto Statement v1 with predicate `P`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement<P> {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// Subjects, sorted by name.
    pub subject: Vec<Subject>,
    /// The predicate type URI.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate.
    pub predicate: P,
}

impl<P: Serialize> Statement<P> {
    /// A statement with `subject` sorted by name.
    pub fn new(mut subject: Vec<Subject>, predicate_type: &str, predicate: P) -> Self {
        subject.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Statement {
            type_: STATEMENT_TYPE.to_string(),
            subject,
            predicate_type: predicate_type.to_string(),
            predicate,
        }
    }

    /// Deterministic JSON bytes: what gets signed. The same bytes as [`to_canonical_json`], but
    /// the subject list (one element per bundle entry, tens of thousands in a large snapshot) is
    /// written directly instead of through a `serde_json::Value` tree.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        write_statement(
            &self.type_,
            &self.predicate_type,
            &self.predicate,
            self.subject.len(),
            |out| {
                for (i, s) in self.subject.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    // A BTreeMap serializes its keys in byte order, as canonical JSON wants.
                    out.extend_from_slice(b"{\"digest\":");
                    serde_json::to_writer(&mut *out, &s.digest)?;
                    out.extend_from_slice(b",\"name\":");
                    serde_json::to_writer(&mut *out, &s.name)?;
                    out.push(b'}');
                }
                Ok(())
            },
        )
    }
}

/// The signed bytes of a statement whose subjects each carry one sha256 digest, written straight
/// from `(name, sha256 hex)` pairs that must already be sorted by name bytes: the same bytes as
/// `Statement::new(subjects, ..).to_json()` without a `Subject` (and its map) per entry.
pub fn sha256_statement_json<'a, P: Serialize>(
    predicate_type: &str,
    predicate: &P,
    subjects: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<u8>, serde_json::Error> {
    let count = subjects.len();
    write_statement(STATEMENT_TYPE, predicate_type, predicate, count, |out| {
        for (i, (name, sha256)) in subjects.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"digest\":{\"sha256\":");
            serde_json::to_writer(&mut *out, sha256)?;
            out.extend_from_slice(b"},\"name\":");
            serde_json::to_writer(&mut *out, name)?;
            out.push(b'}');
        }
        Ok(())
    })
}

/// Canonical statement JSON (keys in byte order: `_type`, `predicate`, `predicateType`,
/// `subject`); `subjects` writes the elements of the subject array.
fn write_statement<P: Serialize>(
    type_: &str,
    predicate_type: &str,
    predicate: &P,
    count: usize,
    subjects: impl FnOnce(&mut Vec<u8>) -> Result<(), serde_json::Error>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256 + count * 144);
    out.extend_from_slice(b"{\"_type\":");
    serde_json::to_writer(&mut out, type_)?;
    out.extend_from_slice(b",\"predicate\":");
    out.extend_from_slice(&to_canonical_json(predicate)?);
    out.extend_from_slice(b",\"predicateType\":");
    serde_json::to_writer(&mut out, predicate_type)?;
    out.extend_from_slice(b",\"subject\":[");
    subjects(&mut out)?;
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// Bundle kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// OSV records.
    Feed,
    /// CycloneDX / SPDX SBOMs.
    Sbom,
    /// OpenVEX, CycloneDX VEX, CSAF VEX.
    Vex,
    /// An `export` snapshot.
    Snapshot,
}

impl Kind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Feed => "feed",
            Kind::Sbom => "sbom",
            Kind::Vex => "vex",
            Kind::Snapshot => "snapshot",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "feed" => Ok(Kind::Feed),
            "sbom" => Ok(Kind::Sbom),
            "vex" => Ok(Kind::Vex),
            "snapshot" => Ok(Kind::Snapshot),
            _ => Err(format!(
                "unknown bundle kind {s:?} (feed, sbom, vex, snapshot)"
            )),
        }
    }
}

/// The `urn:stella-bundle:bundle:v1` predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePredicate {
    /// What the payload holds.
    pub kind: Kind,
    /// Source name, e.g. `osv-pypi`.
    pub source: String,
    /// RFC3339 UTC with `Z`, seconds precision.
    pub created: String,
    /// Tenant name, if the bundle is tenant-specific.
    pub tenant: Option<String>,
    /// `stella-bundle VERSION`.
    pub producer: String,
    /// Per-source sequence number.
    pub sequence: Option<u64>,
    /// sha256 of the snapshot a delta applies on top of.
    pub base: Option<String>,
}

/// A bundle statement.
pub type BundleStatement = Statement<BundlePredicate>;

/// True for 64 lowercase hex characters.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses and checks a bundle statement from the exact signed payload bytes.
pub fn parse_bundle_statement(payload: &[u8]) -> Result<BundleStatement, VerifyError> {
    let st: BundleStatement = serde_json::from_slice(payload)
        .map_err(|e| VerifyError::InvalidStatement(format!("not a bundle statement: {e}")))?;
    if st.type_ != STATEMENT_TYPE {
        return Err(VerifyError::InvalidStatement(format!(
            "_type is {:?}",
            st.type_
        )));
    }
    if st.predicate_type != BUNDLE_PREDICATE_TYPE {
        return Err(VerifyError::InvalidStatement(format!(
            "predicateType is {:?}, expected {BUNDLE_PREDICATE_TYPE:?}",
            st.predicate_type
        )));
    }
    if chrono::DateTime::parse_from_rfc3339(&st.predicate.created).is_err()
        || !st.predicate.created.ends_with('Z')
    {
        return Err(VerifyError::InvalidStatement(format!(
            "predicate.created {:?} is not RFC3339 UTC",
            st.predicate.created
        )));
    }
    if let Some(base) = &st.predicate.base {
        if !is_sha256_hex(base) {
            return Err(VerifyError::InvalidStatement(format!(
                "predicate.base {base:?} is not a sha256"
            )));
        }
    }
    let mut prev: Option<&str> = None;
    for s in &st.subject {
        check_entry_path(s.name.as_bytes()).map_err(|reason| {
            VerifyError::InvalidStatement(format!("subject {:?}: unsafe path ({reason})", s.name))
        })?;
        match s.sha256_hex() {
            Some(h) if is_sha256_hex(h) => {}
            _ => {
                return Err(VerifyError::InvalidStatement(format!(
                    "subject {:?}: no lowercase hex sha256 digest",
                    s.name
                )))
            }
        }
        if let Some(p) = prev {
            if p.as_bytes() >= s.name.as_bytes() {
                return Err(VerifyError::InvalidStatement(format!(
                    "subject {:?}: not sorted by name or duplicated",
                    s.name
                )));
            }
        }
        prev = Some(&s.name);
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_statement_json_is_the_canonical_form() {
        let mut odd = Subject::sha256("data/\u{e9}t\u{e9} \"q\"\\.json", "ab".repeat(32));
        odd.digest.insert("sha512".into(), "cd".repeat(64));
        let st = Statement::new(
            vec![
                Subject::sha256("data/b.json", "00".repeat(32)),
                odd,
                Subject::sha256("data/a\u{1}.json", "ff".repeat(32)),
            ],
            BUNDLE_PREDICATE_TYPE,
            BundlePredicate {
                kind: Kind::Snapshot,
                source: "s".into(),
                created: "2026-01-01T00:00:00Z".into(),
                tenant: None,
                producer: PRODUCER.into(),
                sequence: Some(7),
                base: Some("ee".repeat(32)),
            },
        );
        assert_eq!(st.to_json().unwrap(), to_canonical_json(&st).unwrap());
        let plain: Vec<Subject> = st
            .subject
            .iter()
            .map(|s| Subject::sha256(s.name.clone(), s.sha256_hex().unwrap()))
            .collect();
        let plain = Statement::new(plain, BUNDLE_PREDICATE_TYPE, st.predicate.clone());
        let pairs: Vec<(&str, &str)> = plain
            .subject
            .iter()
            .map(|s| (s.name.as_str(), s.sha256_hex().unwrap()))
            .collect();
        assert_eq!(
            sha256_statement_json(BUNDLE_PREDICATE_TYPE, &plain.predicate, pairs.into_iter())
                .unwrap(),
            to_canonical_json(&plain).unwrap()
        );
        let empty = Statement::new(vec![], "urn:x", serde_json::json!({"z": 1, "a": [2]}));
        assert_eq!(empty.to_json().unwrap(), to_canonical_json(&empty).unwrap());
    }
}
