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
