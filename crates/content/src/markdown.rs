//! Markdown to the HTML a reader gets.
//!
//! The source is CommonMark with the GitHub extensions (tables, task lists, strikethrough,
//! autolinks, footnotes; the GFM spec, <https://github.github.com/gfm/>), parsed by comrak.
//! Raw HTML in it is kept through parsing and then cleaned, with everything else, by ammonia
//! against an allow-list: no script, no event handler, no `javascript:` URL, no frame survives.
//!
//! On top of that:
//! - every heading gets an `id` (GitHub's anchor rules, comrak's `Anchorizer`), and the
//!   headings make the table of contents;
//! - fenced code keeps its language as `class="language-…"`;
//! - the callout directives `:::tip`, `:::note`, `:::info`, `:::important`, `:::caution`,
//!   `:::warning` and `:::danger` (closed by `:::`), titled by a first line `{title="…"}` or
//!   as `:::note[Title]` (Docusaurus, Astro), become
//!   `<aside class="callout callout-tip"><p class="callout-title">…</p>…</aside>`;
//! - the reading time counts words at 265 a minute and Chinese or Japanese characters at 500 a
//!   minute (Medium's published method).
//!
//! Normalizations of the source before parsing: line endings become `\n`, and a closing `:::`
//! with text glued after it (`:::- item`) is read as the fence and then the text on its own
//! line.

use std::fmt;
use std::sync::{LazyLock, Mutex, PoisonError};

use comrak::adapters::{HeadingAdapter, HeadingMeta};
use comrak::nodes::{AstNode, NodeHtmlBlock, NodeValue, Sourcepos};
use comrak::options::Plugins;
use comrak::{Anchorizer, Arena, Options, format_html_with_plugins, parse_document};

/// A body rendered for reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Sanitized HTML (UTF-8), safe to embed in a page as is.
    pub html: String,
    /// The headings, in document order.
    pub toc: Vec<TocEntry>,
    /// Words (space-separated) plus Chinese and Japanese characters, in prose and code.
    pub words: u32,
    /// Minutes to read, rounded up; 0 for an empty body.
    pub reading_minutes: u32,
}

/// One heading of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    /// 1 to 6.
    pub level: u8,
    /// The heading's `id` in [`Rendered::html`], to link to as `#id`.
    pub id: String,
    /// The heading's text, without markup.
    pub title: String,
}

/// The callout directives, each with the title it shows when the source gives none.
const CALLOUTS: [(&str, &str); 7] = [
    ("tip", "Tip"),
    ("note", "Note"),
    ("info", "Info"),
    ("important", "Important"),
    ("caution", "Caution"),
    ("warning", "Warning"),
    ("danger", "Danger"),
];

/// The version of what [`render`] makes: raised whenever its output changes (a sanitizer rule,
/// a new callout), so that renderings stored by an older version are made again.
pub const RENDERER_VERSION: u32 = 1;

/// Words read per minute, and Chinese or Japanese characters per minute.
const WORDS_PER_MINUTE: u32 = 265;
const CJK_CHARACTERS_PER_MINUTE: u32 = 500;

/// Renders `markdown` (the body of a post, without frontmatter). Never fails: anything
/// CommonMark does not recognize is text.
pub fn render(markdown: &str) -> Rendered {
    let source = normalize(markdown);
    let options = options();
    let arena = Arena::new();
    let root = parse_document(&arena, &source, &options);
    make_callouts(&arena, root);
    let (words, cjk) = count_words(root);
    let headings = Headings::default();
    let mut plugins = Plugins::default();
    plugins.render.heading_adapter = Some(&headings);
    let mut html = String::new();
    // Writing to a String cannot fail.
    let _ = format_html_with_plugins(root, &options, &mut html, &plugins);
    let html = SANITIZER.clean(&html).to_string();
    let toc = headings
        .state
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .1;
    let reading = f64::from(words) / f64::from(WORDS_PER_MINUTE)
        + f64::from(cjk) / f64::from(CJK_CHARACTERS_PER_MINUTE);
    Rendered {
        html,
        toc,
        words: words.saturating_add(cjk),
        // A count of minutes, far below u32::MAX for any body quire accepts.
        reading_minutes: reading.ceil() as u32,
    }
}

