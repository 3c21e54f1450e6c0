//! The matching engine: the components of the scanned SBOMs joined to the current, non-withdrawn
//! advisories on (ecosystem, package name) in SQL, then each candidate evaluated in Rust with the
//! ecosystem's real version order and the OSV range rules, then VEX applied (newest statement
//! wins per vulnerability and product). Reads only; the same code runs in `scan` and in `replay`.

use super::digest::{self, Finding};
use crate::db::DbError;
use crate::formats::Purl;
use crate::versions::{CandidateVersion, Ecosystem, PreparedAffected, Range};
use postgres::fallible_iterator::FallibleIterator;
use postgres::GenericClient;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// The engine's findings before their digest.
#[derive(Debug, Clone)]
pub struct Matches {
    /// Canonically sorted.
    pub findings: Vec<Finding>,
    /// The severity of each finding, aligned with `findings`.
    pub severities: Vec<Option<String>>,
    pub counts: Counts,
    /// Hex content hashes of the VEX documents whose statements decided a finding's status.
    pub vex_used: BTreeSet<String>,
}

impl Matches {
    /// The evaluation with `digest`, the result digest of these findings.
    pub fn with_digest(self, digest: String) -> Evaluation {
        Evaluation {
            matches: self,
            digest,
        }
    }

    /// The evaluation, its digest computed here.
    pub fn digested(self) -> Evaluation {
        let digest = digest::result_digest(&self.findings);
        self.with_digest(digest)
    }
}

/// The engine's result: the findings and their result digest.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub matches: Matches,
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

/// One `advisory_affected` row of a current advisory, decoded and prepared once per scan.
struct AffectedEntry {
    advisory_id: String,
    aliases: Vec<String>,
    severity: Option<String>,
    eco: Ecosystem,
    prepared: PreparedAffected,
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

/// The current, non-withdrawn `advisory_affected` rows naming a package of the scanned SBOMs
/// (the same (ecosystem base, name) equality the per-component match below uses).
const AFFECTED_ENTRIES_SQL: &str = "SELECT a.advisory_id, a.aliases, a.severity, af.ecosystem, af.ecosystem_base,
            af.package_name, af.ranges::text, af.versions
     FROM advisory_affected af
     JOIN advisory_current c
       ON c.tenant_id = af.tenant_id AND c.advisory_pk = af.advisory_pk AND NOT c.withdrawn
     JOIN advisory a ON a.tenant_id = c.tenant_id AND a.id = c.advisory_pk
     WHERE af.tenant_id = $1
       AND (af.ecosystem_base, af.package_name) IN (
           SELECT split_part(sc.ecosystem, ':', 1), sc.package_name FROM sbom_component sc
           WHERE sc.tenant_id = $1 AND sc.sbom_id = ANY($2) AND sc.purl IS NOT NULL AND sc.version IS NOT NULL)";

/// At most this many component rows wait in memory for the affected entries (about 30 MiB).
const BUFFERED_ROWS: usize = 200_000;

/// Every component of the scanned SBOMs (those without purl or version are only counted).
const COMPONENTS_SQL: &str =
    "SELECT sbom_id, purl, version, ecosystem, package_name FROM sbom_component
     WHERE tenant_id = $1 AND sbom_id = ANY($2)";

/// The affected entries of one package, by ecosystem base then package name.
type EntryIndex = HashMap<String, HashMap<String, Vec<u32>>>;

/// A component affected by an entry: indexes into the scan's artifacts (in canonical order),
/// the matched component purls and the entries.
#[derive(Clone, Copy)]
struct Hit {
    artifact: u32,
    purl: u32,
    entry: u32,
}

/// Evaluate the given SBOMs against the advisories and VEX visible to `client`.
pub fn evaluate(
    client: &mut impl GenericClient,
    tenant: Uuid,
    sboms: &[ScannedSbom],
) -> Result<Evaluation, DbError> {
    Ok(find(client, tenant, sboms)?.digested())
}

/// The findings of the given SBOMs, not yet digested (a caller may digest them while it does
/// something else with them).
pub fn find(
    client: &mut impl GenericClient,
    tenant: Uuid,
    sboms: &[ScannedSbom],
) -> Result<Matches, DbError> {
    let matched = match_components(client, None, tenant, sboms)?;
    match matched.assemble(|_, _| Ok::<(), std::convert::Infallible>(())) {
        Ok(m) => Ok(m),
        Err(never) => match never {},
    }
}

/// What the engine has read and matched, before the findings are assembled: everything the
/// assembly needs is in memory, so the caller's connection is free again (`scan` starts storing
/// while the findings are assembled).
pub struct Matched<'a> {
    started: std::time::Instant,
    artifacts: Vec<&'a str>,
    entries: Vec<AffectedEntry>,
    purls: Vec<String>,
    hits: Vec<Hit>,
    /// One finding per range of `hits`, in canonical order.
    groups: Vec<std::ops::Range<usize>>,
    stmts: Vec<Statement>,
    counts: Counts,
}

