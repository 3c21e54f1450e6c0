//! Signed offline bundles (SPEC section 4): Ed25519 keys, DSSE envelopes over in-toto
//! statements, the deterministic writer, the streaming verifier and the trust store.
//!
//! Flow: [`create::create`] writes a bundle; [`verify::Bundle::open`] gives a
//! `Bundle<Unverified>` whose [`verify`](verify::Bundle::verify) returns a `Bundle<Verified>`,
//! the only state that exposes the statement and entries.

pub mod create;
pub mod dsse;
pub mod error;
pub mod keys;
pub mod limits;
pub mod path;
pub mod statement;
pub mod trust;
pub mod verify;

pub use create::{
    create, default_created, format_created, parse_created, CreateOptions, CreatedBundle, Validator,
};
pub use dsse::{pae, Envelope, EnvelopeSignature, VerifiedPayload, PAYLOAD_TYPE_INTOTO};
pub use error::{BundleError, VerifyError};
pub use keys::{keygen, keyid_of, KeyFiles, PrivateKey, PublicKey};
pub use limits::Limits;
pub use statement::{BundlePredicate, BundleStatement, Kind, Statement, Subject};
pub use trust::{TrustSet, TrustStore, TrustedKey};
pub use verify::{
    inspect, inspect_reader, verify_file, Bundle, Discard, Inspection, PayloadEntry, Sink, Spool,
    Unverified, Verified,
};
