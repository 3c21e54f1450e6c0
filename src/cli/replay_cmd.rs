//! `replay MANIFEST`: prove a past scan by point-in-time recovery (exit 0 identical, 4 differs).

use super::output::Report;
use super::Context;
use crate::bundle::TrustSet;
use crate::error::{Error, EXIT_REPLAY_DIFFERS};
use crate::events::Outcome;
use crate::replay;
use std::path::{Path, PathBuf};

pub fn replay(
    ctx: &Context,
    manifest: &Path,
    trust: &[PathBuf],
    keep: bool,
) -> Result<Report, Error> {
    let set = TrustSet::load(&super::bundle_cmd::trust_store(ctx), trust)?;
    let m = match replay::load_manifest(manifest, &set) {
        Ok(m) => m,
        Err(e) => {
            super::audit(
                ctx,
                "replay",
                Outcome::Refused,
                None,
                serde_json::json!({"manifest": manifest, "error": e.to_string()}),
            );
            return Err(e.into());
        }
    };
    let p = &m.statement.predicate;
    // The live database still holds the scan's recorded findings: used for the diff only.
    let recorded = ctx.connect().ok().and_then(|mut c| {
        replay::recorded_findings(&mut c, &crate::db::Tenant::new(&p.tenant), &p.scan_id)
    });
    let o = replay::replay(&ctx.home, manifest, &m, keep, recorded)?;
    let outcome = if o.identical {
        Outcome::Ok
    } else {
        Outcome::Failed
    };
    super::audit(
        ctx,
        "replay",
        outcome,
        Some(&o.scan_id),
        serde_json::json!({"manifest": manifest, "identical": o.identical, "expected": o.expected_digest,
                           "actual": o.actual_digest, "backup": o.backup, "lsn": o.recovered_to_lsn}),
    );
    let mut human = format!(
        "scan {}: {}\n  expected digest {}\n  actual digest   {}\n  backup {}, recovered to {} ({:.1}s: restore {:.1}s (unpack {:.1}s, recovery {:.1}s), scan {:.2}s)",
        o.scan_id,
        if o.identical { "identical" } else { "DIFFERS" },
        o.expected_digest,
        o.actual_digest,
        o.backup,
        o.recovered_to_lsn,
        o.seconds,
        o.restore_seconds,
        o.unpack_seconds,
        o.recovery_seconds,
        o.scan_seconds
    );
    if let Some(d) = &o.kept_data_dir {
        human.push_str(&format!("\n  kept the restored cluster (paused) in {d}"));
    }
    if !o.identical {
        if let Some(n) = &o.diff.note {
            human.push_str(&format!("\n  note: {n}"));
        }
        for f in &o.diff.only_in_recorded {
            human.push_str(&format!(
                "\n  - recorded only: {} {} {} {}",
                f.artifact_purl, f.component_purl, f.advisory_id, f.status
            ));
        }
        for f in o.diff.only_in_replay.iter().take(50) {
            human.push_str(&format!(
                "\n  + replay only:   {} {} {} {}",
                f.artifact_purl, f.component_purl, f.advisory_id, f.status
            ));
        }
    }
    let code = if o.identical { 0 } else { EXIT_REPLAY_DIFFERS };
    Ok(Report::ok(&o, human).with_code(code))
}