/// The plain text of the first paragraph of `markdown` that has any, cut at a word boundary to
/// at most `max_chars` characters (with `…` when cut): a description for a post whose source
/// gives none. `None` when no paragraph has text.
pub fn summary(markdown: &str, max_chars: usize) -> Option<String> {
    let source = normalize(markdown);
    let options = options();
    let arena = Arena::new();
    let root = parse_document(&arena, &source, &options);
    root.children()
        .filter(|node| matches!(node.data().value, NodeValue::Paragraph))
        .map(|paragraph| {
            let mut text = String::new();
            for node in paragraph.descendants() {
                match &node.data().value {
                    NodeValue::Text(part) => text.push_str(part),
                    NodeValue::Code(code) => text.push_str(&code.literal),
                    NodeValue::SoftBreak | NodeValue::LineBreak => text.push(' '),
                    _ => {}
                }
            }
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .find(|text| text.chars().any(char::is_alphanumeric))
        .map(|text| cut(&text, max_chars.max(1)))
}

/// All the text of `markdown` a reader sees, as plain text with single spaces: paragraphs,
/// headings, list items, table cells and code, without markup, link targets or raw HTML. What
/// search snippets are cut from.
pub fn plain_text(markdown: &str) -> String {
    let source = normalize(markdown);
    let options = options();
    let arena = Arena::new();
    let root = parse_document(&arena, &source, &options);
    let mut text = String::new();
    for node in root.descendants() {
        match &node.data().value {
            NodeValue::Text(part) => text.push_str(part),
            NodeValue::Code(code) => text.push_str(&code.literal),
            NodeValue::CodeBlock(block) => {
                text.push(' ');
                text.push_str(&block.literal);
                text.push(' ');
            }
            NodeValue::SoftBreak
            | NodeValue::LineBreak
            | NodeValue::Paragraph
            | NodeValue::Heading(_)
            | NodeValue::Item(_)
            | NodeValue::TableCell => text.push(' '),
            _ => {}
        }
    }
    text.split_whitespace()
        .filter(|word| !word.starts_with(":::"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` cut to at most `max_chars` characters, at the last space that keeps it so, with `…`.
fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max_chars - 1).collect();
    let whole_word = text[kept.len()..].starts_with(' ');
    let kept = match kept.rfind(' ') {
        Some(space) if !whole_word && space > kept.len() / 2 => &kept[..space],
        _ => kept.as_str(),
    };
    format!("{}…", kept.trim_end())
}

fn options() -> Options<'static> {
    let mut options = Options::default();
    options.extension.table = true;
    options.extension.tasklist = true;
    options.extension.strikethrough = true;
    options.extension.autolink = true;
    options.extension.footnotes = true;
    options.extension.block_directive = true;
    // Raw HTML is kept here and cleaned by the sanitizer, which knows what is safe.
    options.render.r#unsafe = true;
    options
}

/// Line endings as `\n`; a `:::` fence with text glued after it split in two.
fn normalize(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + 16);
    let mut fence: Option<(char, usize)> = None;
    for line in markdown.split_inclusive('\n') {
        let line = line.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        // Leave fenced code alone.
        if indent <= 3 {
            for marker in ['`', '~'] {
                let run = trimmed.chars().take_while(|&c| c == marker).count();
                if run >= 3 {
                    match fence {
                        None => fence = Some((marker, run)),
                        Some((open, length)) if open == marker && run >= length => fence = None,
                        Some(_) => {}
                    }
                }
            }
        }
        let colons = trimmed.chars().take_while(|&c| c == ':').count();
        let rest = &trimmed[colons..];
        let glued = fence.is_none()
            && indent <= 3
            && colons >= 3
            && rest
                .chars()
                .next()
                .is_some_and(|c| !c.is_alphanumeric() && !c.is_whitespace() && c != '{');
        if glued {
            out.push_str(&line[..indent + colons]);
            out.push('\n');
            out.push_str(rest);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Turns each callout directive into an `<aside>` around its blocks.
fn make_callouts<'a>(arena: &'a Arena<'a>, root: &'a AstNode<'a>) {
    let directives: Vec<&AstNode<'_>> = root
        .descendants()
        .filter(|node| matches!(node.data().value, NodeValue::BlockDirective(_)))
        .collect();
    for node in directives {
        let info = match &node.data().value {
            NodeValue::BlockDirective(directive) => directive.info.trim().to_owned(),
            _ => continue,
        };
        let name_end = info
            .find(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
            .unwrap_or(info.len());
        let (name, rest) = info.split_at(name_end);
        let name = name.to_ascii_lowercase();
        let Some(&(kind, default_title)) = CALLOUTS.iter().find(|(kind, _)| *kind == name) else {
            // Another directive: comrak's `<div class="name">`.
            continue;
        };
        let title = title_attribute(rest)
            .or_else(|| bracketed_title(rest))
            .or_else(|| take_title_line(node))
            .unwrap_or_else(|| default_title.to_owned());
        let mut open =
            format!("<aside class=\"callout callout-{kind}\">\n<p class=\"callout-title\">");
        escape_into(&mut open, &title);
        open.push_str("</p>\n");
        node.insert_before(html_block(arena, open));
        let children: Vec<&AstNode<'_>> = node.children().collect();
        for child in children {
            child.detach();
            node.insert_before(child);
        }
        node.insert_before(html_block(arena, "</aside>\n".to_owned()));
        node.detach();
    }
}

fn html_block<'a>(arena: &'a Arena<'a>, literal: String) -> &'a AstNode<'a> {
    arena.alloc(
        NodeValue::HtmlBlock(NodeHtmlBlock {
            block_type: 6,
            literal,
        })
        .into(),
    )
}

/// The title of a directive whose first paragraph's first line is `{title="…"}`: that line is
/// removed (and the paragraph, if nothing else is in it).
fn take_title_line<'a>(directive: &'a AstNode<'a>) -> Option<String> {
    let paragraph = directive.first_child()?;
    if !matches!(paragraph.data().value, NodeValue::Paragraph) {
        return None;
    }
    let mut line = Vec::new();
    for inline in paragraph.children() {
        let is_break = matches!(
            inline.data().value,
            NodeValue::SoftBreak | NodeValue::LineBreak
        );
        line.push(inline);
        if is_break {
            break;
        }
    }
    let mut text = String::new();
    for inline in &line {
        // Raw HTML in a title is text here (escaped when the title is written).
        for node in inline.descendants() {
            if let NodeValue::HtmlInline(html) = &node.data().value {
                text.push_str(html);
            }
        }
        inline.collect_text_append(&mut text);
    }
    let title = title_attribute(text.trim())?;
    for inline in line {
        inline.detach();
    }
    if paragraph.first_child().is_none() {
        paragraph.detach();
    }
    Some(title)
}

/// `{title="…"}` (with `\"` and `\\` escapes) read as its title.
fn title_attribute(text: &str) -> Option<String> {
    let inner = text
        .trim()
        .strip_prefix('{')?
        .strip_suffix('}')?
        .trim()
        .strip_prefix("title")?
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    // Everything between the outer quotes: in a paragraph, CommonMark has already taken the
    // backslashes out of `\"`; in a directive's info string they are still there.
    let quoted = inner.strip_prefix('"')?.strip_suffix('"')?;
    let title = quoted.replace("\\\"", "\"").replace("\\\\", "\\");
    let title = title.trim().to_owned();
    (!title.is_empty()).then_some(title)
}

/// The `[…]` title of Docusaurus' and Astro's `:::note[Title]`.
fn bracketed_title(rest: &str) -> Option<String> {
    let title = rest.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
    (!title.is_empty()).then(|| title.to_owned())
}

/// HTML-escapes `text` into `out` (text content and quoted attribute values).
/// Appends `text` to `out` escaped for HTML text and attribute values.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// (space-separated words, Chinese and Japanese characters) in the document's text and code.
fn count_words<'a>(root: &'a AstNode<'a>) -> (u32, u32) {
    let (mut words, mut cjk) = (0u32, 0u32);
    for node in root.descendants() {
        let data = node.data();
        let text: &str = match &data.value {
            NodeValue::Text(text) => text,
            NodeValue::Code(code) => &code.literal,
            NodeValue::CodeBlock(block) => &block.literal,
            _ => continue,
        };
        for word in text.split_whitespace() {
            let mut counted_word = false;
            for c in word.chars() {
                if is_cjk_ideograph_or_kana(c) {
                    cjk = cjk.saturating_add(1);
                } else if c.is_alphanumeric() && !counted_word {
                    words = words.saturating_add(1);
                    counted_word = true;
                }
            }
        }
    }
    (words, cjk)
}

/// Han ideographs and Japanese kana, which are read character by character (Korean Hangul is
/// written with spaces between words and counts as words).
fn is_cjk_ideograph_or_kana(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
        | '\u{3400}'..='\u{4DBF}' // CJK Unified Ideographs Extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK Unified Ideographs
        | '\u{F900}'..='\u{FAFF}' // CJK Compatibility Ideographs
        | '\u{20000}'..='\u{2FFFF}' // Supplementary Ideographic Planes
    )
}

