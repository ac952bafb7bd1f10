//! Property tests of the core's parsers: cursors, page requests, slugs, usernames, emails,
//! tags and ids. Each holds for any input proptest can make, not only for the examples the
//! unit tests name: a parser never panics, accepts what the server itself makes, and reads it
//! back unchanged.

use proptest::prelude::*;
use quire_core::Error;
use quire_core::ids::{PostId, UserId};
use quire_core::model::PageRequest;
use quire_core::paging::{self, Cursor, UserCursor};
use quire_core::time::Timestamp;
use quire_core::values::{Email, Slug, TagList, TagName, Title, Username};

/// Text with the characters parsers trip on: ASCII, other scripts, controls, NUL, whitespace.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "[\\x00-\\x1f a-zA-Z0-9가-힣_.@-]{0,40}",
        "[0-9a-f]{0,120}",
    ]
}

/// Tokens close to the ones this server makes: the hex of a post or user cursor's text whose
/// numbers may carry a sign or leading zeros, in lower or upper case.
fn near_cursor() -> impl Strategy<Value = String> {
    let number = prop_oneof!["[0-9]{1,19}", "[+-]?0*[0-9]{1,5}"];
    (
        prop_oneof![Just("p."), Just("u."), Just("P."), Just("")],
        number.clone(),
        proptest::option::of(number),
        any::<bool>(),
    )
        .prop_map(|(kind, first, second, upper)| {
            let text = match second {
                Some(second) => format!("{kind}{first}.{second}"),
                None => format!("{kind}{first}"),
            };
            let hex: String = text.bytes().map(|byte| format!("{byte:02x}")).collect();
            if upper { hex.to_uppercase() } else { hex }
        })
}

