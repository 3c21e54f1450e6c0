//! `data/index.json` of a snapshot bundle: which imports the tenant's data came from (their
//! signed identity and the documents each brought) and which documents this bundle carries.
//! Written as canonical JSON (sorted keys, compact), lists sorted by bytes, so the same database
//! state always gives the same bytes. Shared by `export` (writer) and `import` (reader).

use serde::{Deserialize, Serialize};

/// The `format` value of a v1 index.
pub const INDEX_FORMAT: &str = "urn:stella-bundle:snapshot-index:v1";
/// Entry path of the index.
pub const INDEX_PATH: &str = "data/index.json";
/// Entry path of the human instructions.
pub const VERIFY_PATH: &str = "data/VERIFY.txt";

/// The whole index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotIndex {
    /// sha256 of the base snapshot for a delta, else null (as in `predicate.base`).
    pub base: Option<String>,
    /// The documents this bundle carries, sorted by `path`.
    pub documents: Vec<IndexDocument>,
    /// Always [`INDEX_FORMAT`].
    pub format: String,
    /// The original imports (never snapshot imports), sorted by `bundle_sha256`.
    pub imports: Vec<IndexImport>,
    /// The tenant name (as in `predicate.tenant`).
    pub tenant: String,
}

/// One original import, as signed by its producer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexImport {
    /// sha256 of the original bundle file.
    pub bundle_sha256: String,
    /// The signed `predicate.created` (RFC3339 UTC).
    pub created: String,
    /// The documents the bundle brought, sorted by `path`.
    pub documents: Vec<ImportDocument>,
    /// Entry holding the original DSSE envelope, exactly as signed.
    pub envelope: String,
    /// feed, sbom or vex.
    pub kind: String,
    /// The signed `predicate.sequence`.
    pub sequence: Option<i64>,
    /// The key id whose signature was trusted at import.
    pub signer_keyid: String,
    /// Size of the original bundle file in bytes.
    pub size_bytes: i64,
    /// The signed `predicate.source`.
    pub source: String,
}

/// A document as the original bundle named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportDocument {
    /// sha256 hex of its bytes.
    pub content_hash: String,
    /// Its path in the original bundle.
    pub path: String,
    /// sbom, vex or advisory.
    #[serde(rename = "type")]
    pub doc_type: String,
}

/// A document carried by this snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDocument {
    /// sha256 hex of its bytes (also its entry digest).
    pub content_hash: String,
    /// Its entry path here, e.g. `data/sbom/<content_hash>.json`.
    pub path: String,
    /// Size in bytes.
    pub size: i64,
    /// sbom, vex, advisory or scan_manifest.
    #[serde(rename = "type")]
    pub doc_type: String,
}

