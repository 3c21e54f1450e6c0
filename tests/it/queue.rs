//! The job queue against a real server: idempotent enqueue with NOTIFY, 4 workers x 2,000 jobs
//! run exactly once (with `db lint` passing meanwhile), a `kill -9`ed worker's job reclaimed after
//! its lease, SIGTERM releasing a job, backoff and dead letters, `jobs retry`/`purge`, NOTIFY
//! wake-up latency, event partition maintenance, and refusals that change nothing.

use crate::harness::*;
use postgres::fallible_iterator::FallibleIterator;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stella_bundle::db::locks::LockKey;
use stella_bundle::db::Tenant;
use stella_bundle::queue::{self, jobs, JobContext, JobError, Registry, Worker, WorkerConfig};

fn tenant(db: &TestDb) -> Tenant {
    let t = Tenant::new("default");
    t.ensure(&mut db.client()).unwrap();
    t
}

fn state(db: &TestDb, id: i64) -> (String, i32, Option<String>, Option<String>) {
    let r = db
        .client()
        .query_one(
            "SELECT status, attempts, last_error, locked_by FROM job_queue_state WHERE job_id = $1",
            &[&id],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

fn spawn_worker(db: &TestDb, args: &[&str]) -> Child {
    Command::new(bin())
        .args(["--database-url", db.url.as_str(), "worker"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worker")
}

#[track_caller]
fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn enqueue_is_idempotent_and_notifies_at_commit() {
    let db = fresh_db();
    let t = tenant(&db);
    let mut listener = db.client();
    listener.batch_execute("LISTEN stella_jobs").unwrap();
    let mut c = db.client();
    let p = serde_json::json!({"artifact": "pkg:npm/a@1"});
    let a = queue::enqueue(&mut c, t.id, "scan", "artifact-a", &p).unwrap();
    let b = queue::enqueue(&mut c, t.id, "scan", "artifact-a", &p).unwrap();
    assert!(a.new && !b.new && a.id == b.id, "{a:?} {b:?}");
    // Same key, other kind: another job.
    let other = queue::enqueue(&mut c, t.id, "refresh", "artifact-a", &p).unwrap();
    assert!(other.new && other.id != a.id);
    assert_eq!(state(&db, a.id).0, "ready");
    let n: i64 = c
        .query_one("SELECT count(*) FROM job_queue WHERE kind = 'scan'", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    let notes: Vec<String> = listener
        .notifications()
        .timeout_iter(Duration::from_secs(2))
        .map(|n| Ok(n.payload().to_string()))
        .collect()
        .unwrap();
    assert!(notes.contains(&format!("{} scan", t.id)), "{notes:?}");

    // Rolled back: no job, no notification.
    let mut tx = c.transaction().unwrap();
    queue::enqueue(&mut tx, t.id, "scan", "artifact-b", &p).unwrap();
    tx.rollback().unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM job_queue_state", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    let late: Vec<String> = listener
        .notifications()
        .timeout_iter(Duration::from_millis(300))
        .map(|n| Ok(n.payload().to_string()))
        .collect()
        .unwrap();
    assert!(late.is_empty(), "{late:?}");

    // Bad input is refused before touching the database.
    assert!(queue::enqueue(&mut c, t.id, "Bad Kind", "k", &p).is_err());
    assert!(queue::enqueue(&mut c, t.id, "scan", "", &p).is_err());
}

#[test]
fn four_workers_run_2000_jobs_exactly_once_while_lint_passes() {
    const N: usize = 2000;
    let db = fresh_db();
    let t = tenant(&db);
    let runs: Arc<Vec<AtomicU32>> = Arc::new((0..N).map(|_| AtomicU32::new(0)).collect());
    let shutdown = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..4 {
        let mut registry = Registry::new();
        let r = Arc::clone(&runs);
        registry.register("count", move |job: &jobs::Job, _: &mut JobContext<'_>| {
            let n = job.payload["n"]
                .as_u64()
                .ok_or(JobError::Permanent("no n".into()))?;
            r[n as usize].fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let mut config = WorkerConfig::new(t.id);
        config.lease = Duration::from_secs(60);
        let url = db.url.clone();
        let connect: queue::worker::Connector =
            Arc::new(move || stella_bundle::db::connect_url(&url));
        let w = Worker::new(config, registry, connect, Arc::clone(&shutdown)).unwrap();
        handles.push(std::thread::spawn(move || w.run()));
    }
    let started = Instant::now();
    let mut c = db.client();
    let enqueue_batch = |c: &mut postgres::Client, range: std::ops::Range<usize>| {
        let mut tx = c.transaction().unwrap();
        for n in range {
            let p = serde_json::json!({ "n": n });
            assert!(
                queue::enqueue(&mut tx, t.id, "count", &format!("job-{n}"), &p)
                    .unwrap()
                    .new
            );
        }
        tx.commit().unwrap();
    };
    // 1,500 rows before ANALYZE: `db lint` checks plans once a table holds >= 1,000 rows by its
    // statistics, and ANALYZE's estimate of a table that workers are updating meanwhile can fall
    // just under an exact 1,000 (the check was then skipped and the test failed).
    for b in 0..15 {
        enqueue_batch(&mut c, b * 100..(b + 1) * 100);
    }
    // Statistics for the planner, then lint while the workers drain and more jobs arrive.
    c.batch_execute("ANALYZE job_queue; ANALYZE job_queue_state")
        .unwrap();
    let lint = std::thread::spawn({
        let url = db.url.clone();
        move || stella(&["--database-url", &url, "db", "lint", "--json"])
    });
    for b in 15..20 {
        enqueue_batch(&mut c, b * 100..(b + 1) * 100);
    }
    let lint = lint.join().unwrap();
    assert_exit(&lint, 0);
    let plans = json(&lint)["plans"].clone();
    let claim = plans
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["query"] == "claim_job")
        .unwrap();
    assert!(
        claim["indexes_used"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "ix_job_ready"),
        "claim_job plan under load: {claim}"
    );
    wait_for("2000 jobs done", Duration::from_secs(60), || {
        jobs::depth(&mut c, t.id).unwrap().done == N as i64
    });
    let took = started.elapsed();
    shutdown.store(true, Ordering::SeqCst);
    let mut processed = 0;
    let mut busy = 0;
    for h in handles {
        let r = h.join().unwrap().unwrap();
        processed += r.processed;
        busy += u64::from(r.processed > 0);
        assert_eq!((r.dead, r.retried, r.lease_lost), (0, 0, 0));
    }
    let twice: Vec<usize> = (0..N)
        .filter(|&i| runs[i].load(Ordering::SeqCst) != 1)
        .collect();
    assert!(twice.is_empty(), "jobs not run exactly once: {twice:?}");
    assert_eq!(processed, N as u64);
    assert!(busy >= 2, "work was spread over the workers");
    let d = jobs::depth(&mut c, t.id).unwrap();
    assert_eq!((d.ready, d.running, d.dead), (0, 0, 0));
    println!("2000 jobs, 4 workers: {:.1} s", took.as_secs_f64());
}

#[test]
fn killed_worker_job_is_reclaimed_after_lease() {
    let db = fresh_db();
    let out = stella_db(&db, &["jobs", "add", "refresh", "--key", "r1", "--json"]);
    assert_exit(&out, 0);
    let id = json(&out)["id"].as_i64().unwrap();
    // Hold the refresh lock: the first worker's job waits inside its handler.
    let mut holder = db.client();
    let key = LockKey::Refresh {
        projection: "mv_artifact_risk",
    }
    .key();
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&key])
        .unwrap();
    let mut w1 = spawn_worker(&db, &["--kinds", "refresh", "--lease", "2"]);
    wait_for("the job to be claimed", Duration::from_secs(15), || {
        state(&db, id).0 == "running"
    });
    let first_owner = state(&db, id).3.unwrap();
    w1.kill().unwrap(); // SIGKILL
    w1.wait().unwrap();
    holder
        .execute("SELECT pg_advisory_unlock($1)", &[&key])
        .unwrap();
    assert_eq!(
        state(&db, id).0,
        "running",
        "nobody released it: the worker died"
    );
    // Before the lease passes, another worker leaves it alone.
    let lease_left: f64 = db
        .client()
        .query_one(
            "SELECT extract(epoch FROM lease_until - now())::float8 FROM job_queue_state WHERE job_id = $1",
            &[&id],
        )
        .unwrap()
        .get(0);
    if lease_left > 0.5 {
        let early = stella_db(&db, &["worker", "--once", "--kinds", "refresh", "--json"]);
        assert_exit(&early, 0);
        assert_eq!(json(&early)["processed"], 0);
    }
    wait_for("the lease to pass", Duration::from_secs(10), || {
        db.client()
            .query_one(
                "SELECT lease_until < now() FROM job_queue_state WHERE job_id = $1",
                &[&id],
            )
            .unwrap()
            .get(0)
    });
    let out = stella_db(&db, &["worker", "--once", "--kinds", "refresh", "--json"]);
    assert_exit(&out, 0);
    let r = json(&out);
    assert_eq!(
        (r["reclaimed"].as_u64(), r["done"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    let (status, attempts, last_error, owner) = state(&db, id);
    assert_eq!((status.as_str(), attempts), ("done", 2));
    assert!(last_error.unwrap().contains("lease expired"));
    assert_ne!(owner.unwrap(), first_owner);
}

#[test]
fn long_job_keeps_its_lease_while_its_worker_lives() {
    let db = fresh_db();
    let t = tenant(&db);
    let mut registry = Registry::new();
    registry.register("slow", |_: &jobs::Job, _: &mut JobContext<'_>| {
        std::thread::sleep(Duration::from_millis(2500));
        Ok(())
    });
    let mut config = WorkerConfig::new(t.id);
    config.lease = Duration::from_secs(1);
    config.once = true;
    let url = db.url.clone();
    let connect: queue::worker::Connector = Arc::new(move || stella_bundle::db::connect_url(&url));
    let w = Worker::new(config, registry, connect, Arc::new(AtomicBool::new(false))).unwrap();
    let mut c = db.client();
    let id = queue::enqueue(&mut c, t.id, "slow", "s", &serde_json::json!({}))
        .unwrap()
        .id;
    let run = std::thread::spawn(move || w.run());
    // Another worker looking for expired leases all along finds none.
    let mut reclaimed = 0;
    while !run.is_finished() {
        reclaimed += jobs::reclaim(&mut c, t.id).unwrap().len();
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = run.join().unwrap().unwrap();
    assert_eq!((reclaimed, r.done, r.lease_lost), (0, 1, 0));
    assert_eq!(state(&db, id).1, 1, "ran once");
}

#[test]
fn sigterm_releases_the_current_job() {
    let db = fresh_db();
    let out = stella_db(&db, &["jobs", "add", "refresh", "--json"]);
    let id = json(&out)["id"].as_i64().unwrap();
    let mut holder = db.client();
    let key = LockKey::Refresh {
        projection: "mv_artifact_risk",
    }
    .key();
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&key])
        .unwrap();
    let w = spawn_worker(&db, &["--kinds", "refresh", "--json"]);
    wait_for("the job to be claimed", Duration::from_secs(15), || {
        state(&db, id).0 == "running"
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(w.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = w.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert_eq!(json(&out)["released"], 1);
    let (status, attempts, _, _) = state(&db, id);
    assert_eq!(
        (status.as_str(), attempts),
        ("ready", 0),
        "released, attempt not counted"
    );
    holder
        .execute("SELECT pg_advisory_unlock($1)", &[&key])
        .unwrap();
    let out = stella_db(&db, &["worker", "--once", "--kinds", "refresh", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(state(&db, id).0, "done");
}

#[test]
fn failing_job_backs_off_then_dies_and_retry_brings_it_back() {
    let db = fresh_db();
    // Backoff from the row's columns: ~backoff_ms, then ~2x, +-25 % jitter.
    let t = tenant(&db);
    let mut c = db.client();
    let p = serde_json::json!({});
    let job = jobs::NewJob {
        max_attempts: 3,
        backoff_ms: 4000,
        ..jobs::NewJob::new("flaky", "f1", &p)
    };
    let id = jobs::enqueue_job(&mut c, t.id, &job).unwrap().id;
    for (attempt, expected) in [(1, 4.0), (2, 8.0)] {
        let j = jobs::claim(&mut c, t.id, "flaky", "w", Duration::from_secs(30))
            .unwrap()
            .unwrap();
        assert_eq!(j.attempt, attempt);
        let out = jobs::fail(&mut c, &j, "w", "boom", false).unwrap();
        assert!(matches!(out, jobs::FailOutcome::Retry { .. }), "{out:?}");
        let delay: f64 = c
            .query_one(
                "SELECT extract(epoch FROM run_after - now())::float8 FROM job_queue_state WHERE job_id = $1",
                &[&id],
            )
            .unwrap()
            .get(0);
        assert!(
            delay > expected * 0.74 && delay < expected * 1.26,
            "attempt {attempt}: delay {delay}"
        );
        assert!(
            jobs::claim(&mut c, t.id, "flaky", "w", Duration::from_secs(30))
                .unwrap()
                .is_none()
        );
        c.execute(
            "UPDATE job_queue_state SET run_after = now() WHERE job_id = $1",
            &[&id],
        )
        .unwrap();
    }

    // Through the CLI: a kind without a handler, 3 attempts, no backoff.
    let out = stella_db(
        &db,
        &[
            "jobs",
            "add",
            "bogus",
            "--max-attempts",
            "3",
            "--backoff-ms",
            "0",
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let id = json(&out)["id"].as_i64().unwrap();
    let out = stella_db(&db, &["worker", "--once", "--kinds", "bogus", "--json"]);
    assert_exit(&out, 0);
    let r = json(&out);
    assert_eq!(
        (r["retried"].as_u64(), r["dead"].as_u64()),
        (Some(2), Some(1)),
        "{r}"
    );
    let out = stella_db(&db, &["jobs", "list", "--status", "dead", "--json"]);
    let l = json(&out);
    let dead = &l["jobs"][0];
    assert_eq!(dead["id"], id);
    assert_eq!(dead["attempts"], 3);
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap()
            .contains("no handler for kind bogus"),
        "{dead}"
    );
    assert_eq!(l["counts"]["dead"], 1);

    let out = stella_db(&db, &["jobs", "retry", &id.to_string()]);
    assert_exit(&out, 0);
    let (status, attempts, _, _) = state(&db, id);
    assert_eq!((status.as_str(), attempts), ("ready", 0));
}

#[test]
fn sleeping_worker_wakes_on_notify() {
    let db = fresh_db();
    let t = tenant(&db);
    // Poll fallback at 60 s: only NOTIFY can meet the 5 s bound.
    let mut w = spawn_worker(
        &db,
        &["--kinds", "noop", "--poll-interval", "60", "-v", "--json"],
    );
    let stderr = w.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line.clone());
        }
    });
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let line = rx
            .recv_timeout(end.saturating_duration_since(Instant::now()))
            .expect("worker says it listens");
        if line.contains("listening on stella_jobs") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(1000)); // asleep in its wait
    let mut c = db.client();
    let id = queue::enqueue(&mut c, t.id, "noop", "wake", &serde_json::json!({}))
        .unwrap()
        .id;
    wait_for("the noop job", Duration::from_secs(10), || {
        state(&db, id).0 == "done"
    });
    let latency: f64 = c
        .query_one(
            "SELECT extract(epoch FROM s.finished_at - q.created_at)::float8
             FROM job_queue_state s JOIN job_queue q ON q.id = s.job_id WHERE s.job_id = $1",
            &[&id],
        )
        .unwrap()
        .get(0);
    println!(
        "NOTIFY wake-up: enqueue -> done in {:.1} ms",
        latency * 1000.0
    );
    assert!(latency < 5.0, "woke after {latency} s");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(w.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = w.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert_eq!(json(&out)["done"], 1);
    reader.join().unwrap();
}

#[test]
fn partition_job_creates_ahead_and_drops_expired() {
    let db = fresh_db();
    let t = tenant(&db);
    let mut c = db.client();
    // Partitions for months -20, -14, -13 and -1, one event in each; drop the future ones.
    c.batch_execute(
        "DO $$
         DECLARE m date; off int;
         BEGIN
           FOREACH off IN ARRAY ARRAY[-20, -14, -13, -1] LOOP
             m := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => off))::date;
             EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF event FOR VALUES FROM (%L) TO (%L)',
                            'event_y' || to_char(m, 'YYYY') || 'm' || to_char(m, 'MM'),
                            m::timestamp AT TIME ZONE 'UTC', (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
             EXECUTE format('COMMENT ON TABLE %I IS %L', 'event_y' || to_char(m, 'YYYY') || 'm' || to_char(m, 'MM'),
                            'class: event; partition of event');
           END LOOP;
         END $$;",
    )
    .unwrap();
    let tenant_id = t.id;
    for off in [-20, -14, -13, -1] {
        c.execute(
            "INSERT INTO event (tenant_id, occurred_at, event_id, kind, outcome, os_user, host, subject)
             VALUES ($1, date_trunc('month', now()) + make_interval(months => $2) + interval '3 days',
                     gen_random_uuid(), 'import', 'ok', 'u', 'h', $3)",
            &[&tenant_id, &off, &format!("m{off}")],
        )
        .unwrap();
    }
    stella_bundle::events::record(
        &mut c,
        t.id,
        "import",
        stella_bundle::events::Outcome::Ok,
        Some("m0"),
        &serde_json::json!({}),
    )
    .unwrap();
    let future: Vec<String> = c
        .query(
            "SELECT 'event_y' || to_char(m, 'YYYY') || 'm' || to_char(m, 'MM') FROM
             (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => g) AS m
              FROM generate_series(1, 3) g) x",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for p in &future {
        c.batch_execute(&format!("DROP TABLE {p}")).unwrap();
    }

    assert_exit(&stella_db(&db, &["jobs", "add", "partitions"]), 0);
    let out = stella_db(
        &db,
        &[
            "worker",
            "--once",
            "--kinds",
            "partitions",
            "--event-retention-months",
            "13",
            "--json",
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(json(&out)["done"], 1);

    let subjects: Vec<String> = c
        .query("SELECT subject FROM event ORDER BY occurred_at", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // -20 and -14 ended before the month 13 months ago: dropped; -13 still holds events younger
    // than 13 months: kept. The drop itself is audited.
    assert_eq!(subjects, vec!["m-13", "m-1", "m0", "event"]);
    let details: serde_json::Value = c
        .query_one("SELECT details FROM event WHERE kind = 'retention'", &[])
        .unwrap()
        .get(0);
    assert_eq!(details["dropped"].as_array().unwrap().len(), 2, "{details}");
    assert_eq!(details["created"], 3);
    for p in &future {
        let exists: bool = c
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[p])
            .unwrap()
            .get(0);
        assert!(exists, "{p} created");
    }
    // `db lint` is happy with the partitions ahead.
    assert_exit(&stella_db(&db, &["db", "lint"]), 0);
}

#[test]
fn refusals_change_nothing() {
    let db = fresh_db();
    let out = stella_db(&db, &["jobs", "add", "noop", "--key", "k"]);
    assert_exit(&out, 0);
    let out = stella_db(&db, &["jobs", "add", "noop", "--key", "k", "--json"]);
    assert_eq!(json(&out)["new"], false);
    let before = table_counts(&mut db.client());
    let states = |db: &TestDb| -> Vec<(i64, String, i32)> {
        db.client()
            .query(
                "SELECT job_id, status, attempts FROM job_queue_state ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    };
    let st = states(&db);

    let out = stella_db(&db, &["jobs", "retry", "999999"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("no job 999999"), "{}", stderr(&out));
    let out = stella_db(&db, &["jobs", "retry", &st[0].0.to_string()]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("only dead jobs can be retried"),
        "{}",
        stderr(&out)
    );
    let out = stella_db(&db, &["jobs", "retry", "abc"]);
    assert_exit(&out, 2);
    assert_exit(&stella_db(&db, &["jobs", "purge"]), 2);
    assert_exit(
        &stella_db(&db, &["jobs", "purge", "--done", "--older-than", "3x"]),
        2,
    );
    assert_exit(&stella_db(&db, &["jobs", "add", "Not A Kind"]), 2);
    assert_exit(
        &stella_db(&db, &["jobs", "add", "noop", "--payload", "{"]),
        2,
    );
    assert_exit(
        &stella_db(&db, &["worker", "--once", "--concurrency", "0"]),
        2,
    );
    assert_exit(&stella_db(&db, &["worker", "--once", "--kinds", "BAD"]), 2);
    assert_eq!(table_counts(&mut db.client()), before);
    assert_eq!(states(&db), st);
}

#[test]
fn purge_removes_finished_jobs_and_frees_their_keys() {
    let db = fresh_db();
    assert_exit(&stella_db(&db, &["jobs", "add", "noop", "--key", "p"]), 0);
    assert_exit(&stella_db(&db, &["jobs", "add", "noop", "--key", "q"]), 0);
    let out = stella_db(&db, &["worker", "--once", "--kinds", "noop", "--json"]);
    assert_eq!(json(&out)["done"], 2);
    let out = stella_db(
        &db,
        &["jobs", "purge", "--done", "--older-than", "1h", "--json"],
    );
    assert_eq!(json(&out)["purged"], 0, "finished seconds ago: kept");
    let out = stella_db(&db, &["jobs", "purge", "--done", "--json"]);
    assert_eq!(json(&out)["purged"], 2);
    let out = stella_db(&db, &["jobs", "add", "noop", "--key", "p", "--json"]);
    assert_eq!(json(&out)["new"], true);
    let out = stella_db(&db, &["jobs", "list", "--json"]);
    assert_eq!(json(&out)["jobs"].as_array().unwrap().len(), 1);
}

#[test]
fn default_worker_runs_every_builtin_and_scan_needs_a_signing_key() {
    let db = fresh_db();
    for kind in ["noop", "refresh", "partitions"] {
        assert_exit(&stella_db(&db, &["jobs", "add", kind]), 0);
    }
    let out = stella_db(
        &db,
        &["jobs", "add", "scan", "--max-attempts", "1", "--json"],
    );
    let scan = json(&out)["id"].as_i64().unwrap();
    let out = stella_db(&db, &["worker", "--once", "--json"]);
    assert_exit(&out, 0);
    let r = json(&out);
    assert_eq!(
        (r["done"].as_u64(), r["dead"].as_u64()),
        (Some(3), Some(1)),
        "{r}"
    );
    let (status, _, last_error, _) = state(&db, scan);
    assert_eq!(status, "dead");
    assert!(last_error.unwrap().contains("--scan-key"));
}

#[test]
fn worker_reconnects_after_losing_its_connection() {
    let db = fresh_db();
    let t = tenant(&db);
    let mut registry = Registry::new();
    registry.register("noop", |_: &jobs::Job, _: &mut JobContext<'_>| Ok(()));
    let mut config = WorkerConfig::new(t.id);
    config.poll_interval = Duration::from_secs(60);
    let url = db.url.clone();
    let connect: queue::worker::Connector = Arc::new(move || stella_bundle::db::connect_url(&url));
    let shutdown = Arc::new(AtomicBool::new(false));
    let w = Worker::new(config, registry, connect, Arc::clone(&shutdown)).unwrap();
    let run = std::thread::spawn(move || w.run());
    let mut c = db.client();
    let listening = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
               AND pid <> pg_backend_pid() AND query LIKE '%job_queue_state%'",
            &[],
        )
        .unwrap()
        .get(0)
    };
    wait_for("the worker's connection", Duration::from_secs(10), || {
        listening(&mut c) > 0
    });
    let killed: i64 = c
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(killed >= 1);
    let id = queue::enqueue(&mut c, t.id, "noop", "after", &serde_json::json!({}))
        .unwrap()
        .id;
    wait_for(
        "the job after reconnecting",
        Duration::from_secs(15),
        || state(&db, id).0 == "done",
    );
    shutdown.store(true, Ordering::SeqCst);
    assert_eq!(run.join().unwrap().unwrap().done, 1);
}
