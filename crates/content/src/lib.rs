//! quire's content pipeline: what a publication's Markdown becomes for its readers.
//!
//! - [`markdown`]: CommonMark with the GitHub extensions rendered to HTML, sanitized against an
//!   allow-list, with heading anchors, a table of contents, callout directives and a reading
//!   time.

pub mod markdown;

pub use markdown::{Rendered, TocEntry, render};
