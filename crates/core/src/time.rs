//! Instants as integer milliseconds since the Unix epoch: they sort the same on every engine.

use std::fmt;

/// A point in time with millisecond precision, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The later of `self` and one millisecond after `earlier`: an update's time always moves
    /// forward, even when the clock reads the same millisecond twice.
    pub fn after(self, earlier: Timestamp) -> Timestamp {
        Timestamp(self.0.max(earlier.0 + 1))
    }

    /// Parses an RFC 3339 date-time with any offset (`2026-12-01T09:00:00Z`,
    /// `2026-12-01T18:00:00+09:00`), to the millisecond; `None` if it is not one.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()?;
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Self)
    }

    /// ISO 8601 / RFC 3339 in UTC with millisecond precision, e.g. `2016-02-18T03:22:56.637Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(at) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second(),
                at.millisecond()
            ),
            // Outside time's range (beyond ±9999 years): never produced by a clock.
            Err(_) => format!("{}ms", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_in_utc() {
        assert_eq!(
            Timestamp::from_millis(1_455_765_776_637).to_rfc3339(),
            "2016-02-18T03:22:56.637Z"
        );
        assert_eq!(
            Timestamp::from_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn after_always_moves_forward() {
        let earlier = Timestamp::from_millis(1_000);
        assert_eq!(
            Timestamp::from_millis(1_000).after(earlier).as_millis(),
            1_001
        );
        assert_eq!(
            Timestamp::from_millis(900).after(earlier).as_millis(),
            1_001
        );
        assert_eq!(
            Timestamp::from_millis(5_000).after(earlier).as_millis(),
            5_000
        );
    }
}
