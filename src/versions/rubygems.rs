//! RubyGems ordering: `Gem::Version#<=>`. `-` means `.pre.`; segments are runs of digits or
//! letters; trailing zeros are dropped from the numeric part and from the pre-release part
//! (canonical segments); a letter segment makes a pre-release and sorts before any number.
//! Letters are compared case-sensitively, numbers unbounded. A little more lenient than
//! `Gem::Version.correct?` (letters may follow digits without a dot, as in `1beta`).

use std::cmp::Ordering;

use super::{invalid, Num, Scheme, VersionError};

/// A parsed gem version (its canonical segments).
#[derive(Debug, Clone)]
pub struct GemVersion {
    segments: Vec<Seg>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Num(Num),
    Str(String),
}

impl GemVersion {
    /// Parses digits, letters, `.` and `-`, starting with a digit (surrounding whitespace ok).
    pub fn parse(input: &str) -> Result<GemVersion, VersionError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(VersionError::Empty);
        }
        if !s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(invalid(Scheme::RubyGems, input, "must start with a digit"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(invalid(Scheme::RubyGems, input, "invalid character"));
        }
        let s = s.replace('-', ".pre.");
        let mut segs = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let mut j = i + 1;
            if c.is_ascii_digit() {
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                segs.push(Seg::Num(Num::new(&s[i..j])));
            } else if c.is_ascii_alphabetic() {
                while j < b.len() && b[j].is_ascii_alphabetic() {
                    j += 1;
                }
                segs.push(Seg::Str(s[i..j].to_string()));
            }
            i = j;
        }
        // Canonical segments: drop trailing zeros of the numeric and of the string part.
        let split = segs
            .iter()
            .position(|s| matches!(s, Seg::Str(_)))
            .unwrap_or(segs.len());
        let mut tail = segs.split_off(split);
        let is_zero = |s: &Seg| matches!(s, Seg::Num(n) if n.is_zero());
        while segs.last().is_some_and(is_zero) {
            segs.pop();
        }
        while tail.last().is_some_and(is_zero) {
            tail.pop();
        }
        segs.extend(tail);
        Ok(GemVersion { segments: segs })
    }

    /// Whether it has a letter segment (a pre-release).
    pub fn is_prerelease(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Seg::Str(_)))
    }
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let zero = Seg::Num(Num::default());
        let n = self.segments.len().max(other.segments.len());
        for i in 0..n {
            let l = self.segments.get(i).unwrap_or(&zero);
            let r = other.segments.get(i).unwrap_or(&zero);
            let o = match (l, r) {
                (Seg::Num(a), Seg::Num(b)) => a.cmp(b),
                (Seg::Str(_), Seg::Num(_)) => Ordering::Less,
                (Seg::Num(_), Seg::Str(_)) => Ordering::Greater,
                (Seg::Str(a), Seg::Str(b)) => a.cmp(b),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for GemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for GemVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for GemVersion {}