impl Matched<'_> {
    /// How many findings `assemble` will give.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Read the scanned components and the advisories and VEX statements about them, and match
/// them (the reading half of [`find`]).
///
/// `reader`, when given, is a second connection already inside this transaction's snapshot
/// (`SET TRANSACTION SNAPSHOT`): the affected entries are read on it while the components
/// stream in on `client`.
pub fn match_components<'a>(
    client: &mut impl GenericClient,
    reader: Option<&mut postgres::Client>,
    tenant: Uuid,
    sboms: &'a [ScannedSbom],
) -> Result<Matched<'a>, DbError> {
    let started = std::time::Instant::now();
    let ids: Vec<i64> = sboms.iter().map(|s| s.sbom_id).collect();
    // Artifacts in canonical (byte) order; findings sort by this rank first.
    let mut artifacts: Vec<&str> = sboms.iter().map(|s| s.artifact_purl.as_str()).collect();
    artifacts.sort_unstable();
    artifacts.dedup();
    let artifact_rank: HashMap<i64, u32> = sboms
        .iter()
        .map(|s| {
            let rank = artifacts
                .binary_search(&s.artifact_purl.as_str())
                .unwrap_or_default();
            (s.sbom_id, rank as u32)
        })
        .collect();
    let counts = Counts {
        artifacts: sboms.len() as u64,
        ..Counts::default()
    };

    // The affected entries naming a scanned package, and the components themselves. With a
    // reader (a second connection in this transaction's snapshot), the entries query runs on it
    // while the components stream in here; rows that arrive before the entries are buffered.
    let params: [&(dyn postgres::types::ToSql + Sync); 2] = [&tenant, &ids];
    let mut eval = ComponentMatcher {
        artifact_rank,
        counts,
        hits: Vec::new(),
        purls: Vec::new(),
        unparseable: BTreeSet::new(),
        parsed_versions: HashMap::new(),
        comp_ecos: HashMap::new(),
    };
    let ids_ref = &ids;
    let entries = std::thread::scope(|scope| -> Result<_, DbError> {
        let mut pending = reader.map(|reader| {
            scope.spawn(move || {
                reader
                    .query(AFFECTED_ENTRIES_SQL, &[&tenant, ids_ref])
                    .map_err(q("reading the advisories of the scanned packages"))
            })
        });
        let mut prepared = match pending {
            Some(_) => None,
            None => Some(prepare_entries(
                &client
                    .query(AFFECTED_ENTRIES_SQL, &[&tenant, &ids])
                    .map_err(q("reading the advisories of the scanned packages"))?,
            )),
        };
        let mut buffered: Vec<postgres::Row> = Vec::new();
        let mut rows = client
            .query_raw(COMPONENTS_SQL, params)
            .map_err(q("matching components to advisories"))?;
        while let Some(r) = rows
            .next()
            .map_err(q("matching components to advisories"))?
        {
            // Buffer while the entries are on their way, but never more than BUFFERED_ROWS:
            // past that, wait for them (memory stays bounded however large the fleet).
            if prepared.is_none()
                && (buffered.len() >= BUFFERED_ROWS
                    || pending.as_ref().is_some_and(|h| h.is_finished()))
            {
                prepared = Some(join_entries(pending.take())?);
            }
            match &prepared {
                Some((entries, index)) => {
                    for b in buffered.drain(..) {
                        eval.component(&b, entries, index);
                    }
                    eval.component(&r, entries, index);
                }
                None => buffered.push(r),
            }
        }
        drop(rows);
        let (entries, index) = match prepared {
            Some(p) => p,
            None => join_entries(pending.take())?,
        };
        for b in buffered.drain(..) {
            eval.component(&b, &entries, &index);
        }
        Ok(entries)
    })?;
    let ComponentMatcher {
        mut counts,
        mut hits,
        purls,
        unparseable,
        parsed_versions,
        ..
    } = eval;
    // Advisory ids in canonical order: findings sort by this rank last.
    let mut advisory_ids: Vec<&str> = entries.iter().map(|e| e.advisory_id.as_str()).collect();
    advisory_ids.sort_unstable();
    advisory_ids.dedup();
    let advisory_rank: Vec<u32> = entries
        .iter()
        .map(|e| {
            advisory_ids
                .binary_search(&e.advisory_id.as_str())
                .unwrap_or_default() as u32
        })
        .collect();
    // Canonical order: (artifact, component, advisory id), each compared as bytes. The matched
    // purls are ranked once (equal purls share a rank), so the hits sort on integers; the entry
    // breaks ties, so the order does not depend on the sort.
    let mut by_bytes: Vec<u32> = (0..purls.len() as u32).collect();
    by_bytes.sort_unstable_by(|&a, &b| {
        purls[a as usize]
            .as_bytes()
            .cmp(purls[b as usize].as_bytes())
    });
    let mut purl_rank = vec![0u32; purls.len()];
    let mut rank = 0u32;
    for (i, &p) in by_bytes.iter().enumerate() {
        if i > 0 && purls[p as usize] != purls[by_bytes[i - 1] as usize] {
            rank += 1;
        }
        purl_rank[p as usize] = rank;
    }
    drop(by_bytes);
    let key = |h: &Hit| {
        (
            h.artifact,
            purl_rank[h.purl as usize],
            advisory_rank[h.entry as usize],
            h.entry,
        )
    };
    hits.sort_unstable_by_key(key);
    // One finding per run of equal (artifact, component, advisory) hits: several entries of one
    // advisory, or several SBOM lines naming one component.
    let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, h) in hits.iter().enumerate() {
        let same = i > 0 && {
            let (pa, pp, pv, _) = key(&hits[i - 1]);
            let (a, p, v, _) = key(h);
            (pa, pp, pv) == (a, p, v)
        };
        match groups.last_mut() {
            Some(g) if same => g.end = i + 1,
            _ => groups.push(i..i + 1),
        }
    }
    tracing::debug!(
        "engine: {} candidates, {} affected entries, {} distinct versions, {} findings in {:.3}s",
        counts.candidates,
        entries.len(),
        parsed_versions.len(),
        groups.len(),
        started.elapsed().as_secs_f64()
    );
    counts.unparseable_versions = unparseable.len() as u64;

    // VEX statements about any id or alias of an entry that matched.
    let mut hit_entries: Vec<bool> = vec![false; entries.len()];
    for h in &hits {
        hit_entries[h.entry as usize] = true;
    }
    let all_ids: BTreeSet<&str> = entries
        .iter()
        .zip(&hit_entries)
        .filter(|(_, hit)| **hit)
        .flat_map(|(e, _)| std::iter::once(&e.advisory_id).chain(&e.aliases))
        .map(String::as_str)
        .collect();
    let all_ids: Vec<&str> = all_ids.into_iter().collect();
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
    Ok(Matched {
        started,
        artifacts,
        entries,
        purls,
        hits,
        groups,
        stmts,
        counts,
    })
}

