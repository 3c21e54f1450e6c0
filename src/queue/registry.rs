//! Job kinds -> handlers. A handler gets the claimed [`Job`] and a [`JobContext`] holding the
//! worker's connection with no transaction open and no lock held (the claim is already
//! committed), so the work itself never runs inside the claim. Handlers must be idempotent: a
//! job whose worker dies after doing the work but before recording it runs again after its lease.

use super::jobs::Job;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why a job did not finish.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    /// Retried with backoff until `max_attempts`, then a dead letter with this message.
    #[error("{0}")]
    Failed(String),
    /// Never worth retrying (a malformed payload): a dead letter at once.
    #[error("{0}")]
    Permanent(String),
    /// The worker is shutting down: the job goes back to the queue, the attempt not counted.
    #[error("interrupted by shutdown")]
    Interrupted,
}

/// What a handler may use while it runs.
pub struct JobContext<'a> {
    /// The worker's own connection: autocommit, no transaction open. Open one if the work needs
    /// it; commit it before returning.
    pub client: &'a mut postgres::Client,
    /// The claim token's worker id (e.g. for logs).
    pub worker_id: &'a str,
    shutdown: &'a AtomicBool,
}

impl<'a> JobContext<'a> {
    pub fn new(
        client: &'a mut postgres::Client,
        worker_id: &'a str,
        shutdown: &'a AtomicBool,
    ) -> Self {
        JobContext {
            client,
            worker_id,
            shutdown,
        }
    }

    /// True once SIGTERM/SIGINT arrived: long handlers should return
    /// [`JobError::Interrupted`] at a safe point.
    pub fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }
}

/// The work of one job kind.
pub trait JobHandler: Send + Sync {
    fn run(&self, job: &Job, ctx: &mut JobContext<'_>) -> Result<(), JobError>;
}

impl<F> JobHandler for F
where
    F: Fn(&Job, &mut JobContext<'_>) -> Result<(), JobError> + Send + Sync,
{
    fn run(&self, job: &Job, ctx: &mut JobContext<'_>) -> Result<(), JobError> {
        self(job, ctx)
    }
}

/// The kinds a worker can run. Kinds claimed without a handler fail with "no handler for kind X"
/// and retry / dead-letter like any failure.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<String, Arc<dyn JobHandler>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register (or replace) the handler of `kind`.
    pub fn register(&mut self, kind: &str, handler: impl JobHandler + 'static) -> &mut Self {
        self.handlers.insert(kind.to_string(), Arc::new(handler));
        self
    }

    pub fn get(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(kind).cloned()
    }

    /// Registered kinds, sorted.
    pub fn kinds(&self) -> Vec<String> {
        self.handlers.keys().cloned().collect()
    }
}

/// The message of a job whose kind has no handler.
pub fn no_handler(kind: &str) -> String {
    format!(
        "no handler for kind {kind}: this worker runs only registered kinds; enqueue a known kind \
         or run a worker that registers `{kind}`"
    )
}
