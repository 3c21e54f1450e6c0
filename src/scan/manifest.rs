//! The signed scan manifest (SPEC section 6): a DSSE envelope over an in-toto Statement whose
//! subject is the result digest and whose predicate names every input (SBOM, VEX and feed
//! hashes), the engine, and the database point (system identifier, timeline, restore point, LSN)
//! the scan read. `replay` verifies it and re-runs the scan at that point.

use super::engine::Counts;
use crate::bundle::statement::{Statement, Subject};
use crate::bundle::{Envelope, PrivateKey, TrustSet, VerifyError, PAYLOAD_TYPE_INTOTO};
use serde::{Deserialize, Serialize};

pub const PREDICATE_TYPE: &str = "urn:stella-bundle:scan-manifest:v1";
pub const SUBJECT_NAME: &str = "findings";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Engine {
    pub version: String,
    pub rules: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SbomInput {
    pub artifact_purl: String,
    pub content_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VexInput {
    pub content_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedInput {
    pub source: String,
    pub bundle_sha256: String,
    pub import_id: i64,
    /// Advisory records the bundle brought.
    pub advisories: i64,
    /// Its signed `predicate.created`.
    pub created: String,
    /// Its age at scan time, from the signed `created`.
    pub age_seconds: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Inputs {
    pub sboms: Vec<SbomInput>,
    pub vex: Vec<VexInput>,
    pub feeds: Vec<FeedInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DatabasePoint {
    /// A string: the 64-bit value does not survive JSON parsers that use doubles.
    pub system_identifier: String,
    pub timeline: i64,
    pub restore_point: Option<String>,
    pub lsn: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultSummary {
    pub digest: String,
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScanPredicate {
    pub scan_id: String,
    pub tenant: String,
    pub started: String,
    pub finished: String,
    pub engine: Engine,
    pub policy_sha256: String,
    pub inputs: Inputs,
    pub database: DatabasePoint,
    pub result: ResultSummary,
}

pub type ScanStatement = Statement<ScanPredicate>;

/// Sign a manifest; returns the envelope's bytes (written to the file and stored as is).
pub fn sign(
    predicate: ScanPredicate,
    key: &PrivateKey,
) -> Result<(Vec<u8>, serde_json::Value), serde_json::Error> {
    let statement = Statement::new(
        vec![Subject::sha256(
            SUBJECT_NAME,
            predicate.result.digest.clone(),
        )],
        PREDICATE_TYPE,
        predicate,
    );
    let payload = statement.to_json()?;
    let value: serde_json::Value = serde_json::from_slice(&payload)?;
    let envelope = Envelope::sign(PAYLOAD_TYPE_INTOTO, &payload, key);
    let mut bytes = envelope.to_json();
    bytes.push(b'\n');
    Ok((bytes, value))
}

/// A manifest whose signature, trust, type and subject were checked.
#[derive(Debug, Clone)]
pub struct VerifiedManifest {
    pub statement: ScanStatement,
    pub keyid: String,
}

/// Verify a manifest file's bytes against trusted keys.
pub fn verify(bytes: &[u8], trust: &TrustSet) -> Result<VerifiedManifest, VerifyError> {
    let trimmed = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let verified = crate::bundle::dsse::verify_envelope(trimmed, PAYLOAD_TYPE_INTOTO, trust)?;
    let statement: ScanStatement = serde_json::from_slice(&verified.payload).map_err(|e| {
        VerifyError::InvalidStatement(format!("not a scan manifest statement: {e}"))
    })?;
    if statement.predicate_type != PREDICATE_TYPE {
        return Err(VerifyError::InvalidStatement(format!(
            "predicateType is {:?}, expected {PREDICATE_TYPE:?}",
            statement.predicate_type
        )));
    }
    let subject_digest = statement
        .subject
        .iter()
        .find(|s| s.name == SUBJECT_NAME)
        .and_then(|s| s.sha256_hex())
        .map(str::to_string);
    if subject_digest.as_deref() != Some(statement.predicate.result.digest.as_str()) {
        return Err(VerifyError::InvalidStatement(
            "the subject digest does not equal predicate.result.digest".into(),
        ));
    }
    Ok(VerifiedManifest {
        statement,
        keyid: verified.keyid,
    })
}
