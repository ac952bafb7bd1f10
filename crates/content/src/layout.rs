//! What a file's place in a site's source says about its post, as static-site generators lay
//! posts out: the name its slug comes from, a language and a date.
//!
//! - `hello-world.md`: the name `hello-world`.
//! - `2022-10-20-jekyll-released.markdown` (Jekyll, Docusaurus, Eleventy): the name
//!   `jekyll-released` and the date `2022-10-20`; also for a folder so named.
//! - `my-post/index.md` (a page bundle: Hugo, Gatsby, Docusaurus): the folder's name.
//! - `my-post/index.en.md`, `my-post.ko.md` (Hugo's translations by file name): the language
//!   `en` or `ko`. Files that differ only in that suffix are translations of one work: they
//!   share a [`Location::work`].
//!
//! Languages are BCP 47 tags in their canonical case (`zh_CN` reads as `zh-CN`), by ICU4X.

use std::path::{Path, PathBuf};

/// File extensions read as Markdown posts.
pub const MARKDOWN_EXTENSIONS: &[&str] = &["md", "markdown"];

/// What a path says about the post in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The name the post's slug is made from, as written (not yet a slug), without a
    /// language suffix.
    pub name: String,
    /// The name with the suffix that may be a language (`node.js` for `node.js.md`), for a
    /// file that turns out to have no translations beside it: the same as `name` when there
    /// is no such suffix.
    pub name_with_suffix: String,
    /// The language of a suffix that may be one (`index.en.md`), canonical. Whether it is
    /// one, only the files beside it tell: it is when another file of the same
    /// [`Location::work`] is imported with it.
    pub language: Option<String>,
    /// `YYYY-MM-DD` from a name that begins with a date.
    pub date: Option<String>,
    /// The same for every translation of one work: the path without its language suffix.
    pub work: PathBuf,
}

/// Whether `path` names a Markdown file by its extension.
pub fn is_markdown(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| {
            MARKDOWN_EXTENSIONS
                .iter()
                .any(|known| extension.eq_ignore_ascii_case(known))
        })
}

/// Reads the place of a Markdown file, `path` relative to the folder being imported (or its
/// file name alone).
pub fn locate(path: &Path) -> Location {
    let full = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, language) = match full.rsplit_once('.') {
        Some((rest, suffix)) if !rest.is_empty() && looks_like_language(suffix) => {
            (rest.to_owned(), language_tag(suffix))
        }
        _ => (full.clone(), None),
    };
    let work = path.with_file_name(&stem);
    let folder = || {
        path.parent()
            .and_then(Path::file_name)
            .map(|name| name.to_string_lossy().into_owned())
    };
    let named = |stem: String| {
        let name = if matches!(stem.as_str(), "index" | "_index") {
            folder().unwrap_or(stem)
        } else {
            stem
        };
        match dated(&name) {
            Some((date, rest)) => (Some(date.to_owned()), rest.to_owned()),
            None => (None, name),
        }
    };
    let (date, name) = named(stem);
    let name_with_suffix =
        if language.is_some() && !matches!(full.split('.').next(), Some("index" | "_index")) {
            named(full).1
        } else {
            name.clone()
        };
    Location {
        name,
        name_with_suffix,
        language,
        date,
        work,
    }
}

/// `2022-10-20-rest` split into the date and `rest`.
fn dated(name: &str) -> Option<(&str, &str)> {
    let (date, rest) = (name.get(..10)?, name.get(10..)?);
    let rest = rest.strip_prefix('-').filter(|rest| !rest.is_empty())?;
    let bytes = date.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    (digits(0..4) && bytes[4] == b'-' && digits(5..7) && bytes[7] == b'-' && digits(8..10))
        .then_some((date, rest))
}

/// A file-name suffix that is a language (`en`, `ko`, `pt-br`, `zh_CN`), not part of a name
/// such as `v0.17`: two or three letters, then optional subtags.
fn looks_like_language(suffix: &str) -> bool {
    let mut parts = suffix.split(['-', '_']);
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|part| {
            (2..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric())
        })
        && language_tag(suffix).is_some()
}

