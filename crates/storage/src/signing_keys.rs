//! The keys that sign access tokens (`quire_core::ports::SigningKeyStore`).

use quire_core::Result;
use quire_core::ports::{SigningKeyStore, StoredSigningKey};
use quire_core::time::Timestamp;

use crate::db::Db;
use crate::error::db_error;
use crate::sql::{Sql, on_reader, on_tx};

const LIVE: Sql = Sql::both(
    "SELECT kid, algorithm, private_key, public_jwk, created_at, retires_at FROM signing_keys \
     WHERE retires_at IS NULL OR retires_at > $1 ORDER BY created_at DESC, kid DESC",
);

const RETIRE: Sql = Sql::both("UPDATE signing_keys SET retires_at = $1 WHERE retires_at IS NULL");

const PRUNE: Sql = Sql::both("DELETE FROM signing_keys WHERE retires_at < $1");

const INSERT: Sql = Sql::both(
    "INSERT INTO signing_keys (kid, algorithm, private_key, public_jwk, created_at, retires_at) \
     VALUES ($1, $2, $3, $4, $5, NULL)",
);

type Row = (String, String, String, String, i64, Option<i64>);

fn stored(
    (kid, algorithm, private_key, public_jwk, created_at, retires_at): Row,
) -> StoredSigningKey {
    StoredSigningKey {
        kid,
        algorithm,
        private_key,
        public_jwk,
        created_at: Timestamp::from_millis(created_at),
        retires_at: retires_at.map(Timestamp::from_millis),
    }
}

impl SigningKeyStore for Db {
    async fn signing_keys(&self, now: Timestamp) -> Result<Vec<StoredSigningKey>> {
        let rows: Vec<Row> = on_reader!(self, LIVE, |ex, sql| {
            sqlx::query_as(sql)
                .bind(now.as_millis())
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(rows.into_iter().map(stored).collect())
    }

    async fn add_signing_key(
        &self,
        key: &StoredSigningKey,
        retire_others_at: Option<Timestamp>,
        prune_before: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        if let Some(at) = retire_others_at {
            on_tx!(self, &mut tx, RETIRE, |ex, sql| {
                sqlx::query(sql)
                    .bind(at.as_millis())
                    .execute(ex)
                    .await
                    .map(drop)
            })
            .map_err(db_error)?;
        }
        on_tx!(self, &mut tx, PRUNE, |ex, sql| {
            sqlx::query(sql)
                .bind(prune_before.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        on_tx!(self, &mut tx, INSERT, |ex, sql| {
            sqlx::query(sql)
                .bind(&key.kid)
                .bind(&key.algorithm)
                .bind(&key.private_key)
                .bind(&key.public_jwk)
                .bind(key.created_at.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        self.commit(tx).await
    }
}
