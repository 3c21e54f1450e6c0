//! `import FILE...`: verify, then import each bundle in its own transaction.

use super::args::TrustArgs;
use super::bundle_cmd::{limits, trust_set};
use super::output::{Mode, Report};
use super::progress::bar_for;
use super::Context;
use crate::error::{Error, EXIT_FAILURE, EXIT_VERIFICATION};
use crate::import::{self, ImportRequest, ImportStatus};
use std::path::PathBuf;

pub fn import(
    ctx: &Context,
    files: &[PathBuf],
    trust: &TrustArgs,
    reason: Option<String>,
) -> Result<Report, Error> {
    let set = trust_set(ctx, trust)?;
    let limits = limits(trust);
    let mut client = ctx.connect()?;
    let who = super::whoami();
    let mut results = Vec::new();
    let mut human = String::new();
    let mut code = 0;
    for file in files {
        let progress = bar_for(ctx.mode, &file.display().to_string());
        let req = ImportRequest {
            file,
            trust: &set,
            limits: &limits,
            allow_older: reason.as_deref(),
            imported_by: &who,
            progress: progress.as_ref(),
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
                results.push(serde_json::json!({
                    "file": file, "status": "failed", "error": e.to_string(),
                    "verification_failed": e.is_verification_failure(),
                }));
            }
        }
    }
    Ok(Report::ok(serde_json::json!({"bundles": results}), human).with_code(code))
}
