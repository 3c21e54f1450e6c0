//! PostgreSQL's backup manifest (`backup_manifest`, version 1) and the checks `pg_verifybackup`
//! makes of a backup's files, done here while the backup is read once for storage (SPEC section
//! 8: "every manifest file present with its size and checksum"): the manifest's own sha256, then
//! every file of the backup against its manifest entry (size and CRC32C) and the reverse.
//! The WAL range is checked separately, with `pg_waldump` (as `pg_verifybackup` does).

use super::repo::Lsn;
use sha2::Digest;
use std::collections::HashMap;

/// The checksum algorithm `backup` asks `pg_basebackup` for (`--manifest-checksums`).
pub const CHECKSUM_ALGORITHM: &str = "CRC32C";

/// One file as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    pub size: u64,
    /// `None` for `Checksum-Algorithm: NONE`.
    pub crc32c: Option<u32>,
}

/// A `WAL-Ranges` entry: the WAL a backup needs, on one timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalRange {
    pub timeline: u32,
    pub start: Lsn,
    pub end: Lsn,
}

/// A parsed, checksum-verified backup manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub files: HashMap<String, ManifestFile>,
    pub wal_ranges: Vec<WalRange>,
}

/// One file of the backup as read: its size and CRC32C (PostgreSQL's `pg_crc32c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenFile {
    pub size: u64,
    pub crc32c: u32,
}

/// The manifest's `Checksum` text for a CRC32C: the four bytes of the value in memory order
/// (little-endian on every platform PostgreSQL builds the manifest on that we run on), in hex.
fn crc_from_hex(s: &str) -> Option<u32> {
    let b = hex::decode(s).ok()?;
    let b: [u8; 4] = b.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn crc_to_hex(v: u32) -> String {
    hex::encode(v.to_le_bytes())
}

impl Manifest {
    /// Parse `backup_manifest` and check its `Manifest-Checksum` (sha256 of everything up to the
    /// line that holds it).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        check_manifest_checksum(bytes)?;
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        if v["PostgreSQL-Backup-Manifest-Version"].as_u64() != Some(1) {
            return Err("not a version 1 PostgreSQL backup manifest".into());
        }
        let mut files = HashMap::new();
        for f in v["Files"].as_array().ok_or("no Files")? {
            let path = match (f["Path"].as_str(), f["Encoded-Path"].as_str()) {
                (Some(p), _) => p.to_string(),
                (None, Some(e)) => {
                    let raw = hex::decode(e).map_err(|_| format!("bad Encoded-Path {e}"))?;
                    String::from_utf8_lossy(&raw).into_owned()
                }
                _ => return Err("a file without Path".into()),
            };
            let size = f["Size"]
                .as_u64()
                .ok_or_else(|| format!("{path}: no Size"))?;
            let crc32c = match f["Checksum-Algorithm"].as_str().unwrap_or("NONE") {
                "NONE" => None,
                CHECKSUM_ALGORITHM => Some(
                    f["Checksum"]
                        .as_str()
                        .and_then(crc_from_hex)
                        .ok_or_else(|| format!("{path}: bad CRC32C checksum"))?,
                ),
                other => {
                    return Err(format!(
                        "{path}: checksum algorithm {other}, expected {CHECKSUM_ALGORITHM}"
                    ))
                }
            };
            if files
                .insert(path.clone(), ManifestFile { size, crc32c })
                .is_some()
            {
                return Err(format!("{path} is listed twice"));
            }
        }
        let mut wal_ranges = Vec::new();
        for r in v["WAL-Ranges"].as_array().ok_or("no WAL-Ranges")? {
            let lsn = |k: &str| -> Result<Lsn, String> {
                r[k].as_str()
                    .ok_or_else(|| format!("WAL-Ranges: no {k}"))?
                    .parse()
            };
            wal_ranges.push(WalRange {
                timeline: r["Timeline"]
                    .as_u64()
                    .and_then(|t| u32::try_from(t).ok())
                    .ok_or("WAL-Ranges: bad Timeline")?,
                start: lsn("Start-LSN")?,
                end: lsn("End-LSN")?,
            });
        }
        if wal_ranges.is_empty() {
            return Err("WAL-Ranges is empty".into());
        }
        Ok(Manifest { files, wal_ranges })
    }

    /// Compare the files read from a backup with the manifest: every file present with its size
    /// and checksum, and nothing the manifest does not list. Names up to ten problems.
    pub fn check(&self, seen: &HashMap<String, SeenFile>) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut paths: Vec<&String> = self.files.keys().collect();
        paths.sort();
        for path in paths {
            let want = &self.files[path];
            match seen.get(path) {
                None => problems.push(format!("{path} is in the manifest but not in the backup")),
                Some(got) if got.size != want.size => problems.push(format!(
                    "{path} has {} bytes, the manifest says {}",
                    got.size, want.size
                )),
                Some(got) => {
                    if let Some(crc) = want.crc32c.filter(|c| *c != got.crc32c) {
                        problems.push(format!(
                            "{path}: checksum mismatch (CRC32C {}, the manifest says {})",
                            crc_to_hex(got.crc32c),
                            crc_to_hex(crc)
                        ));
                    }
                }
            }
        }
        let mut extra: Vec<&String> = seen
            .keys()
            .filter(|p| !self.files.contains_key(*p))
            .collect();
        extra.sort();
        for path in extra {
            problems.push(format!("{path} is in the backup but not in the manifest"));
        }
        if problems.is_empty() {
            return Ok(());
        }
        let n = problems.len();
        problems.truncate(10);
        if n > 10 {
            problems.push(format!("and {} more", n - 10));
        }
        Err(problems.join("; "))
    }
}

