//! quire's content pipeline: what a publication's Markdown becomes for its readers.
//!
//! - [`markdown`]: CommonMark with the GitHub extensions rendered to HTML, sanitized against an
//!   allow-list, with heading anchors, a table of contents, callout directives and a reading
//!   time.
//! - [`frontmatter`]: Markdown files with a YAML, TOML or JSON header, as static-site
//!   generators write them, read into a post's fields and body, and written back.
//! - [`layout`]: what a file's place in a site's source says of its post (name, language,
//!   date, the work it translates), and language tags and dates as generators write them.
//! - [`search`]: the terms text is indexed and searched by, in every language (CJK as bigrams).

pub mod frontmatter;
pub mod layout;
pub mod markdown;
pub mod search;

pub use markdown::{RENDERER_VERSION, Rendered, TocEntry, render};