/// A BCP 47 language tag in its canonical case (`EN-us` → `en-US`, `zh_CN` → `zh-CN`), or
/// `None` when `text` is not a well-formed one (UTS #35 language identifier, as ICU4X parses
/// it).
pub fn language_tag(text: &str) -> Option<String> {
    let text = text.trim().replace('_', "-");
    if text.is_empty() || text.len() > 35 {
        return None;
    }
    icu_locale_core::LanguageIdentifier::try_from_str(&text)
        .ok()
        .filter(|tag| !tag.language.is_unknown())
        .map(|tag| tag.to_string())
}

/// Which of `available` (language tags, `None` for a text of no stated language) a reader
/// who wants `wanted` (language ranges, best first, as `Accept-Language` lists them) should
/// get: RFC 4647 §3.4 lookup for each range in turn (`zh-Hant-TW`, then `zh-Hant`, then `zh`),
/// then, for a range nothing matched, the first tag it is a prefix of (`zh` takes `zh-CN`).
/// The index into `available`; `None` when nothing matches (`*` matches nothing here: the
/// caller's fallback decides).
pub fn lookup(wanted: &[String], available: &[Option<&str>]) -> Option<usize> {
    let position =
        |matches: &dyn Fn(&str) -> bool| available.iter().position(|tag| tag.is_some_and(matches));
    for range in wanted {
        let range = range.trim();
        if range.is_empty() || range == "*" {
            continue;
        }
        let mut truncated = range.to_ascii_lowercase();
        loop {
            if let Some(found) = position(&|tag| tag.eq_ignore_ascii_case(&truncated)) {
                return Some(found);
            }
            let Some(cut) = truncated.rfind('-') else {
                break;
            };
            truncated.truncate(cut);
            // A single-character subtag (an extension's singleton) goes with what follows it.
            if truncated.len() >= 2 && truncated.as_bytes()[truncated.len() - 2] == b'-' {
                truncated.truncate(truncated.len() - 2);
            }
        }
        let prefix = format!("{}-", range.to_ascii_lowercase());
        if let Some(found) = position(&|tag| tag.to_ascii_lowercase().starts_with(&prefix)) {
            return Some(found);
        }
    }
    None
}

