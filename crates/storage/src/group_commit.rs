//! SQLite's writer with group commit: the writes queued at a moment share one transaction and
//! one commit (one `fsync` with `synchronous=FULL`), and each is answered only after that
//! commit.
//!
//! Writes take the one writer connection in arrival order (a fair lock). The first write of a
//! group opens a transaction (`BEGIN IMMEDIATE`); each write runs inside a savepoint of its own,
//! rolled back when the write fails or is abandoned (cancelled), so a failing write undoes only
//! itself. A write that succeeds leaves its savepoint open (the group's `COMMIT` ends them all,
//! which saves a statement per write), wakes the committer task and waits. The committer queues for the connection behind the writes already waiting,
//! so when its turn comes every one of them has run: it commits them all at once and answers
//! each. A write that arrives meanwhile waits behind the committer and starts the next group.
//! With one write at a time this is one transaction per write, as before; under load a commit
//! serves as many writes as were waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::Connection;
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::sqlite::SqliteConnection;
use tokio::sync::{Mutex, Notify, OwnedMappedMutexGuard, OwnedMutexGuard, oneshot};

/// The name of every write's savepoint (SQLite releases or rolls back the innermost of a name).
const SAVEPOINT: &str = "SAVEPOINT quire_write";
const BEGIN_WITH_SAVEPOINT: &str = "BEGIN IMMEDIATE; SAVEPOINT quire_write";
const ROLL_BACK_WRITE: &str = "ROLLBACK TO quire_write; RELEASE quire_write";

/// The writer connection and the state of its open group.
struct Writer {
    connection: SqliteConnection,
    /// A group's transaction is open.
    open: bool,
    /// The last write's savepoint is to be undone: the write failed or was cancelled, and is
    /// rolled back by whoever takes the connection next.
    abandoned: bool,
    /// Writes done in the open group, waiting for its commit.
    waiting: Vec<oneshot::Sender<Result<(), GroupError>>>,
}

struct Shared {
    /// `None` once closed.
    writer: Arc<Mutex<Option<Writer>>>,
    wake: Notify,
    closing: AtomicBool,
}

/// The handle to the writer: cheap to share; when the last one goes, the committer commits
/// what is pending and stops.
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
}

impl GroupCommit {
    /// Takes over `connection` (migrated, in WAL mode) and starts its committer task.
    pub(crate) fn start(connection: SqliteConnection) -> Self {
        let shared = Arc::new(Shared {
            writer: Arc::new(Mutex::new(Some(Writer {
                connection,
                open: false,
                abandoned: false,
                waiting: Vec::new(),
            }))),
            wake: Notify::new(),
            closing: AtomicBool::new(false),
        });
        tokio::spawn(commit_groups(Arc::clone(&shared)));
        Self { shared }
    }

    /// Starts a write: waits for the connection, opens the group's transaction if none is
    /// open, and sets the write's savepoint.
    ///
    /// # Errors
    /// `sqlx::Error::PoolClosed` after [`GroupCommit::close`]; SQLite's error if the
    /// transaction or savepoint cannot start (`SQLITE_BUSY` when another process holds the
    /// file's write lock past the busy timeout).
    pub(crate) async fn begin(&self) -> Result<GroupWrite, sqlx::Error> {
        // Starting a write changes the connection's state (a transaction, a savepoint) in
        // steps that a cancelled caller must not cut short, or the state recorded here would
        // no longer be the connection's: they run on a task of their own. A write that nobody
        // takes any more is dropped there, which rolls it back.
        let shared = Arc::clone(&self.shared);
        let started = tokio::spawn(async move {
            let guard = Arc::clone(&shared.writer).lock_owned().await;
            let mut writer = OwnedMutexGuard::try_map(guard, Option::as_mut)
                .map_err(|_| sqlx::Error::PoolClosed)?;
            writer.settle().await;
            if let Err(error) = writer.start_write().await {
                // The committer ends (or rolls back) whatever the failure left open.
                drop(writer);
                shared.wake.notify_one();
                return Err(error);
            }
            Ok(GroupWrite { writer, shared })
        });
        started.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }

