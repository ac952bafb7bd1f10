//! Syndication and discovery: an Atom feed of the newest posts (RFC 4287) and sitemaps
//! (sitemaps.org 0.9), both carrying `hreflang` alternates for a post's translations
//! (RFC 4287 §4.2.7.4; the `xhtml:link` form search engines read in sitemaps).
//!
//! Links point at the site that shows the posts ([`Site`]), not at this API.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use quick_xml::Writer;
use quick_xml::events::BytesText;
use quire_core::model::PostLink;
use quire_core::ports::Store;
use quire_core::service::{PostListing, Quire};
use quire_core::time::Timestamp;
use serde::Deserialize;

use crate::error::ApiError;

/// The site that shows the posts: where feeds and sitemaps send readers.
#[derive(Debug, Clone)]
pub struct Site {
    /// Its origin and base path, without a trailing `/`: `https://blog.example.com`.
    pub url: String,
    /// A post's path on it, with `{slug}` where the slug goes: `/posts/{slug}`.
    pub post_path: String,
    /// The feed's title.
    pub title: String,
    /// The language (BCP 47) readers get when none they ask for is there.
    pub language: Option<String>,
}

impl Default for Site {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8080".to_owned(),
            post_path: "/posts/{slug}".to_owned(),
            title: "quire".to_owned(),
            language: None,
        }
    }
}

/// `text` with the characters XML 1.0 does not allow (most C0 controls, U+FFFE, U+FFFF)
/// replaced by U+FFFD, so one post's stray control character cannot break a whole document.
fn xml_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    };
    if text.chars().all(allowed) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(
            text.chars()
                .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

/// Text content, made safe for XML ([`xml_safe`]) and escaped by quick-xml.
fn text(content: &str) -> BytesText<'static> {
    BytesText::new(&xml_safe(content)).into_owned()
}

impl Site {
    /// A post's permanent Atom id (RFC 4287 §4.2.6): a `tag:` URI (RFC 4151) of the site's
    /// host and the post's id, unchanged when its slug follows a new title.
    pub fn entry_id(&self, post: i64) -> String {
        let host = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest)
            .split(['/', ':'])
            .next()
            .unwrap_or("localhost");
        format!("tag:{host},2026:post:{post}")
    }

    /// A post's address on the site, its slug percent-encoded (RFC 3986).
    pub fn post_url(&self, slug: &str) -> String {
        let slug = percent_encoding::utf8_percent_encode(slug, percent_encoding::NON_ALPHANUMERIC)
            .to_string()
            .replace("%2D", "-");
        format!("{}{}", self.url, self.post_path.replace("{slug}", &slug))
    }
}

/// Entries in a feed.
const FEED_ENTRIES: u32 = 20;

struct FeedState<S> {
    quire: Quire<S>,
    site: Arc<Site>,
}

impl<S: Clone> Clone for FeedState<S> {
    fn clone(&self) -> Self {
        Self {
            quire: self.quire.clone(),
            site: Arc::clone(&self.site),
        }
    }
}

/// `GET /feed.atom`, `GET /sitemap.xml` and `GET /sitemaps/posts-{n}.xml`.
pub(crate) fn routes<S: Store>(quire: Quire<S>, site: Arc<Site>) -> Router {
    Router::new()
        .route("/feed.atom", get(atom::<S>))
        .route("/sitemap.xml", get(sitemap_index::<S>))
        .route("/sitemaps/{file}", get(sitemap::<S>))
        .with_state(FeedState { quire, site })
}

/// Which posts a feed carries.
#[derive(Debug, Deserialize)]
struct FeedParams {
    /// BCP 47: posts in this language.
    lang: Option<String>,
    tag: Option<String>,
    /// A username.
    author: Option<String>,
}

