use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use quire_core::ids::UserId;
use quire_core::ports::{TokenService, VerifiedToken};
use quire_core::time::Timestamp;
use quire_core::{AuthProblem, Error, Result};
use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// Shortest HMAC key accepted: 256 bits, the size of HS256's output.
pub const MIN_KEY_BYTES: usize = 32;

/// How far a token's `iat` and `nbf` may lie ahead of this clock, in seconds: the skew
/// tolerated between the clocks of the instances that issue and check tokens (RFC 7519
/// sections 4.1.4-4.1.6 allow "some small leeway").
pub const CLOCK_LEEWAY_SECS: i64 = 30;

/// The registered claims quire issues and requires (RFC 7519 section 4.1), times in seconds
/// since the Unix epoch.
#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// HS256 JSON Web Tokens naming a user id. Only HS256 is accepted (RFC 8725 section 3.1: the
/// algorithm is fixed, never taken from the token), with the configured issuer and audience;
/// `exp`, `nbf` and `iat` are all required and checked against the injected clock: a token is
/// refused once `exp` has passed, and while `nbf` or `iat` lie more than
/// `CLOCK_LEEWAY_SECS` in the future.
pub struct JwtTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
    issuer: String,
    audience: String,
}

impl JwtTokens {
    pub fn new(key: &[u8], ttl_secs: u64, issuer: &str, audience: &str) -> Result<Self> {
        if key.len() < MIN_KEY_BYTES {
            return Err(Error::internal(format!(
                "the JWT signing key must be at least {MIN_KEY_BYTES} bytes"
            )));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "iss", "aud"]);
        // Times are checked against the core clock below, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Ok(Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }
}

impl TokenService for JwtTokens {
    fn issue(&self, user: UserId, now: Timestamp) -> Result<String> {
        let iat = now.as_millis() / 1000;
        let claims = Claims {
            sub: user.to_string(),
            iat,
            nbf: iat,
            exp: iat.saturating_add(self.ttl_secs),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(Error::internal)
    }

    fn verify(&self, token: &str, now: Timestamp) -> Result<VerifiedToken, AuthProblem> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AuthProblem::InvalidToken)?;
        let now = now.as_millis() / 1000;
        let claims = &data.claims;
        let from_the_future = |time: i64| time > now.saturating_add(CLOCK_LEEWAY_SECS);
        if claims.exp <= now || from_the_future(claims.nbf) || from_the_future(claims.iat) {
            return Err(AuthProblem::InvalidToken);
        }
        let user = UserId::parse(&claims.sub).ok_or(AuthProblem::InvalidToken)?;
        Ok(VerifiedToken {
            user,
            expires_at: Timestamp::from_millis(claims.exp.saturating_mul(1000)),
        })
    }
}

