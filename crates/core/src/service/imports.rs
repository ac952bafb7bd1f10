//! Posts brought in from Markdown files with frontmatter, as Astro, Hugo and Jekyll sites keep
//! them, and written back out the same way.
//!
//! A file becomes a [`SourcePost`] ([`read_sources`]); importing one ([`Quire::import_post`])
//! creates its post, or updates the post with the same slug and language, or leaves it as it
//! is when nothing differs, so importing a folder twice changes nothing the second time. A
//! file's slug comes from its `slug` key, else from its name ([`quire_content::layout`]);
//! its language from `lang`, else a Hugo-style name suffix (`index.en.md`), else the import's
//! default. A translation names its original by `originalSlug`, or is a Hugo-style sibling
//! (`index.en.md` beside `index.md`); it is linked into its original's translation group.
//! Frontmatter keys quire has no field for are kept as the post's metadata and written back
//! by [`Quire::export_post`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use quire_content::{frontmatter, layout, markdown};

use super::Quire;
use crate::error::{Error, FieldErrors, Resource, Result};
use crate::events::PostData;
use crate::ids::PostId;
use crate::model::{
    IndexEntry, Metadata, NewPost, Post, PostChanges, PostMeta, PostStatus, Rendering, SeriesEntry,
    search_document,
};
use crate::policy::{self, Actor};
use crate::ports::Store;
use crate::time::Timestamp;
use crate::values::{Body, Description, Slug, TagList, Title, Username};

/// Who imports or exports: the command line (whoever runs it holds the database already) or
/// a signed-in admin through an API.
#[derive(Debug, Clone, Copy)]
pub enum Importer<'a> {
    CommandLine,
    Caller(&'a Actor),
}

impl Importer<'_> {
    fn check(&self) -> Result<()> {
        match self {
            Importer::CommandLine => Ok(()),
            Importer::Caller(actor) if policy::may_import(actor) => Ok(()),
            Importer::Caller(_) => Err(Error::Forbidden(Resource::Post)),
        }
    }
}

/// Choices for a whole import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The author of posts whose `author` key names no user of this site (a username).
    pub author: Option<String>,
    /// The language of files that state none (Hugo's `defaultContentLanguage`), a BCP 47 tag.
    pub language: Option<String>,
}

/// Why a file is not imported: the line it is about (1 for the file as a whole; none when
/// the site refused the post, not the file) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub line: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

fn whole_file(reason: impl Into<String>) -> FileError {
    FileError {
        line: Some(1),
        reason: reason.into(),
    }
}

/// Largest file an import reads, in bytes: a body holds at most a million characters.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// What an import did with each file, in the order they were imported.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub files: Vec<FileReport>,
}

/// One file's import: its post, or why it has none.
#[derive(Debug)]
pub struct FileReport {
    pub path: PathBuf,
    pub result: std::result::Result<Imported, FileError>,
}

impl ImportReport {
    /// How many files had `outcome`.
    pub fn count(&self, outcome: ImportOutcome) -> usize {
        self.files
            .iter()
            .filter(|file| {
                file.result
                    .as_ref()
                    .is_ok_and(|imported| imported.outcome == outcome)
            })
            .count()
    }

    /// The files not imported, with why.
    pub fn failed(&self) -> impl Iterator<Item = (&Path, &FileError)> {
        self.files.iter().filter_map(|file| match &file.result {
            Err(error) => Some((file.path.as_path(), error)),
            Ok(_) => None,
        })
    }
}

/// A post as a file describes it, checked and ready to import.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePost {
    pub slug: Slug,
    pub language: Option<String>,
    pub title: Title,
    pub description: Description,
    pub body: Body,
    pub tags: TagList,
    pub category: Option<String>,
    pub series: Option<SeriesEntry>,
    /// When it was published (or written, for a draft); `None` for now.
    pub date: Option<Timestamp>,
    pub draft: bool,
    /// The slug of the work this post translates.
    pub original_slug: Option<Slug>,
    /// The author the file names (`author: alice`), when it names one as a username.
    pub author: Option<Username>,
    pub metadata: Metadata,
}

