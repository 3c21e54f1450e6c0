//! Which database a command talks to: the embedded cluster in `$STELLA_HOME/pg` (started on
//! demand and left running) or an existing server given by `--database-url`. Connecting also
//! applies pending migrations, so every command that needs the schema has it.

use super::{migrate, DbError};
use crate::home::Home;
use crate::pg::{Cluster, ClusterSettings, PgBinaries, ServerUser, StartOutcome};
use std::str::FromStr;
use std::time::Duration;

/// Database created in the embedded cluster.
pub const EMBEDDED_DATABASE: &str = "stella";
/// Port of the embedded cluster (its socket file name; no TCP unless `--listen`).
pub const EMBEDDED_PORT: u16 = 5432;

/// The database behind this invocation.
#[derive(Debug, Clone)]
pub enum DbTarget {
    Embedded {
        home: Home,
        listen: Option<String>,
        port: u16,
    },
    External {
        url: String,
    },
}

impl DbTarget {
    /// The embedded cluster of `home` (locates the server binaries and the server user).
    pub fn cluster(home: &Home) -> Result<Cluster, DbError> {
        let bins = PgBinaries::locate()?;
        let user = ServerUser::resolve()?;
        Ok(Cluster::new(
            bins,
            user,
            home.pg_data(),
            home.run_dir(),
            home.log_dir(),
        ))
    }

    /// Settings of the embedded cluster.
    pub fn settings(home: &Home, listen: Option<String>, port: u16) -> ClusterSettings {
        ClusterSettings {
            port,
            listen,
            archive_command: archive_command(home),
            extra: Vec::new(),
        }
    }

    /// Start the embedded cluster when needed; `None` for an external server.
    pub fn ensure_running(&self) -> Result<Option<(Cluster, StartOutcome)>, DbError> {
        match self {
            DbTarget::External { .. } => Ok(None),
            DbTarget::Embedded { home, listen, port } => {
                let cluster = Self::cluster(home)?;
                let user = cluster.server_user().clone();
                // Refuse before creating anything when the server user could not enter the home.
                if let Some(parent) = home.root().parent() {
                    user.check_reachable(parent)?;
                }
                std::fs::create_dir_all(home.root())
                    .map_err(|e| crate::pg::PgError::io("create", home.root(), e))?;
                user.allow_traverse(home.root())?;
                user.check_reachable(home.root())?;
                user.own_dir(&home.wal_archive(), 0o700)?;
                // The server runs `HOME/bin/stella-bundle wal push` as its archive_command.
                crate::backup::install::install_self(home).map_err(|e| DbError::Query {
                    what: "installing the archive_command binary".into(),
                    reason: e.to_string(),
                })?;
                let outcome = cluster.start(&Self::settings(home, listen.clone(), *port))?;
                Ok(Some((cluster, outcome)))
            }
        }
    }

    /// The URL of the database (starting the embedded cluster if needed).
    pub fn url(&self) -> Result<String, DbError> {
        match self {
            DbTarget::External { url } => Ok(url.clone()),
            DbTarget::Embedded { port, .. } => {
                let (cluster, _) = self.ensure_running()?.expect("embedded");
                let port = cluster.status(*port).port;
                Ok(cluster.url(port, EMBEDDED_DATABASE))
            }
        }
    }

    /// A migrated connection.
    pub fn connect(&self) -> Result<postgres::Client, DbError> {
        let mut client = connect_url_or_create(self)?;
        if migrate::pending(&mut client)? {
            migrate::migrate(&mut client)?;
        }
        Ok(client)
    }
}

/// A connection to the target's database, creating the embedded database on first use; no
/// migrations.
pub fn connect_url_or_create(target: &DbTarget) -> Result<postgres::Client, DbError> {
    {
        let url = target.url()?;
        let client = match connect_url(&url) {
            Err(DbError::Connect { reason, .. })
                if matches!(target, DbTarget::Embedded { .. }) && reason.contains("3D000") =>
            {
                // First use (or an init killed before the database existed): create it.
                let admin_url = url.replacen(&format!("/{EMBEDDED_DATABASE}?"), "/postgres?", 1);
                let mut admin = connect_url(&admin_url)?;
                admin
                    .batch_execute(&format!("CREATE DATABASE {EMBEDDED_DATABASE}"))
                    .or_else(|e| {
                        if e.code() == Some(&postgres::error::SqlState::DUPLICATE_DATABASE) {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(|e| DbError::query("creating the database", e))?;
                connect_url(&url)?
            }
            other => other?,
        };
        Ok(client)
    }
}

/// Connect to `url` (10 s timeout unless the URL sets one), with a clear error.
pub fn connect_url(url: &str) -> Result<postgres::Client, DbError> {
    let shown = redact(url);
    let mut config = postgres::Config::from_str(url).map_err(|e| DbError::Connect {
        target: shown.clone(),
        reason: super::error::describe(&e),
        hint: "check the URL's syntax (postgresql://user@host:port/dbname)".into(),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("stella-bundle");
    }
    config
        .connect(postgres::NoTls)
        .map_err(|e| DbError::Connect {
            target: shown,
            reason: super::error::describe(&e),
            hint: "check that the server is running and accepts connections (for the embedded \
               cluster: `stella-bundle db status`)"
                .into(),
        })
}

/// The URL without its password.
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((auth, host)) = rest.split_once('@') {
            if let Some((user, _)) = auth.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

/// The embedded cluster's `archive_command`: `HOME/bin/stella-bundle wal push %p %f`.
fn archive_command(home: &Home) -> String {
    crate::backup::install::archive_command(home)
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_password() {
        assert_eq!(
            super::redact("postgresql://u:secret@h/db"),
            "postgresql://u:***@h/db"
        );
        assert_eq!(
            super::redact("postgresql:///db?host=/x"),
            "postgresql:///db?host=/x"
        );
    }
}