fn is_malformed(result: &Result<impl std::fmt::Debug, Error>) -> bool {
    matches!(result, Err(Error::Malformed(_)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_post_cursor_reads_back_as_made(at in 0i64..=i64::MAX, id in 1i64..=i64::MAX) {
        let cursor = Cursor { at: Timestamp::from_millis(at), id: PostId::new(id) };
        prop_assert_eq!(Cursor::parse("cursor", &cursor.encode()).unwrap(), cursor);
    }

    #[test]
    fn a_user_cursor_reads_back_as_made_and_is_no_post_cursor(id in 1i64..=i64::MAX) {
        let cursor = UserCursor(UserId::new(id));
        let token = cursor.encode();
        prop_assert_eq!(UserCursor::parse("after", &token).unwrap(), cursor);
        prop_assert!(is_malformed(&Cursor::parse("after", &token)));
    }

    #[test]
    fn a_post_cursor_is_no_user_cursor(at in 0i64..=i64::MAX, id in 1i64..=i64::MAX) {
        let token = Cursor { at: Timestamp::from_millis(at), id: PostId::new(id) }.encode();
        prop_assert!(is_malformed(&UserCursor::parse("after", &token)));
    }

    /// Whatever a client sends as a cursor is a cursor this server made, or malformed: never
    /// a panic, never another error.
    #[test]
    fn any_token_is_a_cursor_or_malformed(token in prop_oneof![any_text(), near_cursor()]) {
        let post = Cursor::parse("cursor", &token);
        prop_assert!(post.is_ok() || is_malformed(&post));
        if let Ok(cursor) = post {
            prop_assert!(cursor.id.get() > 0);
            prop_assert_eq!(cursor.encode(), token.clone());
        }
        let user = UserCursor::parse("after", &token);
        prop_assert!(user.is_ok() || is_malformed(&user));
        if let Ok(cursor) = user {
            prop_assert!(cursor.0.get() > 0);
            prop_assert_eq!(cursor.encode(), token);
        }
    }

    /// Any page size is the default, one within bounds, or malformed.
    #[test]
    fn page_sizes_stay_within_bounds(asked in proptest::option::of(any_text())) {
        match paging::page_size_text("first", asked.as_deref()) {
            Ok(size) => prop_assert!((1..=paging::MAX_PAGE_SIZE).contains(&size)),
            Err(error) => prop_assert!(matches!(error, Error::Malformed(_))),
        }
    }

    /// RealWorld's limit and offset: a limit of 1 or more is kept up to the cap, any offset
    /// of 0 or more is kept; anything else is invalid input, never a panic.
    #[test]
    fn page_requests_cap_limits_and_keep_offsets(limit in 1i64..=i64::MAX, offset in any::<u64>()) {
        let page = PageRequest::parse(Some(&limit.to_string()), Some(&offset.to_string())).unwrap();
        prop_assert_eq!(u64::from(page.limit), u64::try_from(limit).unwrap().min(u64::from(PageRequest::MAX_LIMIT)));
        prop_assert_eq!(page.offset, offset);
    }

    #[test]
    fn any_limit_and_offset_parse_or_are_invalid(limit in proptest::option::of(any_text()), offset in proptest::option::of(any_text())) {
        match PageRequest::parse(limit.as_deref(), offset.as_deref()) {
            Ok(page) => prop_assert!((1..=PageRequest::MAX_LIMIT).contains(&page.limit)),
            Err(error) => prop_assert!(matches!(error, Error::Invalid(_))),
        }
    }

    /// A slug made from any title is a slug the server reads back: non-empty, no NUL, lower
    /// case letters and digits joined by single dashes, never longer than its bound.
    #[test]
    fn slugs_from_titles_are_valid_slugs(title in any::<String>()) {
        let Ok(title) = Title::parse(&title) else { return Ok(()) };
        let slug = Slug::from_title(&title);
        let text = slug.as_str();
        prop_assert_eq!(Slug::parse(text), Some(slug.clone()));
        prop_assert!(!text.starts_with('-') && !text.ends_with('-') && !text.contains("--"));
        // Letters are lower-cased (one may lower-case to a letter and a combining mark: `İ`).
        prop_assert_eq!(text.to_lowercase(), text);
        prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/'));
        // The last letter may lower-case to more than one character.
        prop_assert!(text.chars().count() <= Slug::MAX_BASE_CHARS + 3);
    }

    #[test]
    fn any_path_segment_is_a_slug_unless_blank_long_or_with_nul(text in any_text()) {
        let parsed = Slug::parse(&text);
        let acceptable = !text.is_empty() && text.chars().count() <= 200 && !text.contains('\0');
        prop_assert_eq!(parsed.is_some(), acceptable);
        if let Some(slug) = parsed {
            prop_assert_eq!(slug.as_str(), text.as_str());
        }
    }

    /// A username that parses is read back as itself; its key ignores case, so two names
    /// differing only in case are one user.
    #[test]
    fn usernames_read_back_and_key_without_case(text in any_text()) {
        if let Ok(name) = Username::parse(&text) {
            prop_assert_eq!(name.as_str(), text.trim());
            prop_assert_eq!(Username::parse(name.as_str()), Ok(name.clone()));
            prop_assert!(name.as_str().chars().count() <= Username::MAX_CHARS);
            prop_assert!(name.as_str().chars().all(|c| c.is_alphanumeric() || "_-.".contains(c)));
            let shouted = Username::parse(&name.as_str().to_ascii_uppercase()).unwrap();
            prop_assert_eq!(shouted.key(), name.key());
        }
    }

    #[test]
    fn emails_that_parse_hold_one_at_and_no_whitespace(text in any_text()) {
        if let Ok(email) = Email::parse(&text) {
            let text = email.as_str();
            let (local, domain) = text.split_once('@').unwrap();
            prop_assert!(!domain.contains('@'));
            prop_assert!(!local.is_empty() && !domain.is_empty());
            prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert_eq!(Email::parse(text), Ok(email.clone()));
        }
    }

    /// Tags come out trimmed, distinct and sorted, without control characters, whatever order
    /// and repetition they came in.
    #[test]
    fn tag_lists_are_sorted_distinct_and_clean(items in proptest::collection::vec(any_text(), 0..30)) {
        match TagList::parse(&items) {
            Ok(tags) => {
                let names = tags.names();
                prop_assert!(names.windows(2).all(|pair| pair[0] < pair[1]));
                prop_assert!(names.len() <= TagList::MAX_TAGS);
                for name in &names {
                    prop_assert_eq!(name.trim(), name.as_str());
                    prop_assert!(!name.is_empty() && !name.chars().any(char::is_control));
                    prop_assert!(name.chars().count() <= TagName::MAX_CHARS);
                }
                let mut reversed = items.clone();
                reversed.reverse();
                prop_assert_eq!(TagList::parse(&reversed).unwrap(), tags);
            }
            Err(_) => prop_assert!(
                items.iter().any(|item| TagName::parse(item).is_err()) || items.len() > TagList::MAX_TAGS
            ),
        }
    }

    /// An id in a path is a positive decimal that reads back as written, or none.
    #[test]
    fn ids_are_positive_decimals(text in any_text(), value in any::<i64>()) {
        if let Some(id) = PostId::parse(&text) {
            prop_assert!(id.get() > 0);
            prop_assert_eq!(PostId::parse(&id.get().to_string()), Some(id));
        }
        prop_assert_eq!(PostId::parse(&value.to_string()).is_some(), value > 0);
        prop_assert_eq!(UserId::checked(value).is_some(), value > 0);
    }
}
