//! The database as the system of record: which database we talk to (the embedded cluster or a
//! `--database-url`), connecting, migrations, tenants, advisory-lock keys, the named hot queries
//! and `db lint`. Other stages get a migrated `postgres::Client` from here.

mod error;
pub mod hot_queries;
pub mod lint;
pub mod locks;
pub mod migrate;
mod target;
pub mod tenant;

pub use error::DbError;
pub use target::{connect_url, connect_url_or_create, DbTarget, EMBEDDED_DATABASE, EMBEDDED_PORT};
pub use tenant::Tenant;