/// The signing key: the configured one, else the configured file's, else the one kept in the
/// data directory as `jwt-secret`, generated (256 random bits, mode 0600) on first start.
pub fn load_or_create_key(
    secret: Option<&Secret>,
    secret_file: Option<&Path>,
    data_dir: &Path,
) -> Result<Vec<u8>> {
    super::keys::load_or_create(
        secret,
        secret_file,
        data_dir,
        "jwt-secret",
        "JWT signing key",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn tokens() -> JwtTokens {
        JwtTokens::new(KEY, 3600, "quire", "quire").unwrap()
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let tokens = tokens();
        let token = tokens.issue(UserId::new(7), NOW).unwrap();
        assert_eq!(
            tokens.verify(&token, NOW).map(|v| v.user),
            Ok(UserId::new(7))
        );
        assert_eq!(
            tokens.verify(&token, NOW).map(|v| v.expires_at),
            Ok(Timestamp::from_millis(NOW.as_millis() + 3_600_000))
        );
        let later = Timestamp::from_millis(NOW.as_millis() + 3_600_000);
        assert_eq!(tokens.verify(&token, later), Err(AuthProblem::InvalidToken));
    }

    #[test]
    fn tokens_from_another_key_issuer_or_audience_are_refused() {
        let token = tokens().issue(UserId::new(7), NOW).unwrap();
        let other_key = JwtTokens::new(
            b"another-key-another-key-another-key",
            3600,
            "quire",
            "quire",
        )
        .unwrap();
        assert!(other_key.verify(&token, NOW).is_err());
        let other_iss = JwtTokens::new(KEY, 3600, "elsewhere", "quire").unwrap();
        assert!(other_iss.verify(&token, NOW).is_err());
        let other_aud = JwtTokens::new(KEY, 3600, "quire", "elsewhere").unwrap();
        assert!(other_aud.verify(&token, NOW).is_err());
    }

    /// A token signed with the right key, carrying `claims` as given.
    fn signed(claims: serde_json::Value, algorithm: Algorithm) -> String {
        jsonwebtoken::encode(
            &Header::new(algorithm),
            &claims,
            &EncodingKey::from_secret(KEY),
        )
        .unwrap()
    }

    fn claims(iat: i64, nbf: i64, exp: i64) -> serde_json::Value {
        serde_json::json!({"sub": "7", "iat": iat, "nbf": nbf, "exp": exp, "iss": "quire", "aud": "quire"})
    }

    #[test]
    fn every_time_claim_is_enforced_with_a_small_leeway() {
        let now = NOW.as_millis() / 1000;
        let ok = signed(claims(now, now, now + 60), Algorithm::HS256);
        assert_eq!(
            tokens().verify(&ok, NOW).map(|v| v.user),
            Ok(UserId::new(7))
        );
        let skewed = signed(
            claims(now + CLOCK_LEEWAY_SECS, now + CLOCK_LEEWAY_SECS, now + 60),
            Algorithm::HS256,
        );
        assert_eq!(
            tokens().verify(&skewed, NOW).map(|v| v.user),
            Ok(UserId::new(7))
        );
        let refused = [
            ("nbf in the future", claims(now, now + 600, now + 3600)),
            ("iat in the future", claims(now + 86_400, now, now + 90_000)),
            ("expired", claims(now - 120, now - 120, now - 60)),
            ("expiring now", claims(now - 60, now - 60, now)),
        ];
        for (why, claims) in refused {
            let token = signed(claims, Algorithm::HS256);
            assert_eq!(
                tokens().verify(&token, NOW),
                Err(AuthProblem::InvalidToken),
                "{why}"
            );
        }
        for missing in ["iat", "nbf", "exp", "iss", "aud", "sub"] {
            let mut partial = claims(now, now, now + 60);
            partial.as_object_mut().unwrap().remove(missing);
            let token = signed(partial, Algorithm::HS256);
            assert!(tokens().verify(&token, NOW).is_err(), "without {missing}");
        }
    }

    #[test]
    fn only_hs256_is_accepted() {
        let now = NOW.as_millis() / 1000;
        for algorithm in [Algorithm::HS384, Algorithm::HS512] {
            let token = signed(claims(now, now, now + 60), algorithm);
            assert!(tokens().verify(&token, NOW).is_err(), "{algorithm:?}");
        }
    }

    #[test]
    fn unsigned_and_garbage_tokens_are_refused() {
        // {"alg":"none"} with the same claims and no signature.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiI3IiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjk5OTk5OTk5OTksImlzcyI6InF1aXJlIiwiYXVkIjoicXVpcmUifQ.";
        assert!(tokens().verify(none, NOW).is_err());
        assert!(tokens().verify("not.a.token", NOW).is_err());
        assert!(tokens().verify("", NOW).is_err());
    }

    #[test]
    fn short_keys_are_rejected() {
        assert!(JwtTokens::new(b"short", 3600, "quire", "quire").is_err());
    }

    #[test]
    fn a_generated_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_key(None, None, dir.path()).unwrap();
        assert!(first.len() >= MIN_KEY_BYTES);
        let mode = std::fs::metadata(dir.path().join("jwt-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_or_create_key(None, None, dir.path()).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn a_configured_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::new("configured-key-configured-key-configured");
        let key = load_or_create_key(Some(&secret), None, dir.path()).unwrap();
        assert_eq!(key, secret.expose().as_bytes());
        assert!(!dir.path().join("jwt-secret").exists());
    }
}
