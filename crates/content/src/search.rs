//! The terms text is searched by, in every language: one function for what is indexed and for
//! what is asked, so that both engines (SQLite and PostgreSQL, whose index quire writes itself)
//! hold identical terms and a query means the same on each; and the snippets shown with results.
//!
//! Text is normalized (Unicode NFKC, then lowercase) and split at word boundaries (Unicode
//! UAX #29). Words in scripts written with spaces are terms as they are. Runs of Chinese,
//! Japanese and Korean characters become overlapping bigrams, as Lucene's CJK analyzer indexes
//! them (a lone character is a term of its own): so a two-syllable Korean word matches inside
//! a longer one with its particle (`분석` in `분석을`), and a Chinese or Japanese word is found
//! without a dictionary. Terms longer than [`MAX_TERM_BYTES`] (a hex dump, a long URL) are
//! dropped: nobody searches for them, and an index entry must stay small.

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};
use unicode_segmentation::UnicodeSegmentation;

use crate::markdown::escape_into;

/// The longest term kept, in bytes of UTF-8.
pub const MAX_TERM_BYTES: usize = 64;

/// How much of a body's plain text the index keeps for snippets, in characters.
pub const EXCERPT_CHARS: usize = 16_000;

/// The terms of `text`, in order, repeats kept (a count is a weight).
pub fn terms(text: &str) -> Vec<String> {
    // NFKC leaves ASCII as it is: only lowercase it.
    let normalized: String = if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.nfkc().flat_map(char::to_lowercase).collect()
    };
    let mut terms = Vec::new();
    read_words(&normalized, &mut terms);
    terms.retain(|term| term.len() <= MAX_TERM_BYTES);
    terms
}

/// Whether `c` may be part of a word's term: a letter, a digit, `'` inside (`don't`) or `_`.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\'' || c == '_'
}

/// Appends the terms of normalized `text` to `terms`. A word of word characters alone is its
/// own term, without its outer apostrophes. A word that also holds CJK characters or other
/// characters (`api엔드포인트`, a letter with a variation selector) is cut there, and each
/// piece read again as text of its own: so every term reads back as itself, as a query typed
/// with that term must.
fn read_words(text: &str, terms: &mut Vec<String>) {
    let mut run: Vec<char> = Vec::new();
    for segment in text.split_word_bounds() {
        let mut chars = segment.chars();
        let all_cjk = chars.clone().all(is_cjk) && chars.next().is_some();
        if all_cjk {
            run.extend(segment.chars());
            continue;
        }
        flush(&mut run, terms);
        if !segment.chars().any(char::is_alphanumeric) {
            continue;
        }
        if segment.chars().all(|c| is_word_char(c) && !is_cjk(c)) {
            let word = segment.trim_matches('\'');
            if word.chars().any(char::is_alphanumeric) {
                terms.push(word.to_owned());
            }
            continue;
        }
        // Pieces are shorter than the segment: the reading ends.
        let mut piece_start = None;
        for (at, c) in segment.char_indices() {
            if is_word_char(c) && !is_cjk(c) {
                if piece_start.is_none() {
                    flush(&mut run, terms);
                    piece_start = Some(at);
                }
                continue;
            }
            if let Some(start) = piece_start.take() {
                read_words(&segment[start..at], terms);
            }
            if is_cjk(c) {
                run.push(c);
            } else {
                flush(&mut run, terms);
            }
        }
        if let Some(start) = piece_start {
            read_words(&segment[start..], terms);
        }
    }
    flush(&mut run, terms);
}

/// How much a term counts in each field of a post: a title's term weighs as much as five of a
/// body's, a description's as two (BM25F's field weights, Robertson et al. 2004).
pub const TITLE_WEIGHT: u32 = 5;
/// See [`TITLE_WEIGHT`].
pub const DESCRIPTION_WEIGHT: u32 = 2;
/// See [`TITLE_WEIGHT`].
pub const BODY_WEIGHT: u32 = 1;

