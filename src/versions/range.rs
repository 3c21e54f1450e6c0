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
use std::sync::OnceLock;

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
///
/// One-off form of [`PreparedAffected`]: a caller evaluating the same entry for many versions
/// prepares it once and parses each version once ([`CandidateVersion`]).
pub fn is_affected(
    eco: &Ecosystem,
    version: &str,
    ranges: &[Range],
    versions: &[String],
) -> Result<bool, RangeError> {
    PreparedAffected::new(eco, ranges, versions).is_affected(&CandidateVersion::new(version))
}

/// A component version, parsed lazily and at most once per ordering scheme (an entry asks for
/// its ecosystem's scheme and, for `SEMVER` ranges, SemVer).
#[derive(Debug)]
pub struct CandidateVersion {
    raw: String,
    parsed: [OnceLock<Result<Version, VersionError>>; SCHEMES],
}

/// How many [`Scheme`]s there are (the cache slots of a [`CandidateVersion`]).
const SCHEMES: usize = 9;

fn slot(scheme: Scheme) -> usize {
    match scheme {
        Scheme::SemVer => 0,
        Scheme::Pep440 => 1,
        Scheme::Maven => 2,
        Scheme::Dpkg => 3,
        Scheme::Rpm => 4,
        Scheme::Apk => 5,
        Scheme::RubyGems => 6,
        Scheme::NuGet => 7,
        Scheme::ExactOnly => 8,
    }
}

impl CandidateVersion {
    /// The version as written; nothing is parsed yet.
    pub fn new(raw: &str) -> CandidateVersion {
        CandidateVersion {
            raw: raw.to_string(),
            parsed: Default::default(),
        }
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The version in `scheme`'s order (parsed on first use).
    pub fn parsed(&self, scheme: Scheme) -> &Result<Version, VersionError> {
        self.parsed[slot(scheme)].get_or_init(|| scheme.parse(&self.raw))
    }
}

/// One OSV `affected` entry prepared for evaluation against many versions: the listed
/// `versions` and every range event parsed once, each range's events sorted once. Evaluates
/// exactly as [`is_affected`] always has (same verdicts, same errors).
#[derive(Debug, Clone)]
pub struct PreparedAffected {
    scheme: Scheme,
    versions: Vec<String>,
    /// The listed versions that parse in the ecosystem's order.
    listed: Vec<Version>,
    ranges: Vec<PreparedRange>,
}

/// One evaluable (`SEMVER` or `ECOSYSTEM`) range: its scheme and its parsed events, or the
/// error of its first event (in document order) that does not parse.
#[derive(Debug, Clone)]
struct PreparedRange {
    scheme: Scheme,
    events: Result<PreparedEvents, RangeError>,
}

#[derive(Debug, Clone)]
struct PreparedEvents {
    /// Sorted by version (stable: equal versions keep document order); `limit`s excluded.
    walk: Vec<(Key, Step)>,
    /// Parsed `limit` events other than `*`.
    limits: Vec<Version>,
    /// Some `limit` is `*`: no upper bound.
    unlimited: bool,
}

/// What an event does to the walk's state once the version is at (or past) it.
#[derive(Debug, Clone, Copy)]
enum Step {
    Introduced,
    Fixed,
    LastAffected,
}

impl PreparedAffected {
    /// Prepares an entry of ecosystem `eco`.
    pub fn new(eco: &Ecosystem, ranges: &[Range], versions: &[String]) -> PreparedAffected {
        let scheme = eco.scheme();
        if scheme == Scheme::ExactOnly {
            return PreparedAffected {
                scheme,
                versions: versions.to_vec(),
                listed: Vec::new(),
                ranges: Vec::new(),
            };
        }
        PreparedAffected {
            scheme,
            versions: versions.to_vec(),
            listed: versions
                .iter()
                .filter_map(|v| scheme.parse(v).ok())
                .collect(),
            ranges: ranges
                .iter()
                .filter_map(|r| {
                    let scheme = match r.kind {
                        RangeKind::Semver => Scheme::SemVer,
                        RangeKind::Ecosystem => scheme,
                        RangeKind::Git | RangeKind::Unknown => return None,
                    };
                    Some(PreparedRange {
                        scheme,
                        events: prepare_events(scheme, &r.events),
                    })
                })
                .collect(),
        }
    }