/// Writes each heading with an `id` and records it for the table of contents.
#[derive(Default)]
struct Headings {
    state: Mutex<(Anchorizer, Vec<TocEntry>)>,
}

impl HeadingAdapter for Headings {
    fn enter(
        &self,
        output: &mut dyn fmt::Write,
        heading: &HeadingMeta,
        _sourcepos: Option<Sourcepos>,
    ) -> fmt::Result {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let id = format!("{ID_PREFIX}{}", state.0.anchorize(&heading.content));
        let mut tag = String::new();
        escape_into(&mut tag, &id);
        state.1.push(TocEntry {
            level: heading.level,
            id,
            title: heading.content.trim().to_owned(),
        });
        write!(output, "<h{} id=\"{tag}\">", heading.level)
    }

    fn exit(&self, output: &mut dyn fmt::Write, heading: &HeadingMeta) -> fmt::Result {
        writeln!(output, "</h{}>", heading.level)
    }
}

/// Heading ids begin with this (GitHub's prefix), so that no id a post carries can clobber a
/// name the page's own scripts read (`window.config` for an element `id="config"`).
pub const ID_PREFIX: &str = "user-content-";

/// Whether an `id` is one the rendering makes: a heading's, or a footnote's (`fn-1`,
/// `fnref-1`, which no script can read as a global name).
fn rendered_id(id: &str) -> bool {
    id.starts_with(ID_PREFIX) || id.starts_with("fn-") || id.starts_with("fnref-")
}

