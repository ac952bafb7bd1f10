//! Access tokens: JSON Web Tokens (RFC 7519) signed with EdDSA (Ed25519, RFC 8037) under
//! keys that rotate, or with HS256 under one shared secret when configured.
//!
//! RFC 8725 throughout: the algorithm is the key's, never the token's (section 3.1); tokens
//! are explicitly typed `at+jwt` (section 3.11, the media type of RFC 9068 section 2.1), so no
//! other JWT passes for one; `iss`, `aud`, `exp`, `nbf` and `iat` are required and checked
//! against the injected clock.
//!
//! The EdDSA keys live in the database ([`SigningKeyStore`]), so every instance signs and
//! verifies with the same ones: each private key sealed with AES-256-GCM under a key derived
//! (HKDF-SHA256, RFC 5869) from the JWT secret, which stays in configuration. The newest key
//! signs; [`JwtTokens::rotate`] adds a new one and retires the others once every token they
//! signed has expired. Each instance reloads the keys every `reload_secs`, and at once (at most
//! once a second) when a token names a key it does not know.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use quire_core::ids::{SessionId, UserId};
use quire_core::ports::{
    BoxFuture, Random, SecretBox, SigningKeyStore, StoredSigningKey, TokenService, VerifiedToken,
};
use quire_core::time::Timestamp;
use quire_core::{AuthProblem, Error, Result};
use quire_webhooks::AesGcmBox;
use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// Shortest HMAC key accepted: 256 bits, the size of HS256's output.
pub const MIN_KEY_BYTES: usize = 32;

/// How far a token's `iat` and `nbf` may lie ahead of this clock, in seconds: the skew
/// tolerated between the clocks of the instances that issue and check tokens (RFC 7519
/// sections 4.1.4-4.1.6 allow "some small leeway").
pub const CLOCK_LEEWAY_SECS: i64 = 30;

/// The `typ` header of every access token (RFC 8725 section 3.11; RFC 9068 section 2.1).
pub const TOKEN_TYPE: &str = "at+jwt";

/// The fewest milliseconds between two reloads of the keys for a token naming an unknown key,
/// so made-up key ids cannot drive the database.
const UNKNOWN_KEY_RELOAD_MILLIS: i64 = 1_000;

/// After a failed reload, how long the keys last loaded serve before the next try.
const FAILED_RELOAD_RETRY_MILLIS: i64 = 5_000;

/// Verified tokens remembered, so a token presented again skips its signature check (an
/// Ed25519 verification costs tens of microseconds); times and the key are still checked.
const REMEMBERED_TOKENS: u64 = 16_384;

/// Binds the sealed private keys to their use (the GCM associated data).
const SEALED_KEY_CONTEXT: &[u8] = b"quire token signing key";

/// Labels the key derived from the JWT secret (RFC 5869's `info`).
const SEALING_KEY_INFO: &[u8] = b"quire token signing keys v1";

/// How tokens are signed: `EdDSA` (the default: Ed25519 keys in the database that rotate,
/// public at `/.well-known/jwks.json`) or `HS256` (one shared secret; nothing public).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    #[default]
    EdDSA,
    HS256,
}

impl FromStr for SigningAlgorithm {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "EdDSA" => Ok(Self::EdDSA),
            "HS256" => Ok(Self::HS256),
            _ => Err("expected EdDSA or HS256".to_owned()),
        }
    }
}

/// What every token carries and how long it may last.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// The longest lifetime of a token, in seconds: a key retires this long after a rotation.
    pub ttl_secs: u64,
    pub issuer: String,
    pub audience: String,
    /// How often the keys are read again from the database, in seconds.
    pub reload_secs: u64,
}

/// The registered claims quire issues and requires (RFC 7519 section 4.1), times in seconds
/// since the Unix epoch.
#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    /// The sign-in session (OpenID Connect Front-Channel Logout 1.0 section 3's claim name).
    sid: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// A token that verified, as remembered.
