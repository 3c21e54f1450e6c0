//! PEP 440 ordering for PyPI, with `packaging.LegacyVersion` ordering for everything else.
//!
//! Valid versions are matched like `packaging`'s `VERSION_PATTERN` (case-insensitive, `v`
//! prefix, epochs, pre/post/dev with every spelling and separator, implicit `-N` post releases,
//! local versions), with the regex's backtracking reproduced by trying the alternatives in its
//! priority order. The order is `packaging`'s `_cmpkey`. A string that is not PEP 440 is a legacy
//! version: ordered by the old `LegacyVersion` key and before every valid version, as
//! `packaging` < 22 did. Only empty and over-long strings are errors. Known gap: Python's
//! case-insensitive regex also lets a few non-ASCII letters (U+017F, U+212A, ...) stand for
//! ASCII ones; here any non-ASCII character makes a legacy version.

use std::cmp::Ordering;

use super::Num;
use super::VersionError;

/// A parsed PyPI version.
#[derive(Debug, Clone)]
pub enum Pep440 {
    /// Not PEP 440: the `LegacyVersion` key parts.
    Legacy(Vec<String>),
    /// PEP 440.
    Valid(Box<Valid>),
}

/// The comparison key of a valid PEP 440 version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Valid {
    epoch: Num,
    release: Vec<Num>,
    pre: PreKey,
    post: Option<Num>,
    dev: DevKey,
    local: Option<Vec<LocalPart>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PreKey {
    /// A dev release of a final: sorts before every pre-release.
    NegInf,
    Pre(u8, Num),
    PosInf,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum DevKey {
    Dev(Num),
    PosInf,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LocalPart {
    Alpha(String),
    Num(Num),
}

impl Pep440 {
    /// Parses a PyPI version; never fails except on empty or over-long input.
    pub fn parse(input: &str) -> Result<Pep440, VersionError> {
        if input.trim_matches(py_space).is_empty() {
            return Err(VersionError::Empty);
        }
        match parse_valid(input) {
            Some(v) => Ok(Pep440::Valid(Box::new(v))),
            None => Ok(Pep440::Legacy(legacy_key(input))),
        }
    }

    /// Whether the string was PEP 440 (not legacy).
    pub fn is_valid(&self) -> bool {
        matches!(self, Pep440::Valid(_))
    }
}

impl Ord for Pep440 {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Pep440::Legacy(a), Pep440::Legacy(b)) => a.cmp(b),
            (Pep440::Legacy(_), Pep440::Valid(_)) => Ordering::Less,
            (Pep440::Valid(_), Pep440::Legacy(_)) => Ordering::Greater,
            (Pep440::Valid(a), Pep440::Valid(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Pep440 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pep440 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pep440 {}

/// What the regex groups captured.
#[derive(Default, Clone)]
struct Caps {
    pre: Option<(u8, Num)>,
    post: Option<Num>,
    dev: Option<Num>,
    local: Option<Vec<LocalPart>>,
}

fn digits_end(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    j
}

fn is_sep(c: u8) -> bool {
    matches!(c, b'-' | b'_' | b'.')
}

fn text(b: &[u8], from: usize, to: usize) -> &str {
    std::str::from_utf8(b.get(from..to).unwrap_or_default()).unwrap_or_default()
}

/// `[-_.]? LABEL [-_.]? [0-9]*` alternatives at `i`, in the regex's priority order:
/// (end, label index, number).
fn labelled(b: &[u8], i: usize, labels: &[&str]) -> Vec<(usize, usize, Num)> {
    let mut out = Vec::new();
    let sep1: &[usize] = if b.get(i).copied().is_some_and(is_sep) {
        &[1, 0]
    } else {
        &[0]
    };
    for &s1 in sep1 {
        let at = i + s1;
        for (li, label) in labels.iter().enumerate() {
            if !b.get(at..).is_some_and(|r| r.starts_with(label.as_bytes())) {
                continue;
            }
            let after = at + label.len();
            let sep2: &[usize] = if b.get(after).copied().is_some_and(is_sep) {
                &[1, 0]
            } else {
                &[0]
            };
            for &s2 in sep2 {
                let n = after + s2;
                let e = digits_end(b, n);
                if e > n {
                    out.push((e, li, Num::new(text(b, n, e))));
                }
                out.push((n, li, Num::default()));
            }
        }
    }
    out
}

const PRE_LABELS: [&str; 8] = ["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"];
/// Normalized pre-release kind per label: a=0, b=1, rc=2.
const PRE_KIND: [u8; 8] = [0, 0, 1, 1, 2, 2, 2, 2];

/// Python's `str.isspace()` / regex `\s`: Unicode White_Space plus the ASCII information
/// separators U+001C..U+001F, which Rust's `char::is_whitespace` leaves out.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn parse_valid(input: &str) -> Option<Valid> {
    let s = input.trim_matches(py_space);
    if !s.is_ascii() {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let b = lower.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'v') {
        i = 1;
    }
    let mut e = digits_end(b, i);
    if e == i {
        return None;
    }
    let mut epoch = Num::default();
    if b.get(e) == Some(&b'!') {
        epoch = Num::new(text(b, i, e));
        i = e + 1;
        e = digits_end(b, i);
        if e == i {
            return None;
        }
    }
    let mut release = vec![Num::new(text(b, i, e))];
    i = e;
    while b.get(i) == Some(&b'.') {
        let e = digits_end(b, i + 1);
        if e == i + 1 {
            break;
        }
        release.push(Num::new(text(b, i + 1, e)));
        i = e;
    }
    while release.last().is_some_and(Num::is_zero) {
        release.pop();
    }
    let caps = match_pre(b, i)?;
    let pre = match (&caps.pre, &caps.post, &caps.dev) {
        (None, None, Some(_)) => PreKey::NegInf,
        (None, _, _) => PreKey::PosInf,
        (Some((k, n)), _, _) => PreKey::Pre(*k, n.clone()),
    };
    Some(Valid {
        epoch,
        release,
        pre,
        post: caps.post,
        dev: match caps.dev {
            Some(n) => DevKey::Dev(n),
            None => DevKey::PosInf,
        },
        local: caps.local,
    })
}

fn match_pre(b: &[u8], i: usize) -> Option<Caps> {
    for (end, li, n) in labelled(b, i, &PRE_LABELS) {
        if let Some(mut c) = match_post(b, end) {
            c.pre = Some((PRE_KIND[li], n));
            return Some(c);
        }
    }
    match_post(b, i)
}

fn match_post(b: &[u8], i: usize) -> Option<Caps> {
    if b.get(i) == Some(&b'-') {
        let e = digits_end(b, i + 1);
        if e > i + 1 {
            if let Some(mut c) = match_dev(b, e) {
                c.post = Some(Num::new(text(b, i + 1, e)));
                return Some(c);
            }
        }
    }
    for (end, _, n) in labelled(b, i, &["post", "rev", "r"]) {
        if let Some(mut c) = match_dev(b, end) {
            c.post = Some(n);
            return Some(c);
        }
    }
    match_dev(b, i)
}

fn match_dev(b: &[u8], i: usize) -> Option<Caps> {
    for (end, _, n) in labelled(b, i, &["dev"]) {
        if let Some(mut c) = match_local(b, end) {
            c.dev = Some(n);
            return Some(c);
        }
    }
    match_local(b, i)
}

fn match_local(b: &[u8], i: usize) -> Option<Caps> {
    if i == b.len() {
        return Some(Caps::default());
    }
    if b.get(i) != Some(&b'+') {
        return None;
    }
    let rest = text(b, i + 1, b.len());
    let mut parts = Vec::new();
    for p in rest.split(['-', '_', '.']) {
        if p.is_empty()
            || !p
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return None;
        }
        if p.bytes().all(|c| c.is_ascii_digit()) {
            parts.push(LocalPart::Num(Num::new(p)));
        } else {
            parts.push(LocalPart::Alpha(p.to_string()));
        }
    }
    Some(Caps {
        local: Some(parts),
        ..Caps::default()
    })
}

/// `packaging` 21's `_legacy_cmpkey` parts (the constant epoch -1 is implied by the enum order).
fn legacy_key(input: &str) -> Vec<String> {
    let lower = input.to_lowercase();
    let mut raw: Vec<String> = Vec::new();
    // re.split(r"(\d+|[a-z]+|\.|-)") keeps both the matches and the text between them.
    let mut other = String::new();
    let chars: Vec<char> = lower.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let class = |c: char| {
            if c.is_ascii_digit() {
                1
            } else if c.is_ascii_lowercase() {
                2
            } else if c == '.' || c == '-' {
                3
            } else {
                0
            }
        };
        let k = class(c);
        if k == 0 {
            other.push(c);
            i += 1;
            continue;
        }
        if !other.is_empty() {
            raw.push(std::mem::take(&mut other));
        }
        let mut j = i + 1;
        if k != 3 {
            while j < chars.len() && class(chars[j]) == k {
                j += 1;
            }
        }
        raw.push(chars[i..j].iter().collect());
        i = j;
    }
    if !other.is_empty() {
        raw.push(other);
    }
    let mut parts: Vec<String> = Vec::new();
    let mapped = raw.into_iter().filter_map(|p| {
        let p = match p.as_str() {
            "pre" | "preview" | "rc" => "c".to_string(),
            "-" => "final-".to_string(),
            "dev" => "@".to_string(),
            _ => p,
        };
        if p.is_empty() || p == "." {
            None
        } else if p.starts_with(|c: char| c.is_ascii_digit()) {
            Some(format!("{p:0>8}"))
        } else {
            Some(format!("*{p}"))
        }
    });
    for part in mapped.chain(std::iter::once("*final".to_string())) {
        if part.starts_with('*') {
            if part.as_str() < "*final" {
                while parts.last().is_some_and(|p| p == "*final-") {
                    parts.pop();
                }
            }
            while parts.last().is_some_and(|p| p == "00000000") {
                parts.pop();
            }
        }
        parts.push(part);
    }
    parts
}
