//! What the core needs from the outside world. Adapters implement these; tests may too.

use std::future::Future;
use std::pin::Pin;

use crate::error::Result;
use crate::events::{Event, PostData};
use crate::ids::{CommentId, DeliveryId, PostId, SessionId, UserId, WebhookId};
use crate::model::{
    Claim, Comment, CommentRef, CommentWindow, FollowDirection, IdempotentResponse, KeysetPage,
    KeysetRequest, NewComment, NewPost, NewUser, PageRequest, Post, PostBody, PostChanges,
    PostFilter, PostLink, PostPage, PostRef, Profile, Rendering, SearchDocument, User, UserChanges,
    ViewerMarks,
};
use crate::time::Timestamp;
use crate::values::{
    Body, Description, Email, Password, PasswordHash, Slug, TagName, Title, Username,
};
use crate::webhooks::{
    Attempt, AttemptOutcome, Delivery, DueDelivery, NewWebhook, SealedSecrets, Webhook,
    WebhookChanges, WebhookUrl,
};

/// A boxed future, for ports used behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The events a write records in its own transaction (the outbox), made from what the write
/// produced (a new row's id, the row as written). Called once per attempt: a write retried
/// after losing a race records the events of the attempt that commits.
pub type Record<'a, T> = &'a (dyn Fn(&T) -> Vec<Event> + Send + Sync);

/// Durable state. Every method is one transaction: a write that touches several tables
/// (a post and its tags, a favorite and its counters) commits or rolls back whole, with the
/// domain events it records in the outbox.
///
/// Unique-key collisions come back as [`crate::Error::Conflict`] on the field concerned
/// (`username`, `email`, `slug`); an unreachable database as [`crate::Error::Unavailable`].
pub trait Store:
    UserStore
    + PostStore
    + CommentStore
    + BatchStore
    + IdempotencyStore
    + SearchStore
    + OutboxStore
    + WebhookStore
    + SignInStore
    + SessionStore
    + AuditStore
    + OpenIdStore
    + Clone
    + Send
    + Sync
    + 'static
{
    /// Whether the database answers.
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
}

/// The audit log (`crate::audit`).
pub trait AuditStore {
    /// Records events that go with no other change (a sign-in, an attempt), in a
    /// transaction of their own; their `audit.recorded` ones also become audit rows.
    fn record_alone(&self, events: &[Event]) -> impl Future<Output = Result<()>> + Send;
    /// Up to `limit` entries older than `before` (all when `None`), newest first.
    fn audit_log(
        &self,
        before: Option<&crate::events::EventId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<crate::audit::AuditEntry>>> + Send;
}

/// Accounts, profiles and follows.
pub trait UserStore {
    fn insert_user(
        &self,
        user: &NewUser,
        record: Record<'_, User>,
    ) -> impl Future<Output = Result<User>> + Send;
    fn user_by_id(&self, id: UserId) -> impl Future<Output = Result<Option<User>>> + Send;
    /// The user with this email (compared by [`Email::key`]) and their password hash.
    fn credentials_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<(User, PasswordHash)>>> + Send;
    fn update_user(
        &self,
        id: UserId,
        changes: &UserChanges,
        at: Timestamp,
        record: Record<'_, User>,
    ) -> impl Future<Output = Result<User>> + Send;
    /// Replaces the user's password hash `old` by `new`, a hash of the same password with the
    /// current parameters: not a change to the account, so no event and no `updated_at`. A
    /// hash that is no longer `old` (the password changed meanwhile) stays. Answers whether
    /// it was replaced.
    fn replace_password_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> impl Future<Output = Result<bool>> + Send;

