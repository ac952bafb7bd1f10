//! A Markdown file with a header, as `quire import` and `POST /api/v1/imports` read it: any
//! text parses or is refused with a line inside the file, and the body renders to HTML with
//! no script or iframe element, no event handler and no `javascript:` URL.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The attributes (name, value) of each tag of serialized HTML, whose values are always in
/// double quotes (html5ever's serializer, which the sanitizer uses).
fn attributes(html: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for tag in html.split('<').skip(1) {
        let mut rest = tag;
        while let Some(at) = rest.find("=\"") {
            if rest[..at].contains('>') {
                break;
            }
            let name = rest[..at]
                .rsplit(' ')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let after = &rest[at + 2..];
            let end = after.find('"').unwrap_or(after.len());
            found.push((name, after[..end].to_ascii_lowercase()));
            rest = &after[(end + 1).min(after.len())..];
        }
    }
    found
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match quire_content::frontmatter::parse(text) {
        Ok(document) => {
            let html = quire_content::render(&document.body).html;
            let lower = html.to_ascii_lowercase();
            assert!(
                !lower.contains("<script") && !lower.contains("<iframe"),
                "{html}"
            );
            for (name, value) in attributes(&html) {
                assert!(!name.starts_with("on"), "an event handler {name} in {html}");
                let url = value.trim_start();
                assert!(
                    !url.starts_with("javascript:"),
                    "a javascript: URL in {html}"
                );
            }
        }
        Err(error) => {
            // Lines as CommonMark counts them: ended by `\n`, `\r\n` or a `\r` alone.
            let lines = text.replace("\r\n", "\n").replace('\r', "\n").split('\n').count();
            assert!(
                error.line >= 1 && error.line <= lines,
                "line {} of {lines}: {error}",
                error.line
            );
        }
    }
});
