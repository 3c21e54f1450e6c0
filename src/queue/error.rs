//! Errors of the job queue: what failed, on which job, and what to do about it.

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Db(#[from] DbError),

    #[error("no job {id} for tenant {tenant}; list the jobs with `stella-bundle jobs list`")]
    UnknownJob { id: i64, tenant: String },

    #[error(
        "job {id} is {status}, only dead jobs can be retried; list them with \
         `stella-bundle jobs list --status dead`"
    )]
    NotDead { id: i64, status: String },

    #[error("invalid job {what}: {reason}")]
    InvalidInput { what: &'static str, reason: String },

    #[error("invalid worker settings: {0}")]
    InvalidConfig(String),

    #[error("worker thread {index} stopped unexpectedly: {reason}")]
    WorkerPanicked { index: usize, reason: String },
}

impl QueueError {
    pub(crate) fn query(what: impl Into<String>, e: postgres::Error) -> Self {
        QueueError::Db(DbError::query(what, e))
    }
}
