//! Alpine (apk) ordering: apk-tools' token comparison of Gentoo-style versions
//! `{number}{.number}...{letter}{_suffix{number}}...{-r#}`. Pre-release suffixes
//! (`_alpha` < `_beta` < `_pre` < `_rc`) sort before the bare version, post-release ones
//! (`_cvs` < `_svn` < `_git` < `_hg` < `_p`) after it; a `.`-component starting with `0` is
//! compared by its leading zeros first. Like `apk version -t`, malformed strings are still
//! compared token by token up to the first invalid token; only empty strings and whitespace
//! are rejected. Numbers are unbounded.

use std::cmp::Ordering;

use super::{invalid, Num, Scheme, VersionError};

/// An Alpine version (kept as text: apk compares two strings token by token).
#[derive(Debug, Clone)]
pub struct ApkVersion(String);

impl ApkVersion {
    /// Accepts any non-empty string without whitespace or control characters.
    pub fn parse(input: &str) -> Result<ApkVersion, VersionError> {
        if input.is_empty() {
            return Err(VersionError::Empty);
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(Scheme::Apk, input, "whitespace in version"));
        }
        Ok(ApkVersion(input.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tok {
    Invalid = -1,
    DigitOrZero = 0,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    RevisionNo,
    End,
}

/// A token's value: apk's `int`, without overflow.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Val {
    Neg(usize),
    NonNeg(Num),
}

impl Val {
    fn zero() -> Val {
        Val::NonNeg(Num::default())
    }
    fn small(v: i64) -> Val {
        if v < 0 {
            Val::Neg(v.unsigned_abs() as usize)
        } else {
            Val::NonNeg(Num::new(&v.to_string()))
        }
    }
    fn is_neg(&self) -> bool {
        matches!(self, Val::Neg(_))
    }
}

impl Ord for Val {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Val::Neg(a), Val::Neg(b)) => b.cmp(a),
            (Val::Neg(_), Val::NonNeg(_)) => Ordering::Less,
            (Val::NonNeg(_), Val::Neg(_)) => Ordering::Greater,
            (Val::NonNeg(a), Val::NonNeg(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Val {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn len(&self) -> usize {
        self.b.len().saturating_sub(self.pos)
    }
    fn peek(&self, k: usize) -> u8 {
        self.b.get(self.pos + k).copied().unwrap_or(0)
    }
    fn rest(&self) -> &[u8] {
        self.b.get(self.pos..).unwrap_or_default()
    }

    fn next_token(&mut self, ty: &mut Tok) {
        let mut n = Tok::Invalid;
        let c = self.peek(0);
        if self.len() == 0 || c == 0 {
            n = Tok::End;
        } else if matches!(*ty, Tok::Digit | Tok::DigitOrZero) && c.is_ascii_lowercase() {
            n = Tok::Letter;
        } else if *ty == Tok::Letter && c.is_ascii_digit() {
            n = Tok::Digit;
        } else if *ty == Tok::Suffix && c.is_ascii_digit() {
            n = Tok::SuffixNo;
        } else {
            match c {
                b'.' => n = Tok::DigitOrZero,
                b'_' => n = Tok::Suffix,
                b'-' => {
                    if self.len() > 1 && self.peek(1) == b'r' {
                        n = Tok::RevisionNo;
                        self.pos += 1;
                    } else {
                        n = Tok::Invalid;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        if n < *ty
            && !((n == Tok::DigitOrZero && *ty == Tok::Digit)
                || (n == Tok::Suffix && *ty == Tok::SuffixNo)
                || (n == Tok::Digit && *ty == Tok::Letter))
        {
            n = Tok::Invalid;
        }
        *ty = n;
    }

    fn get_token(&mut self, ty: &mut Tok) -> Val {
        const PRE: [&str; 4] = ["alpha", "beta", "pre", "rc"];
        const POST: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];
        if self.len() == 0 {
            *ty = Tok::End;
            return Val::zero();
        }
        let mut i = 0;
        let mut nt = Tok::Invalid;
        let v;
        match *ty {
            Tok::DigitOrZero if self.peek(0) == b'0' => {
                while i < self.len() && self.peek(i) == b'0' {
                    i += 1;
                }
                nt = Tok::Digit;
                v = Val::Neg(i);
            }
            Tok::DigitOrZero | Tok::Digit | Tok::SuffixNo | Tok::RevisionNo => {
                while i < self.len() && self.peek(i).is_ascii_digit() {
                    i += 1;
                }
                let digits = std::str::from_utf8(&self.rest()[..i]).unwrap_or_default();
                v = Val::NonNeg(Num::new(digits));
            }
            Tok::Letter => {
                v = Val::small(i64::from(self.peek(0)));
                i = 1;
            }
            Tok::Suffix => {
                let rest = self.rest();
                if let Some(k) = PRE.iter().position(|s| rest.starts_with(s.as_bytes())) {
                    i = PRE[k].len();
                    v = Val::small(k as i64 - PRE.len() as i64);
                } else if let Some(k) = POST.iter().position(|s| rest.starts_with(s.as_bytes())) {
                    i = POST[k].len();
                    v = Val::small(k as i64);
                } else {
                    *ty = Tok::Invalid;
                    return Val::Neg(1);
                }
            }
            _ => {
                *ty = Tok::Invalid;
                return Val::Neg(1);
            }
        }
        self.pos += i;
        if self.len() == 0 {
            *ty = Tok::End;
        } else if nt != Tok::Invalid {
            *ty = nt;
        } else {
            self.next_token(ty);
        }
        v
    }
}

fn apk_compare(a: &str, b: &str) -> Ordering {
    let mut ca = Cursor {
        b: a.as_bytes(),
        pos: 0,
    };
    let mut cb = Cursor {
        b: b.as_bytes(),
        pos: 0,
    };
    let (mut at, mut bt) = (Tok::Digit, Tok::Digit);
    let (mut av, mut bv) = (Val::zero(), Val::zero());
    while at == bt && at != Tok::End && at != Tok::Invalid && av == bv {
        av = ca.get_token(&mut at);
        bv = cb.get_token(&mut bt);
    }
    match av.cmp(&bv) {
        Ordering::Equal => {}
        o => return o,
    }
    if at == bt {
        return Ordering::Equal;
    }
    let mut tt = at;
    if at == Tok::Suffix && ca.get_token(&mut tt).is_neg() {
        return Ordering::Less;
    }
    let mut tt = bt;
    if bt == Tok::Suffix && cb.get_token(&mut tt).is_neg() {
        return Ordering::Greater;
    }
    bt.cmp(&at)
}

impl Ord for ApkVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        apk_compare(&self.0, &other.0)
    }
}

impl PartialOrd for ApkVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ApkVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ApkVersion {}
