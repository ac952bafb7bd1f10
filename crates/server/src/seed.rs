//! `quire seed`: a new database filled with realistic data for load tests
//! ([`quire_storage::SeedSize`]), rendered and indexed like data written through the API.

use std::io::IsTerminal;

use anyhow::Context;
use quire_core::ports::Clock;
use quire_core::roles::Roles;
use quire_core::service::{PasswordRule, Registration, SessionKind};
use quire_storage::{SeedProgress, SeedSize};

use crate::adapters::SystemClock;
use crate::app::build_core;
use crate::config::Config;
use crate::transfer::progress;

/// The password of every seeded user (`user<N>@example.com`, N from 1).
pub const SEED_PASSWORD: &str = "quiet harbour lantern at dawn";

/// What was seeded.
#[derive(Debug)]
pub struct Seeded {
    pub size: SeedSize,
    /// Posts rendered, and posts indexed for search (0 when indexing was skipped).
    pub rendered: usize,
    pub indexed: usize,
}

struct Bar(indicatif::ProgressBar, bool);

impl SeedProgress for Bar {
    fn seeded(&mut self, posts: i64, of: i64) {
        self.0.set_position(u64::try_from(posts).unwrap_or(0));
        if !self.1 {
            eprintln!("seeded {posts} of {of} posts");
        }
    }
}

/// Seeds a new database with `posts` posts: user 1 through the use-case that registers users
/// (so its password hash is real), everything else set by set in SQL; then renders every
/// body and, if `index`, builds every search entry.
///
/// # Errors
/// A database that cannot be opened or already holds data, or a storage fault.
pub async fn seed(config: &Config, posts: i64, index: bool) -> anyhow::Result<Seeded> {
    let size = SeedSize::for_posts(posts);
    let quire = build_core(config).await?;
    if quire.store().holds_data().await? {
        anyhow::bail!("quire seed fills a new, empty database; this one already holds data");
    }
    let first = quire
        .create_user(
            Registration {
                username: Some("user1".to_owned()),
                email: Some("user1@example.com".to_owned()),
                password: Some(SEED_PASSWORD.to_owned()),
                password_rule: PasswordRule::Standard,
            },
            Roles::REGISTERED,
            SessionKind::LongLived,
        )
        .await
        .map_err(|error| anyhow::anyhow!("creating the first user: {error}"))?
        .user;
    let terminal = std::io::stderr().is_terminal();
    let bar = progress(u64::try_from(posts).unwrap_or(0), "seeding");
    let mut told = Bar(bar, terminal);
    quire
        .store()
        .seed(size, first.id, SystemClock.now(), &mut told)
        .await
        .context("seeding")?;
    told.0.finish_and_clear();
    let rendered = quire.render_missing().await.context("rendering")?;
    let indexed = if index {
        let bar = progress(u64::try_from(posts).unwrap_or(0), "indexing");
        let done = quire
            .reindex_search(false, |done| bar.set_position(done as u64))
            .await
            .context("indexing for search")?;
        bar.finish_and_clear();
        done
    } else {
        0
    };
    quire.store().close().await;
    Ok(Seeded {
        size,
        rendered,
        indexed,
    })
}
