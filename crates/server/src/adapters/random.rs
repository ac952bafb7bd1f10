use quire_core::ports::Random;

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The operating system's random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

/// Fills `buf` with random bytes from the OS.
pub(crate) fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    getrandom::fill(buf).map_err(|error| std::io::Error::other(error.to_string()))
}

/// Fills `buf` from the OS, or panics: every caller makes secrets or unguessable ids (session
/// ids, refresh tokens, signing keys, webhook secrets), and none may come from a predictable
/// source. A panic in a request is caught, logged once and answered 500; the next request
/// tries the OS again.
fn os_bytes(buf: &mut [u8]) {
    if let Err(error) = random_bytes(buf) {
        tracing::error!(%error, "the operating system has no randomness to give");
        panic!("the operating system's random source failed: {error}");
    }
}

impl Random for OsRandom {
    fn token(&self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        let mut buf = [0u8; 64];
        while out.len() < len {
            os_bytes(&mut buf);
            // 252 = 7 * 36: rejecting larger bytes keeps every character equally likely.
            for byte in buf.iter().filter(|b| **b < 252) {
                if out.len() == len {
                    break;
                }
                out.push(char::from(ALPHABET[usize::from(*byte % 36)]));
            }
        }
        out
    }

    fn fill(&self, out: &mut [u8]) {
        os_bytes(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_asked_length_and_alphabet() {
        for len in [0, 1, 6, 100] {
            let token = OsRandom.token(len);
            assert_eq!(token.len(), len);
            assert!(token.bytes().all(|b| ALPHABET.contains(&b)));
        }
        assert_ne!(OsRandom.token(16), OsRandom.token(16));
    }
}