fn xml(body: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Readers poll feeds; a minute's staleness spares the database their polling.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// The document `writer` wrote, with its XML declaration, or the fault that stopped it.
fn finish(
    result: std::io::Result<()>,
    writer: Writer<Vec<u8>>,
    content_type: &'static str,
) -> Result<Response, ApiError> {
    result
        .map_err(|error| ApiError(quire_core::Error::internal(format!("writing XML: {error}"))))?;
    Ok(xml(with_declaration(writer.into_inner()), content_type))
}

/// `GET /feed.atom`: the newest published posts (`?lang=`, `?tag=`, `?author=` narrow it),
/// each with its rendered body and links to its translations.
async fn atom<S: Store>(
    State(state): State<FeedState<S>>,
    Query(params): Query<FeedParams>,
) -> Result<Response, ApiError> {
    let filter = PostListing {
        tag: params.tag.as_deref(),
        author: params.author.as_deref(),
        language: params.lang.as_deref(),
        ..PostListing::default()
    };
    let entries = state.quire.syndicated(filter, FEED_ENTRIES).await?;
    let site = &state.site;
    let updated = entries
        .iter()
        .map(|entry| entry.post.updated_at)
        .max()
        .unwrap_or(Timestamp::from_millis(0));
    let mut writer = Writer::new(Vec::new());
    // Each filter is a feed of its own, with its own id (its address).
    let language = params
        .lang
        .as_deref()
        .and_then(quire_content::layout::language_tag);
    let mut query: Vec<String> = Vec::new();
    for (name, value) in [
        ("lang", language.as_deref()),
        ("tag", params.tag.as_deref()),
        ("author", params.author.as_deref()),
    ] {
        if let Some(value) = value {
            let value =
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC);
            query.push(format!("{name}={value}"));
        }
    }
    let feed_id = if query.is_empty() {
        format!("{}/feed.atom", site.url)
    } else {
        format!("{}/feed.atom?{}", site.url, query.join("&"))
    };
    let mut root = writer
        .create_element("feed")
        .with_attribute(("xmlns", "http://www.w3.org/2005/Atom"));
    if let Some(language) = &language {
        root = root.with_attribute(("xml:lang", language.as_str()));
    }
    let result = root.write_inner_content(|w| {
        w.create_element("title")
            .write_text_content(text(&site.title))?;
        w.create_element("id")
            .write_text_content(BytesText::new(&feed_id))?;
        w.create_element("updated")
            .write_text_content(BytesText::new(&updated.to_rfc3339()))?;
        w.create_element("link")
            .with_attributes([("rel", "self"), ("href", feed_id.as_str())])
            .write_empty()?;
        w.create_element("link")
            .with_attributes([("rel", "alternate"), ("href", site.url.as_str())])
            .write_empty()?;
        w.create_element("generator")
            .write_text_content(BytesText::new("quire"))?;
        for entry in &entries {
            let post = &entry.post;
            let url = site.post_url(post.slug.as_str());
            w.create_element("entry").write_inner_content(|w| {
                w.create_element("title")
                    .write_text_content(text(post.title.as_str()))?;
                w.create_element("id")
                    .write_text_content(text(&site.entry_id(post.id.get())))?;
                let mut link = w
                    .create_element("link")
                    .with_attributes([("rel", "alternate"), ("href", url.as_str())]);
                if let Some(language) = &post.meta.language {
                    link = link.with_attribute(("hreflang", language.as_str()));
                }
                link.write_empty()?;
                for translation in &entry.translations {
                    alternate(w, site, translation)?;
                }
                let published = post.published_at.unwrap_or(post.created_at);
                w.create_element("published")
                    .write_text_content(BytesText::new(&published.to_rfc3339()))?;
                w.create_element("updated")
                    .write_text_content(BytesText::new(&post.updated_at.to_rfc3339()))?;
                w.create_element("author").write_inner_content(|w| {
                    w.create_element("name")
                        .write_text_content(text(post.author.username.as_str()))?;
                    Ok(())
                })?;
                for tag in post.tags.as_slice() {
                    w.create_element("category")
                        .with_attribute(("term", xml_safe(tag.as_str()).as_ref()))
                        .write_empty()?;
                }
                w.create_element("summary")
                    .write_text_content(text(post.description.as_str()))?;
                w.create_element("content")
                    .with_attribute(("type", "html"))
                    .write_text_content(text(&entry.html))?;
                Ok(())
            })?;
        }
        Ok(())
    });
    finish(
        result.map(drop),
        writer,
        "application/atom+xml; charset=utf-8",
    )
}

