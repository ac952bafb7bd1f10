use std::fmt;

use super::{BLANK, NUL, char_len, is_blank};

/// A post's URL identifier, unique across posts; follows the title.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Longest slug derived from a title, before any disambiguating suffix.
    pub const MAX_BASE_CHARS: usize = 96;

    /// Any non-blank path segment may name a post; whether one does is for storage to say.
    /// One with a NUL character names none (no engine stores one; PostgreSQL refuses it).
    pub fn parse(text: &str) -> Option<Self> {
        (!text.is_empty() && char_len(text) <= 200 && !text.contains('\0'))
            .then(|| Self(text.to_owned()))
    }

    /// Kebab case of the title: lowercase letters and digits of any script, runs of anything
    /// else collapsed to one `-`. A title with no letters or digits gives `post`.
    pub fn from_title(title: &Title) -> Self {
        let mut slug = String::with_capacity(title.as_str().len());
        let mut pending_dash = false;
        for c in title.as_str().chars() {
            if c.is_alphanumeric() {
                if pending_dash && !slug.is_empty() {
                    slug.push('-');
                }
                pending_dash = false;
                slug.extend(c.to_lowercase());
            } else {
                pending_dash = true;
            }
            if char_len(&slug) >= Self::MAX_BASE_CHARS {
                break;
            }
        }
        if slug.is_empty() {
            slug.push_str("post");
        }
        Self(slug)
    }

    /// Whether the slug names a route rather than a post (`/articles/feed`): such a slug is
    /// never given to a post.
    pub fn is_reserved(&self) -> bool {
        Self::RESERVED.contains(&self.0.as_str())
    }

    const RESERVED: &'static [&'static str] = &["feed"];

    /// The same slug with a suffix, used when the plain one is taken.
    pub fn with_suffix(&self, suffix: &str) -> Self {
        Self(format!("{}-{suffix}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! required_text {
    ($(#[$doc:meta])* $name:ident, max = $max:expr, too_long = $too_long:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(text: &str) -> Result<Self, &'static str> {
                if is_blank(text) {
                    return Err(BLANK);
                }
                if text.contains('\0') {
                    return Err(NUL);
                }
                if char_len(text) > Self::MAX_CHARS {
                    return Err($too_long);
                }
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn from_trusted(text: String) -> Self {
                Self(text)
            }
        }
    };
}

required_text!(
    /// A post's headline.
    Title, max = 255, too_long = "is too long (maximum is 255 characters)"
);
required_text!(
    /// A post's summary, shown in lists.
    Description, max = 2_000, too_long = "is too long (maximum is 2000 characters)"
);
required_text!(
    /// A post's Markdown text. Its size is bounded by the request body limit.
    Body, max = 1_000_000, too_long = "is too long (maximum is 1000000 characters)"
);
required_text!(
    /// A comment's text.
    CommentBody, max = 20_000, too_long = "is too long (maximum is 20000 characters)"
);

/// A tag name: case-sensitive, trimmed, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TagName(String);

impl TagName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        if text.is_empty() {
            return Err("can't contain a blank tag");
        }
        if char_len(text) > Self::MAX_CHARS {
            return Err("can't contain a tag longer than 64 characters");
        }
        if text.chars().any(char::is_control) {
            return Err("can't contain control characters");
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }
}

/// A post's tags: distinct and sorted, at most [`TagList::MAX_TAGS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagList(Vec<TagName>);

impl TagList {
    pub const MAX_TAGS: usize = 20;

    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, &'static str> {
        let mut tags = items
            .iter()
            .map(|item| TagName::parse(item.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        tags.sort();
        tags.dedup();
        if tags.len() > Self::MAX_TAGS {
            return Err("can't hold more than 20 tags");
        }
        Ok(Self(tags))
    }

    pub fn as_slice(&self) -> &[TagName] {
        &self.0
    }

    /// The names as strings, in order.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|tag| tag.as_str().to_owned()).collect()
    }

    pub fn from_trusted(mut tags: Vec<TagName>) -> Self {
        tags.sort();
        tags.dedup();
        Self(tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title(text: &str) -> Title {
        Title::parse(text).unwrap()
    }

    #[test]
    fn slugs_are_kebab_case_of_the_title() {
        assert_eq!(
            Slug::from_title(&title("How to train your dragon")).as_str(),
            "how-to-train-your-dragon"
        );
        assert_eq!(
            Slug::from_title(&title("  Rust: 2024 -- Edition!! ")).as_str(),
            "rust-2024-edition"
        );
        assert_eq!(
            Slug::from_title(&title("백엔드 개발 깊이 알아보기")).as_str(),
            "백엔드-개발-깊이-알아보기"
        );
        assert_eq!(Slug::from_title(&title("!!!")).as_str(), "post");
    }

    #[test]
    fn a_slug_with_a_nul_names_no_post() {
        assert!(Slug::parse("a\0b").is_none());
        assert!(Slug::parse("").is_none());
        assert!(Slug::parse("백엔드-개발").is_some());
    }

    #[test]
    fn route_names_are_reserved() {
        assert!(Slug::from_title(&title("Feed")).is_reserved());
        assert!(!Slug::from_title(&title("Feed me")).is_reserved());
    }

    #[test]
    fn long_titles_give_bounded_slugs() {
        let slug = Slug::from_title(&title(&"word ".repeat(50)));
        assert!(char_len(slug.as_str()) <= Slug::MAX_BASE_CHARS);
        assert!(!slug.as_str().ends_with('-'));
    }

    #[test]
    fn required_texts_reject_blank() {
        assert_eq!(Title::parse(""), Err(BLANK));
        assert_eq!(Description::parse(" \n"), Err(BLANK));
        assert_eq!(Body::parse(""), Err(BLANK));
        assert_eq!(CommentBody::parse("\t"), Err(BLANK));
        assert!(Title::parse(&"t".repeat(256)).is_err());
        assert!(Title::parse(&"t".repeat(255)).is_ok());
        assert_eq!(Body::parse("a\0b"), Err(NUL));
        assert_eq!(CommentBody::parse("\0"), Err(NUL));
    }

    #[test]
    fn tag_lists_are_sorted_and_distinct() {
        let tags = TagList::parse(&["t_1", "d_1", "t_1", " d_1 "]).unwrap();
        let names: Vec<_> = tags.as_slice().iter().map(TagName::as_str).collect();
        assert_eq!(names, ["d_1", "t_1"]);
        assert!(TagList::parse(&[""]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("tag{i}")).collect();
        assert!(TagList::parse(&many).is_err());
        assert!(TagList::parse::<&str>(&[]).unwrap().as_slice().is_empty());
    }
}