/// A file read, or why it cannot be.
#[derive(Debug)]
pub struct Source {
    /// As given, relative to the folder imported or as named on the command line.
    pub path: PathBuf,
    pub post: std::result::Result<SourcePost, FileError>,
}

/// Longest description taken from a body that has none.
const SUMMARY_CHARS: usize = 300;

/// Reads files (`path`, and the file's text) into posts, originals before the translations
/// that name them, so that importing them in this order links every translation whose
/// original is among them.
///
/// Files that differ only in a language suffix (Hugo's `index.md`, `index.en.md`) are one
/// work: the suffix is their language, and the one without it (else the one in the default
/// language, else the first) is the original the others translate. A lone file's suffix is
/// part of its name (`node.js.md`). Two files of one import with one slug: the later fails.
pub fn read_sources(files: Vec<(PathBuf, String)>, options: &ImportOptions) -> Vec<Source> {
    let default_language = options.language.as_deref().and_then(layout::language_tag);
    let located: Vec<layout::Location> =
        files.iter().map(|(path, _)| layout::locate(path)).collect();
    let mut works: HashMap<&Path, Vec<usize>> = HashMap::new();
    for (index, location) in located.iter().enumerate() {
        works
            .entry(location.work.as_path())
            .or_default()
            .push(index);
    }
    let work_of = |index: usize| {
        works
            .get(located[index].work.as_path())
            .map_or(&[][..], Vec::as_slice)
    };
    let original_of = |index: usize| {
        let members = work_of(index);
        members
            .iter()
            .find(|&&member| located[member].language.is_none())
            .or_else(|| {
                members
                    .iter()
                    .find(|&&member| located[member].language == default_language)
            })
            .or(members.first())
            .copied()
            .unwrap_or(index)
    };
    let mut posts: Vec<std::result::Result<SourcePost, FileError>> = files
        .iter()
        .enumerate()
        .map(|(index, (_, text))| {
            let location = &located[index];
            let (name, language) = if work_of(index).len() > 1 {
                (location.name.as_str(), location.language.as_deref())
            } else {
                (location.name_with_suffix.as_str(), None)
            };
            let place = Place {
                name,
                date: location.date.as_deref(),
                language,
                default_language: default_language.as_deref(),
            };
            read_source(text, &place)
        })
        .collect();
    // A work's translations name its original by the slug it was given.
    let originals: Vec<Option<Slug>> = (0..posts.len())
        .map(|index| {
            let original = original_of(index);
            (original != index)
                .then(|| posts[original].as_ref().ok().map(|post| post.slug.clone()))
                .flatten()
        })
        .collect();
    for (post, original) in posts.iter_mut().zip(originals) {
        if let Ok(post) = post {
            post.original_slug = post.original_slug.take().or(original);
        }
    }
    let mut taken: HashMap<Slug, usize> = HashMap::new();
    for (index, entry) in posts.iter_mut().enumerate() {
        let Ok(post) = entry else {
            continue;
        };
        if post.original_slug.is_some() {
            let Some(language) = &post.language else {
                *entry = Err(whole_file(
                    "translates another post but has no language (add `lang:`)",
                ));
                continue;
            };
            // A translation whose slug is its original's takes its language as a suffix.
            if post.original_slug.as_ref() == Some(&post.slug) {
                post.slug = post.slug.with_suffix(&language.to_lowercase());
            }
        }
        if let Some(&first) = taken.get(&post.slug) {
            *entry = Err(whole_file(format!(
                "has the slug {:?} of {} too",
                post.slug.as_str(),
                files[first].0.display()
            )));
        } else {
            taken.insert(post.slug.clone(), index);
        }
    }
    let mut sources: Vec<Source> = files
        .into_iter()
        .zip(posts)
        .map(|((path, _), post)| Source { path, post })
        .collect();
    sources.sort_by_key(|source| {
        source
            .post
            .as_ref()
            .is_ok_and(|post| post.original_slug.is_some())
    });
    sources
}

