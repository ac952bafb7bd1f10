//! Markdown files with frontmatter, as static-site generators write them: the post's fields in
//! a header, then its body.
//!
//! Three headers are read: YAML between `---` lines (Jekyll, Astro, Docusaurus, Gatsby,
//! Eleventy, Hugo), TOML between `+++` lines (Hugo), and a JSON object at the very start
//! (Hugo). Each format is parsed by gray_matter's engine for it (yaml-rust2, toml,
//! serde_json); the split between header and body is done here, so the body is kept exactly as
//! written (after its header's closing line), line endings aside: `\r\n` and a `\r` alone read
//! as `\n`.
//!
//! The fields a post has are read under the names these generators use: `title`; `published`,
//! `date` or `pubDate`; `description`, `summary` or `excerpt`; `image`, `cover` or `heroImage`; `tags`
//! (a list, or one comma-separated string); `category`, or the first of `categories`; `draft`;
//! `lang` or `language`; `slug`; `originalSlug`; `series` (`{name, order}`, or a name alone).
//! Every other key is kept, with its value as JSON, in [`Frontmatter::extra`].

use std::collections::BTreeMap;

use gray_matter::Pod;
use gray_matter::engine::{Engine, JSON, TOML, YAML};

/// A file read: its header's fields and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub format: Format,
    pub frontmatter: Frontmatter,
    /// The Markdown after the header, with `\n` line endings.
    pub body: String,
}

/// How the header was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Toml,
    Json,
    /// No header: the whole file is the body.
    None,
}

/// The header's fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frontmatter {
    pub title: Option<String>,
    /// As written: a date (`2025-04-28`) or a date and time (RFC 3339 or close to it).
    pub published: Option<String>,
    pub description: Option<String>,
    pub image: Option<String>,
    pub tags: Vec<String>,
    pub category: Option<String>,
    pub draft: bool,
    /// A BCP 47 language tag, as written.
    pub lang: Option<String>,
    pub slug: Option<String>,
    /// The slug of the work this file translates.
    pub original_slug: Option<String>,
    pub series: Option<Series>,
    /// Every other key, its value as JSON.
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A post's place in a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub name: String,
    /// 1 for the first; `None` when the file does not say.
    pub order: Option<i64>,
}

/// Why a file could not be read; `line` counts from 1 in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontmatterError {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for FrontmatterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for FrontmatterError {}

/// Reads a Markdown file with an optional header.
///
/// # Errors
/// A header that is not closed, does not parse, is not a table of keys, or holds a field of
/// the wrong shape (a title that is a list, say); the line is where the header or the field
/// begins, or where the parser stopped when it says.
pub fn parse(text: &str) -> Result<Document, FrontmatterError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let normalized;
    // A line ends at `\n`, `\r\n` or a `\r` alone, as CommonMark (§2.1) and YAML (1.2, §5.4)
    // read them: with every ending made `\n`, the header parsers, the split and the lines
    // reported in errors count the same lines.
    let text = if text.contains('\r') {
        normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        normalized.as_str()
    } else {
        text
    };
    let (format, header, body) = split(text)?;
    let pod = match format {
        Format::Yaml => YAML::parse(header),
        Format::Toml => TOML::parse(header),
        Format::Json => JSON::parse(header),
        Format::None => {
            return Ok(Document {
                format,
                frontmatter: Frontmatter::default(),
                body: body.to_owned(),
            });
        }
    }
    .map_err(|error| {
        let reason = format!("the {} header does not parse: {error}", name(format));
        FrontmatterError {
            line: header_line(text, header, &reason),
            reason,
        }
    })?;
    let Pod::Hash(fields) = pod else {
        if pod == Pod::Null {
            return Ok(Document {
                format,
                frontmatter: Frontmatter::default(),
                body: body.to_owned(),
            });
        }
        return Err(FrontmatterError {
            line: 1,
            reason: format!("the {} header is not a table of keys", name(format)),
        });
    };
    let frontmatter = fields_of(fields, header, line_in(text, header))?;
    Ok(Document {
        format,
        frontmatter,
        body: body.to_owned(),
    })
}

