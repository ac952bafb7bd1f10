//! One statement, two dialects, and the macros that run a statement body on whichever engine
//! is open. Each body is type-checked once per engine, so its binds and row types must suit
//! both drivers; the SQL text itself is not checked by the compiler but by the integration
//! tests, which run every statement on both engines. Every execution is counted.

/// A statement in each engine's dialect. Most statements are one text for both ([`Sql::both`]);
/// where the dialects differ (JSON aggregation, `MAX` against `GREATEST`) each has its own.
#[derive(Clone, Copy)]
pub(crate) struct Sql {
    pub(crate) sqlite: &'static str,
    pub(crate) pg: &'static str,
}

impl Sql {
    pub(crate) const fn both(sql: &'static str) -> Self {
        Self {
            sqlite: sql,
            pg: sql,
        }
    }

    pub(crate) fn of(self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.pg,
        }
    }
}

/// Which engine's spelling a statement assembled at run time takes.
#[derive(Clone, Copy)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// Runs `$body` with `$ex` bound to the engine's pool for reads and `$sql` to the statement's
/// spelling for that engine.
macro_rules! on_reader {
    // A statement assembled at run time: the body spells it for `$engine`.
    ($db:expr, |$ex:ident, $engine:ident| $body:expr) => {{
        $db.stmt();
        match &$db.engine {
            $crate::db::Engine::Sqlite(pools) => {
                match $crate::db::acquire(&pools.reader, "sqlite_reader").await {
                    Ok(mut connection) => {
                        let ($ex, $engine) = (&mut *connection, $crate::sql::Dialect::Sqlite);
                        $crate::sql::traced("SELECT posts", async { $body }).await
                    }
                    Err(error) => Err(error),
                }
            }
            $crate::db::Engine::Postgres(pool) => {
                match $crate::db::acquire(pool, "postgres").await {
                    Ok(mut connection) => {
                        let ($ex, $engine) = (&mut *connection, $crate::sql::Dialect::Postgres);
                        $crate::sql::traced("SELECT posts", async { $body }).await
                    }
                    Err(error) => Err(error),
                }
            }
        }
    }};
    ($db:expr, $stmt:expr, |$ex:ident, $sql:ident| $body:expr) => {{
        $db.stmt();
        match &$db.engine {
            $crate::db::Engine::Sqlite(pools) => {
                match $crate::db::acquire(&pools.reader, "sqlite_reader").await {
                    Ok(mut connection) => {
                        let ($ex, $sql) = (&mut *connection, $stmt.sqlite);
                        $crate::sql::traced($sql, async { $body }).await
                    }
                    Err(error) => Err(error),
                }
            }
            $crate::db::Engine::Postgres(pool) => {
                match $crate::db::acquire(pool, "postgres").await {
                    Ok(mut connection) => {
                        let ($ex, $sql) = (&mut *connection, $stmt.pg);
                        $crate::sql::traced($sql, async { $body }).await
                    }
                    Err(error) => Err(error),
                }
            }
        }
    }};
}
pub(crate) use on_reader;

/// Runs a single-statement write: on SQLite's writer connection, or PostgreSQL's pool. One
/// statement is atomic on its own; several go through [`on_tx`].
macro_rules! on_writer {
    ($db:expr, $stmt:expr, |$ex:ident, $sql:ident| $body:expr) => {{
        $db.stmt();
        match &$db.engine {
            // On SQLite the statement is a write of its own in the open group.
            $crate::db::Engine::Sqlite(pools) => match pools.writer.begin().await {
                Ok(mut write) => {
                    let ($ex, $sql) = (&mut *write, $stmt.sqlite);
                    match $crate::sql::traced($sql, async { $body }).await {
                        Ok(value) => write.commit().await.map(|()| value),
                        Err(error) => Err(error),
                    }
                }
                Err(error) => Err(error),
            },
            $crate::db::Engine::Postgres(pool) => {
                match $crate::db::acquire(pool, "postgres").await {
                    Ok(mut connection) => {
                        let ($ex, $sql) = (&mut *connection, $stmt.pg);
                        $crate::sql::traced($sql, async { $body }).await
                    }
                    Err(error) => Err(error),
                }
            }
        }
    }};
}
pub(crate) use on_writer;

