//! Password strength by zxcvbn: Dropbox's estimator, which knows 30,000 common passwords,
//! names, English words, dates, repeats, sequences, keyboard patterns and l33t speak.

use quire_core::ports::{PasswordEstimator, Strength};
use quire_core::values::Password;

/// How many characters are judged: zxcvbn's work grows quickly with length, and a password
/// this long is strong unless its start is weak.
const JUDGED_CHARS: usize = 100;

/// [`PasswordEstimator`] by the `zxcvbn` crate.
#[derive(Debug, Default, Clone, Copy)]
pub struct Zxcvbn;

impl PasswordEstimator for Zxcvbn {
    fn estimate(&self, password: &Password, related: &[&str]) -> Strength {
        let text = password.expose();
        let judged = text
            .char_indices()
            .nth(JUDGED_CHARS)
            .map_or(text, |(end, _)| &text[..end]);
        let entropy = zxcvbn::zxcvbn(judged, related);
        Strength {
            score: entropy.score().into(),
            warning: entropy
                .feedback()
                .and_then(|feedback| feedback.warning())
                .map(|warning| warning.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(password: &str, related: &[&str]) -> Strength {
        Zxcvbn.estimate(&Password::parse(password).unwrap(), related)
    }

    #[test]
    fn common_passwords_score_low_and_say_why() {
        for weak in [
            "password123",
            "bonjour1",
            "qwertyuiop",
            "aaaaaaaaaaaa",
            "12345678",
        ] {
            let strength = score(weak, &[]);
            assert!(strength.score <= 1, "{weak}: {strength:?}");
        }
        assert!(score("password123", &[]).warning.is_some());
    }

    #[test]
    fn passphrases_score_high() {
        for strong in [
            "correct horse battery staple",
            "Vq7#pL2!xR9@mK4$",
            "비밀번호는 아무도 모르는 것",
        ] {
            let strength = score(strong, &[]);
            assert!(strength.score >= 3, "{strong}: {strength:?}");
        }
    }

    #[test]
    fn the_accounts_own_words_make_a_password_weak() {
        let own = "jacobsen-rutherford";
        assert!(score(own, &[]).score >= 3);
        assert!(score(own, &["jacobsen-rutherford", "jr@example.com"]).score < 3);
    }

    #[test]
    fn the_longest_passwords_are_judged_quickly() {
        let long = "Vq7#pL2!xR9@mK4$ lantern orchard quietly folds the river's silver map while \
                    seven copper herons argue over tea";
        let started = std::time::Instant::now();
        assert!(long.chars().count() > JUDGED_CHARS);
        assert!(score(long, &["someone"]).score >= 3);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
