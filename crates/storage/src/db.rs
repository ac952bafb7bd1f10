//! Opening the database on either engine, migrations, transactions, bounded retries, fault
//! injection, and the statement counter.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use quire_core::events::Event;
use quire_core::ports::CommitListener;
use quire_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Postgres, Transaction};

use crate::error::db_error;
use crate::faults::Fault;
#[cfg(feature = "fault-injection")]
use crate::faults::Faults;
use crate::group_commit::{GroupCommit, GroupWrite};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How many times a transaction that lost a race (SQLite busy, PostgreSQL serialization
/// failure or deadlock) is run again before the caller gets 503.
pub const WRITE_ATTEMPTS: u32 = 5;

/// How hard a SQLite commit works to survive a crash.
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
    /// `sqlite://PATH`, `postgres://...`, or `None` for `quire.db` in the data directory.
    pub url: Option<String>,
    pub data_dir: PathBuf,
    /// SQLite only.
    pub durability: Durability,
    /// SQLite: read-only connections for concurrent reads. PostgreSQL: the pool's size.
    pub pool_size: u32,
    /// How long a request waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
    /// Prepared statements kept per connection.
    pub statement_cache: usize,
    /// PostgreSQL only: the longest a statement may run before the server cancels it (its
    /// `statement_timeout`), so a query whose request has already given up stops taking the
    /// database's time; `None` for no limit. Migrations run without it.
    pub statement_timeout: Option<Duration>,
}

/// Which engine a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DbOptions {
    /// The engine and location these options name.
    pub fn target(&self) -> Result<Target> {
        let url = match self.url.as_deref() {
            None | Some("") => return Ok(Target::Sqlite(self.data_dir.join("quire.db"))),
            Some(url) => url,
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                Error::internal(format!(
                    "unsupported database URL scheme {:?}: expected sqlite://PATH or postgres://...",
                    url.split(':').next().unwrap_or_default()
                ))
            })?;
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path.starts_with(":memory:") {
            return Err(Error::internal(
                "an in-memory SQLite database is not supported: name a file",
            ));
        }
        Ok(Target::Sqlite(PathBuf::from(path)))
    }
}

/// SQLite's one writer connection, so writes never fight over the file lock, committing in
/// groups, and a pool of read-only connections that read concurrently.
#[derive(Clone)]
pub(crate) struct SqlitePools {
    pub(crate) writer: Arc<GroupCommit>,
    pub(crate) reader: SqlitePool,
}

#[derive(Clone)]
pub(crate) enum Engine {
    Sqlite(SqlitePools),
    Postgres(PgPool),
}

/// An open write transaction on either engine, with the events it recorded (told to the
/// commit listener once it commits). Dropping it rolls back.
pub(crate) struct Tx {
    pub(crate) conn: TxConn,
    pub(crate) recorded: Vec<Event>,
}

/// A write transaction's connection: on SQLite, one write in a group ([`GroupWrite`]).
pub(crate) enum TxConn {
    Sqlite(GroupWrite),
    Postgres(Transaction<'static, Postgres>),
}

/// Tells the commit listener and the relay of a write's events when dropped: after its
/// commit, or when the commit was abandoned half-way.
struct Told<'a> {
    db: &'a Db,
    events: Vec<Event>,
}

impl Drop for Told<'_> {
    fn drop(&mut self) {
        if self.events.is_empty() {
            return;
        }
        if let Some(listener) = self.db.commit_listener.get() {
            listener.committed(&self.events);
        }
        // Whatever the write recorded in the outbox may be committed now: the relay may send it.
        self.db.recorded.notify_one();
    }
}

/// A pool's connections at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub pool: &'static str,
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// Takes a connection from `pool`, recording how long the wait was
/// (`quire_db_acquire_seconds`), so a saturated pool shows before requests time out.
pub(crate) async fn acquire<D: sqlx::Database>(
    pool: &sqlx::Pool<D>,
    name: &'static str,
) -> std::result::Result<sqlx::pool::PoolConnection<D>, sqlx::Error> {
    let started = std::time::Instant::now();
    let connection = pool.acquire().await;
    metrics::histogram!("quire_db_acquire_seconds", "pool" => name)
        .record(started.elapsed().as_secs_f64());
    connection
}

