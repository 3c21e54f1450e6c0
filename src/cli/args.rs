//! Command-line definitions (clap). Parsing only: no I/O happens here. `Context::from_args`
//! turns the parsed global flags into validated settings before any command runs.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "stella-bundle",
    version,
    about = "Signed offline security-data bundles in PostgreSQL, with scans you can prove later",
    long_about = "stella-bundle keeps an air-gapped site's security data (OSV advisories, SBOMs, VEX) in \
                  PostgreSQL, imports signed bundles idempotently, and makes every scan provable by \
                  point-in-time replay.\n\nExit codes: 0 success, 1 failure, 2 usage, 3 verification \
                  failed, 4 replay differs, 5 busy.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Folder holding the embedded cluster, backups and trusted keys
    #[arg(long, global = true, env = "STELLA_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Backup repository (default HOME/repo), e.g. on a USB disk or NFS
    #[arg(long, global = true, env = "STELLA_REPO", value_name = "DIR")]
    pub repo: Option<PathBuf>,

    /// Use an existing PostgreSQL >= 15 instead of the embedded cluster
    #[arg(long, global = true, env = "STELLA_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,

    /// Tenant name (its id is the UUIDv5 of the name)
    #[arg(
        long,
        global = true,
        env = "STELLA_TENANT",
        default_value = "default",
        value_name = "NAME"
    )]
    pub tenant: String,

    /// Print exactly one JSON object on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Print nothing on success
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail on stderr (repeat for more); errors show their cause chain
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Embedded cluster: also listen on TCP at these addresses (default: unix socket only)
    #[arg(long, global = true, value_name = "ADDRESSES")]
    pub listen: Option<String>,

    /// Embedded cluster: port (the socket's name; the TCP port with --listen)
    #[arg(long, global = true, default_value_t = crate::db::EMBEDDED_PORT, value_name = "PORT")]
    pub port: u16,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The database: embedded cluster lifecycle, migrations, schema lint
    #[command(subcommand)]
    Db(DbCommand),
    /// Create an Ed25519 signing key pair (PREFIX.key, PREFIX.pub) and print its key id
    Keygen {
        /// Path prefix of the two files
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
    },
    /// The trust store: public keys whose bundles are accepted
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Create and inspect signed bundles
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Verify bundles completely (signature, trust, every digest, safe entries); writes nothing
    Verify {
        /// Bundle files
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Verify, then import each bundle in one transaction (idempotent)
    Import {
        /// Bundle files
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        trust: TrustArgs,
        /// Accept a feed older than the active one of its source (needs --reason)
        #[arg(long, requires = "reason")]
        allow_older: bool,
        /// Why an older feed is imported (recorded in the import ledger)
        #[arg(long, value_name = "TEXT", requires = "allow_older")]
        reason: Option<String>,
        /// After importing, enqueue a scan job (run by `worker`) for the SBOMs' artifacts (or all)
        #[arg(long)]
        scan: bool,
    },
    /// Match SBOM components against advisories, apply VEX, store findings, write a signed manifest
    Scan {
        /// Artifact purl to scan (repeatable; default: every artifact with an SBOM)
        #[arg(long = "artifact", value_name = "PURL")]
        artifacts: Vec<String>,
        /// Private key that signs the scan manifest
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// Where to write the manifest (default scan-<scan_id>.manifest.json)
        #[arg(long, value_name = "FILE")]
        manifest_out: Option<PathBuf>,
        /// Exit 5 instead of waiting when another scan of an artifact is running
        #[arg(long)]
        no_wait: bool,
        /// Seconds to wait for the archiver to archive the scan's WAL segment
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        archive_wait: u64,
        /// Exit 1 when a finding has this status (affected, under_investigation, ...)
        #[arg(long, value_name = "STATUS", value_parser = ["affected", "under_investigation", "not_affected", "fixed"])]
        fail_on: Option<String>,
    },
    /// Write a signed deterministic snapshot bundle of the tenant (or a delta with --since)
    Export {
        /// Private signing key (PKCS#8 PEM)
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// The snapshot file to write (*.tar.zst; replaced atomically)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Write only what is not in this earlier snapshot (its file, or its sha256 when it was
        /// exported or imported here)
        #[arg(long, value_name = "SNAPSHOT_FILE_OR_SHA256")]
        since: Option<String>,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// The advisories: search
    #[command(subcommand)]
    Advisories(AdvisoriesCommand),
    /// The findings of each artifact's latest scan
    Findings {
        /// Only this artifact (purl)
        #[arg(long, value_name = "PURL")]
        artifact: Option<String>,
        /// Only this advisory (its id or an alias such as a CVE id)
        #[arg(long, value_name = "ID")]
        advisory: Option<String>,
        /// Only this component (purl; without a version: every version)
        #[arg(long, value_name = "PURL")]
        component: Option<String>,
        /// Only this status
        #[arg(long, value_name = "STATUS", value_parser = ["affected", "under_investigation", "not_affected", "fixed"])]
        status: Option<String>,
        /// Output format (--json is the same as --format json)
        #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = ["table", "json", "csv", "sarif", "openvex", "cyclonedx"])]
        format: String,
        /// At most this many findings
        #[arg(long, value_name = "N")]
        limit: Option<i64>,
    },
    /// One screen: database, feeds and their age, backups, WAL archiving, queue, replayability
    Status {
        /// A feed older than this is stale (e.g. 7d, 36h, 90m)
        #[arg(long, value_name = "AGE", default_value = "7d", value_parser = parse_age)]
        max_age: i64,
        /// Exit 1 when something needs attention (stale feed, failing archiver, dead jobs,
        /// unreplayable scans), for monitoring
        #[arg(long)]
        check: bool,
    },
    /// Run queued jobs: wakes on NOTIFY, drains ready jobs, stops cleanly on SIGTERM/SIGINT
    Worker(WorkerArgs),
    /// The job queue and its dead letters
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// The audit trail (who did what, with which outcome), oldest first
    Events(EventsArgs),
    /// Base backups: take one (no subcommand), or list, verify, prune them
    Backup(BackupArgs),
    /// The WAL archive: the server's archive_command (push) and restore_command (fetch)
    #[command(subcommand)]
    Wal(WalCommand),
    /// Point-in-time restore into a new data directory, left running paused at the target
    Restore(RestoreArgs),
    /// Prove a past scan: restore to its point in time, re-run it read-only, compare digests
    Replay {
        /// The signed scan manifest
        #[arg(value_name = "MANIFEST")]
        manifest: PathBuf,
        /// Also trust this public key (repeatable), besides the trust store
        #[arg(long = "trust", value_name = "PUB")]
        trust: Vec<PathBuf>,
        /// Keep the restored cluster (paused at the target) for inspection
        #[arg(long)]
        keep: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
}

/// `90s`, `30m`, `36h`, `7d` as seconds.
pub fn parse_age(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86400),
        _ => (s, 1),
    };
    num.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .map(|n| n * mult)
        .ok_or_else(|| format!("{s:?} is not an age (e.g. 7d, 36h, 90m, 600s)"))
}

