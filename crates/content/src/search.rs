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