/// A post as the index holds it: each distinct term with its weighted frequency, sorted by
/// term, the weighted length (the sum of the frequencies), and the first [`EXCERPT_CHARS`]
/// characters of the body's plain text, which snippets are cut from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    pub postings: Vec<(String, u32)>,
    pub length: u32,
    pub excerpt: String,
}

/// BM25's term-frequency saturation (Robertson and Zaragoza, "The Probabilistic Relevance
/// Framework: BM25 and Beyond", 2009, section 3.4).
pub const K1: f64 = 1.2;
/// BM25's document length normalization, 0 (none) to 1 (full); see [`K1`].
pub const B: f64 = 0.75;
/// The weighted length (in terms) a post's length is normalized against: where BM25 takes the
/// collection's mean length, quire takes this fixed pivot (pivoted length normalization,
/// Singhal, Buckley and Mitra, 1996), about a blog post of a thousand words. A term's weight in
/// a post then depends on that post alone, so the index stores it when the post is written,
/// and a search reads a term's best postings first instead of scoring every post holding it.
pub const PIVOT_LENGTH: f64 = 1000.0;

/// Impacts are stored in units of 2⁻²⁰ (a million steps between 0 and 1), as integers: exact
/// on every engine and in every interchange, and finer than any ranking needs.
pub const IMPACT_SCALE: f64 = 1_048_576.0;

/// BM25's weight of a term held `frequency` times (field-weighted) by a post of weighted
/// `length`, before its inverse document frequency: `frequency * (K1 + 1) / (frequency + K1 *
/// (1 - B + B * length / PIVOT_LENGTH))`, between 0 and `K1 + 1`, in units of
/// [`IMPACT_SCALE`] rounded to the nearest.
pub fn impact(frequency: u32, length: u32) -> u32 {
    let frequency = f64::from(frequency);
    let norm = K1 * (1.0 - B + B * f64::from(length) / PIVOT_LENGTH);
    let weight = frequency * (K1 + 1.0) / (frequency + norm);
    // 0 to 2.2 × 2^20: within u32, and a float-to-int `as` saturates anyway.
    (weight * IMPACT_SCALE).round() as u32
}

impl Document {
    /// Each term with its [`impact`] in this post, as the index stores it.
    pub fn impacts(&self) -> impl Iterator<Item = (&str, u32)> {
        self.postings
            .iter()
            .map(|(term, frequency)| (term.as_str(), impact(*frequency, self.length)))
    }
}

/// The index entry of a post with this `title`, `description` and plain-text `body`.
pub fn document(title: &str, description: &str, body: &str) -> Document {
    let mut counts = std::collections::BTreeMap::<String, u32>::new();
    for (text, weight) in [
        (title, TITLE_WEIGHT),
        (description, DESCRIPTION_WEIGHT),
        (body, BODY_WEIGHT),
    ] {
        for term in terms(text) {
            let count = counts.entry(term).or_default();
            *count = count.saturating_add(weight);
        }
    }
    let length = counts
        .values()
        .fold(0u32, |sum, tf| sum.saturating_add(*tf));
    let excerpt = match body.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => body[..end].to_owned(),
        None => body.to_owned(),
    };
    Document {
        postings: counts.into_iter().collect(),
        length,
        excerpt,
    }
}

/// A word of a text as snippets see it: its place, its text, whether it matches the query.
/// Chinese, Japanese and Korean runs are split into characters, each matching when a query
/// term (a bigram, or a lone character) covers it.
struct Token<'a> {
    offset: usize,
    text: &'a str,
    matched: bool,
}

fn is_cjk_word(word: &str) -> bool {
    !word.is_empty() && word.chars().all(is_cjk)
}

/// Matching words past which [`tokens`] stops reading, once it has read `reach` bytes beyond
/// the last of them: a passage holds only a few, and the first good passage is good enough.
const ENOUGH_MATCHES: usize = 8;