/// The scanned components' matching state: each component row is counted, and matched against
/// the affected entries of its package.
struct ComponentMatcher {
    artifact_rank: HashMap<i64, u32>,
    counts: Counts,
    hits: Vec<Hit>,
    purls: Vec<String>,
    /// Components whose version could not be ordered: counted once each, whatever the number of
    /// advisories naming their package.
    unparseable: BTreeSet<(i64, String)>,
    /// Each distinct version string parsed once (per ordering scheme).
    parsed_versions: HashMap<String, CandidateVersion>,
    comp_ecos: HashMap<String, Ecosystem>,
}

impl ComponentMatcher {
    fn component(&mut self, r: &postgres::Row, entries: &[AffectedEntry], index: &EntryIndex) {
        let counts = &mut self.counts;
        let sbom_id: i64 = r.get(0);
        let purl: Option<&str> = r.get(1);
        let version: Option<&str> = r.get(2);
        let comp_eco_name: Option<&str> = r.get(3);
        counts.components += 1;
        if purl.is_none() {
            counts.components_without_purl += 1;
        }
        if comp_eco_name.is_some_and(|e| e.starts_with("purl:")) {
            counts.components_unknown_ecosystem += 1;
        }
        if purl.is_some() && version.is_none() {
            counts.components_without_version += 1;
        }
        let (Some(purl), Some(version), Some(comp_eco_name), Some(package_name)) =
            (purl, version, comp_eco_name, r.get::<_, Option<&str>>(4))
        else {
            return;
        };
        let eco_base = comp_eco_name.split(':').next().unwrap_or_default();
        let Some(candidates) = index.get(eco_base).and_then(|m| m.get(package_name)) else {
            return;
        };
        counts.candidates += candidates.len() as u64;
        if !self.comp_ecos.contains_key(comp_eco_name) {
            self.comp_ecos.insert(
                comp_eco_name.to_string(),
                Ecosystem::from_osv(comp_eco_name),
            );
        }
        let Some(comp_eco) = self.comp_ecos.get(comp_eco_name) else {
            return;
        };
        if !self.parsed_versions.contains_key(version) {
            self.parsed_versions
                .insert(version.to_string(), CandidateVersion::new(version));
        }
        let Some(cv) = self.parsed_versions.get(version) else {
            return;
        };
        let artifact = self
            .artifact_rank
            .get(&sbom_id)
            .copied()
            .unwrap_or_default();
        let mut unparseable_here = false;
        let first_hit = self.hits.len();
        for &e in candidates {
            let entry = &entries[e as usize];
            if !comp_eco.matches_advisory(&entry.eco) {
                continue;
            }
            match entry.prepared.is_affected(cv) {
                Ok(true) => self.hits.push(Hit {
                    artifact,
                    purl: self.purls.len() as u32,
                    entry: e,
                }),
                Ok(false) => {}
                Err(_) => unparseable_here = true,
            }
        }
        if self.hits.len() > first_hit {
            self.purls.push(purl.to_string());
        }
        if unparseable_here {
            self.unparseable.insert((sbom_id, purl.to_string()));
        }
    }
}

