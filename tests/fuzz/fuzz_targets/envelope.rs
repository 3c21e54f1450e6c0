//! Fuzz target: DSSE envelope parsing, payload decoding, signature checking and bundle
//! statement parsing over arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stella_bundle::bundle::dsse::{Envelope, PAYLOAD_TYPE_INTOTO};
use stella_bundle::bundle::statement::parse_bundle_statement;
use stella_bundle::bundle::{PrivateKey, TrustSet};

fuzz_target!(|data: &[u8]| {
    let mut trust = TrustSet::new();
    trust.insert(PrivateKey::from_seed(&[1; 32]).public().clone());
    if let Ok(env) = Envelope::parse(data) {
        let _ = env.signer_keyids();
        let _ = env.valid_trusted_signers(&trust);
        if let Ok(p) = env.payload_bytes() {
            let _ = parse_bundle_statement(&p);
        }
        if let Ok(v) = env.verify(PAYLOAD_TYPE_INTOTO, &trust) {
            let _ = parse_bundle_statement(&v.payload);
        }
    }
    let _ = parse_bundle_statement(data);
});
