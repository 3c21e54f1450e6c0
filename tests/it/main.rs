//! The integration tests: one binary, one throwaway PostgreSQL cluster for the whole process
//! (see `harness`), a fresh database per test. Tests run the real binary or the library against
//! real servers; nothing is mocked.

mod harness;

mod backup;
mod cli;
mod db_cluster;
mod db_lint;
mod db_migrate;
mod events;
mod export;
mod import;
mod json_contract;
mod queue;
mod replay;
mod report;
mod scan;
mod search;