/// The words of `text`, whitespace left out, with whether each matches `query`; after
/// [`ENOUGH_MATCHES`] matching words, only up to `reach` bytes further.
fn tokens<'a>(text: &'a str, query: &[String], reach: usize) -> Vec<Token<'a>> {
    let hits = |piece: &str| {
        // ASCII with no letter or digit (punctuation) holds no term, before NFKC or after.
        if piece.is_ascii() && !piece.bytes().any(|byte| byte.is_ascii_alphanumeric()) {
            return false;
        }
        // A plain ASCII word is its own term, lowercased: compared without analysing it.
        if piece.len() <= MAX_TERM_BYTES
            && piece
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        {
            return query.iter().any(|term| term.eq_ignore_ascii_case(piece));
        }
        // One or two CJK characters already in NFKC (Hangul syllables, kana, ideographs) are
        // their own term: `terms` would give them back unchanged.
        if is_cjk_word(piece) && is_nfkc_quick(piece.chars()) == IsNormalized::Yes {
            return query.iter().any(|term| term == piece);
        }
        terms(piece).iter().any(|term| query.contains(term))
    };
    let mut segments = segments(text).peekable();
    let mut tokens: Vec<Token<'a>> = Vec::new();
    let mut matched = 0;
    let mut stop_at = usize::MAX;
    while let Some((offset, word)) = segments.next() {
        if offset >= stop_at {
            break;
        }
        if matched >= ENOUGH_MATCHES && stop_at == usize::MAX {
            stop_at = offset.saturating_add(reach);
        }
        if !is_cjk_word(word) {
            let token = Token {
                offset,
                text: word,
                matched: hits(word),
            };
            matched += usize::from(token.matched);
            tokens.push(token);
            continue;
        }
        // A run: CJK segments with nothing between them, as `terms` reads them.
        let mut end = offset + word.len();
        while let Some(&(next, following)) = segments.peek() {
            if next != end || !is_cjk_word(following) {
                break;
            }
            end = next + following.len();
            segments.next();
        }
        let run: Vec<(usize, char)> = text[offset..end]
            .char_indices()
            .map(|(at, c)| (offset + at, c))
            .collect();
        // A run already in NFKC is its own terms: its pairs are compared as they are.
        let normalized = is_nfkc_quick(text[offset..end].chars()) == IsNormalized::Yes;
        let pair_hits = |piece: &str| {
            if normalized {
                query.iter().any(|term| term == piece)
            } else {
                hits(piece)
            }
        };
        let mut marked = vec![false; run.len()];
        if let [(at, c)] = run[..] {
            marked[0] = pair_hits(&text[at..at + c.len_utf8()]);
        }
        for k in 1..run.len() {
            let (from, _) = run[k - 1];
            let (at, c) = run[k];
            if pair_hits(&text[from..at + c.len_utf8()]) {
                marked[k - 1] = true;
                marked[k] = true;
            }
        }
        for ((at, c), hit) in run.into_iter().zip(marked) {
            matched += usize::from(hit);
            tokens.push(Token {
                offset: at,
                text: &text[at..at + c.len_utf8()],
                matched: hit,
            });
        }
    }
    tokens
}

/// The words and the other characters of `text`, whitespace left out, with their byte
/// offsets, as Unicode word segmentation (UAX #29) splits it, whose words never span
/// whitespace: each stretch between whitespace is split by [`AsciiWords`] when it is ASCII
/// (most of an English text), by `split_word_bound_indices` otherwise.
fn segments(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(char::is_whitespace)
        .filter(|chunk| !chunk.is_empty())
        .flat_map(move |chunk| {
            // The chunk's place in `text`: both point into one string.
            let base = chunk.as_ptr() as usize - text.as_ptr() as usize;
            let pieces = if chunk.is_ascii() {
                Pieces::Ascii(AsciiWords { text: chunk, at: 0 })
            } else {
                Pieces::Unicode(chunk.split_word_bound_indices())
            };
            pieces.map(move |(offset, piece)| (base + offset, piece))
        })
}

/// The pieces of one stretch of text between whitespace; see [`segments`].
enum Pieces<'a> {
    Ascii(AsciiWords<'a>),
    Unicode(unicode_segmentation::UWordBoundIndices<'a>),
}

impl<'a> Iterator for Pieces<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Pieces::Ascii(words) => words.next(),
            // A piece of other whitespace (a no-break space) is left out too.
            Pieces::Unicode(words) => words.find(|(_, word)| !word.trim().is_empty()),
        }
    }
}

