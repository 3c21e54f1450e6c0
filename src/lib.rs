//! stella-bundle: signed offline security-data bundles kept in PostgreSQL, with scans that can be
//! proven later by point-in-time replay.
//!
//! The modules follow the data flow: bundle file -> verify -> unpack -> parse -> import
//! transaction -> scan -> manifest -> export / backup / replay. `docs/ARCHITECTURE.md` has the map.

pub mod backup;
pub mod cli;
pub mod db;
pub mod error;
pub mod home;
pub mod pg;