/// Runs `$body` inside the open transaction `$tx` (a `&mut Tx`).
macro_rules! on_tx {
    ($db:expr, $tx:expr, $stmt:expr, |$ex:ident, $sql:ident| $body:expr) => {{
        $db.stmt();
        match &mut ($tx).conn {
            $crate::db::TxConn::Sqlite(tx) => {
                let ($ex, $sql) = (&mut **tx, $stmt.sqlite);
                $crate::sql::traced($sql, async { $body }).await
            }
            $crate::db::TxConn::Postgres(tx) => {
                let ($ex, $sql) = (&mut **tx, $stmt.pg);
                $crate::sql::traced($sql, async { $body }).await
            }
        }
    }};
}
pub(crate) use on_tx;

/// Binds a list as one JSON array text, read back with `json_each` (SQLite) or
/// `json_array_elements_text` (PostgreSQL), so a statement's text does not depend on the
/// list's length and stays in the statement cache.
pub(crate) fn json_list<I, S>(items: I) -> quire_core::Result<String>
where
    I: IntoIterator<Item = S>,
    S: serde::Serialize,
{
    serde_json::to_string(&items.into_iter().collect::<Vec<_>>())
        .map_err(quire_core::Error::internal)
}

/// The ids of a JSON array bound as `$n` (see [`json_list`]), as a subquery for `IN`.
macro_rules! ids_in {
    (sqlite, $param:literal) => {
        concat!("(SELECT value FROM json_each(", $param, "))")
    };
    (pg, $param:literal) => {
        concat!(
            "(SELECT CAST(value AS BIGINT) FROM json_array_elements_text(",
            $param,
            "::json))"
        )
    };
}
pub(crate) use ids_in;

/// Runs one statement inside a `db.statement` span named by its kind and table (never its
/// parameters), for traces. The span is at debug level: where nothing exports traces the
/// callsite stays disabled and costs next to nothing.
pub(crate) async fn traced<T>(sql: &str, run: impl std::future::Future<Output = T>) -> T {
    use tracing::Instrument;
    let span = tracing::debug_span!(
        "db.statement",
        otel.name = tracing::field::Empty,
        otel.kind = "client",
        db.operation.name = tracing::field::Empty,
        db.collection.name = tracing::field::Empty,
    );
    if !span.is_disabled() {
        let (operation, table) = describe(sql);
        span.record("otel.name", format!("{operation} {table}"));
        span.record("db.operation.name", operation);
        span.record("db.collection.name", table);
    }
    run.instrument(span).await
}

/// The kind of a statement and the first table it names.
pub(crate) fn describe(sql: &str) -> (&'static str, &str) {
    let words: Vec<&str> = sql.split_whitespace().take(400).collect();
    let operation = match words
        .first()
        .map(|word| word.to_ascii_uppercase())
        .as_deref()
    {
        Some("SELECT") | Some("WITH") => "SELECT",
        Some("INSERT") => "INSERT",
        Some("UPDATE") => "UPDATE",
        Some("DELETE") => "DELETE",
        Some("BEGIN") | Some("COMMIT") | Some("ROLLBACK") => "TRANSACTION",
        _ => "OTHER",
    };
    let after = match operation {
        "INSERT" => "INTO",
        "UPDATE" => "UPDATE",
        _ => "FROM",
    };
    let table = words
        .iter()
        .position(|word| word.eq_ignore_ascii_case(after))
        .and_then(|at| words.get(at + 1))
        .map(|word| word.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|word| !word.is_empty())
        .unwrap_or("?");
    (operation, table)
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn statements_are_described_by_kind_and_table() {
        assert_eq!(
            describe("SELECT id FROM users WHERE id = $1"),
            ("SELECT", "users")
        );
        assert_eq!(
            describe("INSERT INTO comments (post_id) VALUES ($1)"),
            ("INSERT", "comments")
        );
        assert_eq!(describe("UPDATE posts SET title = $2"), ("UPDATE", "posts"));
        assert_eq!(
            describe("DELETE FROM favorites WHERE x"),
            ("DELETE", "favorites")
        );
        assert_eq!(describe("SELECT 1"), ("SELECT", "?"));
    }
}
