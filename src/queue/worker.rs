//! The worker loop: `concurrency` threads, each with its own connection that LISTENs on
//! [`CHANNEL`]. A thread claims (one short autocommit statement), runs the handler with no
//! transaction open, records the outcome, and when nothing is ready sleeps until a NOTIFY for its
//! tenant and kinds, the next backed-off job's due time, or the poll interval (the fallback for a
//! lost notification), whichever comes first. A lease keeper thread renews the leases of the
//! running jobs every third of the lease, so `--lease` is how long after its worker died (or lost
//! the database) a job is reclaimed, not a cap on the job's duration. Expired leases are
//! reclaimed at start and once per poll interval. On shutdown (the flag set by SIGTERM/SIGINT) a thread finishes its current job,
//! or releases it if the handler returns [`JobError::Interrupted`], and stops.

use super::jobs::{self, FailOutcome, Job, Prepared, CHANNEL};
use super::registry::{no_handler, JobContext, JobError, Registry};
use super::QueueError;
use crate::db::DbError;
use postgres::fallible_iterator::FallibleIterator;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Opens a connection for one worker thread.
pub type Connector = Arc<dyn Fn() -> Result<postgres::Client, DbError> + Send + Sync>;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub tenant: Uuid,
    /// Kinds to claim; empty means every registered kind.
    pub kinds: Vec<String>,
    /// Threads (each with its own connection).
    pub concurrency: usize,
    /// How long a claim outlives its worker: renewed every third of it while the worker lives;
    /// once it passes without renewal, other workers reclaim the job.
    pub lease: Duration,
    /// Fallback poll when no notification arrives.
    pub poll_interval: Duration,
    /// Drain the ready jobs, then return.
    pub once: bool,
}

impl WorkerConfig {
    pub fn new(tenant: Uuid) -> Self {
        WorkerConfig {
            tenant,
            kinds: Vec::new(),
            concurrency: 1,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            once: false,
        }
    }
}

/// Claim latency over the run, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// What a worker run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerReport {
    pub kinds: Vec<String>,
    pub concurrency: usize,
    /// Jobs claimed and run.
    pub processed: u64,
    pub done: u64,
    /// Failed, will run again after backoff.
    pub retried: u64,
    /// Failed for the last time: dead letters.
    pub dead: u64,
    /// Given back on shutdown.
    pub released: u64,
    /// Finished after the lease had expired and another worker had reclaimed the job.
    pub lease_lost: u64,
    /// Expired leases taken back from dead workers.
    pub reclaimed: u64,
    pub elapsed_ms: u64,
    pub jobs_per_sec: f64,
    pub claim_latency: Latency,
}

#[derive(Default)]
struct Stats {
    processed: u64,
    done: u64,
    retried: u64,
    dead: u64,
    released: u64,
    lease_lost: u64,
    reclaimed: u64,
    claim_us: Vec<u64>,
}

pub struct Worker {
    config: WorkerConfig,
    kinds: Vec<String>,
    wake_on: HashSet<String>,
    registry: Arc<Registry>,
    connect: Connector,
    shutdown: Arc<AtomicBool>,
    /// Distinguishes Worker instances of one process in claim tokens.
    instance: usize,
    /// Claim tokens (worker ids) of the threads currently running a job: their leases are
    /// renewed while this process lives.
    held: Mutex<HashSet<String>>,
}

static INSTANCES: AtomicUsize = AtomicUsize::new(0);

enum Step {
    Worked,
    Idle,
}

impl Worker {
    pub fn new(
        config: WorkerConfig,
        registry: Registry,
        connect: Connector,
        shutdown: Arc<AtomicBool>,
    ) -> Result<Self, QueueError> {
        if config.concurrency == 0 || config.concurrency > 64 {
            return Err(QueueError::InvalidConfig(format!(
                "concurrency must be 1 to 64, got {}",
                config.concurrency
            )));
        }
        if config.lease < Duration::from_secs(1) {
            return Err(QueueError::InvalidConfig(
                "the lease must be at least 1 second".into(),
            ));
        }
        if config.poll_interval < Duration::from_millis(10) {
            return Err(QueueError::InvalidConfig(
                "the poll interval must be at least 10 ms".into(),
            ));
        }
        let mut kinds = if config.kinds.is_empty() {
            registry.kinds()
        } else {
            config.kinds.clone()
        };
        kinds.sort();
        kinds.dedup();
        for k in &kinds {
            jobs::validate_kind(k)?;
        }
        if kinds.is_empty() {
            return Err(QueueError::InvalidConfig(
                "no job kinds to claim: register a handler or pass --kinds".into(),
            ));
        }
        let wake_on = kinds
            .iter()
            .map(|k| format!("{} {k}", config.tenant))
            .collect();
        Ok(Worker {
            config,
            kinds,
            wake_on,
            registry: Arc::new(registry),
            connect,
            shutdown,
            instance: INSTANCES.fetch_add(1, Ordering::SeqCst),
            held: Mutex::new(HashSet::new()),
        })
    }

    /// The kinds this worker claims.
    pub fn kinds(&self) -> &[String] {
        &self.kinds
    }

