//! `export --key KEY --out FILE [--since SNAPSHOT]`: a signed deterministic snapshot of the tenant.

use super::args::TrustArgs;
use super::bundle_cmd::{limits, trust_set};
use super::output::Report;
use super::Context;
use crate::bundle::PrivateKey;
use crate::error::Error;
use crate::export::{self, ExportRequest, Since};
use std::path::Path;

pub fn export(
    ctx: &Context,
    key: &Path,
    out: &Path,
    since: Option<&str>,
    trust: &TrustArgs,
) -> Result<Report, Error> {
    let key = PrivateKey::load(key)?;
    let set = trust_set(ctx, trust)?;
    let mut client = ctx.connect()?;
    let req = ExportRequest {
        key: &key,
        out,
        since: since.map(Since::parse),
        trust: &set,
        limits: limits(trust),
    };
    let o = export::export(&mut client, &ctx.tenant, &req)?;
    let d = &o.documents;
    let human = format!(
        "{}: {} of tenant {} (created {}{}): {} imports, {} SBOMs, {} VEX, {} advisories, {} scan manifests; sha256 {} ({} bytes) in {:.2}s",
        o.file,
        if o.base.is_some() { "delta snapshot" } else { "snapshot" },
        o.tenant,
        o.created,
        o.base.as_deref().map(|b| format!(", on top of {b}")).unwrap_or_default(),
        o.imports,
        d.sbom,
        d.vex,
        d.advisory,
        d.scan_manifest,
        o.sha256,
        o.size,
        o.seconds
    );
    super::audit(
        ctx,
        "export",
        crate::events::Outcome::Ok,
        Some(&o.sha256),
        serde_json::json!({"file": out, "base": o.base, "by": super::whoami()}),
    );
    Ok(Report::ok(&o, human))
}
