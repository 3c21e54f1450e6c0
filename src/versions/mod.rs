//! Version ordering and OSV range evaluation: pure code, no I/O, no database.
//!
//! Owns the mapping from OSV ecosystem strings and purl types to an [`Ecosystem`], the choice of
//! ordering [`Scheme`] per ecosystem, package-name normalization, [`compare`] and the OSV
//! `affected` evaluation ([`is_affected`], re-exported from [`range`]). Each ecosystem's real
//! ordering lives in its own file; they share the tiny helpers at the bottom of this file.
//!
//! How the scan uses it: map the component's purl to an ecosystem, keep the advisories whose
//! ecosystem it [`Ecosystem::matches_advisory`] and whose normalized name is the component's,
//! then ask [`is_affected`]. An `Err` is an "unparseable version", never a panic. A caller
//! evaluating many versions prepares each entry once ([`PreparedAffected`]: events parsed and
//! sorted once) and parses each distinct version once ([`CandidateVersion`]).
//!
//! ```
//! use stella_bundle::versions::{is_affected, Ecosystem, Range};
//!
//! let comp = Ecosystem::from_purl("deb", Some("debian"), Some("debian-12")).expect("known type");
//! let adv = Ecosystem::from_osv("Debian:12");
//! assert!(comp.matches_advisory(&adv));
//! assert_eq!(comp.purl_package_name(Some("debian"), "openssl"), adv.normalize_name("openssl"));
//! let ranges: Vec<Range> = serde_json::from_str(
//!     r#"[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u1"}]}]"#,
//! )
//! .expect("OSV ranges");
//! assert_eq!(is_affected(&adv, "3.0.9-1", &ranges, &[]), Ok(true));
//! assert_eq!(is_affected(&adv, "3.0.11-1~deb12u2", &ranges, &[]), Ok(false));
//! ```

mod apk;
mod dpkg;
mod maven;
mod nuget;
mod pep440;
pub mod range;
mod rpm;
mod rubygems;
mod semver;

use std::cmp::Ordering;

pub use range::{
    is_affected, CandidateVersion, Event, PreparedAffected, Range, RangeError, RangeKind,
};

/// Longest version string any comparator accepts (npm's own limit); longer input is an error.
pub const MAX_VERSION_LEN: usize = 256;

/// Why a version string could not be ordered: the scan counts it as an "unparseable version".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Empty or whitespace-only.
    #[error("empty version string")]
    Empty,
    /// Longer than [`MAX_VERSION_LEN`] bytes.
    #[error("version string of {len} bytes is longer than {MAX_VERSION_LEN}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Not a version in this scheme.
    #[error("invalid {scheme} version {version:?}: {reason}")]
    Invalid {
        /// The ordering scheme that rejected it.
        scheme: Scheme,
        /// The input, as given.
        version: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The ecosystem has no ordering: only exact `versions` matches are possible.
    #[error("ecosystem {0:?} has no version ordering (exact matches only)")]
    Unordered(String),
}

/// A version-ordering algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// SemVer 2.0 (npm, crates.io, Go with `v` and `+incompatible`), build metadata ignored.
    SemVer,
    /// PEP 440 with `packaging.LegacyVersion` ordering for non-PEP 440 strings (PyPI).
    Pep440,
    /// Maven's `ComparableVersion`.
    Maven,
    /// dpkg's algorithm (Debian, Ubuntu).
    Dpkg,
    /// rpmvercmp over `epoch:version-release`.
    Rpm,
    /// apk-tools (Alpine, Wolfi, Chainguard).
    Apk,
    /// `Gem::Version`.
    RubyGems,
    /// NuGet's `NuGetVersion`.
    NuGet,
    /// No ordering known: exact `versions` matches only.
    ExactOnly,
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scheme::SemVer => "SemVer",
            Scheme::Pep440 => "PEP 440",
            Scheme::Maven => "Maven",
            Scheme::Dpkg => "Debian",
            Scheme::Rpm => "RPM",
            Scheme::Apk => "Alpine",
            Scheme::RubyGems => "RubyGems",
            Scheme::NuGet => "NuGet",
            Scheme::ExactOnly => "exact-only",
        })
    }
}

