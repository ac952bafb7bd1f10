//! Moving house: copying every row of a SQLite database into an empty PostgreSQL one, keeping
//! ids, slugs, password hashes and timestamps, in one transaction.

use futures_util::TryStreamExt;
use quire_core::{Error, Result};
use sqlx::{Postgres, QueryBuilder, Row};

use crate::db::{Db, Engine};
use crate::error::db_error;
use crate::schema;

/// Tables in an order that satisfies every foreign key.
const TABLES: [&str; 23] = [
    "users",
    "follows",
    "posts",
    "tags",
    "post_tags",
    "favorites",
    "comments",
    "counter_slots",
    "outbox",
    "webhooks",
    "webhook_deliveries",
    "webhook_attempts",
    "search_postings",
    "search_documents",
    "search_impacts",
    "search_excerpts",
    "sign_in_failures",
    "signing_keys",
    "sessions",
    "refresh_tokens",
    "audit_log",
    "user_identities",
    "openid_sign_ins",
];

/// Tables and their column whose values come from an identity sequence, advanced past the
/// copied values.
const IDENTITIES: [(&str, &str); 8] = [
    ("users", "id"),
    ("posts", "id"),
    ("tags", "id"),
    ("comments", "id"),
    ("outbox", "seq"),
    ("webhooks", "id"),
    ("webhook_deliveries", "id"),
    ("webhook_attempts", "id"),
];

/// Rows per INSERT: well under PostgreSQL's 65535 parameters for the widest table.
const BATCH: usize = 500;

/// Told how the copy goes, table by table.
pub trait CopyProgress {
    fn table(&mut self, table: &str, rows: u64);
    fn copied(&mut self, table: &str, done: u64, rows: u64);
}

enum Value {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
}

/// Copies `from` (SQLite) into `to` (PostgreSQL), which must hold no users, posts, tags or
/// comments yet. Everything is written in one transaction: a failure leaves `to` empty.
/// Returns the number of rows copied.
pub async fn copy_database(from: &Db, to: &Db, progress: &mut dyn CopyProgress) -> Result<u64> {
    let (Engine::Sqlite(source), Engine::Postgres(target)) = (&from.engine, &to.engine) else {
        return Err(Error::internal(
            "quire db copy copies from SQLite to PostgreSQL",
        ));
    };
    let from_version = from.applied_migrations().await?;
    let to_version = to.applied_migrations().await?;
    if from_version != to_version {
        return Err(Error::internal(format!(
            "schemas differ: source at migrations {from_version:?}, target at {to_version:?}"
        )));
    }
    let target_schema = schema::describe(to).await?;
    // Every table is read in one read transaction, so the copy is one consistent snapshot
    // even if the source is still being written to.
    let mut snapshot = source.reader.begin().await.map_err(db_error)?;
    let mut tx = target.begin().await.map_err(db_error)?;
    make_room(&mut tx).await?;
    let mut copied = 0;
    for table in TABLES {
        let columns: Vec<String> = target_schema
            .iter()
            .find(|t| t.name == table)
            .ok_or_else(|| Error::internal(format!("the target has no table {table}")))?
            .columns
            .iter()
            .map(|column| column.name.clone())
            .collect();
        copied += copy_table(&mut snapshot, &mut tx, table, &columns, progress).await?;
    }
    advance_identities(&mut snapshot, &mut tx).await?;
    // The snapshot is let go first: once the target has committed, nothing may fail the copy.
    snapshot.rollback().await.map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(copied)
}

type Snapshot = sqlx::Transaction<'static, sqlx::Sqlite>;
type Target = sqlx::Transaction<'static, Postgres>;

/// Refuses a target that holds anything.
async fn make_room(tx: &mut Target) -> Result<()> {
    let occupied: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM posts) \
         OR EXISTS (SELECT 1 FROM tags) OR EXISTS (SELECT 1 FROM comments) \
         OR EXISTS (SELECT 1 FROM counter_slots)",
    )
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error)?;
    if occupied {
        return Err(Error::internal(
            "the target database is not empty; refusing to copy into it",
        ));
    }
    Ok(())
}

/// The target's type of each of `columns` of `table`, which says how to read the source's.
async fn column_kinds(tx: &mut Target, table: &str, columns: &[String]) -> Result<Vec<String>> {
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(columns
        .iter()
        .map(|column| {
            types
                .iter()
                .find(|(name, _)| name == column)
                .map(|(_, kind)| kind.clone())
                .unwrap_or_default()
        })
        .collect())
}

/// Copies every row of `table`, [`BATCH`] rows per INSERT; returns how many.
async fn copy_table(
    snapshot: &mut Snapshot,
    tx: &mut Target,
    table: &str,
    columns: &[String],
    progress: &mut dyn CopyProgress,
) -> Result<u64> {
    let kinds = column_kinds(tx, table, columns).await?;
    let list = columns.join(", ");
    let total: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut **snapshot)
            .await
            .map_err(db_error)?;
    let total = u64::try_from(total).unwrap_or(0);
    progress.table(table, total);

    // Table and column names come from the schema, never from input.
    let select = format!("SELECT {list} FROM {table}");
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(&mut **snapshot);
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH);
    let mut done = 0;
    loop {
        let row = rows.try_next().await.map_err(db_error)?;
        if let Some(row) = &row {
            batch.push(read_row(row, &kinds)?);
        }
        if batch.len() == BATCH || (row.is_none() && !batch.is_empty()) {
            let mut insert: QueryBuilder<Postgres> =
                QueryBuilder::new(format!("INSERT INTO {table} ({list}) "));
            insert.push_values(batch.drain(..), |mut values, row| {
                for value in row {
                    match value {
                        Value::Int(v) => values.push_bind(v),
                        Value::Bool(v) => values.push_bind(v),
                        Value::Text(v) => values.push_bind(v),
                    };
                }
            });
            let written = insert.build().execute(&mut **tx).await.map_err(db_error)?;
            done += written.rows_affected();
            progress.copied(table, done, total);
        }
        if row.is_none() {
            break;
        }
    }
    Ok(done)
}

/// A source row's values, read as the target's column types want them.
fn read_row(row: &sqlx::sqlite::SqliteRow, kinds: &[String]) -> Result<Vec<Value>> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| match kind.as_str() {
            "boolean" => row.try_get::<Option<bool>, _>(i).map(Value::Bool),
            "bigint" => row.try_get::<Option<i64>, _>(i).map(Value::Int),
            _ => row.try_get::<Option<String>, _>(i).map(Value::Text),
        })
        .collect::<sqlx::Result<Vec<_>>>()
        .map_err(db_error)
}

/// Moves each identity sequence past every id the source ever gave (SQLite's AUTOINCREMENT
/// never reuses one, even of a deleted row), not only past the ids that remain.
async fn advance_identities(snapshot: &mut Snapshot, tx: &mut Target) -> Result<()> {
    for (table, column) in IDENTITIES {
        let issued: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1")
                .bind(table)
                .fetch_optional(&mut **snapshot)
                .await
                .map_err(db_error)?;
        let advance = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
             GREATEST(COALESCE((SELECT MAX({column}) FROM {table}), 0), $1) + 1, false)"
        );
        sqlx::query(sqlx::AssertSqlSafe(advance))
            .bind(issued.unwrap_or(0))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}