/// The words and the other characters of an ASCII `text`, whitespace left out, with their byte
/// offsets, as UAX #29 splits ASCII: letters, digits and `_` run together; a `'`, `.` or `:`
/// between two letters and a `'`, `.`, `,` or `;` between two digits join the run (WB6, WB7,
/// WB11, WB12); any other character stands alone. The same pieces as
/// `split_word_bound_indices` without its tables, which snippets read a stretch of for every
/// hit.
struct AsciiWords<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> AsciiWords<'a> {
    fn word(&self, at: usize) -> bool {
        self.text
            .as_bytes()
            .get(at)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    }

    fn joins(&self, at: usize) -> bool {
        let bytes = self.text.as_bytes();
        let (Some(&before), Some(&mid), Some(&after)) = (
            bytes.get(at.wrapping_sub(1)),
            bytes.get(at),
            bytes.get(at + 1),
        ) else {
            return false;
        };
        let letters = before.is_ascii_alphabetic() && after.is_ascii_alphabetic();
        let digits = before.is_ascii_digit() && after.is_ascii_digit();
        (letters && matches!(mid, b'\'' | b'.' | b':'))
            || (digits && matches!(mid, b'\'' | b'.' | b',' | b';'))
    }
}

impl<'a> Iterator for AsciiWords<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.text.as_bytes();
        while self.at < bytes.len() && char::from(bytes[self.at]).is_whitespace() {
            self.at += 1;
        }
        if self.at >= bytes.len() {
            return None;
        }
        let start = self.at;
        if self.word(self.at) {
            loop {
                while self.word(self.at) {
                    self.at += 1;
                }
                if self.at > 0 && self.joins(self.at) {
                    self.at += 1;
                } else {
                    break;
                }
            }
        } else {
            self.at += 1;
        }
        Some((start, &self.text[start..self.at]))
    }
}

/// A passage of `text` around the words that hold the most of `query` terms, at most about
/// `max_chars` characters, as HTML: the text escaped, matching words in `<mark>…</mark>`, and
/// `…` where the passage was cut. When no word matches, the opening of `text`, unmarked;
/// `None` for a text with no words.
///
/// Each matching word is tried as an anchor: the passage opens up to a quarter of `max_chars`
/// before it and runs on as far as `max_chars` allows; the passage holding the most matching
/// words wins, the earliest among equals.
///
/// Reading every word of a long text is what costs: so the query's terms are first looked for
/// as they are written in the text lowercased (ASCII only, which keeps every byte where it
/// is), and only the stretch around the place most of them meet is read word by word. When
/// none is found that way (only the title matched, or a term is written in other letters'
/// upper case), only the opening is read.
pub fn snippet(text: &str, query: &[String], max_chars: usize) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let mut found: Vec<usize> = query
        .iter()
        .flat_map(|term| {
            lower
                .match_indices(term.as_str())
                .map(|(at, _)| at)
                .take(64)
        })
        .collect();
    if found.is_empty() {
        // No term as written: the opening, where a term in other letters' upper case may
        // still be found and marked.
        let to = chars_after(text, 0, max_chars.saturating_mul(2));
        return passage(&text[..to], query, max_chars, (false, to < text.len()));
    }
    found.sort_unstable();
    // The place where the most of them fall within a passage's length (counted in bytes,
    // which is characters in ASCII and fewer in other scripts), the earliest among equals.
    let (mut anchor, mut most, mut last) = (found[0], 0, 0);
    for (first, &at) in found.iter().enumerate() {
        while last < found.len() && found[last] < at.saturating_add(max_chars) {
            last += 1;
        }
        if last - first > most {
            (anchor, most) = (at, last - first);
        }
    }
    // A passage opens at most a quarter of its length before a match: the stretch read word by
    // word holds every passage anchored at a match from a quarter of a passage before this
    // place to a quarter after it.
    let from = chars_before(text, anchor, max_chars / 2);
    let to = chars_after(text, anchor, max_chars.saturating_add(max_chars / 2));
    passage(
        &text[from..to],
        query,
        max_chars,
        (from > 0, to < text.len()),
    )
}