impl Scheme {
    /// Orders two versions of this scheme.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        Ok(self.parse(a)?.cmp(&self.parse(b)?))
    }

    /// Parses a version once, to compare it many times (all parsed values of one scheme are
    /// totally ordered; values of different schemes order by scheme first).
    pub fn parse(self, v: &str) -> Result<Version, VersionError> {
        check_len(v)?;
        Ok(match self {
            Scheme::SemVer => Version::SemVer(semver::SemVer::parse(v)?),
            Scheme::Pep440 => Version::Pep440(pep440::Pep440::parse(v)?),
            Scheme::Maven => Version::Maven(maven::MavenVersion::parse(v)?),
            Scheme::Dpkg => Version::Dpkg(dpkg::DpkgVersion::parse(v)?),
            Scheme::Rpm => Version::Rpm(rpm::RpmVersion::parse(v)?),
            Scheme::Apk => Version::Apk(apk::ApkVersion::parse(v)?),
            Scheme::RubyGems => Version::RubyGems(rubygems::GemVersion::parse(v)?),
            Scheme::NuGet => Version::NuGet(nuget::NuGetVersion::parse(v)?),
            Scheme::ExactOnly => return Err(VersionError::Unordered(v.to_string())),
        })
    }
}

/// A parsed version of some [`Scheme`]; `Ord` is that scheme's ordering.
///
/// Caution: Maven's real `ComparableVersion` order, reproduced here, is not transitive for some
/// odd qualifier mixes (`9` < `9ga.11-GA` < `9-Final-cr.10-1` yet `9` > `9-Final-cr.10-1`), and
/// the standard library's sorts may panic on a non-total order. Compare pairs freely; sort
/// untrusted Maven versions only with a sort that tolerates it (as [`range`] does).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// See [`Scheme::SemVer`].
    SemVer(semver::SemVer),
    /// See [`Scheme::Pep440`].
    Pep440(pep440::Pep440),
    /// See [`Scheme::Maven`].
    Maven(maven::MavenVersion),
    /// See [`Scheme::Dpkg`].
    Dpkg(dpkg::DpkgVersion),
    /// See [`Scheme::Rpm`].
    Rpm(rpm::RpmVersion),
    /// See [`Scheme::Apk`].
    Apk(apk::ApkVersion),
    /// See [`Scheme::RubyGems`].
    RubyGems(rubygems::GemVersion),
    /// See [`Scheme::NuGet`].
    NuGet(nuget::NuGetVersion),
}

pub use self::apk::ApkVersion;
pub use self::dpkg::DpkgVersion;
pub use self::maven::MavenVersion;
pub use self::nuget::NuGetVersion;
pub use self::pep440::Pep440;
pub use self::rpm::RpmVersion;
pub use self::rubygems::GemVersion;
pub use self::semver::SemVer;

/// An OSV ecosystem: its base name as OSV spells it (`Debian`, `PyPI`, ...), an optional release
/// (`12` in `Debian:12`, `v3.18` in `Alpine:v3.18`) and the ordering it uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ecosystem {
    name: String,
    release: Option<String>,
    scheme: Scheme,
}

/// Known OSV base names, their ordering, and the purl type that maps to them.
const KNOWN: &[(&str, Scheme)] = &[
    ("npm", Scheme::SemVer),
    ("crates.io", Scheme::SemVer),
    ("Go", Scheme::SemVer),
    ("PyPI", Scheme::Pep440),
    ("Maven", Scheme::Maven),
    ("Debian", Scheme::Dpkg),
    ("Ubuntu", Scheme::Dpkg),
    ("Alpine", Scheme::Apk),
    ("Wolfi", Scheme::Apk),
    ("Chainguard", Scheme::Apk),
    ("Rocky Linux", Scheme::Rpm),
    ("AlmaLinux", Scheme::Rpm),
    ("Red Hat", Scheme::Rpm),
    ("SUSE", Scheme::Rpm),
    ("openSUSE", Scheme::Rpm),
    ("Mageia", Scheme::Rpm),
    ("openEuler", Scheme::Rpm),
    ("RubyGems", Scheme::RubyGems),
    ("NuGet", Scheme::NuGet),
];

impl Ecosystem {
    /// From an OSV `affected[].package.ecosystem` string (`PyPI`, `Debian:12`, `Alpine:v3.18`,
    /// `Ubuntu:22.04:LTS`, ...). Never fails: unknown names get [`Scheme::ExactOnly`].
    pub fn from_osv(s: &str) -> Ecosystem {
        let s = s.trim();
        let (base, release) = match s.split_once(':') {
            Some((b, r)) if !r.is_empty() => (b, Some(r.to_string())),
            Some((b, _)) => (b, None),
            None => (s, None),
        };
        let known = KNOWN.iter().find(|(n, _)| n.eq_ignore_ascii_case(base));
        match known {
            Some((n, scheme)) => Ecosystem {
                name: (*n).to_string(),
                release,
                scheme: *scheme,
            },
            None => Ecosystem {
                name: base.to_string(),
                release,
                scheme: Scheme::ExactOnly,
            },
        }
    }