/// The last line is `"Manifest-Checksum": "<sha256>"}`; the sha256 covers every byte before it.
fn check_manifest_checksum(bytes: &[u8]) -> Result<(), String> {
    const KEY: &[u8] = b"\n\"Manifest-Checksum\": \"";
    let at = bytes
        .windows(KEY.len())
        .rposition(|w| w == KEY)
        .ok_or("no Manifest-Checksum")?;
    let rest = &bytes[at + KEY.len()..];
    let want = rest
        .get(..64)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated Manifest-Checksum")?;
    let got = hex::encode(sha2::Sha256::digest(&bytes[..=at]));
    if !got.eq_ignore_ascii_case(want) {
        return Err(format!(
            "the manifest's own checksum does not match (sha256 {got}, it says {want})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest as PostgreSQL writes it, with a correct Manifest-Checksum.
    fn manifest(files: &[(&str, u64, &str)]) -> Vec<u8> {
        let mut s = String::from("{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n");
        let lines: Vec<String> = files
            .iter()
            .map(|(p, n, c)| {
                format!(
                    "{{ \"Path\": \"{p}\", \"Size\": {n}, \"Last-Modified\": \"2026-11-24 04:13:48 GMT\", \"Checksum-Algorithm\": \"CRC32C\", \"Checksum\": \"{c}\" }}"
                )
            })
            .collect();
        s.push_str(&lines.join(",\n"));
        s.push_str("\n],\n\"WAL-Ranges\": [\n{ \"Timeline\": 1, \"Start-LSN\": \"0/4A000028\", \"End-LSN\": \"0/4A000100\" }\n],\n");
        let sum = hex::encode(sha2::Sha256::digest(s.as_bytes()));
        s.push_str(&format!("\"Manifest-Checksum\": \"{sum}\"}}\n"));
        s.into_bytes()
    }

    #[test]
    fn crc32c_is_written_as_postgresql_does() {
        // From a real PostgreSQL 15 manifest: PG_VERSION is "15\n".
        assert_eq!(crc_to_hex(crc32c::crc32c(b"15\n")), "8a744722");
        assert_eq!(crc_from_hex("8a744722"), Some(crc32c::crc32c(b"15\n")));
    }

    #[test]
    fn parses_checks_and_reports_mismatches() {
        let m = Manifest::parse(&manifest(&[
            ("PG_VERSION", 3, "8a744722"),
            ("global/1262", 0, "00000000"),
        ]))
        .unwrap();
        assert_eq!(m.wal_ranges[0].end, "0/4A000100".parse().unwrap());
        let mut seen = HashMap::from([
            (
                "PG_VERSION".to_string(),
                SeenFile {
                    size: 3,
                    crc32c: crc32c::crc32c(b"15\n"),
                },
            ),
            ("global/1262".to_string(), SeenFile { size: 0, crc32c: 0 }),
        ]);
        m.check(&seen).unwrap();

        seen.get_mut("PG_VERSION").unwrap().crc32c = crc32c::crc32c(b"16\n");
        let e = m.check(&seen).unwrap_err();
        assert!(e.contains("PG_VERSION: checksum mismatch"), "{e}");

        seen.remove("global/1262");
        seen.insert("stray".into(), SeenFile { size: 1, crc32c: 0 });
        let e = m.check(&seen).unwrap_err();
        assert!(
            e.contains("global/1262 is in the manifest but not in the backup"),
            "{e}"
        );
        assert!(
            e.contains("stray is in the backup but not in the manifest"),
            "{e}"
        );
    }

    #[test]
    fn a_changed_manifest_is_refused() {
        let mut bytes = manifest(&[("PG_VERSION", 3, "8a744722")]);
        let at = bytes.windows(8).position(|w| w == b"8a744722").unwrap();
        bytes[at] = b'9';
        let e = Manifest::parse(&bytes).unwrap_err();
        assert!(e.contains("own checksum"), "{e}");
    }
}
