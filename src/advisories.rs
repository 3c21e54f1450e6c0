//! `advisories search`: exact id or alias matches first (a CVE id finds the GHSA and GO records
//! that alias it), then full-text matches ranked by `ts_rank` over the `advisory.search`
//! tsvector (ids and aliases weigh most, then summary, then details), through the GIN index
//! `ix_advisory_search` (`db::hot_queries::ADVISORY_SEARCH`). Current versions only.

use crate::db::{hot_queries, DbError};
use postgres::GenericClient;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// One advisory found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    pub withdrawn: bool,
    /// `ecosystem/name` of each affected package, sorted, deduplicated.
    pub packages: Vec<String>,
    /// `exact` (the id or an alias is the query) or `text`.
    pub matched: &'static str,
    /// Full-text rank (exact matches: 1 + their best text rank, so they sort first).
    pub rank: f32,
}

/// The spellings of an id worth trying: as given, upper-case (`cve-2021-1` -> `CVE-2021-1`),
/// and GHSA style (`GHSA-` then lower-case).
fn id_spellings(text: &str) -> Vec<String> {
    let t = text.trim();
    if t.is_empty() || t.contains(char::is_whitespace) {
        return Vec::new();
    }
    let mut v: BTreeSet<String> = BTreeSet::new();
    v.insert(t.to_string());
    v.insert(t.to_uppercase());
    if t.len() > 5 && t[..5].eq_ignore_ascii_case("ghsa-") {
        v.insert(format!("GHSA-{}", t[5..].to_lowercase()));
    }
    v.into_iter().collect()
}

/// Search the current advisories of `tenant`.
pub fn search(
    client: &mut impl GenericClient,
    tenant: Uuid,
    text: &str,
    ecosystem: Option<&str>,
    limit: i64,
) -> Result<Vec<Hit>, DbError> {
    let q = |what: &'static str| move |e| DbError::query(what, e);
    let ids = id_spellings(text);
    // (advisory pk) -> (exact, rank)
    let mut found: Vec<(i64, bool)> = Vec::new();
    let mut seen = BTreeSet::new();
    if !ids.is_empty() {
        let rows = client
            .query(
                "SELECT a.id FROM advisory_current c
                 JOIN advisory a ON a.tenant_id = c.tenant_id AND a.id = c.advisory_pk
                 WHERE c.tenant_id = $1 AND c.advisory_id = ANY($2)
                 UNION
                 -- advisory_alias names every stored version's aliases: the current version's
                 -- own aliases decide
                 SELECT a.id FROM advisory_alias aa
                 JOIN advisory_current c ON c.tenant_id = aa.tenant_id AND c.advisory_id = aa.advisory_id
                 JOIN advisory a ON a.tenant_id = c.tenant_id AND a.id = c.advisory_pk
                 WHERE aa.tenant_id = $1 AND aa.alias = ANY($2) AND a.aliases && $2",
                &[&tenant, &ids],
            )
            .map_err(q("searching advisories by id"))?;
        for r in rows {
            let pk: i64 = r.get(0);
            if seen.insert(pk) {
                found.push((pk, true));
            }
        }
    }
    let text_rows = client
        .query(
            hot_queries::ADVISORY_SEARCH.sql,
            &[&tenant, &text, &ecosystem, &limit],
        )
        .map_err(q("searching advisories"))?;
    let mut ranks: BTreeMap<i64, f32> = BTreeMap::new();
    for r in &text_rows {
        let pk: i64 = r.get(0);
        ranks.insert(pk, r.get(2));
        if seen.insert(pk) {
            found.push((pk, false));
        }
    }
    let pks: Vec<i64> = found.iter().map(|(pk, _)| *pk).collect();
    let details: BTreeMap<i64, (String, Vec<String>, Option<String>, bool)> = client
        .query(
            "SELECT a.id, a.advisory_id, a.aliases, a.summary, a.withdrawn IS NOT NULL
             FROM advisory a WHERE a.tenant_id = $1 AND a.id = ANY($2)",
            &[&tenant, &pks],
        )
        .map_err(q("reading advisories"))?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4))))
        .collect();
    let mut packages: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for r in client
        .query(
            "SELECT advisory_pk, ecosystem, package_name FROM advisory_affected
             WHERE tenant_id = $1 AND advisory_pk = ANY($2)",
            &[&tenant, &pks],
        )
        .map_err(q("reading affected packages"))?
    {
        packages.entry(r.get(0)).or_default().insert(format!(
            "{}/{}",
            r.get::<_, &str>(1),
            r.get::<_, &str>(2)
        ));
    }
    let mut hits: Vec<Hit> = found
        .into_iter()
        .filter_map(|(pk, exact)| {
            let (id, aliases, summary, withdrawn) = details.get(&pk)?.clone();
            let pkgs: Vec<String> = packages
                .remove(&pk)
                .unwrap_or_default()
                .into_iter()
                .collect();
            if exact {
                if let Some(e) = ecosystem {
                    if !pkgs.iter().any(|p| p.split(['/', ':']).next() == Some(e)) {
                        return None;
                    }
                }
            }
            let text_rank = ranks.get(&pk).copied().unwrap_or(0.0);
            Some(Hit {
                id,
                aliases,
                summary,
                withdrawn,
                packages: pkgs,
                matched: if exact { "exact" } else { "text" },
                rank: if exact { 1.0 + text_rank } else { text_rank },
            })
        })
        .collect();
    hits.sort_by(|a, b| {
        b.rank
            .total_cmp(&a.rank)
            .then_with(|| a.id.as_bytes().cmp(b.id.as_bytes()))
    });
    hits.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_spellings_cover_case() {
        assert_eq!(
            id_spellings(" ghsa-43W2-9j62-hq99 "),
            vec![
                "GHSA-43W2-9J62-HQ99",
                "GHSA-43w2-9j62-hq99",
                "ghsa-43W2-9j62-hq99"
            ]
        );
        assert!(id_spellings("heap overflow").is_empty());
    }
}
