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
