use quire_core::ports::Random;

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The operating system's random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

/// Fills `buf` with random bytes from the OS.
pub(crate) fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    getrandom::fill(buf).map_err(|error| std::io::Error::other(error.to_string()))
}

impl Random for OsRandom {
    fn token(&self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        let mut buf = [0u8; 64];
        while out.len() < len {
            if random_bytes(&mut buf).is_err() {
                // Without an OS random source slugs still need distinct suffixes: fall back
                // to the clock's nanoseconds, which collide only under the same nanosecond.
                #[allow(clippy::disallowed_methods)]
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.subsec_nanos());
                buf.iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b = (nanos >> (i % 4 * 8)) as u8 ^ i as u8);
            }
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
        if random_bytes(out).is_err() {
            // As in `token`: without an OS source, the clock's nanoseconds.
            #[allow(clippy::disallowed_methods)]
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos());
            for (i, byte) in out.iter_mut().enumerate() {
                *byte = (nanos >> (i % 16 * 8)) as u8 ^ i as u8;
            }
        }
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