#[derive(Clone)]
struct Verified {
    user: UserId,
    session: SessionId,
    kid: Option<String>,
    iat: i64,
    nbf: i64,
    exp: i64,
}

#[derive(Clone)]
struct Signer {
    kid: Option<String>,
    algorithm: Algorithm,
    encoding: EncodingKey,
}

#[derive(Clone)]
struct Verifier {
    algorithm: Algorithm,
    decoding: DecodingKey,
    retires_at: Option<Timestamp>,
}

/// The keys as last loaded.
#[derive(Clone)]
struct Ring {
    signer: Signer,
    /// By key id; the shared HS256 key has none.
    verifiers: HashMap<Option<String>, Verifier>,
    /// The public keys as a JWK Set (RFC 7517 section 5), JSON text.
    key_set: String,
    loaded_at: Timestamp,
}

impl Ring {
    fn verifier(&self, kid: Option<&str>, now: Timestamp) -> Option<&Verifier> {
        self.verifiers
            .get(&kid.map(str::to_owned))
            .filter(|verifier| verifier.retires_at.is_none_or(|at| at > now))
    }
}

/// Where keys come from when they rotate.
struct KeyStore<D> {
    store: D,
    sealing: AesGcmBox,
    random: Arc<dyn Random>,
}

/// Issues and verifies access tokens ([`TokenService`]); see the module documentation.
pub struct JwtTokens<D> {
    settings: TokenSettings,
    keys: Option<KeyStore<D>>,
    ring: RwLock<Arc<Ring>>,
    reloading: tokio::sync::Mutex<()>,
    remembered: moka::future::Cache<Arc<str>, Verified>,
}

