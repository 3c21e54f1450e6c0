//! OSV `affected[]` evaluation: the `ranges` (`SEMVER`, `ECOSYSTEM`, `GIT`) and `versions` of one
//! package, per the OSV schema's evaluation algorithm.
//!
//! A version is affected when it is listed in `versions` (same string, or equal in the
//! ecosystem's order) or falls in any evaluable range (union). Within a range the events are
//! sorted by version (`introduced: "0"` first; equal versions keep document order) and walked:
//! `introduced` (at or below the version) sets affected, `fixed` (at or below) and
//! `last_affected` (strictly below) clear it; the last event at or below the version decides.
//! `limit` events bound the range from above: the version must be below one of them (`*` means
//! no limit). `SEMVER` ranges always use SemVer order, `ECOSYSTEM` ranges the ecosystem's;
//! `GIT` ranges (and unknown types) are skipped and never stop the others from matching.
//! Ecosystems without an ordering match `versions` only.

use std::cmp::Ordering;

use serde::Deserialize;

use super::{Ecosystem, Scheme, Version, VersionError};

/// One OSV range, as in the OSV JSON (`{"type": "SEMVER", "events": [...]}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Range {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: RangeKind,
    /// `repo` (GIT ranges).
    #[serde(default)]
    pub repo: Option<String>,
    /// `events`.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// OSV range `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RangeKind {
    /// `SEMVER`: SemVer 2.0 order whatever the ecosystem.
    #[serde(rename = "SEMVER")]
    Semver,
    /// `ECOSYSTEM`: the ecosystem's order.
    #[serde(rename = "ECOSYSTEM")]
    Ecosystem,
    /// `GIT`: commit hashes; not evaluated here.
    #[serde(rename = "GIT")]
    Git,
    /// A type this code does not know; skipped.
    #[serde(other)]
    Unknown,
}

/// One OSV range event (`{"introduced": "1.0"}`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Start of an affected span (`"0"`: since the beginning).
    Introduced(String),
    /// First unaffected version.
    Fixed(String),
    /// Last affected version.
    LastAffected(String),
    /// Upper bound of the whole range (`"*"`: none).
    Limit(String),
}

impl Event {
    /// The event's version string.
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

/// Why an `affected` entry could not be evaluated for a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The component's own version does not parse in the ecosystem's order.
    #[error("component version: {0}")]
    Version(VersionError),
    /// An event of the advisory does not parse.
    #[error("advisory range event {event:?}: {source}")]
    Event {
        /// The event as written.
        event: String,
        /// Why it does not parse.
        source: VersionError,
    },
}

/// Whether `version` of a package in `eco` is affected by one OSV `affected` entry's `ranges`
/// and `versions`. An error only when nothing matched and some range could not be evaluated.
pub fn is_affected(
    eco: &Ecosystem,
    version: &str,
    ranges: &[Range],
    versions: &[String],
) -> Result<bool, RangeError> {
    let eco_scheme = eco.scheme();
    if versions.iter().any(|v| v == version) {
        return Ok(true);
    }
    if eco_scheme == Scheme::ExactOnly {
        return Ok(false);
    }
    let mut first_err: Option<RangeError> = None;
    let mut keep = |e: RangeError| {
        if first_err.is_none() {
            first_err = Some(e);
        }
    };
    match eco_scheme.parse(version) {
        Ok(parsed) => {
            let listed = versions
                .iter()
                .any(|v| eco_scheme.parse(v).is_ok_and(|p| p == parsed));
            if listed {
                return Ok(true);
            }
        }
        Err(e) => keep(RangeError::Version(e)),
    }
    for range in ranges {
        let scheme = match range.kind {
            RangeKind::Semver => Scheme::SemVer,
            RangeKind::Ecosystem => eco_scheme,
            RangeKind::Git | RangeKind::Unknown => continue,
        };
        match range_contains(scheme, version, &range.events) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(e) => keep(e),
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(false),
    }
}

/// A sort key for an event: `introduced: "0"` before everything.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Zero,
    At(Version),
}

/// Whether `version` lies in one range's events under `scheme`.
pub fn range_contains(scheme: Scheme, version: &str, events: &[Event]) -> Result<bool, RangeError> {
    let v = scheme.parse(version).map_err(RangeError::Version)?;
    let mut keyed: Vec<(Key, &Event)> = Vec::with_capacity(events.len());
    let mut limits: Vec<Version> = Vec::new();
    let mut has_limit = false;
    let mut unlimited = false;
    for ev in events {
        let parse = |s: &str| {
            scheme.parse(s).map_err(|source| RangeError::Event {
                event: format!("{ev:?}"),
                source,
            })
        };
        match ev {
            Event::Limit(l) if l == "*" => unlimited = true,
            Event::Limit(l) => {
                has_limit = true;
                limits.push(parse(l)?);
            }
            Event::Introduced(i) if i == "0" => keyed.push((Key::Zero, ev)),
            _ => keyed.push((Key::At(parse(ev.version())?), ev)),
        }
    }
    if has_limit && !unlimited && !limits.iter().any(|l| v < *l) {
        return Ok(false);
    }
    Ok(range_walk(&v, keyed))
}

/// Stable insertion sort: equal versions keep document order. Not `sort_by`: some real
/// orderings are not total (Maven's `ComparableVersion` is not transitive, e.g. `9` <
/// `9ga.11-GA` < `9-Final-cr.10-1` but `9` > `9-Final-cr.10-1`), and the standard sorts may
/// panic on such input. Ranges hold a handful of events, so quadratic time is fine.
fn sort_events(keyed: &mut [(Key, &Event)]) {
    for i in 1..keyed.len() {
        let mut j = i;
        while j > 0 && keyed[j - 1].0 > keyed[j].0 {
            keyed.swap(j - 1, j);
            j -= 1;
        }
    }
}

fn range_walk(v: &Version, mut keyed: Vec<(Key, &Event)>) -> bool {
    sort_events(&mut keyed);
    let mut affected = false;
    for (key, ev) in &keyed {
        let cmp = match key {
            Key::Zero => Ordering::Greater,
            Key::At(e) => v.cmp(e),
        };
        match ev {
            Event::Introduced(_) if cmp != Ordering::Less => affected = true,
            Event::Fixed(_) if cmp != Ordering::Less => affected = false,
            Event::LastAffected(_) if cmp == Ordering::Greater => affected = false,
            _ => {}
        }
    }
    affected
}
