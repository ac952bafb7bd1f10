//! Core entities as the messages of `proto/quire/v1/resources.proto`: the one conversion that
//! both `/api/v1` (its `application/x-protobuf`, and the JSON and XML built from the same
//! messages) and the gRPC services use, so the two contracts cannot drift apart.

use quire_core::model::{Comment, Post, PostLink, Profile, SeriesContents, UserView};
use quire_core::roles::Role;
use quire_core::service::SearchHit;
use quire_proto::v1 as pb;

pub fn user(view: &UserView) -> pb::User {
    let user = &view.user;
    pb::User {
        user_id: user.id.get(),
        username: user.username.as_str().to_owned(),
        email: view.email.as_ref().map(|email| email.as_str().to_owned()),
        name: user.name.clone(),
        bio: user.bio.as_ref().map(|bio| bio.as_str().to_owned()),
        image: user.image.as_ref().map(|url| url.as_str().to_owned()),
        is_active: view.account.map(|account| account.active),
        roles: view
            .account
            .iter()
            .flat_map(|account| account.roles.iter())
            .map(|role: Role| role.as_str().to_owned())
            .collect(),
        created_at: user.created_at.to_rfc3339(),
        updated_at: user.updated_at.to_rfc3339(),
    }
}

pub fn author(profile: &Profile) -> pb::Author {
    pb::Author {
        user_id: profile.id.get(),
        username: profile.username.as_str().to_owned(),
        name: profile.name.clone(),
        image: profile.image.as_ref().map(|url| url.as_str().to_owned()),
        following: profile.following,
    }
}

pub fn post(post: &Post) -> pb::Post {
    let rendering = post.rendering();
    pb::Post {
        post_id: post.id.get(),
        slug: post.slug.as_str().to_owned(),
        title: post.title.as_str().to_owned(),
        description: post.description.as_str().to_owned(),
        content: post.body.as_ref().map(|body| body.as_str().to_owned()),
        tags: post.tags.names(),
        status: post.status.as_str().to_owned(),
        published_at: post.published_at.map(|at| at.to_rfc3339()),
        language: post.meta.language.clone(),
        category: post.meta.category.clone(),
        author: Some(author(&post.author)),
        favorites_count: post.favorites_count,
        favorited: post.favorited,
        created_at: post.created_at.to_rfc3339(),
        updated_at: post.updated_at.to_rfc3339(),
        publish_at: post.publish_at.map(|at| at.to_rfc3339()),
        content_html: rendering.as_ref().map(|rendering| rendering.html.clone()),
        toc: rendering
            .as_ref()
            .map(|rendering| {
                rendering
                    .toc
                    .iter()
                    .map(|entry| pb::TocEntry {
                        level: u32::from(entry.level),
                        id: entry.id.clone(),
                        title: entry.title.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        reading_minutes: rendering
            .as_ref()
            .map(|rendering| rendering.reading_minutes),
    }
}

/// A link to a post: a series member, a translation.
pub fn post_link(link: &PostLink) -> pb::PostLink {
    pb::PostLink {
        post_id: link.id.get(),
        slug: link.slug.as_str().to_owned(),
        title: link.title.as_str().to_owned(),
        language: link.language.clone(),
        position: link.position,
    }
}

/// A post's series, with the post's neighbours.
pub fn series(series: &SeriesContents) -> pb::SeriesContents {
    pb::SeriesContents {
        name: series.name.clone(),
        position: series.position,
        posts: series.posts.iter().map(post_link).collect(),
        previous: series.previous.as_ref().map(post_link),
        next: series.next.as_ref().map(post_link),
    }
}

/// Search results, best first.
pub fn search_results(hits: &[SearchHit]) -> pb::SearchResults {
    pb::SearchResults {
        items: hits
            .iter()
            .map(|hit| pb::SearchHit {
                post: Some(post(&hit.post)),
                score: hit.score,
                snippet: hit.snippet.clone(),
            })
            .collect(),
    }
}

pub fn comment(comment: &Comment) -> pb::Comment {
    pb::Comment {
        comment_id: comment.id.get(),
        post_id: comment.post_id.get(),
        content: comment.body.as_str().to_owned(),
        author: Some(author(&comment.author)),
        created_at: comment.created_at.to_rfc3339(),
        updated_at: comment.updated_at.to_rfc3339(),
    }
}