    /// Whether a write holds the connection now (for the pool metrics).
    pub(crate) fn busy(&self) -> bool {
        self.shared.writer.try_lock().is_err()
    }

    /// Commits what is pending and closes the connection (checkpointing the write-ahead log if
    /// no reader is open). Later writes fail with `PoolClosed`.
    pub(crate) async fn close(&self) {
        self.shared.closing.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        let mut guard = self.shared.writer.lock().await;
        if let Some(mut writer) = guard.take() {
            writer.finish_group().await;
            if let Err(error) = writer.connection.close().await {
                tracing::warn!(%error, "closing the SQLite writer");
            }
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

/// The committer: whenever woken, waits its turn for the connection and commits the group.
async fn commit_groups(shared: Arc<Shared>) {
    loop {
        shared.wake.notified().await;
        let mut guard = shared.writer.lock().await;
        if let Some(writer) = guard.as_mut() {
            writer.finish_group().await;
        }
        if shared.closing.load(Ordering::Acquire) {
            return;
        }
    }
}

impl Writer {
    /// Opens the group's transaction if none is open, and sets a write's savepoint.
    async fn start_write(&mut self) -> Result<(), sqlx::Error> {
        if self.open {
            execute(&mut self.connection, SAVEPOINT).await?;
        } else if let Err(error) = execute(&mut self.connection, BEGIN_WITH_SAVEPOINT).await {
            // The transaction may have begun without its savepoint.
            let _ = execute(&mut self.connection, "ROLLBACK").await;
            return Err(error);
        } else {
            self.open = true;
        }
        self.abandoned = true;
        Ok(())
    }

    /// Rolls back an abandoned write's savepoint. If that fails, the transaction is gone (SQLite
    /// rolls back a whole transaction on some errors): it is rolled back entirely and the
    /// writes waiting for it are told their group was lost, which callers retry.
    async fn settle(&mut self) {
        if !self.abandoned {
            return;
        }
        self.abandoned = false;
        if execute(&mut self.connection, ROLL_BACK_WRITE).await.is_ok() {
            return;
        }
        // There may be no transaction left to roll back; either way none is open after this.
        let _ = execute(&mut self.connection, "ROLLBACK").await;
        self.open = false;
        for waiting in self.waiting.drain(..) {
            let _ = waiting.send(Err(GroupError::lost()));
        }
    }

    /// Commits the open group, if any, and answers every write in it.
    async fn finish_group(&mut self) {
        self.settle().await;
        if !self.open {
            return;
        }
        self.open = false;
        metrics::histogram!("quire_db_group_commit_writes").record(self.waiting.len() as f64);
        let answer = match execute(&mut self.connection, "COMMIT").await {
            Ok(()) => Ok(()),
            Err(error) => {
                tracing::error!(%error, writes = self.waiting.len(), "a group commit failed");
                let _ = execute(&mut self.connection, "ROLLBACK").await;
                Err(GroupError::from_commit(&error))
            }
        };
        for waiting in self.waiting.drain(..) {
            let _ = waiting.send(answer.clone());
        }
    }
}

/// One write in the open group: the writer connection, inside the write's savepoint. Dropping
/// it without [`GroupWrite::commit`] rolls the write back.
pub(crate) struct GroupWrite {
    writer: OwnedMappedMutexGuard<Option<Writer>, Writer>,
    shared: Arc<Shared>,
}

impl GroupWrite {
    /// Leaves the write in the group and waits for the group's commit.
    ///
    /// # Errors
    /// A [`GroupError`] (a `sqlx::Error::Database`) if the group's commit failed, or if the
    /// group was lost to another write's fault (with SQLite's busy code, so that callers
    /// retry); `PoolClosed` if the database closed first.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.writer.abandoned = false;
        let (answer, committed) = oneshot::channel();
        self.writer.waiting.push(answer);
        let shared = Arc::clone(&self.shared);
        drop(self);
        shared.wake.notify_one();
        match committed.await {
            Ok(answer) => answer.map_err(|error| sqlx::Error::Database(Box::new(error))),
            // The committer stopped without answering: the database was closed.
            Err(_) => Err(sqlx::Error::PoolClosed),
        }
    }
}

impl std::ops::Deref for GroupWrite {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.writer.connection
    }
}

impl std::ops::DerefMut for GroupWrite {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.writer.connection
    }
}

