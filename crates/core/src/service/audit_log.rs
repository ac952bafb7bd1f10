//! Reading the audit log (`crate::audit`): admins only.

use super::Quire;
use crate::audit::AuditEntry;
use crate::error::{Error, FieldErrors, Resource, Result};
use crate::events::EventId;
use crate::policy::{self, Actor};
use crate::ports::Store;

/// The most entries one read returns.
const MAX_ENTRIES: u32 = 1000;

impl<S: Store> Quire<S> {
    /// Up to `limit` (1 to 1,000) entries older than the entry `before` (the newest when
    /// `None`), newest first.
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin; [`Error::Malformed`] for a `before`
    /// that is not an entry id; [`Error::Invalid`] for a `limit` out of range.
    pub async fn audit_log(
        &self,
        actor: &Actor,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        if !policy::may_manage_users(actor) {
            return Err(Error::Forbidden(Resource::User));
        }
        let before = match before {
            None => None,
            Some(text) => Some(EventId::parse(text).ok_or_else(|| {
                Error::Malformed(FieldErrors::single(
                    "cursor",
                    "is not a cursor this server made",
                ))
            })?),
        };
        if !(1..=MAX_ENTRIES).contains(&limit) {
            return Err(Error::invalid("limit", "must be from 1 to 1000"));
        }
        self.store.audit_log(before.as_ref(), limit).await
    }
}
