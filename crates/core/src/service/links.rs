//! What links posts to one another: a series' contents, and a work's translations.

use super::{PostAddress, Quire};
use crate::error::Result;
use crate::model::{PostLink, SeriesContents};
use crate::policy::Actor;
use crate::ports::Store;

impl<S: Store> Quire<S> {
    /// The series of a post the viewer may see: its name, the published posts of the same
    /// author's series in the post's language in order, and the post's previous and next.
    /// `None` when the post is in no series.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for a post the viewer may not see; storage errors.
    pub async fn series_of<'a>(
        &self,
        address: impl Into<PostAddress<'a>>,
        viewer: Option<&Actor>,
    ) -> Result<Option<SeriesContents>> {
        let post = self.post(address, viewer).await?;
        let Some(series) = &post.meta.series else {
            return Ok(None);
        };
        let posts = self
            .store
            .series_posts(post.author.id, &series.name, post.meta.language.as_deref())
            .await?;
        let at = posts.iter().position(|link| link.id == post.id);
        let previous = at
            .and_then(|at| at.checked_sub(1))
            .and_then(|before| posts.get(before))
            .cloned();
        let next = at.and_then(|at| posts.get(at + 1)).cloned();
        Ok(Some(SeriesContents {
            name: series.name.clone(),
            position: series.position,
            posts,
            previous,
            next,
        }))
    }

    /// The other published versions of a post the viewer may see, in other languages, by
    /// language; none when it has no translations.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for a post the viewer may not see; storage errors.
    pub async fn translations_of<'a>(
        &self,
        address: impl Into<PostAddress<'a>>,
        viewer: Option<&Actor>,
    ) -> Result<Vec<PostLink>> {
        let post = self.post(address, viewer).await?;
        let Some(group) = post.meta.translation_group else {
            return Ok(Vec::new());
        };
        let links = self.store.translations(&[group]).await?;
        Ok(other_languages(
            links.into_iter().map(|(_, link)| link),
            &post,
        ))
    }
}

/// A post chosen among its translations for a reader's languages.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub post: crate::cache::Shown<crate::model::Post>,
    /// Whether the choice looked at the post's translations: then what is shown depends on
    /// posts the post's own cache keys do not name.
    pub negotiated: bool,
}

/// The versions of `post` in languages other than its own, the first of each language.
fn other_languages(
    versions: impl Iterator<Item = PostLink>,
    post: &crate::model::Post,
) -> Vec<PostLink> {
    let mut seen: Vec<Option<String>> = vec![post.meta.language.clone()];
    versions
        .filter(|link| link.id != post.id)
        .filter(|link| {
            let new = !seen.contains(&link.language);
            if new {
                seen.push(link.language.clone());
            }
            new
        })
        .collect()
}

/// A post as a feed carries it: its list form, its body rendered, and its translations.
#[derive(Debug, Clone)]
pub struct Syndicated {
    pub post: crate::model::Post,
    /// Sanitized HTML.
    pub html: String,
    pub translations: Vec<PostLink>,
}

/// A published post as a sitemap lists it, with its translations (itself among them).
#[derive(Debug, Clone)]
pub struct Mapped {
    pub link: PostLink,
    pub updated_at: crate::time::Timestamp,
    /// Every published version, this one included; empty when it has no translations.
    pub versions: Vec<PostLink>,
}

/// Posts per sitemap file, by id: a file covers ids `[n × SITEMAP_BLOCK, (n + 1) ×
/// SITEMAP_BLOCK)`, so a file's address never changes as posts are added (the sitemaps
/// protocol allows 50,000 URLs a file).
pub const SITEMAP_BLOCK: i64 = 10_000;