/// The line in the file of a header parser's error that names a `line N` of the header; 1
/// when it names none.
fn header_line(text: &str, header: &str, reason: &str) -> usize {
    let named = reason
        .match_indices("line ")
        .filter_map(|(at, word)| {
            let digits: String = reason[at + word.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<usize>().ok()
        })
        .next();
    let Some(line) = named.filter(|line| *line >= 1) else {
        return 1;
    };
    line_in(text, header) + line - 1
}

fn name(format: Format) -> &'static str {
    match format {
        Format::Yaml => "YAML",
        Format::Toml => "TOML",
        Format::Json => "JSON",
        Format::None => "missing",
    }
}

/// (format, header, body). Blank lines before a header are skipped (some sites have them).
fn split(text: &str) -> Result<(Format, &str, &str), FrontmatterError> {
    let start = text.trim_start_matches(['\n', ' ', '\t']);
    for (fence, format) in [("---", Format::Yaml), ("+++", Format::Toml)] {
        let Some(rest) = start.strip_prefix(fence) else {
            continue;
        };
        let Some(rest) = rest
            .strip_prefix('\n')
            .or_else(|| rest.trim_start_matches([' ', '\t']).strip_prefix('\n'))
        else {
            continue;
        };
        let mut offset = 0;
        for line in rest.split_inclusive('\n') {
            if line.trim_end() == fence {
                let header = &rest[..offset];
                let body = &rest[offset + line.len()..];
                return Ok((format, header, body));
            }
            offset += line.len();
        }
        return Err(FrontmatterError {
            line: 1,
            reason: format!(
                "the {} header opened here is never closed by `{fence}`",
                name(format)
            ),
        });
    }
    if start.starts_with('{') {
        // A JSON object, then the body: find where the object ends. A file that begins with
        // `{` but whose first line is no JSON (a shortcode `{{< … >}}`, an MDX comment) has no
        // header; one whose JSON begins and then breaks has a broken one.
        let mut stream = serde_json::Deserializer::from_str(start).into_iter::<serde_json::Value>();
        return match stream.next() {
            Some(Ok(serde_json::Value::Object(_))) => {
                let end = stream.byte_offset();
                let body = start[end..].strip_prefix('\n').unwrap_or(&start[end..]);
                Ok((Format::Json, &start[..end], body))
            }
            Some(Err(error)) if error.line() > 1 => Err(FrontmatterError {
                line: line_in(text, start) + error.line() - 1,
                reason: format!("the JSON header does not parse: {error}"),
            }),
            _ => Ok((Format::None, "", text)),
        };
    }
    Ok((Format::None, "", text))
}

