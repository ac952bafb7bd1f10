//! Production implementations of the core's ports that are not storage.

mod clock;
mod keys;
mod openid;
mod password;
mod random;
mod strength;
mod tokens;

pub use clock::SystemClock;
pub use keys::webhook_key;
pub use openid::{OpenId, ProviderSettings};
pub use password::Argon2Hasher;
pub use random::OsRandom;
pub use strength::Zxcvbn;
pub use tokens::{JwtTokens, SigningAlgorithm, TokenSettings, load_or_create_key};