/// The affected entries read, each prepared once (events parsed and sorted) however many
/// components name its package, and indexed by (ecosystem base, package name).
fn prepare_entries(rows: &[postgres::Row]) -> (Vec<AffectedEntry>, EntryIndex) {
    let mut entries: Vec<AffectedEntry> = Vec::with_capacity(rows.len());
    let mut index: EntryIndex = HashMap::new();
    for r in rows {
        let eco = Ecosystem::from_osv(r.get::<_, &str>(3));
        let ranges: Vec<Range> = serde_json::from_str(r.get::<_, &str>(6)).unwrap_or_default();
        let versions: Vec<String> = r.get(7);
        let prepared = PreparedAffected::new(&eco, &ranges, &versions);
        index
            .entry(r.get(4))
            .or_default()
            .entry(r.get(5))
            .or_default()
            .push(entries.len() as u32);
        let mut aliases: Vec<String> = r.get(1);
        aliases.sort_unstable();
        aliases.dedup();
        entries.push(AffectedEntry {
            advisory_id: r.get(0),
            aliases,
            severity: r.get(2),
            eco,
            prepared,
        });
    }
    (entries, index)
}

/// The reader thread's entries, prepared.
fn join_entries(
    pending: Option<std::thread::ScopedJoinHandle<'_, Result<Vec<postgres::Row>, DbError>>>,
) -> Result<(Vec<AffectedEntry>, EntryIndex), DbError> {
    let rows = match pending.map(|h| h.join()) {
        Some(Ok(rows)) => rows?,
        Some(Err(_)) | None => {
            return Err(DbError::Query {
                what: "reading the advisories of the scanned packages".into(),
                reason: "the reader thread stopped unexpectedly".into(),
            })
        }
    };
    Ok(prepare_entries(&rows))
}

/// One finding as the engine builds it, borrowing the engine's strings (no allocation per
/// finding): what `scan` streams into its COPY and its digest.
#[derive(Debug, Clone, Copy)]
pub struct FindingRef<'m> {
    pub artifact_purl: &'m str,
    pub component_purl: &'m str,
    pub advisory_id: &'m str,
    /// Sorted and deduplicated.
    pub aliases: &'m [String],
    pub status: &'m str,
    pub justification: Option<&'m str>,
    pub severity: Option<&'m str>,
}

impl FindingRef<'_> {
    pub fn to_finding(&self) -> Finding {
        Finding {
            artifact_purl: self.artifact_purl.to_string(),
            component_purl: self.component_purl.to_string(),
            advisory_id: self.advisory_id.to_string(),
            aliases: self.aliases.to_vec(),
            status: self.status.to_string(),
            justification: self.justification.map(str::to_string),
        }
    }
}

/// What an assembly tells besides the findings themselves.
#[derive(Debug, Clone)]
pub struct Assembled {
    pub counts: Counts,
    /// Hex content hashes of the VEX documents whose statements decided a finding's status.
    pub vex_used: BTreeSet<String>,
}

