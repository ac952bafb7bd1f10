//! The form a shared read model takes outside the process (in Redis): plain serde structs
//! mirroring `quire_core::model`, read back with the values' trusted constructors (what was
//! stored was parsed once already, when it was written to the database).

use std::collections::BTreeMap;
use std::sync::Arc;

use quire_core::cache::CacheEntry;
use quire_core::ids::{PostId, UserId};
use quire_core::model::{Post, PostMeta, PostPage, PostStatus, Profile, Rendering, SeriesEntry};
use quire_core::time::Timestamp;
use quire_core::values::{
    Bio, Body, Description, ImageUrl, Slug, TagList, TagName, Title, Username,
};

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Stored {
    Post(Box<StoredPost>),
    Page { posts: Vec<StoredPost>, total: u64 },
    Tags { names: Vec<String> },
    Profile(StoredProfile),
}

#[derive(Serialize, Deserialize)]
pub(crate) struct StoredProfile {
    id: i64,
    username: String,
    name: Option<String>,
    bio: Option<String>,
    image: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct StoredPost {
    id: i64,
    slug: String,
    title: String,
    description: String,
    body: Option<String>,
    /// Absent in entries stored before bodies were rendered.
    #[serde(default)]
    rendered: Option<Rendering>,
    tags: Vec<String>,
    author: StoredProfile,
    favorites_count: i64,
    published: bool,
    published_at: Option<i64>,
    publish_at: Option<i64>,
    language: Option<String>,
    category: Option<String>,
    series: Option<(String, i64)>,
    translation_group: Option<i64>,
    /// Absent in entries stored before posts kept metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, serde_json::Value>,
    created_at: i64,
    updated_at: i64,
}

impl From<&Profile> for StoredProfile {
    fn from(profile: &Profile) -> Self {
        Self {
            id: profile.id.get(),
            username: profile.username.as_str().to_owned(),
            name: profile.name.clone(),
            bio: profile.bio.as_ref().map(|bio| bio.as_str().to_owned()),
            image: profile
                .image
                .as_ref()
                .map(|image| image.as_str().to_owned()),
        }
    }
}

impl From<StoredProfile> for Profile {
    /// A shared view: nobody's `following`.
    fn from(stored: StoredProfile) -> Self {
        Profile {
            id: UserId::new(stored.id),
            username: Username::from_trusted(stored.username),
            name: stored.name,
            bio: stored.bio.map(Bio::from_trusted),
            image: stored.image.map(ImageUrl::from_trusted),
            following: false,
        }
    }
}

impl From<&Post> for StoredPost {
    fn from(post: &Post) -> Self {
        Self {
            id: post.id.get(),
            slug: post.slug.as_str().to_owned(),
            title: post.title.as_str().to_owned(),
            description: post.description.as_str().to_owned(),
            body: post.body.as_ref().map(|body| body.as_str().to_owned()),
            rendered: post.rendered.clone(),
            tags: post.tags.names(),
            author: StoredProfile::from(&post.author),
            favorites_count: post.favorites_count,
            published: post.status == PostStatus::Published,
            published_at: post.published_at.map(Timestamp::as_millis),
            publish_at: post.publish_at.map(Timestamp::as_millis),
            language: post.meta.language.clone(),
            category: post.meta.category.clone(),
            series: post
                .meta
                .series
                .as_ref()
                .map(|series| (series.name.clone(), series.position)),
            translation_group: post.meta.translation_group,
            metadata: post.meta.metadata.clone(),
            created_at: post.created_at.as_millis(),
            updated_at: post.updated_at.as_millis(),
        }
    }
}

impl From<StoredPost> for Post {
    /// A shared view: nobody's `favorited`.
    fn from(stored: StoredPost) -> Self {
        Post {
            id: PostId::new(stored.id),
            slug: Slug::from_trusted(stored.slug),
            title: Title::from_trusted(stored.title),
            description: Description::from_trusted(stored.description),
            body: stored.body.map(Body::from_trusted),
            rendered: stored.rendered,
            tags: TagList::from_trusted(
                stored.tags.into_iter().map(TagName::from_trusted).collect(),
            ),
            author: stored.author.into(),
            favorited: false,
            favorites_count: stored.favorites_count,
            status: if stored.published {
                PostStatus::Published
            } else {
                PostStatus::Draft
            },
            published_at: stored.published_at.map(Timestamp::from_millis),
            publish_at: stored.publish_at.map(Timestamp::from_millis),
            meta: PostMeta {
                language: stored.language,
                category: stored.category,
                series: stored
                    .series
                    .map(|(name, position)| SeriesEntry { name, position }),
                translation_group: stored.translation_group,
                metadata: stored.metadata,
            },
            created_at: Timestamp::from_millis(stored.created_at),
            updated_at: Timestamp::from_millis(stored.updated_at),
        }
    }
}

impl Stored {
    /// The stored form of `entry`; `None` for a rendered response, kept in its process only.
    pub(crate) fn of(entry: &CacheEntry) -> Option<Self> {
        Some(match entry {
            CacheEntry::Post(post) => Stored::Post(Box::new(StoredPost::from(post.as_ref()))),
            CacheEntry::Page(page) => Stored::Page {
                posts: page.posts.iter().map(StoredPost::from).collect(),
                total: page.total,
            },
            CacheEntry::Tags(tags) => Stored::Tags {
                names: tags.iter().map(|tag| tag.as_str().to_owned()).collect(),
            },
            CacheEntry::Profile(profile) => Stored::Profile(StoredProfile::from(profile.as_ref())),
            CacheEntry::Rendered(_) => return None,
        })
    }
}

impl From<Stored> for CacheEntry {
    fn from(stored: Stored) -> Self {
        match stored {
            Stored::Post(post) => CacheEntry::Post(Arc::new((*post).into())),
            Stored::Page { posts, total } => CacheEntry::Page(Arc::new(PostPage {
                posts: posts.into_iter().map(Post::from).collect(),
                total,
            })),
            Stored::Tags { names } => CacheEntry::Tags(Arc::new(
                names.into_iter().map(TagName::from_trusted).collect(),
            )),
            Stored::Profile(profile) => CacheEntry::Profile(Arc::new(profile.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_entry_survives_the_trip() {
        let profile = Profile {
            id: UserId::new(3),
            username: Username::from_trusted("alice".to_owned()),
            name: Some("Alice".to_owned()),
            bio: Some(Bio::from_trusted("hi".to_owned())),
            image: None,
            following: false,
        };
        let post = Post {
            id: PostId::new(7),
            slug: Slug::from_trusted("hello".to_owned()),
            title: Title::from_trusted("Hello".to_owned()),
            description: Description::from_trusted("d".to_owned()),
            body: Some(Body::from_trusted("b".to_owned())),
            rendered: Some(Rendering::of(&Body::from_trusted("# b".to_owned()))),
            tags: TagList::from_trusted(vec![TagName::from_trusted("한국어".to_owned())]),
            author: profile.clone(),
            favorited: false,
            favorites_count: 2,
            status: PostStatus::Published,
            published_at: Some(Timestamp::from_millis(5)),
            publish_at: None,
            meta: PostMeta {
                language: Some("ko".to_owned()),
                category: None,
                series: Some(SeriesEntry {
                    name: "s".to_owned(),
                    position: 1,
                }),
                translation_group: Some(4),
                metadata: [("image".to_owned(), serde_json::json!("/a.png"))].into(),
            },
            created_at: Timestamp::from_millis(1),
            updated_at: Timestamp::from_millis(2),
        };
        let entries = [
            CacheEntry::Post(Arc::new(post.clone())),
            CacheEntry::Page(Arc::new(PostPage {
                posts: vec![post],
                total: 1,
            })),
            CacheEntry::Tags(Arc::new(vec![TagName::from_trusted("rust".to_owned())])),
            CacheEntry::Profile(Arc::new(profile)),
        ];
        for entry in entries {
            let json = serde_json::to_string(&Stored::of(&entry).unwrap()).unwrap();
            let back: CacheEntry = serde_json::from_str::<Stored>(&json).unwrap().into();
            assert_eq!(format!("{back:?}"), format!("{entry:?}"));
        }
    }
}