/// The database: the engine's pools, a count of statements run, and armed faults.
#[derive(Clone)]
pub struct Db {
    pub(crate) engine: Engine,
    statements: Arc<AtomicU64>,
    /// Woken when a write of this process records events (the relay's prompt).
    pub(crate) recorded: Arc<tokio::sync::Notify>,
    /// Told of each write's events as it commits, once set ([`Db::on_commit`]).
    commit_listener: Arc<OnceLock<Arc<dyn CommitListener>>>,
    #[cfg(feature = "fault-injection")]
    faults: Arc<Faults>,
}

impl Db {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(options: &DbOptions) -> Result<Self> {
        let engine = match options.target()? {
            Target::Sqlite(path) => Engine::Sqlite(open_sqlite(&path, options).await?),
            Target::Postgres(url) => Engine::Postgres(open_postgres(&url, options).await?),
        };
        Ok(Self {
            engine,
            statements: Arc::new(AtomicU64::new(0)),
            recorded: Arc::new(tokio::sync::Notify::new()),
            commit_listener: Arc::new(OnceLock::new()),
            #[cfg(feature = "fault-injection")]
            faults: Arc::new(Faults::default()),
        })
    }

    /// Tells `listener` of every write's events as the write commits, in this process and
    /// before the write returns: the cache's invalidation, so a writer's next read is fresh.
    /// Every handle cloned from this one shares it; a second listener is refused.
    ///
    /// # Errors
    /// [`Error::Internal`] if a listener is already set.
    pub fn on_commit(&self, listener: Arc<dyn CommitListener>) -> Result<()> {
        self.commit_listener
            .set(listener)
            .map_err(|_| Error::internal("a commit listener is already set"))
    }

    /// Applies pending migrations only (they also run on every [`Db::open`]), and lists the
    /// versions applied.
    pub async fn migrate(options: &DbOptions) -> Result<Vec<i64>> {
        let db = Self::open(options).await?;
        let applied = db.applied_migrations().await;
        db.close().await;
        applied
    }

