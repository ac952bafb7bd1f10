//! The two engines' schemas cannot drift: same migration versions, same tables, columns,
//! keys and indexes.

use std::path::Path;
use std::time::Duration;

use quire_storage::{Db, DbOptions, Durability};

use crate::helpers::FreshPostgres;

fn versions(engine: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../storage/migrations")
        .join(engine);
    let mut versions: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .map(|name| name.split('_').next().unwrap().to_owned())
        .collect();
    versions.sort();
    versions
}

fn options(url: String, data: &Path) -> DbOptions {
    DbOptions {
        url: Some(url),
        data_dir: data.to_path_buf(),
        durability: Durability::Normal,
        pool_size: 2,
        acquire_timeout: Duration::from_secs(5),
        statement_cache: 100,
        statement_timeout: None,
    }
}

#[test]
fn both_engines_have_the_same_migration_versions() {
    let sqlite = versions("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, versions("postgres"));
}

#[tokio::test]
#[cfg_attr(
    not(quire_test_postgres),
    ignore = "QUIRE_TEST_POSTGRES_URL is not set"
)]
async fn both_engines_build_the_same_schema() {
    let data = tempfile::tempdir().unwrap();
    let postgres = FreshPostgres::create().await;
    let sqlite_url = format!("sqlite://{}", data.path().join("schema.db").display());
    let sqlite = Db::open(&options(sqlite_url, data.path())).await.unwrap();
    let pg = Db::open(&options(postgres.url.clone(), data.path()))
        .await
        .unwrap();
    assert_eq!(
        sqlite.applied_migrations().await.unwrap(),
        pg.applied_migrations().await.unwrap()
    );

    let from_sqlite = quire_storage::schema::describe(&sqlite).await.unwrap();
    let from_pg = quire_storage::schema::describe(&pg).await.unwrap();
    let names = |tables: &[quire_storage::schema::Table]| {
        tables
            .iter()
            .map(|table| table.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&from_sqlite), names(&from_pg));
    assert!(from_sqlite.len() >= 8, "{:?}", names(&from_sqlite));
    // The comparison has substance: the tables are described in full.
    let users = from_pg.iter().find(|table| table.name == "users").unwrap();
    assert_eq!(users.columns.len(), 13);
    assert_eq!(users.primary_key, ["id"]);
    let unique: Vec<_> = users
        .indexes
        .iter()
        .filter(|index| index.unique)
        .map(|index| index.name.as_str())
        .collect();
    assert_eq!(unique, ["users_email_key", "users_username_key"]);
    let favorites = from_sqlite
        .iter()
        .find(|table| table.name == "favorites")
        .unwrap();
    assert_eq!(favorites.primary_key, ["user_id", "post_id"]);
    assert_eq!(favorites.indexes[0].columns, ["post_id", "user_id"]);
    for (lite, pg) in from_sqlite.iter().zip(&from_pg) {
        assert_eq!(lite.columns, pg.columns, "columns of {}", lite.name);
        assert_eq!(
            lite.primary_key, pg.primary_key,
            "primary key of {}",
            lite.name
        );
        assert_eq!(lite.indexes, pg.indexes, "indexes of {}", lite.name);
    }
    sqlite.close().await;
    pg.close().await;
}

#[tokio::test]
#[cfg_attr(
    not(quire_test_postgres),
    ignore = "QUIRE_TEST_POSTGRES_URL is not set"
)]
async fn tls_modes_that_verify_are_enforced_not_downgraded() {
    use sqlx::Connection;
    // A database of its own: opening one migrates it, and the server's shared database must
    // not carry any one build's migrations.
    let fresh = FreshPostgres::create().await;
    let admin_url = fresh.url.clone();
    let data = tempfile::tempdir().unwrap();
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    let with_mode = |mode: &str| format!("{admin_url}{separator}sslmode={mode}");
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let server_tls: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&mut admin)
        .await
        .unwrap();

    // The server under test has no certificate a client could verify (none, or Debian's
    // self-signed one): modes that verify must refuse to connect, never fall back.
    for mode in ["verify-full", "verify-ca"] {
        let opened = Db::open(&options(with_mode(mode), data.path())).await;
        assert!(
            opened.is_err(),
            "sslmode={mode} connected without a verifiable certificate"
        );
    }
    let required = Db::open(&options(with_mode("require"), data.path())).await;
    if server_tls == "on" {
        // Encrypted, unverified: the connection really is TLS.
        required.unwrap().close().await;
        let mut tls = sqlx::PgConnection::connect(&with_mode("require"))
            .await
            .unwrap();
        let encrypted: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&mut tls)
                .await
                .unwrap();
        assert!(encrypted);
    } else {
        assert!(required.is_err(), "sslmode=require connected in plain text");
    }
}