impl Drop for GroupWrite {
    fn drop(&mut self) {
        if self.writer.abandoned {
            // Nobody may come for the connection soon: the committer rolls the write back and
            // commits the rest of the group.
            self.shared.wake.notify_one();
        }
    }
}

async fn execute(connection: &mut SqliteConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sql).execute(connection).await.map(drop)
}

/// Why a write done in a group did not commit.
#[derive(Debug, Clone)]
pub(crate) struct GroupError {
    message: String,
    code: Option<String>,
}

impl GroupError {
    /// SQLite's `SQLITE_BUSY`: the write did not happen and may simply be run again.
    const BUSY: &'static str = "5";

    /// An error that carries only `code` (a SQLSTATE or SQLite code), for tests of the
    /// mapping of codes to meanings.
    #[cfg(test)]
    pub(crate) fn coded(code: &str) -> Self {
        Self {
            message: format!("code {code}"),
            code: Some(code.to_owned()),
        }
    }

    fn lost() -> Self {
        Self {
            message: "the write's group was rolled back by another write's failure".to_owned(),
            code: Some(Self::BUSY.to_owned()),
        }
    }

    fn from_commit(error: &sqlx::Error) -> Self {
        Self {
            message: format!("committing the write's group: {error}"),
            code: match error {
                sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
                _ => None,
            },
        }
    }
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GroupError {}

impl DatabaseError for GroupError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.code.as_deref().map(std::borrow::Cow::Borrowed)
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    use sqlx::ConnectOptions;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

    use super::*;

    async fn group(dir: &tempfile::TempDir) -> GroupCommit {
        let mut connection = SqliteConnectOptions::new()
            .filename(dir.path().join("group.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .execute(&mut connection)
            .await
            .unwrap();
        GroupCommit::start(connection)
    }

    async fn insert(group: &GroupCommit, n: i64) -> Result<(), sqlx::Error> {
        let mut write = group.begin().await?;
        sqlx::query("INSERT INTO t (n) VALUES ($1)")
            .bind(n)
            .execute(&mut *write)
            .await?;
        write.commit().await
    }

    async fn count(group: &GroupCommit) -> i64 {
        let mut write = group.begin().await.unwrap();
        let n = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&mut *write)
            .await
            .unwrap();
        write.commit().await.unwrap();
        n
    }

    #[tokio::test]
    async fn a_write_cancelled_while_it_starts_leaves_the_writer_usable() {
        let dir = tempfile::tempdir().unwrap();
        let group = group(&dir).await;
        // Polled once, then dropped: cancelled with its BEGIN on the way to SQLite.
        {
            let mut begin = pin!(group.begin());
            let polled = begin.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            assert!(polled.is_pending());
        }
        insert(&group, 1).await.unwrap();
        insert(&group, 2).await.unwrap();
        assert_eq!(count(&group).await, 2);
    }

    #[tokio::test]
    async fn a_failing_or_abandoned_write_undoes_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let group = group(&dir).await;
        insert(&group, 1).await.unwrap();
        let results = three_at_once(&group).await;
        assert!(results.0.is_ok() && results.1.is_err() && results.2.is_ok());
        {
            // Abandoned after its statement ran, before committing.
            let mut write = group.begin().await.unwrap();
            sqlx::query("INSERT INTO t (n) VALUES (99)")
                .execute(&mut *write)
                .await
                .unwrap();
        }
        assert_eq!(count(&group).await, 3);
    }

    /// Three writes at once, the second colliding with the first's key.
    async fn three_at_once(
        group: &GroupCommit,
    ) -> (
        Result<(), sqlx::Error>,
        Result<(), sqlx::Error>,
        Result<(), sqlx::Error>,
    ) {
        tokio::join!(insert(group, 2), insert(group, 1), insert(group, 3))
    }
}