    /// The migration versions recorded as applied.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>> {
        const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        match &self.engine {
            Engine::Sqlite(pools) => sqlx::query_scalar(SQL).fetch_all(&pools.reader).await,
            Engine::Postgres(pool) => sqlx::query_scalar(SQL).fetch_all(pool).await,
        }
        .map_err(db_error)
    }

    /// `sqlite` or `postgres`.
    pub fn engine_name(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// Each pool's connections now: `(pool, open, idle, max)`, for the metrics.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        fn stats<D: sqlx::Database>(name: &'static str, pool: &sqlx::Pool<D>) -> PoolStats {
            PoolStats {
                pool: name,
                open: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            }
        }
        match &self.engine {
            Engine::Sqlite(pools) => vec![
                PoolStats {
                    pool: "sqlite_writer",
                    open: 1,
                    idle: u32::from(!pools.writer.busy()),
                    max: 1,
                },
                stats("sqlite_reader", &pools.reader),
            ],
            Engine::Postgres(pool) => vec![stats("postgres", pool)],
        }
    }

    /// SQL statements run since the database was opened. Tests use it to prove that a
    /// request runs a fixed number of statements whatever the page size.
    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// The same database with a statement count of its own, for a worker (the relay) whose
    /// statements are not any request's.
    pub fn with_own_statement_count(&self) -> Db {
        Db {
            statements: Arc::new(AtomicU64::new(0)),
            ..self.clone()
        }
    }

    /// Arms a fault to fire the next `times` times its point is reached (for tests of
    /// atomicity and retries).
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&self, fault: Fault, times: u32) {
        self.faults.arm(fault, times);
    }

    #[cfg(feature = "fault-injection")]
    pub(crate) fn fault(&self, fault: Fault) -> Result<()> {
        self.faults.check(fault)
    }

    #[cfg(not(feature = "fault-injection"))]
    #[inline(always)]
    pub(crate) fn fault(&self, _fault: Fault) -> Result<()> {
        Ok(())
    }

    /// Counts one statement about to run.
    pub(crate) fn stmt(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    /// Starts a write transaction. On SQLite it is a savepoint in the writer's open group
    /// (`group_commit`), whose transaction takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so a write never fails half-way on an upgrade to writing.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        self.fault(Fault::Busy)?;
        self.stmt();
        match &self.engine {
            Engine::Sqlite(pools) => {
                let started = std::time::Instant::now();
                let write = pools.writer.begin().await;
                metrics::histogram!("quire_db_acquire_seconds", "pool" => "sqlite_writer")
                    .record(started.elapsed().as_secs_f64());
                write.map(TxConn::Sqlite)
            }
            // sqlx 0.9 forgets a `BEGIN` whose answer it was still awaiting when the call was
            // cancelled (sqlx issue #4393): the connection would go back to the pool inside a
            // transaction, and later statements on it would run in that transaction. On a task
            // of its own the `BEGIN` always completes; a transaction that nobody takes any more
            // is dropped there, which rolls it back.
            Engine::Postgres(pool) => {
                let pool = pool.clone();
                match tokio::spawn(async move { pool.begin().await }).await {
                    Ok(begun) => begun.map(TxConn::Postgres),
                    Err(error) => {
                        return Err(Error::internal(format!("beginning a transaction: {error}")));
                    }
                }
            }
        }
        .map(|conn| Tx {
            conn,
            recorded: Vec::new(),
        })
        .map_err(db_error)
    }

    /// Commits `tx`, then tells the commit listener and the relay of its events. They are
    /// told even if the caller goes away while the commit is under way (SQLite's group
    /// commit goes on without it), or if the commit fails: a needless invalidation costs a
    /// read, a missed one would serve stale data.
    pub(crate) async fn commit(&self, tx: Tx) -> Result<()> {
        self.stmt();
        let told = Told {
            db: self,
            events: tx.recorded,
        };
        match tx.conn {
            TxConn::Sqlite(write) => write.commit().await,
            TxConn::Postgres(tx) => tx.commit().await,
        }
        .map_err(db_error)?;
        let wrote = !told.events.is_empty();
        drop(told);
        if let Some(listener) = self.commit_listener.get().filter(|_| wrote) {
            listener.settled().await;
        }
        self.fault(Fault::AfterCommit)
    }

    /// Runs a write transaction again, up to [`WRITE_ATTEMPTS`] times with a short growing
    /// pause, when it lost a race with another writer. Other errors return at once.
    pub(crate) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut tries = 1;
        loop {
            match attempt().await {
                Err(Error::Busy) if tries < WRITE_ATTEMPTS => {
                    tracing::debug!(tries, "write lost a race; retrying");
                    tokio::time::sleep(Duration::from_millis(5 << tries)).await;
                    tries += 1;
                }
                result => return result,
            }
        }
    }

    /// Closes every connection (SQLite commits its pending group and checkpoints its
    /// write-ahead log).
    pub async fn close(&self) {
        match &self.engine {
            Engine::Sqlite(pools) => {
                pools.reader.close().await;
                pools.writer.close().await;
            }
            Engine::Postgres(pool) => pool.close().await,
        }
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        self.stmt();
        match &self.engine {
            Engine::Sqlite(pools) => {
                sqlx::query_scalar::<_, i32>("SELECT 1")
                    .fetch_one(&pools.reader)
                    .await
            }
            Engine::Postgres(pool) => {
                sqlx::query_scalar::<_, i32>("SELECT 1")
                    .fetch_one(pool)
                    .await
            }
        }
        .map(drop)
        .map_err(db_error)
    }
}

/// How much of the SQLite file each connection maps into memory (`PRAGMA mmap_size`): reads of
/// mapped pages are memory reads of the operating system's page cache, with no system call
/// and no copy into the connection's own cache, which every write by another connection
/// empties. Address space only: memory is the page cache's, shared by every connection.
const SQLITE_MMAP_BYTES: u64 = 1 << 30;

async fn open_sqlite(path: &Path, options: &DbOptions) -> Result<SqlitePools> {
    create_private(path)?;
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match options.durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        })
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .statement_cache_capacity(options.statement_cache)
        .pragma("temp_store", "memory")
        .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string());
    let mut writer = connect
        .connect()
        .await
        .map_err(|error| open_error(&path.display().to_string(), error))?;
    SQLITE_MIGRATIONS
        .run(&mut writer)
        .await
        .map_err(|error| Error::internal(format!("migrating {}: {error}", path.display())))?;
    let reader = SqlitePoolOptions::new()
        .max_connections(options.pool_size.max(1))
        .acquire_timeout(options.acquire_timeout)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(connect.read_only(true))
        .await
        .map_err(|error| open_error(&path.display().to_string(), error))?;
    Ok(SqlitePools {
        writer: Arc::new(GroupCommit::start(writer)),
        reader,
    })
}