/// The line in the file (from 1) where `slice`, a part of `text`, begins.
fn line_in(text: &str, slice: &str) -> usize {
    let start = (slice.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    text.get(..start)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

/// The line in the file (from 1) where `key` is first written in the header, whose first
/// line is `first_line`; 1 when it is not found.
fn line_of(header: &str, key: &str, first_line: usize) -> usize {
    header
        .lines()
        .position(|line| {
            let line = line.trim_start().trim_start_matches('"');
            line.strip_prefix(key).is_some_and(|rest| {
                rest.trim_start_matches('"')
                    .trim_start()
                    .starts_with([':', '='])
            })
        })
        .map_or(1, |index| index + first_line)
}

fn fields_of(
    fields: std::collections::HashMap<String, Pod>,
    header: &str,
    first_line: usize,
) -> Result<Frontmatter, FrontmatterError> {
    let mut front = Frontmatter::default();
    let wrong = |key: &str, what: &str| FrontmatterError {
        line: line_of(header, key, first_line),
        reason: format!("`{key}` must be {what}"),
    };
    // Sorted, so that errors and `extra` come out the same every time.
    let mut fields: BTreeMap<String, Pod> = fields.into_iter().collect();
    // Of the names one field goes by, the first present is read; the others are kept.
    let mut first_of = |names: &[&str]| {
        let winner = names.iter().find_map(|name| fields.remove_entry(*name));
        for name in names {
            if let Some(value) = fields.remove(*name) {
                front.extra.insert((*name).to_owned(), json(&value));
            }
        }
        winner
    };
    let published = first_of(&["published", "date", "pubDate"]);
    let description = first_of(&["description", "summary", "excerpt"]);
    let image = first_of(&["image", "cover", "heroImage"]);
    if let Some((key, value)) = published {
        match value {
            // Jekyll's `published: false` keeps a post unpublished.
            Pod::Boolean(published) => front.draft |= !published,
            value => front.published = Some(text(&value).ok_or_else(|| wrong(&key, "a date"))?),
        }
    }
    if let Some((key, value)) = description {
        front.description = Some(text(&value).ok_or_else(|| wrong(&key, "text"))?);
    }
    match image {
        Some((_, Pod::String(image))) if image.trim().is_empty() => {}
        Some((_, Pod::String(image))) => front.image = Some(image.trim().to_owned()),
        // An image as a table (`{url, alt}`) or a list is kept as written.
        Some((key, value)) => {
            front.extra.insert(key, json(&value));
        }
        None => {}
    }
    for (key, value) in fields {
        match key.as_str() {
            "title" => front.title = Some(text(&value).ok_or_else(|| wrong(&key, "text"))?),
            "tags" => front.tags = list(&value).ok_or_else(|| wrong(&key, "a list of names"))?,
            "category" => front.category = Some(text(&value).ok_or_else(|| wrong(&key, "text"))?),
            "categories" => {
                let categories = list(&value).ok_or_else(|| wrong(&key, "a list of names"))?;
                // The first is the category; a longer list is kept whole too.
                if categories.len() > 1 || front.category.is_some() {
                    front.extra.insert(key, json(&value));
                }
                if front.category.is_none() {
                    front.category = categories.into_iter().next();
                }
            }
            "draft" => {
                front.draft |= match &value {
                    Pod::Boolean(draft) => *draft,
                    Pod::String(draft) if draft == "true" || draft == "false" => draft == "true",
                    _ => return Err(wrong(&key, "true or false")),
                }
            }
            "lang" | "language" => {
                front.lang = Some(text(&value).ok_or_else(|| wrong(&key, "a language tag"))?);
            }
            "slug" => front.slug = Some(text(&value).ok_or_else(|| wrong(&key, "text"))?),
            "originalSlug" => {
                front.original_slug = Some(text(&value).ok_or_else(|| wrong(&key, "a slug"))?);
            }
            "series" => {
                front.series =
                    Some(series(&value).ok_or_else(|| wrong(&key, "a name, or {name, order}"))?);
            }
            _ => {
                front.extra.insert(key, json(&value));
            }
        }
    }
    Ok(front)
}

/// A scalar as text (numbers and booleans as written); `None` for a list or a table.
fn text(value: &Pod) -> Option<String> {
    match value {
        Pod::String(text) => Some(text.trim().to_owned()),
        Pod::Integer(number) => Some(number.to_string()),
        Pod::Float(number) => Some(number.to_string()),
        Pod::Boolean(flag) => Some(flag.to_string()),
        Pod::Null => Some(String::new()),
        Pod::Array(_) | Pod::Hash(_) => None,
    }
}

/// A list of names, or one string of comma-separated names.
fn list(value: &Pod) -> Option<Vec<String>> {
    let names: Vec<String> = match value {
        Pod::Array(items) => items.iter().map(text).collect::<Option<_>>()?,
        Pod::String(names) => names
            .split(',')
            .map(|name| name.trim().to_owned())
            .collect(),
        Pod::Null => Vec::new(),
        _ => return None,
    };
    Some(names.into_iter().filter(|name| !name.is_empty()).collect())
}

fn series(value: &Pod) -> Option<Series> {
    match value {
        // Hugo's taxonomy form: `series: ["Name"]`.
        Pod::Array(items) if items.len() == 1 => series(&items[0]),
        Pod::String(name) if !name.trim().is_empty() => Some(Series {
            name: name.trim().to_owned(),
            order: None,
        }),
        Pod::Hash(fields) => {
            let name = fields
                .get("name")
                .and_then(text)
                .filter(|name| !name.is_empty())?;
            let order = match fields.get("order").or_else(|| fields.get("position")) {
                None | Some(Pod::Null) => None,
                Some(Pod::Integer(order)) => Some(*order),
                Some(Pod::String(order)) => Some(order.trim().parse().ok()?),
                Some(_) => return None,
            };
            Some(Series { name, order })
        }
        _ => None,
    }
}

fn json(value: &Pod) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Pod::Null => Value::Null,
        Pod::String(text) => Value::String(text.clone()),
        Pod::Integer(number) => Value::from(*number),
        Pod::Float(number) => {
            serde_json::Number::from_f64(*number).map_or(Value::Null, Value::Number)
        }
        Pod::Boolean(flag) => Value::Bool(*flag),
        Pod::Array(items) => Value::Array(items.iter().map(json).collect()),
        Pod::Hash(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| (key.clone(), json(value)))
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect(),
        ),
    }
}

