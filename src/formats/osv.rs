//! OSV records (schema 1.x), JSON or YAML, into [`OsvRecord`].
//!
//! Validation beyond the types: `id` and `modified` are required; timestamps must be RFC 3339;
//! every range needs a `type` and events each with exactly one of `introduced`, `fixed`,
//! `last_affected`, `limit`. Per defect:
//! - a range without any `introduced` event is an error (its meaning is undefined; guessing
//!   "introduced 0" could invent findings) — osv-linter's `nointroduced-` case;
//! - a range whose events repeat a version is accepted with a `nondistinct_range_events`
//!   warning (still well defined) — osv-linter's `nondistinct-` case;
//! - a package name that does not exist in its registry (osv-linter's `nopackage-`) cannot be
//!   checked offline: accepted; it simply never matches a component;
//! - an invalid `package.purl` is dropped with an `invalid_purl` warning.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{deserialize, purl_or_warn, FormatError, Warning};

const CONSTRUCT: &str = "OSV record";

#[derive(Deserialize)]
struct RawRecord {
    id: Option<String>,
    modified: Option<String>,
    published: Option<String>,
    withdrawn: Option<String>,
    aliases: Option<Vec<String>>,
    related: Option<Vec<String>>,
    summary: Option<String>,
    details: Option<String>,
    severity: Option<Vec<RawSeverity>>,
    affected: Option<Vec<RawAffected>>,
    schema_version: Option<String>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(rename = "type")]
    ty: Option<String>,
    score: Option<String>,
}

#[derive(Deserialize)]
struct RawAffected {
    package: Option<RawPackage>,
    ranges: Option<Vec<RawRange>>,
    versions: Option<Vec<String>>,
    database_specific: Option<serde_json::Value>,
    ecosystem_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    ecosystem: Option<String>,
    name: Option<String>,
    purl: Option<String>,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    ty: Option<String>,
    repo: Option<String>,
    events: Option<Vec<RawEvent>>,
}

#[derive(Deserialize)]
struct RawEvent {
    introduced: Option<String>,
    fixed: Option<String>,
    last_affected: Option<String>,
    limit: Option<String>,
}

/// A normalized OSV record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OsvRecord {
    pub id: String,
    /// `modified` exactly as given.
    pub modified: String,
    /// `modified` parsed, in UTC.
    pub modified_at: DateTime<Utc>,
    pub published: Option<String>,
    pub withdrawn: Option<String>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub aliases: Vec<String>,
    pub related: Vec<String>,
    pub summary: Option<String>,
    pub details: Option<String>,
    pub severity: Vec<OsvSeverity>,
    pub affected: Vec<OsvAffected>,
    pub schema_version: Option<String>,
    pub warnings: Vec<super::Warning>,
}

/// A severity score (`CVSS_V3` vector, `Ubuntu` level, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsvSeverity {
    #[serde(rename = "type")]
    pub ty: String,
    pub score: String,
}

/// One `affected[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OsvAffected {
    pub ecosystem: Option<String>,
    pub name: Option<String>,
    /// `package.purl` as given.
    pub purl: Option<String>,
    /// Canonical package purl (no version), when `package.purl` is valid.
    pub purl_package: Option<String>,
    pub ranges: Vec<OsvRange>,
    pub versions: Vec<String>,
    pub database_specific: Option<serde_json::Value>,
    pub ecosystem_specific: Option<serde_json::Value>,
}

/// One range: `SEMVER`, `ECOSYSTEM` or `GIT` (with its repo).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsvRange {
    #[serde(rename = "type")]
    pub ty: String,
    pub repo: Option<String>,
    pub events: Vec<RangeEvent>,
}

/// One range event; serialized as OSV writes it (`{"introduced": "0"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeEvent {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

impl RangeEvent {
    /// The version or commit the event names.
    pub fn version(&self) -> &str {
        match self {
            RangeEvent::Introduced(v)
            | RangeEvent::Fixed(v)
            | RangeEvent::LastAffected(v)
            | RangeEvent::Limit(v) => v,
        }
    }
}

fn timestamp(value: &str, path: &str) -> Result<DateTime<Utc>, FormatError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| FormatError::InvalidValue {
            construct: CONSTRUCT,
            path: path.into(),
            reason: format!("{value:?} is not an RFC 3339 timestamp ({e})"),
        })
}

fn missing(path: String) -> FormatError {
    FormatError::MissingField {
        construct: CONSTRUCT,
        path,
    }
}