    /// Run until shutdown (or, with `once`, until nothing is ready).
    pub fn run(&self) -> Result<WorkerReport, QueueError> {
        let started = Instant::now();
        let threads_done = AtomicBool::new(false);
        let results: Vec<Result<Stats, QueueError>> = std::thread::scope(|scope| {
            let keeper = scope.spawn(|| self.keep_leases(&threads_done));
            let handles: Vec<_> = (0..self.config.concurrency)
                .map(|i| scope.spawn(move || self.thread_main(i)))
                .collect();
            let results = handles
                .into_iter()
                .enumerate()
                .map(|(i, h)| {
                    h.join().unwrap_or_else(|p| {
                        Err(QueueError::WorkerPanicked {
                            index: i,
                            reason: panic_message(p.as_ref()),
                        })
                    })
                })
                .collect();
            threads_done.store(true, Ordering::SeqCst);
            let _ = keeper.join();
            results
        });
        let mut total = Stats::default();
        let mut first_error = None;
        for r in results {
            match r {
                Ok(s) => {
                    total.processed += s.processed;
                    total.done += s.done;
                    total.retried += s.retried;
                    total.dead += s.dead;
                    total.released += s.released;
                    total.lease_lost += s.lease_lost;
                    total.reclaimed += s.reclaimed;
                    total.claim_us.extend(s.claim_us);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let elapsed = started.elapsed();
        total.claim_us.sort_unstable();
        let pct = |p: usize| {
            let v = &total.claim_us;
            if v.is_empty() {
                0.0
            } else {
                v[(v.len() - 1) * p / 100] as f64 / 1000.0
            }
        };
        Ok(WorkerReport {
            kinds: self.kinds.clone(),
            concurrency: self.config.concurrency,
            processed: total.processed,
            done: total.done,
            retried: total.retried,
            dead: total.dead,
            released: total.released,
            lease_lost: total.lease_lost,
            reclaimed: total.reclaimed,
            elapsed_ms: elapsed.as_millis() as u64,
            jobs_per_sec: if elapsed.as_secs_f64() > 0.0 {
                total.processed as f64 / elapsed.as_secs_f64()
            } else {
                0.0
            },
            claim_latency: Latency {
                samples: total.claim_us.len(),
                p50_ms: pct(50),
                p99_ms: pct(99),
                max_ms: pct(100),
            },
        })
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    fn open(&self) -> Result<(postgres::Client, Prepared), QueueError> {
        let mut client = (self.connect)()?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| QueueError::query("listening for new jobs", e))?;
        let prepared = Prepared::new(&mut client)?;
        Ok((client, prepared))
    }

    fn thread_main(&self, index: usize) -> Result<Stats, QueueError> {
        let worker_id = format!(
            "{}:{}:{}.{index}",
            crate::events::host_name(),
            std::process::id(),
            self.instance
        );
        let mut stats = Stats::default();
        let mut conn: Option<(postgres::Client, Prepared)> = None;
        let mut last_reclaim: Option<Instant> = None;
        let mut rr = index;
        let mut backoff = Duration::from_secs(1);
        while !self.stopping() {
            let result = match conn.as_mut() {
                None => self.open().map(|c| {
                    tracing::info!(
                        "worker {worker_id} listening on {CHANNEL} for {}",
                        self.kinds.join(",")
                    );
                    conn = Some(c);
                }),
                Some((client, prepared)) => {
                    match self.step(
                        client,
                        prepared,
                        &worker_id,
                        &mut stats,
                        &mut last_reclaim,
                        &mut rr,
                    ) {
                        Ok(Step::Worked) => Ok(()),
                        Ok(Step::Idle) if self.config.once => break,
                        Ok(Step::Idle) => self.wait(client),
                        Err(e) => Err(e),
                    }
                }
            };
            match result {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(e) if self.config.once => return Err(e),
                Err(e) => {
                    // A long-running worker outlives database restarts: reconnect with backoff.
                    tracing::warn!("worker {worker_id}: {e}; reconnecting in {backoff:?}");
                    conn = None;
                    self.sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        tracing::info!("worker {worker_id} stopped");
        Ok(stats)
    }

    fn step(
        &self,
        client: &mut postgres::Client,
        prepared: &Prepared,
        worker_id: &str,
        stats: &mut Stats,
        last_reclaim: &mut Option<Instant>,
        rr: &mut usize,
    ) -> Result<Step, QueueError> {
        if last_reclaim.map_or(true, |t| t.elapsed() >= self.config.poll_interval) {
            let reclaimed = jobs::reclaim(client, self.config.tenant)?;
            for r in &reclaimed {
                tracing::warn!("job {} ({}): lease expired, now {}", r.id, r.kind, r.status);
            }
            stats.reclaimed += reclaimed.len() as u64;
            *last_reclaim = Some(Instant::now());
        }
        let n = self.kinds.len();
        for i in 0..n {
            let kind = &self.kinds[(*rr + i) % n];
            let t = Instant::now();
            if let Some(job) = prepared.claim(
                client,
                self.config.tenant,
                kind,
                worker_id,
                self.config.lease,
            )? {
                stats.claim_us.push(t.elapsed().as_micros() as u64);
                *rr = (*rr + i + 1) % n;
                self.hold(worker_id, true);
                let result = self.execute(client, prepared, worker_id, job, stats);
                self.hold(worker_id, false);
                result?;
                return Ok(Step::Worked);
            }
        }
        Ok(Step::Idle)
    }

    fn execute(
        &self,
        client: &mut postgres::Client,
        prepared: &Prepared,
        worker_id: &str,
        job: Job,
        stats: &mut Stats,
    ) -> Result<(), QueueError> {
        let t = Instant::now();
        let result = match self.registry.get(&job.kind) {
            None => Err(JobError::Failed(no_handler(&job.kind))),
            Some(handler) => {
                let mut ctx = JobContext::new(client, worker_id, &self.shutdown);
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handler.run(&job, &mut ctx)
                }))
                .unwrap_or_else(|p| {
                    Err(JobError::Failed(format!(
                        "the {} handler panicked: {}",
                        job.kind,
                        panic_message(p.as_ref())
                    )))
                })
            }
        };
        stats.processed += 1;
        let took = t.elapsed();
        match result {
            Ok(()) => {
                if prepared.complete(client, &job, worker_id)? {
                    stats.done += 1;
                    tracing::info!("job {} ({}) done in {took:?}", job.id, job.kind);
                } else {
                    stats.lease_lost += 1;
                    tracing::warn!(
                        "job {} ({}) finished after its lease expired and was reclaimed; raise --lease",
                        job.id,
                        job.kind
                    );
                }
            }
            Err(JobError::Interrupted) => {
                if jobs::release(client, &job, worker_id)? {
                    stats.released += 1;
                    tracing::info!("job {} ({}) released on shutdown", job.id, job.kind);
                } else {
                    stats.lease_lost += 1;
                }
            }
            Err(e) => {
                let permanent = matches!(e, JobError::Permanent(_));
                let message = e.to_string();
                match jobs::fail(client, &job, worker_id, &message, permanent)? {
                    FailOutcome::Retry { run_after } => {
                        stats.retried += 1;
                        tracing::warn!(
                            "job {} ({}) attempt {}/{} failed: {message}; retry at {run_after}",
                            job.id,
                            job.kind,
                            job.attempt,
                            job.max_attempts
                        );
                    }
                    FailOutcome::Dead => {
                        stats.dead += 1;
                        tracing::warn!(
                            "job {} ({}) is dead after attempt {}: {message}",
                            job.id,
                            job.kind,
                            job.attempt
                        );
                    }
                    FailOutcome::LeaseLost => stats.lease_lost += 1,
                }
            }
        }
        Ok(())
    }

    /// Sleep until a relevant NOTIFY, the next due job, the poll interval, or shutdown.
    fn wait(&self, client: &mut postgres::Client) -> Result<(), QueueError> {
        let now = Instant::now();
        let mut deadline = now + self.config.poll_interval;
        if let Some(due) = jobs::next_due(client, self.config.tenant, &self.kinds)? {
            let until_due = (due - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(20));
            deadline = deadline.min(now + until_due);
        }
        loop {
            if self.stopping() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            let slice = (deadline - now).min(Duration::from_millis(200));
            let mut notifications = client.notifications();
            let mut iter = notifications.timeout_iter(slice);
            while let Some(n) = iter
                .next()
                .map_err(|e| QueueError::query("waiting for notifications", e))?
            {
                if n.channel() == CHANNEL && self.wake_on.contains(n.payload()) {
                    return Ok(());
                }
            }
        }
    }

    fn hold(&self, worker_id: &str, held: bool) {
        let mut set = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held {
            set.insert(worker_id.to_string());
        } else {
            set.remove(worker_id);
        }
    }

    /// The lease keeper: every third of the lease, push `lease_until` forward for the jobs this
    /// process is running, so a long job keeps its claim while its worker lives; a killed process
    /// stops renewing and its jobs are reclaimed one lease later. Renewal is fenced by the claim
    /// token (status running, locked_by ours).
    fn keep_leases(&self, threads_done: &AtomicBool) {
        let period = (self.config.lease / 3).max(Duration::from_millis(300));
        let mut client: Option<postgres::Client> = None;
        let mut next = Instant::now() + period;
        while !threads_done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
            if Instant::now() < next {
                continue;
            }
            next = Instant::now() + period;
            let held: Vec<String> = self
                .held
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned()
                .collect();
            if held.is_empty() {
                continue;
            }
            if client.is_none() {
                match (self.connect)() {
                    Ok(c) => client = Some(c),
                    Err(e) => {
                        tracing::warn!("lease keeper: {e}");
                        continue;
                    }
                }
            }
            if let Some(c) = client.as_mut() {
                if let Err(e) = jobs::renew_leases(c, self.config.tenant, &held, self.config.lease)
                {
                    tracing::warn!("lease keeper: {e}");
                    client = None;
                }
            }
        }
    }

    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopping() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100).min(end - Instant::now()));
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}
