//! Writing, reading, listing and favoriting posts.

use super::cached::PostLookup;
use super::{BLANK, Patch, Quire, required};
use crate::cache::Shown;
use crate::error::{Error, FieldErrors, Resource, Result};
use crate::events::{DomainEvent, Event, FavoriteData, PostData, PostUpdatedData};
use crate::ids::{PostId, UserId};
use crate::model::{
    IndexEntry, KeysetPage, KeysetRequest, NewPost, PageRequest, Post, PostChanges, PostFilter,
    PostMeta, PostPage, PostRef, PostStatus, Rendering, search_document,
};
use crate::policy::{self, Actor};
use crate::ports::Store;
use crate::time::Timestamp;
use crate::values::{Body, Description, Slug, TagList, TagName, Title, Username};

fn favorite_data(actor: &Actor, post: &PostRef) -> FavoriteData {
    FavoriteData {
        user_id: actor.user_id.get(),
        post_id: post.id.get(),
    }
}

/// A new post as submitted; missing fields are `None`.
#[derive(Debug, Clone, Default)]
pub struct PostDraft {
    pub title: Option<String>,
    pub description: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
    /// `draft` or `published` (the default).
    pub status: Option<String>,
    /// A BCP 47 language tag such as `en` or `ko`.
    pub language: Option<String>,
    pub category: Option<String>,
    /// An RFC 3339 time in the future: the post stays a draft, seen only by its author and
    /// editors, until then, and is published at that time.
    pub publish_at: Option<String>,
}

/// The filters of a post list, as a client sent them.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostListing<'a> {
    pub tag: Option<&'a str>,
    pub author: Option<&'a str>,
    pub favorited_by: Option<&'a str>,
    pub language: Option<&'a str>,
    /// Drafts rather than published posts: the caller's own, or anyone's for editors.
    pub drafts: bool,
}

/// How a request names a post: by slug (`/api`) or by id (`/api/v1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostAddress<'a> {
    Slug(&'a str),
    Id(PostId),
}

impl<'a> From<&'a str> for PostAddress<'a> {
    fn from(slug: &'a str) -> Self {
        Self::Slug(slug)
    }
}

impl<'a> From<&'a String> for PostAddress<'a> {
    fn from(slug: &'a String) -> Self {
        Self::Slug(slug)
    }
}

impl From<PostId> for PostAddress<'_> {
    fn from(id: PostId) -> Self {
        Self::Id(id)
    }
}

/// A BCP 47 language tag, in its canonical case (`pt-br` is stored as `pt-BR`), so that one
/// language is one value in filters and in imports' matching.
pub(super) fn language_tag(text: &str) -> Result<String, &'static str> {
    quire_content::layout::language_tag(text).ok_or("must be a language tag such as en or pt-BR")
}

/// A schedule: an RFC 3339 time after `now`.
fn schedule(text: &str, now: Timestamp) -> Result<Timestamp, &'static str> {
    let at = Timestamp::parse_rfc3339(text.trim())
        .ok_or("must be an RFC 3339 date-time such as 2026-12-01T09:00:00Z")?;
    if at > now {
        Ok(at)
    } else {
        Err("must be in the future")
    }
}

/// A category: non-blank, at most 64 characters.
pub(super) fn category(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        Err(BLANK)
    } else if text.chars().count() > 64 {
        Err("is too long (maximum is 64 characters)")
    } else if text.chars().any(char::is_control) {
        Err("can't contain control characters")
    } else {
        Ok(text.to_owned())
    }
}

