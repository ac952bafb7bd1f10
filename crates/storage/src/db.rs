//! Opening the database, migrations, and the statement counter.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use quire_core::{Error, Result};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::error::db_error;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How hard a commit works to survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit is synced to disk before it is acknowledged: survives power loss.
    #[default]
    Full,
    /// Commits survive a crash of the process, not of the machine; much faster writes.
    Normal,
}

/// Where and how to open the database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `sqlite://PATH`, or `None` for `quire.db` in the data directory.
    pub url: Option<String>,
    pub data_dir: PathBuf,
    pub durability: Durability,
    /// Read-only connections for concurrent reads.
    pub readers: u32,
    /// How long a request waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
}

impl DbOptions {
    /// The SQLite file these options name.
    pub fn sqlite_path(&self) -> Result<PathBuf> {
        match self.url.as_deref() {
            None | Some("") => Ok(self.data_dir.join("quire.db")),
            Some(url) => {
                let path = url
                    .strip_prefix("sqlite://")
                    .or_else(|| url.strip_prefix("sqlite:"))
                    .ok_or_else(|| {
                        Error::internal(format!(
                            "unsupported database URL scheme in {:?}: expected sqlite://PATH",
                            url.split(':').next().unwrap_or_default()
                        ))
                    })?;
                let path = path.split('?').next().unwrap_or(path);
                if path.is_empty() || path.starts_with(":memory:") {
                    return Err(Error::internal(
                        "an in-memory SQLite database is not supported: name a file",
                    ));
                }
                Ok(PathBuf::from(path))
            }
        }
    }
}

/// The database: one writer connection, a pool of readers, and a count of statements run.
#[derive(Clone)]
pub struct Db {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    statements: Arc<AtomicU64>,
}

impl Db {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(options: &DbOptions) -> Result<Self> {
        let path = options.sqlite_path()?;
        create_private(&path)?;
        let connect = connect_options(&path, options.durability);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(connect.clone())
            .await
            .map_err(|error| open_error(&path, error))?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|error| Error::internal(format!("migrating {}: {error}", path.display())))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(connect.read_only(true))
            .await
            .map_err(|error| open_error(&path, error))?;
        Ok(Self {
            writer,
            reader,
            statements: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Applies pending migrations only (they also run on every [`Db::open`]).
    pub async fn migrate(options: &DbOptions) -> Result<Vec<i64>> {
        let db = Self::open(options).await?;
        let applied = sqlx::query_scalar::<_, i64>(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&db.writer)
        .await
        .map_err(db_error)?;
        db.close().await;
        Ok(applied)
    }

    /// SQL statements run since the database was opened. Tests use it to prove that a
    /// request runs a fixed number of statements whatever the page size.
    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Counts one statement about to run.
    pub(crate) fn stmt(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    /// Starts a write transaction on the one writer connection. `BEGIN IMMEDIATE` takes the
    /// write lock up front, so a transaction never fails half-way on an upgrade to writing.
    pub(crate) async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.stmt();
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)
    }

    pub(crate) async fn commit(&self, tx: Transaction<'static, Sqlite>) -> Result<()> {
        self.stmt();
        tx.commit().await.map_err(db_error)
    }

    /// Closes every connection, checkpointing the write-ahead log.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        self.stmt();
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.reader)
            .await
            .map(drop)
            .map_err(db_error)
    }
}

/// Creates the database file (and its directory) readable by its owner only: it holds emails
/// and password hashes. SQLite gives the WAL and shared-memory files the same mode.
fn create_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let fail = |what: &Path, error: std::io::Error| {
        Error::internal(format!("cannot create {}: {error}", what.display()))
    };
    if let Some(dir) = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty() && !dir.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|error| fail(dir, error))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(fail(path, error)),
    }
}

fn connect_options(path: &Path, durability: Durability) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        })
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .pragma("temp_store", "memory")
}

fn open_error(path: &Path, error: sqlx::Error) -> Error {
    Error::internal(format!("opening {}: {error}", path.display()))
}

impl quire_core::ports::Store for Db {
    async fn ping(&self) -> Result<()> {
        Db::ping(self).await
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_database_file_and_its_directory_are_private() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("new-dir").join("quire.db");
        create_private(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        create_private(&path).unwrap();
    }

    #[test]
    fn urls_name_sqlite_files_only() {
        let options = |url: Option<&str>| DbOptions {
            url: url.map(str::to_owned),
            data_dir: PathBuf::from("/var/lib/quire"),
            durability: Durability::Full,
            readers: 1,
            acquire_timeout: Duration::from_secs(1),
        };
        assert_eq!(
            options(None).sqlite_path().unwrap(),
            PathBuf::from("/var/lib/quire/quire.db")
        );
        assert_eq!(
            options(Some("sqlite:///tmp/q.db")).sqlite_path().unwrap(),
            PathBuf::from("/tmp/q.db")
        );
        assert_eq!(
            options(Some("sqlite://rel/q.db?mode=rwc"))
                .sqlite_path()
                .unwrap(),
            PathBuf::from("rel/q.db")
        );
        assert!(options(Some("sqlite::memory:")).sqlite_path().is_err());
        assert!(options(Some("mysql://x")).sqlite_path().is_err());
    }
}
