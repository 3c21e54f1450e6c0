//! The matching engine: the components of the scanned SBOMs joined to the current, non-withdrawn
//! advisories on (ecosystem, package name) in SQL, then each candidate evaluated in Rust with the
//! ecosystem's real version order and the OSV range rules, then VEX applied (newest statement
//! wins per vulnerability and product). Reads only; the same code runs in `scan` and in `replay`.

use super::digest::{self, Finding};
use crate::db::DbError;
use crate::formats::Purl;
use crate::versions::{self, Ecosystem, Range};
use postgres::fallible_iterator::FallibleIterator;
use postgres::GenericClient;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use uuid::Uuid;

/// Engine identity recorded in every manifest; a replay by another engine says so.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The rules the engine applies (part of the policy digest).
pub const ENGINE_RULES: &str = "osv-ranges/v1+vex-newest-wins/v1";

/// The policy in force: hashed into `policy_sha256`.
pub fn policy_json() -> serde_json::Value {
    serde_json::json!({
        "engine_rules": ENGINE_RULES,
        "match": "purl type -> OSV ecosystem, normalized package name, ecosystem version order",
        "withdrawn": "ignored",
        "vex": "newest statement per (vulnerability or alias, product or component) wins; ties by document hash then position",
        "default_status": "affected",
    })
}

/// One scanned artifact and the SBOM read for it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ScannedSbom {
    pub artifact_purl: String,
    pub sbom_id: i64,
    /// Hex sha256 of the SBOM document.
    pub content_hash: String,
}

/// What the engine counted.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Counts {
    pub artifacts: u64,
    pub components: u64,
    pub components_without_purl: u64,
    pub components_unknown_ecosystem: u64,
    pub candidates: u64,
    pub unparseable_versions: u64,
    pub components_without_version: u64,
    pub findings: u64,
    pub affected: u64,
    pub not_affected: u64,
    pub fixed: u64,
    pub under_investigation: u64,
}

/// The engine's result.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Canonically sorted.
    pub findings: Vec<Finding>,
    /// The severity of each finding, aligned with `findings`.
    pub severities: Vec<Option<String>>,
    pub counts: Counts,
    /// Hex content hashes of the VEX documents whose statements decided a finding's status.
    pub vex_used: BTreeSet<String>,
    pub digest: String,
}

/// (artifact, component, advisory id): the identity of a finding.
pub type FindingKey = (String, String, String);

struct Statement {
    ids: BTreeSet<String>,
    product: Option<PurlKey>,
    component: Option<PurlKey>,
    status: String,
    justification: Option<String>,
    order: (Option<chrono::DateTime<chrono::Utc>>, Vec<u8>, i32),
    vex_hash: String,
}

/// One `advisory_affected` row of a current advisory, decoded once per scan.
struct AffectedEntry {
    advisory_id: String,
    aliases: Vec<String>,
    severity: Option<String>,
    eco: Ecosystem,
    ranges: Vec<Range>,
    versions: Vec<String>,
}

/// A purl compared as VEX compares products: exact; or the same package when the statement
/// names no version; or the same package and version when the statement's qualifiers are a
/// subset of the target's (a statement about `pkg:maven/g/a@1` covers `pkg:maven/g/a@1?type=jar`).
#[derive(Debug, Clone)]
struct PurlKey {
    full: String,
    package: String,
    version: Option<String>,
    qualifiers: BTreeMap<String, String>,
}

impl PurlKey {
    fn new(s: &str) -> PurlKey {
        match Purl::parse(s) {
            Ok(p) => PurlKey {
                full: p.canonical.clone(),
                package: p.package.clone(),
                version: p.version.clone(),
                qualifiers: p.qualifiers.clone(),
            },
            Err(_) => PurlKey {
                full: s.to_string(),
                package: s.to_string(),
                version: Some(String::new()),
                qualifiers: BTreeMap::new(),
            },
        }
    }
    /// Whether this statement purl covers `target`.
    fn matches(&self, target: &PurlKey) -> bool {
        if self.full == target.full {
            return true;
        }
        if self.package != target.package {
            return false;
        }
        match &self.version {
            None => true,
            Some(v) => {
                target.version.as_ref() == Some(v)
                    && self
                        .qualifiers
                        .iter()
                        .all(|(k, val)| target.qualifiers.get(k) == Some(val))
            }
        }
    }
}