/// A translation as an Atom alternate link.
fn alternate(w: &mut Writer<Vec<u8>>, site: &Site, translation: &PostLink) -> std::io::Result<()> {
    let href = site.post_url(translation.slug.as_str());
    let mut link = w
        .create_element("link")
        .with_attributes([("rel", "alternate"), ("href", href.as_str())]);
    if let Some(language) = &translation.language {
        link = link.with_attribute(("hreflang", language.as_str()));
    }
    link.write_empty().map(drop)
}

fn with_declaration(body: Vec<u8>) -> Vec<u8> {
    let mut out = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n".to_vec();
    out.extend(body);
    out
}

/// `GET /sitemap.xml`: the index of the post sitemaps, one per block of post ids.
async fn sitemap_index<S: Store>(State(state): State<FeedState<S>>) -> Result<Response, ApiError> {
    let files = state.quire.sitemap_files().await?;
    let mut writer = Writer::new(Vec::new());
    let result = writer
        .create_element("sitemapindex")
        .with_attribute(("xmlns", "http://www.sitemaps.org/schemas/sitemap/0.9"))
        .write_inner_content(|w| {
            for file in 0..files {
                w.create_element("sitemap").write_inner_content(|w| {
                    let loc = format!("{}/sitemaps/posts-{file}.xml", state.site.url);
                    w.create_element("loc")
                        .write_text_content(BytesText::new(&loc))?;
                    Ok(())
                })?;
            }
            Ok(())
        });
    finish(result.map(drop), writer, "application/xml; charset=utf-8")
}

/// `GET /sitemaps/posts-{n}.xml`: the published posts of block `n`, each with its last change
/// and, when it has translations, an `xhtml:link` alternate per version (itself included).
async fn sitemap<S: Store>(
    State(state): State<FeedState<S>>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError(quire_core::Error::NotFound(quire_core::Resource::Post));
    let number = file
        .strip_prefix("posts-")
        .and_then(|rest| rest.strip_suffix(".xml"))
        .and_then(|number| {
            number
                .parse::<i64>()
                .ok()
                .filter(|parsed| parsed.to_string() == number)
        })
        .filter(|number| (0..1_000_000).contains(number))
        .ok_or_else(not_found)?;
    let posts = state.quire.sitemap(number).await?;
    let site = &state.site;
    let mut writer = Writer::new(Vec::new());
    let result = writer
        .create_element("urlset")
        .with_attributes([
            ("xmlns", "http://www.sitemaps.org/schemas/sitemap/0.9"),
            ("xmlns:xhtml", "http://www.w3.org/1999/xhtml"),
        ])
        .write_inner_content(|w| {
            for post in &posts {
                w.create_element("url").write_inner_content(|w| {
                    w.create_element("loc").write_text_content(BytesText::new(
                        &site.post_url(post.link.slug.as_str()),
                    ))?;
                    w.create_element("lastmod")
                        .write_text_content(BytesText::new(&post.updated_at.to_rfc3339()))?;
                    // Alternates list every version, this one too; one of no stated
                    // language has none to give.
                    let versions = if post.link.language.is_some() {
                        post.versions.as_slice()
                    } else {
                        &[]
                    };
                    for version in versions {
                        let Some(language) = &version.language else {
                            continue;
                        };
                        let href = site.post_url(version.slug.as_str());
                        w.create_element("xhtml:link")
                            .with_attributes([
                                ("rel", "alternate"),
                                ("hreflang", language.as_str()),
                                ("href", href.as_str()),
                            ])
                            .write_empty()?;
                    }
                    Ok(())
                })?;
            }
            Ok(())
        });
    finish(result.map(drop), writer, "application/xml; charset=utf-8")
}
