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
        let mut links = self.store.translations(group).await?;
        links.retain(|link| link.id != post.id);
        Ok(links)
    }
}
