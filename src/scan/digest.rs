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

/// Lowercase hex sha256 of the canonical findings.
pub fn result_digest(findings: &[Finding]) -> String {
    hex::encode(Sha256::digest(canonical_bytes(findings)))
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
    fn canonical_form_is_sorted_compact_json() {
        let bytes = canonical_bytes(&[f("a", "c", "X")]);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"[{"advisory_id":"X","aliases":[],"artifact_purl":"a","component_purl":"c","justification":null,"status":"affected"}]"#
        );
    }
}
