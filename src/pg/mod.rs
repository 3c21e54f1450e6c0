//! Everything that spawns PostgreSQL server processes: finding the server binaries, choosing the
//! OS user the server runs as, and the embedded cluster's lifecycle (initdb, start, stop, status).
//!
//! Invariant: only this module (and `backup`, through [`ServerUser::command`]) spawns PostgreSQL
//! tools; it knows nothing about the schema.

mod binaries;
mod cluster;
mod error;
mod server_user;

pub use binaries::PgBinaries;
pub(crate) use cluster::{output_text, percent_encode};
pub use cluster::{Cluster, ClusterSettings, ClusterStatus, StartOutcome};
pub use error::PgError;
pub use server_user::ServerUser;
