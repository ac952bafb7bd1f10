//! Domain values that parse rather than validate: once constructed, a value is known good.
//!
//! Each `parse` returns the message a transport shows next to the field name, such as
//! `can't be blank`, so every contract reports the same rule the same way.

mod post;
mod user;

pub use post::{Body, CommentBody, Description, Slug, TagList, TagName, Title};
pub use user::{Bio, Email, ImageUrl, Password, PasswordHash, Username};

pub(crate) const BLANK: &str = "can't be blank";
/// No engine stores a NUL character the same way (PostgreSQL refuses it): refused everywhere.
pub(crate) const NUL: &str = "can't contain NUL characters";

/// Counts characters, not bytes, so limits mean the same in every script.
pub(crate) fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// Whether the text is empty or only whitespace.
pub(crate) fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}
