//! A description of the schema as the database itself reports it, the same way for both
//! engines, so a test can prove that the two migration sets build the same schema.

use quire_core::Result;

use crate::db::{Db, Engine};
use crate::error::db_error;

/// A table: its columns in order, its primary key, and its other indexes by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    pub indexes: Vec<Index>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `integer` (SQLite INTEGER; PostgreSQL BIGINT or BOOLEAN), `text`, or the engine's own
    /// name for anything else (such as PostgreSQL's 32-bit `integer`, which would be a drift).
    pub kind: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

/// Tables that belong to the migration tool or the engine, not to quire.
fn is_ours(table: &str) -> bool {
    !table.starts_with("sqlite_") && !table.starts_with("_sqlx")
}

fn split(columns: &str) -> Vec<String> {
    columns
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The schema of quire's tables, sorted by table and index name.
pub async fn describe(db: &Db) -> Result<Vec<Table>> {
    let mut tables = match &db.engine {
        Engine::Sqlite(pools) => describe_sqlite(&pools.reader).await,
        Engine::Postgres(pool) => describe_postgres(pool).await,
    }
    .map_err(db_error)?;
    tables.retain(|table| is_ours(&table.name));
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    for table in &mut tables {
        table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(tables)
}

async fn describe_sqlite(pool: &sqlx::SqlitePool) -> sqlx::Result<Vec<Table>> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(pool)
            .await?;
    let mut tables = Vec::new();
    for name in names.into_iter().filter(|name| is_ours(name)) {
        let rows: Vec<(String, String, bool, i64)> = sqlx::query_as(
            "SELECT name, upper(type), \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?;
        let mut key: Vec<(i64, String)> = rows
            .iter()
            .filter(|row| row.3 > 0)
            .map(|row| (row.3, row.0.clone()))
            .collect();
        key.sort();
        let columns = rows
            .into_iter()
            .map(|(column, kind, not_null, pk)| Column {
                name: column,
                kind: match kind.as_str() {
                    "INTEGER" => "integer".to_owned(),
                    "TEXT" => "text".to_owned(),
                    "BLOB" => "bytes".to_owned(),
                    other => other.to_lowercase(),
                },
                nullable: !not_null && pk == 0,
            })
            .collect();
        // Indexes created by CREATE INDEX (origin 'c'); the primary key is compared above.
        let indexes: Vec<(String, bool, String)> = sqlx::query_as(
            "SELECT il.name, il.\"unique\", \
             (SELECT group_concat(ii.name, ',') FROM \
               (SELECT name FROM pragma_index_info(il.name) ORDER BY seqno) AS ii) \
             FROM pragma_index_list($1) AS il WHERE il.origin = 'c'",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?;
        tables.push(Table {
            name,
            columns,
            primary_key: key.into_iter().map(|(_, column)| column).collect(),
            indexes: indexes
                .into_iter()
                .map(|(name, unique, columns)| Index {
                    name,
                    columns: split(&columns),
                    unique,
                })
                .collect(),
        });
    }
    Ok(tables)
}

async fn describe_postgres(pool: &sqlx::PgPool) -> sqlx::Result<Vec<Table>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    let mut tables = Vec::new();
    for name in names.into_iter().filter(|name| is_ours(name)) {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, is_nullable::text \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?;
        let columns = rows
            .into_iter()
            .map(|(column, kind, nullable)| Column {
                name: column,
                kind: match kind.as_str() {
                    "bigint" | "boolean" => "integer".to_owned(),
                    "text" => "text".to_owned(),
                    "bytea" => "bytes".to_owned(),
                    other => other.to_owned(),
                },
                nullable: nullable == "YES",
            })
            .collect();
        let indexes: Vec<(String, bool, bool, String)> = sqlx::query_as(
            "SELECT ic.relname::text, i.indisunique, i.indisprimary, \
             (SELECT string_agg(a.attname::text, ',' ORDER BY k.ord) \
              FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             WHERE i.indrelid = $1::regclass",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?;
        let primary_key = indexes
            .iter()
            .find(|index| index.2)
            .map(|index| split(&index.3))
            .unwrap_or_default();
        tables.push(Table {
            name,
            columns,
            primary_key,
            indexes: indexes
                .into_iter()
                .filter(|index| !index.2)
                .map(|(name, unique, _, columns)| Index {
                    name,
                    columns: split(&columns),
                    unique,
                })
                .collect(),
        });
    }
    Ok(tables)
}