    fn profile(
        &self,
        username: &Username,
        viewer: Option<UserId>,
    ) -> impl Future<Output = Result<Option<Profile>>> + Send;
    /// Idempotent: following twice is following; `events` are recorded only when the follow
    /// is new.
    fn follow(
        &self,
        follower: UserId,
        followee: UserId,
        at: Timestamp,
        events: &[Event],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Users by ascending id, after `after`, at most `limit`.
    fn list_users(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<User>>> + Send;
    /// Users following `user` (`followers`) or followed by them, by ascending id, after
    /// `after`, at most `limit`.
    fn follow_list(
        &self,
        user: UserId,
        direction: FollowDirection,
        after: Option<UserId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<User>>> + Send;
    /// Idempotent: unfollowing someone not followed changes nothing and records nothing.
    fn unfollow(
        &self,
        follower: UserId,
        followee: UserId,
        events: &[Event],
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Told, in the process that wrote, of each write's events as soon as the write commits and
/// before its caller hears of it: the cache's invalidation hangs here, so that a writer's
/// next read is never stale. Must not block: it runs on the write's path.
pub trait CommitListener: Send + Sync {
    fn committed(&self, events: &[Event]);

    /// Awaited after a commit's [`CommitListener::committed`], before the write returns:
    /// resolves once what it set off is seen by every instance (the shared cache's
    /// invalidation), or could not be. At once unless the listener says otherwise.
    fn settled(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// Posts, their tags, and favorites.
pub trait PostStore {
    fn insert_post(
        &self,
        post: &NewPost,
        record: Record<'_, PostId>,
    ) -> impl Future<Output = Result<PostId>> + Send;
    fn post_ref(&self, slug: &Slug) -> impl Future<Output = Result<Option<PostRef>>> + Send;
    /// The full post with its body, as `viewer` sees it.
    fn post(
        &self,
        id: PostId,
        viewer: Option<UserId>,
    ) -> impl Future<Output = Result<Option<Post>>> + Send;
    /// The full post with its body, as `viewer` sees it, found by slug in one statement.
    fn post_by_slug(
        &self,
        slug: &Slug,
        viewer: Option<UserId>,
    ) -> impl Future<Output = Result<Option<Post>>> + Send;
    /// Writes `changes` and records the events `record` makes of the post as the write left
    /// it (read inside the write's transaction, so concurrent changes cannot mix into it).
    fn update_post(
        &self,
        id: PostId,
        changes: &PostChanges,
        record: Record<'_, PostData>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Removes the post with its tags, favorites and comments.
    /// With `expected_updated_at`, deletes only if the post is still that version, else
    /// answers [`crate::Error::Stale`].
    fn delete_post(
        &self,
        id: PostId,
        expected_updated_at: Option<Timestamp>,
        events: &[Event],
    ) -> impl Future<Output = Result<()>> + Send;
    /// A page of published posts, newest first, without bodies, in a fixed number of statements.
    fn list_posts(
        &self,
        filter: &PostFilter,
        page: PageRequest,
        viewer: Option<UserId>,
    ) -> impl Future<Output = Result<PostPage>> + Send;
    /// A keyset page of published posts, newest first, without bodies, in one statement.
    fn page_posts(
        &self,
        filter: &PostFilter,
        page: KeysetRequest,
        viewer: Option<UserId>,
    ) -> impl Future<Output = Result<KeysetPage>> + Send;
    fn post_ref_by_id(&self, id: PostId) -> impl Future<Output = Result<Option<PostRef>>> + Send;
    /// Idempotent; `events` are recorded only when the favorite is new.
    fn favorite(
        &self,
        user: UserId,
        post: PostId,
        at: Timestamp,
        events: &[Event],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Idempotent; `events` are recorded only when a favorite was removed.
    fn unfavorite(
        &self,
        user: UserId,
        post: PostId,
        events: &[Event],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Drafts scheduled at or before `now`, earliest first, at most `limit`.
    fn due_posts(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PostId>>> + Send;

    /// The published posts of `author`'s series `name` in `language` (none: posts with no
    /// language), by position, then publication; at most 500.
    fn series_posts(
        &self,
        author: UserId,
        name: &str,
        language: Option<&str>,
    ) -> impl Future<Output = Result<Vec<PostLink>>> + Send;

    /// The highest id any post has had (none before the first).
    fn highest_post_id(&self) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// Up to `limit` posts after id `after`, by id, whose body has no rendering by `renderer`
    /// (written before bodies were rendered, or by an older renderer): id, `updated_at`, body.
    fn posts_to_render(
        &self,
        after: i64,
        limit: u32,
        renderer: u32,
    ) -> impl Future<Output = Result<Vec<(PostId, Timestamp, Body)>>> + Send;

    /// Stores each post's rendering if the post is still as it was at the given `updated_at`
    /// (a write since rendered it itself). Not a change to the post: `updated_at` stays.
    fn store_renderings(
        &self,
        renderings: &[(PostId, Timestamp, Rendering)],
    ) -> impl Future<Output = Result<()>> + Send;

    /// The published posts with ids in `[from, to)`, by id: each as a link, with its
    /// `updated_at` and translation group.
    fn published_between(
        &self,
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<Vec<(PostLink, Timestamp, Option<i64>)>>> + Send;

    /// The published posts of translation groups, with their group, by group then language.
    fn translations(
        &self,
        groups: &[i64],
    ) -> impl Future<Output = Result<Vec<(i64, PostLink)>>> + Send;

    /// Tags on at least one published post, most used first.
    fn tags(&self) -> impl Future<Output = Result<Vec<TagName>>> + Send;
}

/// Comments on posts.
pub trait CommentStore {
    fn insert_comment(
        &self,
        comment: &NewComment,
        record: Record<'_, CommentId>,
    ) -> impl Future<Output = Result<CommentId>> + Send;
    fn comment_ref(&self, id: CommentId)
    -> impl Future<Output = Result<Option<CommentRef>>> + Send;
    fn comment(
        &self,
        id: CommentId,
        viewer: Option<UserId>,
    ) -> impl Future<Output = Result<Option<Comment>>> + Send;
    /// The window of a post's comments, oldest first.
    fn comments(
        &self,
        post: PostId,
        window: CommentWindow,
        viewer: Option<UserId>,
    ) -> impl Future<Output = Result<Vec<Comment>>> + Send;
    fn delete_comment(
        &self,
        id: CommentId,
        events: &[Event],
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Reads of many rows by many keys at once, for transports that resolve a graph (GraphQL's
/// batch loaders): each is one statement however many keys it is given, so a page of twenty
/// posts costs what a page of one does. Keys that match nothing are left out of the answer.
pub trait BatchStore {
    fn users_by_ids(&self, ids: &[UserId]) -> impl Future<Output = Result<Vec<User>>> + Send;
    /// Which of `ids` the user `follower` follows.
    fn followed_among(
        &self,
        follower: UserId,
        ids: &[UserId],
    ) -> impl Future<Output = Result<Vec<UserId>>> + Send;
    fn post_refs(&self, ids: &[PostId]) -> impl Future<Output = Result<Vec<PostRef>>> + Send;
    /// What `viewer` has done to what a shared read shows, in one statement: which of `posts`
    /// they favorited and which of `authors` they follow.
    fn viewer_marks(
        &self,
        viewer: UserId,
        posts: &[PostId],
        authors: &[UserId],
    ) -> impl Future<Output = Result<ViewerMarks>> + Send;
    /// The bodies of posts, with what the policy needs to decide who may read them.
    fn post_bodies(
        &self,
        ids: &[PostId],
    ) -> impl Future<Output = Result<Vec<(PostRef, PostBody)>>> + Send;
    /// Those of `ids` that are published, as lists show them (without bodies), by id.
    fn published_posts(
        &self,
        ids: &[PostId],
        viewer: Option<UserId>,
    ) -> impl Future<Output = Result<Vec<Post>>> + Send;
    /// Each author's newest `per_author` published posts, without bodies, newest first per
    /// author.
    fn posts_by_authors(
        &self,
        authors: &[UserId],
        per_author: u32,
        viewer: Option<UserId>,
    ) -> impl Future<Output = Result<Vec<Post>>> + Send;
    /// The first `per_user` followers (or followees) of each of several users, by ascending
    /// id, each with the user whose list it is in.
    fn follow_lists(
        &self,
        users: &[UserId],
        direction: FollowDirection,
        per_user: u32,
    ) -> impl Future<Output = Result<Vec<(UserId, User)>>> + Send;
    /// The first `per_post` comments of each of several posts, oldest first per post.
    fn comments_of_posts(
        &self,
        posts: &[PostId],
        per_post: u32,
        viewer: Option<UserId>,
    ) -> impl Future<Output = Result<Vec<Comment>>> + Send;
}

/// What the search index holds: how many posts (every post, drafts too, has an entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SearchStats {
    pub documents: i64,
}

/// A query term as the index holds it: how many posts hold it (BM25's document frequency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermStats {
    pub term: String,
    pub documents_with: i64,
}

/// A post as an index rebuild reads it: id, `updated_at`, title, description and body.
pub type ToIndex = (PostId, Timestamp, Title, Description, Body);

/// One pass of a ranked search over the index, as the core prepared it: the best postings of
/// the first term are read, and their posts scored.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexQuery {
    /// Each distinct query term with its inverse document frequency (BM25's idf); the first
    /// is the term whose postings are read, best first.
    pub terms: Vec<(String, f64)>,
    /// Only posts in this language (a canonical BCP 47 tag).
    pub language: Option<String>,
    pub author: Option<UserId>,
    pub tag: Option<String>,
    /// How many of the first term's postings to read, highest impact first (the newer post
    /// first among equals).
    pub scan: u32,
    /// How many of the best posts found to answer.
    pub wanted: u32,
}

/// What one pass found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Candidates {
    /// Up to `wanted` posts among those read: published, passing the filters and holding
    /// every term; each with its score, Σ idf × impact over the terms (impacts in their stored
    /// units); best first, the newer post first among equals.
    pub ranked: Vec<(PostId, f64)>,
    /// How many postings were read: fewer than `scan` when the term has no more.
    pub scanned: u32,
    /// The impact of the last posting read (0 when none was): no unread posting's is higher.
    pub floor: i64,
    /// The most the terms after the first can add to any post's score, read with the
    /// postings: Σ idf × the term's highest impact (0 for a term no post holds any more).
    pub others: f64,
}

/// The full-text index, in the database so that every instance searches the same one. Each
/// post's entry is written in the transaction that writes the post.
pub trait SearchStore {
    /// How many indexed posts hold each of `terms` (a term none holds is left out, or has 0
    /// posts): a count of the term's postings, which grows with the posts holding it.
    fn term_stats(&self, terms: &[String]) -> impl Future<Output = Result<Vec<TermStats>>> + Send;
    fn search_stats(&self) -> impl Future<Output = Result<SearchStats>> + Send;
    /// One pass over the best postings of `query`'s first term.
    fn search(&self, query: &IndexQuery) -> impl Future<Output = Result<Candidates>> + Send;
    /// The body excerpts the index keeps for these posts, which snippets are cut from (a post
    /// with no entry is left out).
    fn excerpts(
        &self,
        posts: &[PostId],
    ) -> impl Future<Output = Result<Vec<(PostId, String)>>> + Send;
    /// Up to `limit` posts after id `after`, by id, with what their index entry is made of;
    /// `missing_only`: only posts that have no entry.
    fn posts_to_index(
        &self,
        after: i64,
        limit: u32,
        missing_only: bool,
    ) -> impl Future<Output = Result<Vec<ToIndex>>> + Send;
    /// Replaces the index entries of these posts, in one transaction, each only if the post
    /// is still as it was at the given `updated_at` (a write since has indexed it itself).
    fn write_search_documents(
        &self,
        documents: &[(PostId, Timestamp, SearchDocument)],
    ) -> impl Future<Output = Result<()>> + Send;
}

/// The failed sign-ins on record for one account, and the lock they earned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInFailures {
    /// The email tried, as parsed and lowercased, whether or not an account has it.
    pub account: String,
    /// Failures in a row, each within the failure window of the one before.
    pub failures: u32,
    pub last_failed_at: Timestamp,
    /// Until when sign-in to the account is refused; `None` if it never was locked.
    pub locked_until: Option<Timestamp>,
}

/// Failed sign-ins by account, shared by every instance through the database, for
/// brute-force lockouts (`Quire::login`).
pub trait SignInStore {
    /// What is on record for `account`, if anything.
    fn sign_in_failures(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<Option<SignInFailures>>> + Send;
    /// Records one more failure at `at`, counting from one again when the last was before
    /// `restart_before`, and returns the count; then forgets up to 16 records of any account
    /// whose last failure was before `restart_before` and whose lock (if any) has passed.
    fn record_sign_in_failure(
        &self,
        account: &str,
        at: Timestamp,
        restart_before: Timestamp,
    ) -> impl Future<Output = Result<u32>> + Send;
    /// Locks `account` until `until`, or keeps the lock it has if that lasts longer.
    fn lock_sign_in(
        &self,
        account: &str,
        until: Timestamp,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Forgets `account`'s failures and lock; whether there were any.
    fn clear_sign_in_failures(&self, account: &str) -> impl Future<Output = Result<bool>> + Send;
    /// The accounts locked at `now`, the longest lock first, at most `limit`.
    fn sign_in_lockouts(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SignInFailures>>> + Send;
}

/// A refresh token as stored: its SHA-256 hash only, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefreshToken {
    /// Lowercase hex of the SHA-256 of the token.
    pub hash: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// Unused until now, of a session still open: it is used now.
    Fresh { session: SessionId, user: UserId },
    /// Used before (or of a session that ended): someone holds a token that was rotated away.
    Reused { session: SessionId, user: UserId },
    /// No such token, or it expired.
    Unknown,
}

/// Sign-in sessions and their refresh tokens, shared by every instance through the database.
pub trait SessionStore {
    /// Opens session `id` for `user`, lasting until `expires_at`, with its first refresh
    /// token if any; then forgets up to 16 sessions that ended or expired before `now`.
    fn open_session(
        &self,
        id: SessionId,
        user: UserId,
        now: Timestamp,
        expires_at: Timestamp,
        refresh: Option<&StoredRefreshToken>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The user of session `id`, if it is theirs, open and not expired at `now`.
    fn user_in_session(
        &self,
        user: UserId,
        id: SessionId,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<User>>> + Send;
    /// Uses the refresh token with this hash at `now`: at most one caller ever gets
    /// [`RefreshUse::Fresh`] for a token.
    fn use_refresh_token(
        &self,
        hash: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<RefreshUse>> + Send;
    /// Gives open session `id` its next refresh token and extends it to the token's expiry;
    /// false if the session has ended meanwhile.
    fn rotate_refresh_token(
        &self,
        id: SessionId,
        next: &StoredRefreshToken,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Ends session `id` at `at` for `reason`; whether it was open.
    fn end_session(
        &self,
        id: SessionId,
        at: Timestamp,
        reason: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Ends every open session of `user` but `except`, at `at` for `reason`; how many.
    fn end_sessions(
        &self,
        user: UserId,
        except: Option<SessionId>,
        at: Timestamp,
        reason: &str,
    ) -> impl Future<Output = Result<u64>> + Send;
}

/// A key that signs access tokens, as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    /// The key id tokens name in their `kid` header (RFC 7515 section 4.1.4).
    pub kid: String,
    /// The JWS algorithm it signs with (RFC 7518 section 3.1), such as `EdDSA`.
    pub algorithm: String,
    /// The private key, sealed: it never reaches the database in the clear.
    pub private_key: String,
    /// The public key as a JWK (RFC 7517 section 4), JSON text.
    pub public_jwk: String,
    pub created_at: Timestamp,
    /// When it stops verifying; `None` while it is the signing key.
    pub retires_at: Option<Timestamp>,
}

/// The keys that sign access tokens, shared by every instance through the database.
pub trait SigningKeyStore {
    /// The keys that verify at `now` (no `retires_at`, or one after `now`), newest first.
    fn signing_keys(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<StoredSigningKey>>> + Send;
    /// Adds `key`, the newest, in one transaction: with `retire_others_at`, every key that had
    /// no retirement retires then (a rotation); keys retired before `prune_before` are deleted.
    fn add_signing_key(
        &self,
        key: &StoredSigningKey,
        retire_others_at: Option<Timestamp>,
        prune_before: Timestamp,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Responses kept under idempotency keys, shared by every instance through the database.
pub trait IdempotencyStore {
    /// Claims `key` for `scope` (a user id, 0 for anonymous) and a request `fingerprint`,
    /// first forgetting keys created before `expired_before`, and this key's claim if it never
    /// completed and was made before `abandoned_before`.
    #[allow(clippy::too_many_arguments)]
    fn claim_key(
        &self,
        scope: i64,
        key: &str,
        fingerprint: &str,
        at: Timestamp,
        expired_before: Timestamp,
        abandoned_before: Timestamp,
    ) -> impl Future<Output = Result<Claim>> + Send;
    /// Records the response of a claimed key.
    fn complete_key(
        &self,
        scope: i64,
        key: &str,
        response: &IdempotentResponse,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Forgets a claimed key whose request failed, so that a retry runs again.
    fn release_key(&self, scope: i64, key: &str) -> impl Future<Output = Result<()>> + Send;
}

/// An event waiting in the outbox, with its place in the outbox's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// The outbox's sequence number: events are relayed in this order.
    pub seq: i64,
    pub event: Event,
}

/// What the outbox holds that is not yet sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub pending: u64,
    /// When the oldest pending event occurred.
    pub oldest: Option<Timestamp>,
}

/// The transactional outbox as the relay sees it, and the leases that let exactly one process
/// run a job (the relay, the scheduler) at a time.
pub trait OutboxStore {
    /// Events not yet marked sent, in `seq` order, after `after` (a `seq`) if given, at most
    /// `limit`.
    fn pending_events(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PendingEvent>>> + Send;
    /// Marks these events (by `seq`) sent at `at`.
    fn mark_events_sent(
        &self,
        seqs: &[i64],
        at: Timestamp,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Deletes at most `limit` events sent before `sent_before`; answers how many.
    fn prune_sent_events(
        &self,
        sent_before: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<u64>> + Send;
    fn outbox_backlog(&self) -> impl Future<Output = Result<Backlog>> + Send;
    /// Resolves when this process recorded an event since the last time it resolved, so the
    /// relay need not wait for its next poll (other processes' events it finds by polling).
    fn recorded(&self) -> BoxFuture<'static, ()>;
    /// Takes the lease `name` for `holder` until `until`, or renews it, if it is free, held by
    /// `holder`, or expired at `now`. Answers whether `holder` holds it.
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Gives the lease up if `holder` holds it, so a standby need not wait for it to expire.
    fn release_lease(&self, name: &str, holder: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Webhook endpoints, their deliveries and the delivery log.
pub trait WebhookStore {
    /// Every endpoint, by ascending id.
    fn webhooks(&self) -> impl Future<Output = Result<Vec<Webhook>>> + Send;
    fn webhook(&self, id: WebhookId) -> impl Future<Output = Result<Option<Webhook>>> + Send;
    fn insert_webhook(&self, webhook: &NewWebhook) -> impl Future<Output = Result<Webhook>> + Send;
    /// Applies `changes` at `at`; `None` when there is no such endpoint.
    fn update_webhook(
        &self,
        id: WebhookId,
        changes: &WebhookChanges,
        at: Timestamp,
    ) -> impl Future<Output = Result<Option<Webhook>>> + Send;
    /// Removes the endpoint with its deliveries and log; whether there was one.
    fn delete_webhook(&self, id: WebhookId) -> impl Future<Output = Result<bool>> + Send;
    fn webhook_secrets(
        &self,
        id: WebhookId,
    ) -> impl Future<Output = Result<Option<SealedSecrets>>> + Send;
    /// Replaces the endpoint's secrets at `at`, provided its current secret is still
    /// `replacing` (so two rotations at once cannot both win); whether it replaced them.
    fn set_webhook_secrets(
        &self,
        id: WebhookId,
        secrets: &SealedSecrets,
        replacing: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Makes a pending delivery of each event to each enabled endpoint whose types match it,
    /// due at `at`. Idempotent by (endpoint, event id): offering an event again adds nothing.
    fn enqueue_deliveries(
        &self,
        events: &[Event],
        at: Timestamp,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Pending deliveries to enabled endpoints due at `now`, earliest first, at most `limit`
    /// in all and `per_endpoint` per endpoint (so one endpoint's backlog cannot crowd out
    /// the others).
    fn due_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
        per_endpoint: u32,
    ) -> impl Future<Output = Result<Vec<DueDelivery>>> + Send;
    /// Gives up (as failed, at `at`) pending deliveries made before `made_before`; how many.
    fn expire_deliveries(
        &self,
        made_before: Timestamp,
        at: Timestamp,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// Deletes at most `limit` deliveries (with their log) finished before `finished_before`;
    /// how many.
    fn prune_deliveries(
        &self,
        finished_before: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// Moves the endpoint's pending deliveries due before `until` to `until` (its circuit is
    /// open).
    fn postpone_deliveries(
        &self,
        webhook: WebhookId,
        until: Timestamp,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records an attempt: its log entry, the delivery's state and the endpoint's circuit
    /// (and, on 410, its disabling), in one transaction. A delivery deleted meanwhile (with
    /// its endpoint) records nothing.
    fn record_attempt(
        &self,
        webhook: WebhookId,
        outcome: &AttemptOutcome,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The endpoint's deliveries, newest first, with ids below `before`, at most `limit`.
    fn deliveries(
        &self,
        webhook: WebhookId,
        before: Option<DeliveryId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Delivery>>> + Send;
    /// The endpoint's attempts (of one delivery, or of all), newest first, at most `limit`.
    fn attempts(
        &self,
        webhook: WebhookId,
        delivery: Option<DeliveryId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Attempt>>> + Send;
    /// Makes the delivery pending again, due at `at`, with a fresh retry schedule; the
    /// delivery as it now stands, or `None` when the endpoint has no such delivery.
    fn redeliver(
        &self,
        webhook: WebhookId,
        delivery: DeliveryId,
        at: Timestamp,
    ) -> impl Future<Output = Result<Option<Delivery>>> + Send;
}

/// Encrypts secrets that must be kept at rest but read back (webhook signing secrets), with a
/// key that is never in the database.
pub trait SecretBox: Send + Sync {
    /// `plain` sealed, as text fit for a column.
    fn seal(&self, plain: &str) -> Result<String>;
    /// The plain text of what [`SecretBox::seal`] made.
    ///
    /// # Errors
    /// [`crate::Error::Internal`] when it was sealed with another key or tampered with.
    fn open(&self, sealed: &str) -> Result<String>;
}

/// A signed webhook request to send (Standard Webhooks).
#[derive(Debug, Clone)]
pub struct WebhookRequest<'a> {
    pub url: &'a WebhookUrl,
    /// `webhook-id`: the event's id, the same on every attempt.
    pub message_id: &'a str,
    /// `webhook-timestamp`, taken when the attempt is made.
    pub timestamp: Timestamp,
    /// The JSON body, exactly as signed.
    pub body: &'a str,
    /// One `v1` signature each: the current secret, and the previous one while it rotates.
    pub secrets: &'a [crate::webhooks::SigningSecret],
}

/// What came of sending a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// `None` when nothing was answered.
    pub status: Option<u16>,
    pub latency_millis: u32,
    /// The start of the response body.
    pub body: String,
    /// Why nothing was answered (refused destination, connection, timeout).
    pub error: Option<String>,
}

/// Sends webhooks over HTTP, signed, and refuses destinations the configuration forbids
/// (loopback, private, link-local and metadata addresses unless allowed).
pub trait WebhookSender: Send + Sync {
    fn send<'a>(&'a self, request: WebhookRequest<'a>) -> BoxFuture<'a, WebhookResponse>;
    /// Why requests to `url` would be refused, if they would: its host is, or resolves to, an
    /// address the configuration forbids.
    fn check_destination<'a>(&'a self, url: &'a WebhookUrl) -> BoxFuture<'a, Result<(), String>>;
}

/// A sign-in sent to an OpenID provider and not yet back: what the provider's answer is
/// checked against. Stored until the browser returns (or ten minutes pass), taken once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIdSignIn {
    /// SHA-256 (lowercase hex) of the `state` sent to the provider (RFC 6749 section 10.12).
    pub state_hash: String,
    /// The configured provider's name.
    pub provider: String,
    /// The `nonce` the ID token must carry (OpenID Connect Core 1.0 section 3.1.2.1).
    pub nonce: String,
    /// The PKCE code verifier (RFC 7636 section 4.1).
    pub pkce_verifier: String,
    /// SHA-256 (lowercase hex) of the value of the cookie given to the browser that started it.
    pub browser_hash: String,
    pub started_at: Timestamp,
}

/// Sign-ins through OpenID providers, and the identities they link to accounts.
pub trait OpenIdStore {
    /// Keeps `sign_in`, and forgets sign-ins started before `expired_before`.
    fn save_openid_sign_in(
        &self,
        sign_in: &OpenIdSignIn,
        expired_before: Timestamp,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Removes and answers the sign-in whose state hashes to `state_hash`, if it is kept.
    fn take_openid_sign_in(
        &self,
        state_hash: &str,
    ) -> impl Future<Output = Result<Option<OpenIdSignIn>>> + Send;
    /// The account `identity` is linked to.
    fn user_by_identity(
        &self,
        identity: &crate::model::Identity,
    ) -> impl Future<Output = Result<Option<User>>> + Send;
    /// Whether `user` has an identity from `issuer`.
    fn has_identity_from(
        &self,
        user: UserId,
        issuer: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Links `identity` to `user` (nothing if it is linked already); if this linked it,
    /// replaces the account's password hash with `password_hash` and records `events`, all in
    /// one transaction. Answers the account the identity is linked to afterwards.
    fn link_identity(
        &self,
        identity: &crate::model::Identity,
        user: UserId,
        password_hash: &PasswordHash,
        at: Timestamp,
        events: &[Event],
    ) -> impl Future<Output = Result<UserId>> + Send;
}

/// What a sign-in asks an OpenID provider for: secrets made by the core, sent (`state`,
/// `nonce`, the PKCE challenge) or kept (the verifier) by the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub state: String,
    pub nonce: String,
    /// RFC 7636 section 4.1: 43 to 128 unreserved characters.
    pub pkce_verifier: String,
}

/// Who an OpenID provider says signed in, from an ID token it verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The issuer that vouches for it (`iss`), as its discovery document names it.
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider vouches that the user controls `email` (`email_verified`).
    pub email_verified: bool,
    pub preferred_username: Option<String>,
}

/// OpenID Connect providers, as a relying party uses them: the authorization code flow with
/// PKCE (OpenID Connect Core 1.0 section 3.1, RFC 7636).
pub trait OpenIdProviders: Send + Sync {
    /// The configured providers' names.
    fn names(&self) -> Vec<String>;
    /// Whether quire's callback for `provider` is an `https://` URL (so the browser's binding
    /// cookie may be `Secure`); false for a provider not configured.
    fn callback_is_https(&self, provider: &str) -> bool;
    /// Where to send the browser to sign in at `provider`.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for a provider not configured; [`crate::Error::Unavailable`]
    /// when its discovery document cannot be read.
    fn authorization_url<'a>(
        &'a self,
        provider: &'a str,
        request: &'a AuthorizationRequest,
    ) -> BoxFuture<'a, Result<String>>;
    /// Trades the authorization `code` for tokens and answers who the verified ID token names.
    /// `issuer` is the authorization response's `iss` parameter, when it had one (RFC 9207).
    ///
    /// # Errors
    /// [`crate::Error::Unauthenticated`] when `issuer` is not the provider's, the provider
    /// refuses the code, or the ID token fails a check (signature, issuer, audience, expiry,
    /// nonce);
    /// [`crate::Error::Unavailable`] when the provider cannot be reached.
    fn identify<'a>(
        &'a self,
        provider: &'a str,
        code: &'a str,
        issuer: Option<&'a str>,
        request: &'a AuthorizationRequest,
    ) -> BoxFuture<'a, Result<ExternalIdentity>>;
}

/// Slow, salted password hashing. Implementations keep the work off the async runtime
/// and bound how much of it runs at once.
pub trait PasswordHasher: Send + Sync {
    fn hash(&self, password: Password) -> BoxFuture<'_, Result<PasswordHash>>;
    /// Whether the password matches, and if so whether its hash should be made again. With
    /// no hash (an unknown user) it still does the work of a verification and answers
    /// [`PasswordCheck::Mismatch`], so timing does not tell which emails exist.
    fn verify(
        &self,
        password: Password,
        hash: Option<PasswordHash>,
    ) -> BoxFuture<'_, Result<PasswordCheck>>;
}

/// How a password compared with a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    Mismatch,
    /// It matches; `rehash` when the hash was made with other parameters than the current
    /// ones, or from the password as typed rather than normalized.
    Match {
        rehash: bool,
    },
}

/// How hard a password is to guess, by an estimator that knows common passwords, words,
/// names, keyboard patterns and the account's own details.
pub trait PasswordEstimator: Send + Sync {
    /// The estimate for `password`, given the words of the account it is for (username,
    /// email), which make it weaker when it contains them.
    fn estimate(&self, password: &Password, related: &[&str]) -> Strength;
}

/// A password strength estimate, on zxcvbn's scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strength {
    /// 0 (too guessable: under 10^3 guesses) to 4 (very unguessable: over 10^10).
    pub score: u8,
    /// Why it is weak, in a sentence for the user, when the estimator can say.
    pub warning: Option<String>,
}

/// What a verified token says: whom it names, in which session, and when it stops holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken {
    pub user: UserId,
    pub session: SessionId,
    pub expires_at: Timestamp,
}

/// Issues and checks the bearer tokens that identify a user, and keeps the keys that sign them.
pub trait TokenService: Send + Sync {
    /// A token naming `user` and their `session` (the `sid` claim), issued at `now` and
    /// lasting `ttl_secs` seconds, signed with the current key.
    fn issue(
        &self,
        user: UserId,
        session: SessionId,
        now: Timestamp,
        ttl_secs: u64,
    ) -> BoxFuture<'_, Result<String>>;
    /// Checks type, key, algorithm, signature, issuer, audience and every time claim against
    /// `now`: [`crate::Error::Unauthenticated`] when any fails; another error when the keys cannot be
    /// read.
    fn verify<'a>(&'a self, token: &'a str, now: Timestamp)
    -> BoxFuture<'a, Result<VerifiedToken>>;
    /// The public keys tokens verify with, as a JWK Set document (RFC 7517 section 5): none
    /// when tokens are signed with a shared secret.
    fn key_set(&self, now: Timestamp) -> BoxFuture<'_, Result<String>>;
    /// Makes a new key the signing key (the others verify until their tokens expire) and
    /// returns its id.
    fn rotate(&self, now: Timestamp) -> BoxFuture<'_, Result<String>>;
}

/// A stream of domain events, as a subscriber receives them.
pub type EventStream = Pin<Box<dyn futures_core::Stream<Item = Event> + Send>>;

/// Why a publication stopped: how many of the events, from the first, the destination
/// confirmed before it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{confirmed} events confirmed, then: {reason}")]
pub struct PublishError {
    pub confirmed: usize,
    pub reason: String,
}

/// Where the relay delivers committed events (an in-process queue, NATS JetStream, RabbitMQ)
/// and where listeners in this process hear them, whichever process wrote them.
pub trait EventBus: Send + Sync {
    /// Publishes `events` in order; resolves once the destination confirmed every one.
    ///
    /// # Errors
    /// [`PublishError`] with the number confirmed before the failure: the relay marks those
    /// sent and tries the rest again later.
    fn publish<'a>(&'a self, events: &'a [Event]) -> BoxFuture<'a, Result<(), PublishError>>;
    /// Events delivered from now on. A listener that falls behind skips events rather than
    /// holding the relay up.
    fn subscribe(&self) -> EventStream;
    /// Which destination this is, for logs and metrics: `in-process`, `nats`, `amqp`.
    fn name(&self) -> &'static str;
}

/// The current time. Tests substitute a controllable one.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    /// Resolves once this clock reads `at` or later (at once if it already does).
    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()>;
}

/// Randomness for secrets and for identifiers that must not collide or be guessed (session
/// ids, refresh tokens, keys, slug suffixes). Implementations never fall back to a predictable
/// source: without randomness they panic rather than answer.
pub trait Random: Send + Sync {
    /// `len` characters from `[0-9a-z]`.
    fn token(&self, len: usize) -> String;
    /// Random bytes, as many as `out` holds.
    fn fill(&self, out: &mut [u8]);
}
