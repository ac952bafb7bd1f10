//! Secrets sealed at rest with AES-256-GCM (NIST SP 800-38D), each under a fresh random
//! 96-bit nonce: `v1:` and base64 of nonce ‖ ciphertext ‖ tag.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use quire_core::ports::SecretBox;
use quire_core::{Error, Result};

/// Bytes of an AES-256 key.
pub const KEY_BYTES: usize = 32;

const VERSION: &str = "v1:";
const NONCE_BYTES: usize = 12;
/// Binds a sealed value to its use: a ciphertext made for something else does not open.
const WEBHOOK_SECRETS: &[u8] = b"quire webhook signing secret";

/// AES-256-GCM under one key, which lives in configuration or the data directory, never in
/// the database.
pub struct AesGcmBox {
    cipher: Aes256Gcm,
    context: &'static [u8],
}

impl AesGcmBox {
    /// The box for webhook signing secrets.
    pub fn new(key: &[u8; KEY_BYTES]) -> Self {
        Self::for_use(key, WEBHOOK_SECRETS)
    }

    /// A box whose values are bound to `context` (the GCM associated data): a value sealed
    /// for one use does not open for another, even under the same key.
    pub fn for_use(key: &[u8; KEY_BYTES], context: &'static [u8]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
            context,
        }
    }
}

impl SecretBox for AesGcmBox {
    fn seal(&self, plain: &str) -> Result<String> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: self.context,
                },
            )
            .map_err(|_| Error::internal("sealing a secret failed"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", STANDARD.encode(bytes)))
    }

    fn open(&self, sealed: &str) -> Result<String> {
        let unreadable = || Error::internal("a sealed secret does not open with this key");
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|text| STANDARD.decode(text).ok())
            .ok_or_else(unreadable)?;
        if bytes.len() <= NONCE_BYTES {
            return Err(unreadable());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| unreadable())?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: self.context,
                },
            )
            .map_err(|_| unreadable())?;
        String::from_utf8(plain).map_err(|_| unreadable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_their_key_only() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sealing = AesGcmBox::new(&[1; KEY_BYTES]);
        let sealed = sealing.seal(secret).unwrap();
        assert!(!sealed.contains("MfKQ9r8G"));
        assert_ne!(
            sealed,
            sealing.seal(secret).unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(sealing.open(&sealed).unwrap(), secret);
        assert!(AesGcmBox::new(&[2; KEY_BYTES]).open(&sealed).is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(sealing.open(&String::from_utf8(tampered).unwrap()).is_err());
        assert!(sealing.open("plain").is_err());
        let elsewhere = AesGcmBox::for_use(&[1; KEY_BYTES], b"another use");
        assert!(elsewhere.open(&sealed).is_err(), "bound to its use");
    }
}
