//! DSSE envelopes: PAE, signing and verification. Reusable for any payload type (bundle
//! statements, scan manifests, snapshot exports). Verification always works on the exact payload
//! bytes carried by the envelope, never on a re-serialization.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::error::VerifyError;
use super::keys::PrivateKey;
use super::limits::MAX_SIGNATURES;
use super::trust::TrustSet;

/// The in-toto payload type.
pub const PAYLOAD_TYPE_INTOTO: &str = "application/vnd.in-toto+json";

/// DSSE pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(
        format!(
            "DSSEv1 {} {} {} ",
            payload_type.len(),
            payload_type,
            payload.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

/// One DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Key id (securesystemslib); may be empty in foreign envelopes.
    #[serde(default)]
    pub keyid: String,
    /// Standard base64 (padded) of the 64-byte Ed25519 signature.
    pub sig: String,
}

/// A DSSE envelope as serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Standard base64 of the payload bytes.
    pub payload: String,
    /// The payload type.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Signatures over the PAE.
    pub signatures: Vec<EnvelopeSignature>,
}

/// The outcome of a successful envelope verification.
#[derive(Debug, Clone)]
pub struct VerifiedPayload {
    /// The exact payload bytes that were signed.
    pub payload: Vec<u8>,
    /// The key id of the trusted key whose signature verified.
    pub keyid: String,
}

impl Envelope {
    /// Signs `payload` (the exact bytes) as `payload_type` with `key`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &PrivateKey) -> Self {
        let sig = key.sign(&pae(payload_type, payload));
        Envelope {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![EnvelopeSignature {
                keyid: key.keyid().to_string(),
                sig: STANDARD.encode(sig),
            }],
        }
    }

    /// Deterministic JSON (sorted keys, compact, no trailing newline). The struct fields are
    /// declared in key order, so serde's compact output is already canonical; writing it
    /// directly avoids three copies of a large payload in a `serde_json::Value` tree.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default() // plain strings always serialize
    }

    /// Parses envelope JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, VerifyError> {
        let env: Envelope = serde_json::from_slice(bytes)
            .map_err(|e| VerifyError::InvalidEnvelope(format!("not DSSE JSON: {e}")))?;
        if env.signatures.is_empty() {
            return Err(VerifyError::Untrusted { signers: vec![] });
        }
        if env.signatures.len() > MAX_SIGNATURES {
            return Err(VerifyError::InvalidEnvelope(format!(
                "{} signatures, at most {MAX_SIGNATURES} accepted",
                env.signatures.len()
            )));
        }
        Ok(env)
    }

    /// Decodes the payload bytes (no trust decision).
    pub fn payload_bytes(&self) -> Result<Vec<u8>, VerifyError> {
        STANDARD.decode(self.payload.as_bytes()).map_err(|e| {
            VerifyError::InvalidEnvelope(format!("payload is not standard base64: {e}"))
        })
    }

    /// Key ids named by the signatures.
    pub fn signer_keyids(&self) -> Vec<String> {
        self.signatures.iter().map(|s| s.keyid.clone()).collect()
    }

    /// Key ids of the signatures that verify with a key of `trust` (for `inspect`).
    pub fn valid_trusted_signers(&self, trust: &TrustSet) -> Vec<String> {
        let Ok(payload) = self.payload_bytes() else {
            return Vec::new();
        };
        let msg = pae(&self.payload_type, &payload);
        self.signatures
            .iter()
            .filter_map(|s| check_signature(s, &msg, trust))
            .collect()
    }

    /// Checks the payload type, then that at least one signature verifies with a trusted key.
    /// Returns the exact signed payload bytes.
    pub fn verify(
        &self,
        expected_type: &str,
        trust: &TrustSet,
    ) -> Result<VerifiedPayload, VerifyError> {
        if self.payload_type != expected_type {
            return Err(VerifyError::PayloadType {
                found: self.payload_type.clone(),
                expected: expected_type.to_string(),
            });
        }
        let payload = self.payload_bytes()?;
        let msg = pae(&self.payload_type, &payload);
        for s in &self.signatures {
            if let Some(keyid) = check_signature(s, &msg, trust) {
                return Ok(VerifiedPayload { payload, keyid });
            }
        }
        Err(VerifyError::Untrusted {
            signers: self.signer_keyids(),
        })
    }
}

/// Parses and verifies envelope JSON in one go.
pub fn verify_envelope(
    bytes: &[u8],
    expected_type: &str,
    trust: &TrustSet,
) -> Result<VerifiedPayload, VerifyError> {
    Envelope::parse(bytes)?.verify(expected_type, trust)
}

/// The key id of the trusted key that verifies `s` over `msg`, if any. A signature naming a key
/// id is checked against that key only; one with an empty key id against every trusted key.
fn check_signature(s: &EnvelopeSignature, msg: &[u8], trust: &TrustSet) -> Option<String> {
    let sig = STANDARD.decode(s.sig.as_bytes()).ok()?;
    if sig.len() != 64 {
        return None;
    }
    if s.keyid.is_empty() {
        trust
            .keys()
            .find(|k| k.verify(msg, &sig))
            .map(|k| k.keyid().to_string())
    } else {
        let k = trust.get(&s.keyid)?;
        k.verify(msg, &sig).then(|| k.keyid().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::statement::to_canonical_json;

    #[test]
    fn direct_json_is_the_canonical_form() {
        let env = Envelope {
            payload: "eyJhIjoxfQ==".into(),
            payload_type: "application/vnd.in-toto+json".into(),
            signatures: vec![
                EnvelopeSignature {
                    keyid: "k\u{e9}y \"1\"".into(),
                    sig: "c2ln".into(),
                },
                EnvelopeSignature {
                    keyid: String::new(),
                    sig: "\u{1}".into(),
                },
            ],
        };
        assert_eq!(env.to_json(), to_canonical_json(&env).unwrap());
    }
}
