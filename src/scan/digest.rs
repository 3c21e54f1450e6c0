//! The canonical findings and their digest: RFC 8785 JSON (sorted keys, no whitespace) of the
//! findings sorted by (artifact, component, advisory), with no timestamps and no internal ids, so
//! the same inputs give the same digest on any machine.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One finding as it is digested, stored and printed by `findings --json`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    pub artifact_purl: String,
    pub component_purl: String,
    pub advisory_id: String,
    /// Sorted and deduplicated.
    pub aliases: Vec<String>,
    pub status: String,
    pub justification: Option<String>,
}

/// Sort findings into their canonical order.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (
            a.artifact_purl.as_bytes(),
            a.component_purl.as_bytes(),
            a.advisory_id.as_bytes(),
        )
            .cmp(&(
                b.artifact_purl.as_bytes(),
                b.component_purl.as_bytes(),
                b.advisory_id.as_bytes(),
            ))
    });
}

/// The canonical bytes of sorted findings.
pub fn canonical_bytes(findings: &[Finding]) -> Vec<u8> {
    let value = serde_json::to_value(findings).unwrap_or(serde_json::Value::Null);
    crate::bundle::statement::canonical_json(&value)
}

/// One finding with its fields in RFC 8785 key order (sorted by UTF-16 code units; these are
/// ASCII, so byte order). serde_json writes strings, arrays and null exactly as RFC 8785 does
/// (shortest escapes, lower-case `\u00xx`, raw UTF-8), so this streams the canonical form
/// without building a JSON tree.
#[derive(Serialize)]
struct CanonicalFinding<'a> {
    advisory_id: &'a str,
    aliases: &'a [String],
    artifact_purl: &'a str,
    component_purl: &'a str,
    justification: Option<&'a str>,
    status: &'a str,
}

/// Feeds bytes to the hash.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The result digest computed as the findings go by, in canonical order (what `scan` does while
/// it streams them into the database).
pub struct DigestWriter {
    hash: Sha256,
    n: usize,
    /// Set if serializing failed (it cannot for strings); the digest is then unusable.
    failed: bool,
}

impl Default for DigestWriter {
    fn default() -> Self {
        let mut hash = Sha256::new();
        hash.update(b"[");
        DigestWriter {
            hash,
            n: 0,
            failed: false,
        }
    }
}

impl DigestWriter {
    /// Add the next finding (callers give them in canonical order).
    pub fn push(
        &mut self,
        artifact_purl: &str,
        component_purl: &str,
        advisory_id: &str,
        aliases: &[String],
        status: &str,
        justification: Option<&str>,
    ) {
        if self.n > 0 {
            self.hash.update(b",");
        }
        self.n += 1;
        let c = CanonicalFinding {
            advisory_id,
            aliases,
            artifact_purl,
            component_purl,
            justification,
            status,
        };
        if serde_json::to_writer(HashWriter(&mut self.hash), &c).is_err() {
            self.failed = true;
        }
    }

    /// Lowercase hex sha256, or None if a finding could not be serialized.
    pub fn finish(mut self) -> Option<String> {
        self.hash.update(b"]");
        (!self.failed).then(|| hex::encode(self.hash.finalize()))
    }
}

/// Lowercase hex sha256 of the canonical findings (equal to the sha256 of
/// [`canonical_bytes`], streamed).
pub fn result_digest(findings: &[Finding]) -> String {
    let mut w = DigestWriter::default();
    for f in findings {
        w.push(
            &f.artifact_purl,
            &f.component_purl,
            &f.advisory_id,
            &f.aliases,
            &f.status,
            f.justification.as_deref(),
        );
    }
    // Serializing strings cannot fail; should it ever, fall back to the tree form.
    w.finish()
        .unwrap_or_else(|| hex::encode(Sha256::digest(canonical_bytes(findings))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(a: &str, c: &str, id: &str) -> Finding {
        Finding {
            artifact_purl: a.into(),
            component_purl: c.into(),
            advisory_id: id.into(),
            aliases: vec![],
            status: "affected".into(),
            justification: None,
        }
    }

    #[test]
    fn digest_ignores_input_order() {
        let mut x = vec![f("a", "c1", "X"), f("a", "c0", "Y"), f("b", "c0", "X")];
        let mut y = vec![x[2].clone(), x[0].clone(), x[1].clone()];
        sort(&mut x);
        sort(&mut y);
        assert_eq!(result_digest(&x), result_digest(&y));
    }

    #[test]
    fn streamed_digest_equals_the_digest_of_the_canonical_bytes() {
        let mut odd = f(
            "pkg:npm/\u{7f}a\u{1f}\"\\/\n\u{e9}\u{1F600}",
            "c\u{2028}",
            "X\t",
        );
        odd.aliases = vec!["B\u{8}".into(), "a\u{c}".into()];
        odd.justification = Some("j\r\u{0}".into());
        for set in [
            vec![],
            vec![f("a", "c", "X")],
            vec![odd.clone(), f("b", "c", "Y")],
        ] {
            assert_eq!(
                result_digest(&set),
                hex::encode(Sha256::digest(canonical_bytes(&set)))
            );
        }
    }

    #[test]
    fn canonical_form_is_sorted_compact_json() {
        let bytes = canonical_bytes(&[f("a", "c", "X")]);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"[{"advisory_id":"X","aliases":[],"artifact_purl":"a","component_purl":"c","justification":null,"status":"affected"}]"#
        );
    }
}