impl<D: SigningKeyStore + Send + Sync + 'static> JwtTokens<D> {
    /// HS256 under `secret` (at least `MIN_KEY_BYTES`).
    pub fn shared_secret(secret: &[u8], settings: TokenSettings, now: Timestamp) -> Result<Self> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(Error::internal(format!(
                "the JWT signing key must be at least {MIN_KEY_BYTES} bytes"
            )));
        }
        let ring = Ring {
            signer: Signer {
                kid: None,
                algorithm: Algorithm::HS256,
                encoding: EncodingKey::from_secret(secret),
            },
            verifiers: HashMap::from([(
                None,
                Verifier {
                    algorithm: Algorithm::HS256,
                    decoding: DecodingKey::from_secret(secret),
                    retires_at: None,
                },
            )]),
            key_set: r#"{"keys":[]}"#.to_owned(),
            loaded_at: now,
        };
        Ok(Self::with_ring(settings, None, ring))
    }

    /// EdDSA keys kept in `store`, sealed under a key derived from `secret`; the first key is
    /// made if there is none. Fails when the stored keys do not open with `secret` (it is not
    /// the one they were sealed with).
    pub async fn key_ring(
        store: D,
        secret: &[u8],
        random: Arc<dyn Random>,
        settings: TokenSettings,
        now: Timestamp,
    ) -> Result<Self> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(Error::internal(format!(
                "the JWT secret must be at least {MIN_KEY_BYTES} bytes"
            )));
        }
        let keys = KeyStore {
            store,
            sealing: AesGcmBox::for_use(&sealing_key(secret)?, SEALED_KEY_CONTEXT),
            random,
        };
        let ring = keys.load(now).await?;
        Ok(Self::with_ring(settings, Some(keys), ring))
    }

    fn with_ring(settings: TokenSettings, keys: Option<KeyStore<D>>, ring: Ring) -> Self {
        Self {
            settings,
            keys,
            ring: RwLock::new(Arc::new(ring)),
            reloading: tokio::sync::Mutex::new(()),
            remembered: moka::future::Cache::builder()
                .max_capacity(REMEMBERED_TOKENS)
                .time_to_live(Duration::from_secs(300))
                .build(),
        }
    }

    fn current(&self) -> Arc<Ring> {
        match self.ring.read() {
            Ok(ring) => Arc::clone(&ring),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, ring: Ring) -> Arc<Ring> {
        let ring = Arc::new(ring);
        match self.ring.write() {
            Ok(mut slot) => *slot = Arc::clone(&ring),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&ring),
        }
        ring
    }

    /// The keys, read again first when they are older than `reload_secs`; while the database
    /// cannot answer, the keys last loaded go on serving.
    async fn ring(&self, now: Timestamp) -> Result<Arc<Ring>> {
        let ring = self.current();
        let age = now.as_millis() - ring.loaded_at.as_millis();
        let reload_millis =
            i64::try_from(self.settings.reload_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        if self.keys.is_none() || age < reload_millis {
            return Ok(ring);
        }
        match self.reload(now, ring.loaded_at).await {
            Ok(ring) => Ok(ring),
            Err(error) => {
                tracing::warn!(%error, "reloading the token signing keys failed; keeping the last");
                let retry_at = now.as_millis() - reload_millis + FAILED_RELOAD_RETRY_MILLIS;
                Ok(self.replace(Ring {
                    loaded_at: Timestamp::from_millis(retry_at),
                    ..Ring::clone(&ring)
                }))
            }
        }
    }

    /// Reads the keys again, once for all the callers that ask while a reload is under way:
    /// one that finds the keys loaded after `seen` takes them.
    async fn reload(&self, now: Timestamp, seen: Timestamp) -> Result<Arc<Ring>> {
        let Some(keys) = &self.keys else {
            return Ok(self.current());
        };
        let _one_at_a_time = self.reloading.lock().await;
        let ring = self.current();
        if ring.loaded_at > seen {
            return Ok(ring);
        }
        Ok(self.replace(keys.load(now).await?))
    }

    /// Makes a new key the signing key; the others verify until every token they signed has
    /// expired, then retire. Returns the new key's id. With HS256, there is nothing to rotate
    /// here: change the secret instead.
    pub async fn rotate(&self, now: Timestamp) -> Result<String> {
        let Some(keys) = &self.keys else {
            return Err(Error::internal(
                "tokens are signed with HS256 (QUIRE_JWT_ALGORITHM): rotate by changing \
                 QUIRE_JWT_SECRET; keys rotate with EdDSA",
            ));
        };
        let key = keys.generate(now)?;
        let ttl_millis =
            i64::try_from(self.settings.ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 4);
        let retire_at = now
            .as_millis()
            .saturating_add(ttl_millis)
            .saturating_add(CLOCK_LEEWAY_SECS * 1000);
        keys.store
            .add_signing_key(&key, Some(Timestamp::from_millis(retire_at)), now)
            .await?;
        let seen = self.current().loaded_at;
        self.reload(now, seen).await?;
        Ok(key.kid)
    }

    async fn verify_token(&self, token: &str, now: Timestamp) -> Result<VerifiedToken> {
        let invalid = || Error::Unauthenticated(AuthProblem::InvalidToken);
        let mut ring = self.ring(now).await?;
        if let Some(verified) = self.remembered.get(token).await
            && ring.verifier(verified.kid.as_deref(), now).is_some()
        {
            return in_force(&verified, now).ok_or_else(invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let typed = header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case(TOKEN_TYPE));
        if !typed {
            return Err(invalid());
        }
        let kid = header.kid.as_deref();
        let since_load = now.as_millis() - ring.loaded_at.as_millis();
        if ring.verifier(kid, now).is_none()
            && kid.is_some()
            && since_load >= UNKNOWN_KEY_RELOAD_MILLIS
        {
            ring = self.reload(now, ring.loaded_at).await?;
        }
        let verifier = ring.verifier(kid, now).ok_or_else(invalid)?;
        let mut validation = Validation::new(verifier.algorithm);
        validation.algorithms = vec![verifier.algorithm];
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "iss", "aud"]);
        // Times are checked against the core clock below, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &verifier.decoding, &validation)
            .map_err(|_| invalid())?
            .claims;
        let user = UserId::parse(&claims.sub).ok_or_else(invalid)?;
        let verified = Verified {
            user,
            session: SessionId::parse(&claims.sid).ok_or_else(invalid)?,
            kid: header.kid,
            iat: claims.iat,
            nbf: claims.nbf,
            exp: claims.exp,
        };
        let answer = in_force(&verified, now).ok_or_else(invalid)?;
        self.remembered.insert(token.into(), verified).await;
        Ok(answer)
    }

    async fn issue_token(
        &self,
        user: UserId,
        session: SessionId,
        now: Timestamp,
        ttl_secs: u64,
    ) -> Result<String> {
        let ring = self.ring(now).await?;
        let iat = now.as_millis() / 1000;
        let ttl = i64::try_from(ttl_secs.min(self.settings.ttl_secs)).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: user.to_string(),
            sid: session.to_string(),
            iat,
            nbf: iat,
            exp: iat.saturating_add(ttl),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
        };
        let mut header = Header::new(ring.signer.algorithm);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = ring.signer.kid.clone();
        jsonwebtoken::encode(&header, &claims, &ring.signer.encoding).map_err(Error::internal)
    }
}

