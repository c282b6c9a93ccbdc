//! A span of time in whole milliseconds, written the way operators write it ("500ms", "5s",
//! "15m", "24h"). Plain integers in configuration files are seconds, as in Tmax's GPERIOD.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A duration in milliseconds. Stored as an integer so that the cluster database stays
/// deterministic and portable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// `n` seconds (the longest duration that fits when there are more: never a wrap).
    pub const fn secs(n: u64) -> Self {
        Millis(n.saturating_mul(1000))
    }

    /// `n` seconds, or `None` when that many milliseconds do not fit.
    pub const fn checked_secs(n: u64) -> Option<Self> {
        match n.checked_mul(1000) {
            Some(ms) => Some(Millis(ms)),
            None => None,
        }
    }

    /// The value as a `std::time::Duration`.
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

/// The durations a field accepts, both ends included: every duration of a cluster.yaml has one
/// (docs/configuration.md), so that neither zero nor 584 million years gets through where it
/// cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MillisRange {
    /// The shortest.
    pub min: Millis,
    /// The longest.
    pub max: Millis,
}

impl MillisRange {
    /// `min..=max`.
    pub const fn new(min: Millis, max: Millis) -> Self {
        MillisRange { min, max }
    }

    /// Checks `d`: `Err("0s is not within 10ms..=1h")` when it is outside.
    pub fn check(self, d: Millis) -> Result<(), String> {
        if self.min <= d && d <= self.max {
            Ok(())
        } else {
            Err(format!("{d} is not within {self}"))
        }
    }
}

impl fmt::Display for MillisRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}

impl From<std::time::Duration> for Millis {
    fn from(d: std::time::Duration) -> Self {
        Millis(d.as_millis().min(u64::MAX as u128) as u64)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms == 0 {
            write!(f, "0s")
        } else if ms.is_multiple_of(3_600_000) {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration: write a whole number with a unit, like 500ms, 5s, 15m or 24h")]
pub struct ParseMillisError(pub String);

impl FromStr for Millis {
    type Err = ParseMillisError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| ParseMillisError(s.to_string()))?;
        let scale = match unit.trim() {
            "ms" => 1,
            "" | "s" => 1000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(ParseMillisError(s.to_string())),
        };
        n.checked_mul(scale)
            .map(Millis)
            .ok_or_else(|| ParseMillisError(s.to_string()))
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(n) => n
                .checked_mul(1000)
                .map(Millis)
                .ok_or_else(|| serde::de::Error::custom("duration too large")),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_prints_them_back() {
        for (text, ms, shown) in [
            ("500ms", 500, "500ms"),
            ("5s", 5000, "5s"),
            ("90", 90_000, "90s"),
            ("15m", 900_000, "15m"),
            ("24h", 86_400_000, "24h"),
            ("30d", 2_592_000_000, "720h"),
            ("1500ms", 1500, "1500ms"),
        ] {
            let m: Millis = text.parse().unwrap();
            assert_eq!(m, Millis(ms), "{text}");
            assert_eq!(m.to_string(), shown);
        }
    }

    #[test]
    fn i10_8_durations_are_exact_or_refused_never_wrapped() {
        // The largest whole number of seconds that fits is kept exactly (its field's range
        // refuses it); one more second, or a plain number of seconds too large, is an error.
        assert_eq!(
            "18446744073709551s".parse::<Millis>(),
            Ok(Millis(18_446_744_073_709_551_000))
        );
        assert!("18446744073709552s".parse::<Millis>().is_err());
        assert!("5124095576030432h".parse::<Millis>().is_err());
        let plain: Result<Millis, _> = serde_json::from_str("18446744073709552");
        assert!(plain.is_err());
        assert_eq!(Millis::secs(u64::MAX), Millis(u64::MAX), "saturates");
        assert_eq!(Millis::checked_secs(u64::MAX), None);
        assert_eq!(Millis::checked_secs(5), Some(Millis(5000)));
    }

    #[test]
    fn rejects_garbage_with_the_text_in_the_message() {
        for bad in ["", "s", "5 parsecs", "-1s", "1.5s", "99999999999999999999h"] {
            let err = bad.parse::<Millis>().unwrap_err();
            assert!(err.to_string().contains("not a duration"), "{bad}: {err}");
        }
    }
}