async fn open_postgres(url: &str, options: &DbOptions) -> Result<PgPool> {
    // The URL carries TLS settings the libpq way: `sslmode=verify-full` checks the server's
    // certificate and host name, `sslrootcert=PATH` names the CA to trust.
    let connect = PgConnectOptions::from_str(url)
        .map_err(|error| Error::internal(format!("invalid PostgreSQL URL: {error}")))?
        .application_name("quire")
        .statement_cache_capacity(options.statement_cache);
    // Migrations on a connection of their own, without the statement timeout: building an
    // index on a large table may take longer than any request.
    let mut migrating = connect
        .connect()
        .await
        .map_err(|error| open_error(&redact_url(url), error))?;
    POSTGRES_MIGRATIONS
        .run(&mut migrating)
        .await
        .map_err(|error| Error::internal(format!("migrating {}: {error}", redact_url(url))))?;
    let _ = sqlx::Connection::close(migrating).await;
    // A safety net under `Db::begin`: a session left inside a transaction by a client that
    // went away is ended by the server, so its locks cannot outlive it.
    let mut settings = vec![("idle_in_transaction_session_timeout", "10s".to_owned())];
    if let Some(limit) = options.statement_timeout {
        settings.push(("statement_timeout", format!("{}ms", limit.as_millis())));
    }
    let pool = PgPoolOptions::new()
        .max_connections(options.pool_size.max(1))
        .acquire_timeout(options.acquire_timeout)
        .test_before_acquire(true)
        .connect_with(connect.options(settings))
        .await
        .map_err(|error| open_error(&redact_url(url), error))?;
    Ok(pool)
}

/// A URL fit for logs: any password replaced.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:<redacted>{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
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

fn open_error(what: &str, error: sqlx::Error) -> Error {
    match db_error(error) {
        Error::Unavailable { .. } => Error::Unavailable {
            reason: "database is unreachable",
            retry_after_secs: 2,
        },
        other => Error::internal(format!("opening {what}: {other}")),
    }
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
    fn urls_name_an_engine() {
        let options = |url: Option<&str>| DbOptions {
            url: url.map(str::to_owned),
            data_dir: PathBuf::from("/var/lib/quire"),
            durability: Durability::Full,
            pool_size: 1,
            acquire_timeout: Duration::from_secs(1),
            statement_cache: 100,
            statement_timeout: None,
        };
        let sqlite = |path: &str| Target::Sqlite(PathBuf::from(path));
        assert_eq!(
            options(None).target().unwrap(),
            sqlite("/var/lib/quire/quire.db")
        );
        assert_eq!(
            options(Some("sqlite:///tmp/q.db")).target().unwrap(),
            sqlite("/tmp/q.db")
        );
        assert_eq!(
            options(Some("sqlite://rel/q.db?mode=rwc"))
                .target()
                .unwrap(),
            sqlite("rel/q.db")
        );
        let pg = "postgres://quire:secret@db.example:5432/quire?sslmode=verify-full";
        assert_eq!(
            options(Some(pg)).target().unwrap(),
            Target::Postgres(pg.to_owned())
        );
        assert!(options(Some("postgresql://x/y")).target().is_ok());
        assert!(options(Some("sqlite::memory:")).target().is_err());
        assert!(options(Some("mysql://x")).target().is_err());
    }

    /// `.cargo/config.toml` builds the bundled SQLite with `SQLITE_ENABLE_QPSG`: without it a
    /// statement with a bound `LIMIT` is prepared again at every execution, and plans may
    /// change with the values bound.
    #[tokio::test]
    async fn sqlite_keeps_the_plan_a_statement_was_prepared_with() {
        use sqlx::ConnectOptions;
        let mut connection = SqliteConnectOptions::new()
            .filename(":memory:")
            .connect()
            .await
            .unwrap();
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&mut connection)
            .await
            .unwrap();
        assert!(
            options.iter().any(|option| option == "ENABLE_QPSG"),
            "{options:?}"
        );
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://quire:s3cret@db:5432/quire"),
            "postgres://quire:<redacted>@db:5432/quire"
        );
        assert_eq!(
            redact_url("postgres://quire@db/quire"),
            "postgres://quire@db/quire"
        );
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
