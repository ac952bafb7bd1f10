//! quire's webhook adapters: [`HttpSender`] sends Standard Webhooks
//! (<https://www.standardwebhooks.com>) signed with the `standardwebhooks` library, refusing
//! destinations the configuration forbids ([`Destinations`]); [`AesGcmBox`] seals signing
//! secrets at rest with AES-256-GCM.

mod destinations;
mod secret_box;
mod sender;

pub use destinations::Destinations;
pub use secret_box::{AesGcmBox, KEY_BYTES};
pub use sender::{HttpSender, web_tls};
