//! Property tests of the content parsers: frontmatter (read, written back, read again), the
//! Markdown renderer with its directives and sanitizer, and language tags. Each holds for any
//! input proptest makes: no panic, and what the server writes it reads back unchanged.

use std::collections::BTreeMap;

use proptest::prelude::*;
use quire_content::frontmatter::{self, Frontmatter, Series};
use quire_content::{layout, render, search};

/// Text as authors write it, controls and other scripts included, without `\r` (a file's
/// line endings are normalized to `\n` on reading, so `\r` does not read back as written).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\r]{0,40}",
        "[ -~]{0,40}",
        "[a-zA-Z0-9 가-힣日本語:#'\"{}\\[\\]-]{0,30}",
    ]
}

/// A field's text: a field is read trimmed, and a blank one as absent (the documented
/// normalization), so fields are written trimmed and not blank here.
fn field() -> impl Strategy<Value = String> {
    text().prop_filter("a blank or untrimmed field", |text| {
        !text.trim().is_empty() && text.trim() == text
    })
}

/// A key of the header that is not one of the fields quire reads itself.
fn extra_key() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_ .-]{0,12}".prop_filter("a field of its own", |key| {
        ![
            "title",
            "published",
            "date",
            "pubDate",
            "description",
            "summary",
            "excerpt",
            "image",
            "cover",
            "heroImage",
            "tags",
            "category",
            "categories",
            "draft",
            "lang",
            "language",
            "slug",
            "originalSlug",
            "series",
        ]
        .iter()
        .any(|known| known.eq_ignore_ascii_case(key.trim()))
            && key.trim() == key
    })
}

fn extra_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        text().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        proptest::collection::vec(text(), 0..4).prop_map(serde_json::Value::from),
    ]
}

fn frontmatter() -> impl Strategy<Value = Frontmatter> {
    (
        (
            proptest::option::of(field()),
            proptest::option::of("(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"),
            proptest::option::of(field()),
            proptest::option::of(field()),
            proptest::collection::vec(field(), 0..5),
            proptest::option::of(field()),
            any::<bool>(),
        ),
        (
            proptest::option::of("[a-z]{2}(-[A-Z]{2})?"),
            proptest::option::of("[a-z0-9-]{1,20}"),
            proptest::option::of("[a-z0-9-]{1,20}"),
            proptest::option::of((field(), proptest::option::of(1i64..1000))),
            proptest::collection::btree_map(extra_key(), extra_value(), 0..4),
        ),
    )
        .prop_map(
            |(
                (title, published, description, image, tags, category, draft),
                (lang, slug, original_slug, series, extra),
            )| Frontmatter {
                title,
                published,
                description,
                image,
                tags,
                category,
                draft,
                lang,
                slug,
                original_slug,
                series: series.map(|(name, order)| Series { name, order }),
                extra: extra.into_iter().collect::<BTreeMap<_, _>>(),
            },
        )
}

/// Pieces of Markdown an attacker or a careless import brings, to be mixed with text.
fn hostile_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<script>alert(1)</script>".to_owned()),
        Just("<SCRIPT SRC=//evil.example/x.js></SCRIPT>".to_owned()),
        Just("<img src=x onerror=alert(1)>".to_owned()),
        Just("<a href=\"JaVaScRiPt:alert(1)\">x</a>".to_owned()),
        Just("[link](javascript:alert(1))".to_owned()),
        Just("![img](javascript:alert(1))".to_owned()),
        Just("<iframe src=\"https://evil.example\"></iframe>".to_owned()),
        Just("<div onclick=\"x()\" style=\"background:url(javascript:x)\">d</div>".to_owned()),
        Just("<svg onload=alert(1)>".to_owned()),
        Just("\n:::tip\n{title=\"<script>alert(1)</script>\"}\nbody\n:::\n".to_owned()),
        Just("\n:::note{title=\"\\\" onmouseover=\\\"x\"}\nbody\n:::\n".to_owned()),
        Just("\n```html\n<script>x</script>\n```\n".to_owned()),
        Just("<details open ontoggle=alert(1)>".to_owned()),
        Just("[x](  jav&#x09;ascript:alert(1))".to_owned()),
        Just("<a href=\"&#106;avascript:alert(1)\">e</a>".to_owned()),
        "[^\r]{0,20}",
        Just("\n# Heading\n".to_owned()),
        Just("\n| a | b |\n|---|---|\n| 1 | 2 |\n".to_owned()),
    ]
}