/// Trust and size limits for reading bundles.
#[derive(Debug, Args, Clone)]
pub struct TrustArgs {
    /// Also trust this public key (repeatable), besides the trust store
    #[arg(long = "trust", value_name = "PUB")]
    pub trust: Vec<PathBuf>,
    /// Largest payload entry (bytes; K, M, G suffixes)
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    pub max_entry_size: u64,
    /// Largest total payload (bytes; K, M, G suffixes)
    #[arg(long, value_name = "SIZE", default_value = "8G", value_parser = parse_size)]
    pub max_total_size: u64,
}

/// `123`, `64K`, `10M`, `1G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size (e.g. 1048576, 64K, 10M, 1G)"))
}

#[derive(Debug, Subcommand)]
pub enum AdvisoriesCommand {
    /// Full-text search over the current advisories (ids and aliases match exactly)
    Search {
        /// Words (web-search syntax: "quoted phrase", -excluded, or) or an id / alias
        #[arg(value_name = "TEXT")]
        text: String,
        /// Only advisories affecting a package of this OSV ecosystem (e.g. PyPI, crates.io)
        #[arg(long, value_name = "ECOSYSTEM")]
        ecosystem: Option<String>,
        /// At most this many advisories
        #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=10000))]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a public key (SPKI PEM); idempotent
    Add {
        #[arg(value_name = "PUB")]
        key: PathBuf,
    },
    /// List trusted keys
    List,
    /// Stop trusting a key
    Remove {
        #[arg(value_name = "KEYID")]
        keyid: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Create a deterministic signed bundle from files and folders
    Create {
        /// feed (OSV records), sbom (CycloneDX/SPDX), vex (OpenVEX/CycloneDX VEX/CSAF)
        #[arg(long, value_name = "KIND")]
        kind: String,
        /// Source name, e.g. osv-pypi
        #[arg(long, value_name = "NAME")]
        source: String,
        /// Private signing key (PKCS#8 PEM)
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// The bundle file to write (*.tar.zst)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Signed creation time (RFC3339 or Unix seconds; default SOURCE_DATE_EPOCH, else now)
        #[arg(long, value_name = "TIME")]
        created: Option<String>,
        /// Per-source sequence number (import refuses older sequences)
        #[arg(long, value_name = "N")]
        sequence: Option<u64>,
        /// Files and folders to bundle
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Show a bundle's statement, signers (trusted or not) and entries
    Inspect {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Start the embedded cluster (creating it on first use); does nothing if it runs
    Start,
    /// Stop the embedded cluster
    Stop,
    /// Show whether the database runs, its URL, data folder, version and system identifier
    Status,
    /// Apply pending migrations
    Migrate,
    /// Check the live schema and the hot queries' plans against the data-model rules
    Lint,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Drain the ready jobs, then exit
    #[arg(long)]
    pub once: bool,

    /// Job kinds to claim (default: every built-in kind: noop, partitions, refresh, scan)
    #[arg(long, value_delimiter = ',', value_name = "K1,K2")]
    pub kinds: Vec<String>,

    /// Jobs run in parallel (one connection each)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64), value_name = "N")]
    pub concurrency: u16,

    /// Seconds after which a dead worker's job is reclaimed (renewed every third while it lives)
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86400), value_name = "SECONDS")]
    pub lease: u32,

    /// Fallback poll when no NOTIFY arrives, in seconds
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub poll_interval: f64,

    /// Key that signs the manifests of `scan` jobs
    #[arg(long, value_name = "KEY")]
    pub scan_key: Option<PathBuf>,

    /// Folder for the manifests of `scan` jobs (default HOME/manifests)
    #[arg(long, value_name = "DIR")]
    pub manifest_dir: Option<PathBuf>,

    /// `partitions` jobs drop event partitions older than this
    #[arg(long, default_value_t = 13, value_parser = clap::value_parser!(i32).range(1..=1200), value_name = "MONTHS")]
    pub event_retention_months: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JobStatus {
    Ready,
    Running,
    Done,
    Dead,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Ready => "ready",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Dead => "dead",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first, with the counts per status
    List {
        #[arg(long, value_name = "S")]
        status: Option<JobStatus>,
        #[arg(long, value_name = "K")]
        kind: Option<String>,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=100000), value_name = "N")]
        limit: i64,
    },
    /// Put a dead job back in the queue (attempts reset)
    Retry {
        #[arg(value_name = "ID")]
        id: i64,
    },
    /// Delete finished jobs (frees their idempotency keys)
    Purge {
        /// Purge done jobs
        #[arg(long)]
        done: bool,
        /// Purge dead letters
        #[arg(long)]
        dead: bool,
        /// Only jobs finished longer ago than this (e.g. 30d, 12h, 90m, 45s)
        #[arg(long, value_name = "DUR")]
        older_than: Option<String>,
    },
    /// Enqueue a job (idempotent per kind and key), e.g. `jobs add refresh`
    Add {
        #[arg(value_name = "KIND")]
        kind: String,
        /// Idempotency key: the same kind and key twice is one job (default: a new random key)
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// JSON payload
        #[arg(long, default_value = "{}", value_name = "JSON")]
        payload: String,
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i32).range(1..=1000), value_name = "N")]
        max_attempts: i32,
        /// First retry delay in ms, doubled per attempt
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(i32).range(0..=86400000), value_name = "MS")]
        backoff_ms: i32,
    },
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// From this time: RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or an age (7d, 12h)
    #[arg(long, default_value = "30d", value_name = "T")]
    pub since: String,
    /// Only events of this kind (import, scan, export, backup, replay, trust, ...)
    #[arg(long, value_name = "K")]
    pub kind: Option<String>,
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=100000), value_name = "N")]
    pub limit: i64,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// List the backups, newest first
    List,
    /// Extract a backup (default: the newest) to a temporary folder and run pg_verifybackup
    Verify {
        /// The backup's label (see `backup list`)
        label: Option<String>,
    },
    /// Keep the N newest backups and the WAL they need; remove the rest
    Prune {
        /// How many backups to keep (at least 1)
        #[arg(long, value_name = "N")]
        keep: usize,
        /// Remove without asking, even when scans become unreplayable
        #[arg(long)]
        yes: bool,
        /// Show what would be removed, remove nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WalCommand {
    /// Archive one WAL file (archive_command = '... wal push %p %f')
    Push {
        /// The file (%p)
        path: PathBuf,
        /// Its name (%f)
        name: String,
    },
    /// Restore one WAL file from the archive (restore_command = '... wal fetch %f %p')
    Fetch {
        /// Its name (%f)
        name: String,
        /// Where to write it (%p)
        path: PathBuf,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["target_time", "target_lsn", "target_name"])))]
pub struct RestoreArgs {
    /// The new data directory (absent or empty)
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Recover to this time (RFC 3339, e.g. 2026-11-24T02:30:00Z)
    #[arg(long, value_name = "TIME")]
    pub target_time: Option<String>,
    /// Recover to this WAL location (e.g. 0/3000148)
    #[arg(long, value_name = "LSN")]
    pub target_lsn: Option<String>,
    /// Recover to this restore point (pg_create_restore_point)
    #[arg(long, value_name = "NAME")]
    pub target_name: Option<String>,
    /// Open read-write on a new timeline at the target instead of pausing there
    #[arg(long)]
    pub promote: bool,
    /// Recover along this timeline (default: the chosen backup's)
    #[arg(long, value_name = "TLI")]
    pub timeline: Option<u32>,
    /// Restore a backup of this system identifier (default: the repository's)
    #[arg(long, value_name = "ID")]
    pub system_identifier: Option<u64>,
    /// Stop the server once the target is verified (the data directory stays)
    #[arg(long)]
    pub stop: bool,
}