fn q(what: &str) -> impl Fn(postgres::Error) -> DbError + '_ {
    move |e| DbError::query(what, e)
}

/// Evaluate the given SBOMs against the advisories and VEX visible to `client`.
pub fn evaluate(
    client: &mut impl GenericClient,
    tenant: Uuid,
    sboms: &[ScannedSbom],
) -> Result<Evaluation, DbError> {
    let started = std::time::Instant::now();
    let ids: Vec<i64> = sboms.iter().map(|s| s.sbom_id).collect();
    let artifact_of: BTreeMap<i64, &str> = sboms
        .iter()
        .map(|s| (s.sbom_id, s.artifact_purl.as_str()))
        .collect();
    let mut counts = Counts {
        artifacts: sboms.len() as u64,
        ..Counts::default()
    };
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE purl IS NULL),
                    count(*) FILTER (WHERE ecosystem LIKE 'purl:%'),
                    count(*) FILTER (WHERE purl IS NOT NULL AND version IS NULL)
             FROM sbom_component WHERE tenant_id = $1 AND sbom_id = ANY($2)",
            &[&tenant, &ids],
        )
        .map_err(q("counting components"))?;
    counts.components = row.get::<_, i64>(0) as u64;
    counts.components_without_purl = row.get::<_, i64>(1) as u64;
    counts.components_unknown_ecosystem = row.get::<_, i64>(2) as u64;
    counts.components_without_version = row.get::<_, i64>(3) as u64;

    // Streamed: a fleet's candidate rows do not all fit in memory at once. Each advisory_affected
    // row is decoded once (its ranges parsed, its ecosystem resolved) however many components
    // name its package, and each (affected row, version) verdict is computed once however many
    // SBOMs carry that version.
    let params: [&(dyn postgres::types::ToSql + Sync); 2] = [&tenant, &ids];
    let mut rows = client
        .query_raw(
            "SELECT sc.sbom_id, sc.purl, sc.version, sc.ecosystem, af.advisory_pk, af.ordinal,
                    a.advisory_id, a.aliases, a.severity, af.ecosystem, af.ranges, af.versions
             FROM sbom_component sc
             JOIN advisory_affected af
               ON af.tenant_id = sc.tenant_id AND af.ecosystem_base = split_part(sc.ecosystem, ':', 1)
              AND af.package_name = sc.package_name
             JOIN advisory_current c
               ON c.tenant_id = af.tenant_id AND c.advisory_pk = af.advisory_pk AND NOT c.withdrawn
             JOIN advisory a ON a.tenant_id = c.tenant_id AND a.id = c.advisory_pk
             WHERE sc.tenant_id = $1 AND sc.sbom_id = ANY($2) AND sc.purl IS NOT NULL AND sc.version IS NOT NULL",
            params,
        )
        .map_err(q("matching components to advisories"))?;
    // (artifact, component, advisory) -> (aliases, severity)
    let mut matched: BTreeMap<FindingKey, (BTreeSet<String>, Option<String>)> = BTreeMap::new();
    // Components whose version could not be ordered: counted once each, whatever the number of
    // advisories naming their package.
    let mut unparseable: BTreeSet<(i64, String)> = BTreeSet::new();
    let mut entries: HashMap<(i64, i32), Rc<AffectedEntry>> = HashMap::new();
    let mut verdicts: HashMap<(i64, i32), HashMap<String, Option<bool>>> = HashMap::new();
    let mut comp_ecos: HashMap<String, Ecosystem> = HashMap::new();
    while let Some(r) = rows
        .next()
        .map_err(q("matching components to advisories"))?
    {
        counts.candidates += 1;
        let key: (i64, i32) = (r.get(4), r.get(5));
        let entry = match entries.get(&key) {
            Some(e) => Rc::clone(e),
            None => {
                let e = Rc::new(AffectedEntry {
                    advisory_id: r.get(6),
                    aliases: r.get(7),
                    severity: r.get(8),
                    eco: Ecosystem::from_osv(r.get::<_, &str>(9)),
                    ranges: serde_json::from_value(r.get::<_, serde_json::Value>(10))
                        .unwrap_or_default(),
                    versions: r.get(11),
                });
                entries.insert(key, Rc::clone(&e));
                e
            }
        };
        let comp_eco_name: &str = r.get(3);
        if !comp_ecos.contains_key(comp_eco_name) {
            comp_ecos.insert(
                comp_eco_name.to_string(),
                Ecosystem::from_osv(comp_eco_name),
            );
        }
        let matches = comp_ecos
            .get(comp_eco_name)
            .is_some_and(|e| e.matches_advisory(&entry.eco));
        if !matches {
            continue;
        }
        let sbom_id: i64 = r.get(0);
        let version: &str = r.get(2);
        let per_entry = verdicts.entry(key).or_default();
        let verdict = match per_entry.get(version) {
            Some(v) => *v,
            None => {
                let v =
                    versions::is_affected(&entry.eco, version, &entry.ranges, &entry.versions).ok();
                per_entry.insert(version.to_string(), v);
                v
            }
        };
        let purl = || r.get::<_, String>(1);
        match verdict {
            Some(true) => {
                let artifact = artifact_of
                    .get(&sbom_id)
                    .copied()
                    .unwrap_or_default()
                    .to_string();
                let slot = matched
                    .entry((artifact, purl(), entry.advisory_id.clone()))
                    .or_insert_with(|| (BTreeSet::new(), None));
                slot.0.extend(entry.aliases.iter().cloned());
                if slot.1.is_none() {
                    slot.1 = entry.severity.clone();
                }
            }
            Some(false) => {}
            None => {
                unparseable.insert((sbom_id, purl()));
            }
        }
    }
    drop(rows);
    tracing::debug!(
        "engine: {} candidates, {} affected entries, {} verdicts, {} findings in {:.3}s",
        counts.candidates,
        entries.len(),
        verdicts.values().map(HashMap::len).sum::<usize>(),
        matched.len(),
        started.elapsed().as_secs_f64()
    );
    counts.unparseable_versions = unparseable.len() as u64;

    // VEX statements about any id or alias involved.
    let mut all_ids: BTreeSet<String> = BTreeSet::new();
    for ((_, _, id), (aliases, _)) in &matched {
        all_ids.insert(id.clone());
        all_ids.extend(aliases.iter().cloned());
    }
    let all_ids: Vec<String> = all_ids.into_iter().collect();
    let stmts: Vec<Statement> = if all_ids.is_empty() {
        Vec::new()
    } else {
        client
            .query(
                "SELECT vs.vulnerability_id, vs.aliases, vs.product_purl, vs.component_purl, vs.status,
                        vs.justification, vs.statement_time, vd.content_hash, vs.ordinal
                 FROM vex_statement vs JOIN vex_document vd ON vd.tenant_id = vs.tenant_id AND vd.id = vs.vex_id
                 WHERE vs.tenant_id = $1 AND (vs.vulnerability_id = ANY($2) OR vs.aliases && $2)",
                &[&tenant, &all_ids],
            )
            .map_err(q("reading VEX statements"))?
            .iter()
            .map(|r| {
                let mut ids: BTreeSet<String> = r.get::<_, Vec<String>>(1).into_iter().collect();
                ids.insert(r.get(0));
                let hash: Vec<u8> = r.get(7);
                Statement {
                    ids,
                    product: r.get::<_, Option<&str>>(2).map(PurlKey::new),
                    component: r.get::<_, Option<&str>>(3).map(PurlKey::new),
                    status: r.get(4),
                    justification: r.get(5),
                    order: (r.get(6), hash.clone(), r.get(8)),
                    vex_hash: hex::encode(hash),
                }
            })
            .collect()
    };

    let mut findings = Vec::with_capacity(matched.len());
    // `matched` iterates in (artifact, component, advisory) byte order: the canonical order, so
    // `severities` stays aligned with `findings` (checked below).
    let mut severities = Vec::with_capacity(matched.len());
    let mut vex_used = BTreeSet::new();
    // Statements by the ids they name, so a finding looks only at the statements about it.
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, s) in stmts.iter().enumerate() {
        for id in &s.ids {
            by_id.entry(id.as_str()).or_default().push(i);
        }
    }
    let mut artifact_keys: HashMap<String, PurlKey> = HashMap::new();
    for ((artifact, component, advisory_id), (aliases, severity)) in matched {
        let mut about: Vec<usize> = std::iter::once(&advisory_id)
            .chain(aliases.iter())
            .filter_map(|id| by_id.get(id.as_str()))
            .flatten()
            .copied()
            .collect();
        about.sort_unstable();
        about.dedup();
        let winner = if about.is_empty() {
            None
        } else {
            let art = artifact_keys
                .entry(artifact.clone())
                .or_insert_with(|| PurlKey::new(&artifact))
                .clone();
            let comp = PurlKey::new(&component);
            about
                .iter()
                .map(|&i| &stmts[i])
                .filter(|s| match (&s.product, &s.component) {
                    (Some(p), Some(c)) => (p.matches(&art) || p.matches(&comp)) && c.matches(&comp),
                    (Some(p), None) => p.matches(&art) || p.matches(&comp),
                    (None, Some(c)) => c.matches(&comp),
                    (None, None) => false,
                })
                .max_by(|a, b| a.order.cmp(&b.order))
        };
        let (status, justification) = match winner {
            Some(s) => {
                vex_used.insert(s.vex_hash.clone());
                (s.status.clone(), s.justification.clone())
            }
            None => ("affected".to_string(), None),
        };
        match status.as_str() {
            "affected" => counts.affected += 1,
            "not_affected" => counts.not_affected += 1,
            "fixed" => counts.fixed += 1,
            _ => counts.under_investigation += 1,
        }
        severities.push(severity);
        findings.push(Finding {
            artifact_purl: artifact,
            component_purl: component,
            advisory_id,
            aliases: aliases.into_iter().collect(),
            status,
            justification,
        });
    }
    tracing::debug!(
        "engine: VEX applied at {:.3}s",
        started.elapsed().as_secs_f64()
    );
    debug_assert!(findings.windows(2).all(|w| {
        (&w[0].artifact_purl, &w[0].component_purl, &w[0].advisory_id)
            < (&w[1].artifact_purl, &w[1].component_purl, &w[1].advisory_id)
    }));
    counts.findings = findings.len() as u64;
    let digest = digest::result_digest(&findings);
    tracing::debug!("engine: digest at {:.3}s", started.elapsed().as_secs_f64());
    Ok(Evaluation {
        findings,
        severities,
        counts,
        vex_used,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::PurlKey;

    fn covers(statement: &str, target: &str) -> bool {
        PurlKey::new(statement).matches(&PurlKey::new(target))
    }

    #[test]
    fn statement_purls_cover_targets() {
        assert!(covers("pkg:npm/a@1.0.0", "pkg:npm/a@1.0.0"));
        assert!(covers("pkg:npm/a", "pkg:npm/a@1.0.0"));
        assert!(!covers("pkg:npm/a@1.0.1", "pkg:npm/a@1.0.0"));
        assert!(!covers("pkg:npm/b", "pkg:npm/a@1.0.0"));
        // Qualifiers: the statement's must be among the target's.
        assert!(covers("pkg:maven/g/a@1", "pkg:maven/g/a@1?type=jar"));
        assert!(covers(
            "pkg:maven/g/a@1?type=jar",
            "pkg:maven/g/a@1?classifier=x&type=jar"
        ));
        assert!(!covers(
            "pkg:maven/g/a@1?type=pom",
            "pkg:maven/g/a@1?type=jar"
        ));
        assert!(!covers("pkg:maven/g/a@1?type=jar", "pkg:maven/g/a@1"));
    }
}
