//! The terms text is searched by, in every language: one function for what is indexed and for
//! what is asked, so that both engines (SQLite FTS5 and PostgreSQL) index identical tokens and
//! a query means the same on each.
//!
//! Text is normalized (Unicode NFKC, then lowercase) and split at word boundaries (Unicode
//! UAX #29). Words in scripts written with spaces are terms as they are. Runs of Chinese,
//! Japanese and Korean characters become overlapping bigrams, as Lucene's CJK analyzer indexes
//! them (a lone character is a term of its own): so a two-syllable Korean word matches inside
//! a longer one with its particle (`분석` in `분석을`), and a Chinese or Japanese word is found
//! without a dictionary.

use unicode_normalization::UnicodeNormalization;

use crate::markdown::escape_into;
use unicode_segmentation::UnicodeSegmentation;

/// The terms of `text`, in order, repeats kept (a count is a weight).
pub fn terms(text: &str) -> Vec<String> {
    let normalized: String = text.nfkc().flat_map(char::to_lowercase).collect();
    let mut terms = Vec::new();
    let mut run: Vec<char> = Vec::new();
    for segment in normalized.split_word_bounds() {
        let mut chars = segment.chars();
        let all_cjk = chars.clone().all(is_cjk) && chars.next().is_some();
        if all_cjk {
            run.extend(segment.chars());
            continue;
        }
        flush(&mut run, &mut terms);
        if segment.chars().any(char::is_alphanumeric) {
            // A word may still hold CJK characters beside others (`api엔드포인트`): split it.
            let mut word = String::new();
            for c in segment.chars() {
                if is_cjk(c) {
                    if !word.is_empty() {
                        terms.push(std::mem::take(&mut word));
                    }
                    run.push(c);
                } else {
                    flush(&mut run, &mut terms);
                    if c.is_alphanumeric() || c == '\'' || c == '_' {
                        word.push(c);
                    } else if !word.is_empty() {
                        terms.push(std::mem::take(&mut word));
                    }
                }
            }
            flush(&mut run, &mut terms);
            let word = word.trim_matches('\'');
            if !word.is_empty() {
                terms.push(word.to_owned());
            }
        }
    }
    flush(&mut run, &mut terms);
    terms
}

/// How much a term counts in each field of a post: a title's term weighs as much as five of a
/// body's, a description's as two (BM25F's field weights, Robertson et al. 2004).
pub const TITLE_WEIGHT: u32 = 5;
/// See [`TITLE_WEIGHT`].
pub const DESCRIPTION_WEIGHT: u32 = 2;
/// See [`TITLE_WEIGHT`].
pub const BODY_WEIGHT: u32 = 1;

/// A post as the index holds it: each distinct term with its weighted frequency, sorted by
/// term, and the weighted length (the sum of the frequencies).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    pub postings: Vec<(String, u32)>,
    pub length: u32,
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
    Document {
        postings: counts.into_iter().collect(),
        length,
    }
}

/// A passage of `text` around the words that hold the most of `query` terms, at most about
/// `max_chars` bytes of text, as HTML: the text escaped, each matching word in `<mark>…</mark>`,
/// and `…` where the passage was cut. `None` when no word of `text` matches.
///
/// Each matching word is tried as an anchor: the passage opens up to a quarter of `max_chars`
/// before it and runs on as far as `max_chars` allows; the passage holding the most matching
/// words wins, the earliest among equals.
pub fn snippet(text: &str, query: &[String], max_chars: usize) -> Option<String> {
    let words: Vec<(usize, &str)> = text
        .split_word_bound_indices()
        .filter(|(_, word)| !word.trim().is_empty())
        .collect();
    let matches: Vec<bool> = words
        .iter()
        .map(|(_, word)| terms(word).iter().any(|term| query.contains(term)))
        .collect();
    let mut best: Option<(usize, usize, usize)> = None;
    for anchor in (0..words.len()).filter(|&i| matches[i]) {
        let mut start = anchor;
        while start > 0 && span(&words, start - 1, anchor) <= max_chars / 4 {
            start -= 1;
        }
        let mut end = anchor + 1;
        while end < words.len() && span(&words, start, end) <= max_chars {
            end += 1;
        }
        let count = matches[start..end].iter().filter(|&&hit| hit).count();
        if best.is_none_or(|(_, _, most)| count > most) {
            best = Some((start, end, count));
        }
    }
    let (start, end, _) = best?;
    let from = words[start].0;
    let to = words[end - 1].0 + words[end - 1].1.len();
    let mut html = String::new();
    if from > 0 {
        html.push('…');
    }
    let mut at = from;
    for (i, (offset, word)) in words.iter().enumerate().take(end).skip(start) {
        escape_into(&mut html, &text[at..*offset]);
        if matches[i] {
            html.push_str("<mark>");
            escape_into(&mut html, word);
            html.push_str("</mark>");
        } else {
            escape_into(&mut html, word);
        }
        at = offset + word.len();
    }
    if to < text.trim_end().len() {
        html.push('…');
    }
    Some(html)
}

/// Bytes from the start of word `start` to the end of word `end`.
fn span(words: &[(usize, &str)], start: usize, end: usize) -> usize {
    let (from, _) = words[start];
    let (to, word) = words[end];
    to + word.len() - from
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
        assert_eq!(snippet(text, &terms("nothing"), 200), None);
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
        assert!(html.contains("<mark>분석을</mark>"), "{html}");
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
        assert_eq!(terms(&"a".repeat(10_000)).len(), 1);
    }
}