/// The instant a frontmatter date names, in milliseconds since the Unix epoch.
///
/// Read: RFC 3339 (`2016-10-07T13:54:06-04:00`); a date and time with a space and an offset
/// as Jekyll writes it (`2022-10-20 10:20:22 -0500`); a date and time without an offset
/// (read as UTC); a date alone (`2025-04-28`, midnight UTC). `None` for anything else.
pub fn date_millis(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{Date, OffsetDateTime, PrimitiveDateTime};
    let text = text.trim();
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| {
            OffsetDateTime::parse(
                text,
                format_description!(
                    "[year]-[month]-[day][first [T][ ]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]][optional [ ]][offset_hour sign:mandatory][optional [:]][offset_minute]"
                ),
            )
        })
        .or_else(|_| {
            PrimitiveDateTime::parse(
                text,
                format_description!(
                    "[year]-[month]-[day][first [T][ ]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]][optional [Z]]"
                ),
            )
            .map(PrimitiveDateTime::assume_utc)
        })
        .or_else(|_| {
            Date::parse(text, format_description!("[year]-[month]-[day]"))
                .map(|date| date.midnight().assume_utc())
        })
        .ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> Location {
        locate(Path::new(path))
    }

    #[test]
    fn names_come_from_files_folders_and_dated_names() {
        let plain = at("blog/hello-world.md");
        assert_eq!(
            (plain.name.as_str(), plain.language, plain.date),
            ("hello-world", None, None)
        );
        let jekyll = at("_posts/2022-10-20-jekyll-4-3-0-released.markdown");
        assert_eq!(jekyll.name, "jekyll-4-3-0-released");
        assert_eq!(jekyll.date.as_deref(), Some("2022-10-20"));
        let bundle = at("blog/2021-11-21-algolia-docsearch-migration/index.md");
        assert_eq!(bundle.name, "algolia-docsearch-migration");
        assert_eq!(bundle.date.as_deref(), Some("2021-11-21"));
        // A dot inside a name is not a language.
        assert_eq!(
            at("04-hugo-news-0.17-going-global.md").name,
            "04-hugo-news-0.17-going-global"
        );
        assert_eq!(at("v1.2.md").name, "v1.2");
        let dotted = at("node.js.md");
        assert_eq!(
            (dotted.name.as_str(), dotted.name_with_suffix.as_str()),
            ("node", "node.js")
        );
        assert_eq!(at("jammy/index.en.md").name_with_suffix, "jammy");
        assert_eq!(at("2023-01-01.md").name, "2023-01-01");
    }

    #[test]
    fn hugo_translations_share_a_work() {
        let korean = at("jammy/index.md");
        let english = at("jammy/index.en.md");
        assert_eq!(
            (korean.name.as_str(), korean.language.as_deref()),
            ("jammy", None)
        );
        assert_eq!(
            (english.name.as_str(), english.language.as_deref()),
            ("jammy", Some("en"))
        );
        assert_eq!(korean.work, english.work);
        let chinese = at("posts/ai-tools.zh_CN.md");
        assert_eq!(chinese.language.as_deref(), Some("zh-CN"));
        assert_eq!(chinese.work, at("posts/ai-tools.md").work);
    }

    #[test]
    fn language_tags_take_their_canonical_case() {
        assert_eq!(language_tag("zh_CN").as_deref(), Some("zh-CN"));
        assert_eq!(language_tag("EN-us").as_deref(), Some("en-US"));
        assert_eq!(language_tag("sr-latn-rs").as_deref(), Some("sr-Latn-RS"));
        assert_eq!(language_tag(" ko ").as_deref(), Some("ko"));
        for bad in [
            "",
            "e",
            "english-language-of-england",
            "en--US",
            "12",
            "und",
            "en US",
        ] {
            assert_eq!(language_tag(bad), None, "{bad}");
        }
    }

    #[test]
    fn lookup_truncates_ranges_then_takes_a_longer_tag() {
        let wanted = |ranges: &[&str]| ranges.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>();
        let available = [Some("en"), Some("ko"), Some("zh-CN"), None];
        assert_eq!(lookup(&wanted(&["ko-KR", "en"]), &available), Some(1));
        assert_eq!(lookup(&wanted(&["fr", "EN-us"]), &available), Some(0));
        assert_eq!(
            lookup(&wanted(&["zh"]), &available),
            Some(2),
            "zh takes zh-CN"
        );
        assert_eq!(lookup(&wanted(&["zh-Hans-CN-x-private"]), &available), None);
        assert_eq!(lookup(&wanted(&["fr", "*"]), &available), None);
        assert_eq!(lookup(&[], &available), None);
    }

    #[test]
    fn dates_in_the_forms_generators_write() {
        let day = 1_745_798_400_000; // 2025-04-28T00:00:00Z
        assert_eq!(date_millis("2025-04-28"), Some(day));
        assert_eq!(date_millis("2025-04-28T09:00:00+09:00"), Some(day));
        assert_eq!(date_millis("2025-04-28 00:00:00"), Some(day));
        assert_eq!(date_millis("2025-04-28T00:00:00Z"), Some(day));
        assert_eq!(date_millis("2025-04-27 19:00:00 -0500"), Some(day));
        assert_eq!(date_millis("2025-04-28 02:00:00 +0200"), Some(day));
        assert_eq!(date_millis("2025-04-28T00:00"), Some(day));
        assert_eq!(date_millis("2025-04-28T00:00:00.250Z"), Some(day + 250));
        for bad in [
            "",
            "yesterday",
            "2025-13-01",
            "28/04/2025",
            "2025-04-28 junk",
        ] {
            assert_eq!(date_millis(bad), None, "{bad}");
        }
    }
}