/// Parses one OSV record (JSON or YAML).
pub(crate) fn parse_osv(bytes: &[u8]) -> Result<OsvRecord, FormatError> {
    let raw: RawRecord = deserialize(bytes, CONSTRUCT)?;
    let id = raw
        .id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("$.id".into()))?;
    let modified = raw.modified.ok_or_else(|| missing("$.modified".into()))?;
    let modified_at = timestamp(&modified, "$.modified")?;
    if let Some(p) = &raw.published {
        timestamp(p, "$.published")?;
    }
    let withdrawn_at = match &raw.withdrawn {
        Some(w) => Some(timestamp(w, "$.withdrawn")?),
        None => None,
    };
    let mut warnings = Vec::new();
    let severity = raw
        .severity
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(OsvSeverity {
                ty: s
                    .ty
                    .ok_or_else(|| missing(format!("$.severity[{i}].type")))?,
                score: s
                    .score
                    .ok_or_else(|| missing(format!("$.severity[{i}].score")))?,
            })
        })
        .collect::<Result<Vec<_>, FormatError>>()?;
    let affected = raw
        .affected
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, a)| affected(a, &format!("$.affected[{i}]"), &mut warnings))
        .collect::<Result<Vec<_>, FormatError>>()?;
    Ok(OsvRecord {
        id,
        modified,
        modified_at,
        published: raw.published,
        withdrawn: raw.withdrawn,
        withdrawn_at,
        aliases: raw.aliases.unwrap_or_default(),
        related: raw.related.unwrap_or_default(),
        summary: raw.summary,
        details: raw.details,
        severity,
        affected,
        schema_version: raw.schema_version,
        warnings,
    })
}

fn affected(
    raw: RawAffected,
    path: &str,
    warnings: &mut Vec<Warning>,
) -> Result<OsvAffected, FormatError> {
    let (ecosystem, name, purl) = match raw.package {
        Some(p) => (p.ecosystem, p.name, p.purl),
        None => (None, None, None),
    };
    let purl_package = purl_or_warn(purl.as_deref(), || format!("{path}.package.purl"), warnings)
        .map(|p| p.package);
    let ranges = raw
        .ranges
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, r)| range(r, &format!("{path}.ranges[{i}]"), warnings))
        .collect::<Result<Vec<_>, FormatError>>()?;
    Ok(OsvAffected {
        ecosystem,
        name,
        purl,
        purl_package,
        ranges,
        versions: raw.versions.unwrap_or_default(),
        database_specific: raw.database_specific,
        ecosystem_specific: raw.ecosystem_specific,
    })
}

fn range(raw: RawRange, path: &str, warnings: &mut Vec<Warning>) -> Result<OsvRange, FormatError> {
    let ty = raw.ty.ok_or_else(|| missing(format!("{path}.type")))?;
    let raw_events = raw
        .events
        .ok_or_else(|| missing(format!("{path}.events")))?;
    let mut events = Vec::with_capacity(raw_events.len());
    for (i, e) in raw_events.into_iter().enumerate() {
        let mut set = [
            e.introduced.map(RangeEvent::Introduced),
            e.fixed.map(RangeEvent::Fixed),
            e.last_affected.map(RangeEvent::LastAffected),
            e.limit.map(RangeEvent::Limit),
        ]
        .into_iter()
        .flatten();
        match (set.next(), set.next()) {
            (Some(event), None) => events.push(event),
            (None, _) => {
                return Err(FormatError::InvalidValue {
                    construct: CONSTRUCT,
                    path: format!("{path}.events[{i}]"),
                    reason: "event has none of introduced, fixed, last_affected, limit".into(),
                })
            }
            (Some(_), Some(_)) => {
                return Err(FormatError::InvalidValue {
                    construct: CONSTRUCT,
                    path: format!("{path}.events[{i}]"),
                    reason: "event has more than one of introduced, fixed, last_affected, limit"
                        .into(),
                })
            }
        }
    }
    if !events
        .iter()
        .any(|e| matches!(e, RangeEvent::Introduced(_)))
    {
        return Err(FormatError::InvalidValue {
            construct: CONSTRUCT,
            path: format!("{path}.events"),
            reason: "range has no introduced event".into(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = events.iter().find(|e| !seen.insert(e.version())) {
        warnings.push(Warning {
            code: "nondistinct_range_events",
            path: format!("{path}.events"),
            message: format!("version {:?} appears in more than one event", dup.version()),
        });
    }
    Ok(OsvRange {
        ty,
        repo: raw.repo,
        events,
    })
}