impl Matched<'_> {
    /// Apply VEX and build the findings in canonical order, handing each to `sink` (with its
    /// severity) as it is built; the assembling half of [`find`].
    pub fn assemble<E>(
        self,
        mut sink: impl FnMut(&Finding, &Option<String>) -> Result<(), E>,
    ) -> Result<Matches, E> {
        let mut findings = Vec::with_capacity(self.len());
        let mut severities = Vec::with_capacity(self.len());
        let assembled = self.assemble_with(|f| {
            let finding = f.to_finding();
            let severity = f.severity.map(str::to_string);
            sink(&finding, &severity)?;
            findings.push(finding);
            severities.push(severity);
            Ok(())
        })?;
        debug_assert!(findings.windows(2).all(|w: &[Finding]| {
            (&w[0].artifact_purl, &w[0].component_purl, &w[0].advisory_id)
                < (&w[1].artifact_purl, &w[1].component_purl, &w[1].advisory_id)
        }));
        Ok(Matches {
            findings,
            severities,
            counts: assembled.counts,
            vex_used: assembled.vex_used,
        })
    }

    /// Apply VEX and hand each finding, in canonical order, to `sink` as a borrowed view.
    pub fn assemble_with<E>(
        self,
        mut sink: impl FnMut(&FindingRef<'_>) -> Result<(), E>,
    ) -> Result<Assembled, E> {
        let Matched {
            started,
            artifacts,
            entries,
            purls,
            hits,
            groups,
            stmts,
            mut counts,
        } = self;
        let mut vex_used = BTreeSet::new();
        // Statements by the ids they name, so a finding looks only at the statements about it.
        let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, s) in stmts.iter().enumerate() {
            for id in &s.ids {
                by_id.entry(id.as_str()).or_default().push(i);
            }
        }
        let mut artifact_keys: HashMap<String, PurlKey> = HashMap::new();
        let mut about: Vec<usize> = Vec::new();
        let mut merged: Vec<String> = Vec::new();
        let mut n: u64 = 0;
        for group in groups {
            let group = &hits[group];
            let first = &entries[group[0].entry as usize];
            let artifact = artifacts[group[0].artifact as usize];
            let component = purls[group[0].purl as usize].as_str();
            let advisory_id = first.advisory_id.as_str();
            // Sorted and deduplicated: the union of the matching entries' aliases (each entry's
            // list is already sorted and deduplicated).
            let aliases: &[String] = if group.len() == 1 {
                &first.aliases
            } else {
                merged.clear();
                merged.extend(
                    group
                        .iter()
                        .flat_map(|h| entries[h.entry as usize].aliases.iter().cloned()),
                );
                merged.sort_unstable();
                merged.dedup();
                &merged
            };
            let severity = group
                .iter()
                .find_map(|h| entries[h.entry as usize].severity.as_deref());
            about.clear();
            if !by_id.is_empty() {
                about.extend(
                    std::iter::once(advisory_id)
                        .chain(aliases.iter().map(String::as_str))
                        .filter_map(|id| by_id.get(id))
                        .flatten()
                        .copied(),
                );
                about.sort_unstable();
                about.dedup();
            }
            let winner = if about.is_empty() {
                None
            } else {
                let art = artifact_keys
                    .entry(artifact.to_string())
                    .or_insert_with(|| PurlKey::new(artifact))
                    .clone();
                let comp = PurlKey::new(component);
                about
                    .iter()
                    .map(|&i| &stmts[i])
                    .filter(|s| match (&s.product, &s.component) {
                        (Some(p), Some(c)) => {
                            (p.matches(&art) || p.matches(&comp)) && c.matches(&comp)
                        }
                        (Some(p), None) => p.matches(&art) || p.matches(&comp),
                        (None, Some(c)) => c.matches(&comp),
                        (None, None) => false,
                    })
                    .max_by(|a, b| a.order.cmp(&b.order))
            };
            let (status, justification) = match winner {
                Some(s) => {
                    vex_used.insert(s.vex_hash.clone());
                    (s.status.as_str(), s.justification.as_deref())
                }
                None => ("affected", None),
            };
            match status {
                "affected" => counts.affected += 1,
                "not_affected" => counts.not_affected += 1,
                "fixed" => counts.fixed += 1,
                _ => counts.under_investigation += 1,
            }
            sink(&FindingRef {
                artifact_purl: artifact,
                component_purl: component,
                advisory_id,
                aliases,
                status,
                justification,
                severity,
            })?;
            n += 1;
        }
        tracing::debug!(
            "engine: VEX applied at {:.3}s",
            started.elapsed().as_secs_f64()
        );
        counts.findings = n;
        Ok(Assembled { counts, vex_used })
    }
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