/// The byte offset `chars` characters before offset `at` of `text` (0 if there are fewer).
fn chars_before(text: &str, at: usize, chars: usize) -> usize {
    match chars.checked_sub(1) {
        None => at,
        Some(skip) => text[..at]
            .char_indices()
            .rev()
            .nth(skip)
            .map_or(0, |(offset, _)| offset),
    }
}

/// The byte offset `chars` characters after offset `at` of `text` (its end if there are
/// fewer).
fn chars_after(text: &str, at: usize, chars: usize) -> usize {
    text[at..]
        .char_indices()
        .nth(chars)
        .map_or(text.len(), |(offset, _)| at + offset)
}

/// [`snippet`] read word by word over `text`, a stretch of a longer text that goes on before
/// it and after it as `more` says.
fn passage(text: &str, query: &[String], max_chars: usize, more: (bool, bool)) -> Option<String> {
    let tokens = tokens(text, query, max_chars.saturating_mul(4));
    // Each token's first character and the character after it, counted from the start of
    // `text`, so that a passage's length is one subtraction.
    let mut places = Vec::with_capacity(tokens.len());
    let (mut byte, mut char) = (0, 0);
    for token in &tokens {
        char += text[byte..token.offset].chars().count();
        let start = char;
        char += token.text.chars().count();
        byte = token.offset + token.text.len();
        places.push((start, char));
    }
    let span = |start: usize, end: usize| places[end].1 - places[start].0;
    let extend = |start: usize| {
        let mut end = start + 1;
        while end < tokens.len() && span(start, end) <= max_chars {
            end += 1;
        }
        end
    };
    let mut best: Option<(usize, usize, usize)> = None;
    for anchor in (0..tokens.len()).filter(|&i| tokens[i].matched) {
        let mut start = anchor;
        while start > 0 && span(start - 1, anchor) <= max_chars / 4 {
            start -= 1;
        }
        let end = extend(start);
        let count = tokens[start..end]
            .iter()
            .filter(|token| token.matched)
            .count();
        if best.is_none_or(|(_, _, most)| count > most) {
            best = Some((start, end, count));
        }
    }
    let (start, end) = match best {
        Some((start, end, _)) => (start, end),
        None if tokens.is_empty() => return None,
        None => (0, extend(0)),
    };
    let from = tokens[start].offset;
    let to = tokens[end - 1].offset + tokens[end - 1].text.len();
    let mut html = String::new();
    if from > 0 || more.0 {
        html.push('…');
    }
    let mut at = from;
    let mut open = false;
    for token in &tokens[start..end] {
        let gap = &text[at..token.offset];
        if open && (!token.matched || !gap.is_empty()) {
            html.push_str("</mark>");
            open = false;
        }
        escape_into(&mut html, gap);
        if token.matched && !open {
            html.push_str("<mark>");
            open = true;
        }
        escape_into(&mut html, token.text);
        at = token.offset + token.text.len();
    }
    if open {
        html.push_str("</mark>");
    }
    if to < text.trim_end().len() || more.1 {
        html.push('…');
    }
    Some(html)
}

/// A run of CJK characters as its bigrams, or the lone character.
fn flush(run: &mut Vec<char>, terms: &mut Vec<String>) {
    match run.len() {
        0 => {}
        1 => terms.push(run[0].to_string()),
        _ => terms.extend(run.windows(2).map(|pair| pair.iter().collect::<String>())),
    }
    run.clear();
}

