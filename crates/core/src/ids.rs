//! Typed numeric identifiers, so a user id cannot be passed where a post id is meant.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i64);

        impl $name {
            pub const fn new(value: i64) -> Self {
                Self(value)
            }

            pub const fn get(self) -> i64 {
                self.0
            }

            /// Parses a decimal id as it appears in a path; only positive values name a record.
            pub fn parse(text: &str) -> Option<Self> {
                text.parse::<i64>().ok().and_then(Self::checked)
            }

            /// An id as a binary message carries it; only positive values name a record.
            pub fn checked(value: i64) -> Option<Self> {
                (value > 0).then_some(Self(value))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Identifies a user.
    UserId
);
id_type!(
    /// Identifies a post.
    PostId
);
id_type!(
    /// Identifies a comment.
    CommentId
);
id_type!(
    /// Identifies a webhook endpoint.
    WebhookId
);
id_type!(
    /// Identifies one event's delivery to one webhook endpoint.
    DeliveryId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_decimal_ids_parse() {
        assert_eq!(CommentId::parse("42"), Some(CommentId::new(42)));
        assert_eq!(CommentId::parse("0"), None);
        assert_eq!(CommentId::parse("-3"), None);
        assert_eq!(CommentId::parse("abc"), None);
        assert_eq!(CommentId::parse("99999999999999999999"), None);
    }
}