/// Writes a post back as a Markdown file with a YAML header, the layout [`parse`] reads (and
/// Astro, Hugo and Jekyll read).
///
/// The header's keys come in one order: `title`, `published`, `description`, `image`, `tags`,
/// `category`, `draft`, `lang`, `slug`, `originalSlug`, `series`, then the other keys sorted.
/// Every value is written as JSON, which YAML 1.2 reads as the same value: strings in double
/// quotes, lists and tables in flow style. So reading the file back gives the same fields and
/// the same body; the bytes differ from a hand-written header only in that layout (the
/// documented normalization of an export).
pub fn write(frontmatter: &Frontmatter, body: &str) -> String {
    use serde_json::Value;
    let mut header: Vec<(&str, Value)> = Vec::new();
    let text = |value: &Option<String>| value.as_ref().map(|text| Value::String(text.clone()));
    for (key, value) in [
        ("title", text(&frontmatter.title)),
        ("published", text(&frontmatter.published)),
        ("description", text(&frontmatter.description)),
        ("image", text(&frontmatter.image)),
    ] {
        if let Some(value) = value {
            header.push((key, value));
        }
    }
    if !frontmatter.tags.is_empty() {
        header.push(("tags", Value::from(frontmatter.tags.clone())));
    }
    if let Some(category) = text(&frontmatter.category) {
        header.push(("category", category));
    }
    header.push(("draft", Value::Bool(frontmatter.draft)));
    for (key, value) in [
        ("lang", text(&frontmatter.lang)),
        ("slug", text(&frontmatter.slug)),
        ("originalSlug", text(&frontmatter.original_slug)),
    ] {
        if let Some(value) = value {
            header.push((key, value));
        }
    }
    if let Some(series) = &frontmatter.series {
        let mut fields = serde_json::Map::new();
        fields.insert("name".to_owned(), Value::String(series.name.clone()));
        if let Some(order) = series.order {
            fields.insert("order".to_owned(), Value::from(order));
        }
        header.push(("series", Value::Object(fields)));
    }
    let mut out = String::from("---\n");
    for (key, value) in header.iter().map(|(key, value)| (*key, value)).chain(
        frontmatter
            .extra
            .iter()
            .map(|(key, value)| (key.as_str(), value)),
    ) {
        out.push_str(&yaml_key(key));
        out.push_str(": ");
        out.push_str(&value.to_string());
        out.push('\n');
    }
    out.push_str("---\n");
    out.push_str(body);
    out
}