/// What a verified token says, if its times hold at `now`: refused once `exp` has passed,
/// and while `nbf` or `iat` lie more than [`CLOCK_LEEWAY_SECS`] in the future.
fn in_force(verified: &Verified, now: Timestamp) -> Option<VerifiedToken> {
    let now = now.as_millis() / 1000;
    let from_the_future = |time: i64| time > now.saturating_add(CLOCK_LEEWAY_SECS);
    if verified.exp <= now || from_the_future(verified.nbf) || from_the_future(verified.iat) {
        return None;
    }
    Some(VerifiedToken {
        user: verified.user,
        session: verified.session,
        expires_at: Timestamp::from_millis(verified.exp.saturating_mul(1000)),
    })
}

/// The AES-256 key the signing keys are sealed under: HKDF-SHA256 of the JWT secret.
fn sealing_key(secret: &[u8]) -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(None, secret)
        .expand(SEALING_KEY_INFO, &mut key)
        .map_err(|_| Error::internal("deriving the key that seals the signing keys"))?;
    Ok(key)
}

impl<D: SigningKeyStore> KeyStore<D> {
    /// The keys in force at `now`, the first made if there is none.
    async fn load(&self, now: Timestamp) -> Result<Ring> {
        let mut stored = self.store.signing_keys(now).await?;
        if !stored.iter().any(|key| key.retires_at.is_none()) {
            let key = self.generate(now)?;
            self.store.add_signing_key(&key, None, now).await?;
            tracing::info!(kid = %key.kid, "made the first token signing key");
            stored = self.store.signing_keys(now).await?;
        }
        self.ring(&stored, now)
    }

    fn ring(&self, stored: &[StoredSigningKey], now: Timestamp) -> Result<Ring> {
        let signing = stored
            .iter()
            .find(|key| key.retires_at.is_none())
            .ok_or_else(|| Error::internal("no token signing key"))?;
        let unreadable = || {
            Error::internal(
                "the token signing keys do not open with this JWT secret: set QUIRE_JWT_SECRET \
                 (or QUIRE_JWT_SECRET_FILE) to the secret they were sealed with, the same on \
                 every instance",
            )
        };
        let der = STANDARD
            .decode(
                self.sealing
                    .open(&signing.private_key)
                    .map_err(|_| unreadable())?,
            )
            .map_err(|_| unreadable())?;
        let mut verifiers = HashMap::new();
        let mut public = Vec::new();
        for key in stored {
            let jwk: Jwk = serde_json::from_str(&key.public_jwk).map_err(Error::internal)?;
            let algorithm = Algorithm::from_str(&key.algorithm).map_err(Error::internal)?;
            let decoding = DecodingKey::from_jwk(&jwk).map_err(Error::internal)?;
            verifiers.insert(
                Some(key.kid.clone()),
                Verifier {
                    algorithm,
                    decoding,
                    retires_at: key.retires_at,
                },
            );
            public.push(jwk);
        }
        Ok(Ring {
            signer: Signer {
                kid: Some(signing.kid.clone()),
                algorithm: Algorithm::from_str(&signing.algorithm).map_err(Error::internal)?,
                encoding: EncodingKey::from_ed_der(&der),
            },
            verifiers,
            key_set: serde_json::to_string(&JwkSet { keys: public }).map_err(Error::internal)?,
            loaded_at: now,
        })
    }

