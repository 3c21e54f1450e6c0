//! SemVer 2.0 ordering for npm, crates.io and Go (and OSV `SEMVER` ranges).
//!
//! Accepts an optional `v` prefix (Go) and `=`; build metadata (`+incompatible`, `+build`) is
//! parsed and ignored for ordering. Lenient where real advisory data is: missing minor/patch are
//! 0, leading zeros are allowed, and numeric components past the third are treated as build
//! metadata (as OSV's own comparator does). Numbers are unbounded.

use std::cmp::Ordering;

use super::{invalid, Num, Scheme, VersionError};

/// A parsed SemVer version.
#[derive(Debug, Clone)]
pub struct SemVer {
    core: [Num; 3],
    pre: Vec<Ident>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ident {
    Num(Num),
    Alpha(String),
}

impl Ord for Ident {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Ident::Num(a), Ident::Num(b)) => a.cmp(b),
            (Ident::Num(_), Ident::Alpha(_)) => Ordering::Less,
            (Ident::Alpha(_), Ident::Num(_)) => Ordering::Greater,
            (Ident::Alpha(a), Ident::Alpha(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Ident {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn ident_ok(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl SemVer {
    /// Parses `[v|=]MAJOR[.MINOR[.PATCH[.more]]][-PRE][+BUILD]`.
    pub fn parse(input: &str) -> Result<SemVer, VersionError> {
        let err = |r| invalid(Scheme::SemVer, input, r);
        let s = input.trim();
        let s = s.strip_prefix('=').unwrap_or(s);
        let s = s
            .strip_prefix('v')
            .or_else(|| s.strip_prefix('V'))
            .unwrap_or(s);
        let (s, build) = match s.split_once('+') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        if let Some(b) = build {
            if !b.split('.').all(ident_ok) {
                return Err(err("bad build metadata"));
            }
        }
        // The core ends at the first '-' (pre-release separator).
        let (core, pre) = match s.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let mut nums: [Num; 3] = Default::default();
        for (k, part) in core.split('.').enumerate() {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("version core must be dot-separated numbers"));
            }
            if let Some(slot) = nums.get_mut(k) {
                *slot = Num::new(part);
            }
        }
        let mut ids = Vec::new();
        if let Some(p) = pre {
            for id in p.split('.') {
                if !ident_ok(id) {
                    return Err(err("bad pre-release identifier"));
                }
                if id.bytes().all(|b| b.is_ascii_digit()) {
                    ids.push(Ident::Num(Num::new(id)));
                } else {
                    ids.push(Ident::Alpha(id.to_string()));
                }
            }
        }
        Ok(SemVer {
            core: nums,
            pre: ids,
        })
    }

    /// Whether this is a pre-release.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SemVer {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SemVer {}
