//! The job queue, in PostgreSQL (no broker): `job_queue` holds the stable payload, inserted once
//! and unique per `(tenant, kind, idempotency_key)`; `job_queue_state` holds the small, often
//! updated claim state (status, attempts, run_after, lease, last error). Claims use
//! `FOR UPDATE SKIP LOCKED` (`db::hot_queries::CLAIM_JOB`) in one short transaction; the work runs
//! afterwards with no transaction or lock held; failures back off (`backoff_ms` doubled per
//! attempt, +-25 % jitter) and become dead letters after `max_attempts`; a dead worker's job is
//! reclaimed once its lease passes. New jobs NOTIFY `stella_jobs` in the enqueuing transaction
//! (trigger of migration 0003), which wakes sleeping workers at once.
//!
//! `jobs` has the state changes, `registry` the kind -> handler map, `builtin` the built-in
//! kinds and `worker` the loop.

pub mod builtin;
mod error;
pub mod jobs;
pub mod registry;
pub mod worker;

pub use builtin::BuiltinSettings;
pub use error::QueueError;
pub use jobs::{enqueue, enqueue_job, Enqueued, Job, NewJob};
pub use registry::{JobContext, JobError, JobHandler, Registry};
pub use worker::{Worker, WorkerConfig, WorkerReport};