impl<S: Store> Quire<S> {
    /// The post at `address`, or the version of it (among its published translations) that
    /// best suits a reader who wants `wanted` (language ranges, best first), else the version
    /// in `fallback`, else the post itself ([`quire_content::layout::lookup`]).
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] for a post the viewer may not see; storage errors.
    pub async fn post_in_language<'a>(
        &self,
        address: impl Into<PostAddress<'a>>,
        viewer: Option<&Actor>,
        wanted: &[String],
        fallback: Option<&str>,
    ) -> Result<Chosen> {
        let shown = self.post_shown(address, viewer).await?;
        let Some(group) = shown
            .value
            .meta
            .translation_group
            .filter(|_| !wanted.is_empty())
        else {
            return Ok(Chosen {
                post: shown,
                negotiated: false,
            });
        };
        let mut versions: Vec<(crate::ids::PostId, Option<String>)> = self
            .store
            .translations(&[group])
            .await?
            .into_iter()
            .map(|(_, link)| (link.id, link.language))
            .collect();
        if !versions.iter().any(|(id, _)| *id == shown.value.id) {
            versions.insert(0, (shown.value.id, shown.value.meta.language.clone()));
        }
        let available: Vec<Option<&str>> = versions
            .iter()
            .map(|(_, language)| language.as_deref())
            .collect();
        let fallback: Vec<String> = fallback.map(str::to_owned).into_iter().collect();
        let chosen = quire_content::layout::lookup(wanted, &available)
            .or_else(|| quire_content::layout::lookup(&fallback, &available))
            .map(|index| versions[index].0);
        let post = match chosen {
            // The version may have been taken back since the list was read: the post asked
            // for then stands.
            Some(id) if id != shown.value.id => match self.post_shown(id, viewer).await {
                Ok(other) => other,
                Err(crate::Error::NotFound(_)) => shown,
                Err(error) => return Err(error),
            },
            _ => shown,
        };
        Ok(Chosen {
            post,
            negotiated: true,
        })
    }

    /// The newest published posts that `filter` selects, at most `limit`, for a feed: each
    /// with its rendered body and its other published versions.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn syndicated(
        &self,
        filter: super::PostListing<'_>,
        limit: u32,
    ) -> Result<Vec<Syndicated>> {
        let request = crate::model::KeysetRequest {
            limit,
            after: None,
            count: false,
        };
        let page = self.page_posts(filter, request, None).await?;
        let ids: Vec<_> = page.posts.iter().map(|post| post.id).collect();
        let mut bodies: std::collections::HashMap<_, _> =
            self.post_bodies(&ids, None).await?.into_iter().collect();
        let groups: Vec<i64> = page
            .posts
            .iter()
            .filter_map(|post| post.meta.translation_group)
            .collect();
        let versions = self.store.translations(&groups).await?;
        Ok(page
            .posts
            .into_iter()
            .map(|post| {
                let html = bodies
                    .remove(&post.id)
                    .map(|body| body.rendering().html.clone())
                    .unwrap_or_default();
                let translations = other_languages(
                    versions
                        .iter()
                        .filter(|(group, _)| Some(*group) == post.meta.translation_group)
                        .map(|(_, link)| link.clone()),
                    &post,
                );
                Syndicated {
                    post,
                    html,
                    translations,
                }
            })
            .collect())
    }

    /// How many sitemap files the published posts fill ([`SITEMAP_BLOCK`] ids each).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn sitemap_files(&self) -> Result<i64> {
        let highest = self.store.highest_post_id().await?.unwrap_or(0);
        Ok(highest / SITEMAP_BLOCK + 1)
    }

    /// The published posts of sitemap file `file` (from 0), by id, each with its versions.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn sitemap(&self, file: i64) -> Result<Vec<Mapped>> {
        let from = file.saturating_mul(SITEMAP_BLOCK);
        let posts = self
            .store
            .published_between(from, from.saturating_add(SITEMAP_BLOCK))
            .await?;
        let groups: Vec<i64> = posts.iter().filter_map(|(_, _, group)| *group).collect();
        let versions = self.store.translations(&groups).await?;
        Ok(posts
            .into_iter()
            .map(|(link, updated_at, group)| Mapped {
                link,
                updated_at,
                versions: versions
                    .iter()
                    .filter(|(of, _)| Some(*of) == group)
                    .map(|(_, link)| link.clone())
                    .collect(),
            })
            .collect())
    }
}
