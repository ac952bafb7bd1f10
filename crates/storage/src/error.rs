//! Turning database errors into core errors, in one place.

use quire_core::Error;

/// Maps a database error to its meaning. A unique-key violation names the field that
/// collided; an unreachable or locked database is a retryable unavailability.
pub(crate) fn db_error(error: sqlx::Error) -> Error {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let message = db.message();
            for (column, field) in [
                ("users.username_key", "username"),
                ("users.email_key", "email"),
                ("posts.slug", "slug"),
            ] {
                if message.contains(column) {
                    return Error::taken(field);
                }
            }
            Error::internal(error)
        }
        sqlx::Error::Database(db) if is_busy(db.code().as_deref()) => Error::Unavailable {
            reason: "database is busy",
            retry_after_secs: 1,
        },
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Error::Unavailable {
                reason: "database is unreachable",
                retry_after_secs: 2,
            }
        }
        _ => Error::internal(error),
    }
}

/// Like [`db_error`], but a foreign-key violation means the referenced `resource` went away
/// between the check and the write (say, a post deleted while being favorited).
pub(crate) fn db_error_or_gone(error: sqlx::Error, resource: quire_core::Resource) -> Error {
    match &error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => Error::NotFound(resource),
        _ => db_error(error),
    }
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
fn is_busy(code: Option<&str>) -> bool {
    code.and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_locked_codes_are_recognized() {
        assert!(is_busy(Some("5")));
        assert!(is_busy(Some("517")));
        assert!(is_busy(Some("6")));
        assert!(!is_busy(Some("19")));
        assert!(!is_busy(None));
    }

    #[test]
    fn pool_timeouts_are_unavailable() {
        assert!(matches!(
            db_error(sqlx::Error::PoolTimedOut),
            Error::Unavailable { .. }
        ));
    }
}