/// Han ideographs, Japanese kana and Korean Hangul.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}' // Hangul Jamo
        | '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
        | '\u{3130}'..='\u{318F}' // Hangul Compatibility Jamo
        | '\u{3400}'..='\u{4DBF}' // CJK Unified Ideographs Extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK Unified Ideographs
        | '\u{AC00}'..='\u{D7AF}' // Hangul Syllables
        | '\u{F900}'..='\u{FAFF}' // CJK Compatibility Ideographs
        | '\u{20000}'..='\u{2FFFF}' // Supplementary Ideographic Planes
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impact_saturates_with_frequency_and_falls_with_length() {
        // At the pivot length one occurrence weighs exactly 1.
        assert_eq!(impact(1, 1000), 1 << 20);
        assert!(impact(2, 1000) > impact(1, 1000));
        assert!(impact(1, 100) > impact(1, 1000));
        assert!(impact(1, 10_000) < impact(1, 1000));
        assert!(f64::from(impact(u32::MAX, 1)) <= (K1 + 1.0) * IMPACT_SCALE);
        assert_eq!(impact(0, 1000), 0);
        let document = document("Rust", "", "rust and more rust");
        let impacts: Vec<(&str, u32)> = document.impacts().collect();
        assert_eq!(impacts.len(), 3);
        assert_eq!(impacts[2], ("rust", impact(7, document.length)));
    }

    #[test]
    fn words_in_spaced_scripts_are_lowercased_terms() {
        assert_eq!(
            terms("Backend Engineering: APIs, DevOps & Scalability — Tổng quan"),
            [
                "backend",
                "engineering",
                "apis",
                "devops",
                "scalability",
                "tổng",
                "quan"
            ]
        );
        assert_eq!(terms("It's the author's"), ["it's", "the", "author's"]);
        assert_eq!(
            terms("ＡＰＩ ①"),
            ["api", "1"],
            "NFKC folds width and circled digits"
        );
    }

    #[test]
    fn korean_runs_become_bigrams_so_a_short_word_matches_inside_a_longer_one() {
        assert_eq!(terms("분석"), ["분석"]);
        assert_eq!(
            terms("백엔드 개발 심층 분석을"),
            ["백엔", "엔드", "개발", "심층", "분석", "석을"]
        );
        let indexed = terms("백엔드 개발 심층 분석을 다룹니다");
        for term in terms("분석") {
            assert!(indexed.contains(&term), "{term} in {indexed:?}");
        }
        assert_eq!(
            terms("api엔드포인트"),
            ["api", "엔드", "드포", "포인", "인트"]
        );
    }

    #[test]
    fn every_term_reads_back_as_itself() {
        // A letter, a variation selector, a Telugu length mark and a digit are one word by
        // UAX #29 (marks bind to what precedes them), but not the mark and the digit alone.
        let cases = [
            "A\u{180b}\u{c55}\u{11950}",
            "a'\u{c55}가",
            "a'가b",
            "x_가_",
            "it's 'quoted' api엔드포인트 ＡＰＩ",
        ];
        for text in cases {
            for term in terms(text) {
                assert_eq!(
                    terms(&term),
                    std::slice::from_ref(&term),
                    "{term:?} of {text:?}"
                );
            }
        }
        assert_eq!(terms("a'가b"), ["a", "가", "b"]);
    }

    #[test]
    fn chinese_and_japanese_runs_become_bigrams_across_characters() {
        assert_eq!(terms("架构师的"), ["架构", "构师", "师的"]);
        assert_eq!(terms("数学の変換"), ["数学", "学の", "の変", "変換"]);
        assert_eq!(terms("字"), ["字"]);
        assert_eq!(terms("AI 技术栈：2025"), ["ai", "技术", "术栈", "2025"]);
    }

    #[test]
    fn snippets_mark_matching_words_in_escaped_text() {
        let text = "Intro words. The <b>backend</b> guide covers APIs, databases and the backend.";
        let html = snippet(text, &terms("backend"), 200).expect("a match");
        assert_eq!(
            html,
            "Intro words. The &lt;b&gt;<mark>backend</mark>&lt;/b&gt; guide covers APIs, databases and the <mark>backend</mark>."
        );
        assert_eq!(
            snippet(text, &terms("nothing"), 30).as_deref(),
            Some("Intro words. The &lt;b&gt;backend&lt;/b…"),
            "no match: the opening"
        );
        assert_eq!(snippet("", &terms("nothing"), 30), None);
        let long = format!("{} needle {}", "word ".repeat(100), "tail ".repeat(100));
        let html = snippet(&long, &terms("needle"), 60).expect("a match");
        assert!(html.starts_with('…') && html.ends_with('…'), "{html}");
        assert!(html.contains("<mark>needle</mark>"), "{html}");
        assert!(html.chars().count() < 80, "{html}");
        assert!(
            html.starts_with("…word "),
            "a word before the match: {html}"
        );
        let korean = "백엔드 개발은 데이터 분석을 포함합니다";
        let html = snippet(korean, &terms("분석"), 100).expect("a match");
        assert!(html.contains("<mark>분석</mark>을"), "{html}");
        let html = snippet("架构师的技术栈。后端开发", &terms("技术"), 100).expect("a match");
        assert_eq!(html, "架构师的<mark>技术</mark>栈。后端开发");
        let html = snippet("数学の変換を見る", &terms("変換"), 100).expect("a match");
        assert_eq!(html, "数学の<mark>変換</mark>を見る");
        let long = format!("{}技术", "字".repeat(500));
        let html = snippet(&long, &terms("技术"), 40).expect("a match");
        assert!(
            html.ends_with("<mark>技术</mark>") && html.chars().count() < 50,
            "{html}"
        );
    }

    #[test]
    fn text_splits_as_unicode_word_segmentation_does() {
        let mut text = String::from(
            "Don't stop: it's 3.14, 1,000; or 2.5.1 e.g. a.b.c x:y a''b a..b 4'5 _id foo_bar \
             a_'b 1a.2 (quoted) \"q\" <b>x</b> it's-ok 10:30 user@example.com #tag \r\n\ttab ",
        );
        // Every ASCII byte, alone and between letters and digits.
        for byte in 0u8..128 {
            let c = char::from(byte);
            text.push_str(&format!(" {c} a{c}b 1{c}2 a{c}1 {c}{c}a"));
        }
        let unicode: Vec<(usize, &str)> = text
            .split_word_bound_indices()
            .filter(|(_, word)| !word.trim().is_empty())
            .collect();
        let ascii: Vec<(usize, &str)> = AsciiWords { text: &text, at: 0 }.collect();
        assert_eq!(ascii, unicode);
        assert_eq!(segments(&text).collect::<Vec<_>>(), unicode);
        // Mixed scripts, split at whitespace first, give what segmenting the whole gives.
        let text =
            "Café au lait — l'été\u{a0}d'or: 백엔드 개발은,  API 설계 \"quoted\" 数学の変換 ok.";
        let unicode: Vec<(usize, &str)> = text
            .split_word_bound_indices()
            .filter(|(_, word)| !word.trim().is_empty())
            .collect();
        assert_eq!(segments(text).collect::<Vec<_>>(), unicode);
    }

    #[test]
    fn a_far_match_in_a_long_text_is_found_and_marked() {
        let text = format!(
            "{} The Needle here. {}",
            "Lorem ipsum. ".repeat(2_000),
            "Tail. ".repeat(500)
        );
        let html = snippet(&text, &terms("needle"), 80).expect("a match");
        assert!(html.starts_with('…') && html.ends_with('…'), "{html}");
        assert!(html.contains("<mark>Needle</mark>"), "{html}");
        // Upper case beyond ASCII is not found by the quick look: the opening is read.
        let text = format!("Lorem ipsum. ÉCLAIR au café. {}", "Tail. ".repeat(500));
        let html = snippet(&text, &terms("éclair"), 80).expect("a match");
        assert!(html.contains("<mark>ÉCLAIR</mark>"), "{html}");
        // A cut inside a multi-byte character never panics.
        let text = "가".repeat(5_000) + " 분석 " + &"나".repeat(5_000);
        let html = snippet(&text, &terms("분석"), 50).expect("a match");
        assert!(html.contains("<mark>분석</mark>"), "{html}");
    }

    #[test]
    fn hostile_text_gives_plain_terms() {
        assert!(
            terms("\"* OR NEAR( ) -- ; \0")
                .iter()
                .all(|term| term.chars().all(char::is_alphanumeric))
        );
        assert_eq!(terms("\"* OR NEAR( )"), ["or", "near"]);
        assert!(terms("").is_empty());
        assert!(
            terms(&"a".repeat(10_000)).is_empty(),
            "too long to be a term"
        );
        assert_eq!(terms(&"a".repeat(64)).len(), 1);
    }
}
