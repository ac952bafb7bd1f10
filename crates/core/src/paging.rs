//! Paging, one way for every contract: keyset cursors that only this server makes and reads,
//! and page sizes within one bound. Every list of every contract parses its `cursor` / `after`
//! and its `limit` / `first` / `page_size` here, so a malformed or foreign cursor and a size
//! out of range are the same [`Error::Malformed`] everywhere (400, `BAD_USER_INPUT`,
//! `INVALID_ARGUMENT`).
//!
//! A cursor is opaque to clients: the hex of a short text naming the list's kind and the sort
//! key of the last item served. A cursor of one kind of list is refused by another.

use crate::error::{Error, FieldErrors, Result};
use crate::ids::{CommentId, PostId, UserId};
use crate::model::{Comment, PageRequest, UserView};
use crate::time::Timestamp;

/// The page size when a client names none.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 100;
/// The longest cursor accepted, in characters.
const MAX_CURSOR_LEN: usize = 96;

const FOREIGN: &str = "is not a cursor this server made for this list";

/// The page size asked for in `field`: [`DEFAULT_PAGE_SIZE`] when absent, else 1 to
/// [`MAX_PAGE_SIZE`]; anything else is [`Error::Malformed`].
pub fn page_size(field: &'static str, asked: Option<i64>) -> Result<u32> {
    match asked {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(size) => u32::try_from(size)
            .ok()
            .filter(|size| (1..=MAX_PAGE_SIZE).contains(size))
            .ok_or_else(|| {
                Error::malformed(
                    field,
                    format!("must be an integer from 1 to {MAX_PAGE_SIZE}"),
                )
            }),
    }
}

/// The same, for a size given as query-string text.
pub fn page_size_text(field: &'static str, asked: Option<&str>) -> Result<u32> {
    match asked {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(text) => page_size(field, Some(text.trim().parse::<i64>().unwrap_or(0))),
    }
}

/// Where a page of posts starts: after the post with this sort time (published, or created
/// for drafts) and id, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: Timestamp,
    pub id: PostId,
}

impl Cursor {
    /// The opaque token clients send back.
    pub fn encode(&self) -> String {
        encode(&format!("p.{}.{}", self.at.as_millis(), self.id.get()))
    }

    /// The cursor `token` names, read from `field`; anything this server did not make for a
    /// list of posts is [`Error::Malformed`].
    pub fn parse(field: &'static str, token: &str) -> Result<Self> {
        let read = || {
            let text = decode(token)?;
            let (at, id) = text.strip_prefix("p.")?.split_once('.')?;
            Some(Self {
                at: Timestamp::from_millis(at.parse().ok()?),
                id: PostId::parse(id)?,
            })
        };
        // Only the token this server made names a cursor (not `01`, `+1` or upper-case hex).
        read()
            .filter(|cursor| cursor.encode() == token)
            .ok_or_else(|| Error::malformed(field, FOREIGN))
    }
}

/// Where a page of users starts: after this id, ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCursor(pub UserId);

impl UserCursor {
    pub fn encode(&self) -> String {
        encode(&format!("u.{}", self.0.get()))
    }

    /// The cursor `token` names, read from `field`; anything this server did not make for a
    /// list of users is [`Error::Malformed`].
    pub fn parse(field: &'static str, token: &str) -> Result<Self> {
        let read = || UserId::parse(decode(token)?.strip_prefix("u.")?).map(Self);
        read()
            .filter(|cursor| cursor.encode() == token)
            .ok_or_else(|| Error::malformed(field, FOREIGN))
    }
}

/// Where a page of a post's comments starts: after this comment, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentCursor(pub CommentId);

impl CommentCursor {
    pub fn encode(&self) -> String {
        encode(&format!("c.{}", self.0.get()))
    }

    /// The cursor `token` names, read from `field`; anything this server did not make for a
    /// list of comments is [`Error::Malformed`].
    pub fn parse(field: &'static str, token: &str) -> Result<Self> {
        let read = || CommentId::parse(decode(token)?.strip_prefix("c.")?).map(Self);
        read()
            .filter(|cursor| cursor.encode() == token)
            .ok_or_else(|| Error::malformed(field, FOREIGN))
    }
}

/// Reads an optional cursor of kind `C` from `field`.
pub fn parse_after<C>(
    field: &'static str,
    token: Option<&str>,
    parse: impl FnOnce(&'static str, &str) -> Result<C>,
) -> Result<Option<C>> {
    token.map(|token| parse(field, token)).transpose()
}

/// A page of `items` fetched with one more than `size` asked for: the page, and whether another
/// follows. Lists fetch `size + 1` so that a full last page never promises an empty next one.
pub(crate) fn split_page<T>(mut items: Vec<T>, size: u32) -> (Vec<T>, bool) {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let more = items.len() > size;
    items.truncate(size);
    (items, more)
}

/// A page of users, by ascending id, and where the next page starts if another follows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPage {
    pub users: Vec<UserView>,
    pub next: Option<UserCursor>,
}

impl UserPage {
    /// The page of `size` out of users fetched with one more than `size`.
    pub(crate) fn of(fetched: Vec<UserView>, size: u32) -> Self {
        let (users, more) = split_page(fetched, size);
        let next = users
            .last()
            .filter(|_| more)
            .map(|view| UserCursor(view.user.id));
        Self { users, next }
    }
}