    /// A new Ed25519 key from the injected randomness, named by its JWK thumbprint (RFC 7638).
    fn generate(&self, now: Timestamp) -> Result<StoredSigningKey> {
        let mut seed = [0u8; 32];
        self.random.fill(&mut seed);
        // RFC 8410 section 7's PKCS #8 v1 form, the private key alone: what jsonwebtoken reads.
        let der = KeypairBytes {
            secret_key: seed,
            public_key: None,
        }
        .to_pkcs8_der()
        .map_err(Error::internal)?;
        seed.fill(0);
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let mut jwk =
            Jwk::from_encoding_key(&encoding, Algorithm::EdDSA).map_err(Error::internal)?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(Error::internal)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(StoredSigningKey {
            kid,
            algorithm: "EdDSA".to_owned(),
            private_key: self.sealing.seal(&STANDARD.encode(der.as_bytes()))?,
            public_jwk: serde_json::to_string(&jwk).map_err(Error::internal)?,
            created_at: now,
            retires_at: None,
        })
    }
}

impl<D: SigningKeyStore + Send + Sync + 'static> TokenService for JwtTokens<D> {
    fn issue(
        &self,
        user: UserId,
        session: SessionId,
        now: Timestamp,
        ttl_secs: u64,
    ) -> BoxFuture<'_, Result<String>> {
        Box::pin(self.issue_token(user, session, now, ttl_secs))
    }

    fn verify<'a>(
        &'a self,
        token: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<VerifiedToken>> {
        Box::pin(self.verify_token(token, now))
    }

    fn key_set(&self, now: Timestamp) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move { Ok(self.ring(now).await?.key_set.clone()) })
    }

    fn rotate(&self, now: Timestamp) -> BoxFuture<'_, Result<String>> {
        Box::pin(JwtTokens::rotate(self, now))
    }
}

