//! The command-line edge: parse arguments, build the [`Context`], run one command, print its
//! report, and map errors to messages and the exit codes of SPEC section 3. Only this module
//! decides what is printed and which exit code the process ends with.

pub mod args;
mod backup_cmd;
mod bundle_cmd;
mod db_cmd;
mod events_cmd;
mod export_cmd;
mod import_cmd;
pub mod output;
mod progress;
mod queue_cmd;
mod replay_cmd;
mod scan_cmd;
mod status_cmd;

use crate::db::{DbTarget, Tenant};
use crate::error::{Error, EXIT_USAGE};
use crate::home::Home;
use args::{AdvisoriesCommand, Cli, Command};
use clap::Parser;
use output::{Mode, Report};

/// Validated settings shared by every command.
pub struct Context {
    pub home: Home,
    pub target: DbTarget,
    pub tenant: Tenant,
    pub mode: Mode,
    pub verbose: u8,
}

impl Context {
    fn from_args(g: &args::GlobalArgs) -> Result<Self, Error> {
        if g.tenant.trim().is_empty() {
            return Err(Error::Usage("--tenant must not be empty".into()));
        }
        let root = g.home.clone().unwrap_or_else(Home::default_root);
        let home = Home::new(root, g.repo.clone());
        let target = match &g.database_url {
            Some(url) if !url.is_empty() => DbTarget::External { url: url.clone() },
            _ => DbTarget::Embedded {
                home: home.clone(),
                listen: g.listen.clone(),
                port: g.port,
            },
        };
        let mode = if g.json {
            Mode::Json
        } else if g.quiet {
            Mode::Quiet
        } else {
            Mode::Human
        };
        Ok(Context {
            home,
            target,
            tenant: Tenant::new(&g.tenant),
            mode,
            verbose: g.verbose,
        })
    }

    /// A migrated connection. Commands that write register the tenant in their own transaction.
    pub fn connect(&self) -> Result<postgres::Client, Error> {
        Ok(self.target.connect()?)
    }
}

/// `user@host` of this process, recorded as who imported or ran something.
pub fn whoami() -> String {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::effective())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| nix::unistd::Uid::effective().to_string());
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// Record an audit event on its own (for commands whose work is not a database transaction, such
/// as trust changes). A failure to record is a warning: the change itself already happened.
pub fn audit(
    ctx: &Context,
    kind: &str,
    outcome: crate::events::Outcome,
    subject: Option<&str>,
    details: serde_json::Value,
) {
    let result = ctx.connect().and_then(|mut c| {
        Ok(crate::events::record(
            &mut c,
            ctx.tenant.id,
            kind,
            outcome,
            subject,
            &details,
        )?)
    });
    if let Err(e) = result {
        tracing::warn!("could not record the {kind} event in the audit trail: {e}");
    }
}

/// Run the program; returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    init_tracing(cli.global.verbose, cli.global.quiet);
    let ctx = match Context::from_args(&cli.global) {
        Ok(c) => c,
        Err(e) => return fail(cli.global.json, cli.global.verbose, &e),
    };
    match dispatch(&ctx, cli.command) {
        Ok(report) => {
            output::emit(ctx.mode, &report);
            report.exit_code
        }
        Err(e) => fail(cli.global.json, cli.global.verbose, &e),
    }
}

fn dispatch(ctx: &Context, command: Command) -> Result<Report, Error> {
    match command {
        Command::Db(c) => db_cmd::run(ctx, c),
        Command::Keygen { out } => bundle_cmd::keygen(ctx, &out),
        Command::Trust(c) => bundle_cmd::trust(ctx, c),
        Command::Bundle(c) => bundle_cmd::bundle(ctx, c),
        Command::Verify { files, trust } => bundle_cmd::verify(ctx, &files, &trust),
        Command::Scan {
            artifacts,
            key,
            manifest_out,
            no_wait,
            archive_wait,
            fail_on,
        } => scan_cmd::scan(
            ctx,
            &artifacts,
            &key,
            manifest_out,
            no_wait,
            archive_wait,
            fail_on.as_deref(),
        ),
        Command::Advisories(AdvisoriesCommand::Search {
            text,
            ecosystem,
            limit,
        }) => scan_cmd::advisories_search(ctx, &text, ecosystem.as_deref(), limit),
        Command::Findings {
            artifact,
            advisory,
            component,
            status,
            format,
            limit,
        } => scan_cmd::findings(
            ctx,
            scan_cmd::FindingsFilter {
                artifact,
                advisory,
                component,
                status,
                limit,
            },
            &format,
        ),
        Command::Status { max_age, check } => status_cmd::status(ctx, max_age, check),
        Command::Export {
            key,
            out,
            since,
            trust,
        } => export_cmd::export(ctx, &key, &out, since.as_deref(), &trust),
        Command::Import {
            files,
            trust,
            allow_older,
            reason,
            scan,
        } => import_cmd::import(
            ctx,
            &files,
            &trust,
            allow_older.then_some(reason).flatten(),
            scan,
        ),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "stella-bundle", &mut out);
            Ok(Report::ok(
                serde_json::json!({"shell": shell.to_string(), "script": String::from_utf8_lossy(&out)}),
                String::from_utf8_lossy(&out),
            ))
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| Error::file("render", "the man page", e))?;
            Ok(Report::ok(
                serde_json::json!({"man": String::from_utf8_lossy(&out)}),
                String::from_utf8_lossy(&out),
            ))
        }
        Command::Replay {
            manifest,
            trust,
            keep,
        } => replay_cmd::replay(ctx, &manifest, &trust, keep),
        Command::Worker(a) => queue_cmd::worker(ctx, a),
        Command::Jobs(c) => queue_cmd::jobs(ctx, c),
        Command::Events(a) => events_cmd::run(ctx, a),
        Command::Backup(a) => backup_cmd::backup(ctx, a),
        Command::Wal(c) => backup_cmd::wal(ctx, c),
        Command::Restore(a) => backup_cmd::restore(ctx, a),
    }
}

/// Print an error (with its cause chain when verbose) and return its exit code. With `--json`
/// stdout still gets its one object.
fn fail(json: bool, verbose: u8, e: &Error) -> i32 {
    let code = e.exit_code();
    let mut message = e.to_string();
    if verbose > 0 {
        let mut src = std::error::Error::source(e);
        while let Some(inner) = src {
            let text = inner.to_string();
            if !message.contains(&text) {
                message.push_str(&format!("\n  caused by: {text}"));
            }
            src = inner.source();
        }
    }
    if !matches!(e, Error::Reported(_)) {
        eprintln!("error: {message}");
    }
    if json {
        output::out_line(
            &serde_json::json!({"error": {"message": message, "exit_code": code}}).to_string(),
        );
    }
    code
}

fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STELLA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("stella_bundle={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .try_init();
}
