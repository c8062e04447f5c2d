//! Retention classes: how long a document and its blobs are kept before `expire` removes them.
//!
//! A class is `permanent` or a count of years or days (`10y`, `5y`, `1y`, `90d`). A document
//! on hold (litigation, audit) is never removed, whatever its class. This module only computes
//! expiry times; the removal itself is in [`crate::Exchange::expire`].

use serde::{Deserialize, Serialize};

const DAY: i64 = 86_400;
/// A year as 365 days plus a quarter, so that ten years never end a day early.
const YEAR: i64 = 365 * DAY + DAY / 4;

/// A parsed retention class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Retention {
    /// Kept for ever.
    Permanent,
    /// Kept this many seconds after the document was created.
    Seconds(i64),
}

impl Retention {
    /// Parses `permanent`, `Ny` (years, 1–100) or `Nd` (days, 1–36500).
    pub fn parse(s: &str) -> Result<Self, String> {
        let msg = || {
            format!("retention class {s:?} is not one of permanent, Ny (e.g. 10y, 5y, 1y) or Nd (e.g. 90d)")
        };
        if s == "permanent" {
            return Ok(Retention::Permanent);
        }
        let (n, unit) = s.split_at(s.len().saturating_sub(1));
        let n: i64 = n.parse().map_err(|_| msg())?;
        match unit {
            "y" if (1..=100).contains(&n) => Ok(Retention::Seconds(n * YEAR)),
            "d" if (1..=36_500).contains(&n) => Ok(Retention::Seconds(n * DAY)),
            _ => Err(msg()),
        }
    }

    /// When a document created at `created` (Unix seconds) expires, if ever.
    pub fn expires_at(self, created: i64) -> Option<i64> {
        match self {
            Retention::Permanent => None,
            Retention::Seconds(s) => Some(created.saturating_add(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(Retention::parse("permanent").unwrap(), Retention::Permanent);
        assert_eq!(Retention::parse("1y").unwrap().expires_at(0), Some(YEAR));
        assert_eq!(
            Retention::parse("90d").unwrap().expires_at(10),
            Some(10 + 90 * DAY)
        );
        for bad in ["", "y", "0y", "101y", "10w", "-1d", "forever"] {
            assert!(Retention::parse(bad).is_err(), "{bad}");
        }
    }
}