/// A key as YAML reads it back: plain when it is a simple word, quoted otherwise.
fn yaml_key(key: &str) -> String {
    // Plain only when YAML reads it back as this string: a letter or `_` first (not a
    // number such as `007` or `0x1F`), and not a word YAML reads as a boolean or null.
    const SPECIAL: &[&str] = &["true", "false", "null", "yes", "no", "on", "off", "y", "n"];
    let plain = key
        .chars()
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        && !SPECIAL.iter().any(|word| key.eq_ignore_ascii_case(word));
    if plain {
        key.to_owned()
    } else {
        serde_json::Value::String(key.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_guides_header_reads_whole() {
        let file = "---\ntitle: \"백엔드 개발 심층 분석\"\npublished: 2025-04-28\n\
                    description: \"엔지니어링 가이드입니다.\"\nimage: ''\n\
                    tags: [Backend, Software Engineering, APIs]\ncategory: Backend Development\n\
                    draft: false\nlang: \"ko\"\noriginalSlug: \"deep-dive-into-backend-development\"\n\
                    series:\n  name: \"Backend Engineering\"\n  order: 1\n\n---\n\n## 1.0 소개\n\nBody.\n";
        let document = parse(file).unwrap();
        assert_eq!(document.format, Format::Yaml);
        let front = &document.frontmatter;
        assert_eq!(front.title.as_deref(), Some("백엔드 개발 심층 분석"));
        assert_eq!(front.published.as_deref(), Some("2025-04-28"));
        assert_eq!(front.tags, ["Backend", "Software Engineering", "APIs"]);
        assert_eq!(front.category.as_deref(), Some("Backend Development"));
        assert!(!front.draft);
        assert_eq!(front.image, None);
        assert_eq!(front.lang.as_deref(), Some("ko"));
        assert_eq!(
            front.original_slug.as_deref(),
            Some("deep-dive-into-backend-development")
        );
        assert_eq!(
            front.series,
            Some(Series {
                name: "Backend Engineering".to_owned(),
                order: Some(1)
            })
        );
        assert!(front.extra.is_empty());
        assert_eq!(document.body, "\n## 1.0 소개\n\nBody.\n");
    }

    #[test]
    fn toml_and_json_headers_and_none() {
        let toml = "+++\ntitle = \"数学\"\ndate = 2017-06-30T12:00:00+09:00\ntags = [\"math\"]\n\
                    categories = [\"Tools\", \"Other\"]\nweight = 3\n+++\nBody\n";
        let document = parse(toml).unwrap();
        assert_eq!(document.format, Format::Toml);
        assert_eq!(document.frontmatter.title.as_deref(), Some("数学"));
        assert_eq!(
            document.frontmatter.published.as_deref(),
            Some("2017-06-30T12:00:00+09:00")
        );
        assert_eq!(document.frontmatter.category.as_deref(), Some("Tools"));
        assert_eq!(document.frontmatter.extra["weight"], serde_json::json!(3));
        assert_eq!(document.body, "Body\n");

        let json =
            "{\n  \"title\": \"Grids\",\n  \"tags\": \"a, b\",\n  \"draft\": true\n}\nBody\n";
        let document = parse(json).unwrap();
        assert_eq!(document.format, Format::Json);
        assert_eq!(document.frontmatter.tags, ["a", "b"]);
        assert!(document.frontmatter.draft);
        assert_eq!(document.body, "Body\n");

        let document = parse("# Just Markdown\n").unwrap();
        assert_eq!(document.format, Format::None);
        assert_eq!(document.body, "# Just Markdown\n");
        for body in [
            "{{< figure src=\"a.png\" >}}\nText\n",
            "{/* an MDX comment */}\nText\n",
        ] {
            let document = parse(body).unwrap();
            assert_eq!(
                (document.format, document.body.as_str()),
                (Format::None, body)
            );
        }
    }

    #[test]
    fn crlf_a_byte_order_mark_and_blank_lines_before_the_header_read_as_plain() {
        let document = parse("\u{feff}\r\n---\r\ntitle: A\r\n---\r\nLine\r\n").unwrap();
        assert_eq!(document.frontmatter.title.as_deref(), Some("A"));
        assert_eq!(document.body, "Line\n");
    }

    #[test]
    fn a_carriage_return_alone_ends_a_line_as_in_commonmark() {
        let document = parse("---\rtitle: A\r---\rLine one\rLine two\r").unwrap();
        assert_eq!(document.frontmatter.title.as_deref(), Some("A"));
        assert_eq!(document.body, "Line one\nLine two\n");
        // Mixed endings: each of `\n`, `\r\n` and `\r` ends one line.
        let mixed = parse("---\r\ntitle: A\rtags: {a: 1}\n---\n").unwrap_err();
        assert_eq!(mixed.line, 3, "{mixed}");
    }

    #[test]
    fn an_error_names_a_line_of_the_file_whatever_its_line_endings() {
        // Found by fuzzing: a `---` line ended by a `\r` alone closed the header for the YAML
        // parser's count of lines but not for the split, and the error named line 15 of 11.
        let text = "---\n\n---\r\tK{\r.\t\r5\r\t[\r\t{\r\t]<\n<Y<`5\r\t[\r\t{\r\t]<\n<Y\n:\n\
                    ---*\0\0\0\u{1}\n---\n\n*\n";
        let lines = text
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .split('\n')
            .count();
        match parse(text) {
            Ok(document) => assert_eq!(document.frontmatter, Frontmatter::default()),
            Err(error) => assert!((1..=lines).contains(&error.line), "{error} of {lines}"),
        }
        for ending in ["\n", "\r\n", "\r"] {
            let text = ["", "---", "title: [unclosed", "---", ""].join(ending);
            let broken = parse(&text).unwrap_err();
            assert_eq!(broken.line, 4, "with {ending:?}: {broken}");
        }
    }

    #[test]
    fn a_written_file_reads_back_the_same() {
        let files = [
            "---\ntitle: \"백엔드: \\\"심층\\\" 분석\"\npublished: 2025-04-28\ndescription: 'It''s: a guide'\n\
             tags: [Backend, \"C#\", 'a, b']\ncategory: Backend\ndraft: true\nlang: ko\n\
             originalSlug: deep-dive\nseries:\n  name: Backend Engineering\n  order: 1\n\
             authors:\n  - name: Author One\n    email: one@example.com\nweight: 2.5\n\
             \"odd key\": null\n---\n\n## Body\n\n---\n\nAfter a rule.\n",
            "+++\ntitle = \"数学\"\ndate = 2017-06-30T12:00:00+09:00\n[scripts]\nmath = true\n+++\nBody",
            "{\n\t\"title\": \"Grids\",\n\t\"slug\": \"grids\",\n\t\"draft\": false\n}\nBody\n",
            "No header at all.\n",
            // Keys YAML would read as something else unless quoted; aliases that lose.
            "---\ntitle: Keys\n\"True\": 1\n\"007\": 2\n\"null\": 3\n\"0x1F\": 4\ndate: 2020-01-01\n\
             published: 2021-02-03\nsummary: S\ndescription: D\ncover: /c.png\n\
             image: {url: /i.png, alt: I}\ncategories: [A, B]\n---\nBody\n",
        ];
        for file in files {
            let read = parse(file).unwrap();
            let written = write(&read.frontmatter, &read.body);
            let again = parse(&written).unwrap_or_else(|error| panic!("{error}\n{written}"));
            assert_eq!(again.frontmatter, read.frontmatter, "{written}");
            assert_eq!(again.body, read.body, "{written}");
            assert_eq!(
                write(&again.frontmatter, &again.body),
                written,
                "writing is stable"
            );
        }
    }

    #[test]
    fn every_key_is_kept_whichever_name_wins() {
        let read = parse(
            "---\ntitle: T\ndate: 2020-01-01\npublished: 2021-02-03\nsummary: S\n\
             description: D\ncover: /c.png\nimage: {url: /i.png}\ncategories: [A, B]\n\
             series: [Hugo Series]\n---\nBody\n",
        )
        .unwrap()
        .frontmatter;
        assert_eq!(read.published.as_deref(), Some("2021-02-03"));
        assert_eq!(read.description.as_deref(), Some("D"));
        assert_eq!(read.image, None, "an image as a table is kept as written");
        assert_eq!(read.category.as_deref(), Some("A"));
        assert_eq!(
            read.series.map(|series| series.name).as_deref(),
            Some("Hugo Series")
        );
        let kept: Vec<&str> = read.extra.keys().map(String::as_str).collect();
        assert_eq!(kept, ["categories", "cover", "date", "image", "summary"]);
        // Jekyll's `published: false` keeps a post a draft.
        let jekyll = parse("---\ntitle: J\npublished: false\n---\nBody\n").unwrap();
        assert!(jekyll.frontmatter.draft);
        assert_eq!(jekyll.frontmatter.published, None);
    }

    #[test]
    fn lines_count_the_blank_lines_before_the_header() {
        let wrong = parse("\n\n---\ntitle: A\ntags: {a: 1}\n---\n").unwrap_err();
        assert_eq!(wrong.line, 5, "{wrong}");
        let json = parse("\n{\n  \"title\": \"A\",\n  oops\n}\n").unwrap_err();
        assert_eq!(json.line, 4, "{json}");
    }

    #[test]
    fn a_bad_header_is_refused_with_its_line() {
        let unclosed = parse("---\ntitle: A\nBody\n").unwrap_err();
        assert_eq!(unclosed.line, 1);
        assert!(unclosed.reason.contains("never closed"), "{unclosed}");

        let wrong = parse("---\ntitle: A\ntags: {a: 1}\n---\n").unwrap_err();
        assert_eq!(wrong.line, 3, "{wrong}");
        assert!(wrong.reason.contains("`tags`"), "{wrong}");

        let broken = parse("---\ntitle: [unclosed\n---\n").unwrap_err();
        assert!(broken.reason.contains("YAML"), "{broken}");
        assert_eq!(broken.line, 3, "where the parser stopped: {broken}");
        let toml = parse("\n+++\ntitle = \"A\"\ntags = [\n+++\n").unwrap_err();
        assert_eq!(toml.line, 4, "{toml}");

        let json = parse("{\n  \"title\": \"A\",\n  oops\n}\n").unwrap_err();
        assert_eq!(json.line, 3, "{json}");
    }
}
