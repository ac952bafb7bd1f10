//! Renderings of bodies written before bodies were rendered, or by an older renderer.

use super::Quire;
use crate::error::{Error, Result};
use crate::model::Rendering;
use crate::ports::Store;

/// Posts rendered per transaction by [`Quire::render_missing`].
const RENDER_BATCH: u32 = 50;

impl<S: Store> Quire<S> {
    /// Renders, in batches, the bodies of posts that have no rendering by this version's
    /// renderer (written before bodies were rendered, or by an older renderer), so that no
    /// read renders one; answers how many. Rendering runs on the blocking pool, off the
    /// threads that serve requests.
    pub async fn render_missing(&self) -> Result<usize> {
        let mut after = 0;
        let mut done = 0;
        loop {
            let batch = self
                .store
                .posts_to_render(after, RENDER_BATCH, quire_content::RENDERER_VERSION)
                .await?;
            let Some((last, ..)) = batch.last() else {
                return Ok(done);
            };
            after = last.get();
            let renderings = tokio::task::spawn_blocking(move || {
                batch
                    .into_iter()
                    .map(|(id, updated_at, body)| (id, updated_at, Rendering::of(&body)))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(Error::internal)?;
            self.store.store_renderings(&renderings).await?;
            done += renderings.len();
        }
    }
}
