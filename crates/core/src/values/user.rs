use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::{BLANK, char_len, is_blank};

/// A public handle, unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 64;

    /// Letters, digits, `_`, `-` and `.`; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        if text.is_empty() {
            return Err(BLANK);
        }
        if char_len(text) > Self::MAX_CHARS {
            return Err("is too long (maximum is 64 characters)");
        }
        if !text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err("may only contain letters, digits, '_', '-' and '.'");
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form that uniqueness is checked on: `Jake` and `jake` are the same user.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// Rebuilds a value read back from storage, where it was stored after parsing.
    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        if text.is_empty() {
            return Err(BLANK);
        }
        if char_len(text) > Self::MAX_CHARS {
            return Err("is too long (maximum is 254 characters)");
        }
        let valid = match text.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !text.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if !valid {
            return Err("is invalid");
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form that uniqueness and log-in are checked on.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A clear-text password on its way to the hasher, in Unicode Normalization Form KC, so the
/// same password typed on another keyboard or system (composed or decomposed Hangul, a
/// full-width digit, a ligature) is the same password (NIST SP 800-63B section 5.1.1.2).
/// Never printed.
#[derive(Clone)]
pub struct Password {
    normalized: String,
    /// The text as typed, kept only when normalization changed it: hashes made before
    /// passwords were normalized were made from this.
    typed: Option<String>,
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// 8 to 128 characters after NFKC normalization, any composition (NIST SP 800-63B
    /// section 5.1.1.2).
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        if text.is_empty() {
            return Err(BLANK);
        }
        let normalized: String = text.nfkc().collect();
        let len = char_len(&normalized);
        if len < Self::MIN_CHARS {
            return Err("is too short (minimum is 8 characters)");
        }
        if len > Self::MAX_CHARS {
            return Err("is too long (maximum is 128 characters)");
        }
        let typed = (normalized != text).then(|| text.to_owned());
        Ok(Self { normalized, typed })
    }

    /// The normalized password: what is hashed and checked.
    pub fn expose(&self) -> &str {
        &self.normalized
    }

    /// The password exactly as typed, when normalization changed it.
    pub fn as_typed(&self) -> Option<&str> {
        self.typed.as_deref()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash in PHC string format (`$argon2id$v=19$...`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A short text about a user. Blank means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    pub const MAX_CHARS: usize = 10_000;

    /// `None` for a blank bio, which clears it.
    pub fn parse(text: &str) -> Result<Option<Self>, &'static str> {
        if is_blank(text) {
            return Ok(None);
        }
        if char_len(text) > Self::MAX_CHARS {
            return Err("is too long (maximum is 10000 characters)");
        }
        if text.contains('\0') {
            return Err(super::NUL);
        }
        Ok(Some(Self(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }
}

/// The address of a user's picture: an absolute http(s) URL. Blank means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUrl(String);

impl ImageUrl {
    pub const MAX_CHARS: usize = 2048;

    pub fn parse(text: &str) -> Result<Option<Self>, &'static str> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if char_len(text) > Self::MAX_CHARS {
            return Err("is too long (maximum is 2048 characters)");
        }
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"));
        match rest {
            Some(rest)
                if !rest.is_empty()
                    && !rest.starts_with('/')
                    && !text.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                Ok(Some(Self(text.to_owned())))
            }
            _ => Err("must be an http or https URL"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_limited() {
        assert_eq!(Username::parse("  jake ").map(|u| u.0), Ok("jake".into()));
        assert_eq!(
            Username::parse("auth_123_upd").map(|u| u.0),
            Ok("auth_123_upd".into())
        );
        assert_eq!(Username::parse("지민").map(|u| u.0), Ok("지민".into()));
        assert_eq!(Username::parse(""), Err(BLANK));
        assert_eq!(Username::parse("   "), Err(BLANK));
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("a/b").is_err());
        assert!(Username::parse(&"x".repeat(65)).is_err());
        assert!(Username::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn username_key_ignores_case() {
        let a = Username::parse("Jake").unwrap();
        let b = Username::parse("jAKE").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Jake");
    }

    #[test]
    fn emails_need_a_local_part_and_a_domain() {
        assert!(Email::parse("jake@jake.jake").is_ok());
        assert_eq!(Email::parse(""), Err(BLANK));
        for bad in [
            "jake",
            "@jake.jake",
            "jake@",
            "ja ke@x.y",
            "a@b@c",
            "a@.b",
            "a@b.",
        ] {
            assert_eq!(Email::parse(bad), Err("is invalid"), "{bad}");
        }
        assert_eq!(
            Email::parse("Jake@Example.COM").unwrap().key(),
            "jake@example.com"
        );
    }

    #[test]
    fn passwords_are_8_to_128_characters_of_anything() {
        assert_eq!(Password::parse("").err(), Some(BLANK));
        assert!(Password::parse("short7c").is_err());
        assert!(Password::parse("bonjour1").is_ok());
        assert!(Password::parse(&"a".repeat(64)).is_ok());
        assert!(Password::parse(&"a".repeat(128)).is_ok());
        assert!(Password::parse(&"a".repeat(129)).is_err());
        // Characters, not bytes: eight Hangul syllables are a valid password.
        assert!(Password::parse("비밀번호비밀번호").is_ok());
        assert!(
            Password::parse("        ").is_ok(),
            "spaces are characters too"
        );
    }

    #[test]
    fn passwords_are_compared_in_normalization_form_kc() {
        // Decomposed Hangul (as some input methods send it) and full-width digits.
        let decomposed =
            "\u{1107}\u{1175}\u{1106}\u{1175}\u{11af}\u{1107}\u{1165}\u{11ab}\u{1112}\u{1169}1234";
        let composed = Password::parse("비밀번호1234").unwrap();
        let typed = Password::parse(decomposed).unwrap();
        assert_eq!(typed.expose(), composed.expose());
        assert_eq!(typed.as_typed(), Some(decomposed));
        assert_eq!(composed.as_typed(), None);
        assert_eq!(
            Password::parse("ｐａｓｓｗｏｒｄ１２").unwrap().expose(),
            "password12"
        );
        // Length counts the normalized characters: seven composed syllables are too short,
        // however many code points they were typed as.
        assert!(Password::parse("\u{1107}\u{1175}\u{1106}\u{1175}\u{11af}\u{1107}\u{1165}\u{11ab}\u{1112}\u{1169}가나").is_err());
    }

    #[test]
    fn passwords_never_print() {
        let password = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn blank_bio_and_image_mean_none() {
        assert_eq!(Bio::parse(""), Ok(None));
        assert_eq!(Bio::parse("  "), Ok(None));
        assert_eq!(ImageUrl::parse(""), Ok(None));
        assert!(Bio::parse("I like to skateboard").unwrap().is_some());
    }

    #[test]
    fn images_are_http_urls() {
        assert!(
            ImageUrl::parse("https://example.com/photo.jpg")
                .unwrap()
                .is_some()
        );
        assert!(
            ImageUrl::parse("http://example.com/a.png")
                .unwrap()
                .is_some()
        );
        assert!(ImageUrl::parse("javascript:alert(1)").is_err());
        assert!(ImageUrl::parse("https://").is_err());
        assert!(ImageUrl::parse("https:///x").is_err());
        assert!(ImageUrl::parse("https://a b").is_err());
    }
}