/// What a file's place says of its post.
struct Place<'a> {
    name: &'a str,
    date: Option<&'a str>,
    /// From a suffix shared by translations of one work.
    language: Option<&'a str>,
    default_language: Option<&'a str>,
}

/// A slug as a file gives it: as written when it is one already (lowercase letters and
/// digits of any script, and `-` between them), else made from it as from a title.
fn slug_of(text: &str) -> Option<Slug> {
    let text = text.trim();
    let is_slug = !text.is_empty()
        && !text.starts_with('-')
        && !text.ends_with('-')
        && !text.contains("--")
        && text
            .chars()
            .all(|c| c == '-' || (c.is_alphanumeric() && !c.is_uppercase()));
    if is_slug {
        Slug::parse(text)
    } else {
        Title::parse(text)
            .ok()
            .map(|title| Slug::from_title(&title))
    }
}

/// One file, on its own.
fn read_source(text: &str, place: &Place<'_>) -> std::result::Result<SourcePost, FileError> {
    let document = frontmatter::parse(text).map_err(|error| FileError {
        line: Some(error.line),
        reason: error.reason,
    })?;
    let front = document.frontmatter;
    let field = |name: &str, problem: &str| whole_file(format!("{name} {problem}"));
    let title = front
        .title
        .as_deref()
        .filter(|title| !title.trim().is_empty())
        .ok_or_else(|| whole_file("has no title (add `title:` to its frontmatter)"))?;
    let title = Title::parse(title).map_err(|problem| field("title", problem))?;
    let body = Body::parse(&document.body).map_err(|problem| field("body", problem))?;
    let description = match front.description.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => text.to_owned(),
        _ => markdown::summary(body.as_str(), SUMMARY_CHARS)
            .unwrap_or_else(|| title.as_str().to_owned()),
    };
    let description =
        Description::parse(&description).map_err(|problem| field("description", problem))?;
    let tags = TagList::parse(&front.tags).map_err(|problem| field("tags", problem))?;
    let language = match front.lang.as_deref() {
        Some(text) => Some(
            layout::language_tag(text)
                .ok_or_else(|| field("lang", "must be a language tag such as en or pt-BR"))?,
        ),
        None => place.language.or(place.default_language).map(str::to_owned),
    };
    let category = match front.category.as_deref().map(str::trim) {
        Some("") | None => None,
        Some(text) => {
            Some(super::posts::category(text).map_err(|problem| field("category", problem))?)
        }
    };
    let series = front.series.map(|series| SeriesEntry {
        name: series.name,
        position: series.order.unwrap_or(0),
    });
    let date = match (front.published.as_deref(), place.date) {
        (Some(text), _) if !text.is_empty() => Some(
            layout::date_millis(text)
                .ok_or_else(|| field("date", &format!("{text:?} is not a date")))?,
        ),
        (_, Some(text)) => layout::date_millis(text),
        _ => None,
    }
    .map(Timestamp::from_millis);
    let original_slug = match front.original_slug.as_deref() {
        Some(text) => Some(slug_of(text).ok_or_else(|| field("originalSlug", "is blank"))?),
        None => None,
    };
    let slug = match front.slug.as_deref() {
        Some(text) => slug_of(text).ok_or_else(|| field("slug", "is blank"))?,
        None => slug_of(place.name).unwrap_or_else(|| Slug::from_trusted("post".to_owned())),
    };
    if slug.is_reserved() {
        return Err(field("slug", "names a route (it is reserved)"));
    }
    let author = front
        .extra
        .get("author")
        .and_then(serde_json::Value::as_str)
        .and_then(|name| Username::parse(name).ok());
    let mut metadata = front.extra;
    if let Some(image) = front.image {
        metadata.insert("image".to_owned(), serde_json::Value::String(image));
    }
    Ok(SourcePost {
        slug,
        language,
        title,
        description,
        body,
        tags,
        category,
        series,
        date,
        draft: front.draft,
        original_slug,
        author,
        metadata,
    })
}

