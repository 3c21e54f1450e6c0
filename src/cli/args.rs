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
    /// Base backups: take one (no subcommand), or list, verify, prune them
    Backup(BackupArgs),
    /// The WAL archive: the server's archive_command (push) and restore_command (fetch)
    #[command(subcommand)]
    Wal(WalCommand),
    /// Point-in-time restore into a new data directory, left running paused at the target
    Restore(RestoreArgs),
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
