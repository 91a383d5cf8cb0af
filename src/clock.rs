//! Time as the rules see it. Tests move it forward instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    /// Unix seconds.
    pub fn now(&self) -> i64 {
        jiff::Timestamp::now().as_second() + self.offset_secs.load(Ordering::Relaxed)
    }

    /// Move this clock forward (tests only, but harmless elsewhere).
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }
}

/// Unix seconds as an RFC 3339 UTC string (`2026-11-25T21:04:00Z`).
pub fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// An RFC 3339 time (any offset) as unix seconds.
pub fn parse_rfc3339(value: &str) -> Option<i64> {
    value
        .trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_with_z_and_parses_any_offset() {
        assert_eq!(rfc3339(1_795_637_040), "2026-11-25T20:04:00Z");
        assert_eq!(parse_rfc3339("2026-11-25T20:04:00Z"), Some(1_795_637_040));
        assert_eq!(
            parse_rfc3339(" 2026-11-26T04:04:00+08:00 "),
            Some(1_795_637_040)
        );
        assert_eq!(parse_rfc3339("2026-11-25 20:04"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