    /// From a purl's type, namespace and `distro` qualifier (`pkg:deb/debian/x@1?distro=debian-12`
    /// gives `Debian:12`; no distro gives `Debian`, which matches every release). `None` when the
    /// purl type has no OSV ecosystem.
    pub fn from_purl(ty: &str, namespace: Option<&str>, distro: Option<&str>) -> Option<Ecosystem> {
        let ty = ty.to_ascii_lowercase();
        let ns = namespace.map(str::to_ascii_lowercase);
        let base = match ty.as_str() {
            "npm" => "npm",
            "cargo" => "crates.io",
            "golang" => "Go",
            "pypi" => "PyPI",
            "maven" => "Maven",
            "gem" => "RubyGems",
            "nuget" => "NuGet",
            "composer" => "Packagist",
            "hex" => "Hex",
            "pub" => "Pub",
            "cran" => "CRAN",
            "hackage" => "Hackage",
            "swift" => "SwiftURL",
            "conan" => "ConanCenter",
            "bitnami" => "Bitnami",
            "deb" => match ns.as_deref() {
                Some("ubuntu") => "Ubuntu",
                _ => "Debian",
            },
            "apk" => match ns.as_deref() {
                Some("wolfi") => "Wolfi",
                Some("chainguard") => "Chainguard",
                _ => "Alpine",
            },
            "rpm" => match ns.as_deref() {
                Some("rocky") | Some("rocky-linux") => "Rocky Linux",
                Some("almalinux") | Some("alma") => "AlmaLinux",
                Some("redhat") | Some("rhel") => "Red Hat",
                Some("opensuse") => "openSUSE",
                Some("suse") | Some("sles") => "SUSE",
                Some("mageia") => "Mageia",
                Some("openeuler") => "openEuler",
                _ => "Red Hat",
            },
            _ => return None,
        };
        let mut eco = Ecosystem::from_osv(base);
        eco.release = distro.and_then(|d| distro_release(&eco.name, d));
        Some(eco)
    }

    /// Shorthand for [`Ecosystem::from_purl`] without a namespace.
    pub fn from_purl_type(ty: &str, distro: Option<&str>) -> Option<Ecosystem> {
        Ecosystem::from_purl(ty, None, distro)
    }

    /// The base name as OSV spells it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The release after the first `:`, if any.
    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }

    /// The ordering this ecosystem uses.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Parses a version in this ecosystem's ordering, to compare it many times.
    pub fn parse(&self, version: &str) -> Result<Version, VersionError> {
        match self.scheme {
            Scheme::ExactOnly => Err(VersionError::Unordered(self.osv_name())),
            s => s.parse(version),
        }
    }

    /// The OSV string, `Base` or `Base:release`.
    pub fn osv_name(&self) -> String {
        match &self.release {
            Some(r) => format!("{}:{}", self.name, r),
            None => self.name.clone(),
        }
    }

    /// Whether an advisory for `advisory`'s ecosystem applies to a component of this one: same
    /// base, and either this side names no release, or the releases agree (`Ubuntu:22.04`
    /// matches `Ubuntu:22.04:LTS` and `Ubuntu:Pro:22.04:LTS`; an advisory without release
    /// matches every release).
    pub fn matches_advisory(&self, advisory: &Ecosystem) -> bool {
        if self.name != advisory.name {
            return false;
        }
        match (&self.release, &advisory.release) {
            (None, _) | (_, None) => true,
            (Some(mine), Some(theirs)) => {
                mine.eq_ignore_ascii_case(theirs)
                    || theirs.split(':').any(|p| p.eq_ignore_ascii_case(mine))
            }
        }
    }

    /// The OSV package name of a purl's namespace and name: Maven `group:artifact`, Go
    /// `namespace/name`, npm `@scope/name`, others the namespace-less name; then normalized.
    pub fn purl_package_name(&self, namespace: Option<&str>, name: &str) -> String {
        let ns = namespace
            .map(|n| n.trim_matches('/'))
            .filter(|n| !n.is_empty());
        let joined = match (self.name.as_str(), ns) {
            ("Maven", Some(g)) => format!("{g}:{name}"),
            ("Go", Some(p)) => format!("{p}/{name}"),
            ("npm", Some(s)) if s.starts_with('@') => format!("{s}/{name}"),
            ("npm", Some(s)) => format!("@{s}/{name}"),
            _ => name.to_string(),
        };
        self.normalize_name(&joined)
    }

    /// Normalizes a package name for comparison: PyPI per PEP 503 (lowercase, runs of `-_.` to
    /// `-`), NuGet and Packagist lowercase, Go without a trailing `/`, npm scopes lowercase;
    /// others unchanged but trimmed.
    pub fn normalize_name(&self, name: &str) -> String {
        let name = name.trim();
        match self.name.as_str() {
            "PyPI" => {
                let mut out = String::with_capacity(name.len());
                let mut in_sep = false;
                for c in name.chars() {
                    if matches!(c, '-' | '_' | '.') {
                        if !in_sep {
                            out.push('-');
                        }
                        in_sep = true;
                    } else {
                        out.extend(c.to_lowercase());
                        in_sep = false;
                    }
                }
                out
            }
            "NuGet" | "Packagist" => name.to_lowercase(),
            "Go" => name.trim_end_matches('/').to_string(),
            "npm" => match name.split_once('/') {
                Some((scope, rest)) if scope.starts_with('@') => {
                    format!("{}/{}", scope.to_lowercase(), rest)
                }
                _ => name.to_string(),
            },
            _ => name.to_string(),
        }
    }
}