/// A page of a post's comments, oldest first, and where the next page starts if another
/// follows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommentPage {
    pub comments: Vec<Comment>,
    pub next: Option<CommentCursor>,
}

impl CommentPage {
    /// The page of `size` out of comments fetched with one more than `size`.
    pub(crate) fn of(fetched: Vec<Comment>, size: u32) -> Self {
        let (comments, more) = split_page(fetched, size);
        let next = comments
            .last()
            .filter(|_| more)
            .map(|comment| CommentCursor(comment.id));
        Self { comments, next }
    }
}

fn encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut token = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        token.push(char::from(HEX[usize::from(byte >> 4)]));
        token.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    token
}

fn decode(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) || token.len() > MAX_CURSOR_LEN {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// RealWorld's offset pages (`/api/articles?limit=&offset=`): the one deliberate difference from
/// [`page_size`]. The RealWorld contract lists no 400 for a large `limit`, and its front ends
/// ask for what they like, so a limit above [`MAX_PAGE_SIZE`] is capped rather than refused;
/// a limit below 1 or an offset that is not a number is still invalid input.
impl PageRequest {
    /// Reads a limit and offset as a client sent them: limit from 1 (above
    /// [`PageRequest::MAX_LIMIT`] it is capped), offset from 0.
    pub fn parse(limit: Option<&str>, offset: Option<&str>) -> Result<Self> {
        Self::parse_or(limit, offset, Self::DEFAULT_LIMIT)
    }

    /// [`PageRequest::parse`] with `default` as the limit when none is sent.
    pub fn parse_or(limit: Option<&str>, offset: Option<&str>, default: u32) -> Result<Self> {
        let mut errors = FieldErrors::new();
        let limit = match limit.map(|text| text.trim().parse::<i64>()) {
            None => Some(default.min(Self::MAX_LIMIT)),
            Some(Ok(limit)) if limit >= 1 => Some(
                u32::try_from(limit.min(i64::from(Self::MAX_LIMIT))).unwrap_or(Self::MAX_LIMIT),
            ),
            Some(_) => {
                errors.add("limit", "must be an integer of at least 1");
                None
            }
        };
        let offset = match offset.map(|text| text.trim().parse::<u64>()) {
            None => Some(0),
            Some(Ok(offset)) => Some(offset),
            Some(Err(_)) => {
                errors.add("offset", "must be an integer of at least 0");
                None
            }
        };
        match (limit, offset) {
            (Some(limit), Some(offset)) => Ok(Self { limit, offset }),
            _ => Err(Error::Invalid(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests_parse_with_defaults_and_caps() {
        assert_eq!(
            PageRequest::parse(None, None).unwrap(),
            PageRequest {
                limit: 20,
                offset: 0
            }
        );
        assert_eq!(
            PageRequest::parse(Some("1"), Some("1")).unwrap(),
            PageRequest {
                limit: 1,
                offset: 1
            }
        );
        assert_eq!(
            PageRequest::parse(Some("5000"), None).unwrap().limit,
            PageRequest::MAX_LIMIT
        );
        for bad in ["0", "-1", "x", ""] {
            assert!(PageRequest::parse(Some(bad), None).is_err(), "limit {bad}");
        }
        assert!(PageRequest::parse(None, Some("-1")).is_err());
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage_and_each_other() {
        let post = Cursor {
            at: Timestamp::from_millis(1_700_000_000_123),
            id: PostId::new(42),
        };
        assert_eq!(Cursor::parse("cursor", &post.encode()).unwrap(), post);
        let user = UserCursor(UserId::new(7));
        assert_eq!(UserCursor::parse("after", &user.encode()).unwrap(), user);
        for bad in ["", "zz", "abc", "garbage", &"00".repeat(60), &user.encode()] {
            let error = Cursor::parse("cursor", bad).unwrap_err();
            assert!(
                matches!(&error, Error::Malformed(fields) if fields.contains("cursor")),
                "{bad}: {error:?}"
            );
        }
        for bad in ["", "garbage", &post.encode()] {
            assert!(
                matches!(UserCursor::parse("after", bad), Err(Error::Malformed(_))),
                "{bad}"
            );
        }
        let comment = CommentCursor(CommentId::new(9));
        assert_eq!(
            CommentCursor::parse("after", &comment.encode()).unwrap(),
            comment
        );
        for bad in ["", "garbage", &post.encode(), &user.encode()] {
            assert!(
                matches!(CommentCursor::parse("after", bad), Err(Error::Malformed(_))),
                "{bad}"
            );
        }
        assert!(UserCursor::parse("after", &comment.encode()).is_err());
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size("limit", None).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size("limit", Some(1)).unwrap(), 1);
        assert_eq!(page_size("limit", Some(100)).unwrap(), 100);
        for bad in [0, -1, 101, 500, i64::MAX] {
            assert!(
                matches!(page_size("limit", Some(bad)), Err(Error::Malformed(_))),
                "{bad}"
            );
        }
        assert!(page_size_text("limit", Some("ten")).is_err());
        assert_eq!(page_size_text("limit", Some("10")).unwrap(), 10);
    }

    #[test]
    fn a_full_last_page_promises_no_next() {
        assert_eq!(split_page(vec![1, 2, 3], 3), (vec![1, 2, 3], false));
        assert_eq!(split_page(vec![1, 2, 3, 4], 3), (vec![1, 2, 3], true));
    }
}
