//! RealWorld's wire types, and their conversion from core entities.

use quire_core::model::{Comment, Post, Profile, User};
use serde::Serialize;

pub(crate) use crate::patch::Field;

#[derive(Serialize)]
pub(crate) struct UserBody {
    pub user: UserJson,
}

#[derive(Serialize)]
pub(crate) struct UserJson {
    pub email: String,
    pub token: String,
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
}

impl UserBody {
    pub fn new(user: User, token: String) -> Self {
        Self {
            user: UserJson {
                email: user.email.as_str().to_owned(),
                token,
                username: user.username.as_str().to_owned(),
                bio: user.bio.map(|bio| bio.as_str().to_owned()),
                image: user.image.map(|image| image.as_str().to_owned()),
            },
        }
    }
}

#[derive(Serialize)]
pub(crate) struct ProfileBody {
    pub profile: ProfileJson,
}

#[derive(Serialize)]
pub(crate) struct ProfileJson {
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub following: bool,
}

impl From<Profile> for ProfileJson {
    fn from(profile: Profile) -> Self {
        Self {
            username: profile.username.as_str().to_owned(),
            bio: profile.bio.map(|bio| bio.as_str().to_owned()),
            image: profile.image.map(|image| image.as_str().to_owned()),
            following: profile.following,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArticleJson {
    pub slug: String,
    pub title: String,
    pub description: String,
    /// Left out of lists entirely, as the spec requires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub tag_list: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub favorited: bool,
    pub favorites_count: i64,
    pub author: ProfileJson,
}

impl From<Post> for ArticleJson {
    fn from(post: Post) -> Self {
        Self {
            slug: post.slug.as_str().to_owned(),
            title: post.title.as_str().to_owned(),
            description: post.description.as_str().to_owned(),
            body: post.body.map(|body| body.as_str().to_owned()),
            tag_list: post
                .tags
                .as_slice()
                .iter()
                .map(|tag| tag.as_str().to_owned())
                .collect(),
            created_at: post.created_at.to_rfc3339(),
            updated_at: post.updated_at.to_rfc3339(),
            favorited: post.favorited,
            favorites_count: post.favorites_count,
            author: post.author.into(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct ArticleBody {
    pub article: ArticleJson,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArticlesBody {
    pub articles: Vec<ArticleJson>,
    pub articles_count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommentJson {
    pub id: i64,
    pub created_at: String,
    pub updated_at: String,
    pub body: String,
    pub author: ProfileJson,
}

impl From<Comment> for CommentJson {
    fn from(comment: Comment) -> Self {
        Self {
            id: comment.id.get(),
            created_at: comment.created_at.to_rfc3339(),
            updated_at: comment.updated_at.to_rfc3339(),
            body: comment.body.as_str().to_owned(),
            author: comment.author.into(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct CommentBody {
    pub comment: CommentJson,
}

#[derive(Serialize)]
pub(crate) struct CommentsBody {
    pub comments: Vec<CommentJson>,
}

#[derive(Serialize)]
pub(crate) struct TagsBody {
    pub tags: Vec<String>,
}