/// What importing one post did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub outcome: ImportOutcome,
    pub id: PostId,
    pub slug: Slug,
    /// What the import could not do but did not stop for, such as a translation whose
    /// original is not on this site (its `originalSlug` is kept as metadata).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImportOutcome {
    Created,
    Updated,
    Unchanged,
}

impl ImportOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }
}

/// A post written out as a Markdown file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFile {
    /// Relative to the export's folder: `<slug>.md`.
    pub path: PathBuf,
    pub text: String,
}

/// `<slug>.md`; `post-<id>.md` for a slug that is not a plain file name (quire's slugs are
/// letters, digits and `-`) or is too long for one (most file systems allow 255 bytes).
fn export_path(post: &Post) -> PathBuf {
    let slug = post.slug.as_str();
    let plain = !slug.starts_with('.') && !slug.contains(['/', '\\', '\0']) && slug.len() <= 200;
    if plain {
        PathBuf::from(format!("{slug}.md"))
    } else {
        PathBuf::from(format!("post-{}.md", post.id.get()))
    }
}

impl<S: Store> Quire<S> {
    /// Whether `importer` may import and export, asked before a request's files are read.
    ///
    /// # Errors
    /// [`Error::Forbidden`] for a caller who is not an admin.
    pub fn imports_allowed(&self, importer: Importer<'_>) -> Result<()> {
        importer.check()
    }