/// Changes to a post as submitted. Title, description and body cannot be removed; a tag
/// list replaces the tags, and cannot be null.
#[derive(Debug, Clone, Default)]
pub struct PostUpdate {
    pub title: Patch<String>,
    pub description: Patch<String>,
    pub body: Patch<String>,
    pub tags: Patch<Vec<String>>,
    /// `draft` or `published`: publishing a draft, or taking a post back to draft.
    pub status: Patch<String>,
    /// A BCP 47 tag; null removes it.
    pub language: Patch<String>,
    /// Null removes it.
    pub category: Patch<String>,
    /// An RFC 3339 time in the future schedules the draft; null unschedules it.
    pub publish_at: Patch<String>,
    /// The `updated_at` of the version the change was based on: if the post changed since,
    /// nothing is written and the answer is [`Error::Stale`].
    pub based_on: Option<Timestamp>,
}

/// How many times a taken slug is retried with a fresh random suffix.
const SLUG_ATTEMPTS: usize = 6;
const SLUG_SUFFIX_LEN: usize = 6;

fn changed<T>(
    errors: &mut FieldErrors,
    field: &'static str,
    patch: Patch<String>,
    parse: impl FnOnce(&str) -> Result<T, &'static str>,
) -> Option<T> {
    match patch {
        Patch::Absent => None,
        Patch::Null => {
            errors.add(field, BLANK);
            None
        }
        Patch::Value(text) => errors.check(field, parse(&text)),
    }
}

/// Whether `slug` is `base` or `base` plus one of our random suffixes: then a title change
/// that keeps the same base keeps the slug, and links stay valid.
fn slug_fits_title(slug: &Slug, base: &Slug) -> bool {
    let (slug, base) = (slug.as_str(), base.as_str());
    slug == base
        || slug
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|suffix| {
                suffix.len() == SLUG_SUFFIX_LEN
                    && suffix
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
            })
}

/// How a write settles a post's slug.
enum SlugPlan {
    /// The slug stays.
    Keep,
    /// A new slug from `base`: the plain one first if `plain`, then ones with random suffixes.
    New { base: Slug, plain: bool },
    /// The plain slug if it is free, else the slug stays: a draft going public.
    Claim(Slug),
}

impl SlugPlan {
    /// The plan for a post whose slug is `current`, titled `title` and published (or not)
    /// after the write; `base` is the changed title's slug, if it changed.
    ///
    /// A draft never holds a plain slug: it takes a suffixed one, and the plain one when it is
    /// published, if that is free. Otherwise a newcomer whose title matches a draft's would be
    /// given a suffix, and so learn that a post they cannot see holds the plain slug.
    fn of(current: &Slug, title: &Title, base: Option<Slug>, published: bool) -> Self {
        match base.filter(|base| !slug_fits_title(current, base)) {
            Some(base) => Self::New {
                base,
                plain: published,
            },
            None => {
                let plain = Slug::from_title(title);
                if published && *current != plain && slug_fits_title(current, &plain) {
                    Self::Claim(plain)
                } else {
                    Self::Keep
                }
            }
        }
    }
}

