//! `import FILE...`: verify, then import each bundle in its own transaction.

use super::args::TrustArgs;
use super::bundle_cmd::{limits, trust_set};
use super::output::{Mode, Report};
use super::progress::bar_for;
use super::Context;
use crate::error::{Error, EXIT_FAILURE, EXIT_VERIFICATION};
use crate::events::{self, Outcome};
use crate::import::{self, ImportRequest, ImportStatus};
use crate::queue;
use std::path::PathBuf;

pub fn import(
    ctx: &Context,
    files: &[PathBuf],
    trust: &TrustArgs,
    reason: Option<String>,
    scan: bool,
) -> Result<Report, Error> {
    let set = trust_set(ctx, trust)?;
    let limits = limits(trust);
    let mut client = ctx.connect()?;
    let who = super::whoami();
    let connect_helper = || ctx.connect().ok();
    let mut results = Vec::new();
    let mut human = String::new();
    let mut code = 0;
    let mut imported: Vec<String> = Vec::new();
    for file in files {
        let progress = bar_for(ctx.mode, &file.display().to_string());
        let req = ImportRequest {
            file,
            trust: &set,
            limits: &limits,
            allow_older: reason.as_deref(),
            imported_by: &who,
            progress: progress.as_ref(),
            connect_helper: Some(&connect_helper),
        };
        match import::import_bundle(&mut client, &ctx.tenant, &req) {
            Ok(o) => {
                human.push_str(&match o.status {
                    ImportStatus::Imported => format!(
                        "{}: imported {} {} (import {}): {} new documents, {} existing; {} components, {} VEX statements, {} advisories in {:.2}s\n",
                        o.file, o.kind, o.source, o.import_id, o.documents.new, o.documents.existing,
                        o.components, o.vex_statements, o.advisories, o.seconds
                    ),
                    ImportStatus::AlreadyImported => format!(
                        "{}: already imported (import {}, {} {}); nothing changed\n",
                        o.file, o.import_id, o.kind, o.source
                    ),
                });
                if ctx.mode == Mode::Human {
                    for w in o.warnings.iter().take(20) {
                        eprintln!("warning: {}: {w}", o.file);
                    }
                    if o.warnings.len() > 20 {
                        eprintln!(
                            "warning: {}: {} more warnings (see --json)",
                            o.file,
                            o.warnings.len() - 20
                        );
                    }
                }
                if o.status == ImportStatus::Imported {
                    imported.push(o.sha256.clone());
                }
                results.push(serde_json::to_value(&o).unwrap_or_default());
            }
            Err(e) => {
                let c = if e.is_verification_failure() {
                    EXIT_VERIFICATION
                } else {
                    EXIT_FAILURE
                };
                code = code.max(c);
                eprintln!("error: {e}");
                // The refusal is part of the audit trail (its own row, after the outcome is known).
                let outcome = if e.is_verification_failure() {
                    Outcome::Refused
                } else {
                    Outcome::Failed
                };
                let details = serde_json::json!({"file": file, "error": e.to_string(), "by": who});
                if let Err(err) = events::record(
                    &mut client,
                    ctx.tenant.id,
                    "import",
                    outcome,
                    None,
                    &details,
                ) {
                    tracing::warn!("could not record the refused import: {err}");
                }
                results.push(serde_json::json!({
                    "file": file, "status": "failed", "error": e.to_string(),
                    "verification_failed": e.is_verification_failure(),
                }));
            }
        }
    }
    let mut json = serde_json::json!({"bundles": results});
    if scan && !imported.is_empty() {
        imported.sort();
        let key = format!("import-scan:{}", imported.join(","));
        let job = queue::enqueue(
            &mut client,
            ctx.tenant.id,
            "scan",
            &key,
            &serde_json::json!({"artifacts": []}),
        )?;
        human.push_str(&format!(
            "scan job {} {} (run it with `stella-bundle worker --once --scan-key KEY`)\n",
            job.id,
            if job.new {
                "enqueued"
            } else {
                "already enqueued"
            }
        ));
        json["scan_job"] = serde_json::json!({"id": job.id, "new": job.new});
    }
    Ok(Report::ok(json, human).with_code(code))
}