    /// Whether `version` is affected. An error only when nothing matched and some range could
    /// not be evaluated (the component version's own error first).
    pub fn is_affected(&self, version: &CandidateVersion) -> Result<bool, RangeError> {
        if self.versions.contains(&version.raw) {
            return Ok(true);
        }
        if self.scheme == Scheme::ExactOnly {
            return Ok(false);
        }
        let mut first_err: Option<RangeError> = None;
        let mut keep = |e: RangeError| {
            if first_err.is_none() {
                first_err = Some(e);
            }
        };
        match version.parsed(self.scheme) {
            Ok(parsed) => {
                if self.listed.iter().any(|l| l == parsed) {
                    return Ok(true);
                }
            }
            Err(e) => keep(RangeError::Version(e.clone())),
        }
        for range in &self.ranges {
            match range.contains(version) {
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
}

impl PreparedRange {
    fn contains(&self, version: &CandidateVersion) -> Result<bool, RangeError> {
        let v = version
            .parsed(self.scheme)
            .as_ref()
            .map_err(|e| RangeError::Version(e.clone()))?;
        let events = self.events.as_ref().map_err(Clone::clone)?;
        Ok(events.contains(v))
    }
}

/// Parses and sorts one range's events under `scheme`; the first event that does not parse (in
/// document order) makes the whole range an error.
fn prepare_events(scheme: Scheme, events: &[Event]) -> Result<PreparedEvents, RangeError> {
    let mut walk: Vec<(Key, Step)> = Vec::with_capacity(events.len());
    let mut limits: Vec<Version> = Vec::new();
    let mut unlimited = false;
    for ev in events {
        let parse = |s: &str| {
            scheme.parse(s).map_err(|source| RangeError::Event {
                event: format!("{ev:?}"),
                source,
            })
        };
        let step = match ev {
            Event::Limit(l) if l == "*" => {
                unlimited = true;
                continue;
            }
            Event::Limit(l) => {
                limits.push(parse(l)?);
                continue;
            }
            Event::Introduced(_) => Step::Introduced,
            Event::Fixed(_) => Step::Fixed,
            Event::LastAffected(_) => Step::LastAffected,
        };
        let key = match ev {
            Event::Introduced(i) if i == "0" => Key::Zero,
            _ => Key::At(parse(ev.version())?),
        };
        walk.push((key, step));
    }
    sort_events(&mut walk);
    Ok(PreparedEvents {
        walk,
        limits,
        unlimited,
    })
}

impl PreparedEvents {
    /// The OSV walk: `limit`s bound the range from above, then the last event at or below the
    /// version decides.
    fn contains(&self, v: &Version) -> bool {
        if !self.limits.is_empty() && !self.unlimited && !self.limits.iter().any(|l| v < l) {
            return false;
        }
        let mut affected = false;
        for (key, step) in &self.walk {
            let cmp = match key {
                Key::Zero => Ordering::Greater,
                Key::At(e) => v.cmp(e),
            };
            match step {
                Step::Introduced if cmp != Ordering::Less => affected = true,
                Step::Fixed if cmp != Ordering::Less => affected = false,
                Step::LastAffected if cmp == Ordering::Greater => affected = false,
                _ => {}
            }
        }
        affected
    }
}

/// A sort key for an event: `introduced: "0"` before everything.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Zero,
    At(Version),
}

/// Whether `version` lies in one range's events under `scheme`.
pub fn range_contains(scheme: Scheme, version: &str, events: &[Event]) -> Result<bool, RangeError> {
    PreparedRange {
        scheme,
        events: prepare_events(scheme, events),
    }
    .contains(&CandidateVersion::new(version))
}

/// Stable insertion sort: equal versions keep document order. Not `sort_by`: some real
/// orderings are not total (Maven's `ComparableVersion` is not transitive, e.g. `9` <
/// `9ga.11-GA` < `9-Final-cr.10-1` but `9` > `9-Final-cr.10-1`), and the standard sorts may
/// panic on such input. Ranges hold a handful of events, so quadratic time is fine.
fn sort_events(keyed: &mut [(Key, Step)]) {
    for i in 1..keyed.len() {
        let mut j = i;
        while j > 0 && keyed[j - 1].0 > keyed[j].0 {
            keyed.swap(j - 1, j);
            j -= 1;
        }
    }
}