impl SnapshotIndex {
    /// Canonical JSON bytes. Every struct here declares its fields in key order (a test checks
    /// the result against the generic canonical writer), so serde's compact output is already
    /// canonical and is written without a `serde_json::Value` tree of the whole index.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

/// Where a document of `doc_type` with `hash` lives in a snapshot; `yaml` for OSV records stored
/// as YAML.
pub fn document_path(doc_type: &str, hash: &str, yaml: bool) -> String {
    let dir = match doc_type {
        "scan_manifest" => "scan",
        other => other,
    };
    let ext = if yaml { "yaml" } else { "json" };
    format!("data/{dir}/{hash}.{ext}")
}

/// Where the envelope of the original bundle `bundle_sha256` lives in a snapshot.
pub fn envelope_path(bundle_sha256: &str) -> String {
    format!("data/import/{bundle_sha256}.dsse.json")
}

/// The instructions in `data/VERIFY.txt` (fixed text: the same in every snapshot).
pub const VERIFY_TEXT: &str = "\
How to verify this stella-bundle snapshot with stock tools (no stella-bundle, no network)
=========================================================================================

This file is part of a snapshot bundle (SPEC section 7): a zstd-compressed POSIX tar whose first
entry, stella-bundle.dsse.json, is a DSSE envelope signed with Ed25519 over an in-toto Statement
v1. The statement's subject lists every other entry with its sha256. scripts/verify-offline.sh in
the stella-bundle sources does the steps below; they need GNU tar with zstd, python3 (standard
library only), sha256sum and OpenSSL 3.

1. List the archive: the envelope comes first, then only regular files under data/.
     tar --zstd -tvf SNAPSHOT.tar.zst
2. Extract the envelope and decode its payload (the statement):
     tar --zstd -xOf SNAPSHOT.tar.zst stella-bundle.dsse.json > envelope.json
     python3 -c 'import json,base64; e=json.load(open(\"envelope.json\")); \\
       open(\"payload\",\"wb\").write(base64.b64decode(e[\"payload\"]))'
3. Build the DSSE pre-authentication encoding and check the signature with the exporter's public
   key (SPKI PEM):
     PAE = \"DSSEv1\" SP len(payloadType) SP payloadType SP len(payload) SP payload
     (lengths as ASCII decimal byte counts; payloadType application/vnd.in-toto+json)
     python3 -c 'import json,base64; e=json.load(open(\"envelope.json\")); \\
       open(\"sig\",\"wb\").write(base64.b64decode(e[\"signatures\"][0][\"sig\"]))'
     openssl pkeyutl -verify -pubin -inkey exporter.pub -rawin -in pae -sigfile sig
   The key id in the signature is the lowercase hex sha256 of
     {\"keytype\":\"ed25519\",\"keyval\":{\"public\":\"<64 hex chars of the raw key>\"},\"scheme\":\"ed25519\"}
4. Check every entry against the statement's subject:
     mkdir x && tar --zstd -xf SNAPSHOT.tar.zst -C x && (cd x && sha256sum data/...)
   Every entry must be listed with the same sha256, and every subject must be present.
5. Documents are named by the sha256 of their bytes (data/sbom, data/vex, data/advisory,
   data/scan), so `sha256sum data/sbom/*` prints each file's own name. data/import holds the
   original bundles' DSSE envelopes exactly as their producers signed them: verify each with its
   producer's public key the same way (steps 2-3), and compare its statement's subjects with the
   documents listed for that import in data/index.json.
6. data/index.json (canonical JSON) lists the original imports (bundle sha256, kind, source,
   sequence, signed created time, signer key id, documents) and the documents carried here.
   predicate.base, when set, is the sha256 of the snapshot this delta applies on top of.

Or, with stella-bundle: stella-bundle verify --trust exporter.pub SNAPSHOT.tar.zst
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_index_json_is_the_canonical_form() {
        let doc = |p: &str| ImportDocument {
            path: p.into(),
            doc_type: "sbom".into(),
            content_hash: "ab".repeat(32),
        };
        let index = SnapshotIndex {
            format: INDEX_FORMAT.into(),
            tenant: "t\u{e9}\"x".into(),
            base: None,
            imports: vec![IndexImport {
                bundle_sha256: "cd".repeat(32),
                kind: "sbom".into(),
                source: "apps".into(),
                sequence: Some(3),
                created: "2026-01-01T00:00:00Z".into(),
                signer_keyid: "ef".repeat(32),
                size_bytes: 42,
                envelope: envelope_path(&"cd".repeat(32)),
                documents: vec![doc("data/a.json"), doc("data/\u{1}b.json")],
            }],
            documents: vec![IndexDocument {
                path: document_path("advisory", &"01".repeat(32), true),
                doc_type: "advisory".into(),
                content_hash: "01".repeat(32),
                size: 9,
            }],
        };
        let canonical = crate::bundle::statement::to_canonical_json(&index).unwrap();
        assert_eq!(index.to_bytes().unwrap(), canonical);
        let with_base = SnapshotIndex {
            base: Some("99".repeat(32)),
            ..index
        };
        assert_eq!(
            with_base.to_bytes().unwrap(),
            crate::bundle::statement::to_canonical_json(&with_base).unwrap()
        );
    }
}