impl std::fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.osv_name())
    }
}

/// The OSV release for a purl `distro` qualifier (`debian-12` -> `12`, `bookworm` -> `12`,
/// `ubuntu-22.04` -> `22.04`, `alpine-3.18.4` -> `v3.18`, `rocky-9` -> `9`).
fn distro_release(eco: &str, distro: &str) -> Option<String> {
    let d = distro.trim().to_ascii_lowercase();
    if d.is_empty() {
        return None;
    }
    let tail = match d.rsplit_once('-') {
        Some((_, t)) => t.to_string(),
        None => d.clone(),
    };
    match eco {
        "Debian" => {
            let code = match tail.as_str() {
                "trixie" => "13",
                "bookworm" => "12",
                "bullseye" => "11",
                "buster" => "10",
                "stretch" => "9",
                "jessie" => "8",
                t => t,
            };
            Some(code.split('.').next().unwrap_or(code).to_string())
        }
        "Ubuntu" => Some(
            match tail.as_str() {
                "noble" => "24.04",
                "jammy" => "22.04",
                "focal" => "20.04",
                "bionic" => "18.04",
                "xenial" => "16.04",
                t => t,
            }
            .to_string(),
        ),
        "Alpine" => {
            let t = tail.trim_start_matches('v');
            let mut parts = t.split('.');
            match (parts.next(), parts.next()) {
                (Some(a), Some(b)) => Some(format!("v{a}.{b}")),
                _ if t == "edge" => Some("edge".to_string()),
                _ => None,
            }
        }
        _ => Some(tail.split('.').next().unwrap_or(&tail).to_string()),
    }
}

/// Orders two versions in an ecosystem's ordering.
pub fn compare(eco: &Ecosystem, a: &str, b: &str) -> Result<Ordering, VersionError> {
    match eco.scheme {
        Scheme::ExactOnly => Err(VersionError::Unordered(eco.osv_name())),
        s => s.compare(a, b),
    }
}

fn check_len(v: &str) -> Result<(), VersionError> {
    if v.trim().is_empty() {
        return Err(VersionError::Empty);
    }
    if v.len() > MAX_VERSION_LEN {
        return Err(VersionError::TooLong { len: v.len() });
    }
    Ok(())
}

pub(crate) fn invalid(scheme: Scheme, version: &str, reason: &'static str) -> VersionError {
    VersionError::Invalid {
        scheme,
        version: version.to_string(),
        reason,
    }
}

/// Compares two ASCII digit strings as unbounded non-negative integers.
pub(crate) fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// An unbounded non-negative integer kept as its digits without leading zeros, so that the
/// derived order is numeric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Num(String);

impl Num {
    pub(crate) fn new(digits: &str) -> Num {
        Num(digits.trim_start_matches('0').to_string())
    }
    pub(crate) fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_digits(&self.0, &other.0)
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
