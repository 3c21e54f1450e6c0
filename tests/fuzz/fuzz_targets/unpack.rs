//! Fuzz target: the streaming verifier (zstd + tar + envelope + entries) over arbitrary bytes,
//! with a spool sink whose folder must be empty after any rejection, and `inspect`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stella_bundle::bundle::{inspect_reader, Bundle, Limits, PrivateKey, PublicKey, Spool, TrustSet};

fuzz_target!(|data: &[u8]| {
    // Trust the demo key that signed the seed corpus (and the tests' seed-[1; 32] key), so
    // mutated seeds get past the signature and exercise the entry checks.
    let mut trust = TrustSet::new();
    trust.insert(PrivateKey::from_seed(&[1; 32]).public().clone());
    if let Ok(k) = PublicKey::from_pem(include_str!("../../../bundles/demo-key.pub")) {
        trust.insert(k);
    }
    let limits = Limits {
        max_entry: 1 << 20,
        max_total: 4 << 20,
        max_envelope: 1 << 20,
    };
    let Ok(dir) = tempfile_dir() else { return };
    let mut sink = Spool::new(&dir);
    let r = Bundle::from_reader("fuzz", std::io::Cursor::new(data.to_vec())).verify(&trust, &limits, &mut sink);
    if r.is_err() {
        let left = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "spool not cleaned after a rejection");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = inspect_reader(Box::new(std::io::Cursor::new(data.to_vec())), Some(&trust), &limits);
});

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!("stella-fuzz-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