    /// Imports files (each a path relative to the folder imported, and its bytes): reads them
    /// ([`read_sources`]), then imports each ([`Quire::import_post`]), calling `progress`
    /// with the path of each file done. A file that cannot be read, or whose post the site
    /// refuses (no author, a slug in another language), is reported in its place and
    /// skipped whole; the others are imported.
    ///
    /// # Errors
    /// [`Error::Forbidden`] for a caller who is not an admin, before any file is read; a
    /// storage fault (unavailable, internal), which stops the import where it is: what was
    /// imported before stays, and importing again goes on from there.
    pub async fn import_files(
        &self,
        importer: Importer<'_>,
        files: Vec<(PathBuf, Vec<u8>)>,
        options: &ImportOptions,
        progress: &mut (dyn FnMut(&Path) + Send),
    ) -> Result<ImportReport> {
        importer.check()?;
        let mut report = ImportReport::default();
        let mut texts = Vec::with_capacity(files.len());
        for (path, bytes) in files {
            let unreadable = if bytes.len() > MAX_FILE_BYTES {
                Some(format!(
                    "is larger than {} MiB",
                    MAX_FILE_BYTES / (1024 * 1024)
                ))
            } else {
                None
            };
            match unreadable.map_or_else(
                || String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned()),
                Err,
            ) {
                Ok(text) => texts.push((path, text)),
                Err(reason) => {
                    progress(&path);
                    report.files.push(FileReport {
                        path,
                        result: Err(whole_file(reason)),
                    });
                }
            }
        }
        for source in read_sources(texts, options) {
            let result = match source.post {
                Err(error) => Err(error),
                Ok(post) => match self.import_post(importer, &post, options).await {
                    Ok(imported) => Ok(imported),
                    Err(
                        error @ (Error::Invalid(_)
                        | Error::Conflict(_)
                        | Error::NotFound(_)
                        | Error::Stale(_)),
                    ) => Err(FileError {
                        line: None,
                        reason: error.to_string(),
                    }),
                    Err(error) => return Err(error),
                },
            };
            progress(&source.path);
            report.files.push(FileReport {
                path: source.path,
                result,
            });
        }
        Ok(report)
    }

    /// Imports one post read from a file: creates it, updates the post with its slug and
    /// language, or leaves that post as it is when nothing differs. The same events as
    /// writing it through the API are recorded. A future date makes a post that is not a
    /// draft a draft scheduled for that date, as static-site generators leave such posts
    /// out until then.
    ///
    /// # Errors
    /// [`Error::Forbidden`] for a caller who is not an admin; [`Error::Invalid`] (`author`)
    /// when no active author can be found; [`Error::Conflict`] (`slug`) when the slug belongs
    /// to a post in another language; storage errors.
    pub async fn import_post(
        &self,
        importer: Importer<'_>,
        source: &SourcePost,
        options: &ImportOptions,
    ) -> Result<Imported> {
        importer.check()?;
        let mut notes = Vec::new();
        let existing = self.store.post_by_slug(&source.slug, None).await?;
        if let Some(existing) = &existing
            && existing.meta.language != source.language
        {
            let mut errors = FieldErrors::new();
            errors.add("slug", "is taken by a post in another language");
            return Err(Error::Conflict(errors));
        }
        // The author the file names, when they are a user of this site.
        let named = match &source.author {
            Some(username) => self.store.profile(username, None).await?,
            None => None,
        };
        let mut metadata = source.metadata.clone();
        if named.is_some() {
            // The author is the post's own; an export writes it back from there.
            metadata.remove("author");
        }
        let original = match &source.original_slug {
            None => None,
            Some(original) => match self.store.post_by_slug(original, None).await? {
                Some(original) => Some(original),
                None => {
                    notes.push(format!(
                        "its original {:?} is not on this site: not linked (kept as originalSlug)",
                        original.as_str()
                    ));
                    metadata.insert(
                        "originalSlug".to_owned(),
                        serde_json::Value::String(original.as_str().to_owned()),
                    );
                    None
                }
            },
        };
        if let Some(original) = &original {
            let itself = existing
                .as_ref()
                .is_some_and(|existing| existing.id == original.id);
            if itself || original.meta.language == source.language {
                let mut errors = FieldErrors::new();
                errors.add("originalSlug", "names a post in the same language");
                return Err(Error::Invalid(errors));
            }
        }
        // Only a new post needs an author who may write: an existing one keeps its own.
        let actor = match &existing {
            None => Some(self.import_author(named, options).await?),
            Some(_) => None,
        };
        let translation_group = match &original {
            Some(original) => Some(self.translation_group_of(original).await?),
            None => None,
        };
        // Who changes an existing post: the admin who imports, or the system for the command
        // line (as scheduled publishing is).
        let acting = match importer {
            Importer::Caller(caller) => Some(caller.user_id),
            Importer::CommandLine => None,
        };
        let now = self.adapters.clock.now();
        let (status, publish_at) = match source.date {
            _ if source.draft => (PostStatus::Draft, None),
            Some(date) if date > now => (PostStatus::Draft, Some(date)),
            _ => (PostStatus::Published, None),
        };
        let Some(existing) = existing else {
            let Some(actor) = actor else {
                return Err(Error::internal("an imported post to create has no author"));
            };
            let new = NewPost {
                slug: source.slug.clone(),
                title: source.title.clone(),
                description: source.description.clone(),
                rendered: Rendering::of(&source.body),
                search: search_document(&source.title, &source.description, source.body.as_str()),
                body: source.body.clone(),
                tags: source.tags.clone(),
                author_id: actor.user_id,
                status,
                publish_at,
                meta: PostMeta {
                    language: source.language.clone(),
                    category: source.category.clone(),
                    series: source.series.clone(),
                    translation_group,
                    metadata,
                },
                at: source.date.filter(|date| *date <= now).unwrap_or(now),
            };
            let record = |id: &PostId| self.creation_events(actor.user_id, *id, &new);
            let id = self
                .store
                .insert_post(&new, &record)
                .await
                .map_err(|error| {
                    if error.is_conflict_on("slug") {
                        let mut errors = FieldErrors::new();
                        errors.add("slug", "is taken by another post");
                        Error::Conflict(errors)
                    } else {
                        error
                    }
                })?;
            return Ok(Imported {
                outcome: ImportOutcome::Created,
                id,
                slug: source.slug.clone(),
                notes,
            });
        };
        let differs = |same: bool| (!same).then_some(());
        let mut changes = PostChanges::at(now.after(existing.updated_at));
        changes.title = differs(existing.title == source.title).map(|()| source.title.clone());
        changes.description = differs(existing.description == source.description)
            .map(|()| source.description.clone());
        if existing.body.as_ref() != Some(&source.body) {
            changes.rendered = Some(Rendering::of(&source.body));
            changes.body = Some(source.body.clone());
        }
        if changes.title.is_some() || changes.description.is_some() || changes.body.is_some() {
            changes.search = Some(IndexEntry {
                document: search_document(&source.title, &source.description, source.body.as_str()),
                made_from: existing.updated_at,
            });
        }
        changes.tags = differs(existing.tags == source.tags).map(|()| source.tags.clone());
        changes.category =
            differs(existing.meta.category == source.category).map(|()| source.category.clone());
        changes.series =
            differs(existing.meta.series == source.series).map(|()| source.series.clone());
        if translation_group.is_some() && existing.meta.translation_group != translation_group {
            changes.translation_group = Some(translation_group);
        }
        changes.metadata = differs(existing.meta.metadata == metadata).map(|()| metadata);
        changes.status = differs(existing.status == status).map(|()| status);
        changes.publish_at = differs(existing.publish_at == publish_at).map(|()| publish_at);
        let date = source.date.filter(|date| *date <= now);
        if status == PostStatus::Published && date.is_some() && existing.published_at != date {
            changes.published_at = date;
        }
        let unchanged = changes.title.is_none()
            && changes.description.is_none()
            && changes.body.is_none()
            && changes.tags.is_none()
            && changes.category.is_none()
            && changes.series.is_none()
            && changes.translation_group.is_none()
            && changes.metadata.is_none()
            && changes.status.is_none()
            && changes.publish_at.is_none()
            && changes.published_at.is_none();
        let outcome = if unchanged {
            ImportOutcome::Unchanged
        } else {
            changes.expected_updated_at = Some(existing.updated_at);
            let record =
                |post: &PostData| self.update_events(acting, &existing.slug, &changes, post);
            self.store
                .update_post(existing.id, &changes, &record)
                .await?;
            ImportOutcome::Updated
        };
        Ok(Imported {
            outcome,
            id: existing.id,
            slug: existing.slug,
            notes,
        })
    }

    /// The author of a new imported post: the user the file names (`named`), else the
    /// import's author; either must be active and hold the author role.
    async fn import_author(
        &self,
        named: Option<crate::model::Profile>,
        options: &ImportOptions,
    ) -> Result<Actor> {
        let invalid = |reason: &'static str| {
            let mut errors = FieldErrors::new();
            errors.add("author", reason);
            Error::Invalid(errors)
        };
        let profile = match named {
            Some(profile) => profile,
            None => {
                let Some(name) = options.author.as_deref() else {
                    return Err(invalid(
                        "is not given: name a user in the file's `author` key or give the import an author",
                    ));
                };
                let username = Username::parse(name).map_err(invalid)?;
                self.store
                    .profile(&username, None)
                    .await?
                    .ok_or_else(|| invalid("names no user of this site"))?
            }
        };
        let user = self
            .store
            .user_by_id(profile.id)
            .await?
            .ok_or_else(|| invalid("names no user of this site"))?;
        let actor = Actor::new(user.id, user.roles);
        if user.active && policy::may_create_post(&actor) {
            Ok(actor)
        } else {
            Err(invalid("must be an active user with the author role"))
        }
    }

    /// The translation group of `original`, making one (numbered by its id) when it has none.
    async fn translation_group_of(&self, original: &Post) -> Result<i64> {
        if let Some(group) = original.meta.translation_group {
            return Ok(group);
        }
        let group = original.id.get();
        let mut changes = PostChanges::at(self.adapters.clock.now().after(original.updated_at));
        changes.translation_group = Some(Some(group));
        let record = |post: &PostData| self.update_events(None, &original.slug, &changes, post);
        self.store
            .update_post(original.id, &changes, &record)
            .await?;
        Ok(group)
    }

    /// Every post, drafts included, a page at a time: (ids, the cursor of the next page).
    /// Published posts come first, then drafts.
    ///
    /// # Errors
    /// [`Error::Forbidden`] for a caller who is not an admin; storage errors.
    pub async fn export_ids(
        &self,
        importer: Importer<'_>,
        drafts: bool,
        after: Option<crate::paging::Cursor>,
    ) -> Result<(Vec<PostId>, Option<crate::paging::Cursor>)> {
        importer.check()?;
        let filter = crate::model::PostFilter {
            drafts,
            ..crate::model::PostFilter::default()
        };
        let request = crate::model::KeysetRequest {
            limit: 100,
            after,
            count: false,
        };
        let page = self.store.page_posts(&filter, request, None).await?;
        Ok((page.posts.iter().map(|post| post.id).collect(), page.next))
    }

    /// One post as a Markdown file with a YAML header that [`read_sources`] reads back into
    /// the same post. `None` when it no longer exists.
    ///
    /// # Errors
    /// [`Error::Forbidden`] for a caller who is not an admin; storage errors.
    pub async fn export_post(
        &self,
        importer: Importer<'_>,
        id: PostId,
    ) -> Result<Option<ExportedFile>> {
        importer.check()?;
        let Some(post) = self.store.post(id, None).await? else {
            return Ok(None);
        };
        // The group is numbered by its original's id.
        let original_slug = match post.meta.translation_group {
            Some(group) if group != post.id.get() => self
                .store
                .post(PostId::new(group), None)
                .await?
                .map(|original| original.slug.as_str().to_owned()),
            _ => None,
        };
        let mut extra: BTreeMap<String, serde_json::Value> = post.meta.metadata.clone();
        // An image kept as a table (`{url, alt}`) stays in the metadata.
        let image = match extra.get("image") {
            Some(serde_json::Value::String(image)) => {
                let image = image.clone();
                extra.remove("image");
                Some(image)
            }
            _ => None,
        };
        let original_slug = original_slug.or_else(|| {
            extra
                .remove("originalSlug")
                .and_then(|slug| slug.as_str().map(str::to_owned))
        });
        extra
            .entry("author".to_owned())
            .or_insert_with(|| serde_json::Value::String(post.author.username.as_str().to_owned()));
        let date = match post.status {
            PostStatus::Published => post.published_at,
            PostStatus::Draft => post.publish_at.or(Some(post.created_at)),
        };
        let front = frontmatter::Frontmatter {
            title: Some(post.title.as_str().to_owned()),
            published: date.map(Timestamp::to_rfc3339),
            description: Some(post.description.as_str().to_owned()),
            image,
            tags: post.tags.names(),
            category: post.meta.category.clone(),
            draft: post.status == PostStatus::Draft && post.publish_at.is_none(),
            lang: post.meta.language.clone(),
            slug: Some(post.slug.as_str().to_owned()),
            original_slug,
            series: post.meta.series.as_ref().map(|series| frontmatter::Series {
                name: series.name.clone(),
                order: Some(series.position),
            }),
            extra,
        };
        let body = post.body.as_ref().map_or("", Body::as_str);
        Ok(Some(ExportedFile {
            path: export_path(&post),
            text: frontmatter::write(&front, body),
        }))
    }
}