/// The JWT secret: the configured one, else the configured file's, else the one kept in the
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
    use crate::adapters::OsRandom;
    use quire_storage::{Db, DbOptions, Durability};
    use std::os::unix::fs::PermissionsExt;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const SID: &str = "0123456789abcdef0123456789abcdef";

    fn sid() -> SessionId {
        SessionId::parse(SID).unwrap()
    }

    fn settings() -> TokenSettings {
        TokenSettings {
            ttl_secs: 3600,
            issuer: "quire".to_owned(),
            audience: "quire".to_owned(),
            reload_secs: 60,
        }
    }

    fn shared() -> JwtTokens<Db> {
        JwtTokens::shared_secret(KEY, settings(), NOW).unwrap()
    }

    async fn database(dir: &Path) -> Db {
        Db::open(&DbOptions {
            url: None,
            data_dir: dir.to_owned(),
            durability: Durability::Normal,
            pool_size: 2,
            acquire_timeout: Duration::from_secs(5),
            statement_cache: 16,
            statement_timeout: None,
        })
        .await
        .unwrap()
    }

    async fn ring(db: &Db, secret: &[u8]) -> Result<JwtTokens<Db>> {
        JwtTokens::key_ring(db.clone(), secret, Arc::new(OsRandom), settings(), NOW).await
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(NOW.as_millis() + seconds * 1000)
    }

    fn refused(result: Result<VerifiedToken>) -> bool {
        matches!(
            result,
            Err(Error::Unauthenticated(AuthProblem::InvalidToken))
        )
    }

    #[tokio::test]
    async fn issued_tokens_verify_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path()).await;
        for tokens in [shared(), ring(&db, KEY).await.unwrap()] {
            let token = tokens
                .issue_token(UserId::new(7), sid(), NOW, 3600)
                .await
                .unwrap();
            let verified = tokens.verify_token(&token, NOW).await.unwrap();
            assert_eq!(verified.user, UserId::new(7));
            assert_eq!(verified.expires_at, at(3600));
            assert!(refused(tokens.verify_token(&token, at(3600)).await));
            // Remembered or not, an expired token stays refused.
            assert!(refused(tokens.verify_token(&token, at(3600)).await));
        }
    }

    #[tokio::test]
    async fn eddsa_tokens_name_their_key_and_carry_their_type() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path()).await;
        let tokens = ring(&db, KEY).await.unwrap();
        let token = tokens
            .issue_token(UserId::new(7), sid(), NOW, 3600)
            .await
            .unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some(TOKEN_TYPE));
        let key_set: JwkSet =
            serde_json::from_str(&tokens.ring(NOW).await.unwrap().key_set).unwrap();
        let kid = header.kid.unwrap();
        let jwk = key_set.find(&kid).expect("the signing key is published");
        assert_eq!(jwk.thumbprint(ThumbprintHash::SHA256).unwrap(), kid);
        // Another instance on the same database signs with the same key.
        let other = ring(&db, KEY).await.unwrap();
        assert!(other.verify_token(&token, NOW).await.is_ok());
    }

    #[tokio::test]
    async fn stored_keys_open_only_with_their_secret() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path()).await;
        ring(&db, KEY).await.unwrap();
        let error = ring(&db, b"another-secret-another-secret-another")
            .await
            .err()
            .unwrap();
        assert!(error.to_string().contains("QUIRE_JWT_SECRET"), "{error}");
    }

    #[tokio::test]
    async fn a_rotation_signs_with_the_new_key_and_verifies_with_the_old_until_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path()).await;
        let tokens = ring(&db, KEY).await.unwrap();
        let elsewhere = ring(&db, KEY).await.unwrap();
        let old = tokens
            .issue_token(UserId::new(7), sid(), NOW, 3600)
            .await
            .unwrap();
        let kid = tokens.rotate(at(10)).await.unwrap();
        let new = tokens
            .issue_token(UserId::new(7), sid(), at(10), 3600)
            .await
            .unwrap();
        assert_eq!(jsonwebtoken::decode_header(&new).unwrap().kid, Some(kid));
        assert_ne!(
            jsonwebtoken::decode_header(&old).unwrap().kid,
            jsonwebtoken::decode_header(&new).unwrap().kid
        );
        // The other instance has not reloaded yet: the new key's token makes it look again.
        assert!(elsewhere.verify_token(&new, at(20)).await.is_ok());
        assert!(elsewhere.verify_token(&old, at(20)).await.is_ok());
        assert!(tokens.verify_token(&old, at(3000)).await.is_ok());
        // The old key retires once its last token has expired.
        let retired = at(10 + 3600 + CLOCK_LEEWAY_SECS + 1);
        let key_set: JwkSet =
            serde_json::from_str(&tokens.ring(retired).await.unwrap().key_set).unwrap();
        assert_eq!(key_set.keys.len(), 1);
        assert!(refused(tokens.verify_token(&old, retired).await));
    }

    #[tokio::test]
    async fn a_shared_secret_publishes_nothing_and_does_not_rotate() {
        let tokens = shared();
        assert_eq!(tokens.ring(NOW).await.unwrap().key_set, r#"{"keys":[]}"#);
        assert!(tokens.rotate(NOW).await.is_err());
    }

    /// A token signed with the shared key, with `header` and `claims` as given.
    fn signed(header: Header, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(KEY)).unwrap()
    }

    fn typed(algorithm: Algorithm) -> Header {
        let mut header = Header::new(algorithm);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header
    }

    fn claims(iat: i64, nbf: i64, exp: i64) -> serde_json::Value {
        serde_json::json!({"sub": "7", "sid": SID, "iat": iat, "nbf": nbf, "exp": exp, "iss": "quire", "aud": "quire"})
    }

    #[tokio::test]
    async fn every_time_claim_is_enforced_with_a_small_leeway() {
        let now = NOW.as_millis() / 1000;
        let ok = signed(typed(Algorithm::HS256), claims(now, now, now + 60));
        assert!(shared().verify_token(&ok, NOW).await.is_ok());
        let skewed = signed(
            typed(Algorithm::HS256),
            claims(now + CLOCK_LEEWAY_SECS, now + CLOCK_LEEWAY_SECS, now + 60),
        );
        assert!(shared().verify_token(&skewed, NOW).await.is_ok());
        let late = [
            ("nbf in the future", claims(now, now + 600, now + 3600)),
            ("iat in the future", claims(now + 86_400, now, now + 90_000)),
            ("expired", claims(now - 120, now - 120, now - 60)),
            ("expiring now", claims(now - 60, now - 60, now)),
        ];
        for (why, claims) in late {
            let token = signed(typed(Algorithm::HS256), claims);
            assert!(refused(shared().verify_token(&token, NOW).await), "{why}");
        }
        for missing in ["iat", "nbf", "exp", "iss", "aud", "sub", "sid"] {
            let mut partial = claims(now, now, now + 60);
            partial.as_object_mut().unwrap().remove(missing);
            let token = signed(typed(Algorithm::HS256), partial);
            assert!(
                refused(shared().verify_token(&token, NOW).await),
                "without {missing}"
            );
        }
        for (claim, value) in [("iss", "elsewhere"), ("aud", "elsewhere")] {
            let mut other = claims(now, now, now + 60);
            other[claim] = value.into();
            let token = signed(typed(Algorithm::HS256), other);
            assert!(refused(shared().verify_token(&token, NOW).await), "{claim}");
        }
    }

    #[tokio::test]
    async fn only_the_keys_algorithm_and_type_are_accepted() {
        let now = NOW.as_millis() / 1000;
        for algorithm in [Algorithm::HS384, Algorithm::HS512] {
            let token = signed(typed(algorithm), claims(now, now, now + 60));
            assert!(
                refused(shared().verify_token(&token, NOW).await),
                "{algorithm:?}"
            );
        }
        // RFC 8725 section 3.11: a JWT of another type does not pass for an access token.
        for typ in [None, Some("JWT"), Some("id_token+jwt")] {
            let mut header = Header::new(Algorithm::HS256);
            header.typ = typ.map(str::to_owned);
            let token = signed(header, claims(now, now, now + 60));
            assert!(refused(shared().verify_token(&token, NOW).await), "{typ:?}");
        }
        // The shared secret cannot forge a token for the key ring, kid or no kid.
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path()).await;
        let tokens = ring(&db, KEY).await.unwrap();
        let kid = jsonwebtoken::decode_header(
            tokens
                .issue_token(UserId::new(7), sid(), NOW, 3600)
                .await
                .unwrap(),
        )
        .unwrap()
        .kid;
        let mut forged = typed(Algorithm::HS256);
        forged.kid = kid;
        for header in [forged, typed(Algorithm::HS256)] {
            let token = signed(header, claims(now, now, now + 60));
            assert!(refused(tokens.verify_token(&token, NOW).await));
        }
    }

    #[tokio::test]
    async fn unsigned_and_garbage_tokens_are_refused() {
        // {"alg":"none","typ":"at+jwt"} with the same claims and no signature.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiI3IiwiaWF0IjoxNzAwMDAwMDAwLCJuYmYiOjE3MDAwMDAwMDAsImV4cCI6OTk5OTk5OTk5OSwiaXNzIjoicXVpcmUiLCJhdWQiOiJxdWlyZSJ9.";
        for token in [none, "not.a.token", ""] {
            assert!(
                refused(shared().verify_token(token, NOW).await),
                "{token:?}"
            );
        }
    }

    #[test]
    fn short_keys_are_rejected() {
        assert!(JwtTokens::<Db>::shared_secret(b"short", settings(), NOW).is_err());
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