impl<S: Store> Quire<S> {
    /// The candidate slugs for a title: the plain one first (unless `plain` is false: a draft
    /// never holds one), then ones with random suffixes.
    fn slug_candidates(&self, base: &Slug, plain: bool) -> impl Iterator<Item = Slug> + '_ {
        let base = base.clone();
        (0..SLUG_ATTEMPTS).map(move |attempt| match attempt {
            0 if plain && !base.is_reserved() => base.clone(),
            _ => base.with_suffix(&self.adapters.random.token(SLUG_SUFFIX_LEN)),
        })
    }

    /// Finds a post the viewer may see, for acting on it.
    pub(super) async fn visible_post(
        &self,
        address: PostAddress<'_>,
        viewer: Option<&Actor>,
    ) -> Result<PostRef> {
        let not_found = || Error::NotFound(Resource::Post);
        let found = match address {
            PostAddress::Slug(slug) => {
                let slug = Slug::parse(slug).ok_or_else(not_found)?;
                self.store.post_ref(&slug).await?
            }
            PostAddress::Id(id) => self.store.post_ref_by_id(id).await?,
        };
        let post = found.ok_or_else(not_found)?;
        if policy::may_read_post(viewer, post.author_id, post.status) {
            Ok(post)
        } else {
            Err(not_found())
        }
    }

    async fn load_post(&self, post: &PostRef, viewer: Option<&Actor>) -> Result<Post> {
        self.store
            .post(post.id, viewer.map(|actor| actor.user_id))
            .await?
            .ok_or(Error::NotFound(Resource::Post))
    }

    /// Publishes a new post by the actor.
    #[tracing::instrument(skip_all)]
    pub async fn create_post(&self, actor: &Actor, draft: PostDraft) -> Result<Post> {
        if !policy::may_create_post(actor) {
            return Err(Error::Forbidden(Resource::Post));
        }
        let mut errors = FieldErrors::new();
        let title = required(&mut errors, "title", draft.title.as_deref(), Title::parse);
        let description = required(
            &mut errors,
            "description",
            draft.description.as_deref(),
            Description::parse,
        );
        let body = required(&mut errors, "content", draft.body.as_deref(), Body::parse);
        let tags = match &draft.tags {
            Some(tags) => errors.check("tags", TagList::parse(tags)),
            None => Some(TagList::default()),
        };
        // `None` when not given: published, unless scheduled (below).
        let status = match draft.status.as_deref() {
            None => Some(None),
            Some(text) => errors
                .check(
                    "status",
                    PostStatus::parse(text).ok_or("must be draft or published"),
                )
                .map(Some),
        };
        let language = match draft.language.as_deref() {
            None => Some(None),
            Some(text) => errors.check("language", language_tag(text)).map(Some),
        };
        let category = match draft.category.as_deref() {
            None => Some(None),
            Some(text) => errors.check("category", category(text)).map(Some),
        };
        let now = self.adapters.clock.now();
        let publish_at = match draft.publish_at.as_deref() {
            None => Some(None),
            Some(text) => errors.check("publishAt", schedule(text, now)).map(Some),
        };
        // A scheduled post is a draft until its time.
        let status = match (status, &publish_at) {
            (Some(Some(PostStatus::Published)), Some(Some(_))) => {
                errors.add("publishAt", "can't schedule a post that is published now");
                None
            }
            (Some(Some(status)), _) => Some(status),
            (Some(None), Some(Some(_))) => Some(PostStatus::Draft),
            (Some(None), _) => Some(PostStatus::Published),
            (None, _) => None,
        };
        let (
            Some(title),
            Some(description),
            Some(body),
            Some(tags),
            Some(status),
            Some(language),
            Some(category),
            Some(publish_at),
        ) = (
            title,
            description,
            body,
            tags,
            status,
            language,
            category,
            publish_at,
        )
        else {
            return Err(Error::Invalid(errors));
        };
        let mut new = NewPost {
            slug: Slug::from_title(&title),
            search: search_document(&title, &description, body.as_str()),
            title,
            description,
            rendered: Rendering::of(&body),
            body,
            tags,
            author_id: actor.user_id,
            status,
            publish_at,
            meta: PostMeta {
                language,
                category,
                ..PostMeta::default()
            },
            at: now,
        };
        let base = new.slug.clone();
        let plain = new.status == PostStatus::Published;
        for slug in self.slug_candidates(&base, plain) {
            new.slug = slug;
            let record = |id: &PostId| self.creation_events(actor.user_id, *id, &new);
            match self.store.insert_post(&new, &record).await {
                Ok(id) => {
                    let post = PostRef {
                        id,
                        author_id: actor.user_id,
                        status: new.status,
                    };
                    return self.load_post(&post, Some(actor)).await;
                }
                Err(error) if error.is_conflict_on("slug") => continue,
                Err(error) => return Err(error),
            }
        }
        Err(Error::internal(format!(
            "no free slug for {base} after {SLUG_ATTEMPTS} attempts"
        )))
    }

    /// A post with its body.
    pub async fn post<'a>(
        &self,
        address: impl Into<PostAddress<'a>>,
        viewer: Option<&Actor>,
    ) -> Result<Post> {
        self.post_shown(address, viewer)
            .await
            .map(Shown::into_value)
    }

    /// [`Quire::post`], with what a shared copy of it depends on (none for a draft).
    pub async fn post_shown<'a>(
        &self,
        address: impl Into<PostAddress<'a>>,
        viewer: Option<&Actor>,
    ) -> Result<Shown<Post>> {
        let not_found = || Error::NotFound(Resource::Post);
        let viewer_id = viewer.map(|actor| actor.user_id);
        let found = match address.into() {
            PostAddress::Slug(text) => {
                let slug = Slug::parse(text).ok_or_else(not_found)?;
                self.viewed_post(PostLookup::Slug(&slug), viewer_id).await?
            }
            PostAddress::Id(id) => self.viewed_post(PostLookup::Id(id), viewer_id).await?,
        };
        let post = found.ok_or_else(not_found)?;
        if policy::may_read_post(viewer, post.value.author.id, post.value.status) {
            Ok(post)
        } else {
            Err(not_found())
        }
    }

    /// Changes a post. The slug follows a changed title.
    #[tracing::instrument(skip_all)]
    pub async fn update_post<'a>(
        &self,
        actor: &Actor,
        address: impl Into<PostAddress<'a>>,
        update: PostUpdate,
    ) -> Result<Post> {
        let post = self.visible_post(address.into(), Some(actor)).await?;
        if !policy::may_change_post(actor, post.author_id) {
            return Err(Error::Forbidden(Resource::Post));
        }
        let mut errors = FieldErrors::new();
        let title = changed(&mut errors, "title", update.title, Title::parse);
        let description = changed(
            &mut errors,
            "description",
            update.description,
            Description::parse,
        );
        let body = changed(&mut errors, "content", update.body, Body::parse);
        let language = match update.language {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(text) => errors.check("language", language_tag(&text)).map(Some),
        };
        let category = match update.category {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(text) => errors.check("category", category(&text)).map(Some),
        };
        let status = match update.status {
            Patch::Absent => None,
            Patch::Null => {
                errors.add("status", "can't be null");
                None
            }
            Patch::Value(text) => errors.check(
                "status",
                PostStatus::parse(&text).ok_or("must be draft or published"),
            ),
        };
        let tags = match update.tags {
            Patch::Absent => None,
            Patch::Null => {
                errors.add("tags", "can't be null; send [] to remove all tags");
                None
            }
            Patch::Value(tags) => errors.check("tags", TagList::parse(&tags)),
        };
        let publish_at = match update.publish_at {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(text) => errors
                .check("publishAt", schedule(&text, self.adapters.clock.now()))
                .map(Some),
        };
        let publishes_now = status == Some(PostStatus::Published)
            || (status.is_none() && post.status == PostStatus::Published);
        if matches!(publish_at, Some(Some(_))) && publishes_now {
            errors.add(
                "publishAt",
                "can't schedule a published post; make it a draft to schedule it",
            );
        }
        errors.into_result()?;

        let current = self.load_post(&post, Some(actor)).await?;
        let now = self.adapters.clock.now().after(current.updated_at);
        // The slug follows a changed title only: a client that sends the title it read keeps
        // the slug it has (one an import gave, say).
        let base = title
            .as_ref()
            .filter(|title| **title != current.title)
            .map(Slug::from_title);
        if update
            .based_on
            .is_some_and(|version| version != current.updated_at)
        {
            return Err(Error::Stale(Resource::Post));
        }
        // A change to what is already there writes nothing: the same PUT twice leaves one
        // state, down to updatedAt and the ETag.
        let unchanged = title.as_ref().is_none_or(|title| *title == current.title)
            && description
                .as_ref()
                .is_none_or(|text| *text == current.description)
            && body
                .as_ref()
                .is_none_or(|text| Some(text) == current.body.as_ref())
            && tags.as_ref().is_none_or(|tags| *tags == current.tags)
            && status.is_none_or(|status| status == current.status)
            && language
                .as_ref()
                .is_none_or(|language| *language == current.meta.language)
            && category
                .as_ref()
                .is_none_or(|category| *category == current.meta.category)
            && publish_at.is_none_or(|at| at == current.publish_at);
        if unchanged {
            return Ok(current);
        }
        let search =
            (title.is_some() || description.is_some() || body.is_some()).then(|| IndexEntry {
                document: search_document(
                    title.as_ref().unwrap_or(&current.title),
                    description.as_ref().unwrap_or(&current.description),
                    body.as_ref()
                        .or(current.body.as_ref())
                        .map_or("", Body::as_str),
                ),
                made_from: current.updated_at,
            });
        let mut changes = PostChanges {
            slug: None,
            search,
            title,
            description,
            rendered: body.as_ref().map(Rendering::of),
            body,
            tags,
            status: status.filter(|status| *status != current.status),
            language,
            category,
            publish_at,
            expected_updated_at: update.based_on,
            ..PostChanges::at(now)
        };
        let events = |changes: &PostChanges, post: &PostData| {
            self.update_events(Some(actor.user_id), &current.slug, changes, post)
        };
        let published = changes.status.unwrap_or(current.status) == PostStatus::Published;
        let title = changes.title.as_ref().unwrap_or(&current.title);
        let plan = SlugPlan::of(&current.slug, title, base, published);
        self.write_changes(post.id, &mut changes, plan, &events)
            .await?;
        self.load_post(&post, Some(actor)).await
    }

    /// The events of creating `new` as post `id`: `post.created`, and `post.published` when
    /// it is created published.
    pub(super) fn creation_events(&self, actor: UserId, id: PostId, new: &NewPost) -> Vec<Event> {
        let data = PostData::of_new(id, new);
        let mut kinds = vec![DomainEvent::PostCreated(data.clone())];
        if new.status == PostStatus::Published {
            kinds.push(DomainEvent::PostPublished(data));
        }
        kinds
            .into_iter()
            .map(|kind| self.event(Some(actor), kind))
            .collect()
    }

    /// The events of a change: `post.updated` when `changes` set content or metadata,
    /// `post.published` or `post.unpublished` when they set the status. `post` is the post as
    /// the write left it, read in its transaction; `previous_slug` the slug it had before.
    pub(super) fn update_events(
        &self,
        actor: Option<UserId>,
        previous_slug: &Slug,
        changes: &PostChanges,
        post: &PostData,
    ) -> Vec<Event> {
        let mut changed = Vec::new();
        // A draft going public takes its plain slug as part of being published: the slug it
        // had was never public, and `post.published` carries the new one.
        let slug_changed = changes.slug.is_some()
            && (changes.title.is_some() || changes.status != Some(PostStatus::Published));
        let fields = [
            ("title", changes.title.is_some()),
            ("description", changes.description.is_some()),
            ("body", changes.body.is_some()),
            ("tags", changes.tags.is_some()),
            ("language", changes.language.is_some()),
            ("category", changes.category.is_some()),
            (
                "publishAt",
                changes.publish_at.is_some() && changes.status != Some(PostStatus::Published),
            ),
            ("slug", slug_changed),
            ("series", changes.series.is_some()),
            ("translations", changes.translation_group.is_some()),
            ("metadata", changes.metadata.is_some()),
            (
                "publishedAt",
                changes.published_at.is_some() && changes.status.is_none(),
            ),
        ];
        for (field, set) in fields {
            if set {
                changed.push(field.to_owned());
            }
        }
        let mut kinds = Vec::new();
        if !changed.is_empty() {
            kinds.push(DomainEvent::PostUpdated(PostUpdatedData {
                post: post.clone(),
                changed,
                previous_slug: slug_changed.then(|| previous_slug.as_str().to_owned()),
            }));
        }
        match changes.status {
            Some(PostStatus::Published) => kinds.push(DomainEvent::PostPublished(post.clone())),
            Some(PostStatus::Draft) => kinds.push(DomainEvent::PostUnpublished(post.clone())),
            None => {}
        }
        kinds
            .into_iter()
            .map(|kind| self.event(actor, kind))
            .collect()
    }

    /// Publishes the scheduled drafts whose time has come (at most `limit`), each through the
    /// same write as a manual publish (its events, its counters), as the system: no acting
    /// user. A draft changed since it was found due is left for the next round, so a post is
    /// published once however many workers look at the same moment. A draft whose author may
    /// no longer publish it (deactivated, or no longer an author) stays a scheduled draft, as
    /// the policy is checked at every act. Answers how many were published.
    ///
    /// # Errors
    /// A storage error; a post that could not be published is logged and left for the next
    /// round.
    pub async fn publish_due(&self, limit: u32) -> Result<usize> {
        let now = self.adapters.clock.now();
        let mut published = 0;
        for id in self.store.due_posts(now, limit).await? {
            let Some(current) = self.store.post(id, None).await? else {
                continue;
            };
            if current.status != PostStatus::Draft || current.publish_at.is_none_or(|at| at > now) {
                continue;
            }
            let author = self.store.user_by_id(current.author.id).await?;
            let may_publish = author.is_some_and(|author| {
                author.active
                    && policy::may_change_post(&Actor::new(author.id, author.roles), author.id)
            });
            if !may_publish {
                tracing::info!(post = %id, "a scheduled post's author may no longer publish it");
                continue;
            }
            let mut changes = PostChanges {
                status: Some(PostStatus::Published),
                publish_at: Some(None),
                // Published as of its schedule, however late a worker gets to it.
                published_at: current.publish_at,
                expected_updated_at: Some(current.updated_at),
                ..PostChanges::at(now.after(current.updated_at))
            };
            let events = |changes: &PostChanges, post: &PostData| {
                self.update_events(None, &current.slug, changes, post)
            };
            let plan = SlugPlan::of(&current.slug, &current.title, None, true);
            match self.write_changes(id, &mut changes, plan, &events).await {
                Ok(()) => published += 1,
                Err(Error::Stale(_) | Error::NotFound(_)) => {}
                Err(error) => {
                    tracing::warn!(post = %id, %error, "publishing a scheduled post failed");
                }
            }
        }
        Ok(published)
    }

    /// Writes a post's changes with the events `events` makes of them, settling the slug as
    /// `plan` says: a new slug retries taken ones with suffixes; a claimed plain slug that is
    /// taken leaves the slug as it was.
    async fn write_changes(
        &self,
        id: PostId,
        changes: &mut PostChanges,
        plan: SlugPlan,
        events: &(dyn Fn(&PostChanges, &PostData) -> Vec<Event> + Send + Sync),
    ) -> Result<()> {
        let (base, plain) = match plan {
            SlugPlan::Keep => {
                let record = |post: &PostData| events(changes, post);
                return self.store.update_post(id, changes, &record).await;
            }
            SlugPlan::Claim(plain) => {
                changes.slug = Some(plain);
                let claimed = {
                    let changes = &*changes;
                    let record = |post: &PostData| events(changes, post);
                    self.store.update_post(id, changes, &record).await
                };
                if !matches!(&claimed, Err(error) if error.is_conflict_on("slug")) {
                    return claimed;
                }
                changes.slug = None;
                let record = |post: &PostData| events(changes, post);
                return self.store.update_post(id, changes, &record).await;
            }
            SlugPlan::New { base, plain } => (base, plain),
        };
        for slug in self.slug_candidates(&base, plain) {
            changes.slug = Some(slug);
            let changes = &*changes;
            let record = |post: &PostData| events(changes, post);
            match self.store.update_post(id, changes, &record).await {
                Err(error) if error.is_conflict_on("slug") => continue,
                result => return result,
            }
        }
        Err(Error::internal(format!(
            "no free slug for {base} after {SLUG_ATTEMPTS} attempts"
        )))
    }

    /// Deletes a post with its comments and favorites; with `based_on`, only if the post is
    /// still the version with that `updated_at`.
    #[tracing::instrument(skip_all)]
    pub async fn delete_post<'a>(
        &self,
        actor: &Actor,
        address: impl Into<PostAddress<'a>>,
        based_on: Option<Timestamp>,
    ) -> Result<()> {
        let post = self.visible_post(address.into(), Some(actor)).await?;
        if !policy::may_change_post(actor, post.author_id) {
            return Err(Error::Forbidden(Resource::Post));
        }
        let current = self.load_post(&post, Some(actor)).await?;
        let events = [self.event(
            Some(actor.user_id),
            DomainEvent::PostDeleted(PostData::of(&current)),
        )];
        self.store.delete_post(post.id, based_on, &events).await
    }

    /// Marks a post as a favorite of the actor; already a favorite is no change.
    #[tracing::instrument(skip_all)]
    pub async fn favorite<'a>(
        &self,
        actor: &Actor,
        address: impl Into<PostAddress<'a>>,
    ) -> Result<Post> {
        let post = self.visible_post(address.into(), Some(actor)).await?;
        if !policy::may_react(actor) {
            return Err(Error::Forbidden(Resource::Post));
        }
        let now = self.adapters.clock.now();
        let events = [self.event(
            Some(actor.user_id),
            DomainEvent::Favorited(favorite_data(actor, &post)),
        )];
        self.store
            .favorite(actor.user_id, post.id, now, &events)
            .await?;
        self.load_post(&post, Some(actor)).await
    }

    /// Removes a post from the actor's favorites; not a favorite is no change.
    #[tracing::instrument(skip_all)]
    pub async fn unfavorite<'a>(
        &self,
        actor: &Actor,
        address: impl Into<PostAddress<'a>>,
    ) -> Result<Post> {
        let post = self.visible_post(address.into(), Some(actor)).await?;
        if !policy::may_react(actor) {
            return Err(Error::Forbidden(Resource::Post));
        }
        let events = [self.event(
            Some(actor.user_id),
            DomainEvent::Unfavorited(favorite_data(actor, &post)),
        )];
        self.store
            .unfavorite(actor.user_id, post.id, &events)
            .await?;
        self.load_post(&post, Some(actor)).await
    }

    /// Published posts, newest first, optionally filtered by tag, author or favoriting user.
    /// A filter naming nothing that exists gives an empty page, not an error.
    pub async fn list_posts(
        &self,
        tag: Option<&str>,
        author: Option<&str>,
        favorited_by: Option<&str>,
        page: PageRequest,
        viewer: Option<&Actor>,
    ) -> Result<PostPage> {
        self.list_posts_shown(tag, author, favorited_by, page, viewer)
            .await
            .map(Shown::into_value)
    }

    /// [`Quire::list_posts`], with what a shared copy of the page depends on (none for a
    /// list by favoriting user, or an author with no posts yet).
    pub async fn list_posts_shown(
        &self,
        tag: Option<&str>,
        author: Option<&str>,
        favorited_by: Option<&str>,
        page: PageRequest,
        viewer: Option<&Actor>,
    ) -> Result<Shown<PostPage>> {
        let empty = Shown::personal(PostPage {
            posts: Vec::new(),
            total: 0,
        });
        let mut filter = PostFilter::default();
        if let Some(tag) = tag {
            let Ok(tag) = TagName::parse(tag) else {
                return Ok(empty);
            };
            filter.tag = Some(tag);
        }
        if let Some(author) = author {
            let Ok(author) = Username::parse(author) else {
                return Ok(empty);
            };
            filter.author = Some(author);
        }
        if let Some(user) = favorited_by {
            let Ok(user) = Username::parse(user) else {
                return Ok(empty);
            };
            filter.favorited_by = Some(user);
        }
        self.viewed_page(&filter, page, viewer.map(|actor| actor.user_id))
            .await
    }

    /// A keyset page of published posts for `/api/v1`, with the same filters as
    /// [`Quire::list_posts`] plus language. A filter naming nothing gives an empty page.
    pub async fn page_posts(
        &self,
        filter: PostListing<'_>,
        page: KeysetRequest,
        viewer: Option<&Actor>,
    ) -> Result<KeysetPage> {
        let empty = KeysetPage {
            posts: Vec::new(),
            next: None,
            total: page.count.then_some(0),
        };
        let mut parsed = PostFilter::default();
        if let Some(tag) = filter.tag {
            let Ok(tag) = TagName::parse(tag) else {
                return Ok(empty);
            };
            parsed.tag = Some(tag);
        }
        for (name, slot) in [
            (filter.author, &mut parsed.author),
            (filter.favorited_by, &mut parsed.favorited_by),
        ] {
            if let Some(name) = name {
                let Ok(name) = Username::parse(name) else {
                    return Ok(empty);
                };
                *slot = Some(name);
            }
        }
        if let Some(language) = filter.language {
            let Ok(language) = language_tag(language) else {
                return Ok(empty);
            };
            parsed.language = Some(language);
        }
        if filter.drafts {
            let actor = viewer.ok_or(Error::Unauthenticated(crate::AuthProblem::MissingToken))?;
            let own = match &parsed.author {
                None => true,
                Some(author) => {
                    let me = self.store.user_by_id(actor.user_id).await?;
                    me.is_some_and(|me| me.username.key() == author.key())
                }
            };
            // Editors may list anyone's drafts; others only their own.
            if !policy::may_list_drafts(actor, None) {
                if !own || !policy::may_list_drafts(actor, Some(actor.user_id)) {
                    return Err(Error::Forbidden(Resource::Post));
                }
                parsed.author_id = Some(actor.user_id);
            }
            parsed.drafts = true;
        }
        self.store
            .page_posts(&parsed, page, viewer.map(|actor| actor.user_id))
            .await
    }

    /// A keyset page of the actor's feed: published posts by the authors they follow.
    pub async fn page_feed(&self, actor: &Actor, page: KeysetRequest) -> Result<KeysetPage> {
        let filter = PostFilter {
            followed_by: Some(actor.user_id),
            ..PostFilter::default()
        };
        self.store
            .page_posts(&filter, page, Some(actor.user_id))
            .await
    }

    /// Published posts by the authors the actor follows, newest first.
    pub async fn feed(&self, actor: &Actor, page: PageRequest) -> Result<PostPage> {
        let filter = PostFilter {
            followed_by: Some(actor.user_id),
            ..PostFilter::default()
        };
        self.store
            .list_posts(&filter, page, Some(actor.user_id))
            .await
    }

    /// Tags in use, most used first.
    pub async fn tags(&self) -> Result<Vec<TagName>> {
        self.public_tags().await.map(Shown::into_value)
    }

    /// [`Quire::tags`], with what a shared copy of the list depends on.
    pub async fn tags_shown(&self) -> Result<Shown<Vec<TagName>>> {
        self.public_tags().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_fits_a_title_with_the_same_base() {
        let base = Slug::from_trusted("my-post".into());
        assert!(slug_fits_title(
            &Slug::from_trusted("my-post".into()),
            &base
        ));
        assert!(slug_fits_title(
            &Slug::from_trusted("my-post-a1b2c3".into()),
            &base
        ));
        assert!(!slug_fits_title(
            &Slug::from_trusted("my-post-two".into()),
            &base
        ));
        assert!(!slug_fits_title(
            &Slug::from_trusted("my-posts".into()),
            &base
        ));
    }
}
