//! Queue benchmark driver for `scripts/bench.sh queue`.
//!
//! - `cycle`: N threads, each with its own connection, loop enqueue -> claim -> complete of no-op
//!   jobs through the library (`queue::enqueue`, then the worker's prepared claim and complete,
//!   `jobs::Prepared`) for S seconds;
//!   prints jobs/s and claim latency p50/p99 as one JSON line.
//! - `worker`: pre-fills M no-op jobs, then runs the real `Worker` (`--once`, concurrency N) and
//!   prints its report (the worker loop's own overhead included).
//! - `pgbench-script`: prints the pgbench file driving the same three statements (the constants
//!   `jobs::ENQUEUE_SQL`, `CLAIM_JOB`, `jobs::COMPLETE_SQL` with pgbench variables), the floor.

use clap::{Parser, Subcommand};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stella_bundle::db::hot_queries::CLAIM_JOB;
use stella_bundle::db::{self, Tenant};
use stella_bundle::queue::{self, jobs, BuiltinSettings, Worker, WorkerConfig};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    Cycle {
        #[arg(long)]
        url: String,
        #[arg(long)]
        clients: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Send the enqueue as a prepared statement too (attributes the gap to the floor)
        #[arg(long)]
        prepared_enqueue: bool,
    },
    Worker {
        #[arg(long)]
        url: String,
        #[arg(long)]
        clients: usize,
        #[arg(long, default_value_t = 5000)]
        jobs: i64,
    },
    PgbenchScript,
    /// Print the bench tenant's id (created if needed).
    Tenant {
        #[arg(long)]
        url: String,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo test --all-targets` and `cargo bench` run this without a command (or with `--bench`):
    // the measurements themselves are driven by `scripts/bench.sh queue`.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().all(|a| a == "--bench") {
        println!("queue_bench: run it through `scripts/bench.sh queue`");
        return Ok(());
    }
    let cli = Cli::parse();
    let tenant = Tenant::new("bench");
    match cli.mode {
        Mode::PgbenchScript => print!("{}", pgbench_script()),
        Mode::Tenant { url } => {
            let mut c = db::connect_url(&url)?;
            tenant.ensure(&mut c)?;
            println!("{}", tenant.id);
        }
        Mode::Cycle {
            url,
            clients,
            seconds,
            prepared_enqueue,
        } => {
            let mut c = db::connect_url(&url)?;
            tenant.ensure(&mut c)?;
            reset(&mut c)?;
            let deadline = Instant::now() + Duration::from_secs_f64(seconds);
            let started = Instant::now();
            let handles: Vec<_> = (0..clients)
                .map(|t| {
                    let url = url.clone();
                    let tid = tenant.id;
                    std::thread::spawn(move || -> Result<Vec<u64>, String> {
                        let mut c = db::connect_url(&url).map_err(|e| e.to_string())?;
                        let prepared = jobs::Prepared::new(&mut c).map_err(|e| e.to_string())?;
                        let enqueue_stmt =
                            c.prepare(jobs::ENQUEUE_SQL).map_err(|e| e.to_string())?;
                        let worker = format!("bench-{t}");
                        let payload = serde_json::json!({});
                        let mut lat = Vec::new();
                        let mut i = 0u64;
                        while Instant::now() < deadline {
                            let key = format!("{t}-{i}");
                            i += 1;
                            if prepared_enqueue {
                                c.query_opt(
                                    &enqueue_stmt,
                                    &[&tid, &"noop", &key, &payload, &5i32, &2000i32],
                                )
                                .map_err(|e| e.to_string())?;
                            } else {
                                queue::enqueue(&mut c, tid, "noop", &key, &payload)
                                    .map_err(|e| e.to_string())?;
                            }
                            let s = Instant::now();
                            let job = prepared
                                .claim(&mut c, tid, "noop", &worker, Duration::from_secs(30))
                                .map_err(|e| e.to_string())?;
                            lat.push(s.elapsed().as_micros() as u64);
                            if let Some(job) = job {
                                prepared
                                    .complete(&mut c, &job, &worker)
                                    .map_err(|e| e.to_string())?;
                            }
                        }
                        Ok(lat)
                    })
                })
                .collect();
            let mut lat = Vec::new();
            for h in handles {
                lat.extend(h.join().map_err(|_| "bench thread panicked")??);
            }
            let secs = started.elapsed().as_secs_f64();
            lat.sort_unstable();
            let pct = |p: usize| lat[(lat.len() - 1) * p / 100] as f64 / 1000.0;
            let done: i64 = c
                .query_one(
                    "SELECT count(*) FROM job_queue_state WHERE status = 'done'",
                    &[],
                )?
                .get(0);
            println!(
                "{}",
                serde_json::json!({"mode": if prepared_enqueue { "cycle-prepared-enqueue" } else { "cycle" }, "clients": clients, "jobs_done": done,
                    "seconds": secs, "jobs_per_sec": done as f64 / secs,
                    "claim_p50_ms": pct(50), "claim_p99_ms": pct(99)})
            );
        }
        Mode::Worker { url, clients, jobs } => {
            let mut c = db::connect_url(&url)?;
            tenant.ensure(&mut c)?;
            reset(&mut c)?;
            c.execute(
                "INSERT INTO job_queue (tenant_id, kind, idempotency_key, payload)
                 SELECT $1, 'noop', 'w' || g, '{}' FROM generate_series(1::bigint, $2) g",
                &[&tenant.id, &jobs],
            )?;
            c.batch_execute("ANALYZE job_queue; ANALYZE job_queue_state")?;
            let mut config = WorkerConfig::new(tenant.id);
            config.kinds = vec!["noop".into()];
            config.concurrency = clients;
            config.once = true;
            let u = url.clone();
            let connect: queue::worker::Connector = Arc::new(move || db::connect_url(&u));
            let registry = queue::builtin::registry(&BuiltinSettings::default());
            let w = Worker::new(config, registry, connect, Arc::new(AtomicBool::new(false)))?;
            let r = w.run()?;
            println!(
                "{}",
                serde_json::json!({"mode": "worker", "clients": clients, "jobs_done": r.done,
                    "seconds": r.elapsed_ms as f64 / 1000.0, "jobs_per_sec": r.jobs_per_sec,
                    "claim_p50_ms": r.claim_latency.p50_ms, "claim_p99_ms": r.claim_latency.p99_ms})
            );
        }
    }
    Ok(())
}

fn reset(c: &mut postgres::Client) -> Result<(), postgres::Error> {
    c.batch_execute("TRUNCATE job_queue, job_queue_state")?;
    c.batch_execute("VACUUM ANALYZE job_queue_state")
}

/// The pgbench file: the library's own statements, parameters replaced by pgbench variables
/// (`-M prepared` sends them as parameters again). The claim is wrapped so that `\gset` always
/// gets one row (job 0 when another client took the last ready job: complete then does nothing).
fn pgbench_script() -> String {
    let enqueue = jobs::ENQUEUE_SQL
        .replace("$1", ":tenant")
        .replace("$2", "'noop'")
        .replace("$3", "gen_random_uuid()::text")
        .replace("$4", "'{}'")
        .replace("$5", "5")
        .replace("$6", "2000");
    let claim = CLAIM_JOB
        .sql
        .replace("$1", ":tenant")
        .replace("$2", "'noop'")
        .replace("$3", "'pgbench-' || :client_id")
        .replace("$4", "30");
    let complete = jobs::COMPLETE_SQL
        .replace("$1", ":tenant")
        .replace("$2", ":job_id")
        .replace("$3", "'pgbench-' || :client_id")
        .replace("$4", ":attempt");
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "{};\nWITH c AS ({}) SELECT coalesce((SELECT job_id FROM c), 0) AS job_id, coalesce((SELECT attempts FROM c), 0) AS attempt\n\\gset\n{};\n",
        one_line(&enqueue),
        one_line(&claim),
        one_line(&complete)
    )
}