/// The tags of `html` (what stands between `<` and `>`), lower-cased: text outside them is
/// escaped, so `javascript:` there is harmless words.
fn tags(html: &str) -> Vec<String> {
    html.split('<')
        .skip(1)
        .map(|tag| {
            tag.split('>')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
        .collect()
}

/// Whether `html` holds a tag attribute named `on…` (an event handler).
fn has_event_handler(html: &str) -> bool {
    html.split('<').skip(1).any(|tag| {
        let tag = tag.split('>').next().unwrap_or_default();
        tag.split(|c: char| c.is_whitespace() || c == '/')
            .skip(1)
            .any(|attribute| attribute.to_ascii_lowercase().starts_with("on"))
    })
}

/// Found by the property below: a JSON header cut short is refused at a line of the file
/// (the empty line after the last newline counts).
#[test]
fn a_json_header_cut_short_is_refused_within_the_file() {
    let file = "\n{\n\n";
    if let Err(error) = frontmatter::parse(file) {
        assert!(
            (1..=file.split('\n').count()).contains(&error.line),
            "{error}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A post written back as a file reads back as the same fields and the same body.
    #[test]
    fn frontmatter_written_reads_back(fields in frontmatter(), body in text()) {
        let file = frontmatter::write(&fields, &body);
        let read = frontmatter::parse(&file).map_err(|error| {
            TestCaseError::fail(format!("{error} in\n{file}"))
        })?;
        prop_assert_eq!(read.frontmatter, fields);
        prop_assert_eq!(read.body, body);
    }

    /// Any file, however its header is broken, is read or refused with a line in the file.
    #[test]
    fn any_file_is_read_or_refused_with_its_line(
        fence in prop_oneof![Just("---"), Just("+++"), Just(""), Just(";;;")],
        header in "[^\r]{0,60}",
        body in "[^\r]{0,30}",
        crlf in any::<bool>(),
    ) {
        let mut file = format!("{fence}\n{header}\n{fence}\n{body}");
        if crlf {
            file = file.replace('\n', "\r\n");
        }
        match frontmatter::parse(&file) {
            Ok(document) => prop_assert!(!document.body.contains('\r')),
            Err(error) => {
                // A parser may stop at the end of a last, empty line: count it.
                prop_assert!(error.line >= 1);
                prop_assert!(error.line <= file.split('\n').count());
                prop_assert!(!error.reason.is_empty());
            }
        }
    }

    /// Whatever the Markdown holds, its HTML holds no script, no event handler and no
    /// `javascript:` URL, and every heading's id is in the table of contents.
    #[test]
    fn rendered_html_is_sanitized(pieces in proptest::collection::vec(hostile_piece(), 1..8)) {
        let markdown = pieces.concat();
        let rendered = render(&markdown);
        let lower = rendered.html.to_ascii_lowercase();
        prop_assert!(!lower.contains("<script"), "a script in {}", rendered.html);
        prop_assert!(!lower.contains("<iframe"), "an iframe in {}", rendered.html);
        prop_assert!(
            !tags(&rendered.html).iter().any(|tag| tag.contains("javascript:")),
            "a javascript: URL in {}", rendered.html
        );
        prop_assert!(!has_event_handler(&rendered.html), "an event handler in {}", rendered.html);
        for entry in &rendered.toc {
            prop_assert!((1..=6).contains(&entry.level));
            let id_attribute = format!("id=\"{}\"", entry.id);
            prop_assert!(rendered.html.contains(&id_attribute), "{} not in {}", entry.id, rendered.html);
        }
    }

    /// A callout directive with any title renders as an aside showing that title as text.
    #[test]
    fn callouts_render_as_titled_asides(
        kind in prop_oneof![Just("tip"), Just("note"), Just("caution"), Just("warning")],
        title in "[a-zA-Z0-9 가-힣<>&]{1,30}",
        body in "[a-zA-Z0-9 ]{1,30}",
    ) {
        let rendered = render(&format!(":::{kind}\n{{title=\"{title}\"}}\n{body}\n:::\n"));
        prop_assert!(rendered.html.contains("<aside"), "{}", rendered.html);
        let escaped = title.trim().replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        prop_assert!(rendered.html.contains(&escaped), "{} not in {}", escaped, rendered.html);
        prop_assert!(rendered.html.contains(body.trim()));
    }

    /// Any text is a BCP 47 tag or none; a tag read is read again as itself.
    #[test]
    fn language_tags_are_canonical(text in "[a-zA-Z0-9_ -]{0,16}") {
        if let Some(tag) = layout::language_tag(&text) {
            prop_assert_eq!(layout::language_tag(&tag), Some(tag.clone()));
        }
    }

    /// Dates in frontmatter: any text is a time or none, never a panic.
    #[test]
    fn any_date_text_is_a_time_or_none(text in "[0-9T:+. -Z]{0,30}") {
        let _ = layout::date_millis(&text);
    }

    /// The analyzer: every term is non-empty, lower case, within the byte bound, and itself
    /// analyzed to the same term (a query typed as a term finds it); any text, never a panic.
    #[test]
    fn terms_are_bounded_and_stable(text in prop_oneof![any::<String>(), "[a-zA-Z0-9 가-힣日本語中文.,!-]{0,60}"]) {
        for term in search::terms(&text) {
            prop_assert!(!term.is_empty());
            prop_assert!(term.len() <= search::MAX_TERM_BYTES);
            prop_assert_eq!(search::terms(&term), vec![term.clone()], "term {:?} of {:?}", term, text);
        }
    }

    /// A snippet is escaped HTML with no markup but `<mark>`, whatever the text and query.
    #[test]
    fn snippets_are_escaped(
        text in prop_oneof![any::<String>(), "[a-zA-Z <>&\"'가-힣]{0,200}"],
        query in proptest::collection::vec("[a-zA-Z가-힣<>&]{1,6}", 0..3),
        max_chars in 1usize..300,
    ) {
        if let Some(snippet) = search::snippet(&text, &query, max_chars) {
            let stripped = snippet.replace("<mark>", "").replace("</mark>", "");
            prop_assert!(!stripped.contains('<') && !stripped.contains('>'), "{}", snippet);
        }
    }
}
