//! `keygen`, `trust add|list|remove`, `bundle create|inspect`, `verify`.

use super::args::{BundleCommand, TrustArgs, TrustCommand};
use super::output::Report;
use super::Context;
use crate::bundle::{self, Kind, Limits, PrivateKey, TrustSet, TrustStore};
use crate::error::{Error, EXIT_VERIFICATION};
use crate::formats;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub fn keygen(_ctx: &Context, out: &Path) -> Result<Report, Error> {
    let files = bundle::keygen(out)?;
    Ok(Report::ok(
        serde_json::json!({"keyid": files.keyid, "private": files.private, "public": files.public}),
        files.keyid.clone(),
    ))
}

pub fn trust_store(ctx: &Context) -> TrustStore {
    TrustStore::at(ctx.home.trust_dir())
}

/// The trust store plus `--trust` files.
pub fn trust_set(ctx: &Context, args: &TrustArgs) -> Result<TrustSet, Error> {
    Ok(TrustSet::load(&trust_store(ctx), &args.trust)?)
}

pub fn limits(args: &TrustArgs) -> Limits {
    Limits {
        max_entry: args.max_entry_size,
        max_total: args.max_total_size,
        ..Limits::default()
    }
}

pub fn trust(ctx: &Context, cmd: TrustCommand) -> Result<Report, Error> {
    let store = trust_store(ctx);
    match cmd {
        TrustCommand::Add { key } => {
            let (k, added) = store.add(&key)?;
            if added {
                super::audit(
                    ctx,
                    "trust",
                    crate::events::Outcome::Ok,
                    Some(&k.keyid),
                    serde_json::json!({"action": "add", "file": k.file, "by": super::whoami()}),
                );
            }
            let human = if added {
                format!("trusted {}", k.keyid)
            } else {
                format!("already trusted {}", k.keyid)
            };
            Ok(Report::ok(
                serde_json::json!({"keyid": k.keyid, "file": k.file, "added": added}),
                human,
            ))
        }
        TrustCommand::List => {
            let keys = store.list()?;
            let human = if keys.is_empty() {
                format!("no trusted keys in {}", store.dir().display())
            } else {
                keys.iter()
                    .map(|k| format!("{}  {}", k.keyid, k.file.display()))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let json: Vec<_> = keys
                .iter()
                .map(|k| serde_json::json!({"keyid": k.keyid, "file": k.file}))
                .collect();
            Ok(Report::ok(serde_json::json!({"keys": json}), human))
        }
        TrustCommand::Remove { keyid } => {
            let k = store.remove(&keyid)?;
            super::audit(
                ctx,
                "trust",
                crate::events::Outcome::Ok,
                Some(&k.keyid),
                serde_json::json!({"action": "remove", "by": super::whoami()}),
            );
            Ok(Report::ok(
                serde_json::json!({"keyid": k.keyid, "removed": true}),
                format!("removed {}", k.keyid),
            ))
        }
    }
}

/// The format check `bundle create` applies to each file of a kind.
fn validate(kind: Kind, _path: &str, bytes: &[u8]) -> Result<(), String> {
    let found = formats::detect(bytes).map_err(|e| e.to_string())?;
    let ok = match kind {
        Kind::Feed => found == formats::DocumentKind::Osv,
        Kind::Sbom => found.is_sbom(),
        Kind::Vex => found.is_vex(),
        Kind::Snapshot => false,
    };
    if !ok {
        return Err(format!(
            "is {}, not a document of a {kind} bundle",
            found.name()
        ));
    }
    let parsed = match kind {
        Kind::Feed => formats::parse_osv(bytes).map(|_| ()),
        Kind::Sbom => formats::parse_sbom(bytes).map(|_| ()),
        Kind::Vex => formats::parse_vex(bytes).map(|_| ()),
        Kind::Snapshot => Ok(()),
    };
    parsed.map_err(|e| e.to_string())
}

pub fn bundle(ctx: &Context, cmd: BundleCommand) -> Result<Report, Error> {
    match cmd {
        BundleCommand::Create {
            kind,
            source,
            key,
            out,
            created,
            sequence,
            paths,
        } => {
            let kind: Kind = kind.parse().map_err(Error::Usage)?;
            if kind == Kind::Snapshot {
                return Err(Error::Usage(
                    "snapshot bundles are written by `stella-bundle export`, not `bundle create`"
                        .into(),
                ));
            }
            let key = PrivateKey::load(&key)?;
            let mut opts = bundle::CreateOptions::new(kind, source, &key, out, paths);
            opts.created = created
                .as_deref()
                .map(bundle::create::parse_created)
                .transpose()?;
            opts.sequence = sequence;
            let check = validate;
            opts.validate = Some(&check);
            let made = bundle::create(&opts)?;
            let human = format!(
                "{}\n  sha256 {}\n  {} entries, {} bytes, signed by {}",
                made.path.display(),
                made.sha256,
                made.statement.subject.len(),
                made.size,
                made.keyid
            );
            Ok(Report::ok(
                serde_json::json!({
                    "file": made.path, "sha256": made.sha256, "size": made.size, "keyid": made.keyid,
                    "entries": made.statement.subject.len(), "created": made.statement.predicate.created,
                }),
                human,
            ))
        }
        BundleCommand::Inspect { file, trust } => {
            let set = trust_set(ctx, &trust)?;
            let i = bundle::verify::inspect(&file, Some(&set), &limits(&trust))?;
            let mut human = format!("{}\n  payloadType {}\n", file.display(), i.payload_type);
            if let Some(st) = &i.statement {
                let p = &st.predicate;
                human.push_str(&format!(
                    "  kind {}  source {}  created {}  sequence {}  producer {}\n",
                    p.kind,
                    p.source,
                    p.created,
                    p.sequence
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                    p.producer
                ));
            }
            if let Some(e) = &i.statement_error {
                human.push_str(&format!("  statement does not parse: {e}\n"));
            }
            for s in &i.signers {
                human.push_str(&format!(
                    "  signer {} ({})\n",
                    s.keyid,
                    if s.trusted { "trusted" } else { "NOT trusted" }
                ));
            }
            for e in &i.entries {
                human.push_str(&format!("  {:>12}  {}  {}\n", e.size, e.kind, e.name));
            }
            let json = serde_json::json!({
                "file": file,
                "payload_type": i.payload_type,
                "statement": i.statement.as_ref().map(|s| serde_json::to_value(s).unwrap_or_default()),
                "statement_error": i.statement_error,
                "signers": i.signers.iter().map(|s| serde_json::json!({"keyid": s.keyid, "trusted": s.trusted})).collect::<Vec<_>>(),
                "entries": i.entries.iter().map(|e| serde_json::json!({"name": e.name, "size": e.size, "kind": e.kind})).collect::<Vec<_>>(),
            });
            Ok(Report::ok(json, human))
        }
    }
}

/// SPEC section 3: `{"bundles": [{"file", "ok", "kind", "source", "keyid", "error"}]}`.
#[derive(Serialize)]
struct Verified {
    file: PathBuf,
    ok: bool,
    kind: Option<String>,
    source: Option<String>,
    keyid: Option<String>,
    sha256: Option<String>,
    error: Option<String>,
}

pub fn verify(ctx: &Context, files: &[PathBuf], trust: &TrustArgs) -> Result<Report, Error> {
    let set = trust_set(ctx, trust)?;
    let limits = limits(trust);
    let mut results = Vec::new();
    let mut human = String::new();
    let mut code = 0;
    for file in files {
        match bundle::verify_file(file, &set, &limits) {
            Ok(b) => {
                let p = b.predicate();
                human.push_str(&format!(
                    "{}: ok ({} {}, {} entries, signed by {})\n",
                    file.display(),
                    p.kind,
                    p.source,
                    b.entries().len(),
                    b.keyid()
                ));
                results.push(Verified {
                    file: file.clone(),
                    ok: true,
                    kind: Some(p.kind.to_string()),
                    source: Some(p.source.clone()),
                    keyid: Some(b.keyid().to_string()),
                    sha256: Some(b.sha256().to_string()),
                    error: None,
                });
            }
            Err(e) => {
                code = code.max(if e.is_verification_failure() {
                    EXIT_VERIFICATION
                } else {
                    e.exit_code()
                });
                human.push_str(&format!("{}: FAILED: {e}\n", file.display()));
                results.push(Verified {
                    file: file.clone(),
                    ok: false,
                    kind: None,
                    source: None,
                    keyid: None,
                    sha256: None,
                    error: Some(e.to_string()),
                });
            }
        }
    }
    if code != 0 {
        eprint!("{human}");
        human.clear();
    }
    Ok(Report::ok(serde_json::json!({"bundles": results}), human).with_code(code))
}
