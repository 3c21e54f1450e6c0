//! stella-bundle: signed offline security-data bundles kept in PostgreSQL, with scans that can be
//! proven later by point-in-time replay.
//!
//! The modules follow the data flow: bundle file -> verify -> unpack -> parse -> import
//! transaction -> scan -> manifest -> export / backup / replay. `docs/ARCHITECTURE.md` has the map.

pub mod advisories;
pub mod backup;
pub mod bundle;
pub mod cli;
pub mod db;
pub mod error;
pub mod events;
pub mod export;
pub mod formats;
pub mod home;
pub mod import;
pub mod pg;
pub mod progress;
pub mod queue;
pub mod replay;
pub mod report;
pub mod scan;
pub mod versions;