/// Whether a class is one the rendering makes: the callouts', the footnotes' and code's
/// language. Any other (an author's, to borrow the page's own styles) is dropped.
fn rendered_class(element: &str, class: &str) -> bool {
    match class {
        "callout" | "callout-title" | "footnotes" | "footnote-ref" | "footnote-backref" => true,
        _ => {
            class
                .strip_prefix("callout-")
                .is_some_and(|kind| CALLOUTS.iter().any(|(name, _)| *name == kind))
                || (element == "code" && class.starts_with("language-"))
        }
    }
}

/// The allow-list: ammonia's defaults (no script, style, frame, form or event handler; only
/// http, https, mailto and a few other URL schemes; `rel="noopener noreferrer"` on links),
/// plus what the rendering itself produces: heading and footnote ids, classes on code,
/// callouts and footnotes, and task lists' disabled checkboxes. Ids and classes are kept only
/// when the rendering could have made them ([`rendered_id`], [`rendered_class`]), whoever
/// wrote them.
static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder.attribute_filter(|element, attribute, value| match attribute {
        "id" => rendered_id(value).then_some(value.into()),
        "class" => {
            let kept: Vec<&str> = value
                .split_whitespace()
                .filter(|class| rendered_class(element, class))
                .collect();
            (!kept.is_empty()).then(|| kept.join(" ").into())
        }
        _ => Some(value.into()),
    });
    builder
        .add_tags(["input", "section", "aside"])
        // Only a checkbox, always disabled: any other input type loses its type.
        .add_tag_attributes("input", ["checked", "disabled"])
        .add_tag_attribute_values("input", "type", ["checkbox"])
        .set_tag_attribute_value("input", "disabled", "")
        .add_tag_attributes("section", ["class"])
        .add_tag_attributes("aside", ["class"])
        .add_tag_attributes("div", ["class"])
        .add_tag_attributes("code", ["class"])
        .add_tag_attributes("p", ["class"])
        .add_tag_attributes("sup", ["class"])
        .add_tag_attributes("a", ["id", "class"])
        .add_tag_attributes("li", ["id"])
        .add_tag_attributes("th", ["align"])
        .add_tag_attributes("td", ["align"]);
    for heading in ["h1", "h2", "h3", "h4", "h5", "h6"] {
        builder.add_tag_attributes(heading, ["id"]);
    }
    builder
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_keeps_what_a_reader_sees() {
        let text = plain_text(
            "# Title\n\nSome *emphasis* and [a link](https://example.com).\n\n- one\n- two\n\n```rust\nfn main() {}\n```\n\n:::tip\nA tip\n:::\n",
        );
        assert_eq!(
            text,
            "Title Some emphasis and a link. one two fn main() {} A tip"
        );
    }

    #[test]
    fn the_github_extensions_render() {
        let rendered = render(
            "| a | b |\n|---|:-:|\n| c | d |\n\n- [x] done\n- [ ] open\n\n~~gone~~ \
             www.example.com\n\nA note[^1].\n\n[^1]: The note.\n\n```rust\nfn main() {}\n```\n",
        );
        let html = &rendered.html;
        assert!(
            html.contains("<table>") && html.contains("<td align=\"center\">d</td>"),
            "{html}"
        );
        assert!(
            html.contains("<input type=\"checkbox\" checked=\"\" disabled=\"\""),
            "{html}"
        );
        assert!(html.contains("<del>gone</del>"), "{html}");
        assert!(html.contains("href=\"http://www.example.com\""), "{html}");
        assert!(
            html.contains("class=\"footnotes\"") && html.contains("id=\"fn-1\""),
            "{html}"
        );
        assert!(
            html.contains("<code class=\"language-rust\">fn main() {}"),
            "{html}"
        );
    }

    #[test]
    fn nothing_active_survives() {
        let rendered = render(
            "<script>alert(1)</script>\n\n<img src=\"x.png\" onerror=\"alert(2)\">\n\n\
             [click](javascript:alert(3)) [again](JaVaScRiPt:alert(4))\n\n\
             <iframe src=\"https://example.com\"></iframe>\n\n\
             <a href=\"#\" onclick=\"alert(5)\">x</a> <style>body{}</style>\n\n\
             <form action=\"/x\"><input type=\"text\"></form>\n",
        );
        let html = rendered.html.to_ascii_lowercase();
        for active in [
            "<script",
            "alert(1)",
            "onerror",
            "javascript:",
            "<iframe",
            "onclick",
            "<style",
            "<form",
            "type=\"text\"",
        ] {
            assert!(!html.contains(active), "{active} survived: {html}");
        }
        assert!(html.contains("<img src=\"x.png\">"), "{html}");
    }

    #[test]
    fn an_author_sets_no_id_or_class_the_rendering_would_not() {
        let rendered = render(
            "<a id=\"config\" class=\"fixed inset-0 callout\" href=\"https://example.com\">x</a>\n\n\
             <div class=\"hero\"><h3 id=\"user-content-mine\">kept</h3></div>\n\n\
             :::details\nA directive that is no callout.\n:::\n",
        );
        let html = &rendered.html;
        assert!(!html.contains("id=\"config\""), "{html}");
        assert!(
            html.contains(
                "<a rel=\"noopener noreferrer\" class=\"callout\" href=\"https://example.com\""
            ),
            "{html}"
        );
        assert!(
            !html.contains("hero") && !html.contains("details"),
            "{html}"
        );
        assert!(
            html.contains("<h3 id=\"user-content-mine\">kept</h3>"),
            "{html}"
        );
    }

    #[test]
    fn headings_have_ids_and_make_the_table_of_contents() {
        let rendered = render(
            "# Title\n\n## 1.0 소개: API 엔드포인트를 넘어서\n\n## Title\n\n### *Deep* `code`\n",
        );
        let toc: Vec<(u8, &str, &str)> = rendered
            .toc
            .iter()
            .map(|entry| (entry.level, entry.id.as_str(), entry.title.as_str()))
            .collect();
        assert_eq!(
            toc,
            [
                (1, "user-content-title", "Title"),
                (
                    2,
                    "user-content-10-소개-api-엔드포인트를-넘어서",
                    "1.0 소개: API 엔드포인트를 넘어서"
                ),
                (2, "user-content-title-1", "Title"),
                (3, "user-content-deep-code", "Deep code"),
            ]
        );
        assert!(
            rendered
                .html
                .contains("<h2 id=\"user-content-title-1\">Title</h2>"),
            "{}",
            rendered.html
        );
    }

    #[test]
    fn callouts_are_titled_asides() {
        let rendered = render(
            ":::tip\n{title=\"Core \\\"Backend\\\" <Responsibilities>\"}\n- one\n- two\n:::\n\n\
             :::note\nNo title here.\n:::\n\n:::warning{title=\"Inline\"}\nCareful.\n:::\n\n\
             :::important[Bracketed]\nSo.\n:::\n",
        );
        let html = &rendered.html;
        assert!(
            html.contains(
                "<aside class=\"callout callout-tip\">\n<p class=\"callout-title\">Core \"Backend\" &lt;Responsibilities&gt;</p>\n<ul>"
            ),
            "{html}"
        );
        assert!(!html.contains("{title="), "{html}");
        assert!(
            html.contains("<p class=\"callout-title\">Note</p>\n<p>No title here.</p>\n</aside>"),
            "{html}"
        );
        assert!(
            html.contains("<p class=\"callout-title\">Inline</p>\n<p>Careful.</p>"),
            "{html}"
        );
        assert!(
            html.contains("callout-important\">\n<p class=\"callout-title\">Bracketed</p>"),
            "{html}"
        );
    }

    #[test]
    fn a_fence_with_text_glued_after_it_closes_and_keeps_the_text() {
        let rendered = render(
            ":::note\n{title=\"T\"}\nInside.\n:::- **After** it.\n\n```\n:::- code stays\n```\n",
        );
        let html = &rendered.html;
        assert!(
            html.contains("<p>Inside.</p>\n</aside>\n<ul>\n<li><strong>After</strong> it.</li>"),
            "{html}"
        );
        assert!(html.contains(":::- code stays"), "{html}");
    }

    #[test]
    fn a_summary_is_the_first_paragraph_with_text() {
        let markdown = "# Title\n\n![](cover.png)\n\nThe *first* words\nof `the` post.\n\nMore.";
        assert_eq!(
            summary(markdown, 200).as_deref(),
            Some("The first words of the post.")
        );
        assert_eq!(summary(markdown, 16).as_deref(), Some("The first words…"));
        assert_eq!(
            summary("백엔드 개발 심층 분석입니다", 8).as_deref(),
            Some("백엔드 개발…")
        );
        assert_eq!(summary("# Only a heading\n\n```\ncode\n```", 200), None);
    }

    #[test]
    fn crlf_reads_as_lf() {
        assert_eq!(render("# A\r\n\r\nB\r\n").html, render("# A\n\nB\n").html);
    }

    #[test]
    fn reading_time_counts_words_and_cjk_characters() {
        let english = "word ".repeat(530);
        assert_eq!(render(&english).reading_minutes, 2);
        assert_eq!(render(&english).words, 530);
        let chinese = "字".repeat(1000);
        assert_eq!(render(&chinese).reading_minutes, 2);
        assert_eq!(render("").reading_minutes, 0);
        assert_eq!(render("한국어 단어 세 개").words, 4);
    }

    /// The shape of the backend guide in `../shared/samples`: Korean headings, a titled tip
    /// box around a list, and a note whose closing fence has the next list item glued to it.
    #[test]
    fn the_backend_guides_shapes_render() {
        let body = "## 1.0 소개: API 엔드포인트를 넘어서 \n\n여기에는 다음이 포함됩니다.\n\n\
                    :::tip\n{title=\"Core Backend Responsibilities\"}\n\
                    - **데이터 모델링 및 지속성:** 스키마를 설계합니다. \n\
                    - **비즈니스 로직 구현:** 규칙을 코드로 변환합니다. \n:::\n\n\
                    ### 1.1 시스템의 시스템으로서의 백엔드\n\n:::note\n{title=\"Formats\"}\n\
                    - **JSON:** 가볍습니다.\n:::- **XML(eXtensible Markup Language):** 장황합니다.\n";
        let rendered = render(body);
        let html = &rendered.html;
        assert!(
            html.contains(
                "<aside class=\"callout callout-tip\">\n<p class=\"callout-title\">Core Backend Responsibilities</p>\n<ul>"
            ),
            "{html}"
        );
        assert!(!html.contains(":::") && !html.contains("{title="), "{html}");
        assert!(
            html.contains("</aside>\n<ul>\n<li><strong>XML(eXtensible Markup Language):</strong>"),
            "{html}"
        );
        let titles: Vec<&str> = rendered
            .toc
            .iter()
            .map(|entry| entry.title.as_str())
            .collect();
        assert_eq!(
            titles,
            [
                "1.0 소개: API 엔드포인트를 넘어서",
                "1.1 시스템의 시스템으로서의 백엔드"
            ]
        );
    }
}
