//! NuGet ordering: `NuGetVersion` — one to four numeric parts (missing ones are 0), SemVer 2.0
//! release labels compared part by part (numbers numerically and before text, text
//! case-insensitively by ordinal), no label after any label, metadata after `+` ignored.
//! Numbers are unbounded and may have leading zeros (legacy NuGet versions).

use std::cmp::Ordering;

use super::{invalid, Num, Scheme, VersionError};

/// A parsed NuGet version.
#[derive(Debug, Clone)]
pub struct NuGetVersion {
    parts: [Num; 4],
    labels: Vec<Label>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Label {
    Num(Num),
    /// Upper-cased (ordinal ignore-case comparison).
    Text(String),
}

impl Ord for Label {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Label::Num(a), Label::Num(b)) => a.cmp(b),
            (Label::Num(_), Label::Text(_)) => Ordering::Less,
            (Label::Text(_), Label::Num(_)) => Ordering::Greater,
            (Label::Text(a), Label::Text(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Label {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn ident_ok(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl NuGetVersion {
    /// Parses `N[.N[.N[.N]]][-label[.label]...][+metadata]`.
    pub fn parse(input: &str) -> Result<NuGetVersion, VersionError> {
        let err = |r| invalid(Scheme::NuGet, input, r);
        let s = input.trim();
        let (s, meta) = match s.split_once('+') {
            Some((a, m)) => (a, Some(m)),
            None => (s, None),
        };
        if let Some(m) = meta {
            if !m.split('.').all(ident_ok) {
                return Err(err("bad metadata"));
            }
        }
        let (core, pre) = match s.split_once('-') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let mut parts: [Num; 4] = Default::default();
        for (k, p) in core.split('.').enumerate() {
            if k >= 4 {
                return Err(err("more than four numeric parts"));
            }
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("numeric parts must be numbers"));
            }
            parts[k] = Num::new(p);
        }
        let mut labels = Vec::new();
        if let Some(p) = pre {
            for l in p.split('.') {
                if !ident_ok(l) {
                    return Err(err("bad release label"));
                }
                labels.push(if l.bytes().all(|b| b.is_ascii_digit()) {
                    Label::Num(Num::new(l))
                } else {
                    Label::Text(l.to_ascii_uppercase())
                });
            }
        }
        Ok(NuGetVersion { parts, labels })
    }
}

impl Ord for NuGetVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts).then_with(|| {
            match (self.labels.is_empty(), other.labels.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.labels.cmp(&other.labels),
            }
        })
    }
}

impl PartialOrd for NuGetVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for NuGetVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for NuGetVersion {}
