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

/// Identifies a sign-in session: 128 random bits, written as 32 lowercase hex digits (in the
/// database, and in the `sid` claim of the session's access tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(u128);

impl SessionId {
    /// A session id from 16 random bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(u128::from_be_bytes(bytes))
    }

    /// Parses the 32 lowercase hex digits of [`SessionId`]'s `Display`; nothing else.
    pub fn parse(text: &str) -> Option<Self> {
        let canonical = text.len() == 32
            && text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
        canonical
            .then(|| u128::from_str_radix(text, 16).ok())
            .flatten()
            .map(Self)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

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

    #[test]
    fn session_ids_read_back_only_as_written() {
        let id = SessionId::from_bytes([0xab; 16]);
        assert_eq!(id.to_string(), "ab".repeat(16));
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
        let short = SessionId::from_bytes([0; 16]);
        assert_eq!(short.to_string().len(), 32, "zero-padded");
        for refused in [
            "AB".repeat(16),
            "ab".repeat(15),
            "+b".repeat(16),
            "ab".repeat(17),
            String::new(),
        ] {
            assert_eq!(SessionId::parse(&refused), None, "{refused:?}");
        }
    }
}
