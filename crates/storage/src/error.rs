//! Turning database errors into core errors, in one place, for both engines.

use quire_core::{Error, Resource};

/// Unique indexes and the input field each protects. Both engines' schemas use these names;
/// SQLite reports the indexed column (`users.username_key`), PostgreSQL the index name.
const UNIQUE_FIELDS: [(&str, &str, &str); 3] = [
    ("users_username_key", "users.username_key", "username"),
    ("users_email_key", "users.email_key", "email"),
    ("posts_slug_key", "posts.slug", "slug"),
];

/// Maps a database error to its meaning. A unique-key violation names the field that
/// collided; a lost race is retryable; an unreachable database is unavailable.
pub(crate) fn db_error(error: sqlx::Error) -> Error {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let constraint = db.constraint().unwrap_or_default();
            let message = db.message();
            UNIQUE_FIELDS
                .iter()
                .find(|(index, column, _)| constraint == *index || message.contains(column))
                .map_or_else(
                    || Error::internal(error.to_string()),
                    |(_, _, field)| Error::taken(field),
                )
        }
        sqlx::Error::Database(db) if is_lost_race(db.code().as_deref()) => Error::Busy,
        sqlx::Error::Database(db) if is_unavailable(db.code().as_deref()) => unreachable_db(),
        // query_canceled: the statement ran past its `statement_timeout`, the database is
        // slower than requests can wait.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => Error::Unavailable {
            reason: "the database is overloaded",
            retry_after_secs: 2,
        },
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => unreachable_db(),
        sqlx::Error::Protocol(_) => unreachable_db(),
        _ => Error::internal(error),
    }
}

fn unreachable_db() -> Error {
    Error::Unavailable {
        reason: "database is unreachable",
        retry_after_secs: 2,
    }
}

/// Like [`db_error`], but a foreign-key violation means the referenced `resource` went away
/// between the check and the write (say, a post deleted while being favorited).
pub(crate) fn db_error_or_gone(error: sqlx::Error, resource: Resource) -> Error {
    match &error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => Error::NotFound(resource),
        _ => db_error(error),
    }
}

/// SQLite's BUSY (5) and LOCKED (6) with their extended codes; PostgreSQL's
/// serialization_failure (40001) and deadlock_detected (40P01).
fn is_lost_race(code: Option<&str>) -> bool {
    match code {
        Some("40001" | "40P01") => true,
        // PostgreSQL's SQLSTATEs have five characters; SQLite's numeric codes fewer.
        Some(code) if code.len() < 5 => code
            .parse::<i32>()
            .is_ok_and(|code| matches!(code & 0xff, 5 | 6)),
        _ => false,
    }
}

/// PostgreSQL codes that mean the server cannot serve now: connection exceptions (08),
/// shutting down or starting up (57P01-57P03), too many connections (53300).
fn is_unavailable(code: Option<&str>) -> bool {
    code.is_some_and(|code| {
        code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_races_are_recognized_on_both_engines() {
        assert!(is_lost_race(Some("5")));
        assert!(is_lost_race(Some("517")));
        assert!(is_lost_race(Some("6")));
        assert!(is_lost_race(Some("40001")));
        assert!(is_lost_race(Some("40P01")));
        assert!(!is_lost_race(Some("19")));
        assert!(!is_lost_race(Some("23505")));
        assert!(
            !is_lost_race(Some("22021")),
            "a PostgreSQL code is not read as SQLite's"
        );
        assert!(!is_lost_race(None));
    }

    #[test]
    fn connection_failures_are_unavailable() {
        assert!(matches!(
            db_error(sqlx::Error::PoolTimedOut),
            Error::Unavailable { .. }
        ));
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(db_error(io), Error::Unavailable { .. }));
        assert!(is_unavailable(Some("08006")));
        assert!(is_unavailable(Some("57P01")));
        assert!(!is_unavailable(Some("23505")));
    }

    #[test]
    fn a_statement_past_its_timeout_is_unavailable_not_internal() {
        use crate::group_commit::GroupError;
        let canceled = sqlx::Error::Database(Box::new(GroupError::coded("57014")));
        assert!(matches!(
            db_error(canceled),
            Error::Unavailable {
                retry_after_secs: 2,
                ..
            }
        ));
        let other = sqlx::Error::Database(Box::new(GroupError::coded("22021")));
        assert!(matches!(db_error(other), Error::Internal(..)));
    }
}
